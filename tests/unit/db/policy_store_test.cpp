#include "db/policy_store.h"

#include <gtest/gtest.h>

#include "db/log_table.h"
#include "db/store.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/db/log_rows.h"

namespace warden::db {
namespace {

using warden::testing::TempDir;

PolicyRecord samplePolicy(std::int64_t loadedAtNs = 1000) {
  PolicyRecord policy;
  policy.revision = {.loadedAtNs = loadedAtNs,
                     .configPath = "/etc/warden/warden.toml",
                     .sourcesDigest = std::string(64, 'c')};
  policy.profiles = {
      {.name = "ssh",
       .file = "/etc/warden/profiles.d/20-ssh.toml",
       .line = 1,
       .defaultAction = std::nullopt,
       .description = "OpenSSH client",
       .mode = std::nullopt},
      {.name = "curl",
       .file = "/etc/warden/profiles.d/10-curl.toml",
       .line = 3,
       .defaultAction = rules::Action::kDeny,
       .description = "HTTP client",
       .mode = std::nullopt},
  };
  policy.rules = {
      {.kind = RuleKind::kProfile,
       .profile = "curl",
       .index = 1,
       .file = "/etc/warden/profiles.d/10-curl.toml",
       .line = 17,
       .action = rules::Action::kReject,
       .summary = "reject out udp"},
      {.kind = RuleKind::kGlobal,
       .profile = "",
       .index = 0,
       .file = "/etc/warden/warden.toml",
       .line = 30,
       .action = rules::Action::kAllow,
       .summary = "allow scope=localhost"},
      {.kind = RuleKind::kProfile,
       .profile = "curl",
       .index = 0,
       .file = "/etc/warden/profiles.d/10-curl.toml",
       .line = 12,
       .action = rules::Action::kAllow,
       .summary = "allow out tcp 443"},
      {.kind = RuleKind::kProfile,
       .profile = "ssh",
       .index = 0,
       .file = "/etc/warden/profiles.d/20-ssh.toml",
       .line = 5,
       .action = rules::Action::kAllow,
       .summary = "allow out tcp 22"},
  };
  return policy;
}

class PolicyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = openStore(dir_.file("warden.db"));
    ASSERT_TRUE(db.has_value()) << db.error().message();
    db_.emplace(std::move(*db));
  }

  TempDir dir_;
  std::optional<Database> db_;
};

TEST_F(PolicyStoreTest, StoresAndLoadsARevision) {
  EXPECT_EQ(latestRevision(*db_).value(), std::nullopt);
  auto id = storeRevision(*db_, samplePolicy());
  ASSERT_TRUE(id.has_value()) << id.error().message();
  EXPECT_GT(*id, 0);

  auto latest = latestRevision(*db_);
  ASSERT_TRUE(latest.has_value() && latest->has_value());
  EXPECT_EQ((*latest)->id, *id);
  EXPECT_EQ((*latest)->configPath, "/etc/warden/warden.toml");
  EXPECT_EQ((*latest)->sourcesDigest, std::string(64, 'c'));

  auto loaded = loadRevision(*db_, *id);
  ASSERT_TRUE(loaded.has_value() && loaded->has_value()) << loaded.error().message();
  const PolicyRecord& policy = **loaded;
  EXPECT_EQ(policy.revision.loadedAtNs, 1000);
  ASSERT_EQ(policy.profiles.size(), 2u);
  EXPECT_EQ(policy.profiles[0].name, "ssh");  // load order kept
  EXPECT_EQ(policy.profiles[0].defaultAction, std::nullopt);
  EXPECT_EQ(policy.profiles[1].name, "curl");
  EXPECT_EQ(policy.profiles[1].defaultAction, rules::Action::kDeny);
  EXPECT_EQ(policy.profiles[1].line, 3);
  // Global rules first, then by profile load order, then rule order.
  ASSERT_EQ(policy.rules.size(), 4u);
  EXPECT_EQ(policy.rules[0].kind, RuleKind::kGlobal);
  EXPECT_EQ(policy.rules[1].profile, "ssh");
  EXPECT_EQ(policy.rules[2].profile, "curl");
  EXPECT_EQ(policy.rules[2].index, 0);
  EXPECT_EQ(policy.rules[3].index, 1);
  EXPECT_EQ(policy.rules[3].action, rules::Action::kReject);
  EXPECT_EQ(policy.rules[3].line, 17);

  EXPECT_EQ(loadRevision(*db_, *id + 100).value(), std::nullopt);
}

TEST_F(PolicyStoreTest, FindsTheRuleALogRowNames) {
  const std::int64_t id = storeRevision(*db_, samplePolicy()).value();
  auto rule = findRule(*db_, id, RuleKind::kProfile, "curl", 1);
  ASSERT_TRUE(rule.has_value() && rule->has_value());
  EXPECT_EQ((*rule)->file, "/etc/warden/profiles.d/10-curl.toml");
  EXPECT_EQ((*rule)->line, 17);
  EXPECT_EQ((*rule)->summary, "reject out udp");

  // The profile argument does not matter for global rules.
  auto global = findRule(*db_, id, RuleKind::kGlobal, "curl", 0);
  ASSERT_TRUE(global.has_value() && global->has_value());
  EXPECT_EQ((*global)->line, 30);

  EXPECT_EQ(findRule(*db_, id, RuleKind::kProfile, "curl", 7).value(), std::nullopt);
  EXPECT_EQ(findRule(*db_, id + 1, RuleKind::kProfile, "curl", 0).value(), std::nullopt);
}

TEST_F(PolicyStoreTest, RevisionsIncreaseAndAFailedStoreLeavesNothing) {
  const std::int64_t first = storeRevision(*db_, samplePolicy()).value();
  const std::int64_t second = storeRevision(*db_, samplePolicy(2000)).value();
  EXPECT_GT(second, first);

  PolicyRecord broken = samplePolicy(3000);
  broken.rules.push_back(broken.rules.front());  // duplicate primary key
  auto failed = storeRevision(*db_, broken);
  ASSERT_FALSE(failed.has_value());
  EXPECT_NE(failed.error().message().find("UNIQUE"), std::string::npos) << failed.error().message();
  EXPECT_EQ(latestRevision(*db_).value()->id, second);
  EXPECT_EQ(db_->queryInt("SELECT count(*) FROM policy_rule").value(), 8);
}

TEST_F(PolicyStoreTest, PrunesRevisionsNoRowUses) {
  const std::int64_t r1 = storeRevision(*db_, samplePolicy(1)).value();
  const std::int64_t r2 = storeRevision(*db_, samplePolicy(2)).value();
  const std::int64_t r3 = storeRevision(*db_, samplePolicy(3)).value();
  const std::int64_t r4 = storeRevision(*db_, samplePolicy(4)).value();

  auto inserter = LogInserter::create(*db_);
  ASSERT_TRUE(inserter.has_value());
  LogRow row = testing::sampleRow(5000);
  row.revision = r2;
  ASSERT_TRUE(inserter->insert(row).has_value());
  row.timeNs = 6000;
  row.revision = r3;
  ASSERT_TRUE(inserter->insert(row).has_value());

  EXPECT_EQ(pruneRevisions(*db_).value(), 1);  // r1 only
  EXPECT_EQ(loadRevision(*db_, r1).value(), std::nullopt);
  EXPECT_NE(loadRevision(*db_, r2).value(), std::nullopt);
  EXPECT_NE(loadRevision(*db_, r4).value(), std::nullopt);
  // Rules went with their revision (foreign key cascade).
  EXPECT_EQ(db_->queryInt("SELECT count(*) FROM policy_rule WHERE revision = " + std::to_string(r1))
                .value(),
            0);

  ASSERT_TRUE(db_->exec("DELETE FROM verdict_log", "empty the log").has_value());
  EXPECT_EQ(pruneRevisions(*db_).value(), 2);  // all but the latest
  EXPECT_EQ(latestRevision(*db_).value()->id, r4);
  EXPECT_EQ(db_->queryInt("SELECT count(*) FROM policy_revision").value(), 1);
}

}  // namespace
}  // namespace warden::db
