#pragma once

#include <atomic>
#include <cstdint>

namespace warden::engine {

// Counters of one queue worker. Written only by that worker (so a relaxed load+store is
// enough, no locked instruction on the packet path); read by the control thread at any time.
struct alignas(64) QueueCounters {
  std::atomic<std::uint64_t> packets{0};  // packets that reached userspace
  std::atomic<std::uint64_t> allowed{0};  // verdicts, after learn mode
  std::atomic<std::uint64_t> denied{0};
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> learned{0};    // accepted only because of learn mode
  std::atomic<std::uint64_t> kernel{0};     // packets of no socket
  std::atomic<std::uint64_t> malformed{0};  // unparseable, given the `unknown` verdict
  std::atomic<std::uint64_t> enobufs{0};    // the kernel could not deliver to us
  // Verdicts sent again after a passing failure (ENOBUFS, EINTR, ...), and those lost all the
  // same: their packets wait in the kernel until the queue is unbound.
  std::atomic<std::uint64_t> verdictRetries{0};
  std::atomic<std::uint64_t> verdictErrors{0};
  std::atomic<std::uint64_t> maxLatencyNs{0};
  // First packets that waited (parked, the queue served meanwhile) for their process's
  // description, and those whose wait ended without one.
  std::atomic<std::uint64_t> parked{0};
  std::atomic<std::uint64_t> parkedUndescribed{0};
  // Decisions not logged since the same flow was decided the same way for the same process
  // a moment before (a TCP SYN sent again, another datagram of a refused UDP flow).
  std::atomic<std::uint64_t> repeats{0};
  // DNS replies read for host names (never decided, so not in `packets`), the addresses they
  // gave, and the replies that were broken or hostile (accepted all the same).
  std::atomic<std::uint64_t> dnsReplies{0};
  std::atomic<std::uint64_t> dnsAnswers{0};
  std::atomic<std::uint64_t> dnsMalformed{0};
  // Well-formed replies that answer no query their flow sent (another id, question, server or
  // port, an answer given twice, or one too late): they teach nothing.
  std::atomic<std::uint64_t> dnsUnsolicited{0};
  // Queries of accepted flows remembered for their replies, and those pushed out unanswered
  // because the table of pending queries was full.
  std::atomic<std::uint64_t> dnsQueries{0};
  std::atomic<std::uint64_t> dnsQueriesEvicted{0};

  static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by = 1) {
    counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
};

}  // namespace warden::engine
