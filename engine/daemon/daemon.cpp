#include "engine/daemon/daemon.h"
#include "engine/attribution/bpf_attribution.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>

#include "base/clock.h"
#include "base/logging.h"
#include "base/trusted_path.h"
#include "db/policy_store.h"
#include "db/store.h"
#include "engine/attribution/attributor.h"
#include "engine/attribution/system_mounts.h"
#include "engine/daemon/config_names.h"
#include "engine/daemon/hook_record.h"
#include "engine/daemon/policy_record.h"
#include "engine/daemon/queue_status.h"
#include "engine/daemon/rule_expiry.h"
#include "rules/compiled_policy.h"

namespace warden::engine {
namespace {

constexpr std::size_t kControlLogRows = 256;
// The rows of flows kernel-held verdicts decided, as the process tracker's thread hands them
// over, up to a ring's quarter at once (see held_events): room for that burst, not a queue's 8192
constexpr std::size_t kHeldLogRows = 2048;
// How long the writer of kernel-held verdicts gathers the workers' entries before one bpf(2)
// call writes them: at most this much later than the decision, a flow to the same destination
// is decided in the kernel (until then, by the queue as before). Each turn costs the thread
// a timed wait and a wake-up (about 25 us on the build machine, where 1 ms turns took 2 us of
// its CPU a connection at 13,000 new flows/s).
constexpr std::chrono::microseconds kHeldWriteInterval{5000};

std::int64_t monotonicMs() { return static_cast<std::int64_t>(base::monotonicNs() / 1'000'000); }

std::string queueRange(const std::vector<std::uint16_t>& queues) {
  if (queues.size() == 1) return std::to_string(queues.front());
  return std::to_string(queues.front()) + "-" + std::to_string(queues.back());
}

// Creates the database's directory (0700) when missing, and takes group and other access away
// from a database (and its WAL and shared-memory files) that an older run left readable.
// Returns why the database is not root's alone, when it is not (as root): its directory, or
// one on the way to it, is another user's or writable by others, or one of its files is
// another user's or not a regular file. Whoever could write it would write the log (and
// delete the rows of their refused flows) and the cache of executable hashes that sha256 keys
// are matched by (found by attack: a state directory made group-writable before wardend's
// first start let a user create warden.db, which wardend then used).
std::optional<std::string> keepPrivate(const std::filesystem::path& db) {
  const std::filesystem::path dir = db.has_parent_path() ? db.parent_path() : ".";
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    if (std::filesystem::create_directories(dir, ec)) {
      std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
    }
  }
  const bool root = geteuid() == 0;
  if (root) {
    // Not even a sticky directory: others could make its -wal file before SQLite does.
    if (auto why = base::whyOthersCanChange(dir, base::Sticky::kRefused)) {
      return "on a path others can change: " + *why + " (chown root, chmod go-w)";
    }
  }
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::filesystem::path file = db.string() + suffix;
    struct stat st {};
    if (lstat(file.c_str(), &st) != 0) continue;
    if (root && (!S_ISREG(st.st_mode) || st.st_uid != 0)) {
      return file.string() + " is not a regular file of root's";
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 077) == 0) continue;
    if (chmod(file.c_str(), st.st_mode & 0700) == 0) {
      base::logWarning(file.string(), ": was readable by other users; access now owner-only");
    }
  }
  return std::nullopt;
}

}  // namespace

Daemon::Daemon(std::filesystem::path configFile) : configFile_(std::move(configFile)) {}

Daemon::~Daemon() = default;

bool Daemon::ownsTable() const {
  auto owner = NftTable::owner();
  if (owner && *owner && **owner == owner_) return true;
  base::logWarning(
      "table inet warden ",
      owner && *owner ? "now belongs to " + (**owner).substr(0, 64) : std::string("is gone"),
      "; leaving it alone");
  return false;
}

TablePlan Daemon::tablePlan(const rules::Config& config) const {
  TablePlan plan;
  plan.owner = owner_;
  plan.method = method_;
  plan.firstQueue = config.queues.front();
  plan.queueCount = static_cast<std::uint16_t>(config.queues.size());
  plan.bypass = config.fail == rules::FailMode::kOpen;
  plan.inbound = config.inbound;
  plan.dns = config.dns;
  plan.dropInvalid = config.dropInvalid;
  plan.dropMld =
      config.kernelAction != rules::Action::kAllow && config.mode == rules::Mode::kEnforce;
  plan.udpReuseFilterFd = attributor_ ? attributor_->udpReuseFilterFd() : -1;
  plan.udpConnectedFd = attributor_ ? attributor_->udpConnectedFd() : -1;
  plan.icmpEchoFd = attributor_ ? attributor_->icmpEchoFd() : -1;
  plan.icmpReusedFd = attributor_ ? attributor_->icmpReusedFd() : -1;
  plan.inboundMisdeliveredFd = attributor_ ? attributor_->inboundMisdeliveredFd() : -1;
  if (BpfAttribution* bpf = attributor_ ? attributor_->bpf() : nullptr;
      bpf && bpf->holdsVerdicts() && config.kernelVerdicts) {
    const HeldMatchFds held = bpf->heldMatchFds();
    plan.heldAllowFd = held.allow;
    plan.heldDenyFd = held.deny;
    plan.heldRejectFd = held.reject;
    plan.heldSynAgainFd = held.synAgain;
  }
  plan.marks = MarkBits{config.markMask};
  return plan;
}

void Daemon::refuse(const rules::Diagnostics& diagnostics) {
  refusal_.clear();
  for (const auto& d : diagnostics) {
    if (d.severity != rules::Severity::kError) {
      base::logWarning(d.format());
      continue;
    }
    base::logError(d.format());
    if (refusal_.empty()) refusal_ = d.format();  // for STATUS= and the control answer
  }
}

bool Daemon::loadPolicy(std::optional<rules::Config> readAtStart) {
  rules::Diagnostics warnings;
  auto loaded = readAtStart ? loader_.load(std::move(*readAtStart), &warnings)
                            : loader_.load(configFile_, &warnings);
  for (const auto& w : warnings) base::logWarning(w.format());
  if (!loaded) {
    refuse(loaded.error());
    return false;
  }
  const std::int64_t loadedAt = base::realtimeNs();
  // The revision a log row names, stored so that `warden log` can explain it later.
  std::uint64_t revision = localRevision_ + 1;
  if (store_) {
    if (auto stored = storeRecord(*store_, *loaded, loadedAt); stored) {
      revision = static_cast<std::uint64_t>(*stored);
    } else {
      base::logError("storing the policy revision: ", stored.error().message());
    }
  }
  rules::Config config = loaded->config;
  // Also at start: rules that expired while wardend was down leave warden's files now.
  removeExpiredRules(loaded->config.profilesDir, loaded->expired,
                     std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
  // Unchanged rules keep their hit counters (shared with the policy in force, so that a flow a
  // worker still decides under it is not lost); at start, the database has them.
  const auto previous = policy_.current();
  auto compiled = rules::CompiledPolicy::compile(std::move(*loaded), revision,
                                                 previous ? previous->policy.get() : nullptr);
  if (!compiled) {
    refuse(compiled.error());
    return false;
  }
  refusal_.clear();
  localRevision_ = revision;
  if (!previous && store_) {
    if (auto restored = hitRecorder_.restore(*store_, (*compiled)->hits()); !restored) {
      base::logError("reading the stored rule hit counts: ", restored.error().message());
    }
  }
  nextExpiry_ = (*compiled)->policy().nextExpiry;
  auto snapshot = std::make_shared<PolicySnapshot>();
  snapshot->policy = std::move(*compiled);
  snapshot->loadedAtNs = loadedAt;
  config_ = std::move(config);
  publishPolicy(std::move(snapshot));
  // The counters of rules gone or changed are forgotten in the database too.
  if (previous) storeHits(/*force=*/true);
  return true;
}

void Daemon::publishPolicy(std::shared_ptr<PolicySnapshot> snapshot) {
  // The flows held verdicts decided under the policy going out count for its rules.
  if (const auto going = policy_.current(); held_ && going) {
    held_->creditHits(going->policy->hits());
  }
  const auto until = snapshot->policy->policy().nextExpiry;
  policy_.publish(std::move(snapshot));
  // What was held under the policy before stops applying; only decisions made under this one
  // are held from now on, and none past the first rule's expiry.
  if (held_) {
    held_->setPolicy(policy_.generation(), config_.kernelVerdicts, config_.kernelVerdictsTtlS,
                     until);
  }
}

void Daemon::startHolding() {
  BpfAttribution* bpf = attributor_ ? attributor_->bpf() : nullptr;
  if (!config_.kernelVerdicts || !config_.ebpf) return;  // nothing to say: neither was asked for
  if (!bpf || !bpf->holdsVerdicts()) {
    base::logWarning("kernel-held verdicts need eBPF attribution: every flow goes to the queue");
    return;
  }
  held_ = std::make_unique<KernelVerdicts>(
      KernelVerdicts::Maps{bpf->heldVerdictsFd(), bpf->heldStateFd(), bpf->heldNamesFd(),
                           bpf->countersFd()},
      bpf->heldCapacity(), attributor_->netnsCookie(),
      logWriter_ ? logWriter_->producer(kHeldLogRows) : db::LogProducer{});
  heldSink_.store(held_.get(), std::memory_order_release);
  // A worker queues what it holds; a thread writes them, kHeldWriteInterval's worth a call.
  held_->startWriter(kHeldWriteInterval);
  hosts_->onChange(
      [held = held_.get()](const rules::IpAddress& address) { held->forgetAddress(address); });
  const auto current = policy_.current();
  held_->setPolicy(policy_.generation(), config_.kernelVerdicts, config_.kernelVerdictsTtlS,
                   current ? current->policy->policy().nextExpiry : std::nullopt);
  base::logInfo("kernel-held verdicts: up to ", bpf->heldCapacity(), " for ",
                config_.kernelVerdictsTtlS, " s each");
}

void Daemon::openLog() {
  // Two connections: the writer thread's, and the control thread's for policy revisions.
  auto store = logProblem_.empty() ? db::openStore(config_.logDb)
                                   : std::unexpected(base::makeError(0, logProblem_));
  if (!store) {
    logProblem_ = store.error().message();
  } else if (auto writerDb = db::openStore(config_.logDb); !writerDb) {
    logProblem_ = writerDb.error().message();
  } else {
    db::LogWriterOptions options;
    options.retentionDays = config_.retentionDays;
    if (auto writer = db::LogWriter::create(std::move(*writerDb), options); !writer) {
      logProblem_ = writer.error().message();
    } else {
      store_.emplace(std::move(*store));
      logWriter_ = std::move(*writer);
      // Only `reload --redecide` writes rows here, each after a netlink round trip, which the
      // writer outpaces: no need for a worker's 8192 preallocated rows (1.5 MB).
      controlLog_ = logWriter_->producer(kControlLogRows);
      logWriter_->start();
      return;
    }
  }
  // Filtering matters more than its record: run on, say so once, and show it in status.
  base::logError("running without a verdict log: ", logProblem_);
}

bool Daemon::startUp() {
  startedAtNs_ = base::realtimeNs();
  rules::Diagnostics configWarnings;
  auto config = rules::loadConfig(configFile_, &configWarnings);
  if (!config) {
    refuse(config.error());
    return false;
  }
  for (const auto& w : configWarnings) base::logWarning(w.format());
  config_ = std::move(*config);
  // A policy with an error is refused before anything touches the kernel. It is stored,
  // compiled and its warnings told once the eBPF programs are loaded (below); the files parsed
  // now are kept by the loader, which then reads only those that changed meanwhile.
  if (auto checked = loader_.load(config_); !checked) {
    refuse(checked.error());
    return false;
  }

  auto method = NftTable::probeQueueMethod();
  if (!method) {
    base::logError(method.error().message());
    return false;
  }
  method_ = *method;
  base::logInfo("queue method: ", toString(method_),
                method_ == QueueMethod::kXtCompat ? " (this kernel has no nft_queue)" : "");

  // One wardend per network namespace: a table whose owner still runs is not ours to take.
  const TableOwner me = TableOwner::self();
  owner_ = me.toString();
  bool takeOver = false;
  if (auto existing = NftTable::owner(); !existing) {
    base::logError(existing.error().message());
    return false;
  } else if (*existing) {
    const auto other = TableOwner::parse(**existing);
    if (other && other->alive() && !(*other == me)) {
      base::logError("table inet warden belongs to a running wardend (pid ", other->pid,
                     "): stop it first, or run this one in another network namespace");
      return false;
    }
    takeOver = true;
    base::logInfo(
        "taking over table inet warden left by ",
        other ? "wardend pid " + std::to_string(other->pid) : std::string("another program"));
  }

  auto failedFd = base::makeEventFd(EFD_NONBLOCK | EFD_CLOEXEC, "creating the failure eventfd");
  if (!failedFd) {
    base::logError(failedFd.error().message());
    return false;
  }
  failedFd_ = std::move(*failedFd);

  // Process attribution: eBPF hooks on the configured cgroup, or sock_diag (logged) when eBPF
  // is off or cannot load.
  AttributorOptions attribution = attributorOptions(config_);
  attribution.onTrackerFailure = [this](const base::Error& error) {
    threadFailed(error.message() + ": no process is described any more");
  };
  attribution.onHeldFlow = [this](const warden_held_event& event) {
    if (KernelVerdicts* held = heldSink_.load(std::memory_order_acquire)) held->logHeld(event);
  };
  // Where the hooks go is recorded before they are attached (see HookRecord), beside the
  // cgroups an earlier run recorded, whose hooks are detached once the table is in place.
  const HookRecord hookRecord = HookRecord::besideSocket(config_.controlSocket);
  const std::vector<std::string> hookCgroups = hookRecord.read();
  std::string ownHooks;
  if (config_.ebpf) {
    if (auto cgroup = resolveAttachCgroup(config_.cgroup); cgroup) ownHooks = *cgroup;
  }
  if (!ownHooks.empty() && std::ranges::find(hookCgroups, ownHooks) == hookCgroups.end()) {
    std::vector<std::string> recorded = hookCgroups;
    recorded.push_back(ownHooks);
    if (auto written = hookRecord.write(recorded); !written) {
      base::logWarning("recording where the eBPF hooks go: ", written.error().message(),
                       ": should this wardend be killed, the next one detaches its hooks only "
                       "if configured with the same cgroup");
    }
  }
  // The log names executables, command lines, hosts and users: root's alone, like the
  // directory it lives in (created here when missing, as StateDirectory= would). Before the
  // attributor, whose cache of executable hashes is the first to open the database.
  if (auto unsafe = keepPrivate(config_.logDb)) {
    // Neither the log nor the hash cache: a file others could write decides nothing.
    logProblem_ = "not opening " + config_.logDb.string() + ": " + *unsafe;
    attribution.hashDb.clear();
  }
  attributor_ = Attributor::create(attribution);
  if (!attributor_->bpf()) ownHooks.clear();

  // The log and the policy after the eBPF programs: loading them parses the kernel's BTF, some
  // 11 MB of heap for a moment, which would otherwise come on top of the database's and the
  // policy's memory in the daemon's peak RSS (25.9 MB with the shipped configuration, against
  // the 25 of SPEC section 10).
  openLog();
  // With the configuration read above: the file may have changed during the load.
  if (!loadPolicy(config_)) return false;

  // Always there, so that `dns` can be switched on by a reload; fixed memory (~1.3 MB).
  hosts_ = std::make_unique<HostCache>();
  startHolding();
  dnsQueries_ = std::make_unique<PendingDnsQueries>();

  auto prompts = PromptBroker::create(config_.queues.size());
  if (!prompts) {
    base::logError(prompts.error().message());
    return false;
  }
  prompts_ = std::move(*prompts);
  promptDesk_.emplace(*prompts_);

  // Queues next: a wardend on the same queues fails here, before touching the table.
  for (std::uint16_t number : config_.queues) {
    auto queue =
        NfQueue::open({number, config_.queueMaxLen, config_.fail == rules::FailMode::kOpen});
    if (!queue) {
      if (queue.error().code == EBUSY) {
        base::logError("NFQUEUE ", number,
                       " is already bound by another process (is another wardend running?)");
      } else {
        base::logError(queue.error().message());
      }
      return false;
    }
    workers_.push_back(
        std::make_unique<QueueWorker>(std::move(*queue), policy_, MarkBits{config_.markMask},
                                      logWriter_ ? logWriter_->producer() : db::LogProducer{},
                                      attributor_.get(), hosts_.get(), dnsQueries_.get()));
  }
  // Every worker's confirming sockets before the first worker starts: each must know them all.
  for (auto& worker : workers_) {
    if (auto confirming = worker->confirmDns(dnsPorts_); !confirming) {
      base::logError(confirming.error().message(),
                     ": DNS replies from other hosts will teach no names");
    }
  }
  for (std::size_t slot = 0; slot < workers_.size(); ++slot) {
    auto& worker = workers_[slot];
    worker->servePrompts(prompts_.get(), slot);
    worker->holdVerdicts(held_.get());
    // A worker that lost its queue tells the control thread, which stops wardend.
    worker->onFailure([this](const base::Error& error) {
      threadFailed(error.message() + ": the queue is no longer served");
    });
    if (auto started = worker->start(); !started) {
      base::logError(started.error().message());
      return false;
    }
  }

  // The table is created here (taken over: created anew), its counters at 0.
  std::vector<KernelQueueStats> kernel;
  for (auto& worker : workers_) {
    kernel.push_back(kernelQueueStats(worker->queueNumber()).value_or(KernelQueueStats{}));
  }
  undecided_.start(0, kernel);
  TablePlan plan = tablePlan(config_);
  plan.recreate = takeOver;  // the table's owner is recorded when it is created
  if (auto installed = NftTable::install(plan); !installed) {
    base::logError(installed.error().message());
    return false;
  }
  tableInstalled_ = true;
  // A killed predecessor's hooks applied its held verdicts until this table replaced its own.
  if (auto detached = detachStaleHooks(hookRecord, {ownHooks}, ownHooks); !detached) {
    base::logWarning("kernel-held verdicts: ", detached.error().message());
  } else if (*detached > 0) {
    base::logInfo("kernel-held verdicts: detached ", *detached,
                  " hooks that a stopped wardend left");
  }

  auto control = ControlServer::open(config_.controlSocket);
  if (!control) {
    base::logError(control.error().message());
    return false;
  }
  control_.emplace(std::move(*control));

  if (auto watcher = PolicyWatcher::open(configFile_, config_.profilesDir); watcher) {
    watcher_.emplace(std::move(*watcher));
  } else {
    base::logWarning("not watching the policy files: ", watcher.error().message(),
                     " (SIGHUP or `warden reload` still reload)");
  }
  return true;
}

void Daemon::shutDown(bool failed) {
  // First stop queueing but keep the table's hooks (unregistering a hook makes the kernel
  // drop every packet waiting in a queue); then every queued packet gets its verdict; only
  // then the table goes.
  // The last line says what became of the table, and only what happened: a start refused
  // before installing it (another wardend owns the table) never touched it.
  std::string_view table = "table inet warden left untouched";
  if (failed && tableInstalled_) {
    // As after a crash: the table stays and its fail mode decides new flows until wardend
    // runs again (the next start takes the table over; `wardend --cleanup` removes it).
    tableInstalled_ = false;
    table = config_.fail == rules::FailMode::kOpen
                ? "table inet warden left in place: new flows pass undecided (fail = \"open\") "
                  "until wardend runs again"
                : "table inet warden left in place: new flows are dropped (fail = \"closed\") "
                  "until wardend runs again";
  }
  if (tableInstalled_ && !ownsTable()) {
    tableInstalled_ = false;  // someone replaced it: not ours to change or delete
  }
  if (tableInstalled_) {
    TablePlan plan = tablePlan(config_);
    plan.queueing = false;
    if (auto stopped = NftTable::install(plan); !stopped) base::logError(stopped.error().message());
  }
  for (auto& worker : workers_) worker->drainAndStop();
  QueueStatus queues;
  for (auto& worker : workers_) {
    worker->join();
    const auto kernel = kernelQueueStats(worker->queueNumber());
    if (kernel && kernel->waiting > 0) {
      base::logError("NFQUEUE ", worker->queueNumber(), " still holds ", kernel->waiting,
                     " packets after draining; closing it drops them");
    }
    queues.add(worker->queueNumber(), worker->counters(), kernel.value_or(KernelQueueStats{}));
  }
  workers_.clear();
  if (held_) held_->stopWriter();  // what the workers held is written while the maps are there
  promptDesk_.reset();
  prompts_.reset();     // after the workers, which released what they held for it
  attributor_.reset();  // BPF links detached, maps freed, tracker thread stopped
  hosts_.reset();
  dnsQueries_.reset();
  if (logWriter_) logWriter_->stop();  // after the workers: it commits every row they left
  if (policy_.current()) storeHits(/*force=*/false);  // every flow of the workers counted
  if (tableInstalled_) {
    if (auto removed = NftTable::remove(); !removed) {
      base::logError(removed.error().message());
      table = "table inet warden NOT removed";
    } else {
      table = *removed ? "table inet warden removed" : "table inet warden was already gone";
    }
    tableInstalled_ = false;
  }
  control_.reset();
  if (failed) {
    base::logError("stopped after a failure: ", queues.stoppedSummary(), "; ", table);
  } else {
    base::logInfo("stopped: ", queues.stoppedSummary(), "; ", table);
  }
}

void Daemon::threadFailed(const std::string& why) {
  {
    std::lock_guard lock(failureMutex_);
    if (failure_.empty()) failure_ = why;
  }
  const std::uint64_t one = 1;
  if (write(failedFd_.get(), &one, sizeof one) != sizeof one) {
    base::logError(base::errnoError("waking the control thread").message(), ": ", why);
  }
}

void Daemon::fatal(const std::string& why) {
  base::logError(why, "; stopping with exit status 1 so that wardend is restarted");
  sd_notifyf(0, "STATUS=failed: %s", why.c_str());
}

std::string Daemon::statusText() const {
  const auto current = policy_.current();
  std::string text = base::concat("policy revision ", current->revision(), ", ",
                                  current->policy->policy().profiles.size(), " profiles, queues ",
                                  queueRange(config_.queues), ", mode ", modeName(config_));
  if (!refusal_.empty()) text += "; reload refused: " + refusal_;
  return text;
}

void Daemon::notifyStatus(std::string_view more) {
  std::string text = statusText();
  if (!more.empty()) text.append("; ").append(more);
  sd_notifyf(0, "STATUS=%s", text.c_str());
}

void Daemon::startWatchdog() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
  watchdog_.emplace(usec * 1000);
  for (const auto& worker : workers_) {
    watchdog_->watch(base::concat("the worker of NFQUEUE ", worker->queueNumber()),
                     worker->heartbeat());
  }
  if (attributor_) watchdog_->watch("the process tracker", attributor_->trackerHeartbeat());
  base::logInfo("watchdog: WATCHDOG=1 every ", usec / 2000,
                " ms while every queue worker and the process tracker runs");
}

void Daemon::feedWatchdog() {
  if (!watchdog_) return;
  const Watchdog::Check check = watchdog_->check();
  if (!check.due) return;
  if (check.ping) {
    if (watchdogStarved_) {
      watchdogStarved_ = false;
      base::logInfo("watchdog: every thread runs again; WATCHDOG=1 resumed");
      notifyStatus();
    }
    sd_notify(0, "WATCHDOG=1");
    return;
  }
  // Said once; systemd's timer runs out meanwhile and it restarts wardend (SIGABRT first).
  if (!watchdogStarved_) {
    watchdogStarved_ = true;
    base::logError("watchdog: ", check.stale,
                   "; no WATCHDOG=1 any more, so that systemd restarts wardend");
  }
  notifyStatus(check.stale + ": watchdog not fed");
}

void Daemon::reload() {
  const rules::Config before = config_;
  if (!loadPolicy()) {
    base::logError("reload refused: policy revision ", policy_.current()->revision(),
                   " stays in force");
    notifyStatus();
    return;
  }
  // Queues are bound, and the log and control socket open, for the life of the process; the
  // workers' verdict marks and the conntrack marks of decided flows use the mark bits it
  // started with.
  if (config_.queues != before.queues || config_.queueMaxLen != before.queueMaxLen ||
      config_.fail != before.fail || config_.controlSocket != before.controlSocket ||
      config_.logDb != before.logDb || config_.markMask != before.markMask) {
    base::logWarning(
        "queues, queue_maxlen, fail, mark_mask, [log] db and [control] socket change only at "
        "restart; the running values stay");
    config_.markMask = before.markMask;
    config_.queues = before.queues;
    config_.queueMaxLen = before.queueMaxLen;
    config_.fail = before.fail;
    config_.controlSocket = before.controlSocket;
    config_.logDb = before.logDb;
  }
  // Re-asserted on every reload: applies inbound and mark changes, and repairs a table that
  // someone edited by hand. In place, so no queued packet is lost.
  if (auto installed = NftTable::install(tablePlan(config_)); !installed) {
    base::logError("reinstalling table inet warden: ", installed.error().message());
  }
  if (watcher_) watcher_->watchProfiles(config_.profilesDir);
  base::logInfo("reloaded ", configFile_.string(), ": policy revision ",
                policy_.current()->revision());
  notifyStatus();
}

int Daemon::run() {
  // Blocked before any thread starts, so workers inherit the mask and only signalfd sees them.
  auto signalFd = base::makeSignalFd({SIGTERM, SIGINT, SIGHUP});
  if (!signalFd) {
    base::logError(signalFd.error().message(), "; not starting");
    return 1;
  }
  signalFd_ = std::move(*signalFd);
  signal(SIGPIPE, SIG_IGN);

  if (!startUp()) {
    base::logError("not starting");
    sd_notifyf(0, "STATUS=not starting: %s",
               refusal_.empty() ? "see wardend's log" : ("policy refused: " + refusal_).c_str());
    shutDown();
    return 1;
  }
  base::logInfo("ready: queues ", queueRange(config_.queues), ", mode ", modeName(config_),
                ", fail ", failName(config_), ", policy revision ", policy_.current()->revision(),
                ", ", policy_.current()->policy->policy().profiles.size(), " profiles");
  notifyStatus();
  sd_notify(0, "READY=1");
  startWatchdog();

  // A burst of file events (an editor's write, rename and chmod; a package manager dropping
  // several files) becomes one reload, kReloadSettleMs after the last of them. Only file
  // events move the deadline: control requests and signals in between do not delay it.
  constexpr std::int64_t kReloadSettleMs = 200;
  constexpr std::int64_t kNoReload = std::numeric_limits<std::int64_t>::max();
  std::int64_t reloadAtMs = kNoReload;
  // The queues' numbers are read now and then, so that a 32-bit queue id cannot wrap unseen
  // between two `warden status` (see UndecidedPasses).
  constexpr std::int64_t kSampleEveryMs = 60'000;
  std::int64_t sampleAtMs = monotonicMs() + kSampleEveryMs;
  // Rule hit counts reach the database this often (and at reload and stop), from here only.
  constexpr std::int64_t kStoreHitsEveryMs = 30'000;
  std::int64_t storeHitsAtMs = monotonicMs() + kStoreHitsEveryMs;
  // The flows kernel-held verdicts decided are added to the rules' hit counts this often: an
  // entry the queue writes anew (its verdict expired, say) starts from 0, and what it decided
  // since the last credit is lost (see KernelVerdicts::creditHits). Their kept log rows are
  // swept as often (KernelVerdicts::maintain): a full store holds nothing new.
  constexpr std::int64_t kCreditHeldEveryMs = 2'000;
  constexpr std::int64_t kNoCredit = std::numeric_limits<std::int64_t>::max();
  std::int64_t creditHeldAtMs = held_ ? monotonicMs() + kCreditHeldEveryMs : kNoCredit;
  bool failed = false;
  pollfd fds[5] = {{signalFd_.get(), POLLIN, 0},
                   {control_->fd(), POLLIN, 0},
                   {watcher_ ? watcher_->fd() : -1, POLLIN, 0},
                   {failedFd_.get(), POLLIN, 0},
                   {prompts_->eventFd(), POLLIN, 0}};
  for (;;) {
    feedWatchdog();
    // Woken for the next settled reload, queue sample, control client's deadline or watchdog
    // check.
    std::int64_t wakeAtMs = std::min({reloadAtMs, sampleAtMs, storeHitsAtMs, creditHeldAtMs});
    if (watchdog_) {
      const std::uint64_t checkAtMs = (watchdog_->nextCheckNs() + 999'999) / 1'000'000;
      wakeAtMs = std::min(wakeAtMs, static_cast<std::int64_t>(checkAtMs));
    }
    if (const auto clientDeadline = control_->nextDeadlineMs()) {
      wakeAtMs = std::min(wakeAtMs, *clientDeadline);
    }
    if (const auto expiry = expiryAtMs()) wakeAtMs = std::min(wakeAtMs, *expiry);
    const int timeout = static_cast<int>(std::max<std::int64_t>(0, wakeAtMs - monotonicMs()));
    const int ready = poll(fds, 5, timeout);
    if (ready < 0) {
      if (errno == EINTR) continue;
      // Without its loop wardend hears no signal, reload or control request.
      fatal(base::errnoError("the control thread's poll").message());
      failed = true;
      break;
    }
    if (fds[3].revents & POLLIN) {
      std::string why;
      {
        std::lock_guard lock(failureMutex_);
        why = failure_;
      }
      fatal(why);
      failed = true;
      break;
    }
    if (monotonicMs() >= sampleAtMs) {
      std::vector<KernelQueueStats> kernel;
      (void)sampleQueues(kernel);
      sampleAtMs = monotonicMs() + kSampleEveryMs;
    }
    if (monotonicMs() >= creditHeldAtMs) {
      held_->creditHits(policy_.current()->policy->hits());
      held_->maintain();
      creditHeldAtMs = monotonicMs() + kCreditHeldEveryMs;
    }
    if (monotonicMs() >= storeHitsAtMs) {
      storeHits(/*force=*/false);
      storeHitsAtMs = monotonicMs() + kStoreHitsEveryMs;
    }
    if (const auto expiry = expiryAtMs(); expiry && monotonicMs() >= *expiry) expireRules();
    if (monotonicMs() >= reloadAtMs) {
      reloadAtMs = kNoReload;
      base::logInfo("policy files changed: reloading");
      reload();
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info{};
      if (const ssize_t n = read(signalFd_.get(), &info, sizeof info); n != sizeof info) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        fatal(n < 0 ? base::errnoError("reading the signalfd").message()
                    : "reading the signalfd: a short read");
        failed = true;
        break;
      }
      if (info.ssi_signo == SIGHUP) {
        base::logInfo("SIGHUP: reloading");
        reload();
        continue;
      }
      base::logInfo(info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM", ": stopping");
      break;
    }
    // Also when nothing came: clients past their deadlines are closed here.
    control_->serve(*this);
    // Prompt clients that came or went, their answers, and the workers' questions.
    promptDesk_->serve(*control_, config_.promptTimeoutS, config_.promptHold);
    if (const bool active = prompts_->active(); active != promptsActive_) {
      // Flows a new prompt client is to be asked about may be held, decided without it.
      if (active && held_) held_->retireAll();
      promptsActive_ = active;
    }
    if ((fds[2].revents & POLLIN) && watcher_->consumeEvents()) {
      reloadAtMs = monotonicMs() + kReloadSettleMs;
    }
  }
  sd_notify(0, "STOPPING=1");
  shutDown(failed);
  return failed ? 1 : 0;
}

}  // namespace warden::engine
