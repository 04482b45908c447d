#pragma once

#include <time.h>

#include <cstdint>

namespace warden::engine {

// Wall-clock time in nanoseconds since the epoch: what log rows and stored records carry.
inline std::int64_t realtimeNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Monotonic time in nanoseconds: for durations and deadlines.
inline std::uint64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace warden::engine
