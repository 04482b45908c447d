#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

#include "rules/compiled_policy.h"

namespace warden::engine {

// The policy in force: immutable once published.
struct PolicySnapshot {
  std::shared_ptr<const rules::CompiledPolicy> policy;  // never null once published
  std::int64_t loadedAtNs = 0;                          // CLOCK_REALTIME

  const rules::Config& config() const { return policy->config(); }
  std::uint64_t revision() const { return policy->revision(); }
};

// Hands the control thread's latest snapshot to the workers. publish() swaps it whole;
// a Reader (one per worker) sees the new snapshot at its next packet and takes the lock only
// when something changed, so the packet path is lock-free in steady state.
class PolicySlot {
 public:
  void publish(std::shared_ptr<const PolicySnapshot> snapshot);
  std::shared_ptr<const PolicySnapshot> current() const;
  // Which publish is in force: what Reader::generation() says of a snapshot read after it.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  class Reader {
   public:
    explicit Reader(const PolicySlot& store) : store_(store) {}
    const PolicySnapshot& get();
    // Which publish get() last returned: changes with every reload, never repeats.
    std::uint64_t generation() const { return generation_; }

   private:
    const PolicySlot& store_;
    std::uint64_t generation_ = ~0ull;
    std::shared_ptr<const PolicySnapshot> snapshot_;
  };

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const PolicySnapshot> snapshot_;  // guarded by mutex_
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace warden::engine
