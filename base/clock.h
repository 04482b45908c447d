#pragma once

#include <time.h>

#include <cstdint>

namespace warden::base {

// Nanoseconds on `clock` (a CLOCK_* id).
inline std::uint64_t clockNs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// Wall-clock time in nanoseconds since the epoch: what log rows and stored records carry.
inline std::int64_t realtimeNs() { return static_cast<std::int64_t>(clockNs(CLOCK_REALTIME)); }

// The same to the kernel's tick (a few ms), at a fraction of the cost: for "last seen" times
// kept on the packet path.
inline std::int64_t coarseRealtimeNs() {
  return static_cast<std::int64_t>(clockNs(CLOCK_REALTIME_COARSE));
}

// Monotonic time in nanoseconds: for durations and deadlines.
inline std::uint64_t monotonicNs() { return clockNs(CLOCK_MONOTONIC); }

// CLOCK_BOOTTIME in nanoseconds: the clock of the kernel's start_boottime and of event times.
inline std::uint64_t bootTimeNs() { return clockNs(CLOCK_BOOTTIME); }

}  // namespace warden::base
