#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "engine/dns/dns.h"
#include "rules/address.h"

namespace warden::engine {

// Remote address -> host name, learned from the DNS answers the queue workers read, so that a
// new flow's `host` rules can match. One per daemon, shared by every worker.
//
// Fixed memory: `capacity` slots allocated once. An address lives in one of a few slots next to
// its hash; when they are all taken, the entry closest to expiring gives way. An address keeps
// the last name it was given (addresses shared by many names, as on a CDN, name the latest).
//
// Thread-safety: lookup() takes no lock and never allocates (each slot is a seqlock, read
// optimistically and read again if a writer was in it); record() calls are serialized by a
// mutex, which only the rare DNS replies take.
class HostCache {
 public:
  // Entries live as long as the answer's TTL says, but no less than kMinTtl (applications
  // keep addresses longer than their TTL: a short one would leave their later connections
  // nameless) and no more than kMaxTtl.
  static constexpr std::uint32_t kMinTtl = 60;
  static constexpr std::uint32_t kMaxTtl = 86400;
  static constexpr std::size_t kDefaultCapacity = 4096;

  explicit HostCache(std::size_t capacity = kDefaultCapacity);  // rounded up to a power of 2
  ~HostCache();
  HostCache(const HostCache&) = delete;
  HostCache& operator=(const HostCache&) = delete;

  // Called by record() (after its lock is let go) with every address whose name it changed:
  // one that had none or another one, and one whose unexpired name gave way to make room.
  // What relied on the old answer (a kernel-held verdict) is to be forgotten. Set before use.
  using ChangeObserver = std::function<void(const rules::IpAddress& address)>;
  void onChange(ChangeObserver observer) { onChange_ = std::move(observer); }

  // Remembers that `address` is `name` for `ttl` seconds (clamped) from `nowSeconds`.
  void record(const rules::IpAddress& address, std::string_view name, std::uint32_t ttl,
              std::uint64_t nowSeconds);
  void record(const rules::IpAddress& address, std::string_view name, std::uint32_t ttl) {
    record(address, name, ttl, nowSeconds());
  }

  // What a server contradicted: wardend asked it again (DnsConfirmer) and neither answer gave
  // `address` for `name`. For `ttl` seconds (clamped as an entry's) no reply teaches the pair,
  // not even one over loopback: a local caching resolver may have kept the forged answer and
  // hands it on from there. A record() of the pair (a confirmation that gave it) ends the
  // refusal. Bounded: kRefusals places, a few per pair's hash; when those are taken, the
  // refusal closest to its end gives way. Under their own mutex (only DNS replies take it).
  static constexpr std::size_t kRefusals = 1024;
  void refuse(const rules::IpAddress& address, std::string_view name, std::uint32_t ttl,
              std::uint64_t nowSeconds);
  void refuse(const rules::IpAddress& address, std::string_view name, std::uint32_t ttl) {
    refuse(address, name, ttl, nowSeconds());
  }
  bool refused(const rules::IpAddress& address, std::string_view name,
               std::uint64_t nowSeconds) const;
  bool refused(const rules::IpAddress& address, std::string_view name) const {
    return refused(address, name, nowSeconds());
  }

  // Copies the name of `address` into `out`; false (and `out` empty) if none is known or it
  // expired.
  bool lookup(const rules::IpAddress& address, DnsName& out, std::uint64_t nowSeconds) const;
  bool lookup(const rules::IpAddress& address, DnsName& out) const {
    return lookup(address, out, nowSeconds());
  }

  std::size_t capacity() const { return mask_ + 1; }
  std::size_t entries() const { return entries_.load(std::memory_order_relaxed); }  // ever set

  // The clock entries expire by: seconds of CLOCK_MONOTONIC (coarse: cheap on the verdict path).
  static std::uint64_t nowSeconds();

 private:
  struct Slot;

  enum class SlotRead : std::uint8_t { kFound, kOther, kNeverSet };

  std::size_t home(const rules::IpAddress& address) const;
  SlotRead readSlot(const Slot& slot, const rules::IpAddress& address, DnsName& out,
                    std::uint64_t nowSeconds) const;

  struct Unmap {
    std::size_t bytes;
    void operator()(Slot* slots) const;
  };
  std::unique_ptr<Slot[], Unmap> slots_;
  std::size_t mask_ = 0;
  std::atomic<std::size_t> entries_{0};
  std::mutex writer_;
  ChangeObserver onChange_;

  struct Refusal {
    rules::IpAddress address;
    std::uint64_t name = 0;       // the name's hash
    std::uint64_t expiresAt = 0;  // 0: a free place
  };
  // The place the pair's refusal has (or, with `free`, may take); null when none may be had.
  Refusal* refusalOf(const rules::IpAddress& address, std::uint64_t name, std::uint64_t now,
                     bool take) const;
  mutable std::mutex refusalsMutex_;
  mutable std::vector<Refusal> refusals_ = std::vector<Refusal>(kRefusals);
};

}  // namespace warden::engine
