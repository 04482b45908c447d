// Per-profile mode (SPEC section 4, last paragraph): a profile in learn mode has its flows
// decided and logged but accepted, while the rest of the policy stays enforced.
#include <gtest/gtest.h>

#include "rules/compiled_policy.h"
#include "rules/profile_codec.h"
#include "tests/unit/rules/policy_test_support.h"

namespace warden::rules {
namespace {

using testing::compile;

constexpr std::string_view kTwoProfiles = R"(
[[profile]]
name = "audited"
mode = "learn"
default = "deny"
[[profile.match]]
path = "/usr/bin/audited"
[[profile.rule]]
action = "reject"
ports = 25

[[profile]]
name = "strict"
default = "deny"
[[profile.match]]
path = "/usr/bin/strict"
)";

Flow flowTo(std::uint16_t port) {
  Flow flow;
  flow.direction = Direction::kOut;
  flow.ipProto = 6;
  flow.local = *IpAddress::parse("192.168.1.5");
  flow.remote = *IpAddress::parse("192.0.2.7");
  flow.localPort = 40000;
  flow.remotePort = port;
  return flow;
}

Decision decideFor(const CompiledPolicy& policy, std::string_view path, std::uint16_t port) {
  ProcessInfo process;
  process.path = std::string(path);
  return policy.decide(Subject::process(process), flowTo(port));
}

TEST(ProfileMode, ALearnProfileIsAcceptedWithItsVerdictRecorded) {
  const auto policy = compile("[engine]\ndefault = 'deny'\n", kTwoProfiles);
  Decision d = decideFor(*policy, "/usr/bin/audited", 443);
  EXPECT_EQ(d.profile, "audited");
  EXPECT_EQ(d.by, DecidedBy::kProfileDefault);
  EXPECT_EQ(d.action, Action::kDeny);
  EXPECT_EQ(d.enforced, Action::kAllow);
  EXPECT_TRUE(d.learn);
  d = decideFor(*policy, "/usr/bin/audited", 25);
  EXPECT_EQ(d.by, DecidedBy::kProfileRule);
  EXPECT_EQ(d.action, Action::kReject);
  EXPECT_EQ(d.enforced, Action::kAllow);
  EXPECT_TRUE(d.learn);
}

TEST(ProfileMode, OtherProfilesAndProcessesWithoutProfileStayEnforced) {
  const auto policy = compile("[engine]\ndefault = 'reject'\n", kTwoProfiles);
  Decision d = decideFor(*policy, "/usr/bin/strict", 443);
  EXPECT_EQ(d.action, Action::kDeny);
  EXPECT_EQ(d.enforced, Action::kDeny);
  EXPECT_FALSE(d.learn);
  d = decideFor(*policy, "/usr/bin/nobody", 443);
  EXPECT_EQ(d.by, DecidedBy::kEngineDefault);
  EXPECT_EQ(d.enforced, Action::kReject);
  EXPECT_FALSE(d.learn);
  d = policy->decide(Subject::unknown(), flowTo(443));
  EXPECT_FALSE(d.learn);
  EXPECT_EQ(d.enforced, Action::kDeny);
}

TEST(ProfileMode, GlobalRulesStayUnderTheEngineMode) {
  const auto policy = compile("[[rule]]\naction = 'deny'\nports = 7001\n", kTwoProfiles);
  const Decision d = decideFor(*policy, "/usr/bin/audited", 7001);
  EXPECT_EQ(d.by, DecidedBy::kGlobalRule);
  EXPECT_EQ(d.enforced, Action::kDeny);
  EXPECT_FALSE(d.learn);
}

// A learn profile without a default: the engine default stands in for it, under its mode.
TEST(ProfileMode, TheEngineDefaultStandingInForALearnProfileIsLearned) {
  const auto policy = compile("[engine]\ndefault = 'deny'\n", R"(
name = "nodefault"
mode = "learn"
[[match]]
path = "/usr/bin/nodefault"
)");
  const Decision d = decideFor(*policy, "/usr/bin/nodefault", 443);
  EXPECT_EQ(d.by, DecidedBy::kEngineDefault);
  EXPECT_EQ(d.action, Action::kDeny);
  EXPECT_EQ(d.enforced, Action::kAllow);
  EXPECT_TRUE(d.learn);
}

TEST(ProfileMode, AnEnforcingProfileUnderEngineLearnModeIsEnforced) {
  const auto policy = compile("[engine]\nmode = 'learn'\ndefault = 'deny'\n", R"(
[[profile]]
name = "enforced"
mode = "enforce"
default = "reject"
[[profile.match]]
path = "/usr/bin/enforced"
[[profile]]
name = "inherits"
default = "reject"
[[profile.match]]
path = "/usr/bin/inherits"
)");
  Decision d = decideFor(*policy, "/usr/bin/enforced", 443);
  EXPECT_EQ(d.enforced, Action::kReject);
  EXPECT_FALSE(d.learn);
  d = decideFor(*policy, "/usr/bin/inherits", 443);
  EXPECT_EQ(d.enforced, Action::kAllow);
  EXPECT_TRUE(d.learn);
  d = decideFor(*policy, "/usr/bin/nobody", 443);
  EXPECT_EQ(d.enforced, Action::kAllow);
  EXPECT_TRUE(d.learn);
}

TEST(ProfileMode, TheCodecReadsModeAndPlacesABadValue) {
  auto parsed = parseProfiles("name = 'a'\nmode = 'learn'\n[[match]]\npath = '/a'\n", "/t/a.toml");
  ASSERT_TRUE(parsed);
  EXPECT_EQ((*parsed)[0].mode, Mode::kLearn);
  parsed = parseProfiles("name = 'a'\n[[match]]\npath = '/a'\n", "/t/a.toml");
  ASSERT_TRUE(parsed);
  EXPECT_FALSE((*parsed)[0].mode.has_value());
  parsed = parseProfiles("name = 'a'\nmode   = 'audit'\n[[match]]\npath = '/a'\n", "/t/a.toml");
  ASSERT_FALSE(parsed);
  ASSERT_EQ(parsed.error().size(), 1u);
  EXPECT_EQ(parsed.error()[0].format(),
            "/t/a.toml:2:10: error: invalid value 'audit' for 'mode' (expected learn or enforce)");
  parsed = parseProfiles("name = 'a'\nmode = true\n[[match]]\npath = '/a'\n", "/t/a.toml");
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error()[0].format().find("/t/a.toml:2:8: error:"), std::string::npos)
      << parsed.error()[0].format();
}

}  // namespace
}  // namespace warden::rules
