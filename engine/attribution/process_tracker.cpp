#include "engine/attribution/process_tracker.h"

#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "base/clock.h"
#include "base/logging.h"
#include "engine/attribution/bpf_attribution.h"
#include "engine/attribution/tag_evidence.h"
#include "engine/attribution/tags.h"

namespace warden::engine {
namespace {

constexpr std::size_t kMaxAncestors = 16;
constexpr std::size_t kMaxUserNames = 256;
// How long a queue worker waits for an image's hash (as for a description: see
// Attributor::describeForVerdict), and the tracker, which hashes at exec what profiles pin.
constexpr std::chrono::milliseconds kVerdictHashWait{50};
constexpr std::chrono::milliseconds kTrackerHashWait{20};
constexpr std::uint64_t kQuietTrimNs = 10'000'000'000ull;
constexpr int kTrackerNice = -5;  // as the queue threads (preferQueueThread)
// The longest the thread sleeps. Fork and exit events do not wake it (bpf/attribution/maps.bpf.h,
// quiet_wakeup): with no exec event or request after them, this is when they are read.
constexpr int kEventPollMs = 250;

std::string fixedString(const char* data, std::size_t size) {
  return std::string(data, strnlen(data, size));
}

template <typename Event>
const Event* recordAs(std::span<const std::byte> record) {
  if (record.size() < sizeof(Event)) return nullptr;
  return reinterpret_cast<const Event*>(record.data());
}

// Exec records end after their argv; the rest of the struct is not there.
bool validExec(std::span<const std::byte> record) {
  constexpr std::size_t kFixed = sizeof(warden_exec_event) - WARDEN_ARGS_LEN;
  if (record.size() < kFixed) return false;
  const auto* event = reinterpret_cast<const warden_exec_event*>(record.data());
  return event->args_len <= WARDEN_ARGS_LEN && record.size() >= kFixed + event->args_len;
}

// Whether the image /proc shows (stat of /proc/PID/exe) is the file the kernel recorded: the
// same inode number and ctime. The inode number alone repeats across filesystems (a tmpfs of
// the process's own hands out small ones), and the kernel's device number is the superblock's,
// which differs from stat's on btrfs subvolumes and overlayfs; ctime agrees on all of them and
// nobody can set it. (exe_ctime_ns 0: a record without it.)
bool isImage(const base::FileIdentity& image, const warden_owner& owner) {
  return image.inode == owner.exe_ino &&
         (owner.exe_ctime_ns == 0 ||
          static_cast<std::uint64_t>(image.ctimeNs) == owner.exe_ctime_ns);
}

// What the exec_windows reads `before` and `after` a /proc read of a process say of the exec
// generation it showed (see warden_exec_window).
enum class ProcGeneration {
  kShown,        // the one asked for
  kMoved,        // maybe another: an exec was under way, or came between the reads
  kNoExecSince,  // no entry either time: none since the programs were attached, unless the
                 // process ended and its entry was forgotten (which its /proc tells)
  kCannotTell,   // a window could not be read (no room in the map, a failed read)
};

ProcGeneration procGeneration(const std::optional<warden_exec_window>& before,
                              const std::optional<warden_exec_window>& after,
                              std::uint64_t execId) {
  if (!before || !after) return ProcGeneration::kCannotTell;
  if (std::memcmp(&*before, &*after, sizeof *before) != 0) return ProcGeneration::kMoved;
  if (before->begun != before->ended) return ProcGeneration::kMoved;  // an exec under way
  if (before->begun == 0) return ProcGeneration::kNoExecSince;
  return before->exec_id == execId ? ProcGeneration::kShown : ProcGeneration::kMoved;
}

// The kernel's part of a description: what the owner record of a socket call or an exec
// event carries.
void fillFromOwner(ProcessDescription& info, const warden_owner& owner) {
  info.key = processKey(owner.tgid, owner.start_time_ns);
  info.startTimeNs = owner.start_time_ns;
  info.ppid = owner.ppid;
  info.parentStartTicks = ticksFromBootNs(owner.parent_start_time_ns);
  info.uid = owner.uid;
  info.gid = owner.gid;
  info.comm = fixedString(owner.comm, sizeof owner.comm);
  info.cgroupId = owner.cgroup_id;
  info.exeKernelDev = owner.exe_dev;
  info.exeInode = owner.exe_ino;
  info.execId = owner.exec_id;
  info.forkExecId = owner.fork_exec_id;
  info.exeCtimeNs = owner.exe_ctime_ns;
  info.forkedBy = {};  // finish() asks exec_windows (a copy of the parent has the parent's)
  info.forkedByExecId = 0;
}

// For a process gone before /proc could be read: the path execve() was given, when it is
// absolute and resolves, in wardend's mount namespace, to the very file the kernel ran. The
// kernel's device is the superblock's; where stat(2) reports another one (btrfs subvolumes)
// the path stays unknown.
std::string verifiedExecPath(const std::string& filename, std::uint32_t kernelDev,
                             std::uint64_t inode) {
  if (filename.empty() || filename[0] != '/') return {};
  char resolved[PATH_MAX];
  if (!realpath(filename.c_str(), resolved)) return {};
  // The kernel's dev_t is major << 20 | minor.
  if (!isFileAt(resolved, makedev(kernelDev >> 20, kernelDev & 0xfffff), inode)) return {};
  return resolved;
}

}  // namespace

std::shared_ptr<const rules::ProcessInfo> matchView(const ProcessDescription& info,
                                                    ExeHasher* hasher, const std::string& procRoot,
                                                    EnvironmentPool* environments) {
  auto view = std::make_shared<rules::ProcessInfo>();
  // A path the process sees another file at than the host does names nothing a profile means.
  if (!info.path.empty() && info.pathOnHost) view->path = info.path;
  if (info.argvCut && info.match && info.match->cmdline) {
    view->cmdline = info.match->cmdline;
  } else if (!info.argv.empty()) {
    view->setArgv(info.argv);
  }
  view->cmdlineCut = info.argvTruncated;
  if (info.envKnown && !info.env.empty()) {
    // A read that stopped short may have stopped inside its last variable: left out.
    const std::size_t whole = info.env.size() - (info.envTruncated ? 1 : 0);
    view->envCut = info.envTruncated;
    rules::Environment::Map env;
    for (std::size_t i = 0; i < whole; ++i) {
      if (env.size() == ProcessDescription::kMaxKeptVariables) {
        view->envCut = true;
        break;
      }
      const std::string& entry = info.env[i];
      const std::size_t eq = entry.find('=');
      if (eq == std::string::npos) continue;
      const auto [it, added] = env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
      if (!added && it->second != std::string_view(entry).substr(eq + 1) &&
          std::ranges::find(view->envConflicts, it->first) == view->envConflicts.end()) {
        view->envConflicts.push_back(it->first);
      }
    }
    rules::Environment built(std::move(env));
    view->env = environments ? environments->intern(std::move(built)) : std::move(built);
  } else if (info.envKnown && info.match && info.match->env) {
    view->env = info.match->env;  // a copy of a published description (fork)
    view->envCut = info.match->envCut;
    view->envConflicts = info.match->envConflicts;
  } else if (info.envKnown) {
    view->env = rules::Environment{};
  }
  view->tags = info.tags;
  view->scriptTagCut = info.scriptTagCut;
  view->uid = info.uid;
  if (!info.user.empty()) view->user = info.user;
  if (!info.ancestorPaths.empty()) view->ancestors = info.ancestorPaths;
  view->ancestorsCut = info.ancestorsCut;
  if (hasher) {
    // Called by the matcher only when a candidate [[match]] pins sha256: from the cache when
    // the tracker hashed the image in the background, else on a hashing thread from the held
    // image (or /proc/PID/exe while it is still the same image), waited for a while: a hash
    // not known by then leaves the flow `unknown` (DigestAnswer::pending).
    // Once known, the digest is this process's for good (the image it runs cannot be written
    // while it runs, and no hash of an image on a filesystem where it could is taken): kept
    // here, so that an image the cache never takes (one touched again and again, never
    // settled) is hashed once a process, not once a flow.
    struct Known {
      std::mutex mutex;
      std::optional<rules::Sha256> digest;  // guarded by mutex
    };
    view->sha256 = [hasher, image = ImageRef::of(info), procRoot,
                    known = std::make_shared<Known>()]() -> rules::DigestAnswer {
      {
        std::lock_guard lock(known->mutex);
        if (known->digest) return known->digest;
      }
      auto hex = hasher->hashWithin(image, kVerdictHashWait, procRoot);
      // Not known yet: being hashed, or its /proc not read in time (ETIMEDOUT). Either may be
      // known at the next flow; a hash that can never be had (an image on tmpfs, over the
      // size cap, gone) is none, and a key that needs it does not hold.
      if (!hex || (!*hex && hex->error().code == ETIMEDOUT)) return rules::DigestAnswer::notYet();
      if (!*hex) return rules::DigestAnswer();
      const auto digest = rules::parseSha256(**hex);
      std::lock_guard lock(known->mutex);
      known->digest = digest;
      return digest;
    };
  }
  return view;
}

ProcessTracker::ProcessTracker(ProcessTable& table, Options options, ExeHasher* hasher)
    : table_(table),
      options_(std::move(options)),
      hasher_(hasher),
      reader_(options_.procRoot, options_.procReads),
      heldImages_(options_.maxHeldImages) {
  // Made here rather than in start(), so that requestDescribe() may be called from any thread
  // at any time; a failure is start()'s to report.
  if (auto wake = base::makeEventFd(EFD_NONBLOCK, "creating the tracker eventfd")) {
    wakeFd_ = std::move(*wake);
  } else {
    wakeFdError_ = std::move(wake.error());
  }
}

ProcessTracker::~ProcessTracker() { stop(); }

base::Result<void> ProcessTracker::start(BpfAttribution* events) {
  if (!wakeFd_) return std::unexpected(*wakeFdError_);
  events_ = events;
  if (events_) {
    auto opened = events_->openEvents([this](std::span<const std::byte> record) {
      handleRecord(record);
      // A verdict waiting for a description goes ahead of whatever backlog the ring holds (a
      // launch storm): between two records, not after the last one.
      serveRequests();
      return !stopping_.load(std::memory_order_relaxed);
    });
    if (!opened) return opened;
  }
  if (!options_.execWindows) options_.execWindows = events_;
  scanProc();
  thread_ = std::thread([this] { run(); });
  return {};
}

void ProcessTracker::stop() {
  if (!thread_.joinable()) return;
  stopping_.store(true);
  const std::uint64_t one = 1;
  (void)!write(wakeFd_.get(), &one, sizeof one);
  thread_.join();
}

void ProcessTracker::requestDescribe(const warden_owner& owner) {
  {
    std::lock_guard lock(requestsMutex_);
    if (requests_.size() >= options_.maxPendingRequests) {
      counters_.requestsDropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    requests_.push_back(owner);
    requestsWaiting_.store(true, std::memory_order_release);
  }
  counters_.requests.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t one = 1;
  (void)!write(wakeFd_.get(), &one, sizeof one);
}

void ProcessTracker::serveRequests() {
  if (!requestsWaiting_.load(std::memory_order_acquire)) return;
  std::vector<warden_owner> requests;
  {
    std::lock_guard lock(requestsMutex_);
    requests.swap(requests_);
    requestsWaiting_.store(false, std::memory_order_relaxed);
  }
  // Each request came after its socket call, so after the exec event of the image that made
  // it: read what the ring holds now, that event included, before /proc. A process that
  // sent and exited at once is described by its event, which /proc can no longer show.
  readEvents();
  for (const warden_owner& owner : requests) describeRequested(owner);
}

void ProcessTracker::readEvents() {
  if (!events_) return;
  if (auto consumed = events_->consumeEvents(); !consumed) {
    eventErrors_.note("process tracker: ", consumed.error().message());
  }
}

void ProcessTracker::run() {
  pthread_setname_np(pthread_self(), "wardend-track");
  // First packets of new processes wait for this thread: it must not lose the CPU to the very
  // storm of new processes it describes (the queue workers run at the same priority).
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kTrackerNice) != 0) {
    base::logWarning("process tracker keeps the default priority (nice ", kTrackerNice,
                     " refused: ", std::strerror(errno), ")");
  }
  while (!stopping_.load()) {
    heartbeat_.beat(base::monotonicNs());
    pollfd fds[2] = {{wakeFd_.get(), POLLIN, 0}, {events_ ? events_->eventsFd() : -1, POLLIN, 0}};
    // The ring's descriptor stays readable while it holds data, a record still being written
    // included: a wake-up that found an earlier record unfinished (an exec's, behind a fork's
    // that does not wake) does not put the thread back to sleep before that record is read.
    const int ready = poll(fds, events_ ? 2 : 1, kEventPollMs);
    if (ready < 0 && errno != EINTR) {
      const base::Error error =
          base::errnoError("process tracker: waiting for process events (poll)");
      if (options_.onFailure) {
        options_.onFailure(error);
      } else {
        base::logError(error.message(), ": no process is described any more");
      }
      break;
    }
    if (fds[0].revents & POLLIN) {
      std::uint64_t value = 0;
      (void)!read(wakeFd_.get(), &value, sizeof value);
    }
    readEvents();
    serveRequests();
    eventErrors_.flush();

    const std::uint64_t now = base::bootTimeNs();
    if (now - lastExpireNs_ >= options_.expireEveryNs) {
      table_.expire(now);
      lastExpireNs_ = now;
      maybeTrim();
    }
    maybeSweepExecWindows(now);
  }
}

void ProcessTracker::handleRecord(std::span<const std::byte> record) {
  const auto* head = recordAs<warden_event_head>(record);
  if (!head) {
    counters_.badRecords.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  switch (head->kind) {
    case WARDEN_EVENT_EXEC:
      if (validExec(record)) {
        // Only the bytes present are read (args_len of them in args).
        return onExec(*reinterpret_cast<const warden_exec_event*>(record.data()));
      }
      break;
    case WARDEN_EVENT_FORK:
      if (const auto* event = recordAs<warden_fork_event>(record)) return onFork(*event);
      break;
    case WARDEN_EVENT_EXIT:
      if (const auto* event = recordAs<warden_exit_event>(record)) return onExit(*event);
      break;
    case WARDEN_EVENT_HELD:
      if (const auto* event = recordAs<warden_held_event>(record)) {
        if (options_.onHeldFlow) options_.onHeldFlow(*event);
        return;
      }
      break;
    default:
      break;
  }
  counters_.badRecords.fetch_add(1, std::memory_order_relaxed);
}

void ProcessTracker::onExec(const warden_exec_event& event) {
  // The programs report no process outside wardend's pid namespace (tgid 0): one would be a
  // bad record.
  if (event.owner.tgid == 0) {
    counters_.badRecords.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  counters_.execs.fetch_add(1, std::memory_order_relaxed);
  ProcessDescription info;
  fillFromOwner(info, event.owner);
  info.source = ProcessSource::kExecEvent;
  info.execTimeNs = event.head.time_ns;
  const std::size_t argsLen = std::min<std::size_t>(event.args_len, sizeof event.args);
  info.argv = splitNulSeparated(std::string_view(event.args, argsLen));
  info.argvTruncated = event.args_truncated != 0;
  // Described already, on a verdict's request that came before this event (see
  // serveRequests): the same process and image, read from /proc after this exec. Publishing
  // the bare event again would only make its flows wait once more.
  if (auto known =
          table_.find(info.key, event.owner.exe_dev, event.owner.exe_ino, event.owner.exec_id);
      known && known->complete && known->requestReadNs >= event.head.time_ns) {
    counters_.describedBeforeExec.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const std::string filename = fixedString(event.filename, sizeof event.filename);
  // Published at once with what the kernel gave, then completed from /proc.
  table_.upsert(std::make_shared<const ProcessDescription>(info));

  ProcessDescription full = info;
  const bool read = completeForGeneration(full, event.owner) == ProcRead::kRead;
  // /proc may already show a later image (the process exec'd again): then this image's
  // description rests on the event alone. The same file exec'd anew is told apart by its
  // arguments, when the event has them all.
  if (read && isImage(full.image, event.owner) && (info.argvTruncated || full.argv == info.argv)) {
    counters_.procCompleted.fetch_add(1, std::memory_order_relaxed);
  } else {
    counters_.procGone.fetch_add(1, std::memory_order_relaxed);
    full = info;
    full.path = verifiedExecPath(filename, event.owner.exe_dev, event.owner.exe_ino);
    full.pathOnHost = !full.path.empty();
    // Without a path it ran, what the process is cannot be known (a relative or unresolvable
    // execve path): its flows are decided `unknown`, as for a process known by its socket
    // alone, never by the engine default a profile of its path would have overridden.
    if (full.path.empty()) full.source = ProcessSource::kOwnerOnly;
  }
  full.exeKernelDev = event.owner.exe_dev;
  full.exeInode = event.owner.exe_ino;
  finish(full);
  full.complete = true;
  maybeHash(*publish(std::move(full)));
}

void ProcessTracker::onFork(const warden_fork_event& event) {
  counters_.forks.fetch_add(1, std::memory_order_relaxed);
  // Described already, on a verdict's request served before this event (fork events wake no
  // one: they are read with a later event or request): from /proc, which knows the child as it
  // is since the fork (a uid or environment of its own), where a copy of the parent might not.
  if (auto known = table_.find(processKey(event.child_tgid, event.child_start_time_ns));
      known && known->complete) {
    counters_.describedBeforeFork.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // The parent as it was at the fork: its description of the generation the child inherits,
  // or one that names none (a /proc scan at wardend's start, which a fork record read after
  // it may in a rare race predate). Not a later exec of the parent, of the same file or not.
  const ProcessKey parentKey = processKey(event.parent_tgid, event.parent_start_time_ns);
  auto parent = table_.find(parentKey, 0, 0, event.exec_id);
  if (!parent) {
    parent = table_.find(parentKey);
    if (parent && parent->execId != 0) parent = nullptr;
  }
  if (!parent) return;  // described on demand if it ever opens a socket
  auto child = std::make_shared<ProcessDescription>(*parent);
  child->key = processKey(event.child_tgid, event.child_start_time_ns);
  child->startTimeNs = event.child_start_time_ns;
  if (event.exec_id != 0) child->execId = event.exec_id;
  child->forkExecId = event.exec_id;
  child->forkedBy = {};  // its parent forked it
  child->forkedByExecId = 0;
  child->ppid = event.parent_tgid;
  child->parentStartTicks = parent->key.startTicks;
  child->ancestorPaths.clear();
  child->ancestorPaths.push_back(parent->pathOnHost ? parent->path : std::string());
  for (const auto& path : parent->ancestorPaths) {
    if (child->ancestorPaths.size() >= kMaxAncestors) break;
    child->ancestorPaths.push_back(path);
  }
  child->ancestorsCut = parent->ancestorsCut || parent->ancestorPaths.size() + 1 > kMaxAncestors;
  // A copy of a parent known only by its socket record knows no more than it did.
  if (parent->source != ProcessSource::kOwnerOnly) child->source = ProcessSource::kForkEvent;
  child->requestReadNs = 0;
  publish(std::move(*child));
}

void ProcessTracker::onExit(const warden_exit_event& event) {
  counters_.exits.fetch_add(1, std::memory_order_relaxed);
  table_.markExited(processKey(event.tgid, event.start_time_ns), event.head.time_ns);
  scanImages_.erase(processKey(event.tgid, event.start_time_ns));
  if (options_.execWindows) {
    options_.execWindows->forgetExecWindow(
        warden_exec_window_key{.tgid = event.tgid, .pad = 0, .start_time_ns = event.start_time_ns});
  }
}

void ProcessTracker::maybeSweepExecWindows(std::uint64_t now) {
  constexpr std::size_t kBatch = 512;
  constexpr std::uint64_t kBatchEveryNs = 100'000'000;
  if (!options_.execWindows) return;
  if (!sweeping_) {
    bool due = now - lastSweepNs_ >= options_.sweepExecWindowsEveryNs;
    if (events_ && now - lastSweepBatchNs_ >= kBatchEveryNs) {
      // Lost records may be exit records: their entries are not forgotten otherwise.
      const std::uint64_t lost = events_->counters()[WARDEN_CTR_EVENTS_LOST];
      due = due || lost != eventsLostSeen_;
      eventsLostSeen_ = lost;
      lastSweepBatchNs_ = now;
    }
    if (!due) return;
    sweeping_ = true;
    sweepAfter_.reset();
    lastSweepNs_ = now;
  } else if (now - lastSweepBatchNs_ < kBatchEveryNs) {
    return;
  }
  lastSweepBatchNs_ = now;
  const auto keys =
      options_.execWindows->execWindowKeys(sweepAfter_ ? &*sweepAfter_ : nullptr, kBatch);
  for (const warden_exec_window_key& key : keys) {
    // A process whose exec is under way runs; and a read of its /proc would wait for that exec
    // to end (the deadline, for one stuck in it, and one of the few stuck reads allowed).
    if (const auto window = options_.execWindows->execWindow(key.tgid, key.start_time_ns);
        window && window->begun != window->ended) {
      continue;
    }
    if (!reader_.gone(key.tgid, ticksFromBootNs(key.start_time_ns))) continue;
    options_.execWindows->forgetExecWindow(key);
    counters_.execWindowsSwept.fetch_add(1, std::memory_order_relaxed);
  }
  // The next batch follows the last key listed (forgotten or not: one no longer there starts
  // the pass over, which only checks again what was kept).
  if (keys.size() < kBatch) {
    sweeping_ = false;
  } else {
    sweepAfter_ = keys.back();
  }
}

void ProcessTracker::describeRequested(const warden_owner& owner) {
  const ProcessKey key = processKey(owner.tgid, owner.start_time_ns);
  // Not found: a description of another generation (a fork copy or an earlier exec of the same
  // file), or one that lacks the generation (a /proc scan's), is read again. /proc, read after
  // the socket call, shows that call's image or a later one, so it may carry the call's
  // generation (a later image's decisions then sit under a key no flow will have).
  if (auto known = table_.find(key, owner.exe_dev, owner.exe_ino, owner.exec_id);
      known && known->complete) {
    return;
  }
  ProcessDescription info;
  fillFromOwner(info, owner);
  // The table knows what this generation ran, and it is not what the call names: the image
  // was replaced without an exec (warden_exec_window). /proc shows the replacement. A child
  // that has not exec'd since the fork (fork_exec_id: 0 where its parent may have adopted it)
  // runs what its parent ran at that generation.
  const bool unexecutedChild = owner.fork_exec_id != 0 && owner.exec_id == owner.fork_exec_id;
  if (table_.otherImageAt(key, owner.exe_dev, owner.exe_ino, owner.exec_id) ||
      (unexecutedChild && table_.otherImageAt(processKey(owner.ppid, owner.parent_start_time_ns),
                                              owner.exe_dev, owner.exe_ino, owner.exec_id))) {
    publishReplaced(std::move(info));
    return;
  }
  ProcessDescription full = info;
  full.requestReadNs = base::bootTimeNs();
  bool copied = false;  // a copy of its parent: a child that never exec'd
  // (exe_ino 0: the request came from sock_diag, which knows no image)
  const ProcRead read = completeForGeneration(full, owner);
  if (read == ProcRead::kReplaced) {
    publishReplaced(std::move(info));
    return;
  }
  if (read == ProcRead::kRead && (owner.exe_ino == 0 || isImage(full.image, owner))) {
    full.source = ProcessSource::kProcScan;
    if (owner.exe_ino != 0) {
      full.exeKernelDev = owner.exe_dev;
      full.exeInode = owner.exe_ino;
    }
  } else if (auto parent = owner.fork_exec_id != 0 && owner.exec_id == owner.fork_exec_id
                               ? forkParent(owner)
                               : nullptr) {
    // Gone, and its fork record not read yet (or its parent unknown then), but a child that
    // never exec'd runs its parent's image with its parent's argv, and generation: fork copies
    // it. Only such a child: generations count per process, so a child that exec'd the file
    // its parent runs may have the number of a later exec of the parent, with other argv.
    full = *parent;
    fillFromOwner(full, owner);
    full.source = ProcessSource::kForkEvent;
    full.requestReadNs = 0;
    copied = true;
  } else if (read == ProcRead::kMoved) {
    // Running, but at a later generation than the call's (or between two): nothing tells what
    // it was at the call but its exec event, if still to be read; the flow waits for it, as
    // long as a verdict may wait for a description (then it gets `unknown`).
    return;
  } else {
    full = info;
    full.source = ProcessSource::kOwnerOnly;
  }
  // A copy keeps its parent's tags, as onFork's do: its environment lives in its matcher's view
  // only, so tags made again would not see a variable that withheld one.
  finish(full, /*tagsCopied=*/copied);
  full.complete = true;
  publish(std::move(full));
}

std::string ProcessTracker::trustedCgroupPath(const ProcessDescription& info) {
  if (options_.cgroupRoot.empty() || info.cgroupPath.empty()) return {};
  if (info.cgroupId != 0) {
    if (auto known = trustedCgroups_.find(info.cgroupId); known != trustedCgroups_.end()) {
      return known->second;
    }
  }
  std::string trusted =
      engine::trustedCgroupPath(options_.cgroupRoot, info.cgroupPath, options_.trustedOwner);
  // Remembered only for the cgroup the path names now (a cgroup's id is its directory's inode
  // number): the process may have moved between the record of its id and the /proc read.
  struct stat st {};
  const std::string dir = options_.cgroupRoot + std::string(info.cgroupPath);
  if (info.cgroupId != 0 && ::stat(dir.c_str(), &st) == 0 && st.st_ino == info.cgroupId) {
    constexpr std::size_t kMaxTrustedCgroups = 4096;
    if (trustedCgroups_.size() >= kMaxTrustedCgroups) trustedCgroups_.clear();
    trustedCgroups_.emplace(info.cgroupId, trusted);
  }
  return trusted;
}

std::string ProcessTracker::flatpakAppOf(const ProcessDescription& info) const {
  // The scope's name only says which app to look for; the executable must be its file.
  const auto claimed = flatpakAppId(info.cgroupPath);
  if (!claimed || !flatpakInstalled(options_.flatpakRoot, *claimed, info.path, info.exeKernelDev,
                                    info.exeInode, info.exeCtimeNs, options_.trustedOwner)) {
    return {};
  }
  return *claimed;
}

void ProcessTracker::publishReplaced(ProcessDescription info) {
  counters_.imageReplaced.fetch_add(1, std::memory_order_relaxed);
  replacedLog_.note("process ", info.key.pid, " (", info.comm,
                    ") runs an image its exec did not put in place (replaced with prctl "
                    "PR_SET_MM): its flows are decided `unknown`");
  info.source = ProcessSource::kOwnerOnly;
  info.imageReplaced = true;
  finish(info);
  info.complete = true;
  publish(std::move(info));
}

std::shared_ptr<const ProcessDescription> ProcessTracker::forkParent(
    const warden_owner& owner) const {
  auto parent = table_.find(ProcessKey{owner.ppid, ticksFromBootNs(owner.parent_start_time_ns)},
                            owner.exe_dev, owner.exe_ino, owner.exec_id);
  if (!parent || parent->source == ProcessSource::kOwnerOnly ||
      !sameImage(*parent, owner.exe_dev, owner.exe_ino)) {
    return nullptr;
  }
  return parent;
}

ProcessTracker::ProcRead ProcessTracker::completeForGeneration(ProcessDescription& info,
                                                               const warden_owner& owner) {
  const auto moved = [this] {
    counters_.procMoved.fetch_add(1, std::memory_order_relaxed);
    return ProcRead::kMoved;
  };
  // The table knows a later exec of the process already (described on a verdict's request):
  // /proc shows that one, or one later still.
  if (const auto current = table_.find(info.key);
      current && current->execId != 0 && owner.exec_id != 0 && current->execId > owner.exec_id) {
    return moved();
  }
  base::ProcStat lastStat;
  const auto readProc = [&] {
    return reader_.complete(info, &lastStat, /*uidKnown=*/true) ? ProcRead::kRead : ProcRead::kNone;
  };
  if (!options_.execWindows) return readProc();
  const auto before = options_.execWindows->execWindow(owner.tgid, owner.start_time_ns);
  // An exec under way: /proc will not show this generation (procGeneration), and its reads
  // wait for that exec to end, for good for one stuck in it.
  if (owner.exec_id != 0 && before && before->begun != before->ended) return moved();
  if (readProc() == ProcRead::kNone) return ProcRead::kNone;
  const auto after = options_.execWindows->execWindow(owner.tgid, owner.start_time_ns);
  if (imageContradicted(info, owner, before, after, lastStat.exiting())) {
    return ProcRead::kReplaced;
  }
  if (owner.exec_id == 0) return ProcRead::kRead;
  const ProcGeneration generation = procGeneration(before, after, owner.exec_id);
  // The directory the exec of the call's generation left it in (its forker's exec, for a fork
  // that has not exec'd since): what the windows, read the same twice, say of that generation.
  if ((generation == ProcGeneration::kShown || generation == ProcGeneration::kNoExecSince) &&
      before->exec_id == owner.exec_id && before->cwd_mnt_id != 0) {
    info.cwdAtExec = {
        .mountId = before->cwd_mnt_id, .inode = before->cwd_ino, .shared = before->cwd_shared != 0};
  }
  switch (generation) {
    case ProcGeneration::kShown:
      return ProcRead::kRead;
    case ProcGeneration::kCannotTell:
      // An entry this process may have lost (the map was full after it started), or a failed
      // read: taken as read before the windows.
      counters_.execWindowUnknown.fetch_add(1, std::memory_order_relaxed);
      return ProcRead::kRead;
    case ProcGeneration::kNoExecSince:
      // An entry goes only once this thread has read its process's exit record (the process
      // was exiting then, before the first window was read) or found it gone: one that was
      // still running, not exiting, when /proc was read last has not exec'd since the attach.
      if (!lastStat.exiting()) {
        return ProcRead::kRead;
      }
      return moved();
    case ProcGeneration::kMoved:
      break;
  }
  return moved();
}

bool ProcessTracker::imageContradicted(const ProcessDescription& info, const warden_owner& owner,
                                       const std::optional<warden_exec_window>& before,
                                       const std::optional<warden_exec_window>& after,
                                       bool exiting) const {
  // Only windows read the same twice, with no exec under way, say what the process runs.
  if (!before || !after || std::memcmp(&*before, &*after, sizeof *before) != 0 ||
      before->begun != before->ended) {
    return false;
  }
  // Images are compared as each side names them: the kernel's (inode and superblock device,
  // records and windows alike) with the kernel's, stat(2)'s with stat(2)'s (device numbers
  // differ between the two on btrfs). Not by ctime: unlinking a running binary (a package
  // upgrade) changes its ctime, not the file.
  const auto recordNames = [&](std::uint64_t inode, std::uint32_t dev) {
    return owner.exe_ino == inode && owner.exe_dev == dev;
  };
  const auto procShows = [&](const base::FileIdentity& image) {
    return !info.imageKnown ||
           (info.image.inode == image.inode && info.image.device == image.device);
  };
  if (before->begun != 0) {
    if (before->exe_ino == 0 || owner.exe_ino == 0) return false;
    // A record of the last exec's generation names that exec's image. One that names no
    // generation (a listener's, whose socket an earlier exec may have bound) does too when
    // /proc shows its image now: the process runs it, and its last exec did not put it there.
    const bool current = owner.exec_id != 0 ? owner.exec_id == before->exec_id
                                            : info.imageKnown && isImage(info.image, owner);
    return current && !recordNames(before->exe_ino, before->exe_dev);
  }
  // No exec since the programs were attached (an entry also goes once its process's exit was
  // read: not for one exiting). Forked since, its entry names the image the fork passed on,
  // whoever its parent is by now (an adopted child included): it runs that one until it execs.
  if (before->exe_ino != 0 && owner.exe_ino != 0 && owner.exec_id != 0 &&
      owner.exec_id == before->exec_id && !recordNames(before->exe_ino, before->exe_dev)) {
    return true;
  }
  // Running then, it runs what the start's scan found.
  if (exiting) return false;
  if (const auto scanned = scanImages_.find(info.key); scanned != scanImages_.end()) {
    return !procShows(scanned->second);
  }
  // Born since, and never exec'd: it runs what its parent ran when it forked it (fork_exec_id;
  // 0 where the parent may have adopted it): the parent's window tells while that was its last
  // exec; the scan, when the parent has not exec'd since the attach.
  if (owner.fork_exec_id == 0 || owner.exec_id != owner.fork_exec_id) return false;
  const auto parent = options_.execWindows->execWindow(owner.ppid, owner.parent_start_time_ns);
  if (!parent || parent->begun != parent->ended) return false;
  if (parent->begun != 0) {
    return parent->exec_id == owner.fork_exec_id && parent->exe_ino != 0 && owner.exe_ino != 0 &&
           !recordNames(parent->exe_ino, parent->exe_dev);
  }
  const auto scannedParent = scanImages_.find(processKey(owner.ppid, owner.parent_start_time_ns));
  return scannedParent != scanImages_.end() && !procShows(scannedParent->second);
}

void ProcessTracker::scanProc() {
  std::vector<ProcessDescription> found;
  std::unordered_map<std::uint32_t, std::uint64_t> startOf;
  for (std::uint32_t pid : reader_.listPids()) {
    auto info = reader_.describe(pid);
    if (!info) continue;
    startOf[pid] = info->key.startTicks;
    // What each process runs when the programs are attached already: the image an executable
    // replaced since is told against (imageContradicted).
    if (info->imageKnown) scanImages_.insert_or_assign(info->key, info->image);
    found.push_back(std::move(*info));
  }
  // Parents start before their children: inserting in start order lets each process find
  // its ancestors already in the table.
  std::sort(found.begin(), found.end(),
            [](const ProcessDescription& a, const ProcessDescription& b) {
              return a.key.startTicks != b.key.startTicks ? a.key.startTicks < b.key.startTicks
                                                          : a.key.pid < b.key.pid;
            });
  for (ProcessDescription& info : found) {
    // A "parent" younger than its child holds a pid reused after the real parent died.
    if (auto parent = startOf.find(info.ppid);
        parent != startOf.end() && parent->second <= info.key.startTicks) {
      info.parentStartTicks = parent->second;
    }
    finish(info);
    publish(std::move(info));
  }
  counters_.scanned.fetch_add(found.size(), std::memory_order_relaxed);
}

// Ancestors the table does not hold (they started before the scan, or were never described:
// a description made on demand knows its parent's pid but not its start time) are read from
// /proc, here on the tracker thread. Without a start time to compare, an ancestor must have
// started no later than its child, or the pid was reused and the walk stops.
bool ProcessTracker::appendAncestorsFromProc(std::vector<std::string>& paths, ProcessKey key,
                                             std::uint64_t childStartTicks,
                                             std::uint64_t generation) const {
  // /proc shows what the first of them runs now, while the walk wants what it ran at
  // `generation` (when it forked the process below), which /proc cannot tell apart from a
  // later exec: its path is not known (""), and the walk goes on from its parent.
  if (generation != 0 && key.pid != 0) {
    if (paths.size() >= kMaxAncestors) return true;
    paths.emplace_back();
    auto stat = reader_.stat(key.pid);
    if (!stat || (key.startTicks != 0 && stat->startTicks != key.startTicks) ||
        stat->ppid == key.pid) {
      return false;
    }
    key = ProcessKey{stat->ppid, 0};
    childStartTicks = stat->startTicks;
  }
  return appendAncestorsFromProcNow(paths, key, childStartTicks);
}

bool ProcessTracker::appendAncestorsFromProcNow(std::vector<std::string>& paths, ProcessKey key,
                                                std::uint64_t childStartTicks) const {
  while (paths.size() < kMaxAncestors && key.pid != 0) {
    auto stat = reader_.stat(key.pid);
    if (!stat) break;
    const bool same = key.startTicks != 0
                          ? stat->startTicks == key.startTicks
                          : childStartTicks == 0 || stat->startTicks <= childStartTicks;
    if (!same) break;
    auto path = reader_.exePath(key.pid, stat->startTicks);
    if (!path) break;  // a kernel thread, or gone
    paths.push_back(std::move(*path));
    if (stat->ppid == key.pid) return false;
    childStartTicks = stat->startTicks;
    key = ProcessKey{stat->ppid, 0};
  }
  return paths.size() >= kMaxAncestors && key.pid != 0;
}

void ProcessTracker::tag(ProcessDescription& info) {
  const std::string trustedCgroup = trustedCgroupPath(info);
  const std::string flatpakApp = flatpakAppOf(info);
  TagInput input;
  input.path = info.path;
  input.pathOnHost = info.pathOnHost;
  // Only a command line and an environment read whole tell what an interpreter runs: the
  // cut part may hold the script's real name or a variable that makes it run other code.
  input.argv = &info.argv;
  input.argvCut = info.argvTruncated;
  input.env = info.envKnown ? &info.env : nullptr;
  input.envCut = info.envTruncated;
  input.cwd = info.cwd;
  input.trustedCgroupPath = trustedCgroup;
  input.flatpakApp = flatpakApp;
  info.tags = computeTags(input);
  // An interpreter opened a script named relative to its working directory in the one its
  // exec left it in: the one it has now says nothing of that if it moved since (a subshell
  // forked after a `cd`, described from /proc), or if another process shared it then (clone
  // CLONE_FS: it may have been moved between the exec and the open). Then only a script named
  // by its absolute path gets a tag. Not known (a process running since before wardend):
  // resolved against the one it has now. Asked only of a tag that needed the directory.
  if (const auto& atExec = info.cwdAtExec;
      atExec.mountId != 0 && std::ranges::any_of(info.tags, [](const std::string& tag) {
        return tag.starts_with("script:");
      })) {
    TagInput absolute = input;
    absolute.cwd = {};
    auto withoutCwd = computeTags(absolute);
    if (withoutCwd != info.tags &&
        (atExec.shared || !reader_.cwdIs(info.key.pid, info.uid, atExec.mountId, atExec.inode))) {
      info.tags = std::move(withoutCwd);
      input.cwd = {};
    }
  }
  info.scriptTagCut = scriptTagCut(input, info.tags);
  // A script tag names a file of the host, like a path key: not one bind-mounted over it in a
  // mount namespace of the process's own, nor one a symbolic link there leads elsewhere from.
  // A script named relative to the working directory was made absolute against the
  // directory's name: that name must still lead to the directory the process is in (a mount
  // over it since would show the trusted directory's name for another one). Whether the name
  // was relative is not told apart (argv may hold the absolute name elsewhere too): the
  // working directory is checked for every script. Checked while the process runs; once it
  // is gone nothing can be checked, and it gets no such tag.
  std::erase_if(info.tags, [&](const std::string& tag) {
    return tag.starts_with("script:") &&
           !reader_.seesHostFile(info.key.pid, info.uid, tag.substr(7),
                                 info.cwd.empty() ? std::nullopt : std::optional(info.cwd));
  });
}

void ProcessTracker::finish(ProcessDescription& info, bool tagsCopied) {
  info.user = userName(info.uid);
  if (info.ppid != 0) {
    ProcessKey missing;
    std::uint64_t missingGeneration = 0;
    // Not told by the record (a parent that may have adopted it: a subreaper, which any
    // process may make itself): the fork event's, when it was the same parent.
    if (info.forkExecId == 0) {
      info.forkExecId = table_.forkGeneration(info.key, info.ppid, info.parentStartTicks);
    }
    ProcessKey forker{info.ppid, info.parentStartTicks};
    std::uint64_t forkGeneration = info.forkExecId;
    // Adopted (or cloned with CLONE_PARENT): its parent did not start it, so it lends the
    // process nothing, and its ancestry is that of the process that forked it, which the fork
    // record names. Else any program could be made a launcher (run it as a subreaper, or as
    // init of a pid namespace of one's own, and hand it an orphan), and a double fork would
    // leave a deny profile for what a launcher starts.
    if (info.forkExecId == 0) {
      if (const auto other = table_.forkedByAnother(info.key, info.ppid, info.parentStartTicks)) {
        forker = other->key;
        forkGeneration = other->execId;
      } else if (const auto named = forkerInWindow(info); named && named->key != forker) {
        // The table no longer holds that fork (pushed out by a flood of processes, or its
        // event lost), but the kernel's entry of the process names who forked it.
        forker = named->key;
        forkGeneration = named->execId;
        info.forkedBy = named->key;
        info.forkedByExecId = named->execId;
      }
    }
    info.ancestorPaths =
        table_.ancestorPaths(forker.pid, forker.startTicks, kMaxAncestors, &missing, forkGeneration,
                             &missingGeneration, info.startTimeNs, &info.ancestorsCut);
    if (missing.pid != 0) {
      info.ancestorsCut = appendAncestorsFromProc(info.ancestorPaths, missing, info.key.startTicks,
                                                  missingGeneration);
    }
  }
  if (!tagsCopied) tag(info);
  if (hashing_.load(std::memory_order_relaxed) && !info.imageHandle) {
    if (auto image = reader_.openImage(info.key.pid, info.uid)) {
      auto identity = identityOfFd(image->get());
      const auto fsType = base::filesystemTypeOfFd(image->get());
      if (identity && fsType && (info.exeInode == 0 || identity->inode == info.exeInode)) {
        info.image = *identity;
        info.imageKnown = true;
        info.imageFsType = *fsType;
        // An image whose hash is known needs no descriptor: the hash is found by identity.
        // Nor does one whose hash is never trusted.
        if (!base::unpinnedImageFilesystem(*fsType) &&
            (!hasher_ || !hasher_->cache().findInMemory(*identity))) {
          info.imageHandle = heldImages_.hold(*identity, std::move(*image));
        }
      }
    }
  }
}

std::optional<ProcessTable::Forker> ProcessTracker::forkerInWindow(
    const ProcessDescription& info) const {
  if (!options_.execWindows) return std::nullopt;
  const auto window = options_.execWindows->execWindow(info.key.pid, info.startTimeNs);
  if (!window || window->forker_tgid == 0) return std::nullopt;
  return ProcessTable::Forker{.key = processKey(window->forker_tgid, window->forker_start_time_ns),
                              .execId = window->fork_exec_id};
}

std::string ProcessTracker::userName(std::uint32_t uid) {
  if (auto it = userNames_.find(uid); it != userNames_.end()) return it->second;
  std::string name;
  passwd entry{};
  passwd* result = nullptr;
  char buffer[4096];
  if (getpwuid_r(uid, &entry, buffer, sizeof buffer, &result) == 0 && result) {
    name = result->pw_name;
  }
  // Bounded: a machine has a few users, but root can start processes under any number of
  // uids; past the bound the names are looked up afresh.
  if (userNames_.size() >= kMaxUserNames) userNames_.clear();
  userNames_.emplace(uid, name);
  return name;
}

std::shared_ptr<const ProcessDescription> ProcessTracker::publish(ProcessDescription info) {
  info.match = matchView(info, hasher_, options_.procRoot, &environments_);
  // Rebuilt: a copy of another description (a fork's) carries its source's, whose argv it
  // keeps when its own was cut.
  const std::shared_ptr<const db::LogProcess> source = std::move(info.logged);
  info.logged = nullptr;
  info.logged = loggedProcess(info);
  if (info.argvCut && source) {
    auto logged = std::make_shared<db::LogProcess>(*info.logged);
    logged->argv = source->argv;
    info.logged = std::move(logged);
  }
  // The environment is kept once, in the matcher's view; argv whole in the matcher's command
  // line and the log's copy.
  info.env.clear();
  info.env.shrink_to_fit();
  if (info.argv.size() > ProcessDescription::kMaxKeptArgs) {
    info.argv.resize(ProcessDescription::kMaxKeptArgs);
    info.argv.shrink_to_fit();
    info.argvCut = true;
  }
  auto published = std::make_shared<const ProcessDescription>(std::move(info));
  table_.upsert(published);
  return published;
}

void ProcessTracker::maybeTrim() {
  const ProcessTable::Stats stats = table_.stats();
  const std::uint64_t drops = stats.evicted + stats.expired;
  const std::uint64_t now = base::bootTimeNs();
  // Also what the last few drops freed, once a storm is over.
  const bool quiet = drops > dropsAtTrim_ && now - trimmedAtNs_ >= kQuietTrimNs;
  if (drops - dropsAtTrim_ < options_.trimAfterDrops && !quiet) return;
  dropsAtTrim_ = drops;
  trimmedAtNs_ = now;
  malloc_trim(0);
  trims_.fetch_add(1, std::memory_order_relaxed);
}

void ProcessTracker::maybeHash(const ProcessDescription& info) {
  if (!hasher_ || !hashing_.load(std::memory_order_relaxed) || !info.imageHandle) return;
  if (base::unpinnedImageFilesystem(info.imageFsType)) return;
  if (info.imageKnown && info.imageFsType != 0 && hasher_->cache().findInMemory(info.image)) {
    return;
  }
  // A small image is hashed by the time the wait ends; a large one goes on without this thread.
  const auto hash = hasher_->hashWithin(ImageRef::of(info), kTrackerHashWait, options_.procRoot);
  if (!hash) return;
  if (*hash) {
    counters_.hashed.fetch_add(1, std::memory_order_relaxed);
  } else {
    counters_.hashErrors.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace warden::engine
