#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "engine/attribution/sock_diag.h"
#include "tests/support/temp_dir.h"

namespace warden::engine {
namespace {

using namespace std::chrono_literals;
using warden::testing::TempDir;

// A synthetic /proc whose processes hold sockets: fd links read "socket:[INODE]".
class SocketInodeIndexTest : public ::testing::Test {
 protected:
  void fakeProcess(std::uint32_t pid, std::uint64_t ticks) {
    const std::string p = std::to_string(pid);
    dir_.write(p + "/stat", p + " (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 " +
                                std::to_string(ticks) + " 0 0\n");
    std::filesystem::create_directories(dir_.path() / p / "fd");
  }
  void giveSocket(std::uint32_t pid, int fd, std::uint64_t inode) {
    std::filesystem::create_symlink("socket:[" + std::to_string(inode) + "]",
                                    dir_.path() / std::to_string(pid) / "fd" / std::to_string(fd));
  }
  // Asks for `inode` and waits up to `wait` for the index to name its owner.
  std::optional<SocketInodeIndex::Owner> lookUp(SocketInodeIndex& index, std::uint64_t inode,
                                                std::chrono::milliseconds wait) {
    if (auto owner = index.find(inode)) return owner;
    index.waitFor(index.requestScan(inode), wait);
    return index.find(inode);
  }

  TempDir dir_;
};

TEST_F(SocketInodeIndexTest, NamesTheProcessHoldingASocket) {
  fakeProcess(300, 40);
  fakeProcess(301, 50);
  giveSocket(300, 3, 7001);
  giveSocket(301, 4, 7002);
  SocketInodeIndex index(dir_.path().string(), 1ms);
  auto owner = lookUp(index, 7002, 5s);
  ASSERT_TRUE(owner);
  EXPECT_EQ(owner->pid, 301u);
  EXPECT_EQ(owner->startTicks, 50u);
  EXPECT_FALSE(lookUp(index, 9999, 1s)) << "no process holds it";
}

TEST_F(SocketInodeIndexTest, ARecentOwnersNewSocketIsNamedWithoutWaitingForTheNextScan) {
  // Scans are rate-limited to one a minute here: only the look at recent owners can name the
  // second socket in time.
  fakeProcess(400, 60);
  giveSocket(400, 3, 8001);
  SocketInodeIndex index(dir_.path().string(), 60s);
  ASSERT_TRUE(lookUp(index, 8001, 5s));  // the first scan runs at once
  giveSocket(400, 4, 8002);
  auto owner = lookUp(index, 8002, 5s);
  ASSERT_TRUE(owner);
  EXPECT_EQ(owner->pid, 400u);
  // A socket of another process still waits for a scan the rate limit allows.
  fakeProcess(401, 70);
  giveSocket(401, 3, 8003);
  EXPECT_FALSE(lookUp(index, 8003, 300ms));
}

// Finds through recent owners go into a small bounded map, folded into the big one when full:
// more new sockets than it holds, between scans, are all named, and stay named without
// another look at their owner.
TEST_F(SocketInodeIndexTest, ManyNewSocketsBetweenScansAreAllNamed) {
  fakeProcess(600, 100);
  giveSocket(600, 3, 10000);
  SocketInodeIndex index(dir_.path().string(), 60s);
  ASSERT_TRUE(lookUp(index, 10000, 5s));  // the first scan runs at once; the next in a minute
  constexpr int kSockets = 300;           // more than the recent finds' bound
  for (int i = 1; i <= kSockets; ++i) {
    giveSocket(600, 3 + i, 10000 + static_cast<std::uint64_t>(i));
    ASSERT_TRUE(lookUp(index, 10000 + static_cast<std::uint64_t>(i), 5s)) << i;
  }
  for (int i = 0; i <= kSockets; ++i) {
    auto owner = index.find(10000 + static_cast<std::uint64_t>(i));  // no scan asked for
    ASSERT_TRUE(owner) << i;
    EXPECT_EQ(owner->pid, 600u);
  }
}

TEST_F(SocketInodeIndexTest, AReusedPidIsNotARecentOwner) {
  fakeProcess(500, 80);
  giveSocket(500, 3, 9001);
  SocketInodeIndex index(dir_.path().string(), 60s);
  ASSERT_TRUE(lookUp(index, 9001, 5s));
  // Process 500 exits and another process gets its pid (a later start time).
  std::filesystem::remove_all(dir_.path() / "500");
  fakeProcess(500, 90);
  giveSocket(500, 3, 9002);
  EXPECT_FALSE(lookUp(index, 9002, 300ms)) << "named through a dead process's pid";
}

}  // namespace
}  // namespace warden::engine
