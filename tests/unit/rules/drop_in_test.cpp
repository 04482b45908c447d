#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>

#include "rules/compiled_policy.h"
#include "rules/policy_loader.h"
#include "rules/profile_codec.h"
#include "tests/support/temp_dir.h"

namespace warden::rules {
namespace {

using std::chrono::sys_days;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using warden::testing::TempDir;
using namespace std::chrono_literals;

// 2026-12-03T22:00:00Z
constexpr sys_days kDay{std::chrono::year(2026) / 12 / 3};
const std::chrono::sys_seconds kNow = kDay + 22h;

class DropIns : public ::testing::Test {
 protected:
  DropIns() {
    config_ = dir_.write("warden.toml", "[profiles]\ndir = \"profiles.d\"\n");
    std::filesystem::create_directory(dir_.path() / "profiles.d");
    ::chmod((dir_.path() / "profiles.d").c_str(), 0755);
    loader_.setClock([this] { return now_; });
  }

  void file(std::string_view name, std::string_view text) {
    dir_.write(std::filesystem::path("profiles.d") / name, text);
  }

  std::expected<Policy, Diagnostics> load(Diagnostics* warnings = nullptr) {
    return loader_.load(config_, warnings);
  }

  static std::vector<std::string> rulesOf(const Policy& policy, std::string_view name) {
    std::vector<std::string> out;
    for (const Profile& p : policy.profiles) {
      if (p.name != name) continue;
      for (const Rule& r : p.rules) {
        out.push_back(std::filesystem::path(r.where.file).filename().string() + ":" +
                      std::to_string(r.where.line) + " " + r.comment);
      }
    }
    return out;
  }

  std::vector<std::string> errors() {
    auto policy = load();
    EXPECT_FALSE(policy);
    std::vector<std::string> out;
    if (policy) return out;
    for (Diagnostic d : policy.error()) {
      d.where.file = std::filesystem::path(d.where.file).filename().string();
      out.push_back(d.format());
    }
    return out;
  }

  TempDir dir_;
  std::filesystem::path config_;
  PolicyLoader loader_;
  std::chrono::sys_seconds now_ = kNow;
};

constexpr std::string_view kCurl =
    "name = 'curl'\ndefault = 'deny'\n[[match]]\npath = '/usr/bin/curl'\n"
    "[[rule]]\naction = 'deny'\ncomment = 'own'\n";

TEST_F(DropIns, RulesGoBeforeTheProfilesOwnInFileNameOrder) {
  file("curl.toml", kCurl);
  file("curl.zz.toml", "extends = 'curl'\n[[rule]]\naction = 'allow'\ncomment = 'zz'\n");
  file("curl.local.toml",
       "# Managed by warden\nextends = 'curl'\n\n[[rule]]\naction = 'allow'\ncomment = 'l1'\n"
       "[[rule]]\naction = 'reject'\ncomment = 'l2'\n");
  Diagnostics warnings;
  auto policy = load(&warnings);
  ASSERT_TRUE(policy) << policy.error().front().format();
  EXPECT_THAT(rulesOf(*policy, "curl"), ElementsAre("curl.local.toml:4 l1", "curl.local.toml:7 l2",
                                                    "curl.zz.toml:2 zz", "curl.toml:5 own"));
  // The decision names the drop-in's file and line.
  auto compiled = CompiledPolicy::compile(*policy);
  ASSERT_TRUE(compiled);
  ProcessInfo process;
  process.path = "/usr/bin/curl";
  Flow flow;
  flow.ipProto = 6;
  const Decision decision = (*compiled)->decide(Subject::process(process), flow);
  EXPECT_EQ(decision.action, Action::kAllow);
  EXPECT_EQ(std::filesystem::path(decision.file).filename(), "curl.local.toml");
  EXPECT_EQ(decision.line, 4);
}

TEST_F(DropIns, ADropInForAMissingProfileIsAnErrorAtExtends) {
  file("curl.local.toml", "extends = 'crul'\n[[rule]]\naction = 'allow'\n");
  EXPECT_THAT(errors(), ElementsAre("curl.local.toml:1:11: error: drop-in extends profile 'crul', "
                                    "which does not exist"));
}

TEST_F(DropIns, ADropInCannotDefineAProfile) {
  file("curl.toml", kCurl);
  file("curl.local.toml",
       "extends = 'curl'\ndefault = 'allow'\n[[match]]\npath = '/x'\n[[rule]]\naction = 'allow'\n");
  const auto found = errors();
  ASSERT_EQ(found.size(), 2u);
  EXPECT_THAT(found[0], HasSubstr("curl.local.toml:2:1: error: 'default' is not allowed in a "
                                  "drop-in"));
  EXPECT_THAT(found[1], HasSubstr("curl.local.toml:3:3: error: 'match' is not allowed"));
}

TEST_F(DropIns, ExpiredRulesAreLeftOutAndTheNextExpiryIsKnown) {
  file("curl.toml", kCurl);
  file("curl.local.toml",
       "# Managed by warden\nextends = 'curl'\n"
       "[[rule]]\naction = 'allow'\ncomment = 'past'\nexpires = 2026-12-03T21:59:59Z\n"
       "[[rule]]\naction = 'allow'\ncomment = 'now'\nexpires = 2026-12-03T23:00:00+01:00\n"
       "[[rule]]\naction = 'allow'\ncomment = 'later'\nexpires = 2026-12-03T22:10:00Z\n"
       "[[rule]]\naction = 'allow'\ncomment = 'soon'\nexpires = 2026-12-03T22:05:00Z\n");
  Diagnostics warnings;
  auto policy = load(&warnings);
  ASSERT_TRUE(policy) << policy.error().front().format();
  EXPECT_THAT(rulesOf(*policy, "curl"), ElementsAre("curl.local.toml:11 later",
                                                    "curl.local.toml:15 soon", "curl.toml:5 own"));
  ASSERT_EQ(policy->expired.size(), 2u);
  EXPECT_EQ(policy->expired[0].where.line, 3);
  EXPECT_TRUE(policy->expired[0].managed);
  EXPECT_EQ(policy->nextExpiry, kDay + 22h + 5min);
  // Expired rules of warden's own files go without a word (wardend removes them).
  for (const auto& w : warnings) EXPECT_THAT(w.message, ::testing::Not(HasSubstr("expired")));

  now_ = kDay + 22h + 5min;  // the instant itself: expired
  policy = load();
  ASSERT_TRUE(policy);
  EXPECT_THAT(rulesOf(*policy, "curl"), ElementsAre("curl.local.toml:11 later", "curl.toml:5 own"));
  EXPECT_EQ(policy->nextExpiry, kDay + 22h + 10min);
}

TEST_F(DropIns, AnExpiredRuleInAPersonsFileIsIgnoredWithAWarning) {
  file("curl.toml",
       "name = 'curl'\n[[match]]\npath = '/usr/bin/curl'\n"
       "[[rule]]\naction = 'allow'\nexpires = 2026-12-01T00:00:00Z\n");
  Diagnostics warnings;
  auto policy = load(&warnings);
  ASSERT_TRUE(policy);
  EXPECT_THAT(policy->profiles[0].rules, IsEmpty());
  ASSERT_EQ(policy->expired.size(), 1u);
  EXPECT_FALSE(policy->expired[0].managed);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0].format(),
              HasSubstr(":4:1: warning: rule expired at 2026-12-01T00:00:00Z and is ignored"));
}

TEST_F(DropIns, ExpiresNeedsATimeZone) {
  file("curl.toml",
       "name = 'curl'\n[[match]]\npath = '/usr/bin/curl'\n"
       "[[rule]]\naction = 'allow'\nexpires = 2026-12-01T00:00:00\n"
       "[[rule]]\naction = 'allow'\nexpires = '10m'\n");
  EXPECT_THAT(errors(),
              ElementsAre(HasSubstr("curl.toml:6:11: error: expected a date-time with a time zone "
                                    "for 'expires' (such as 2026-12-03T22:10:00Z), got a "
                                    "date-time without one"),
                          HasSubstr("curl.toml:9:11: error: expected a date-time with a time zone "
                                    "for 'expires' (such as 2026-12-03T22:10:00Z), got string")));
}

TEST(ProfileFileCodec, RecognisesTheManagedMarkerOnTheFirstLineOnly) {
  auto managed = parseProfileFile("# Managed by warden: x\nextends = 'a'\n", "/t/a.local.toml");
  ASSERT_TRUE(managed);
  EXPECT_TRUE(managed->managed);
  ASSERT_TRUE(managed->dropIn);
  EXPECT_EQ(managed->dropIn->extends, "a");
  auto person = parseProfileFile("\n# Managed by warden\nextends = 'a'\n", "/t/a.local.toml");
  ASSERT_TRUE(person);
  EXPECT_FALSE(person->managed);
}

}  // namespace
}  // namespace warden::rules
