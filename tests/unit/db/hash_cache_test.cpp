#include "db/hash_cache.h"

#include <gtest/gtest.h>

#include "db/store.h"
#include "tests/support/temp_dir.h"

namespace warden::db {
namespace {

using warden::testing::TempDir;

const std::string kHashA(64, 'a');
const std::string kHashB = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";

// Rows are stored when their file had settled (seen at least this long after its last change).
constexpr std::int64_t kSettled = base::FileIdentity::kSettledAfterNs;

// A row stored in the timestamp tick of the file's last change (by a wardend before this rule)
// may name other bytes than a write in the same tick left: never found.
TEST(HashCache, ARowStoredBeforeTheFileSettledIsNotFound) {
  TempDir dir;
  auto db = openStore(dir.file("warden.db"));
  ASSERT_TRUE(db.has_value());
  auto cache = HashCache::create(*db);
  ASSERT_TRUE(cache.has_value());
  const base::FileIdentity file{
      .device = 1, .inode = 2, .size = 3, .mtimeNs = 1'000'000'000, .ctimeNs = 1'000'000'000};
  ASSERT_TRUE(cache->store(file, kHashA, file.ctimeNs + kSettled - 1).has_value());
  EXPECT_EQ(cache->lookup(file).value(), std::nullopt);
  ASSERT_TRUE(cache->store(file, kHashA, file.ctimeNs + kSettled).has_value());
  EXPECT_TRUE(cache->lookup(file).value().has_value());
}

TEST(HashCache, RoundTripsAndSurvivesReopen) {
  TempDir dir;
  const base::FileIdentity curl{.device = 0xfd01,
                                .inode = 0xffffffffffff0001,  // above INT64_MAX: stored as bits
                                .size = 260328,
                                .mtimeNs = 1700000000123456789,
                                .ctimeNs = 1700000000223456789};
  {
    auto db = openStore(dir.file("warden.db"));
    ASSERT_TRUE(db.has_value());
    auto cache = HashCache::create(*db);
    ASSERT_TRUE(cache.has_value()) << cache.error().message();
    EXPECT_EQ(cache->lookup(curl).value(), std::nullopt);
    ASSERT_TRUE(cache->store(curl, kHashB, curl.ctimeNs + kSettled).has_value());
    EXPECT_EQ(cache->lookup(curl).value(),
              "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  }
  auto db = openStore(dir.file("warden.db"));
  ASSERT_TRUE(db.has_value());
  auto cache = HashCache::create(*db);
  ASSERT_TRUE(cache.has_value());
  EXPECT_TRUE(cache->lookup(curl).value().has_value());
}

TEST(HashCache, AnyChangeOfTheFileIsAMiss) {
  TempDir dir;
  auto db = openStore(dir.file("warden.db"));
  ASSERT_TRUE(db.has_value());
  auto cache = HashCache::create(*db);
  ASSERT_TRUE(cache.has_value());
  const base::FileIdentity file{.device = 1, .inode = 2, .size = 3, .mtimeNs = 4, .ctimeNs = 5};
  ASSERT_TRUE(cache->store(file, kHashA, kSettled + 10).has_value());

  for (auto change :
       {&base::FileIdentity::size, &base::FileIdentity::mtimeNs, &base::FileIdentity::ctimeNs}) {
    base::FileIdentity other = file;
    other.*change += 1;
    EXPECT_EQ(cache->lookup(other).value(), std::nullopt);
  }
  base::FileIdentity otherInode = file;
  otherInode.inode = 3;
  EXPECT_EQ(cache->lookup(otherInode).value(), std::nullopt);

  // A new version of the same file replaces the old entry.
  base::FileIdentity rebuilt = file;
  rebuilt.mtimeNs = 40;
  ASSERT_TRUE(cache->store(rebuilt, kHashB, kSettled + 20).has_value());
  EXPECT_EQ(cache->lookup(file).value(), std::nullopt);
  EXPECT_TRUE(cache->lookup(rebuilt).value().has_value());
  EXPECT_EQ(db->queryInt("SELECT count(*) FROM exe_hash").value(), 1);
}

TEST(HashCache, RefusesWhatIsNotADigestAndPrunesOldEntries) {
  TempDir dir;
  auto db = openStore(dir.file("warden.db"));
  ASSERT_TRUE(db.has_value());
  auto cache = HashCache::create(*db);
  ASSERT_TRUE(cache.has_value());
  const base::FileIdentity file{.device = 1, .inode = 2, .size = 3, .mtimeNs = 4, .ctimeNs = 5};
  auto bad = cache->store(file, "xyz", 1);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("warden.db"), std::string::npos);
  EXPECT_FALSE(cache->store(file, std::string(64, 'g'), 1).has_value());

  ASSERT_TRUE(cache->store(file, kHashA, kSettled + 100).has_value());
  base::FileIdentity newer = file;
  newer.inode = 9;
  ASSERT_TRUE(cache->store(newer, kHashA, kSettled + 300).has_value());
  EXPECT_EQ(pruneHashes(*db, kSettled + 200).value(), 1);
  EXPECT_EQ(cache->lookup(file).value(), std::nullopt);
  EXPECT_TRUE(cache->lookup(newer).value().has_value());
}

}  // namespace
}  // namespace warden::db
