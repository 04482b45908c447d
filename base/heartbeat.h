#pragma once

#include <atomic>
#include <cstdint>

namespace warden::base {

// When a thread last went round its loop (monotonic ns), so that another thread can tell a
// hung one from an idle one (see engine/daemon/watchdog.h). The owner beats; anyone reads.
// Thread-safety: one writer, any number of readers; a relaxed atomic (only the time matters,
// nothing is published through it).
class Heartbeat {
 public:
  static constexpr std::uint64_t kNever = 0;

  void beat(std::uint64_t nowNs) { lastNs_.store(nowNs, std::memory_order_relaxed); }
  // kNever until the first beat.
  std::uint64_t lastNs() const { return lastNs_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> lastNs_{kNever};
};

}  // namespace warden::base
