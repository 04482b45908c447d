#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

namespace warden::engine {

// Counters of one queue worker (each one also listed in kQueueCounterFields below). Written only by
// that worker (so a relaxed load+store is enough, no locked instruction on the packet path); read
// by the control thread at any time.
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
  // Replies from other hosts that wardend asked the server again (DnsConfirmer), and the
  // addresses they gave that its own answer did not (or that it could not ask about).
  std::atomic<std::uint64_t> dnsConfirmations{0};
  std::atomic<std::uint64_t> dnsUnconfirmed{0};
  // Queries of accepted flows remembered for their replies, and those pushed out unanswered
  // because the table of pending queries was full.
  std::atomic<std::uint64_t> dnsQueries{0};
  std::atomic<std::uint64_t> dnsQueriesEvicted{0};

  static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by = 1) {
    counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
};

// How a counter is shown: its key in `warden status` (in each queue's object, and summed in
// the totals unless it is a peak) and, for the few wardend's "stopped:" log line names, the
// words after its total there.
struct QueueCounterField {
  std::string_view key;
  std::atomic<std::uint64_t> QueueCounters::*member;
  std::string_view stoppedWords = {};
  bool peakNs = false;  // a high-water mark in ns: shown in µs, per queue only, never summed
};

// Every counter, once: `warden status` (whose keys cli/status_text.cpp and the tests read),
// its totals and the "stopped:" line all go through this list, so a new counter needs only
// its member above and its line here. The "stopped:" line names its counters in this order.
inline constexpr std::array kQueueCounterFields = {
    QueueCounterField{"packets", &QueueCounters::packets, "packets decided"},
    QueueCounterField{"allow", &QueueCounters::allowed, "allowed"},
    QueueCounterField{"deny", &QueueCounters::denied, "denied"},
    QueueCounterField{"reject", &QueueCounters::rejected, "rejected"},
    QueueCounterField{"verdict_errors", &QueueCounters::verdictErrors, "verdict errors"},
    QueueCounterField{"enobufs", &QueueCounters::enobufs, "ENOBUFS"},
    QueueCounterField{"verdict_retries", &QueueCounters::verdictRetries},
    QueueCounterField{"learn", &QueueCounters::learned},
    QueueCounterField{"kernel", &QueueCounters::kernel},
    QueueCounterField{"malformed", &QueueCounters::malformed},
    QueueCounterField{"dns_replies", &QueueCounters::dnsReplies},
    QueueCounterField{"dns_answers", &QueueCounters::dnsAnswers},
    QueueCounterField{"dns_malformed", &QueueCounters::dnsMalformed},
    QueueCounterField{"dns_unsolicited", &QueueCounters::dnsUnsolicited},
    QueueCounterField{"dns_confirmations", &QueueCounters::dnsConfirmations},
    QueueCounterField{"dns_unconfirmed", &QueueCounters::dnsUnconfirmed},
    QueueCounterField{"dns_queries", &QueueCounters::dnsQueries},
    QueueCounterField{"dns_queries_evicted", &QueueCounters::dnsQueriesEvicted},
    QueueCounterField{"parked", &QueueCounters::parked},
    QueueCounterField{"parked_undescribed", &QueueCounters::parkedUndescribed},
    QueueCounterField{"repeats", &QueueCounters::repeats},
    QueueCounterField{"max_latency_us", &QueueCounters::maxLatencyNs, {}, /*peakNs=*/true},
};

}  // namespace warden::engine
