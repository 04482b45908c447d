#include "engine/attribution/exe_hasher.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include "base/sha256.h"
#include "base/unique_fd.h"
#include "engine/attribution/deadlined_proc_reader.h"
#include "engine/attribution/proc_reader.h"
#include "engine/attribution/process_tracker.h"
#include "tests/support/temp_dir.h"

namespace warden::engine {
namespace {

using warden::testing::TempDir;

// sha256("abc"); the digest itself is base/sha256.h's, tested there.
constexpr const char* kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

base::FileIdentity identity(std::uint64_t inode, std::int64_t mtime = 1) {
  return base::FileIdentity{
      .device = 1, .inode = inode, .size = 10, .mtimeNs = mtime, .ctimeNs = 1};
}

class MemoryStore : public HashStore {
 public:
  std::optional<std::string> load(const base::FileIdentity& image) override {
    ++loads;
    for (const auto& [id, hex] : rows) {
      if (id == image) return hex;
    }
    return std::nullopt;
  }
  void save(const base::FileIdentity& image, std::string_view hex) override {
    rows.emplace_back(image, std::string(hex));
  }
  std::vector<std::pair<base::FileIdentity, std::string>> rows;
  int loads = 0;
};

TEST(ImageHashLru, KeyedByTheWholeIdentity) {
  ImageHashLru cache(8);
  cache.insert(identity(1), "h1");
  EXPECT_EQ(cache.find(identity(1)), "h1");
  EXPECT_EQ(cache.find(identity(1, /*mtime=*/2)), std::nullopt);  // a new version of the file
  EXPECT_EQ(cache.find(identity(2)), std::nullopt);
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.misses(), 2u);
}

TEST(ImageHashLru, BoundedLeastRecentlyUsed) {
  ImageHashLru cache(2);
  cache.insert(identity(1), "h1");
  cache.insert(identity(2), "h2");
  EXPECT_TRUE(cache.find(identity(1)));  // 1 is now the most recent
  cache.insert(identity(3), "h3");       // evicts 2
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(cache.findInMemory(identity(1)));
  EXPECT_FALSE(cache.findInMemory(identity(2)));
  EXPECT_TRUE(cache.findInMemory(identity(3)));
  cache.insert(identity(3), "h3b");  // replace in place
  EXPECT_EQ(cache.findInMemory(identity(3)), "h3b");
  EXPECT_EQ(cache.size(), 2u);
}

TEST(ImageHashLru, BackedByAStore) {
  MemoryStore store;
  store.rows.emplace_back(identity(7), "stored");
  ImageHashLru cache(4, &store);
  EXPECT_EQ(cache.findInMemory(identity(7)), std::nullopt);  // memory only: no store read
  EXPECT_EQ(store.loads, 0);
  EXPECT_EQ(cache.find(identity(7)), "stored");
  EXPECT_EQ(store.loads, 1);
  EXPECT_EQ(cache.find(identity(7)), "stored");  // from memory now
  EXPECT_EQ(store.loads, 1);
  cache.insert(identity(8), "new");
  ASSERT_EQ(store.rows.size(), 2u);
  EXPECT_EQ(store.rows.back().second, "new");
}

std::int64_t threeSecondsOn() { return base::realtimeNs() + 3'000'000'000; }

TEST(ExeHasher, HashesOnceThenFromCache) {
  TempDir dir;
  const auto file = dir.write("prog", "abc");
  ImageHashLru cache;
  ExeHasher hasher(cache, threeSecondsOn);  // the file, written just now, has settled
  auto fd = base::openFile(file, O_RDONLY);
  ASSERT_TRUE(fd) << fd.error().message();
  EXPECT_EQ(hasher.hashImage(fd->get()).value(), kAbc);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(hasher.hashImage(fd->get()).value(), kAbc);
  EXPECT_EQ(cache.hits(), 1u);
}

// An image larger than wardend hashes (a sparse tail costs its maker nothing) is refused at
// once, not read.
TEST(ExeHasher, NoHashOfAnImageLargerThanTheBound) {
  TempDir dir;
  const auto file = dir.write("prog", "abc");
  ASSERT_EQ(::truncate(file.c_str(), ExeHasher::kMaxHashedBytes + 1), 0);
  ImageHashLru cache;
  ExeHasher hasher(cache, threeSecondsOn);
  auto fd = base::openFile(file, O_RDONLY);
  ASSERT_TRUE(fd) << fd.error().message();
  auto hash = hasher.hashImage(fd->get());
  ASSERT_FALSE(hash);
  EXPECT_NE(hash.error().message().find("more than wardend hashes"), std::string::npos);
  EXPECT_EQ(cache.size(), 0u);
}

// A file changed less than two seconds ago may change again in the same timestamp tick (whole
// seconds on some filesystems) and keep its identity: hashed, not cached.
TEST(ExeHasher, NoCacheForAFileThatHasNotSettled) {
  TempDir dir;
  const auto file = dir.write("prog", "abc");
  ImageHashLru cache;
  ExeHasher hasher(cache);
  auto fd = base::openFile(file, O_RDONLY);
  ASSERT_TRUE(fd) << fd.error().message();
  EXPECT_EQ(hasher.hashImage(fd->get()).value(), kAbc);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(ExeHasher, HeldImageOutlivesTheFileOnDisk) {
  TempDir dir;
  const auto file = dir.write("prog", "abc");
  ProcessDescription info;
  info.key = {999999, 1};  // no such process: only the held image can be hashed
  auto image = base::openFile(file, O_RDONLY);
  ASSERT_TRUE(image) << image.error().message();
  info.imageHandle = std::make_shared<ImageHandle>(std::move(*image));
  // The file is replaced on disk after "exec": the held descriptor still reads what ran.
  std::filesystem::remove(file);
  dir.write("prog", "something else");
  ImageHashLru cache;
  ExeHasher hasher(cache);
  EXPECT_EQ(hasher.hashOf(info).value(), kAbc);
  info.imageHandle.reset();
  EXPECT_FALSE(hasher.hashOf(info));  // nothing left to read
}

TEST(ExeHasher, RunningProcessThroughProcExe) {
  ProcessDescription info;
  info.key.pid = static_cast<std::uint32_t>(getpid());
  info.key.startTicks = ProcReader().stat(info.key.pid)->startTicks;
  ImageHashLru cache;
  ExeHasher hasher(cache);
  auto hash = hasher.hashOf(info);
  ASSERT_TRUE(hash) << hash.error().message();
  EXPECT_EQ(*hash, base::sha256HexOfFile("/proc/self/exe").value());
  // A description with another start time is another process: refused.
  info.key.startTicks += 1;
  EXPECT_FALSE(hasher.hashOf(info));
}

TEST(UnpinnedImageFilesystem, NamesTheFilesystemsWhoseBytesChangeUnseen) {
  EXPECT_STREQ(base::unpinnedImageFilesystem(0x01021994), "tmpfs");
  EXPECT_STREQ(base::unpinnedImageFilesystem(0x858458f6), "ramfs");
  EXPECT_STREQ(base::unpinnedImageFilesystem(0x958458f6), "hugetlbfs");
  EXPECT_STREQ(base::unpinnedImageFilesystem(0x794c7630), "overlayfs");
  EXPECT_STREQ(base::unpinnedImageFilesystem(0x65735546), "FUSE");
  EXPECT_EQ(base::unpinnedImageFilesystem(0xef53), nullptr);      // ext4
  EXPECT_EQ(base::unpinnedImageFilesystem(0x58465342), nullptr);  // xfs
  EXPECT_EQ(base::unpinnedImageFilesystem(0), nullptr);           // not read
}

// A file on tmpfs can be rewritten through a shared mapping with no change of identity: its
// hash is never taken, so that nothing is cached for the next file of that identity.
TEST(ExeHasher, NoHashOfAnImageOnTmpfs) {
  char path[] = "/dev/shm/warden-hasher-test-XXXXXX";
  base::UniqueFd fd(mkstemp(path));
  if (!fd) GTEST_SKIP() << "no /dev/shm here";
  unlink(path);
  ASSERT_EQ(write(fd.get(), "abc", 3), 3);
  ASSERT_EQ(base::filesystemTypeOfFd(fd.get()), 0x01021994);
  ImageHashLru cache;
  ExeHasher hasher(cache);
  auto hash = hasher.hashImage(fd.get());
  ASSERT_FALSE(hash);
  EXPECT_NE(hash.error().message().find("tmpfs"), std::string::npos) << hash.error().message();
  EXPECT_EQ(cache.size(), 0u);
}

// Nor does a cached hash of the same identity answer for a description whose image is on such
// a filesystem, and a description that says nothing of its filesystem is looked at first.
TEST(ExeHasher, NoCachedHashForAnImageOnTmpfsOrOfAnUnreadFilesystem) {
  ImageHashLru cache;
  ExeHasher hasher(cache);
  ProcessDescription info;
  info.key = {999999, 1};  // no such process
  info.image = identity(5);
  info.imageKnown = true;
  cache.insert(info.image, kAbc);
  info.imageFsType = 0xef53;  // ext4: found by identity
  EXPECT_EQ(hasher.hashOf(info).value(), kAbc);
  info.imageFsType = 0x01021994;
  auto refused = hasher.hashOf(info);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("tmpfs"), std::string::npos);
  info.imageFsType = 0;
  EXPECT_FALSE(hasher.hashOf(info));  // the process is gone: nothing to look at
}

}  // namespace
}  // namespace warden::engine

namespace warden::engine {
namespace {

// A large image (a sparse file: what a user makes at no cost) is hashed on a hashing thread:
// who asks waits only as long as it says, asking again meanwhile starts no second hash, and the
// hash is cached once done.
TEST(ExeHasher, AHashNotDoneInTimeGoesOnAloneAndIsCachedOnceDone) {
  TempDir dir;
  const auto file = dir.write("big", "ELF");
  std::filesystem::resize_file(file, std::uint64_t{256} << 20);
  ProcessDescription info;
  info.key = {999999, 1};
  auto image = base::openFile(file, O_RDONLY);
  ASSERT_TRUE(image) << image.error().message();
  const auto identity = identityOfFd(image->get());
  ASSERT_TRUE(identity);
  info.image = *identity;
  info.imageKnown = true;
  info.imageFsType = base::filesystemTypeOfFd(image->get()).value_or(0);
  if (base::unpinnedImageFilesystem(info.imageFsType)) GTEST_SKIP() << "a tmpfs test directory";
  info.imageHandle = std::make_shared<ImageHandle>(std::move(*image));
  ImageHashLru cache;
  ExeHasher hasher(cache, [] { return base::realtimeNs() + 3'000'000'000; });
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(hasher.hashWithin(ImageRef::of(info), std::chrono::milliseconds(0)).has_value());
  EXPECT_FALSE(hasher.hashWithin(ImageRef::of(info), std::chrono::milliseconds(0)).has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(50));
  EXPECT_EQ(hasher.hashCounters().refused, 1u);
  std::optional<base::Result<std::string>> done;
  for (int i = 0; i < 600 && !(done && *done); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    done = hasher.hashWithin(ImageRef::of(info), std::chrono::milliseconds(0));
  }
  ASSERT_TRUE(done && *done);
  EXPECT_EQ(**done, hasher.hashOf(info).value());
  EXPECT_EQ(cache.size(), 1u);
}

}  // namespace
}  // namespace warden::engine

namespace warden::engine {
namespace {

// A hash whose image could not be opened in time (/proc/PID/exe of a process stuck in execve
// waits; here a FIFO, whose open waits for a writer) is not known yet, as one being computed:
// the flow is `unknown`. Taken as none, the profile pinning it would not hold, and one matched
// by a weaker key (a path_glob allowing the directory) would decide instead.
TEST(ExeHasher, AnImageNotOpenedInTimeIsADigestNotKnownYet) {
  TempDir dir;
  const auto exe = dir.path() / "4242" / "exe";
  std::filesystem::create_directories(exe.parent_path());
  ASSERT_EQ(mkfifo(exe.c_str(), 0600), 0);
  DeadlinedProcReader reader(
      dir.path().string(), base::BoundedWaits::Options{.deadline = std::chrono::milliseconds(10)});
  ImageHashLru cache;
  ExeHasher hasher(cache);
  hasher.readProcThrough(reader);
  ProcessDescription info;
  info.key = {4242, 1};
  info.uid = 1000;
  const auto view = matchView(info, &hasher, dir.path().string());
  ASSERT_TRUE(view->sha256);
  const rules::DigestAnswer answer = view->sha256();
  EXPECT_TRUE(answer.pending);
  EXPECT_FALSE(answer.digest);
  const int writer = open(exe.c_str(), O_WRONLY | O_NONBLOCK);  // lets the open go
  if (writer >= 0) close(writer);
  hasher.stop();
}

TEST(Sha256, AFileIsReadNoFurtherThanItsBound) {
  TempDir dir;
  const auto file = dir.write("grown", std::string(3000, 'x'));
  auto fd = base::openFile(file, O_RDONLY);
  ASSERT_TRUE(fd);
  EXPECT_TRUE(base::sha256HexOfFd(fd->get(), 3000));
  const auto refused = base::sha256HexOfFd(fd->get(), 2999);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, EFBIG);
}

}  // namespace
}  // namespace warden::engine

namespace warden::engine {
namespace {

// A process's digest, once known, is kept with its description: an image the cache does not
// take (changed in the last two seconds, again and again) is hashed once a process, not once a
// flow. (A running image cannot be written on the filesystems hashes are taken on; this file is
// written only to tell a second hash from none.)
TEST(ExeHasher, AProcessIsHashedOnceWhateverItsImageDoesAfter) {
  TempDir dir;
  const auto file = dir.write("prog", "abc");
  auto image = base::openFile(file, O_RDONLY);
  ASSERT_TRUE(image);
  ProcessDescription info;
  info.key = {999999, 1};
  info.imageHandle = std::make_shared<ImageHandle>(std::move(*image));
  ImageHashLru cache;
  ExeHasher hasher(cache);  // the real clock: the file, just written, has not settled
  const auto view = matchView(info, &hasher);
  const rules::DigestAnswer first = view->sha256();
  ASSERT_TRUE(first.digest);
  EXPECT_EQ(rules::toHex(*first.digest), kAbc);
  EXPECT_EQ(cache.size(), 0u);
  dir.write("prog", "xyz");
  const rules::DigestAnswer second = view->sha256();
  ASSERT_TRUE(second.digest);
  EXPECT_EQ(rules::toHex(*second.digest), kAbc);
}

}  // namespace
}  // namespace warden::engine
