#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/heartbeat.h"

namespace warden::engine {

// Decides when wardend tells systemd it is alive (WATCHDOG=1): at half the interval systemd
// asks for (WatchdogSec=, given as WATCHDOG_USEC), and only while every thread it cannot do
// without has gone round its loop lately. A queue worker stuck in a syscall or a loop serves
// no packet (new flows drop or pass undecided, as `fail` says) but is still "alive" to
// threadFailed(); its silence here makes systemd restart wardend.
// The control thread's own hang needs no heartbeat: it is the one that pings.
// Thread-safety: none; the control thread's. The heartbeats it reads are beaten elsewhere.
class Watchdog {
 public:
  using Clock = std::uint64_t (*)();  // monotonic nanoseconds, as the heartbeats'
  // A watched thread turns at least every second (the workers' and the tracker's poll
  // timeouts) when idle, far more often when busy: ten seconds without a turn is a hang, not
  // a load peak or a reload of a large policy.
  static constexpr std::chrono::seconds kStaleAfter{10};

  // `intervalNs`: systemd's watchdog interval (sd_watchdog_enabled); 0 = no watchdog, and
  // due() never says so.
  explicit Watchdog(std::uint64_t intervalNs, Clock clock = base::monotonicNs,
                    std::chrono::nanoseconds staleAfter = kStaleAfter);

  // Watches `heartbeat` (which must outlive this), named `name` in what stale() says. A
  // heartbeat that has not beaten yet counts from now.
  void watch(std::string name, const base::Heartbeat& heartbeat);

  bool enabled() const { return intervalNs_ != 0; }
  // Monotonic ns when the next check is due (the control loop's wake-up); UINT64_MAX if none.
  std::uint64_t nextCheckNs() const;

  struct Check {
    bool due = false;   // a check was due now (the next one is half an interval on)
    bool ping = false;  // send WATCHDOG=1: due, and every watched thread is alive
    std::string stale;  // due but not pinged: "NAME has not run for N s" (the first such)
  };
  // What to do now; call at any time (it does nothing until nextCheckNs()).
  Check check();

 private:
  struct Watched {
    std::string name;
    const base::Heartbeat* heartbeat;
    std::uint64_t sinceNs;  // when watching began: the beat of a thread that never beat
  };

  std::uint64_t intervalNs_;
  Clock clock_;
  std::uint64_t staleAfterNs_;
  std::uint64_t nextCheckNs_;
  std::vector<Watched> watched_;
};

}  // namespace warden::engine
