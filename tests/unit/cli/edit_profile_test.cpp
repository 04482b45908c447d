#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include "cli/exe_profile.h"
#include "cli/file_digest.h"
#include "cli/policy_edit.h"
#include "cli/rule_options.h"
#include "rules/config.h"
#include "rules/profile_codec.h"
#include "tests/support/temp_dir.h"

namespace warden::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using warden::testing::TempDir;

std::vector<rules::Profile> profiles(std::string_view text) {
  auto parsed = rules::parseProfiles(text, "/t/p.toml");
  EXPECT_TRUE(parsed) << parsed.error().front().format();
  return parsed ? *parsed : std::vector<rules::Profile>{};
}

constexpr std::int64_t kNowNs = 1000 * 1000000000LL - 1;  // 999.999999999 s

const auto kNoDigest = [] { return std::optional<rules::Sha256>(); };

TEST(ProfileForFile, PathBeatsGlobAsForAProcess) {
  const auto all = profiles(R"(
[[profile]]
name = "bin"
[[profile.match]]
path_glob = "/usr/bin/*"
[[profile]]
name = "curl"
[[profile.match]]
path = "/usr/bin/curl"
)");
  EXPECT_EQ(profileForFile(all, "/usr/bin/curl", kNoDigest).profile, 1u);
  EXPECT_EQ(profileForFile(all, "/usr/bin/wget", kNoDigest).profile, 0u);
  EXPECT_FALSE(profileForFile(all, "/opt/x", kNoDigest).profile);
}

TEST(ProfileForFile, KeysOfALiveProcessAreNotGuessed) {
  const auto all = profiles(R"(
[[profile]]
name = "pip"
[[profile.match]]
path = "/usr/bin/python3"
cmdline = "-m pip"
[[profile]]
name = "mine"
[[profile.match]]
path = "/usr/bin/python3"
user = "alice"
[[profile]]
name = "anyone"
[[profile.match]]
user = "bob"
)");
  const FileProfile found = profileForFile(all, "/usr/bin/python3", kNoDigest);
  EXPECT_FALSE(found.profile);
  EXPECT_THAT(found.undecidable, ElementsAre(0u, 1u));  // not "anyone": no key of the file
  EXPECT_THAT(profileForFile(all, "/usr/bin/perl", kNoDigest).undecidable, IsEmpty());
}

TEST(ProfileForFile, Sha256IsAskedOnceAndDecides) {
  const std::string hex(64, 'a');
  const auto all = profiles("name = 'pinned'\n[[match]]\npath = '/x'\nsha256 = ['" + hex + "']\n");
  int asked = 0;
  const auto same = [&] {
    ++asked;
    return rules::parseSha256(hex);
  };
  EXPECT_EQ(profileForFile(all, "/x", same).profile, 0u);
  EXPECT_EQ(asked, 1);
  EXPECT_FALSE(profileForFile(all, "/x", kNoDigest).profile);
}

TEST(ProfileForFile, NamesFromTheFileAreValidAndUnique) {
  const auto taken = [](const std::string& name) { return name == "curl" || name == "curl-2"; };
  EXPECT_EQ(profileNameFor("/usr/bin/curl", taken), "curl-3");
  EXPECT_EQ(profileNameFor("/opt/my app!", taken), "my-app-");
  EXPECT_EQ(profileNameFor("/opt/_x", taken), "app-_x");
  EXPECT_EQ(profileNameFor("/tmp/curl.local", taken), "curl-local");
  EXPECT_EQ(profileNameFor("/tmp/x.suggested", taken), "x-suggested");
}

TEST(RuleOptions, ValuesAreCheckedByTheProfileCodec) {
  RuleOptions options;
  options.action = "reject";
  options.ports = "443, 8000-8100";
  options.proto = "tcp";
  options.duration = "10m";
  auto rule = ruleFromOptions(options, kNowNs);
  ASSERT_TRUE(rule) << rule.error().message;
  EXPECT_EQ(rule->action, rules::Action::kReject);
  ASSERT_EQ(rule->ports.size(), 2u);
  EXPECT_EQ(rule->ports[1].last, 8100);
  EXPECT_EQ(rule->expires->time_since_epoch().count(), 1600);

  options.ports = "70000";
  rule = ruleFromOptions(options, kNowNs);
  ASSERT_FALSE(rule);
  EXPECT_EQ(rule.error().code, ExitCode::kUsage);
  EXPECT_EQ(rule.error().message,
            "--port: invalid port 70000 (expected 1 to 65535); nothing was changed");
  options.ports.reset();
  options.ip = {"192.0.2.0/33"};
  rule = ruleFromOptions(options, kNowNs);
  ASSERT_FALSE(rule);
  EXPECT_THAT(rule.error().message, HasSubstr("--ip: invalid CIDR '192.0.2.0/33'"));
  options.ip.clear();
  options.duration = "soon";
  EXPECT_FALSE(ruleFromOptions(options, kNowNs));
}

// applyRuleEdit on real files in a temporary directory.
class PolicyEdit : public ::testing::Test {
 protected:
  PolicyEdit() {
    configFile_ = dir_.write("warden.toml", "[profiles]\ndir = \"profiles.d\"\n");
    profilesDir_ = dir_.path() / "profiles.d";
    std::filesystem::create_directory(profilesDir_);
    ::chmod(profilesDir_.c_str(), 0755);
    exe_ = dir_.write("bin/tool", "#!/bin/sh\n");
    ::chmod(exe_.c_str(), 0755);
    config_.file = configFile_;
    config_.profilesDir = profilesDir_;
  }

  std::string read(const std::string& name) {
    std::ifstream in(profilesDir_ / name);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  rules::Rule rule(rules::Action action, std::uint16_t port) {
    rules::Rule r;
    r.action = action;
    r.proto = rules::Proto::kTcp;
    r.ports = {{port, port}};
    return r;
  }

  TempDir dir_;
  std::filesystem::path configFile_, profilesDir_, exe_;
  rules::Config config_;
};

TEST_F(PolicyEdit, AddsToTheDropInAndReplacesTheOppositeRule) {
  dir_.write("profiles.d/tool.toml", "name = 'tool'\n[[match]]\npath = '" + exe_.string() + "'\n");
  auto added = applyRuleEdit(configFile_, config_, {exe_, rule(rules::Action::kAllow, 443)});
  ASSERT_TRUE(added) << added.error().message;
  EXPECT_EQ(added->file, profilesDir_ / "tool.local.toml");
  EXPECT_EQ(added->line, 4);
  EXPECT_FALSE(added->createdProfile);
  const std::string first = read("tool.local.toml");
  EXPECT_TRUE(first.starts_with("# Managed by warden"));

  // Another port stacks; the same selectors with another action replace.
  ASSERT_TRUE(applyRuleEdit(configFile_, config_, {exe_, rule(rules::Action::kAllow, 80)}));
  auto denied = applyRuleEdit(configFile_, config_, {exe_, rule(rules::Action::kDeny, 443)});
  ASSERT_TRUE(denied) << denied.error().message;
  EXPECT_THAT(denied->replaced, ElementsAre("allow out tcp ports=443"));
  const std::string text = read("tool.local.toml");
  EXPECT_EQ(text.find("action = \"allow\"\nproto = \"tcp\"\nports = [443]"), std::string::npos);
  EXPECT_LT(text.find("ports = [443]"), text.find("ports = [80]")) << text;  // latest first
}

TEST_F(PolicyEdit, ANewProfilePinsTheFile) {
  auto added = applyRuleEdit(configFile_, config_, {exe_, rule(rules::Action::kAllow, 443)});
  ASSERT_TRUE(added) << added.error().message;
  EXPECT_TRUE(added->createdProfile);
  EXPECT_EQ(added->profile, "tool");
  const std::string text = read("tool.toml");
  EXPECT_THAT(text, HasSubstr("sha256 = [\"" + *sha256File(exe_) + "\"]"));
  auto parsed = rules::parseProfiles(text, "tool.toml");
  ASSERT_TRUE(parsed) << parsed.error().front().format();
  EXPECT_EQ(parsed->front().rules.size(), 1u);
}

// From an attack review: `warden prompt` names the file its question was about; a rule is
// written only while the path is that file and no profile matches it (a user swapped the path
// for a link to another program while the question waited, or wrote a pinned program's bytes
// into it).
TEST_F(PolicyEdit, ARuleForTheFileAQuestionWasAboutOnly) {
  struct stat st {};
  ASSERT_EQ(::stat(exe_.c_str(), &st), 0);
  RuleEdit other{exe_, rule(rules::Action::kAllow, 443)};
  other.sameFile = SameFile{st.st_dev, st.st_ino + 1};
  auto refused = applyRuleEdit(configFile_, config_, other);
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, HasSubstr("no longer the file the question was about"));
  EXPECT_FALSE(std::filesystem::exists(profilesDir_ / "tool.toml"));

  // The same file, written since the question (its ctime is later).
  const std::int64_t ctimeNs =
      static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
  RuleEdit written{exe_, rule(rules::Action::kAllow, 443)};
  written.sameFile = SameFile{st.st_dev, st.st_ino, ctimeNs - 1};
  auto stale = applyRuleEdit(configFile_, config_, written);
  ASSERT_FALSE(stale);
  EXPECT_THAT(stale.error().message, HasSubstr("replaced, moved or written since"));

  RuleEdit same{exe_, rule(rules::Action::kAllow, 443)};
  same.sameFile = SameFile{st.st_dev, st.st_ino, ctimeNs};
  ASSERT_TRUE(applyRuleEdit(configFile_, config_, same));
  // Now a profile matches it: another answer about that file is refused.
  auto again = applyRuleEdit(configFile_, config_, same);
  ASSERT_FALSE(again);
  EXPECT_THAT(again.error().message, HasSubstr("is now matched by profile 'tool'"));
}

TEST_F(PolicyEdit, APolicyErrorElsewhereWritesNothing) {
  dir_.write("profiles.d/tool.toml", "name = 'tool'\n[[match]]\npath = '" + exe_.string() + "'\n");
  dir_.write("profiles.d/zz.toml", "extends = 'tool'\n[[rule]]\naction = 'maybe'\n");
  auto added = applyRuleEdit(configFile_, config_, {exe_, rule(rules::Action::kAllow, 443)});
  ASSERT_FALSE(added);
  EXPECT_THAT(added.error().message, HasSubstr("zz.toml:3:10: error: invalid value 'maybe'"));
  EXPECT_FALSE(std::filesystem::exists(profilesDir_ / "tool.local.toml"));
}

TEST_F(PolicyEdit, AnExpiredRuleLeavesAManagedFileKeepingComments) {
  dir_.write("profiles.d/tool.toml", "name = 'tool'\n[[match]]\npath = '" + exe_.string() + "'\n");
  dir_.write("profiles.d/tool.local.toml",
             "# Managed by warden\nextends = 'tool' # mine\n\n[[rule]]\naction = 'allow'\n"
             "expires = 2000-01-01T00:00:00Z\n\n# a note\n[[rule]]\naction = 'deny'\n");
  auto added = applyRuleEdit(configFile_, config_, {exe_, rule(rules::Action::kAllow, 22)});
  ASSERT_TRUE(added) << added.error().message;
  // The new rule on top; everything else as it was (the expired rule is wardend's to remove).
  EXPECT_EQ(read("tool.local.toml"),
            "# Managed by warden\nextends = 'tool' # mine\n\n[[rule]]\naction = \"allow\"\n"
            "proto = \"tcp\"\nports = [22]\n\n[[rule]]\naction = 'allow'\n"
            "expires = 2000-01-01T00:00:00Z\n\n# a note\n[[rule]]\naction = 'deny'\n");
}

}  // namespace
}  // namespace warden::cli
