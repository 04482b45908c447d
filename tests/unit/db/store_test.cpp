#include "db/store.h"

#include <gtest/gtest.h>

#include <fstream>

#include "db/migrations.h"
#include "tests/support/temp_dir.h"

namespace warden::db {
namespace {

using warden::testing::TempDir;

TEST(Store, CreatesSchemaFromEmpty) {
  TempDir dir;
  auto db = openStore(dir.file("warden.db"));
  ASSERT_TRUE(db.has_value()) << db.error().message();
  EXPECT_EQ(schemaVersion(*db).value(), kSchemaVersion);
  for (const char* table :
       {"policy_revision", "policy_profile", "policy_rule", "verdict_log", "exe_hash"}) {
    auto count = db->queryInt(std::string("SELECT count(*) FROM sqlite_schema WHERE name = '") +
                              table + "'");
    ASSERT_TRUE(count.has_value()) << count.error().message();
    EXPECT_EQ(*count, 1) << table;
  }
  auto journal = db->prepare("PRAGMA journal_mode");
  ASSERT_TRUE(journal.has_value());
  ASSERT_TRUE(journal->step().value());
  EXPECT_EQ(journal->columnText(0), "wal");
  EXPECT_EQ(db->queryInt("PRAGMA foreign_keys").value(), 1);
  EXPECT_EQ(db->queryInt("PRAGMA synchronous").value(), 1);  // NORMAL
}

TEST(Store, ReopenIsIdempotent) {
  TempDir dir;
  {
    auto db = openStore(dir.file("warden.db"));
    ASSERT_TRUE(db.has_value()) << db.error().message();
    ASSERT_TRUE(
        db->exec("INSERT INTO exe_hash VALUES (1, 2, 3, 4, 5, '" + std::string(64, 'a') + "', 6)",
                 "seed")
            .has_value());
  }
  auto again = openStore(dir.file("warden.db"));
  ASSERT_TRUE(again.has_value()) << again.error().message();
  EXPECT_EQ(schemaVersion(*again).value(), kSchemaVersion);
  EXPECT_EQ(again->queryInt("SELECT count(*) FROM exe_hash").value(), 1);
}

// A version-1 database (as earlier releases left it) gets the version-2 index by action.
TEST(Store, MigratesVersionOneIndexByAction) {
  TempDir dir;
  {
    auto db = openStore(dir.file("warden.db"));
    ASSERT_TRUE(db.has_value()) << db.error().message();
    ASSERT_TRUE(db->exec("DROP INDEX verdict_log_refused; "
                         "CREATE INDEX verdict_log_action ON verdict_log (action, time_ns); "
                         "DROP TABLE rule_hits; ALTER TABLE policy_profile DROP COLUMN mode; "
                         "ALTER TABLE verdict_log DROP COLUMN tags; "
                         "PRAGMA user_version = 1",
                         "back to version 1")
                    .has_value());
  }
  auto db = openStore(dir.file("warden.db"));
  ASSERT_TRUE(db.has_value()) << db.error().message();
  EXPECT_EQ(schemaVersion(*db).value(), kSchemaVersion);
  const auto indexes = [&](const char* name) {
    return db
        ->queryInt(std::string("SELECT count(*) FROM sqlite_schema WHERE name = '") + name + "'")
        .value();
  };
  EXPECT_EQ(indexes("verdict_log_action"), 0);
  EXPECT_EQ(indexes("verdict_log_refused"), 1);
  EXPECT_EQ(indexes("rule_hits"), 1);  // version 3
  EXPECT_EQ(db->queryInt("PRAGMA page_size").value(), 16384);
  // Version 4: the tags column, NULL in rows written before it.
  EXPECT_EQ(db->queryInt("SELECT count(*) FROM pragma_table_info('verdict_log') "
                         "WHERE name = 'tags'")
                .value(),
            1);
}

TEST(Store, RefusesNewerSchemaUntouched) {
  TempDir dir;
  {
    auto db = Database::open(dir.file("warden.db"));
    ASSERT_TRUE(db.has_value());
    ASSERT_TRUE(db->exec("CREATE TABLE future (x); PRAGMA user_version = 99", "seed").has_value());
  }
  for (Access access : {Access::kReadWrite, Access::kReadOnly}) {
    auto db = openStore(dir.file("warden.db"), {.access = access});
    ASSERT_FALSE(db.has_value());
    EXPECT_NE(db.error().message().find(dir.file("warden.db").string()), std::string::npos)
        << db.error().message();
    EXPECT_NE(db.error().message().find("99"), std::string::npos) << db.error().message();
    EXPECT_NE(db.error().message().find("newer"), std::string::npos) << db.error().message();
  }
  auto raw = Database::open(dir.file("warden.db"));
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(schemaVersion(*raw).value(), 99);
  EXPECT_EQ(raw->queryInt("SELECT count(*) FROM sqlite_schema WHERE name = 'verdict_log'").value(),
            0);
}

TEST(Store, RefusesForeignDatabase) {
  TempDir dir;
  {
    auto db = Database::open(dir.file("other.db"));
    ASSERT_TRUE(db.has_value());
    ASSERT_TRUE(db->exec("CREATE TABLE mine (x)", "seed").has_value());
  }
  auto db = openStore(dir.file("other.db"));
  ASSERT_FALSE(db.has_value());
  EXPECT_NE(db.error().message().find("not a warden database"), std::string::npos)
      << db.error().message();
}

TEST(Store, ReadOnlyNeedsAnExistingInitializedFile) {
  TempDir dir;
  auto missing = openStore(dir.file("missing.db"), {.access = Access::kReadOnly});
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message().find("missing.db"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.file("missing.db")));

  ASSERT_TRUE(openStore(dir.file("warden.db")).has_value());
  auto reader = openStore(dir.file("warden.db"), {.access = Access::kReadOnly});
  ASSERT_TRUE(reader.has_value()) << reader.error().message();
  auto write = reader->exec("DELETE FROM verdict_log", "try to write");
  ASSERT_FALSE(write.has_value());
  EXPECT_NE(write.error().message().find("readonly"), std::string::npos) << write.error().message();
}

TEST(Store, ErrorNamesPathAndSqliteReason) {
  TempDir dir;
  {
    std::ofstream garbage(dir.file("garbage.db"));
    garbage << std::string(4096, 'x');
  }
  auto db = openStore(dir.file("garbage.db"));
  ASSERT_FALSE(db.has_value());
  EXPECT_NE(db.error().message().find(dir.file("garbage.db").string()), std::string::npos)
      << db.error().message();
  EXPECT_NE(db.error().message().find("SQLITE_NOTADB"), std::string::npos) << db.error().message();

  auto good = openStore(dir.file("warden.db"));
  ASSERT_TRUE(good.has_value());
  auto bad = good->prepare("SELECT nope FROM verdict_log");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("no such column: nope"), std::string::npos)
      << bad.error().message();
  EXPECT_NE(bad.error().message().find("warden.db"), std::string::npos) << bad.error().message();
}

}  // namespace
}  // namespace warden::db
