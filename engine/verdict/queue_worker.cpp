#include "engine/verdict/queue_worker.h"

#include <linux/netfilter.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/logging.h"
#include "engine/attribution/attributor.h"
#include "engine/dns/dns_snoop.h"
#include "engine/netfilter/packet.h"

namespace warden::engine {
namespace {

constexpr std::size_t kBatchReserve = 64;
constexpr int kDrainQuietMs = 50;
constexpr std::uint64_t kDrainMaxMs = 2000;
constexpr int kParkedPollMs = 1;
// An idle worker still turns once a second, so that its heartbeat tells idle from hung.
constexpr int kIdlePollMs = 1000;

// Without an owner lookup, a socket's owner is a process the engine knows nothing about: no
// [[match]] key holds for it, so it gets no profile and the engine default.
const rules::ProcessInfo kUndescribedProcess{};

// A flow decided by a prompt's answer (given now, or until restart).
rules::Decision promptDecision(rules::Action action) {
  rules::Decision decision;
  decision.action = action;
  decision.enforced = action;
  decision.by = rules::DecidedBy::kPrompt;
  return decision;
}

}  // namespace

QueueWorker::QueueWorker(std::unique_ptr<PacketSource> source, const PolicySlot& policy,
                         MarkBits marks, db::LogProducer log, std::unique_ptr<OwnerLookup> owners,
                         HostCache* hosts, PendingDnsQueries* dnsQueries, Clock clock)
    : source_(std::move(source)),
      policy_(policy),
      marks_(marks),
      log_(std::move(log)),
      owners_(std::move(owners)),
      hosts_(hosts),
      dnsQueries_(dnsQueries),
      clock_(clock),
      verdictLoss_(base::LogLevel::kError, base::RepeatedLog::kDefaultInterval, clock),
      overruns_(base::LogLevel::kWarning, base::RepeatedLog::kDefaultInterval, clock) {
  batch_.reserve(kBatchReserve);
  parked_.reserve(kMaxParked);
  confirmed_.reserve(DnsConfirmer::kMaxInFlight);
  if (hosts_) unconfirmed_ = std::make_unique<UnconfirmedReply>();
}

QueueWorker::QueueWorker(NfQueue queue, const PolicySlot& policy, MarkBits marks,
                         db::LogProducer log, Attributor* attributor, HostCache* hosts,
                         PendingDnsQueries* dnsQueries)
    : QueueWorker(std::make_unique<NfQueueSource>(std::move(queue)), policy, marks, std::move(log),
                  attributor ? std::make_unique<AttributorLookup>(*attributor) : nullptr, hosts,
                  dnsQueries) {}

QueueWorker::~QueueWorker() {
  if (thread_.joinable()) {
    drainAndStop();
    join();
  }
}

base::Result<void> QueueWorker::start() {
  auto stopFd = base::makeEventFd(
      EFD_NONBLOCK, "creating the stop eventfd of NFQUEUE " + std::to_string(source_->number()));
  if (!stopFd) return std::unexpected(stopFd.error());
  stopFd_ = std::move(*stopFd);
  thread_ = std::thread([this] { run(); });
  return {};
}

base::Result<void> QueueWorker::confirmDns(DnsConfirmerPorts& ports) {
  auto confirmer = std::make_unique<DnsConfirmer>();
  if (auto opened = confirmer->open(ports); !opened) return opened;
  confirmer_ = std::move(confirmer);
  ownDnsPorts_ = &ports;
  return {};
}

void QueueWorker::drainAndStop() {
  const std::uint64_t one = 1;
  // Fails only without start() (no eventfd) or with the counter at its maximum (never: one
  // write per stop); said, since join() would then wait for good.
  if (write(stopFd_.get(), &one, sizeof one) != sizeof one) {
    base::logError(base::errnoError("asking the worker of NFQUEUE " +
                                    std::to_string(source_->number()) + " to stop")
                       .message());
  }
}

void QueueWorker::join() {
  if (thread_.joinable()) thread_.join();
}

void QueueWorker::run() {
  // Named per queue so that top -H and perf tell the workers apart.
  const std::string name = "wardend-q" + std::to_string(source_->number());
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
  preferQueueThread();
  const std::string queue = "NFQUEUE " + std::to_string(source_->number());
  pollfd fds[5] = {{source_->fd(), POLLIN, 0},
                   {stopFd_.get(), POLLIN, 0},
                   {prompts_ ? prompts_->wakeFd(promptSlot_) : -1, POLLIN, 0},
                   {confirmer_ ? confirmer_->fd4() : -1, POLLIN, 0},
                   {confirmer_ ? confirmer_->fd6() : -1, POLLIN, 0}};
  for (;;) {
    // The queue has been emptied (or nothing came yet): a moment to free what packets' paths
    // put off, and to report errors that were only counted.
    heartbeat_.beat(clock_());
    retired_.releaseAll();
    verdictLoss_.flush();
    overruns_.flush();
    // While packets are parked, look at their descriptions every millisecond.
    if (poll(fds, 5, pollTimeoutMs()) < 0) {
      if (errno == EINTR) continue;
      return fail(base::errnoError(queue + ": waiting for packets (poll)"));
    }
    if (fds[1].revents & POLLIN) break;
    if (fds[0].revents & POLLNVAL) {
      return fail(base::makeError(EBADF, queue + ": its socket was closed under the worker"));
    }
    // Any event (POLLERR too: an overrun is reported as ENOBUFS by the next receive, which
    // clears it); none when the wait for parked packets timed out.
    if (fds[0].revents != 0) {
      if (auto served = serveWaiting(); !served) return fail(served.error());
    }
    if (!parked_.empty()) serveParked();
    if (!held_.empty() || (fds[2].revents & POLLIN)) serveHeld(false);
    // Anything that came to a confirming socket is read, also with nothing in flight (a late
    // or stray datagram would otherwise wake the loop for good).
    const bool confirmerReadable = fds[3].revents != 0 || fds[4].revents != 0;
    if (confirmer_ && (confirmer_->inFlight() > 0 || confirmerReadable)) {
      serveConfirmations(false, confirmerReadable);
    }
  }
  // Replies held for a confirmation go now, unconfirmed: nothing waits once stopping (nor
  // is held from now on: the drain below does not wait for answers).
  confirming_ = false;
  if (confirmer_) serveConfirmations(true);
  // Nothing waits for a prompt's answer once stopping: the engine verdict, now.
  holding_ = false;
  if (prompts_) serveHeld(true);
  // Stopping: the table no longer queues, but a packet that met the old rules an instant ago
  // may still be on its way; serve until the queue has been quiet for a moment (for at most
  // kDrainMaxMs: after a failure elsewhere the table still queues) and every parked packet has
  // had its verdict (their waits are bounded).
  const std::uint64_t drainEnd = base::monotonicNs() + kDrainMaxMs * 1'000'000ull;
  do {
    if (auto served = serveWaiting(); !served) return fail(served.error());
    if (!parked_.empty()) serveParked();
  } while ((poll(fds, 1, parked_.empty() ? kDrainQuietMs : kParkedPollMs) > 0 &&
            base::monotonicNs() < drainEnd) ||
           !parked_.empty());
}

base::Result<void> QueueWorker::serveWaiting() {
  for (;;) {
    batch_.clear();
    auto received = source_->receive(batch_);
    if (!received) {
      // ENOBUFS: the kernel could not deliver some packets to us (they were dropped, or
      // passed when failing open); the socket goes on. EINTR: nothing happened.
      if (received.error().code == ENOBUFS) {
        QueueCounters::bump(counters_.enobufs);
        overruns_.note(received.error().message(),
                       ": the kernel could not hand packets to wardend (its socket was full); "
                       "they were dropped, or passed undecided when failing open");
        continue;
      }
      if (received.error().code == EINTR) continue;
      return std::unexpected(received.error());
    }
    if (*received == 0) return {};
    // A queue that never runs dry (a flood) keeps the worker in here: alive, so it says so.
    heartbeat_.beat(clock_());
    for (const QueuedPacket& packet : batch_) handle(packet);
  }
}

void QueueWorker::fail(const base::Error& error) {
  holding_ = false;
  if (prompts_) serveHeld(true);
  // What it read has had its verdict but the parked packets: they get theirs now, decided on
  // what is known of their processes (the verdict of a process not described is `unknown`).
  for (Pending& pending : parked_) pending.deadline = 0;
  if (!parked_.empty()) serveParked();
  confirming_ = false;
  if (confirmer_) serveConfirmations(true);
  if (onFailure_) {
    onFailure_(error);
  } else {
    base::logError(error.message(), "; this queue is no longer served");
  }
}

void QueueWorker::handle(const QueuedPacket& packet) {
  if (marks_.isDnsReply(packet.mark)) return passDns(packet);
  const PolicySnapshot& snapshot = policy_.get();
  const rules::CompiledPolicy& policy = *snapshot.policy;

  Pending pending;
  pending.id = packet.id;
  pending.mark = packet.mark;
  pending.started = clock_();
  ParseResult parsed = parsePacket(packet.payload, packet.wireLength);
  parsed.info.inDevice = packet.inDevice;
  if (!parsed.ok) {
    QueueCounters::bump(counters_.packets);
    QueueCounters::bump(counters_.malformed);
    return conclude(snapshot, pending, policy.decideUnreadable());
  }
  pending.flow = flowOf(parsed.info, packet.hook);
  if (ownDnsPorts_ && ownDnsQuery(packet, parsed.info, pending.owner.attribution)) {
    // Neither decided nor logged: wardend's own question, whose answer it needs.
    if (owners_) owners_->noteAccepted(pending.flow, pending.owner.attribution);
    const std::uint32_t mark = marks_.withValue(packet.mark, marks_.accept());
    return sendVerdict(packet.id, Verdict::kAccept, &mark);
  }
  QueueCounters::bump(counters_.packets);
  pending.portsNameFlow = portsNameFlow(parsed.info);
  // Before the name is looked up, and before the decision asks about prompt clients.
  if (kernelVerdicts_) pending.heldTicket = kernelVerdicts_->ticket();
  nameRemote(hosts_, pending.flow, pending.host);
  pending.flow.host = {};
  // The first query of a DNS flow: its replies will have to answer it.
  if (dnsQueries_ && packet.hook == NF_INET_LOCAL_OUT && policy.config().dns) {
    pending.dnsQuery = readDnsQuery(packet, parsed.info, pending.query);
  }
  if (!owners_) {
    if (packet.hook == NF_INET_LOCAL_OUT && !packet.hasUid) {
      // The kernel names a uid only for packets of a process's socket (NFQA_UID); an outbound
      // packet without one was made by the kernel itself.
      QueueCounters::bump(counters_.kernel);
      return conclude(snapshot, pending, policy.decide(rules::Subject::kernel(), pending.named()));
    }
    return conclude(snapshot, pending,
                    policy.decide(rules::Subject::process(kUndescribedProcess), pending.named()));
  }

  // SPEC section 4 steps 2-4: who owns the flow, then what that owner's profile says.
  followHashing(snapshot);
  FlowOwner& owner = pending.owner;
  owner.attribution = owners_->attribute(parsed.info, packet.hook, packet.hasUid);
  if (owner.attribution.kind == OwnerKind::kProcess) {
    owner.process = describe(owner.attribution);
    if (!owner.process || !owner.process->complete) {
      if (parked_.size() < parked_.capacity()) {
        pending.deadline =
            pending.started + static_cast<std::uint64_t>(owners_->describeWait().count()) * 1000;
        parked_.push_back(std::move(pending));
        QueueCounters::bump(counters_.parked);
        return;
      }
      // Every parking place taken (a storm of new processes): wait here, as bounded.
      owner.process = owners_->describeForVerdict(owner.attribution);
    }
  }
  decideAttributed(snapshot, pending);
}

// The process's description: from this worker's own memory of complete ones when it can (no
// lock), else from the owner lookup (which asks the tracker for a process it does not hold).
std::shared_ptr<const ProcessDescription> QueueWorker::describe(const Attribution& attribution) {
  const ProcessKey& key = attribution.key;
  KnownProcess& slot = known_[ProcessKeyHash{}(key) % kKnownProcesses];
  if (slot.info && slot.key == key && slot.exeDev == attribution.owner.exe_dev &&
      slot.exeIno == attribution.owner.exe_ino && slot.execId == attribution.owner.exec_id) {
    return slot.info;
  }
  auto info = owners_->describe(attribution);
  if (info && info->complete) {
    // The entry giving way may hold the last reference to its description: it is freed when
    // the worker is idle. Until then, should retired_ be full, the slot keeps its entry and
    // this process is described by the owner lookup again next time.
    if (slot.info && !retired_.take(slot.info)) return info;
    slot = KnownProcess{};  // no profile chosen yet
    slot.key = key;
    slot.exeDev = attribution.owner.exe_dev;
    slot.exeIno = attribution.owner.exe_ino;
    slot.execId = attribution.owner.exec_id;
    slot.info = info;
  }
  return info;
}

// Parked packets whose description has arrived, or whose wait is over, get their verdict
// (under the policy in force now).
void QueueWorker::serveParked() {
  const std::uint64_t now = clock_();
  const PolicySnapshot& snapshot = policy_.get();
  for (std::size_t i = 0; i < parked_.size();) {
    Pending& pending = parked_[i];
    auto described = owners_->described(pending.owner.attribution);
    const bool complete = described && described->complete;
    if (!complete && now < pending.deadline) {
      ++i;
      continue;
    }
    if (!complete) QueueCounters::bump(counters_.parkedUndescribed);
    // The descriptions a parked packet let go of may be their last references: freed when
    // the worker is idle (or here, should 64 be waiting already).
    (void)retired_.take(pending.owner.process);
    pending.owner.process = std::move(described);
    decideAttributed(snapshot, pending);
    (void)retired_.take(pending.owner.process);
    if (i + 1 != parked_.size()) pending = std::move(parked_.back());
    parked_.pop_back();
  }
}

// Images are held and hashed from exec on only while some profile pins a sha256.
void QueueWorker::followHashing(const PolicySnapshot& snapshot) {
  if (snapshot.revision() == hashingRevision_) return;
  owners_->setImageHashing(snapshot.policy->usesSha256());
  hashingRevision_ = snapshot.revision();
}

// Decides a first packet whose owner is attributed (and described as far as it will be: a
// parked packet's wait is over), and concludes it. Never waits.
void QueueWorker::decideAttributed(const PolicySnapshot& snapshot, const Pending& pending,
                                   bool mayHold) {
  const FlowOwner& owner = pending.owner;
  if (owner.attribution.kind == OwnerKind::kKernel) QueueCounters::bump(counters_.kernel);
  // A process this worker knows keeps its choice of profile (rememberedSelection).
  const rules::Decision decision = decideForOwner(*snapshot.policy, pending.named(), owner,
                                                  rememberedSelection(snapshot, owner));
  if (prompts_ && asksAbout(decision, owner)) {
    // An until-restart answer decides without a question, prompt client or not.
    if (prompts_->hasRemembered()) {
      const ProcessDescription& process = *owner.process;
      if (auto action = prompts_->recall(promptTargetOf(process.path, process.exeKernelDev,
                                                        process.exeInode, pending.named()))) {
        return conclude(snapshot, pending, promptDecision(*action));
      }
    }
    if (mayHold && holding_ && (prompts_->active() || prompts_->hasRecentFlows()) &&
        hold(snapshot, pending)) {
      return;
    }
  }
  conclude(snapshot, pending, decision);
}

// Where the profile a described process gets under the policy in force is kept: with the
// process in known_, once per process and policy (a choice of an earlier policy is dropped).
// Null, so chosen for each flow, when the process is not one this worker keeps, or when the
// policy pins sha256: the choice may then rest on a hash that could not be had this time.
std::optional<rules::ProfileSelection>* QueueWorker::rememberedSelection(
    const PolicySnapshot& snapshot, const FlowOwner& owner) {
  if (!owner.process || snapshot.policy->usesSha256()) return nullptr;
  KnownProcess& slot = known_[ProcessKeyHash{}(owner.attribution.key) % kKnownProcesses];
  if (slot.info != owner.process) return nullptr;
  if (slot.selectedIn != policy_.generation()) {
    slot.selection.reset();
    slot.selectedIn = policy_.generation();
  }
  return &slot.selection;
}

// Gives the packet its verdict, counts it, and logs the decision.
void QueueWorker::conclude(const PolicySnapshot& snapshot, const Pending& pending,
                           const rules::Decision& decision) {
  if (decision.learn && decision.action != rules::Action::kAllow) {
    QueueCounters::bump(counters_.learned);
  }
  // The decision's latency (what the log row records): packet read to verdict chosen. Sending
  // the verdict is left out: the kernel runs the verdict chain and, on a veth or loopback
  // path, delivers the packet to its receiver inside that very sendmsg, which costs a
  // do-nothing consumer just the same.
  const std::uint64_t elapsed = clock_() - pending.started;
  switch (decision.enforced) {
    case rules::Action::kAllow: {
      QueueCounters::bump(counters_.allowed);
      // Before the verdict: the flow's next packet may follow at once (see noteAccepted),
      // and a DNS query's reply may come back before this thread runs again.
      if (owners_) owners_->noteAccepted(pending.flow, pending.owner.attribution);
      if (pending.dnsQuery) rememberDnsQuery(pending.query, *dnsQueries_, counters_);
      // An inbound flow no socket was seen to receive (the `kernel` verdict: the kernel
      // answers it with a reset or an ICMP error; or a port's record whose socket the lookup
      // did not find) passes unremembered, its ct mark left without our bits: a program that
      // binds the port later gets the flow's next packet decided for it (rule 4 while the
      // flow is unanswered, else 4b), rather than receiving what the peer goes on sending on
      // a verdict made for nobody, or for a socket that closed.
      const bool unreceived = pending.flow.direction == rules::Direction::kIn &&
                              (pending.owner.attribution.kind == OwnerKind::kKernel ||
                               pending.owner.attribution.receiverUnseen);
      const std::uint32_t mark = marks_.withValue(pending.mark, unreceived ? 0 : marks_.accept());
      sendVerdict(pending.id, Verdict::kAccept, &mark);
      break;
    }
    case rules::Action::kDeny:
      QueueCounters::bump(counters_.denied);
      sendVerdict(pending.id, Verdict::kDrop, nullptr);
      break;
    case rules::Action::kReject: {
      QueueCounters::bump(counters_.rejected);
      const std::uint32_t mark = marks_.withValue(pending.mark, marks_.reject());
      sendVerdict(pending.id, Verdict::kAccept, &mark);
      break;
    }
  }

  if (elapsed > counters_.maxLatencyNs.load(std::memory_order_relaxed)) {
    counters_.maxLatencyNs.store(elapsed, std::memory_order_relaxed);
  }
  // The flow's row, made once: for the log, and kept with a held verdict for its held flows.
  std::optional<db::LogRow> row;
  if (wantsLogRow(snapshot.config(), decision)) {
    row.emplace(verdictRow(snapshot, decision, pending.named(), elapsed, pending.owner));
  }
  // After the verdict (without a writer thread, hold() makes a bpf(2) call). Not what a
  // connected prompt client is to be asked about: its next flow is a question too.
  if (kernelVerdicts_ && holdable(snapshot.config(), decision, pending.owner, pending.flow) &&
      !(prompts_ && prompts_->active() && asksAbout(decision, pending.owner))) {
    kernelVerdicts_->hold(policy_.generation(), pending.heldTicket, pending.flow, pending.host,
                          pending.owner, decision.enforced,
                          snapshot.policy->hits().counterOf(decision), row ? &*row : nullptr);
  }
  // The deciding rule's hit: once per flow, so a repeat (a SYN sent again after a drop) is not
  // counted again where the log can tell it; flows that are not logged are rarely repeated.
  const rules::RuleHits& hits = snapshot.policy->hits();
  if (!row) {
    hits.record(decision, base::coarseRealtimeNs());
    return;
  }
  // One row per flow decision, not per packet: a repeat of a decision logged lately is counted.
  const DecisionKey key = decisionKeyOf(pending.flow, pending.owner, decision, snapshot.revision());
  if (pending.portsNameFlow && recentDecisions_.repeat(key, pending.started + elapsed)) {
    QueueCounters::bump(counters_.repeats);
    return;
  }
  hits.record(decision, base::coarseRealtimeNs());
  // A full ring counts the row as dropped: the packet path never waits for the database. A
  // repeat may then have its row.
  if (!log_.tryEnqueue(std::move(*row)) && pending.portsNameFlow) {
    recentDecisions_.forget(key);
  }
}

void QueueWorker::sendVerdict(std::uint32_t id, Verdict verdict, const std::uint32_t* mark) {
  for (int attempt = 1;; ++attempt) {
    auto sent = source_->verdict(id, verdict, mark);
    if (sent) return;
    const int code = sent.error().code;
    const bool passing = code == ENOBUFS || code == ENOMEM || code == EINTR || code == EAGAIN;
    if (passing && attempt < kVerdictAttempts) {
      QueueCounters::bump(counters_.verdictRetries);
      continue;
    }
    // Lost: the packet waits in the kernel until the queue is unbound.
    QueueCounters::bump(counters_.verdictErrors);
    verdictLoss_.note(sent.error().message(), " (packet ", id, ", after ", attempt,
                      attempt == 1 ? " attempt" : " attempts",
                      "): it waits in the kernel until wardend stops");
    return;
  }
}

// ---- prompts (warden prompt) -------------------------------------------------------------

bool QueueWorker::asksAbout(const rules::Decision& decision, const FlowOwner& owner) {
  return decision.by == rules::DecidedBy::kEngineDefault && decision.profileIndex < 0 &&
         !decision.learn && owner.attribution.kind == OwnerKind::kProcess && owner.process &&
         owner.process->complete;
}

bool QueueWorker::hold(const PolicySnapshot& snapshot, const Pending& pending) {
  const ProcessDescription& process = *pending.owner.process;
  PromptQuestion question;
  question.flow = pending.flow;
  question.target =
      promptTargetOf(process.path, process.exeKernelDev, process.exeInode, pending.named());
  question.pid = pending.owner.attribution.owner.tgid;
  question.uid = process.uid;
  question.user = process.user;
  question.argv = process.argv;
  if (!process.ancestorPaths.empty()) question.parent = process.ancestorPaths.front();
  question.tags = process.tags;
  question.exeOnHost = process.pathOnHost;
  if (process.pathOnHost && process.imageKnown) {
    question.exeDevice = process.image.device;
    question.exeInode = process.image.inode;
    question.exeCtimeNs = process.image.ctimeNs;
  } else if (process.pathOnHost && process.exeInode != 0) {
    // The kernel's dev_t is major << 20 | minor; stat(2)'s is makedev's (and pathOnHost says
    // the two name the same file).
    question.exeDevice = makedev(process.exeKernelDev >> 20, process.exeKernelDev & 0xfffff);
    question.exeInode = process.exeInode;
    question.exeCtimeNs = static_cast<std::int64_t>(process.exeCtimeNs);
  }
  question.queue = source_->number();
  const std::uint64_t now = clock_();
  question.deadlineNs = now + snapshot.config().promptTimeoutS * 1'000'000'000ull;
  const PromptBroker::AskResult asked =
      prompts_->ask(promptSlot_, question, snapshot.config().promptHold);
  switch (asked.asked) {
    case PromptBroker::Asked::kAnswered:
      conclude(snapshot, pending, promptDecision(asked.action));
      return true;
    case PromptBroker::Asked::kHeld:
      held_.push_back({pending, question.id, question.deadlineNs});
      return true;
    case PromptBroker::Asked::kDuplicate:
      // The flow's first packet waits for an answer: this one must not pass before it (nor be
      // logged: the flow has one row, when it is decided).
      sendVerdict(pending.id, Verdict::kDrop, nullptr);
      return true;
    case PromptBroker::Asked::kNoClient:
    case PromptBroker::Asked::kFull:
    case PromptBroker::Asked::kLapsed:
      return false;
  }
  return false;
}

void QueueWorker::serveHeld(bool releaseAll) {
  resolutions_.clear();
  prompts_->takeResolutions(promptSlot_, resolutions_);
  const std::uint64_t now = clock_();
  const PolicySnapshot& snapshot = policy_.get();
  for (std::size_t i = 0; i < held_.size();) {
    Held& held = held_[i];
    std::optional<PromptResolution> resolution;
    for (const PromptResolution& r : resolutions_) {
      if (r.id == held.question) resolution = r;
    }
    if (!resolution && (releaseAll || now >= held.deadline)) {
      // An answer may have come since the resolutions were taken: then it decides.
      const PromptOutcome why = releaseAll ? PromptOutcome::kReleased : PromptOutcome::kTimedOut;
      resolution = prompts_->close(promptSlot_, held.question, why)
                       .value_or(PromptResolution{held.question, why, rules::Action::kAllow});
    }
    if (!resolution) {
      ++i;
      continue;
    }
    // A person's time to answer is not the engine's: the latency a row records (and the
    // queue's slowest decision) starts again now.
    held.pending.started = now;
    if (resolution->outcome == PromptOutcome::kAnswered) {
      conclude(snapshot, held.pending, promptDecision(resolution->action));
    } else {
      // The engine verdict (or, after a reload, what the policy now says), as without a prompt.
      decideAttributed(snapshot, held.pending, /*mayHold=*/false);
    }
    (void)retired_.take(held.pending.owner.process);
    if (i + 1 != held_.size()) held = std::move(held_.back());
    held_.pop_back();
  }
}

int QueueWorker::pollTimeoutMs() const {
  if (!parked_.empty()) return kParkedPollMs;
  const std::uint64_t confirming = confirmer_ ? confirmer_->nextDeadline() : 0;
  if (held_.empty() && confirming == 0) return kIdlePollMs;
  std::uint64_t next = confirming != 0 ? confirming : held_.front().deadline;
  for (const Held& held : held_) next = std::min(next, held.deadline);
  const std::uint64_t now = clock_();
  if (next <= now) return 0;
  return static_cast<int>(std::min<std::uint64_t>(kIdlePollMs, (next - now + 999'999) / 1'000'000));
}

rules::Flow QueueWorker::Pending::named() const {
  rules::Flow named = flow;
  if (host.length > 0) named.host = host.view();
  return named;
}

// ---- host names (SPEC section 3 `host`) -------------------------------------------------

// A DNS query or reply of an accepted flow, queued only to be read: it is never decided nor
// logged, and is accepted whatever it holds, with the tag in our mark bits cleared again.
// A reply from another host whose answers it confirms is held until the confirmation ends
// (DnsConfirmer): the program reads it once its name is known. Meanwhile any other reply to
// the same query is dropped, so that it cannot overtake the one held (a program takes the
// first reply that comes; before, the first reply came first).
void QueueWorker::passDns(const QueuedPacket& packet) {
  const std::uint32_t mark = marks_.withValue(packet.mark, 0);
  if (hosts_ && dnsQueries_) {
    UnconfirmedReply& read = *unconfirmed_;
    switch (readDnsPacket(packet, *dnsQueries_, *hosts_, counters_, ownDnsPorts_, read)) {
      case DnsRead::kDone:
        break;
      case DnsRead::kUnconfirmed:
        if (confirming_ && confirmer_ &&
            confirmer_->begin(read.exchange, packet.inDevice, read.response, {packet.id, mark},
                              clock_(), counters_)) {
          return;  // its verdict when the confirmation ends
        }
        QueueCounters::bump(counters_.dnsUnconfirmed, read.response.addressCount);
        break;
      case DnsRead::kUnsolicited:
        if (confirmer_ && confirmer_->anotherReply(read.exchange)) {
          return sendVerdict(packet.id, Verdict::kDrop, nullptr);
        }
        break;
    }
  }
  sendVerdict(packet.id, Verdict::kAccept, &mark);
}

// wardend's own: a UDP packet out from one of the confirmers' ports to port 53 of a server
// a confirmation from that port is asking now, of a socket root holds (NFQA_UID), and, where
// attribution works, of this very process. No other socket can have those ports (they are
// bound to the wildcard address, without SO_REUSEADDR or SO_REUSEPORT). A raw socket of a
// root process with CAP_NET_RAW can still forge such a packet (the kernel's lookups then
// name wardend's socket), but only to that server's port 53, and only while it is asked.
bool QueueWorker::ownDnsQuery(const QueuedPacket& packet, const PacketInfo& info,
                              Attribution& owner) {
  if (packet.hook != NF_INET_LOCAL_OUT || !packet.hasUid || packet.uid != 0 ||
      info.ipProto != IPPROTO_UDP || info.destinationPort != 53 ||
      !ownDnsPorts_->contains(!info.source.isV4(), info.sourcePort) ||
      !ownDnsPorts_->isAsking(info.sourcePort, info.destination)) {
    return false;
  }
  if (!owners_) return true;
  owner = owners_->attribute(info, packet.hook, packet.hasUid);
  return owner.kind == OwnerKind::kProcess && owner.key.pid == static_cast<std::uint32_t>(getpid());
}

void QueueWorker::serveConfirmations(bool releaseAll, bool readable) {
  confirmed_.clear();
  if (releaseAll) {
    confirmer_->releaseAll(counters_, confirmed_);
  } else {
    confirmer_->serve(clock_(), readable, *hosts_, counters_, confirmed_);
  }
  for (const DnsConfirmer::Held& held : confirmed_) {
    sendVerdict(held.packetId, Verdict::kAccept, &held.mark);
  }
}

}  // namespace warden::engine
