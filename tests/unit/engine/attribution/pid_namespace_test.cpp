#include "engine/attribution/pid_namespace.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/support/temp_dir.h"

namespace warden::engine {
namespace {

using warden::testing::TempDir;

constexpr const char* kStatusHead = "Name:\tclient\nUmask:\t0022\nState:\tS (sleeping)\n";

TEST(PidNamespace, NsPidsFromOutermostToOwn) {
  using Pids = std::vector<std::uint32_t>;
  EXPECT_EQ(parseNsPids(std::string(kStatusHead) + "NSpid:\t4711\nNSpgid:\t4711\n"), Pids{4711});
  EXPECT_EQ(parseNsPids("NSpid:\t17938\t2\t1\n"), (Pids{17938, 2, 1}));
  EXPECT_EQ(parseNsPids("Tgid:\t5\nNSpid:\t5 "), Pids{5});  // no final newline
  // NStgid, NSpgid and NSsid are other lines: only NSpid counts.
  EXPECT_EQ(parseNsPids("NStgid:\t9\t3\nNSpid:\t10\t4\n"), (Pids{10, 4}));
}

TEST(PidNamespace, NsPidsMissingOrMalformed) {
  EXPECT_EQ(parseNsPids(kStatusHead), std::nullopt);  // a kernel before 4.1
  EXPECT_EQ(parseNsPids("NSpid:\t\n"), std::nullopt);
  EXPECT_EQ(parseNsPids("NSpid:\t12x\t3\n"), std::nullopt);
  EXPECT_EQ(parseNsPids("NSpid:\t-1\n"), std::nullopt);
  EXPECT_EQ(parseNsPids(""), std::nullopt);
}

// A proc tree of three files: what procPidNamespace reads.
struct FakeProc {
  TempDir dir;
  explicit FakeProc(const std::string& nsPidLine) {
    dir.write("self/ns/pid", "");
    dir.write("self/status", std::string(kStatusHead) + nsPidLine);
  }
  std::string root() const { return dir.path().string(); }
};

TEST(PidNamespace, AProcOfTheOwnNamespaceNamesIt) {
  FakeProc proc("NSpid:\t3\n");
  struct stat st {};
  ASSERT_EQ(stat((proc.root() + "/self/ns/pid").c_str(), &st), 0);
  auto found = procPidNamespace(proc.root());
  ASSERT_TRUE(found) << found.error().message();
  EXPECT_EQ(found->inode, st.st_ino);
  EXPECT_EQ(found->device, st.st_dev);
}

TEST(PidNamespace, AProcOfAnAncestorNamespaceIsRefused) {
  // `unshare --pid --fork` without --mount-proc: /proc still numbers as the parent namespace.
  FakeProc proc("NSpid:\t17938\t1\n");
  auto found = procPidNamespace(proc.root());
  ASSERT_FALSE(found);
  EXPECT_NE(found.error().message().find("ancestor of wardend's pid namespace (NSpid 17938 1)"),
            std::string::npos)
      << found.error().message();
}

TEST(PidNamespace, WithoutNsPidTheNamespaceFileDecides) {
  FakeProc proc("");
  EXPECT_TRUE(procPidNamespace(proc.root()));
}

TEST(PidNamespace, NoProcIsAnError) {
  TempDir empty;
  auto found = procPidNamespace(empty.path().string());
  ASSERT_FALSE(found);
  EXPECT_NE(found.error().message().find("/self/ns/pid"), std::string::npos);
}

TEST(PidNamespace, TheRealOneIsWhatTheKernelLinksTo) {
  auto found = procPidNamespace();
  ASSERT_TRUE(found) << found.error().message();
  char link[64] = {};
  ASSERT_GT(readlink("/proc/self/ns/pid", link, sizeof link - 1), 0);
  EXPECT_EQ(std::string(link), "pid:[" + std::to_string(found->inode) + "]");
}

}  // namespace
}  // namespace warden::engine
