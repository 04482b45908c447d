#include "rules/policy_lint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/rules/policy_test_support.h"

namespace warden::rules {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::policyFrom;

std::vector<std::string> lint(std::string_view config, std::string_view profiles) {
  std::vector<std::string> out;
  for (const auto& d : lintPolicy(policyFrom(config, profiles))) {
    EXPECT_EQ(d.severity, Severity::kWarning);
    out.push_back(d.format());
  }
  return out;
}

Rule rule(std::string_view toml) {
  auto policy = policyFrom("[[rule]]\n" + std::string(toml), "");
  EXPECT_EQ(policy.config.globalRules.size(), 1u);
  return policy.config.globalRules.empty() ? Rule{} : policy.config.globalRules[0];
}

TEST(Covers, Keys) {
  const Rule any = rule("action = 'allow'");
  EXPECT_TRUE(covers(any, rule("action = 'deny'\nports = 22")));
  EXPECT_FALSE(covers(any, rule("action = 'deny'\ndirection = 'in'")));
  EXPECT_TRUE(
      covers(rule("action='allow'\nproto='tcp'"), rule("action='deny'\nproto='tcp'\nports=1")));
  EXPECT_FALSE(covers(rule("action='allow'\nproto='tcp'"), rule("action='deny'")));
  EXPECT_TRUE(
      covers(rule("action='allow'\nports=['1-10', '11-20']"), rule("action='deny'\nports='5-15'")));
  EXPECT_FALSE(
      covers(rule("action='allow'\nports=['1-10', '12-20']"), rule("action='deny'\nports='5-15'")));
  EXPECT_FALSE(covers(rule("action='allow'\nports=22"), rule("action='deny'")));
  EXPECT_TRUE(covers(rule("action='allow'\nip='10.0.0.0/8'"),
                     rule("action='deny'\nip=['10.1.0.0/16', '10.2.3.4']")));
  EXPECT_FALSE(covers(rule("action='allow'\nip='10.0.0.0/8'"),
                      rule("action='deny'\nip=['10.1.0.0/16', '11.2.3.4']")));
  EXPECT_FALSE(
      covers(rule("action='allow'\nip='10.0.0.0/16'"), rule("action='deny'\nip='10.0.0.0/8'")));
  EXPECT_TRUE(covers(rule("action='allow'\nscope='lan'"), rule("action='deny'\nscope='lan'")));
  EXPECT_FALSE(covers(rule("action='allow'\nscope='lan'"), rule("action='deny'")));
  EXPECT_TRUE(covers(rule("action='allow'\nhost='*.example.org'"),
                     rule("action='deny'\nhost='a.example.org'")));
  EXPECT_TRUE(covers(rule("action='allow'\nhost='*.example.org'"),
                     rule("action='deny'\nhost='*.a.example.org'")));
  EXPECT_TRUE(covers(rule("action='allow'\nhost='*.example.org'"),
                     rule("action='deny'\nhost='example.org'")));
  EXPECT_FALSE(covers(rule("action='allow'\nhost='example.org'"),
                      rule("action='deny'\nhost='*.example.org'")));
  EXPECT_FALSE(covers(rule("action='allow'\nhost='*.example.org'"),
                      rule("action='deny'\nhost='badexample.org'")));
}

TEST(Lint, ShadowedRules) {
  EXPECT_THAT(lint(R"([[rule]]
action = "allow"
proto = "tcp"
[[rule]]
action = "deny"
proto = "tcp"
ports = 22
[[rule]]
action = "deny"
proto = "udp"
)",
                   R"(name = "x"
[[match]]
path = "/x"
[[rule]]
action = "deny"
ports = "1-1024"
[[rule]]
action = "allow"
ports = 443
)"),
              ElementsAre("/t/warden.toml:4:1: warning: rule can never match: the rule at "
                          "/t/warden.toml:1:1 matches every flow it matches",
                          "/t/profiles.d/test.toml:7:1: warning: rule can never match: the rule "
                          "at /t/profiles.d/test.toml:4:1 matches every flow it matches"));
}

TEST(MayOverlap, ProvablyDisjointKeys) {
  const auto profiles = policyFrom("", R"(name = "x"
[[match]]
path = "/usr/bin/a"
[[match]]
path = "/usr/bin/b"
[[match]]
path_glob = "/usr/bin/*"
[[match]]
path_glob = "/opt/*"
[[match]]
path_glob = "/usr/lib/firefox*/firefox"
[[match]]
path_glob = "/usr/lib/apt/*"
[[match]]
user = "a"
[[match]]
user = "b"
[[match]]
env = { A = "1" }
[[match]]
env = { A = "2" }
[[match]]
env = { A = "*" }
[[match]]
tags = ["snap:a"]
[[match]]
tags = ["snap:b", "systemd:x.service"]
[[match]]
tags = ["systemd:x.service"]
)")
                            .profiles;
  ASSERT_EQ(profiles.size(), 1u);
  const auto& m = profiles[0].matches;
  EXPECT_FALSE(mayOverlap(m[0], m[1]));  // two paths
  EXPECT_TRUE(mayOverlap(m[0], m[2]));   // path inside glob
  EXPECT_FALSE(mayOverlap(m[0], m[3]));  // path outside glob
  EXPECT_FALSE(mayOverlap(m[2], m[3]));  // globs with unrelated literal prefixes
  EXPECT_FALSE(mayOverlap(m[4], m[5]));
  EXPECT_FALSE(mayOverlap(m[6], m[7]));  // users
  EXPECT_TRUE(mayOverlap(m[0], m[6]));   // different keys: a process may have both
  EXPECT_FALSE(mayOverlap(m[8], m[9]));  // env values
  EXPECT_TRUE(mayOverlap(m[8], m[10]));
  EXPECT_FALSE(mayOverlap(m[11], m[12]));  // one snap per process
  EXPECT_TRUE(mayOverlap(m[12], m[13]));
}

TEST(Lint, EqualSpecificityOverlaps) {
  EXPECT_THAT(lint("", R"(
[[profile]]
name = "a"
[[profile.match]]
path = "/usr/bin/curl"
[[profile]]
name = "b"
[[profile.match]]
path = "/usr/bin/curl"
[[profile.match]]
path = "/usr/bin/wget"
[[profile]]
name = "c"
[[profile.match]]
path_glob = "/usr/bin/*"
parent_path = "/usr/bin/bash"
[[profile]]
name = "d"
[[profile.match]]
path = "/usr/bin/curl"
user = "alice"
[[profile]]
name = "e"
[[profile.match]]
path = "/usr/bin/wget"
cmdline = "a"
[[profile.match]]
path = "/usr/bin/wget"
cmdline = "b"
)"),
              ElementsAre("/t/profiles.d/test.toml:8:1: warning: [[match]] of profile 'b' may "
                          "select the same processes as the one of profile 'a' at "
                          "/t/profiles.d/test.toml:4:1 with the same specificity (4); 'a' wins "
                          "because it is loaded first",
                          "/t/profiles.d/test.toml:14:1: warning: [[match]] of profile 'c' may "
                          "select the same processes as the one of profile 'a' at "
                          "/t/profiles.d/test.toml:4:1 with the same specificity (4); 'a' wins "
                          "because it is loaded first"));
}

TEST(Lint, CleanPolicyHasNoWarnings) {
  EXPECT_THAT(lint("[[rule]]\naction='allow'\nscope='localhost'\n", R"(
[[profile]]
name = "a"
[[profile.match]]
path = "/usr/bin/a"
[[profile.rule]]
action = "allow"
ports = 443
[[profile.rule]]
action = "deny"
[[profile]]
name = "b"
[[profile.match]]
path = "/usr/bin/b"
)"),
              IsEmpty());
}

}  // namespace
}  // namespace warden::rules
