#include "engine/queue_worker.h"

#include <linux/netfilter.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "engine/attributor.h"
#include "engine/decision.h"
#include "engine/logging.h"
#include "engine/packet.h"

namespace warden::engine {
namespace {

constexpr std::size_t kBatchReserve = 64;
constexpr int kDrainQuietMs = 50;

std::uint64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// SPEC section 4 steps 2 and 3: who owns the flow. Without an Attributor, the queue's uid
// alone tells a process's packets from the kernel's.
Owner ownerOf(Attributor* attributor, const QueuedPacket& packet, const PacketInfo& info) {
  if (!attributor) {
    return packet.hook == NF_INET_LOCAL_OUT && !packet.hasUid ? Owner::kKernel : Owner::kProcess;
  }
  switch (attributor->attribute(info, packet.hook, packet.hasUid).kind) {
    case OwnerKind::kKernel:
      return Owner::kKernel;
    case OwnerKind::kUnknown:
      return Owner::kUnknown;
    case OwnerKind::kProcess:
      return Owner::kProcess;
  }
  return Owner::kUnknown;
}

rules::Flow flowOf(const PacketInfo& info, std::uint8_t hook) {
  rules::Flow flow;
  flow.ipProto = info.ipProto;
  if (hook == NF_INET_LOCAL_IN) {
    flow.direction = rules::Direction::kIn;
    flow.local = info.destination;
    flow.remote = info.source;
    flow.localPort = info.destinationPort;
    flow.remotePort = info.sourcePort;
  } else {
    flow.direction = rules::Direction::kOut;
    flow.local = info.source;
    flow.remote = info.destination;
    flow.localPort = info.sourcePort;
    flow.remotePort = info.destinationPort;
  }
  return flow;
}

}  // namespace

QueueWorker::QueueWorker(NfQueue queue, const PolicyStore& policy, MarkBits marks,
                         Attributor* attributor)
    : queue_(std::move(queue)), policy_(policy), marks_(marks), attributor_(attributor) {
  stopFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  batch_.reserve(kBatchReserve);
}

QueueWorker::~QueueWorker() {
  if (thread_.joinable()) {
    drainAndStop();
    join();
  }
  if (stopFd_ >= 0) close(stopFd_);
}

void QueueWorker::start() {
  thread_ = std::thread([this] { run(); });
}

void QueueWorker::drainAndStop() {
  const std::uint64_t one = 1;
  (void)!write(stopFd_, &one, sizeof one);
}

void QueueWorker::join() {
  if (thread_.joinable()) thread_.join();
}

void QueueWorker::run() {
  pollfd fds[2] = {{queue_.fd(), POLLIN, 0}, {stopFd_, POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      logError("NFQUEUE ", queue_.number(), ": poll failed: ", errno);
      break;
    }
    if (fds[1].revents & POLLIN) break;
    serveWaiting();
  }
  // Stopping: the table no longer queues, but a packet that met the old rules an instant ago
  // may still be on its way; serve until the queue has been quiet for a moment.
  do {
    serveWaiting();
  } while (poll(fds, 1, kDrainQuietMs) > 0);
}

void QueueWorker::serveWaiting() {
  for (;;) {
    batch_.clear();
    auto received = queue_.receive(batch_, /*wait=*/false);
    if (!received) {
      if (received.error().code == ENOBUFS) {
        QueueCounters::bump(counters_.enobufs);
        continue;
      }
      if (received.error().code == EINTR) continue;
      logError(received.error().message());
      return;
    }
    if (*received == 0) return;
    for (const QueuedPacket& packet : batch_) handle(packet);
  }
}

void QueueWorker::handle(const QueuedPacket& packet) {
  const std::uint64_t started = monotonicNs();
  QueueCounters::bump(counters_.packets);
  const PolicySnapshot& snapshot = policy_.get();
  const rules::Config& config = snapshot.config;

  Decision decision;
  const ParseResult parsed = parsePacket(packet.payload, packet.wireLength);
  if (!parsed.ok) {
    QueueCounters::bump(counters_.malformed);
    decision = decideMalformed(config);
  } else {
    const Owner owner = ownerOf(attributor_, packet, parsed.info);
    if (owner == Owner::kKernel) QueueCounters::bump(counters_.kernel);
    decision = decide(config, flowOf(parsed.info, packet.hook), owner);
  }

  rules::Action action = decision.action;
  if (config.mode == rules::Mode::kLearn && action != rules::Action::kAllow) {
    QueueCounters::bump(counters_.learned);
    action = rules::Action::kAllow;
  }

  Result<void> sent;
  switch (action) {
    case rules::Action::kAllow: {
      QueueCounters::bump(counters_.allowed);
      const std::uint32_t mark = marks_.withValue(packet.mark, marks_.accept());
      sent = queue_.verdict(packet.id, Verdict::kRepeat, &mark);
      break;
    }
    case rules::Action::kDeny:
      QueueCounters::bump(counters_.denied);
      sent = queue_.verdict(packet.id, Verdict::kDrop);
      break;
    case rules::Action::kReject: {
      QueueCounters::bump(counters_.rejected);
      const std::uint32_t mark = marks_.withValue(packet.mark, marks_.reject());
      sent = queue_.verdict(packet.id, Verdict::kRepeat, &mark);
      break;
    }
  }
  if (!sent) QueueCounters::bump(counters_.verdictErrors);

  const std::uint64_t elapsed = monotonicNs() - started;
  if (elapsed > counters_.maxLatencyNs.load(std::memory_order_relaxed)) {
    counters_.maxLatencyNs.store(elapsed, std::memory_order_relaxed);
  }
}

}  // namespace warden::engine
