// What a storm of short-lived processes costs the tracker in descriptors and memory: images
// held once per image and never past the bound, environments shared. Synthetic /proc and
// hand-made exec events, as in process_tracker_test.cpp.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "engine/attribution/process_tracker.h"
#include "tests/support/temp_dir.h"

namespace warden::engine {
namespace {

using warden::testing::TempDir;
using namespace std::string_literals;
using namespace std::string_view_literals;

std::size_t openFds() {
  std::size_t count = 0;
  DIR* dir = opendir("/proc/self/fd");
  while (dir && readdir(dir)) ++count;
  if (dir) closedir(dir);
  return count;
}

class TrackerStormTest : public ::testing::Test {
 protected:
  TrackerStormTest() { tracker_.setImageHashing(true); }

  // Process `pid` running `exe` in the synthetic /proc, and its exec event fed to the tracker.
  void exec(std::uint32_t pid, const std::filesystem::path& exe,
            std::string_view environ = "PATH=/bin\0HOME=/root\0LANG=C.UTF-8\0"sv) {
    const std::uint64_t ticks = 1000 + pid;
    const std::string p = std::to_string(pid);
    dir_.write(p + "/stat", p + " (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 " +
                                std::to_string(ticks) + " 0 0\n");
    dir_.write(p + "/status", "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n");
    dir_.write(p + "/cmdline", "app\0--child\0"sv);
    dir_.write(p + "/environ", environ);
    dir_.write(p + "/cgroup", "0::/user.slice\n");
    std::filesystem::create_symlink(exe, dir_.path() / p / "exe");
    std::filesystem::create_symlink("/", dir_.path() / p / "cwd");
    std::filesystem::create_symlink("/", dir_.path() / p / "root");

    struct stat st {};
    ASSERT_EQ(stat(exe.c_str(), &st), 0);
    warden_exec_event event{};
    event.head.kind = WARDEN_EVENT_EXEC;
    event.head.size = sizeof event;
    event.owner.tgid = event.owner.pid = pid;
    event.owner.start_time_ns = ticks * (1'000'000'000ull / clockTicksPerSecond());
    event.owner.ppid = 1;
    event.owner.exe_ino = st.st_ino;
    event.owner.exe_dev = major(st.st_dev) << 20 | minor(st.st_dev);
    std::strncpy(event.owner.comm, "app", sizeof event.owner.comm);
    const std::string args = "app\0--child\0"s;
    std::memcpy(event.args, args.data(), args.size());
    event.args_len = static_cast<__u32>(args.size());
    tracker_.handleRecord(
        std::span<const std::byte>(reinterpret_cast<const std::byte*>(&event), sizeof event));
  }

  std::shared_ptr<const ProcessDescription> find(std::uint32_t pid) const {
    return table_.find({pid, 1000 + pid});
  }

  TempDir dir_;
  ProcessTable table_;
  ImageHashLru cache_{64};
  // Three seconds on: the test's images, written just now, have settled (FileIdentity).
  ExeHasher hasher_{cache_, [] { return base::realtimeNs() + 3'000'000'000; }};
  ProcessTracker tracker_{
      table_, ProcessTracker::Options{.procRoot = dir_.path().string(), .maxHeldImages = 8},
      &hasher_};
};

TEST_F(TrackerStormTest, AStormOfOneProgramHoldsItsImageOnce) {
  const auto exe = dir_.write("bin/app", "ELF one program");
  const std::size_t before = openFds();
  for (std::uint32_t pid = 100; pid < 400; ++pid) exec(pid, exe);
  EXPECT_LE(openFds(), before + 1);
  EXPECT_LE(tracker_.heldImages().held(), 1u);
  EXPECT_EQ(tracker_.counters().hashed.load(), 1u);
  // Every one of them still has its hash.
  ASSERT_NE(find(399), nullptr);
  ASSERT_NE(find(399)->match, nullptr);
  EXPECT_TRUE(find(399)->match->sha256());
}

TEST_F(TrackerStormTest, DistinctImagesAreHeldUpToTheBound) {
  const std::size_t before = openFds();
  for (std::uint32_t pid = 100; pid < 150; ++pid) {
    exec(pid, dir_.write("bin/app" + std::to_string(pid), "ELF " + std::to_string(pid)));
  }
  EXPECT_LE(openFds(), before + 8);
  EXPECT_EQ(tracker_.heldImages().held(), 8u);
  EXPECT_EQ(tracker_.heldImages().refused(), 42u);
  // A process whose image was not held is hashed through /proc/PID/exe while it runs.
  ASSERT_NE(find(149), nullptr);
  EXPECT_EQ(find(149)->imageHandle, nullptr);
  EXPECT_TRUE(find(149)->match->sha256());
}

TEST_F(TrackerStormTest, ProcessesStartedWithOneEnvironmentShareIt) {
  const auto exe = dir_.write("bin/app", "ELF");
  exec(100, exe);
  exec(101, exe);
  exec(102, exe, "PATH=/bin\0HOME=/home/u\0"sv);
  ASSERT_TRUE(find(100) && find(101) && find(102));
  ASSERT_TRUE(find(100)->match->env && find(101)->match->env && find(102)->match->env);
  EXPECT_TRUE(find(100)->match->env->sharesWith(*find(101)->match->env));
  EXPECT_FALSE(find(100)->match->env->sharesWith(*find(102)->match->env));
  EXPECT_EQ(find(101)->envValue("LANG"), "C.UTF-8");
  EXPECT_EQ(find(102)->envValue("HOME"), "/home/u");
}

}  // namespace
}  // namespace warden::engine
