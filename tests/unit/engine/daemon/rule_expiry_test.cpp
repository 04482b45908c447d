#include "engine/daemon/rule_expiry.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>

#include "rules/policy_loader.h"
#include "tests/support/temp_dir.h"

namespace warden::engine {
namespace {

using namespace std::chrono_literals;
using warden::testing::TempDir;

const std::chrono::sys_seconds kNow = std::chrono::sys_days(std::chrono::year(2026) / 12 / 3) + 22h;

std::string read(const std::filesystem::path& file) {
  std::ifstream in(file);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(RuleExpiry, RemovesExpiredRulesFromWardensFilesOnly) {
  TempDir dir;
  const auto config = dir.write("warden.toml", "[profiles]\ndir = \"profiles.d\"\n");
  const auto profiles = dir.path() / "profiles.d";
  std::filesystem::create_directory(profiles);
  ::chmod(profiles.c_str(), 0755);
  const auto person = dir.write("profiles.d/tool.toml",
                                "name = 'tool'\n[[match]]\npath = '/x'\n"
                                "[[rule]]\naction = 'allow'\nexpires = 2026-12-03T21:00:00Z\n");
  const auto managed =
      dir.write("profiles.d/tool.local.toml",
                "# Managed by warden\nextends = 'tool'\n\n"
                "[[rule]]\naction = 'allow'\nexpires = 2026-12-03T21:59:00Z\n\n"
                "# stays\n[[rule]]\naction = 'deny'\nexpires = 2026-12-03T23:00:00Z\n");
  const std::string personText = read(person);

  rules::PolicyLoader loader;
  loader.setClock([] { return kNow; });
  auto policy = loader.load(config);
  ASSERT_TRUE(policy) << policy.error().front().format();
  ASSERT_EQ(policy->expired.size(), 2u);
  removeExpiredRules(profiles, policy->expired, kNow);

  EXPECT_EQ(read(managed),
            "# Managed by warden\nextends = 'tool'\n\n"
            "# stays\n[[rule]]\naction = 'deny'\nexpires = 2026-12-03T23:00:00Z\n");
  EXPECT_EQ(read(person), personText);
  struct stat info {};
  ASSERT_EQ(::stat(managed.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0644u);
  // Loaded again, nothing is left to remove.
  policy = loader.load(config);
  ASSERT_TRUE(policy);
  EXPECT_EQ(policy->expired.size(), 1u);  // the person's, which stays
  EXPECT_EQ(policy->nextExpiry, kNow + 1h);
}

TEST(RuleExpiry, PruneTakesExpiredRulesOutOfAPolicyInForce) {
  rules::Policy policy;
  rules::Profile profile;
  rules::Rule old, later;
  old.expires = kNow - 1s;
  later.expires = kNow + 1min;
  profile.rules = {old, later, rules::Rule{}};
  policy.profiles.push_back(profile);
  EXPECT_TRUE(pruneExpired(policy, kNow));
  EXPECT_EQ(policy.profiles[0].rules.size(), 2u);
  EXPECT_EQ(policy.nextExpiry, kNow + 1min);
  EXPECT_FALSE(pruneExpired(policy, kNow));
}

}  // namespace
}  // namespace warden::engine
