// Watchdog with a clock the test moves: when WATCHDOG=1 is due, and that a thread which stops
// beating stops the pings (so that systemd restarts wardend) while an idle one does not.
#include "engine/daemon/watchdog.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>

namespace warden::engine {
namespace {

using namespace std::chrono_literals;

std::uint64_t gNowNs = 0;
std::uint64_t fakeNow() { return gNowNs; }
std::uint64_t ns(std::chrono::nanoseconds d) { return static_cast<std::uint64_t>(d.count()); }
void passTime(std::chrono::nanoseconds by) { gNowNs += ns(by); }

class WatchdogTest : public ::testing::Test {
 protected:
  // Set before watchdog_ is made: it reads the clock.
  const bool clockSet_ = (gNowNs = 5'000'000'000'000, true);
  // systemd's WatchdogSec=30s, as in the unit: a check every 15 s.
  Watchdog watchdog_{ns(30s), fakeNow};
  base::Heartbeat q0_;
  base::Heartbeat q1_;
};

TEST_F(WatchdogTest, DisabledWithoutAnIntervalAndNeverDue) {
  Watchdog off(0, fakeNow);
  EXPECT_FALSE(off.enabled());
  EXPECT_EQ(off.nextCheckNs(), UINT64_MAX);
  passTime(1h);
  EXPECT_FALSE(off.check().due);
}

TEST_F(WatchdogTest, DueEveryHalfInterval) {
  watchdog_.watch("NFQUEUE 0 worker", q0_);
  EXPECT_EQ(watchdog_.nextCheckNs(), gNowNs + ns(15s));
  passTime(14s);
  q0_.beat(gNowNs);
  EXPECT_FALSE(watchdog_.check().due);
  passTime(1s);
  q0_.beat(gNowNs);
  const Watchdog::Check first = watchdog_.check();
  EXPECT_TRUE(first.due);
  EXPECT_TRUE(first.ping);
  EXPECT_EQ(first.stale, "");
  // Asked again at once: not due again until half an interval later.
  EXPECT_FALSE(watchdog_.check().due);
  EXPECT_EQ(watchdog_.nextCheckNs(), gNowNs + ns(15s));
}

TEST_F(WatchdogTest, ThreadsThatBeatKeepItPingingForHours) {
  watchdog_.watch("NFQUEUE 0 worker", q0_);
  watchdog_.watch("NFQUEUE 1 worker", q1_);
  int pings = 0;
  for (int second = 0; second < 3600; ++second) {
    passTime(1s);  // idle workers turn once a second (their poll timeout)
    q0_.beat(gNowNs);
    q1_.beat(gNowNs);
    if (watchdog_.check().ping) ++pings;
  }
  EXPECT_EQ(pings, 3600 / 15);
}

TEST_F(WatchdogTest, AThreadThatNeverBeatCountsFromWhenItWasWatched) {
  // A check every second; not stale while younger than kStaleAfter...
  Watchdog quick(ns(2s), fakeNow);
  quick.watch("process tracker", q1_);
  passTime(1s);
  EXPECT_TRUE(quick.check().ping);
  // ...but one that never beats at all is stale after it.
  passTime(10s);
  const Watchdog::Check check = quick.check();
  EXPECT_TRUE(check.due);
  EXPECT_FALSE(check.ping);
  EXPECT_EQ(check.stale, "process tracker has not run for 11 s");
}

TEST_F(WatchdogTest, AHungWorkerStopsThePingsAndABeatResumesThem) {
  watchdog_.watch("NFQUEUE 0 worker", q0_);
  watchdog_.watch("NFQUEUE 1 worker", q1_);
  q0_.beat(gNowNs);
  q1_.beat(gNowNs);
  // Queue 1 hangs now; queue 0 goes on.
  const std::uint64_t hungAt = gNowNs;
  for (int second = 0; second < 15; ++second) {
    passTime(1s);
    q0_.beat(gNowNs);
  }
  // 15 s after the hang: stale (over 10 s), so the due check sends nothing.
  const Watchdog::Check check = watchdog_.check();
  ASSERT_TRUE(check.due);
  EXPECT_FALSE(check.ping);
  EXPECT_EQ(check.stale, "NFQUEUE 1 worker has not run for 15 s");
  EXPECT_EQ(q1_.lastNs(), hungAt);
  passTime(15s);
  q0_.beat(gNowNs);
  EXPECT_FALSE(watchdog_.check().ping);
  // It comes back (a very long syscall ended): pings again.
  passTime(15s);
  q0_.beat(gNowNs);
  q1_.beat(gNowNs);
  EXPECT_TRUE(watchdog_.check().ping);
}

TEST_F(WatchdogTest, ABeatJustInsideTheBoundIsAlive) {
  watchdog_.watch("NFQUEUE 0 worker", q0_);
  passTime(5s);
  q0_.beat(gNowNs);
  passTime(10s);  // exactly kStaleAfter since the beat: still alive
  EXPECT_TRUE(watchdog_.check().ping);
  passTime(15s);  // 25 s since it
  EXPECT_FALSE(watchdog_.check().ping);
}

}  // namespace
}  // namespace warden::engine
