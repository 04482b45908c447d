#include "engine/attribution/process_table.h"

#include <gtest/gtest.h>
#include <sys/sysmacros.h>

#include <chrono>
#include <set>
#include <thread>

namespace warden::engine {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000ull;

std::shared_ptr<const ProcessDescription> process(std::uint32_t pid, std::uint64_t startTicks,
                                                  std::string path, std::uint64_t inode = 0,
                                                  std::uint32_t ppid = 0,
                                                  std::uint64_t parentTicks = 0,
                                                  bool complete = true) {
  auto info = std::make_shared<ProcessDescription>();
  info->key = {pid, startTicks};
  info->startTimeNs = startTicks * 10'000'000ull;
  info->path = std::move(path);
  info->pathOnHost = !info->path.empty();
  info->exeInode = inode;
  info->exeKernelDev = inode ? 0x0fe00000 : 0;
  info->ppid = ppid;
  info->parentStartTicks = parentTicks;
  info->complete = complete;
  return info;
}

TEST(ProcessTable, FindsByPidAndStartTimeOnly) {
  ProcessTable table;
  table.upsert(process(100, 5000, "/usr/bin/curl"));
  ASSERT_NE(table.find({100, 5000}), nullptr);
  EXPECT_EQ(table.find({100, 5000})->path, "/usr/bin/curl");
  EXPECT_EQ(table.find({100, 5001}), nullptr);
  EXPECT_EQ(table.find({101, 5000}), nullptr);
}

TEST(ProcessTable, AReusedPidNeverInheritsTheOldIdentity) {
  ProcessTable table;
  table.upsert(process(100, 5000, "/usr/bin/curl"));
  // pid 100 dies (its exit event lost) and is reused by another program.
  table.upsert(process(100, 9000, "/usr/bin/evil"));
  EXPECT_EQ(table.find({100, 5000})->path, "/usr/bin/curl");
  EXPECT_EQ(table.find({100, 9000})->path, "/usr/bin/evil");
  EXPECT_EQ(table.findByPid(100)->path, "/usr/bin/evil");
  EXPECT_TRUE(table.exited({100, 5000}));  // the old one is taken as gone
  EXPECT_FALSE(table.exited({100, 9000}));
  EXPECT_EQ(table.stats().pidReuses, 1u);
  // A flow the kernel recorded for the new process never resolves to the old one.
  EXPECT_EQ(table.find({100, 9000}, 0, 0)->path, "/usr/bin/evil");
}

TEST(ProcessTable, ExitedEntriesLiveForTheTtlThenExpire) {
  ProcessTable table(ProcessTable::Limits{.maxEntries = 100, .exitedTtlNs = 5 * kSecond});
  table.upsert(process(1, 1, "/a"));
  table.upsert(process(2, 2, "/b"));
  table.markExited({1, 1}, 100 * kSecond);
  EXPECT_TRUE(table.exited({1, 1}));
  EXPECT_EQ(table.expire(104 * kSecond), 0u);
  ASSERT_NE(table.find({1, 1}), nullptr);  // still described just after its exit
  EXPECT_EQ(table.expire(105 * kSecond), 1u);
  EXPECT_EQ(table.find({1, 1}), nullptr);
  EXPECT_NE(table.find({2, 2}), nullptr);  // running processes never expire
  EXPECT_EQ(table.stats().expired, 1u);
  // Exiting twice or exiting an unknown key changes nothing.
  table.markExited({2, 2}, 200 * kSecond);
  table.markExited({2, 2}, 100 * kSecond);
  table.markExited({3, 3}, 100 * kSecond);
  EXPECT_EQ(table.expire(204 * kSecond), 0u);
  EXPECT_EQ(table.expire(205 * kSecond), 1u);
}

TEST(ProcessTable, BoundDropsExitedProcessesFirstOldestExitFirst) {
  ProcessTable table(ProcessTable::Limits{.maxEntries = 3, .exitedTtlNs = 3600 * kSecond});
  table.upsert(process(1, 1, "/init"));
  table.upsert(process(2, 2, "/a"));
  table.upsert(process(3, 3, "/b"));
  table.markExited({3, 3}, 10);
  table.markExited({2, 2}, 20);
  table.upsert(process(4, 4, "/c"));
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(table.find({3, 3}), nullptr);  // exited first
  EXPECT_NE(table.find({2, 2}), nullptr);
  table.upsert(process(5, 5, "/d"));
  EXPECT_EQ(table.find({2, 2}), nullptr);
  EXPECT_NE(table.find({1, 1}), nullptr);
  // Nothing exited left: the oldest running entry goes (/proc can describe it again).
  table.upsert(process(6, 6, "/e"));
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(table.find({1, 1}), nullptr);
  EXPECT_NE(table.find({6, 6}), nullptr);
  EXPECT_EQ(table.stats().evicted, 3u);
}

TEST(ProcessTable, UpsertOfTheSameKeyReplacesWithoutGrowing) {
  ProcessTable table(ProcessTable::Limits{.maxEntries = 2});
  table.upsert(process(7, 7, "", 0, 0, 0, /*complete=*/false));
  table.upsert(process(7, 7, "/usr/bin/x"));
  EXPECT_EQ(table.size(), 1u);
  EXPECT_TRUE(table.find({7, 7})->complete);
  EXPECT_EQ(table.find({7, 7})->path, "/usr/bin/x");
}

TEST(ProcessTable, ExecKeepsTheEarlierImageForFlowsRecordedBefore) {
  ProcessTable table;
  table.upsert(process(50, 50, "/usr/bin/bash", 111));
  table.upsert(process(50, 50, "/usr/bin/curl", 222));  // execve: same key, new image
  EXPECT_EQ(table.find({50, 50})->path, "/usr/bin/curl");
  EXPECT_EQ(table.find({50, 50}, 0x0fe00000, 111)->path, "/usr/bin/bash");
  EXPECT_EQ(table.find({50, 50}, 0x0fe00000, 222)->path, "/usr/bin/curl");
  // An image the table does not know for that process: not described (yet).
  EXPECT_EQ(table.find({50, 50}, 0x0fe00000, 333), nullptr);
  EXPECT_EQ(table.find({50, 50}, 0, 0)->path, "/usr/bin/curl");  // no image asked: current
  // The completion of the current image does not push it to the earlier ones.
  table.upsert(process(50, 50, "/usr/bin/curl", 222));
  EXPECT_EQ(table.find({50, 50}, 0x0fe00000, 111)->path, "/usr/bin/bash");
}

TEST(ProcessTable, AnExecOfTheSameFileIsAnotherGeneration) {
  ProcessTable table;
  auto generation = [](std::uint64_t execId, std::string path) {
    auto info = std::make_shared<ProcessDescription>(*process(60, 60, std::move(path), 111));
    info->execId = execId;
    return std::shared_ptr<const ProcessDescription>(std::move(info));
  };
  table.upsert(generation(3, "/usr/bin/app (fork copy)"));
  table.upsert(generation(4, "/usr/bin/app"));  // execve of the same file
  EXPECT_EQ(table.find({60, 60}, 0x0fe00000, 111, 4)->path, "/usr/bin/app");
  EXPECT_EQ(table.find({60, 60}, 0x0fe00000, 111, 3)->path, "/usr/bin/app (fork copy)");
  EXPECT_EQ(table.find({60, 60}, 0x0fe00000, 111, 5), nullptr) << "a generation not described";
  EXPECT_EQ(table.find({60, 60}, 0x0fe00000, 111)->path, "/usr/bin/app");  // none asked: current

  // A flow of the earlier generation described late keeps the later one current.
  table.upsert(generation(3, "/usr/bin/app (read late)"));
  EXPECT_EQ(table.find({60, 60})->path, "/usr/bin/app");
  EXPECT_EQ(table.find({60, 60}, 0x0fe00000, 111, 3)->path, "/usr/bin/app (read late)");

  // A description without a generation (a /proc scan's) describes no known one.
  table.upsert(process(61, 61, "/usr/bin/app", 111));
  EXPECT_EQ(table.find({61, 61}, 0x0fe00000, 111, 4), nullptr);
  EXPECT_NE(table.find({61, 61}, 0x0fe00000, 111), nullptr);
}

TEST(ProcessTable, ALateEarlierGenerationTakesItsPlaceAndTheOldestOtherGoes) {
  ProcessTable table;  // the current image and three earlier ones
  auto generation = [](std::uint64_t execId) {
    auto info = std::make_shared<ProcessDescription>(*process(70, 70, "/usr/bin/app", 111));
    info->execId = execId;
    info->argv = {"app", std::to_string(execId)};
    return std::shared_ptr<const ProcessDescription>(std::move(info));
  };
  for (std::uint64_t execId : {5, 6, 7, 8}) table.upsert(generation(execId));
  table.upsert(generation(4));  // a flow of generation 4, described late
  auto argvOf = [&](std::uint64_t execId) {
    auto info = table.find({70, 70}, 0x0fe00000, 111, execId);
    return info ? info->argv.at(1) : std::string("none");
  };
  EXPECT_EQ(argvOf(8), "8");
  EXPECT_EQ(argvOf(7), "7");
  EXPECT_EQ(argvOf(6), "6");
  EXPECT_EQ(argvOf(5), "none") << "the oldest other generation goes";
  EXPECT_EQ(argvOf(4), "4") << "not the one a flow waits for";
  EXPECT_EQ(table.find({70, 70})->argv.at(1), "8");
  table.upsert(generation(6));  // again: replaces its own
  EXPECT_EQ(argvOf(7), "7");
  EXPECT_EQ(argvOf(4), "4");
}

TEST(ProcessTable, AncestorsFollowParentKeys) {
  ProcessTable table;
  table.upsert(process(1, 1, "/sbin/init"));
  table.upsert(process(10, 20, "/usr/sbin/cron", 0, 1, 1));
  table.upsert(process(30, 40, "/bin/sh", 0, 10, 20));
  EXPECT_EQ(table.ancestorPaths(30, 40),
            (std::vector<std::string>{"/bin/sh", "/usr/sbin/cron", "/sbin/init"}));
  EXPECT_EQ(table.ancestorPaths(30, 40, 2),
            (std::vector<std::string>{"/bin/sh", "/usr/sbin/cron"}));
  // A parent key with another start time is another process: the chain stops.
  EXPECT_TRUE(table.ancestorPaths(30, 41).empty());
}

// parent_path and ancestor_path see the image an ancestor forked with: a shell that forks a
// program and then execs a trusted launcher in its own place does not lend it the launcher.
TEST(ProcessTable, AncestorsAreTheImagesTheyForkedWith) {
  ProcessTable table;
  table.upsert(process(1, 1, "/sbin/init"));
  const auto withGeneration = [](std::shared_ptr<const ProcessDescription> info,
                                 std::uint64_t execId, std::uint64_t forkExecId) {
    auto copy = std::make_shared<ProcessDescription>(*info);
    copy->execId = execId;
    copy->forkExecId = forkExecId;
    return copy;
  };
  table.upsert(withGeneration(process(10, 20, "/bin/sh", 100, 1, 1), 3, 7));
  table.upsert(withGeneration(process(10, 20, "/opt/launcher", 101, 1, 1), 4, 7));
  EXPECT_EQ(table.ancestorPaths(10, 20, 16, nullptr, 3),
            (std::vector<std::string>{"/bin/sh", "/sbin/init"}));
  EXPECT_EQ(table.ancestorPaths(10, 20, 16, nullptr, 4),
            (std::vector<std::string>{"/opt/launcher", "/sbin/init"}));
  // A generation the table no longer holds: not known, and the walk goes on.
  EXPECT_EQ(table.ancestorPaths(10, 20, 16, nullptr, 2),
            (std::vector<std::string>{"", "/sbin/init"}));
  // Not known which (0): what it runs now.
  EXPECT_EQ(table.ancestorPaths(10, 20, 16, nullptr, 0),
            (std::vector<std::string>{"/opt/launcher", "/sbin/init"}));
}

TEST(ProcessTable, AnAncestorSeenAtAPathThatIsNotItsHostFileKeepsOnlyItsPlace) {
  ProcessTable table;
  table.upsert(process(1, 1, "/sbin/init"));
  auto mounted = std::make_shared<ProcessDescription>(*process(10, 20, "/usr/bin/curl", 0, 1, 1));
  mounted->pathOnHost = false;  // another file bind-mounted over /usr/bin/curl
  table.upsert(mounted);
  table.upsert(process(30, 40, "/bin/sh", 0, 10, 20));
  EXPECT_EQ(table.ancestorPaths(30, 40), (std::vector<std::string>{"/bin/sh", "", "/sbin/init"}));
}

TEST(ProcessTable, WaitCompleteWakesOnUpsert) {
  ProcessTable table;
  table.upsert(process(9, 9, "", 0, 0, 0, /*complete=*/false));
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    table.upsert(process(9, 9, "/done"));
  });
  auto info = table.waitComplete({9, 9}, std::chrono::seconds(5));
  writer.join();
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->path, "/done");
  // A key nobody completes: back after the timeout with what there is.
  auto none = table.waitComplete({10, 10}, std::chrono::milliseconds(5));
  EXPECT_EQ(none, nullptr);
}

TEST(ProcessTable, KernelDeviceEncoding) {
  // major 8, minor 1 (sda1) in the kernel's internal encoding.
  EXPECT_EQ(deviceFromKernel((8u << 20) | 1u), makedev(8, 1));
  EXPECT_EQ(deviceFromKernel((259u << 20) | 300u), makedev(259, 300));
}

TEST(ProcessKey, TicksFromKernelNanoseconds) {
  const std::uint64_t hz = clockTicksPerSecond();
  const std::uint64_t perTick = 1'000'000'000ull / hz;
  EXPECT_EQ(ticksFromBootNs(0), 0u);
  EXPECT_EQ(ticksFromBootNs(perTick - 1), 0u);
  EXPECT_EQ(ticksFromBootNs(perTick * 1234 + 5), 1234u);
  EXPECT_EQ(processKey(42, perTick * 7), (ProcessKey{42, 7}));
}

// The queue workers keep processes in 64 slots chosen by the hash's low bits. The children of
// a fork loop start in the same clock tick and differ only in pid: they must not all share a
// slot (the identity hash of pid << 40 ^ ticks put every one of them in the same).
TEST(ProcessKeyHash, ProcessesOfOneTickSpreadOverTheLowBits) {
  for (const std::uint64_t ticks : {0ull, 7ull, 123'456ull}) {
    std::set<std::size_t> slots;
    for (std::uint32_t pid = 5000; pid < 5064; ++pid) {
      slots.insert(ProcessKeyHash{}(ProcessKey{pid, ticks}) % 64);
    }
    // 64 keys thrown at random into 64 slots fill about 40 of them.
    EXPECT_GE(slots.size(), 32u) << "start tick " << ticks;
  }
  std::set<std::size_t> slots;
  for (std::uint64_t ticks = 1000; ticks < 1064; ++ticks) {
    slots.insert(ProcessKeyHash{}(ProcessKey{5000, ticks}) % 64);
  }
  EXPECT_GE(slots.size(), 32u) << "one pid at successive ticks";
}

}  // namespace
}  // namespace warden::engine
