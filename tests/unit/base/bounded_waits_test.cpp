#include "base/bounded_waits.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace warden::base {
namespace {

using namespace std::chrono_literals;
using Outcome = BoundedWaits::Outcome;

// Stands for the kernel keeping a read waiting until the process lets it go.
class Gate {
 public:
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  void pass() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = false;
};

// A read that waits at `gate` (it owns its share of it, as a real read must).
auto heldAt(std::shared_ptr<Gate> gate) {
  return [gate] {
    gate->pass();
    return 1;
  };
}

bool eventually(const std::function<bool()>& test) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (!test()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

BoundedWaits::Options quick(std::size_t maxStuck = 64, std::size_t perUser = 4) {
  return {.deadline = 50ms, .maxStuck = maxStuck, .maxStuckPerUser = perUser};
}

TEST(BoundedWaits, AReadThatEndsInTimeGivesItsValue) {
  BoundedWaits reads(quick());
  Outcome outcome = Outcome::kRefused;
  auto value = reads.run(
      10, 1000, [] { return std::string("cmdline"); }, &outcome);
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(*value, "cmdline");
  EXPECT_EQ(outcome, Outcome::kDone);
}

TEST(BoundedWaits, OneReaderServesReadsOneAfterAnother) {
  BoundedWaits reads(quick());
  for (int i = 0; i < 200; ++i) ASSERT_EQ(reads.run(10 + i, 1000, [i] { return i; }), i);
  EXPECT_EQ(reads.counters().threads, 1u);
}

TEST(BoundedWaits, AStuckReadCostsItsCallerTheDeadlineAndBlocksOnlyItsProcess) {
  BoundedWaits reads(quick());
  auto gate = std::make_shared<Gate>();
  Outcome outcome = Outcome::kDone;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(reads.run(10, 1000, heldAt(gate), &outcome).has_value());
  EXPECT_EQ(outcome, Outcome::kLate);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 50ms);
  EXPECT_EQ(reads.counters().stuck, 1u);
  EXPECT_EQ(reads.counters().late, 1u);

  // The same process again: refused at once, not another reader left waiting.
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_FALSE(reads
                   .run(
                       10, 1000, [] { return 2; }, &outcome)
                   .has_value());
  EXPECT_EQ(outcome, Outcome::kRefused);
  EXPECT_LT(std::chrono::steady_clock::now() - t1, 40ms);
  EXPECT_EQ(reads.counters().refused, 1u);

  // Other processes, of that user too, are read meanwhile, by another reader.
  EXPECT_EQ(reads.run(11, 1000, [] { return 3; }), 3);
  EXPECT_EQ(reads.counters().threads, 2u);

  // Once the kernel lets it go, the process is read again, and its reader serves again.
  gate->open();
  ASSERT_TRUE(eventually([&] { return reads.counters().stuck == 0; }));
  EXPECT_EQ(reads.run(10, 1000, [] { return 4; }), 4);
  EXPECT_EQ(reads.run(12, 1000, [] { return 5; }), 5);
  EXPECT_EQ(reads.counters().threads, 2u);
}

TEST(BoundedWaits, AUserWithTooManyStuckReadsIsNotReadAnyMoreOthersAre) {
  BoundedWaits reads(quick(64, 2));
  auto gate = std::make_shared<Gate>();
  EXPECT_FALSE(reads.run(10, 1000, heldAt(gate)).has_value());
  EXPECT_FALSE(reads.run(11, 1000, heldAt(gate)).has_value());
  Outcome outcome = Outcome::kDone;
  EXPECT_FALSE(reads
                   .run(
                       12, 1000, [] { return 1; }, &outcome)
                   .has_value());
  EXPECT_EQ(outcome, Outcome::kRefused);
  EXPECT_EQ(reads.run(13, 1001, [] { return 2; }), 2);
  EXPECT_EQ(reads.run(14, std::nullopt, [] { return 3; }), 3);
  gate->open();
  ASSERT_TRUE(eventually([&] { return reads.counters().stuck == 0; }));
  EXPECT_EQ(reads.run(12, 1000, [] { return 4; }), 4);
}

// A user whose stuck processes let their readers go and get stuck again: each late call still
// counts against the user for a while after it ended, so the user gets no more late calls
// (each a deadline of its caller's) than the bound in that time.
TEST(BoundedWaits, ALateCallCountsAgainstItsUserForAWhileAfterItEnded) {
  BoundedWaits::Options options = quick(64, 1);
  options.userChargeAfterEnd = 200ms;
  BoundedWaits reads(options);
  auto gate = std::make_shared<Gate>();
  EXPECT_FALSE(reads.run(10, 1000, heldAt(gate)).has_value());
  gate->open();
  ASSERT_TRUE(eventually([&] { return reads.counters().stuck == 0; }));
  Outcome outcome = Outcome::kDone;
  EXPECT_FALSE(reads
                   .run(
                       11, 1000, [] { return 1; }, &outcome)
                   .has_value());
  EXPECT_EQ(outcome, Outcome::kRefused);
  EXPECT_EQ(reads.run(12, 1001, [] { return 2; }), 2);          // other users are read
  EXPECT_EQ(reads.run(10, std::nullopt, [] { return 3; }), 3);  // and the process, unowned
  std::this_thread::sleep_for(250ms);
  EXPECT_EQ(reads.run(11, 1000, [] { return 4; }), 4);
}

TEST(BoundedWaits, NoMoreStuckReadersThanTheBound) {
  BoundedWaits reads(quick(3, 4));
  auto gate = std::make_shared<Gate>();
  for (std::uint32_t pid = 10; pid < 13; ++pid) {
    EXPECT_FALSE(reads.run(pid, pid, heldAt(gate)).has_value());
  }
  Outcome outcome = Outcome::kDone;
  EXPECT_FALSE(reads
                   .run(
                       20, 20, [] { return 1; }, &outcome)
                   .has_value());
  EXPECT_EQ(outcome, Outcome::kRefused);
  EXPECT_EQ(reads.counters().threads, 3u);
  gate->open();
  ASSERT_TRUE(eventually([&] { return reads.counters().stuck == 0; }));
  EXPECT_EQ(reads.run(20, 20, [] { return 2; }), 2);
  EXPECT_EQ(reads.counters().threads, 3u);
}

TEST(BoundedWaits, GoingAwayDoesNotWaitForAStuckReadWhichEndsLaterUnharmed) {
  auto gate = std::make_shared<Gate>();
  auto ended = std::make_shared<std::atomic<bool>>(false);
  {
    BoundedWaits reads(quick());
    EXPECT_FALSE(reads
                     .run(10, 1000,
                          [gate, ended] {
                            gate->pass();
                            ended->store(true);
                            return 1;
                          })
                     .has_value());
    EXPECT_EQ(reads.run(11, 1000, [] { return 2; }), 2);
  }
  gate->open();
  EXPECT_TRUE(eventually([&] { return ended->load(); }));
}

}  // namespace
}  // namespace warden::base
