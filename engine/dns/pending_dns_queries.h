#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "engine/dns/dns.h"
#include "rules/address.h"

namespace warden::engine {

// One DNS question between two ends, named from the client's side: the query goes from
// client to server, its reply from server to client.
struct DnsExchange {
  rules::IpAddress client;
  rules::IpAddress server;
  std::uint16_t clientPort = 0;
  std::uint16_t serverPort = 0;
  DnsQuestion question;  // id, type, class and the name in lower case

  bool operator==(const DnsExchange&) const = default;
};

// The DNS queries accepted flows sent and no reply has answered yet (SPEC section 7: an answer
// teaches a name only when it answers a query the same flow sent). One per daemon, shared by
// every queue worker: the kernel spreads flows over the queues by a hash of their addresses,
// which today sends both directions of a flow to the same queue, but nothing here relies on
// that.
//
// Bounds: `capacity` entries allocated once, kept in the order they were sent; a query lives
// kLifetimeNs (longer than a stub resolver waits for its answer). When every entry is taken
// by a query still waiting, the oldest gives way: its reply, should it come, then teaches
// nothing (record() says so, for the caller to count).
//
// Thread-safety: every call takes one mutex, held for a scan of the pending entries (a few
// hundred nanoseconds with the table nearly empty, as it is when replies follow queries).
// Only DNS packets take it, never the verdict path of other flows.
class PendingDnsQueries {
 public:
  static constexpr std::size_t kDefaultCapacity = 1024;
  static constexpr std::uint64_t kLifetimeNs = 10'000'000'000;  // glibc: 5 s, times 2 tries

  enum class Recorded : std::uint8_t {
    kAdded,     // a new pending query
    kRepeated,  // the same query again (a retransmission): one entry, its time renewed
    kEvicted,   // added, and the oldest query still waiting gave way for it
  };

  explicit PendingDnsQueries(std::size_t capacity = kDefaultCapacity);
  PendingDnsQueries(const PendingDnsQueries&) = delete;
  PendingDnsQueries& operator=(const PendingDnsQueries&) = delete;

  // Remembers that `query` was sent at `nowNs` (monotonic).
  Recorded record(const DnsExchange& query, std::uint64_t nowNs);

  // Whether `reply` answers a pending query: the same client and server addresses and ports,
  // transaction id and question. A match is removed, so that each query is answered once.
  bool answer(const DnsExchange& reply, std::uint64_t nowNs);

  std::size_t capacity() const { return entries_.size(); }
  std::size_t pending(std::uint64_t nowNs);  // queries still waiting

 private:
  struct Entry {
    DnsExchange exchange;
    std::uint64_t key = 0;  // hash of `exchange`, compared first
    std::uint64_t expiresAt = 0;
    bool waiting = false;  // false: answered or replaced, a gap until the oldest passes it
  };

  static std::uint64_t keyOf(const DnsExchange& exchange);
  Entry* find(const DnsExchange& exchange, std::uint64_t key, std::uint64_t nowNs);
  void dropExpired(std::uint64_t nowNs);
  Entry& at(std::uint64_t sequence) { return entries_[sequence % entries_.size()]; }

  std::mutex mutex_;
  std::vector<Entry> entries_;  // a ring: sequences [oldest_, next_) are in it
  std::uint64_t oldest_ = 0;
  std::uint64_t next_ = 0;
};

}  // namespace warden::engine
