#include "rules/compiled_policy.h"

#include <gtest/gtest.h>

#include <optional>

#include "tests/unit/rules/policy_test_support.h"

namespace warden::rules {
namespace {

using testing::compile;

constexpr std::uint8_t kTcp = 6;
constexpr std::uint8_t kUdp = 17;

Flow flowTo(std::string_view remote, std::uint16_t port = 443, std::uint8_t proto = kTcp) {
  Flow flow;
  flow.direction = Direction::kOut;
  flow.ipProto = proto;
  flow.local = *IpAddress::parse("192.168.1.5");
  flow.remote = *IpAddress::parse(remote);
  flow.localPort = 40000;
  flow.remotePort = port;
  return flow;
}

ProcessInfo processAt(std::string_view path) {
  ProcessInfo process;
  process.path = std::string(path);
  return process;
}

// The name of the profile a process gets, "" for none.
std::string profileOf(const CompiledPolicy& policy, const ProcessInfo& process) {
  const Decision decision = policy.decide(Subject::process(process), flowTo("8.8.8.8"));
  return std::string(decision.profile);
}

TEST(Decide, GlobalRulesComeFirstForEveryFlow) {
  const auto policy = compile(R"(
[engine]
unknown = "deny"
kernel = "deny"
[[rule]]
action = "reject"
ports = 25
[[rule]]
action = "allow"
scope = "localhost"
log = false
)",
                              R"(name = "all"
default = "deny"
[[match]]
path_glob = "/**"
)");
  const ProcessInfo process = processAt("/usr/bin/curl");
  for (const Decision& d : {policy->decide(Subject::process(process), flowTo("8.8.8.8", 25)),
                            policy->decide(Subject::unknown(), flowTo("8.8.8.8", 25)),
                            policy->decide(Subject::kernel(), flowTo("8.8.8.8", 25))}) {
    EXPECT_EQ(d.action, Action::kReject);
    EXPECT_EQ(d.by, DecidedBy::kGlobalRule);
    EXPECT_EQ(d.ruleIndex, 0);
    EXPECT_EQ(d.file, testing::kConfigFile);
    EXPECT_EQ(d.line, 5);
    EXPECT_TRUE(d.log);
    EXPECT_EQ(d.profileIndex, -1);
  }
  const Decision local = policy->decide(Subject::process(process), flowTo("127.0.0.1", 8080));
  EXPECT_EQ(local.action, Action::kAllow);
  EXPECT_EQ(local.ruleIndex, 1);
  EXPECT_FALSE(local.log);
}

TEST(Decide, KernelAndUnknownVerdicts) {
  const auto policy = compile("[engine]\nunknown = 'reject'\nkernel = 'deny'\n", "");
  const Decision kernel = policy->decide(Subject::kernel(), flowTo("8.8.8.8"));
  EXPECT_EQ(kernel.action, Action::kDeny);
  EXPECT_EQ(kernel.by, DecidedBy::kKernel);
  EXPECT_EQ(kernel.ruleIndex, -1);
  const Decision unknown = policy->decide(Subject::unknown(), flowTo("8.8.8.8"));
  EXPECT_EQ(unknown.action, Action::kReject);
  EXPECT_EQ(unknown.by, DecidedBy::kUnknown);
  EXPECT_EQ(unknown.enforced, Action::kReject);
  EXPECT_TRUE(unknown.log);
}

TEST(Decide, NoProfileGetsTheEngineDefault) {
  const auto policy = compile("[engine]\ndefault = 'deny'\n", R"(name = "curl"
[[match]]
path = "/usr/bin/curl"
)");
  const ProcessInfo process = processAt("/usr/bin/wget");
  const Decision d = policy->decide(Subject::process(process), flowTo("8.8.8.8"));
  EXPECT_EQ(d.action, Action::kDeny);
  EXPECT_EQ(d.by, DecidedBy::kEngineDefault);
  EXPECT_EQ(d.profileIndex, -1);
  EXPECT_TRUE(d.profile.empty());
}

constexpr std::string_view kCurl = R"(
[[profile]]
name = "curl"
default = "reject"
[[profile.match]]
path = "/usr/bin/curl"
[[profile.rule]]
action = "deny"
ports = 80
log = false
[[profile.rule]]
action = "allow"
proto = "tcp"
ports = [443, "8000-8100"]
[[profile.rule]]
action = "deny"
ports = 443

[[profile]]
name = "wget"
[[profile.match]]
path = "/usr/bin/wget"
[[profile.rule]]
action = "deny"
ports = 22
)";

TEST(Decide, ProfileRulesFirstMatchWins) {
  const auto policy = compile("", kCurl);
  const ProcessInfo curl = processAt("/usr/bin/curl");
  Decision d = policy->decide(Subject::process(curl), flowTo("8.8.8.8", 443));
  EXPECT_EQ(d.action, Action::kAllow);
  EXPECT_EQ(d.by, DecidedBy::kProfileRule);
  EXPECT_EQ(d.ruleIndex, 1);
  EXPECT_EQ(d.profile, "curl");
  EXPECT_EQ(d.profileIndex, 0);
  EXPECT_EQ(d.file, testing::kProfilesFile);
  EXPECT_EQ(d.line, 11);
  EXPECT_TRUE(d.log);

  d = policy->decide(Subject::process(curl), flowTo("8.8.8.8", 443, kUdp));
  EXPECT_EQ(d.action, Action::kDeny);
  EXPECT_EQ(d.ruleIndex, 2);

  d = policy->decide(Subject::process(curl), flowTo("8.8.8.8", 80));
  EXPECT_EQ(d.action, Action::kDeny);
  EXPECT_EQ(d.ruleIndex, 0);
  EXPECT_FALSE(d.log);
}

TEST(Decide, ProfileDefaultThenEngineDefault) {
  const auto policy = compile("[engine]\ndefault = 'allow'\n", kCurl);
  const ProcessInfo curl = processAt("/usr/bin/curl");
  Decision d = policy->decide(Subject::process(curl), flowTo("8.8.8.8", 21));
  EXPECT_EQ(d.action, Action::kReject);
  EXPECT_EQ(d.by, DecidedBy::kProfileDefault);
  EXPECT_EQ(d.profile, "curl");
  EXPECT_EQ(d.ruleIndex, -1);

  const ProcessInfo wget = processAt("/usr/bin/wget");
  d = policy->decide(Subject::process(wget), flowTo("8.8.8.8", 443));
  EXPECT_EQ(d.action, Action::kAllow);
  EXPECT_EQ(d.by, DecidedBy::kEngineDefault);
  EXPECT_EQ(d.profile, "wget");  // the process has a profile, without a default
  EXPECT_EQ(d.profileIndex, 1);
}

TEST(Decide, InboundFlowsUseLocalPorts) {
  const auto policy = compile("", R"(name = "sshd"
default = "deny"
[[match]]
path = "/usr/sbin/sshd"
[[rule]]
action = "allow"
direction = "in"
ports = 22
scope = "lan"
)");
  const ProcessInfo sshd = processAt("/usr/sbin/sshd");
  Flow in = flowTo("192.168.1.9", 51000);
  in.direction = Direction::kIn;
  in.localPort = 22;
  EXPECT_EQ(policy->decide(Subject::process(sshd), in).action, Action::kAllow);
  in.remote = *IpAddress::parse("203.0.113.1");
  EXPECT_EQ(policy->decide(Subject::process(sshd), in).action, Action::kDeny);
  in.remote = *IpAddress::parse("fe80::1");
  EXPECT_EQ(policy->decide(Subject::process(sshd), in).action, Action::kAllow);
  // The same port outbound is not the inbound rule's business.
  EXPECT_EQ(policy->decide(Subject::process(sshd), flowTo("192.168.1.9", 22)).action,
            Action::kDeny);
}

TEST(Decide, LearnModeAcceptsAndReportsTheVerdict) {
  const auto policy =
      compile("[engine]\nmode = 'learn'\ndefault = 'deny'\nkernel = 'reject'\n", kCurl);
  const ProcessInfo curl = processAt("/usr/bin/curl");
  Decision d = policy->decide(Subject::process(curl), flowTo("8.8.8.8", 80));
  EXPECT_TRUE(d.learn);
  EXPECT_EQ(d.action, Action::kDeny);
  EXPECT_EQ(d.enforced, Action::kAllow);
  d = policy->decide(Subject::kernel(), flowTo("8.8.8.8"));
  EXPECT_EQ(d.action, Action::kReject);
  EXPECT_EQ(d.enforced, Action::kAllow);
  const ProcessInfo other = processAt("/usr/bin/nc");
  d = policy->decide(Subject::process(other), flowTo("8.8.8.8"));
  EXPECT_EQ(d.action, Action::kDeny);
  EXPECT_EQ(d.enforced, Action::kAllow);
  EXPECT_FALSE(compile("", "")->decide(Subject::unknown(), flowTo("8.8.8.8")).learn);
}

// A packet that could not be read is not a flow: the engine `unknown` verdict, even where a
// global rule would take every flow.
TEST(Decide, UnreadablePacketsGetTheUnknownVerdict) {
  const auto policy = compile("[engine]\nunknown = 'reject'\n[[rule]]\naction = 'allow'\n", "");
  EXPECT_EQ(policy->decide(Subject::unknown(), flowTo("8.8.8.8")).by, DecidedBy::kGlobalRule);
  const Decision d = policy->decideUnreadable();
  EXPECT_EQ(d.action, Action::kReject);
  EXPECT_EQ(d.by, DecidedBy::kUnknown);
  EXPECT_EQ(d.enforced, Action::kReject);
  EXPECT_EQ(d.ruleIndex, -1);
  EXPECT_FALSE(d.learn);
  EXPECT_TRUE(d.log);
  const Decision learned =
      compile("[engine]\nmode = 'learn'\nunknown = 'deny'\n", "")->decideUnreadable();
  EXPECT_EQ(learned.action, Action::kDeny);
  EXPECT_EQ(learned.enforced, Action::kAllow);
  EXPECT_TRUE(learned.learn);
}

// An engine keeps a process's profile for its next flows (Subject::process, `remembered`): it is
// chosen only when no global rule decides, once, and used as it is from then on.
TEST(Decide, ARememberedProfileIsChosenOnceAndOnlyWhenNeeded) {
  const auto policy = compile("[[rule]]\naction = 'allow'\nports = 53\n", kCurl);
  const ProcessInfo curl = processAt("/usr/bin/curl");
  std::optional<ProfileSelection> remembered;
  EXPECT_EQ(policy->decide(Subject::process(curl, &remembered), flowTo("8.8.8.8", 53)).by,
            DecidedBy::kGlobalRule);
  EXPECT_FALSE(remembered.has_value());
  const Decision d = policy->decide(Subject::process(curl, &remembered), flowTo("8.8.8.8", 443));
  EXPECT_EQ(d.by, DecidedBy::kProfileRule);
  EXPECT_EQ(d.profile, "curl");
  ASSERT_TRUE(remembered.has_value());
  EXPECT_EQ(remembered->profile, 0);
  EXPECT_EQ(remembered->score, 4);
  // Not chosen again: what is remembered decides (here wget's profile, for curl's process).
  remembered = policy->selectProfile(processAt("/usr/bin/wget"));
  EXPECT_EQ(policy->decide(Subject::process(curl, &remembered), flowTo("8.8.8.8", 443)).profile,
            "wget");
  // A remembered choice of no profile: the engine default.
  remembered = ProfileSelection{};
  EXPECT_EQ(policy->decide(Subject::process(curl, &remembered), flowTo("8.8.8.8", 443)).by,
            DecidedBy::kEngineDefault);
}

const std::string kHashA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const std::string kHashB = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";

TEST(Specificity, HigherScoreWinsWhateverTheOrder) {
  const auto policy = compile("", R"(
[[profile]]
name = "glob"
[[profile.match]]
path_glob = "/usr/bin/*"
[[profile]]
name = "glob-cmdline"
[[profile.match]]
path_glob = "/usr/bin/*"
cmdline = "--upload"
[[profile]]
name = "path"
[[profile.match]]
path = "/usr/bin/curl"
[[profile]]
name = "path-user"
[[profile.match]]
path = "/usr/bin/curl"
user = "alice"
[[profile]]
name = "hash"
[[profile.match]]
sha256 = [")" + kHashA + R"("]
)");
  ProcessInfo p = processAt("/usr/bin/curl");
  EXPECT_EQ(profileOf(*policy, p), "path");
  p.user = "alice";
  EXPECT_EQ(profileOf(*policy, p), "path-user");  // 5 > 4
  p.sha256 = [] { return parseSha256(kHashA); };
  EXPECT_EQ(profileOf(*policy, p), "hash");  // 8 > 5
  p = processAt("/usr/bin/wget");
  EXPECT_EQ(profileOf(*policy, p), "glob");
  p.setArgv({"wget", "--upload", "x"});
  EXPECT_EQ(profileOf(*policy, p), "glob-cmdline");  // 3 > 2
  const auto selection = policy->selectProfile(p);
  EXPECT_EQ(selection.profile, 1);
  EXPECT_EQ(selection.match, 0);
  EXPECT_EQ(selection.score, 3);
}

TEST(Specificity, ScoresAreSummedPerMatch) {
  // path_glob + parent_path (2 + 2) beats cmdline + env + tags (3), loses to sha256 (8).
  const auto policy = compile("", R"(
[[profile]]
name = "attributes"
[[profile.match]]
cmdline = "x"
env = { A = "*" }
tags = ["snap:x"]
[[profile]]
name = "glob-parent"
[[profile.match]]
path_glob = "/opt/*"
parent_path = "/usr/bin/bash"
)");
  ProcessInfo p = processAt("/opt/tool");
  p.setArgv({"x"});
  p.env = Environment{{"A", "1"}};
  p.tags = std::vector<std::string>{"snap:x"};
  EXPECT_EQ(profileOf(*policy, p), "attributes");
  p.ancestors = std::vector<std::string>{"/usr/bin/bash"};
  EXPECT_EQ(profileOf(*policy, p), "glob-parent");
  EXPECT_EQ(policy->selectProfile(p).score, 4);
}

TEST(Specificity, TiesGoToTheProfileLoadedFirst) {
  const auto policy = compile("", R"(
[[profile]]
name = "first-by-glob-and-ancestor"
[[profile.match]]
path_glob = "/usr/bin/*"
ancestor_path = "/usr/sbin/cron"
[[profile]]
name = "second-by-path"
[[profile.match]]
path = "/usr/bin/curl"
[[profile]]
name = "third-by-path"
[[profile.match]]
path = "/usr/bin/curl"
)");
  ProcessInfo p = processAt("/usr/bin/curl");
  EXPECT_EQ(profileOf(*policy, p), "second-by-path");
  p.ancestors = std::vector<std::string>{"/usr/bin/bash", "/usr/sbin/cron", "/sbin/init"};
  EXPECT_EQ(profileOf(*policy, p), "first-by-glob-and-ancestor");
}

TEST(Specificity, AnyMatchOfAProfileCounts) {
  const auto policy = compile("", R"(
[[profile]]
name = "weak"
[[profile.match]]
uid = 0
[[profile]]
name = "multi"
[[profile.match]]
path = "/nowhere"
[[profile.match]]
uid = 0
user = "root"
)");
  ProcessInfo p = processAt("/usr/bin/x");
  p.uid = 0;
  EXPECT_EQ(profileOf(*policy, p), "weak");
  p.user = "root";
  EXPECT_EQ(profileOf(*policy, p), "multi");
  EXPECT_EQ(policy->selectProfile(p).match, 1);
}

TEST(MatchKeys, EachKeyMustHold) {
  const auto policy = compile("", R"toml(name = "all"
[[match]]
path = "/usr/bin/python3"
cmdline = "^python3 /srv/app\\.py( |$)"
env = { APP_ENV = "prod", HOME = "*" }
tags = ["systemd:app.service", "script:/srv/app.py"]
user = "app"
uid = 990
parent_path = "/usr/lib/systemd/systemd"
ancestor_path = "/sbin/init"
)toml");
  ProcessInfo full = processAt("/usr/bin/python3");
  full.setArgv({"python3", "/srv/app.py", "--port", "80"});
  full.env = Environment{{"APP_ENV", "prod"}, {"HOME", "/srv"}, {"LANG", "C"}};
  full.tags = std::vector<std::string>{"script:/srv/app.py", "systemd:app.service"};
  full.user = "app";
  full.uid = 990;
  full.ancestors = std::vector<std::string>{"/usr/lib/systemd/systemd", "/sbin/init"};
  ASSERT_EQ(profileOf(*policy, full), "all");

  const auto without = [&](auto change) {
    ProcessInfo p = full;
    change(p);
    return profileOf(*policy, p);
  };
  EXPECT_EQ(without([](ProcessInfo& p) { p.path = "/usr/bin/python3.11"; }), "");
  EXPECT_EQ(without([](ProcessInfo& p) { p.setArgv({"python3", "/srv/app.pyc"}); }), "");
  EXPECT_EQ(without([](ProcessInfo& p) { (*p.env)["APP_ENV"] = "dev"; }), "");
  EXPECT_EQ(without([](ProcessInfo& p) { p.env->erase("HOME"); }), "");
  EXPECT_EQ(without([](ProcessInfo& p) { p.tags->pop_back(); }), "");
  EXPECT_EQ(without([](ProcessInfo& p) { p.user = "root"; }), "");
  EXPECT_EQ(without([](ProcessInfo& p) { p.uid = 0; }), "");
  EXPECT_EQ(without([](ProcessInfo& p) { p.ancestors->front() = "/usr/bin/bash"; }), "");
  EXPECT_EQ(without([](ProcessInfo& p) { p.ancestors->back() = "/usr/bin/bash"; }), "");
}

TEST(MatchKeys, MissingAttributesNeverMatch) {
  const auto policy = compile("", R"(
[[profile]]
name = "path"
[[profile.match]]
path = "/usr/bin/x"
[[profile]]
name = "glob"
[[profile.match]]
path_glob = "/usr/*/x"
[[profile]]
name = "cmdline"
[[profile.match]]
cmdline = ".*"
[[profile]]
name = "env-any"
[[profile.match]]
env = { X = "*" }
[[profile]]
name = "tags"
[[profile.match]]
tags = ["snap:x"]
[[profile]]
name = "user"
[[profile.match]]
user = "root"
[[profile]]
name = "uid"
[[profile.match]]
uid = 0
[[profile]]
name = "parent"
[[profile.match]]
parent_path = "/sbin/init"
[[profile]]
name = "ancestor"
[[profile.match]]
ancestor_path = "/sbin/init"
[[profile]]
name = "hash"
[[profile.match]]
sha256 = [")" + kHashA + R"("]
)");
  const ProcessInfo nothing;
  EXPECT_EQ(profileOf(*policy, nothing), "");
  ProcessInfo emptyLists;
  emptyLists.ancestors = std::vector<std::string>{};
  emptyLists.tags = std::vector<std::string>{};
  emptyLists.env = Environment{};
  emptyLists.sha256 = [] { return std::optional<Sha256>(); };
  EXPECT_EQ(profileOf(*policy, emptyLists), "");
  // Each attribute alone gives its profile, so the "" above is not an accident.
  ProcessInfo p;
  p.cmdline = "";
  EXPECT_EQ(profileOf(*policy, p), "cmdline");
  p = {};
  p.uid = 0;
  EXPECT_EQ(profileOf(*policy, p), "uid");
  p = {};
  p.ancestors = std::vector<std::string>{"/sbin/init"};
  EXPECT_EQ(profileOf(*policy, p), "parent");
  p.ancestors = std::vector<std::string>{"/usr/bin/bash", "/sbin/init"};
  EXPECT_EQ(profileOf(*policy, p), "ancestor");
  p = {};
  p.sha256 = [] { return parseSha256(kHashA); };
  EXPECT_EQ(profileOf(*policy, p), "hash");
}

TEST(MatchKeys, Sha256IsAskedLazilyAndOnce) {
  const auto policy = compile("", R"(
[[profile]]
name = "pinned"
[[profile.match]]
path = "/usr/bin/curl"
sha256 = [")" + kHashB + R"(", ")" + kHashA +
                                      R"("]
[[profile]]
name = "plain"
[[profile.match]]
path = "/usr/bin/wget"
)");
  EXPECT_TRUE(policy->usesSha256());
  EXPECT_FALSE(compile("", kCurl)->usesSha256());
  int calls = 0;
  ProcessInfo p = processAt("/usr/bin/wget");
  p.sha256 = [&calls] {
    ++calls;
    return parseSha256(kHashA);
  };
  EXPECT_EQ(profileOf(*policy, p), "plain");
  EXPECT_EQ(calls, 0);
  p.path = "/usr/bin/curl";
  EXPECT_EQ(profileOf(*policy, p), "pinned");
  EXPECT_EQ(calls, 1);
  p.sha256 = [] { return parseSha256(std::string(64, '0')); };
  EXPECT_EQ(profileOf(*policy, p), "");
}

// A digest being computed (a large image, hashed off the queue worker): the pinned profile may
// or may not be the process's, so the flow gets the engine `unknown` verdict, never the profile
// a missing digest would leave (here `plain`, whose default allows), and the choice is not
// remembered: the next flow, once the digest is known, gets the pinned profile.
TEST(MatchKeys, ADigestNotKnownYetIsDecidedUnknownAndNotRemembered) {
  const auto policy = compile("[engine]\nunknown = 'deny'\ndefault = 'deny'\n", R"(
[[profile]]
name = "pinned"
default = "deny"
[[profile.match]]
sha256 = [")" + kHashA + R"("]
[[profile]]
name = "plain"
default = "allow"
[[profile.match]]
path = "/usr/bin/curl"
)");
  ProcessInfo p = processAt("/usr/bin/curl");
  bool known = false;
  p.sha256 = [&known]() -> DigestAnswer {
    if (!known) return DigestAnswer::notYet();
    return parseSha256(kHashA);
  };
  std::optional<ProfileSelection> remembered;
  const Decision pending = policy->decide(Subject::process(p, &remembered), flowTo("8.8.8.8"));
  EXPECT_EQ(pending.by, DecidedBy::kUnknown);
  EXPECT_EQ(pending.action, Action::kDeny);
  EXPECT_FALSE(remembered.has_value());
  EXPECT_TRUE(policy->selectProfile(p).digestPending);
  known = true;
  const Decision later = policy->decide(Subject::process(p, &remembered), flowTo("8.8.8.8"));
  EXPECT_EQ(later.profile, "pinned");
  ASSERT_TRUE(remembered.has_value());
  EXPECT_FALSE(remembered->digestPending);
  // A digest that cannot be had (an unreadable image): the key does not hold, as before.
  p.sha256 = [] { return DigestAnswer(); };
  EXPECT_EQ(profileOf(*policy, p), "plain");
}

// A command line read only in part (a process's /proc file stops at 256 KiB): a regex over
// the part read may hold where the whole would not (`trusted-mode$` at the cut) or fail where it
// would (a deny profile's pattern past the cut, leaving the process to a profile that allows).
// Either way which profile is the process's cannot be told: the engine `unknown` verdict, and
// remembered (the command line does not change). A profile that ranks before every
// undetermined match still wins, and one whose other keys fail is no obstacle.
TEST(MatchKeys, ACutCommandLineLeavesARegexMatchUndetermined) {
  const auto policy = compile("[engine]\nunknown = 'deny'\ndefault = 'deny'\n", R"(
[[profile]]
name = "python-trusted"
default = "allow"
[[profile.match]]
path = "/usr/bin/python3"
cmdline = "trusted-mode$"
[[profile]]
name = "untrusted-code"
default = "deny"
[[profile.match]]
cmdline = "^\\S+ -c "
[[profile]]
name = "python"
default = "allow"
[[profile.match]]
path = "/usr/bin/python3"
[[profile]]
name = "curl-pinned"
default = "allow"
[[profile.match]]
path = "/usr/bin/curl"
sha256 = [")" + kHashA + R"("]
)");
  ProcessInfo p = processAt("/usr/bin/python3");
  p.setArgv({"python3", "app.py", "trusted-mode"});
  EXPECT_EQ(profileOf(*policy, p), "python-trusted");
  p.cmdlineCut = true;
  std::optional<ProfileSelection> remembered;
  const Decision cut = policy->decide(Subject::process(p, &remembered), flowTo("8.8.8.8"));
  EXPECT_EQ(cut.by, DecidedBy::kUnknown);
  EXPECT_EQ(cut.action, Action::kDeny);
  ASSERT_TRUE(remembered.has_value());
  EXPECT_TRUE(remembered->attributeCut);
  // Not matching what was read proves nothing either: `python-trusted` (path + cmdline)
  // ranks before `python`.
  p.setArgv({"python3", "app.py"});
  EXPECT_TRUE(policy->selectProfile(p).attributeCut);
  // A deny profile only a regex picks (score 1) ranks after `python` (4): told.
  p = processAt("/usr/bin/perl");
  p.setArgv({"perl", "-e", "1"});
  p.cmdlineCut = true;
  EXPECT_TRUE(policy->selectProfile(p).attributeCut);  // `untrusted-code` may be its
  p.cmdline.reset();  // a command line not read at all: the key does not hold (SPEC 4)
  EXPECT_EQ(profileOf(*policy, p), "");
  // Outranked: the pinned image's profile (path + sha256) wins over every regex.
  p = processAt("/usr/bin/curl");
  p.setArgv({"curl", "-c", "x"});
  p.cmdlineCut = true;
  p.sha256 = [] { return parseSha256(kHashA); };
  EXPECT_EQ(profileOf(*policy, p), "curl-pinned");
  EXPECT_FALSE(policy->selectProfile(p).attributeCut);
  // A match that ends before the end of what was read is in the whole command line too.
  p = processAt("/usr/bin/perl");
  p.setArgv({"perl", "-c", "x"});
  p.cmdlineCut = true;
  EXPECT_EQ(profileOf(*policy, p), "untrusted-code");
}

// An environment read only in part: a variable a match needs that is not among those read may
// be past the cut; one read (its first occurrence, as the process sees it) is known.
TEST(MatchKeys, ACutEnvironmentLeavesAMissingVariableUndetermined) {
  const auto policy = compile("[engine]\nunknown = 'deny'\n", R"(
[[profile]]
name = "preloaded"
default = "deny"
[[profile.match]]
path = "/usr/bin/app"
env = { LD_PRELOAD = "*" }
[[profile]]
name = "snap"
[[profile.match]]
path = "/usr/bin/app"
env = { SNAP_NAME = "app" }
[[profile]]
name = "app"
default = "allow"
[[profile.match]]
path = "/usr/bin/app"
)");
  ProcessInfo p = processAt("/usr/bin/app");
  p.env = Environment{{"HOME", "/root"}};
  EXPECT_EQ(profileOf(*policy, p), "app");
  p.envCut = true;
  EXPECT_TRUE(policy->selectProfile(p).attributeCut);
  const Decision cut = policy->decide(Subject::process(p, nullptr), flowTo("8.8.8.8"));
  EXPECT_EQ(cut.by, DecidedBy::kUnknown);
  // Read, with another value: told, though the environment was cut.
  p.env = Environment{{"LD_PRELOAD", "/lib/x.so"}};
  EXPECT_EQ(profileOf(*policy, p), "preloaded");
  p.env = Environment{{"SNAP_NAME", "other"}};
  EXPECT_TRUE(policy->selectProfile(p).attributeCut);  // LD_PRELOAD may follow
  p.envCut = false;
  EXPECT_EQ(profileOf(*policy, p), "app");
  // Set twice, to "other" and to "app": which one the program reads is its own affair. Being
  // set at all is known.
  p.envConflicts = {"SNAP_NAME"};
  EXPECT_TRUE(policy->selectProfile(p).attributeCut);
  p.env = Environment{{"SNAP_NAME", "other"}, {"LD_PRELOAD", "x"}};
  p.envConflicts = {"SNAP_NAME", "LD_PRELOAD"};
  EXPECT_EQ(profileOf(*policy, p), "preloaded");
}

// A `script:` tag withheld because argv or the environment was read in part may still be the
// process's: a profile that names it and would win is undetermined.
TEST(MatchKeys, AScriptTagWithheldForACutReadLeavesItsMatchUndetermined) {
  const auto policy = compile("[engine]\nunknown = 'deny'\n", R"(
[[profile]]
name = "retired-script"
default = "deny"
[[profile.match]]
path = "/usr/bin/python3"
tags = ["script:/opt/old.py"]
[[profile]]
name = "python"
default = "allow"
[[profile.match]]
path = "/usr/bin/python3"
)");
  ProcessInfo p = processAt("/usr/bin/python3");
  p.tags = std::vector<std::string>{};
  EXPECT_EQ(profileOf(*policy, p), "python");
  p.scriptTagCut = true;
  EXPECT_TRUE(policy->selectProfile(p).attributeCut);
  p.tags = std::vector<std::string>{"script:/opt/old.py"};
  EXPECT_EQ(profileOf(*policy, p), "retired-script");
}

// More ancestors than those kept: one an `ancestor_path` key names may be above them.
TEST(MatchKeys, ACutAncestryLeavesAnAncestorMatchUndetermined) {
  const auto policy = compile("[engine]\nunknown = 'deny'\n", R"(
[[profile]]
name = "curl-from-cron"
default = "deny"
[[profile.match]]
path = "/usr/bin/curl"
ancestor_path = "/usr/sbin/cron"
[[profile]]
name = "curl"
default = "allow"
[[profile.match]]
path = "/usr/bin/curl"
)");
  ProcessInfo p = processAt("/usr/bin/curl");
  p.ancestors = std::vector<std::string>(16, "/bin/sh");
  EXPECT_EQ(profileOf(*policy, p), "curl");
  p.ancestorsCut = true;
  EXPECT_TRUE(policy->selectProfile(p).attributeCut);
  EXPECT_EQ(policy->decide(Subject::process(p, nullptr), flowTo("8.8.8.8")).by,
            DecidedBy::kUnknown);
  p.ancestors->back() = "/usr/sbin/cron";  // among those kept: told
  EXPECT_EQ(profileOf(*policy, p), "curl-from-cron");
  p.ancestors.reset();  // none known (an adopted process): the key does not hold
  EXPECT_EQ(profileOf(*policy, p), "curl");
}

TEST(MatchKeys, EnvExactAndPresent) {
  const auto policy = compile("", R"(
[[profile]]
name = "firefox-snap"
[[profile.match]]
env = { SNAP_NAME = "firefox" }
[[profile]]
name = "display"
[[profile.match]]
env = { DISPLAY = "*" }
)");
  ProcessInfo p;
  p.env = Environment{{"SNAP_NAME", "firefox"}};
  EXPECT_EQ(profileOf(*policy, p), "firefox-snap");
  p.env = Environment{{"SNAP_NAME", "firefox2"}, {"DISPLAY", ""}};
  EXPECT_EQ(profileOf(*policy, p), "display");
}

TEST(MatchKeys, ManyCmdlineRegexesThroughOneSet) {
  std::string profiles;
  for (int i = 0; i < 200; ++i) {
    profiles += "[[profile]]\nname = 'p" + std::to_string(i) + "'\n[[profile.match]]\ncmdline = '" +
                "--job=" + std::to_string(i) + "( |$)'\n";
  }
  profiles +=
      "[[profile]]\nname = 'py'\n[[profile.match]]\npath = '/usr/bin/python3'\n"
      "cmdline = 'manage\\.py'\n";
  const auto policy = compile("", profiles);
  ProcessInfo p = processAt("/usr/bin/worker");
  p.setArgv({"worker", "--job=17"});
  EXPECT_EQ(profileOf(*policy, p), "p17");
  p.setArgv({"worker", "--job=170", "--job=3"});
  EXPECT_EQ(profileOf(*policy, p), "p3");
  p.setArgv({"worker", "--job=170", "--job=1"});
  EXPECT_EQ(profileOf(*policy, p), "p1");
  p.setArgv({"worker", "--job=1700"});
  EXPECT_EQ(profileOf(*policy, p), "");
  p = processAt("/usr/bin/python3");
  p.setArgv({"python3", "manage.py", "--job=5"});
  EXPECT_EQ(profileOf(*policy, p), "py");  // path + cmdline (5) over cmdline (1)
}

TEST(MatchKeys, GlobsFromEveryDirectoryLevel) {
  const auto policy = compile("", R"(
[[profile]]
name = "root-any"
[[profile.match]]
path_glob = "/**/node"
[[profile]]
name = "opt"
[[profile.match]]
path_glob = "/opt/*/bin/*"
[[profile]]
name = "deep"
[[profile.match]]
path_glob = "/opt/vendor/app-[0-9]*/bin/app"
user = "svc"
)");
  ProcessInfo p = processAt("/usr/local/bin/node");
  EXPECT_EQ(profileOf(*policy, p), "root-any");
  p.path = "/opt/vendor/bin/tool";
  EXPECT_EQ(profileOf(*policy, p), "opt");
  p.path = "/opt/vendor/app-2/bin/app";
  EXPECT_EQ(profileOf(*policy, p), "");
  p.user = "svc";
  EXPECT_EQ(profileOf(*policy, p), "deep");
}

// ---- a policy that skipped validation -------------------------------------------------

// A glob or regex that does not compile (the profile reader refuses one, but a policy can be
// built without it) refuses the whole policy, at the [[match]]'s place: left out, the match
// would silently never hold.
TEST(Compile, AMatchWhoseRegexOrGlobDoesNotCompileRefusesThePolicy) {
  Policy policy = testing::policyFrom("", R"(name = "app"
[[match]]
path = "/usr/bin/app"
)");
  ASSERT_EQ(policy.profiles.size(), 1u);
  ASSERT_TRUE(CompiledPolicy::compile(policy));
  policy.profiles[0].matches[0].cmdline = "--proxy(";
  auto refused = CompiledPolicy::compile(policy);
  ASSERT_FALSE(refused);
  ASSERT_EQ(refused.error().size(), 1u);
  const std::string text = refused.error()[0].format();
  // file:line:column of the [[match]] table
  EXPECT_EQ(text.find(std::string(testing::kProfilesFile) + ":2:"), 0u) << text;
  EXPECT_NE(text.find(": error: cmdline regex does not compile: "), std::string::npos) << text;

  policy.profiles[0].matches[0].cmdline.reset();
  policy.profiles[0].matches[0].pathGlob = "/opt/[a-";
  refused = CompiledPolicy::compile(policy);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error()[0].format().find(":2:"), std::string::npos)
      << refused.error()[0].format();
  EXPECT_NE(refused.error()[0].format().find(": error: path_glob does not compile: "),
            std::string::npos)
      << refused.error()[0].format();
}

}  // namespace
}  // namespace warden::rules
