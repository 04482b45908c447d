#include "engine/daemon/watchdog.h"

#include <algorithm>
#include <limits>

namespace warden::engine {

Watchdog::Watchdog(std::uint64_t intervalNs, Clock clock, std::chrono::nanoseconds staleAfter)
    : intervalNs_(intervalNs),
      clock_(clock),
      staleAfterNs_(static_cast<std::uint64_t>(staleAfter.count())),
      // The first ping half an interval after start-up: READY=1 arms systemd's timer.
      nextCheckNs_(clock() + intervalNs / 2) {}

void Watchdog::watch(std::string name, const base::Heartbeat& heartbeat) {
  watched_.push_back({std::move(name), &heartbeat, clock_()});
}

std::uint64_t Watchdog::nextCheckNs() const {
  return enabled() ? nextCheckNs_ : std::numeric_limits<std::uint64_t>::max();
}

Watchdog::Check Watchdog::check() {
  Check result;
  if (!enabled()) return result;
  const std::uint64_t now = clock_();
  if (now < nextCheckNs_) return result;
  result.due = true;
  nextCheckNs_ = now + intervalNs_ / 2;
  for (const Watched& w : watched_) {
    const std::uint64_t last = std::max(w.heartbeat->lastNs(), w.sinceNs);
    if (now > last && now - last > staleAfterNs_) {
      result.stale =
          w.name + " has not run for " + std::to_string((now - last) / 1'000'000'000) + " s";
      return result;
    }
  }
  result.ping = true;
  return result;
}

}  // namespace warden::engine
