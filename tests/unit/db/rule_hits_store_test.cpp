#include "db/rule_hits_store.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "db/policy_store.h"
#include "db/store.h"
#include "tests/support/temp_dir.h"

namespace warden::db {
namespace {

using warden::testing::TempDir;

TEST(RuleHitsStore, SavedCountsReplaceTheStoredOnesAndZerosAreLeftOut) {
  TempDir dir;
  auto db = openStore(dir.file("warden.db"));
  ASSERT_TRUE(db.has_value()) << db.error().message();
  EXPECT_TRUE(loadRuleHits(*db).value().empty());
  ASSERT_TRUE(saveRuleHits(*db, {{"", "deny out ports=7001", 3, 30},
                                 {"curl", "allow out ports=443", 5, 50},
                                 {"curl", "default=deny", 0, 0}})
                  .has_value());
  auto loaded = loadRuleHits(*db).value();
  ASSERT_EQ(loaded.size(), 2u);
  std::ranges::sort(loaded, {}, &StoredHits::rule);
  EXPECT_EQ(loaded[0].rule, "allow out ports=443");
  EXPECT_EQ(loaded[0].profile, "curl");
  EXPECT_EQ(loaded[0].hits, 5);
  EXPECT_EQ(loaded[0].lastNs, 50);
  EXPECT_EQ(loaded[1].profile, "");
  // A rule gone from the policy is forgotten at the next save.
  ASSERT_TRUE(saveRuleHits(*db, {{"curl", "allow out ports=443", 6, 60}}).has_value());
  loaded = loadRuleHits(*db).value();
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].hits, 6);
}

TEST(RuleHitsStore, AProfilesModeIsStoredWithTheRevision) {
  TempDir dir;
  auto db = openStore(dir.file("warden.db"));
  ASSERT_TRUE(db.has_value()) << db.error().message();
  PolicyRecord record;
  record.revision = {0, 1, "/t/warden.toml", "digest"};
  record.profiles = {{"a", "/t/a.toml", 1, std::nullopt, "", rules::Mode::kLearn},
                     {"b", "/t/b.toml", 1, std::nullopt, "", std::nullopt}};
  const auto id = storeRevision(*db, record);
  ASSERT_TRUE(id.has_value()) << id.error().message();
  const auto loaded = loadRevision(*db, *id).value();
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->profiles[0].mode, rules::Mode::kLearn);
  EXPECT_FALSE(loaded->profiles[1].mode.has_value());
}

}  // namespace
}  // namespace warden::db
