#include "cli/policy_view.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include <fstream>
#include <sstream>

#include "cli/policy_in_force.h"
#include "cli/profiles_command.h"
#include "cli/rules_command.h"
#include "rules/policy.h"
#include "tests/support/temp_dir.h"

namespace warden::cli {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kNow = 1'777'636'800 * kSecond;  // 2026-05-01T12:00:00Z

// A stored revision as wardend writes it: rules grouped by kind and profile, not in order.
db::PolicyRecord sampleRecord() {
  db::PolicyRecord record;
  record.revision = {7, kNow - 60 * kSecond, "/etc/warden/warden.toml", "digest"};
  record.profiles = {
      {"firefox", "/etc/warden/profiles.d/10-browser.toml", 3, rules::Action::kDeny, "browser",
       rules::Mode::kLearn},
      {"curl", "/etc/warden/profiles.d/20-http.toml", 1, std::nullopt, "", std::nullopt},
  };
  using db::RuleKind;
  record.rules = {
      {RuleKind::kGlobal, "", 1, "/etc/warden/warden.toml", 40, rules::Action::kDeny,
       "deny out tcp ports=25"},
      {RuleKind::kGlobal, "", 0, "/etc/warden/warden.toml", 31, rules::Action::kAllow,
       "allow out scope=localhost"},
      {RuleKind::kProfile, "firefox", 0, "/etc/warden/profiles.d/10-browser.toml", 9,
       rules::Action::kAllow, "allow out tcp ports=443"},
  };
  return record;
}

class PolicyViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC0", 1);
    tzset();
  }
};

TEST_F(PolicyViewTest, RevisionGroupsRulesByProfileInIndexOrder) {
  const PolicyView view = viewOfRevision(sampleRecord());
  EXPECT_EQ(view.source, PolicyView::Source::kRevision);
  EXPECT_EQ(view.revision, 7);
  ASSERT_EQ(view.globalRules.size(), 2u);
  EXPECT_EQ(view.globalRules[0].text, "allow out scope=localhost");
  EXPECT_EQ(view.globalRules[1].line, 40);
  ASSERT_EQ(view.profiles.size(), 2u);
  EXPECT_EQ(view.profiles[0].name, "firefox");
  ASSERT_EQ(view.profiles[0].rules.size(), 1u);
  EXPECT_TRUE(view.profiles[1].rules.empty());
  EXPECT_FALSE(view.profiles[0].matches.has_value());  // revisions do not keep them
  EXPECT_FALSE(view.engineDefault.has_value());
  EXPECT_EQ(view.findProfile("curl"), &view.profiles[1]);
  EXPECT_EQ(view.findProfile("nope"), nullptr);
}

TEST_F(PolicyViewTest, RulesListedInCheckingOrderWithWhatHappensOtherwise) {
  PolicyView view = viewOfRevision(sampleRecord());
  std::ostringstream out;
  ASSERT_TRUE(printRules(view, std::nullopt, RulesOptions{kNow}, out).has_value());
  EXPECT_EQ(out.str(),
            "policy revision 7 in force, loaded 2026-05-01 11:59:00 (1m 00s ago)\n"
            "\n"
            "global rules (warden.toml), checked first for every flow:\n"
            "  #  RULE                       HITS  LAST  SOURCE\n"
            "  0  allow out scope=localhost     -  -     warden.toml:31\n"
            "  1  deny out tcp ports=25         -  -     warden.toml:40\n"
            "\n"
            "profile firefox (10-browser.toml:3): browser [learn mode: its flows are accepted]\n"
            "  #  RULE                     HITS  LAST  SOURCE\n"
            "  0  allow out tcp ports=443     -  -     10-browser.toml:9\n"
            "  otherwise: deny (profile default)\n"
            "\n"
            "profile curl (20-http.toml:1)\n"
            "  (no rules)\n"
            "  otherwise: the [engine] default\n"
            "\n"
            "a process no profile matches: the [engine] default\n");
}

TEST_F(PolicyViewTest, OneProfilesRulesOrAClearErrorForAnUnknownOne) {
  PolicyView view = viewOfRevision(sampleRecord());
  view.engineDefault = rules::Action::kReject;
  std::ostringstream out;
  ASSERT_TRUE(printRules(view, "curl", RulesOptions{kNow}, out).has_value());
  EXPECT_NE(out.str().find("otherwise: reject ([engine] default)"), std::string::npos);
  EXPECT_NE(out.str().find("2 global rules are checked before these"), std::string::npos);
  EXPECT_EQ(out.str().find("firefox"), std::string::npos);
  auto missing = printRules(view, "thunderbird", RulesOptions{kNow}, out);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ExitCode::kError);
  EXPECT_NE(missing.error().message.find("no profile 'thunderbird'"), std::string::npos);
  EXPECT_NE(missing.error().message.find("(profiles: firefox, curl)"), std::string::npos);
}

TEST_F(PolicyViewTest, ProfilesTableShowsMatchesOnlyWhenKnown) {
  PolicyView view = viewOfRevision(sampleRecord());
  std::ostringstream without;
  printProfiles(view, kNow, without);
  EXPECT_EQ(without.str().find("MATCH"), std::string::npos);
  EXPECT_NE(without.str().find("PROFILE  MODE    DEFAULT  RULES  SOURCE             DESCRIPTION"),
            std::string::npos)
      << without.str();
  EXPECT_NE(without.str().find("firefox  learn   deny         1"), std::string::npos)
      << without.str();
  EXPECT_NE(without.str().find("curl     engine  engine       0  20-http.toml:1"),
            std::string::npos)
      << without.str();

  view.engineDefault = rules::Action::kAllow;
  view.profiles[0].matches =
      std::vector<std::string>{"path=/usr/bin/firefox", "path_glob=/opt/firefox/*"};
  view.profiles[1].matches = std::vector<std::string>{};
  std::ostringstream with;
  printProfiles(view, kNow, with);
  EXPECT_NE(with.str().find("path=/usr/bin/firefox | path_glob=/opt/firefox/*"), std::string::npos)
      << with.str();
  EXPECT_NE(with.str().find("engine (allow)"), std::string::npos);
  EXPECT_NE(with.str().find("(no [[match]]: never selected)"), std::string::npos);
}

TEST_F(PolicyViewTest, JsonForScripts) {
  PolicyView view = viewOfRevision(sampleRecord());
  const auto withRules = policyJson(view, true);
  EXPECT_EQ(withRules["source"], "revision");
  EXPECT_EQ(withRules["revision"], 7);
  EXPECT_EQ(withRules["global_rules"][0], (nlohmann::json{{"index", 0},
                                                          {"file", "/etc/warden/warden.toml"},
                                                          {"line", 31},
                                                          {"rule", "allow out scope=localhost"},
                                                          {"hits", nullptr},
                                                          {"last_ns", nullptr}}));
  EXPECT_EQ(withRules["profiles"][0]["default"], "deny");
  EXPECT_TRUE(withRules["profiles"][1]["default"].is_null());
  EXPECT_TRUE(withRules["profiles"][0]["matches"].is_null());
  EXPECT_EQ(withRules["profiles"][0]["rules"].size(), 1u);
  const auto countsOnly = policyJson(view, false);
  EXPECT_FALSE(countsOnly.contains("global_rules"));
  EXPECT_EQ(countsOnly["profiles"][0]["rule_count"], 1);
}

// Files written by the test: warden.toml and one profile, in a fresh directory.
class PolicyFilesView : public PolicyViewTest {
 protected:
  void SetUp() override {
    PolicyViewTest::SetUp();
    std::filesystem::create_directory(dir_.file("profiles.d"));
    write("warden.toml",
          "[engine]\ndefault = \"reject\"\n[log]\ndb = \"warden.db\"\n[profiles]\n"
          "dir = \"profiles.d\"\n[control]\nsocket = \"control.sock\"\n"
          "[[rule]]\naction = \"allow\"\nscope = \"localhost\"\n");
    write("profiles.d/10-curl.toml",
          "name = \"curl\"\n[[match]]\npath = \"/usr/bin/curl\"\nuser = \"alice\"\n"
          "[[match]]\npath_glob = \"/opt/curl*/bin/curl\"\n"
          "[[rule]]\naction = \"allow\"\nproto = \"tcp\"\nports = [443]\n");
    // Policy files writable by others are refused; the test's umask must not decide.
    chmod(dir_.file("profiles.d").c_str(), 0755);
  }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_.file(name)) << text;
    chmod(dir_.file(name).c_str(), 0644);
  }
  static void setModified(const std::filesystem::path& path, std::int64_t ns) {
    const timespec times[2] = {{ns / kSecond, ns % kSecond}, {ns / kSecond, ns % kSecond}};
    utimensat(AT_FDCWD, path.c_str(), times, 0);
  }
  void setAllModified(std::int64_t ns) {
    for (const char* name : {"warden.toml", "profiles.d", "profiles.d/10-curl.toml"}) {
      setModified(dir_.file(name), ns);
    }
  }
  warden::testing::TempDir dir_;
};

TEST_F(PolicyFilesView, FilesViewHasMatchesAndTheEngineDefault) {
  auto policy = rules::loadPolicy(dir_.file("warden.toml"));
  ASSERT_TRUE(policy.has_value()) << policy.error().front().format();
  const PolicyView view = viewOfFiles(*policy);
  EXPECT_EQ(view.source, PolicyView::Source::kFiles);
  EXPECT_EQ(view.engineDefault, rules::Action::kReject);
  ASSERT_EQ(view.globalRules.size(), 1u);
  EXPECT_EQ(view.globalRules[0].text, "allow out scope=localhost");
  ASSERT_EQ(view.profiles.size(), 1u);
  ASSERT_TRUE(view.profiles[0].matches.has_value());
  EXPECT_EQ(*view.profiles[0].matches, (std::vector<std::string>{"path=/usr/bin/curl user=alice",
                                                                 "path_glob=/opt/curl*/bin/curl"}));
  EXPECT_EQ(view.profiles[0].rules[0].text, "allow out tcp ports=443");
  EXPECT_EQ(describeSource(view, kNow),
            "policy files of " + dir_.file("warden.toml").string() + " (not a running policy)");
}

TEST_F(PolicyFilesView, UnchangedSinceSeesEditsAddsAndRemovals) {
  auto config = rules::loadConfig(dir_.file("warden.toml"));
  ASSERT_TRUE(config.has_value());
  setAllModified(kNow - 100 * kSecond);
  EXPECT_TRUE(filesUnchangedSince(*config, kNow - 50 * kSecond));
  EXPECT_FALSE(filesUnchangedSince(*config, kNow - 150 * kSecond));

  setModified(dir_.file("profiles.d/10-curl.toml"), kNow);  // a profile edited in place
  EXPECT_FALSE(filesUnchangedSince(*config, kNow - 50 * kSecond));
  setAllModified(kNow - 100 * kSecond);
  setModified(dir_.file("profiles.d"), kNow);  // a file added, removed or renamed
  EXPECT_FALSE(filesUnchangedSince(*config, kNow - 50 * kSecond));
  setAllModified(kNow - 100 * kSecond);
  setModified(dir_.file("warden.toml"), kNow);
  EXPECT_FALSE(filesUnchangedSince(*config, kNow - 50 * kSecond));
}

}  // namespace
}  // namespace warden::cli
