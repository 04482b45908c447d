#include "engine/attribution/proc_reader.h"
#include "base/unique_fd.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <string>

#include "tests/support/temp_dir.h"

namespace warden::engine {
namespace {

using warden::testing::TempDir;
using namespace std::string_literals;

std::string statLine(std::uint32_t pid, std::string_view comm, std::uint32_t ppid,
                     std::uint64_t start) {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
  // stime cutime cstime priority nice threads itrealvalue starttime vsize ...
  return std::to_string(pid) + " (" + std::string(comm) + ") S " + std::to_string(ppid) +
         " 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 " + std::to_string(start) +
         " 1000000 100 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
}

TEST(ProcParse, StatWithHostileComm) {
  auto stat = base::parseStat(statLine(42, "a) b (c", 7, 123456));
  ASSERT_TRUE(stat);
  EXPECT_EQ(stat->comm, "a) b (c");
  EXPECT_EQ(stat->state, 'S');
  EXPECT_EQ(stat->ppid, 7u);
  EXPECT_EQ(stat->flags, 4194560u);
  EXPECT_EQ(stat->startTicks, 123456u);
  EXPECT_FALSE(base::parseStat("42 (x) S 1 2 3"));
  EXPECT_FALSE(base::parseStat("garbage"));
  EXPECT_FALSE(base::parseStat(""));
}

TEST(ProcParse, StatusRealIds) {
  auto ids = parseStatusIds("Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t100\t100\t100\t100\n");
  ASSERT_TRUE(ids);
  EXPECT_EQ(ids->first, 1000u);
  EXPECT_EQ(ids->second, 100u);
  EXPECT_FALSE(parseStatusIds("Name:\tx\nUid:\t1000\t0\t0\t0\n"));
}

TEST(ProcParse, NulSeparated) {
  EXPECT_EQ(splitNulSeparated("curl\0-s\0http://x\0"s),
            (std::vector<std::string>{"curl", "-s", "http://x"}));
  EXPECT_EQ(splitNulSeparated("a\0\0b"s), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_TRUE(splitNulSeparated("").empty());
}

TEST(ProcParse, DeletedSuffix) {
  EXPECT_EQ(stripDeleted("/usr/bin/x (deleted)"), std::make_pair("/usr/bin/x"s, true));
  EXPECT_EQ(stripDeleted("/usr/bin/x"), std::make_pair("/usr/bin/x"s, false));
  EXPECT_EQ(stripDeleted("/tmp/a (deleted) b"), std::make_pair("/tmp/a (deleted) b"s, false));
}

TEST(ProcParse, CgroupV2Line) {
  EXPECT_EQ(parseCgroupV2("12:pids:/x\n1:name=systemd:/y\n0::/system.slice/a.service\n"),
            "/system.slice/a.service");
  EXPECT_EQ(parseCgroupV2("0::/\n"), "/");
  EXPECT_EQ(parseCgroupV2("1:cpu:/\n"), std::nullopt);
}

// A synthetic /proc/PID directory.
void fakeProcess(const TempDir& dir, std::uint32_t pid, std::uint32_t ppid, std::uint64_t start,
                 const std::filesystem::path& exeTarget, bool deleted = false) {
  const std::string p = std::to_string(pid);
  dir.write(p + "/stat", statLine(pid, "fake", ppid, start));
  dir.write(p + "/status", "Name:\tfake\nUid:\t1000\t1000\t1000\t1000\nGid:\t50\t50\t50\t50\n");
  dir.write(p + "/cmdline", "/opt/fake\0--flag\0value\0"s);
  dir.write(p + "/environ", "HOME=/home/u\0LANG=C\0"s);
  dir.write(p + "/cgroup", "0::/user.slice/user-1000.slice/session-1.scope\n");
  std::filesystem::create_symlink(exeTarget.string() + (deleted ? " (deleted)" : ""),
                                  dir.path() / p / "exe");
  std::filesystem::create_symlink("/home/u", dir.path() / p / "cwd");
  std::filesystem::create_symlink("/", dir.path() / p / "root");
}

TEST(ProcReader, DescribesASyntheticProcess) {
  TempDir dir;
  const auto image = dir.write("bin/fake", "#!/bin/true\n");
  fakeProcess(dir, 321, 1, 777, image);
  ProcReader reader(dir.path().string());
  auto info = reader.describe(321);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->key, (ProcessKey{321, 777}));
  EXPECT_EQ(info->ppid, 1u);
  EXPECT_EQ(info->uid, 1000u);
  EXPECT_EQ(info->gid, 50u);
  EXPECT_EQ(info->comm, "fake");
  EXPECT_EQ(info->path, image.string());
  EXPECT_FALSE(info->pathDeleted);
  EXPECT_EQ(info->argv, (std::vector<std::string>{"/opt/fake", "--flag", "value"}));
  EXPECT_EQ(info->commandLine(), "/opt/fake --flag value");
  EXPECT_TRUE(info->envKnown);
  EXPECT_EQ(info->envValue("HOME"), "/home/u");
  EXPECT_EQ(info->envValue("HOM"), std::nullopt);
  EXPECT_EQ(info->envValue("PATH"), std::nullopt);
  EXPECT_EQ(info->cwd, "/home/u");
  EXPECT_EQ(info->root, "/");
  EXPECT_EQ(info->cgroupPath, "/user.slice/user-1000.slice/session-1.scope");
  EXPECT_TRUE(info->imageKnown);
  EXPECT_EQ(info->image.size, 12);
  EXPECT_EQ(info->exeInode,
            std::filesystem::status(image).type() == std::filesystem::file_type::regular
                ? info->image.inode
                : 0u);
  EXPECT_TRUE(info->complete);
  EXPECT_EQ(info->source, ProcessSource::kProcScan);
  EXPECT_EQ(reader.listPids(), (std::vector<std::uint32_t>{321}));
}

TEST(ProcReader, DeletedImageAndWrongStartTime) {
  TempDir dir;
  fakeProcess(dir, 5, 1, 900, "/usr/bin/gone", /*deleted=*/true);
  ProcReader reader(dir.path().string());
  ProcessDescription info;
  info.key = {5, 900};
  ASSERT_TRUE(reader.complete(info));
  EXPECT_EQ(info.path, "/usr/bin/gone");
  EXPECT_TRUE(info.pathDeleted);
  EXPECT_FALSE(info.imageKnown);  // the synthetic target does not exist
  // Another start time: another process under the same pid; nothing is read into it.
  ProcessDescription other;
  other.key = {5, 901};
  EXPECT_FALSE(reader.complete(other));
  EXPECT_TRUE(other.path.empty());
  EXPECT_FALSE(reader.describe(6));
}

TEST(ProcReader, GoneOnlyWhenTheEntryIsMissingOrAnotherProcess) {
  TempDir dir;
  fakeProcess(dir, 5, 1, 900, "/usr/bin/x");
  dir.write("7/stat", "not a stat line\n");
  ProcReader reader(dir.path().string());
  EXPECT_FALSE(reader.gone(5, 900));
  EXPECT_TRUE(reader.gone(5, 901));  // the pid names another process now
  EXPECT_TRUE(reader.gone(6, 900));  // no entry
  // A file that cannot be parsed says nothing for sure.
  EXPECT_FALSE(reader.gone(7, 900));

  const auto missing = base::readProcStat(6, dir.path().string());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  const auto garbled = base::readProcStat(7, dir.path().string());
  ASSERT_FALSE(garbled);
  EXPECT_EQ(garbled.error().code, EINVAL);
  EXPECT_NE(garbled.error().message().find("7/stat"), std::string::npos);
}

TEST(ProcReader, IsFileAtComparesDeviceAndInode) {
  TempDir dir;
  const auto file = dir.write("a", "a");
  const auto other = dir.write("b", "b");
  struct stat st {};
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_TRUE(isFileAt(file.string(), st.st_dev, st.st_ino));
  EXPECT_FALSE(isFileAt(other.string(), st.st_dev, st.st_ino));
  EXPECT_FALSE(isFileAt(file.string(), st.st_dev + 1, st.st_ino));
  EXPECT_FALSE(isFileAt((dir.path() / "missing").string(), st.st_dev, st.st_ino));
  EXPECT_FALSE(isFileAt("a", st.st_dev, st.st_ino));  // relative: not a host path
}

// As in a mount namespace of the process's own: the link names a path, but leads to another
// file than the host's at that path (the " (deleted)" suffix the reader strips stands in).
TEST(ProcReader, PathIsOnTheHostOnlyWhenTheImageIsTheFileThere) {
  TempDir dir;
  const auto image = dir.write("bin/tool", "real");
  fakeProcess(dir, 40, 1, 100, image);
  const auto host = dir.write("bin/curl", "host");
  dir.write("bin/curl (deleted)", "planted");
  fakeProcess(dir, 41, 1, 101, host, /*deleted=*/true);
  ProcReader reader(dir.path().string());
  auto plain = reader.describe(40);
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->pathOnHost);
  auto planted = reader.describe(41);
  ASSERT_TRUE(planted);
  EXPECT_EQ(planted->path, host.string());
  EXPECT_TRUE(planted->imageKnown);
  EXPECT_FALSE(planted->pathOnHost);
  EXPECT_EQ(reader.exePath(40, 100), image.string());
  EXPECT_EQ(reader.exePath(41, 101), "");  // known, but not as a host path
  EXPECT_EQ(reader.exePath(41, 102), std::nullopt);
}

TEST(ProcReader, UnreadableEnvironmentIsUnknownNotEmpty) {
  TempDir dir;
  fakeProcess(dir, 8, 1, 10, "/bin/x");
  std::filesystem::remove(dir.path() / "8" / "environ");
  auto info = ProcReader(dir.path().string()).describe(8);
  ASSERT_TRUE(info);
  EXPECT_FALSE(info->envKnown);
  EXPECT_EQ(info->envValue("HOME"), std::nullopt);
}

// A process that exits while it is read: its exe link, cmdline, environ and cwd read as nothing
// from the moment it let go of them. A read that came back without one of them is no read (an
// empty argv would match no profile's cmdline, a deny's included); one that got them all
// before the exit is whole.
TEST(ProcReader, AnExitingProcessReadWithoutWhatItLetGoOfIsNotRead) {
  const auto exiting = [](std::string line) {
    // flags (field 9) with PF_EXITING set
    return line.replace(line.find(" 4194560 "), 9, " 4194564 ");
  };
  const auto read = [](const TempDir& dir, std::uint32_t pid) {
    ProcessDescription info;
    info.key = {pid, 10};
    return ProcReader(dir.path().string()).complete(info);
  };
  TempDir dir;
  fakeProcess(dir, 8, 1, 10, "/bin/x");
  dir.write("8/stat", exiting(statLine(8, "fake", 1, 10)));
  EXPECT_TRUE(read(dir, 8));  // everything shown: read before the exit let go of it
  for (const char* gone : {"cmdline", "environ"}) {
    TempDir one;
    fakeProcess(one, 8, 1, 10, "/bin/x");
    one.write("8/stat", exiting(statLine(8, "fake", 1, 10)));
    one.write(std::string("8/") + gone, "");
    EXPECT_FALSE(read(one, 8)) << gone;
    // Not exiting: what the process shows (an empty environment: env -i).
    one.write("8/stat", statLine(8, "fake", 1, 10));
    EXPECT_TRUE(read(one, 8)) << gone;
  }
  for (const char* gone : {"exe", "cwd"}) {
    TempDir one;
    fakeProcess(one, 8, 1, 10, "/bin/x");
    std::filesystem::remove(one.path() / "8" / gone);
    one.write("8/stat", exiting(statLine(8, "fake", 1, 10)));
    EXPECT_FALSE(read(one, 8)) << gone;
  }
  // A zombie: nothing but its stat.
  TempDir zombie;
  fakeProcess(zombie, 8, 1, 10, "/bin/x");
  std::string line = statLine(8, "fake", 1, 10);
  zombie.write("8/stat", line.replace(line.find(") S "), 4, ") Z "));
  zombie.write("8/cmdline", "");
  EXPECT_FALSE(read(zombie, 8));
  EXPECT_FALSE(ProcReader(zombie.path().string()).describe(8));
}

TEST(ProcReader, SocketInodesOfTheRealSelf) {
  // The real /proc: a socket this test holds shows up among its descriptors.
  auto fd = base::makeSocket(AF_INET, SOCK_DGRAM, 0, "a socket to look for");
  ASSERT_TRUE(fd) << fd.error().message();
  struct stat st {};
  ASSERT_EQ(fstat(fd->get(), &st), 0);
  ProcReader reader;
  const auto inodes = reader.socketInodes(static_cast<std::uint32_t>(getpid()));
  fd->reset();
  EXPECT_NE(std::find(inodes.begin(), inodes.end(), st.st_ino), inodes.end());
  auto self = reader.describe(static_cast<std::uint32_t>(getpid()));
  ASSERT_TRUE(self);
  EXPECT_EQ(self->uid, getuid());
  EXPECT_FALSE(self->path.empty());
  EXPECT_TRUE(self->pathOnHost);
}

}  // namespace
}  // namespace warden::engine
