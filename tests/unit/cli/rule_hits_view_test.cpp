// Hit counts in `warden rules`: from wardend's "hits" answer, or from the database by key.
#include "cli/rule_hits_view.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include <sstream>

#include "cli/rules_command.h"
#include "db/rule_hits_store.h"
#include "db/store.h"
#include "rules/policy.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/rules/policy_test_support.h"

namespace warden::cli {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kNow = 1'777'636'800 * kSecond;

constexpr std::string_view kProfiles = R"(
name = "curl"
default = "deny"
[[match]]
path = "/usr/bin/curl"
[[rule]]
action = "allow"
ports = 443
[[rule]]
action = "allow"
ports = 80
)";

PolicyView filesView() {
  return viewOfFiles(
      rules::testing::policyFrom("[[rule]]\naction = 'deny'\nports = 25\n", kProfiles));
}

TEST(RuleHitsView, LiveCountsAreMatchedByProfileAndIndex) {
  PolicyView view = filesView();
  view.source = PolicyView::Source::kRevision;
  view.revision = 4;
  const nlohmann::json answer = {
      {"revision", 4},
      {"hits",
       {{{"profile", ""}, {"rule", 0}, {"hits", 7}, {"last_ns", kNow - 5 * kSecond}},
        {{"profile", "curl"}, {"rule", 1}, {"hits", 2}, {"last_ns", kNow - 90 * kSecond}},
        {{"profile", "curl"}, {"rule", 0}, {"hits", 0}, {"last_ns", 0}},
        {{"profile", "curl"}, {"rule", -1}, {"hits", 1}, {"last_ns", kNow - 3600 * kSecond}}}}};
  ASSERT_TRUE(addLiveHits(view, answer));
  EXPECT_EQ(view.globalRules[0].hits->hits, 7u);
  EXPECT_EQ(view.profiles[0].rules[1].hits->hits, 2u);
  EXPECT_EQ(view.profiles[0].defaultHits->hits, 1u);

  setenv("TZ", "UTC0", 1);
  tzset();
  std::ostringstream out;
  ASSERT_TRUE(printRules(view, "curl", RulesOptions{kNow}, out).has_value());
  EXPECT_NE(out.str().find("  #  RULE                 HITS  LAST        SOURCE\n"
                           "  0  allow out ports=443     0  never       test.toml:6\n"
                           "  1  allow out ports=80      2  1m 30s ago  test.toml:9\n"
                           "  otherwise: deny (profile default), 1 hit, last 1h 00m ago\n"),
            std::string::npos)
      << out.str();
  std::ostringstream unused;
  ASSERT_TRUE(printRules(view, "curl", RulesOptions{kNow, true}, unused).has_value());
  EXPECT_NE(unused.str().find("ports=443"), std::string::npos) << unused.str();
  EXPECT_EQ(unused.str().find("ports=80 "), std::string::npos) << unused.str();
  EXPECT_EQ(unused.str().find("otherwise"), std::string::npos) << unused.str();

  const auto json = policyJson(view, true);
  EXPECT_EQ(json["profiles"][0]["rules"][1]["hits"], 2);
  EXPECT_EQ(json["profiles"][0]["rules"][0]["last_ns"], nullptr);
  EXPECT_EQ(json["profiles"][0]["default_hits"], 1);

  // An answer for another revision (a reload in between) is not applied.
  PolicyView other = filesView();
  other.revision = 5;
  EXPECT_FALSE(addLiveHits(other, answer));
}

TEST(RuleHitsView, StoredCountsAreMatchedByKey) {
  warden::testing::TempDir dir;
  auto db = db::openStore(dir.file("warden.db"));
  ASSERT_TRUE(db.has_value()) << db.error().message();
  ASSERT_TRUE(db::saveRuleHits(*db, {{"curl", "allow out ports=80", 4, 40},
                                     {"curl", "default=deny", 2, 20},
                                     {"curl", "allow out ports=8080", 9, 90}})
                  .has_value());
  PolicyView view = filesView();
  addStoredHits(view, *db);
  ASSERT_TRUE(view.hitsKnown);
  EXPECT_EQ(view.globalRules[0].hits->hits, 0u);
  EXPECT_EQ(view.profiles[0].rules[0].hits->hits, 0u);
  EXPECT_EQ(view.profiles[0].rules[1].hits->hits, 4u);
  EXPECT_EQ(view.profiles[0].rules[1].hits->lastNs, 40);
  EXPECT_EQ(view.profiles[0].defaultHits->hits, 2u);
}

}  // namespace
}  // namespace warden::cli
