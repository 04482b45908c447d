// The process table's bounds under a storm of short-lived processes (SPEC section 10: memory
// bounded during and after a storm), fed synthetic events as the tracker would.
#include <gtest/gtest.h>

#include "engine/attribution/process_table.h"

namespace warden::engine {
namespace {

std::shared_ptr<const ProcessDescription> process(std::uint32_t pid, std::uint64_t ticks) {
  auto info = std::make_shared<ProcessDescription>();
  info->key = {pid, ticks};
  info->startTimeNs = ticks * 10'000'000ull;
  info->path = "/usr/bin/true";
  info->pathOnHost = true;
  info->complete = true;
  return info;
}

// `count` processes that start and exit at once, on pids from `firstPid` on, one tick apart.
void storm(ProcessTable& table, std::uint32_t firstPid, std::uint64_t firstTicks, int count) {
  for (int i = 0; i < count; ++i) {
    const ProcessKey key{firstPid + static_cast<std::uint32_t>(i),
                         firstTicks + static_cast<std::uint64_t>(i)};
    table.upsert(process(key.pid, key.startTicks));
    table.markExited(key, (firstTicks + i) * 10'000'000ull);
  }
}

TEST(ProcessTableBounds, AStormKeepsOnlyTheLatestExitsWithTheDefaultBounds) {
  ProcessTable table;
  const ProcessTable::Limits limits = table.limits();
  // Well under 40 MB of descriptions (bench/storm measures what they take).
  EXPECT_LE(limits.maxExited, 2048u);
  EXPECT_LE(limits.maxEntries, 8192u);
  // 30 s at 300 processes a second, all within the exited TTL.
  constexpr int kProcesses = 9000;
  storm(table, 1000, 100, kProcesses);

  const ProcessTable::Stats stats = table.stats();
  EXPECT_EQ(stats.entries, limits.maxExited);
  EXPECT_EQ(stats.exited, limits.maxExited);
  EXPECT_EQ(stats.evicted, kProcesses - limits.maxExited);
  EXPECT_EQ(stats.expired, 0u);
  // The latest exits stay (their flows may still wait for a verdict); the oldest went first.
  EXPECT_NE(table.find({1000 + kProcesses - 1, 100 + kProcesses - 1}), nullptr);
  const auto oldestKept = static_cast<std::uint32_t>(kProcesses - limits.maxExited);
  EXPECT_NE(table.find({1000 + oldestKept, 100 + oldestKept}), nullptr);
  EXPECT_EQ(table.find({1000 + oldestKept - 1, 100 + oldestKept - 1}), nullptr);
  EXPECT_EQ(table.find({1000, 100}), nullptr);
  EXPECT_EQ(table.findByPid(1000), nullptr);
}

TEST(ProcessTableBounds, ExitsNeverPushOutRunningProcesses) {
  ProcessTable table(ProcessTable::Limits{.maxEntries = 64, .maxExited = 8});
  for (std::uint32_t pid = 1; pid <= 40; ++pid) table.upsert(process(pid, pid));
  storm(table, 5000, 1000, 500);
  const ProcessTable::Stats stats = table.stats();
  EXPECT_EQ(stats.entries, 48u);
  EXPECT_EQ(stats.exited, 8u);
  for (std::uint32_t pid = 1; pid <= 40; ++pid) EXPECT_NE(table.find({pid, pid}), nullptr) << pid;
}

TEST(ProcessTableBounds, RunningProcessesPastTheBoundGiveWayOldestFirst) {
  ProcessTable table(ProcessTable::Limits{.maxEntries = 16, .maxExited = 8});
  for (std::uint32_t pid = 1; pid <= 20; ++pid) table.upsert(process(pid, pid));
  const ProcessTable::Stats stats = table.stats();
  EXPECT_EQ(stats.entries, 16u);
  EXPECT_EQ(stats.evicted, 4u);
  EXPECT_EQ(table.find({4, 4}), nullptr);
  EXPECT_NE(table.find({5, 5}), nullptr);
}

TEST(ProcessTableBounds, ExpiryAndEvictionKeepTheExitedCountRight) {
  ProcessTable table(
      ProcessTable::Limits{.maxEntries = 64, .maxExited = 10, .exitedTtlNs = 1'000'000'000ull});
  storm(table, 100, 100, 25);  // exits at 1.0 s to 1.24 s
  EXPECT_EQ(table.stats().exited, 10u);
  // Expiry drops all the remaining ones; a pid reuse marks the old process exited.
  EXPECT_EQ(table.expire(10'000'000'000ull), 10u);
  EXPECT_EQ(table.stats().exited, 0u);
  table.upsert(process(7, 7));
  table.upsert(process(7, 9));  // pid 7 again: the first one is gone
  EXPECT_EQ(table.stats().exited, 1u);
  EXPECT_EQ(table.stats().pidReuses, 1u);
  EXPECT_EQ(table.stats().entries, 2u);
}

}  // namespace
}  // namespace warden::engine
