// Rule hit counts (rules/rule_hits.h): what counts, and what a reload keeps.
#include "rules/rule_hits.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "rules/compiled_policy.h"
#include "tests/unit/rules/policy_test_support.h"

namespace warden::rules {
namespace {

using testing::compile;

constexpr std::string_view kConfig = R"(
[[rule]]
action = "deny"
ports = 7001
)";

constexpr std::string_view kProfiles = R"(
[[profile]]
name = "curl"
default = "deny"
[[profile.match]]
path = "/usr/bin/curl"
[[profile.rule]]
action = "allow"
ports = [80, 443]
[[profile.rule]]
action = "allow"
ports = 8080

[[profile]]
name = "audited"
mode = "learn"
default = "reject"
[[profile.match]]
path = "/usr/bin/audited"
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

// Decides a flow of the process at `path` and records it, as a queue worker does.
Decision decideAndCount(const CompiledPolicy& policy, std::string_view path, std::uint16_t port,
                        std::int64_t nowNs) {
  ProcessInfo process;
  process.path = std::string(path);
  const Decision decision = policy.decide(Subject::process(process), flowTo(port));
  policy.hits().record(decision, nowNs);
  return decision;
}

HitCount countOf(const CompiledPolicy& policy, std::string_view profile, std::string_view rule) {
  for (const auto& entry : policy.hits().entries()) {
    if (entry.key.profile == profile && entry.key.rule == rule) return entry.count;
  }
  ADD_FAILURE() << "no counter " << profile << " / " << rule;
  return {};
}

TEST(RuleHits, EachRuleAndDefaultCountsTheFlowsItDecided) {
  const auto policy = compile(kConfig, kProfiles);
  decideAndCount(*policy, "/usr/bin/curl", 443, 100);
  decideAndCount(*policy, "/usr/bin/curl", 80, 200);
  decideAndCount(*policy, "/usr/bin/curl", 22, 300);
  decideAndCount(*policy, "/usr/bin/curl", 7001, 400);
  decideAndCount(*policy, "/usr/bin/nobody", 22, 500);  // the engine's: not counted
  const auto entries = policy->hits().entries();
  ASSERT_EQ(entries.size(), 5u);  // 1 global, curl 2 + default, audited default
  EXPECT_EQ(entries[0].key, (HitKey{"", "deny out ports=7001"}));
  EXPECT_EQ(entries[0].count.hits, 1u);
  EXPECT_EQ(entries[0].count.lastNs, 400);
  EXPECT_EQ(entries[1].key, (HitKey{"curl", "allow out ports=80,443"}));
  EXPECT_EQ(entries[1].count.hits, 2u);
  EXPECT_EQ(entries[1].count.lastNs, 200);
  EXPECT_EQ(entries[2].count.hits, 0u);
  EXPECT_EQ(entries[2].count.lastNs, 0);
  EXPECT_EQ(entries[3].key, (HitKey{"curl", "default=deny"}));
  EXPECT_EQ(entries[3].rule, -1);
  EXPECT_EQ(entries[3].count.hits, 1u);
  EXPECT_EQ(entries[4].key, (HitKey{"audited", "default=reject"}));
}

TEST(RuleHits, FlowsDecidedElsewhereAreAddedToTheCounterOfTheirDecision) {
  const auto policy = compile(kConfig, kProfiles);
  ProcessInfo curl;
  curl.path = "/usr/bin/curl";
  const Decision https = policy->decide(Subject::process(curl), flowTo(443));
  const auto counter = policy->hits().counterOf(https);
  ASSERT_TRUE(counter.has_value());
  policy->hits().add(*counter, 5, 900);
  policy->hits().add(*counter, 2, 800);  // an older last flow leaves the newer time
  EXPECT_EQ(countOf(*policy, "curl", "allow out ports=80,443").hits, 7u);
  EXPECT_EQ(countOf(*policy, "curl", "allow out ports=80,443").lastNs, 900);
  policy->hits().add(99, 1, 1000);  // no such counter: nothing
  ProcessInfo nobody;
  nobody.path = "/usr/bin/nobody";
  EXPECT_FALSE(policy->hits().counterOf(policy->decide(Subject::process(nobody), flowTo(22))));
}

TEST(RuleHits, LearnModeDecisionsCount) {
  const auto policy = compile(kConfig, kProfiles);
  const Decision d = decideAndCount(*policy, "/usr/bin/audited", 443, 700);
  ASSERT_TRUE(d.learn);
  ASSERT_EQ(d.enforced, Action::kAllow);
  EXPECT_EQ(countOf(*policy, "audited", "default=reject").hits, 1u);
  EXPECT_EQ(countOf(*policy, "audited", "default=reject").lastNs, 700);
  // Engine learn mode too.
  const auto learning =
      compile(std::string("[engine]\nmode = 'learn'\n") + std::string(kConfig), kProfiles);
  decideAndCount(*learning, "/usr/bin/curl", 7001, 800);
  EXPECT_EQ(countOf(*learning, "", "deny out ports=7001").hits, 1u);
}

TEST(RuleHits, AnUnchangedRuleKeepsItsCountAcrossAReloadAChangedOneStartsAtZero) {
  const auto before = compile(kConfig, kProfiles);
  decideAndCount(*before, "/usr/bin/curl", 443, 100);
  decideAndCount(*before, "/usr/bin/curl", 8080, 100);
  decideAndCount(*before, "/usr/bin/curl", 22, 100);
  decideAndCount(*before, "/usr/bin/curl", 7001, 100);
  // The first curl rule moves down (a comment and a new rule above it: other lines), the
  // second gets another port, the global rule is untouched, the default changes.
  std::string edited(kProfiles);
  edited.replace(edited.find("[[profile.rule]]"), 0,
                 "# a comment\n[[profile.rule]]\naction = 'deny'\nports = 9\n\n");
  edited.replace(edited.find("ports = 8080"), 12, "ports = 8081");
  edited.replace(edited.find("default = \"deny\""), 16, "default = \"reject\"");
  auto after = CompiledPolicy::compile(testing::policyFrom(kConfig, edited), 2, before.get());
  ASSERT_TRUE(after);
  const CompiledPolicy& policy = **after;
  ASSERT_EQ(policy.policy().profiles[0].rules[1].where.line,
            before->policy().profiles[0].rules[0].where.line + 5);
  EXPECT_EQ(countOf(policy, "curl", "allow out ports=80,443").hits, 1u);
  EXPECT_EQ(countOf(policy, "curl", "allow out ports=8081").hits, 0u);
  EXPECT_EQ(countOf(policy, "curl", "deny out ports=9").hits, 0u);
  EXPECT_EQ(countOf(policy, "curl", "default=reject").hits, 0u);
  EXPECT_EQ(countOf(policy, "", "deny out ports=7001").hits, 1u);
  // Shared, not copied: a flow a worker still decides under the old policy counts in the new.
  decideAndCount(*before, "/usr/bin/curl", 443, 900);
  EXPECT_EQ(countOf(policy, "curl", "allow out ports=80,443").hits, 2u);
  EXPECT_EQ(countOf(policy, "curl", "allow out ports=80,443").lastNs, 900);
}

// The same rule twice in one list is two counters; `log` is not part of a rule's identity.
TEST(RuleHits, KeysTellRepeatsApartAndIgnoreLog) {
  Rule a;
  a.action = Action::kDeny;
  a.proto = Proto::kTcp;
  Rule quiet = a;
  quiet.log = false;
  quiet.where.line = 40;
  const auto keys = hitKeysOf({a, quiet, a});
  EXPECT_EQ(keys, (std::vector<std::string>{"deny out tcp", "deny out tcp #2", "deny out tcp #3"}));
  EXPECT_EQ(defaultHitKey(Action::kAllow), "default=allow");
}

TEST(RuleHits, StoredCountsAreAddedByKeyAndOthersIgnored) {
  const auto policy = compile(kConfig, kProfiles);
  decideAndCount(*policy, "/usr/bin/curl", 443, 100);
  policy->hits().add({{HitKey{"curl", "allow out ports=80,443"}, HitCount{41, 50}},
                      {HitKey{"curl", "default=deny"}, HitCount{3, 777}},
                      {HitKey{"gone", "allow out"}, HitCount{9, 9}}});
  EXPECT_EQ(countOf(*policy, "curl", "allow out ports=80,443").hits, 42u);
  EXPECT_EQ(countOf(*policy, "curl", "allow out ports=80,443").lastNs, 100);
  EXPECT_EQ(countOf(*policy, "curl", "default=deny").lastNs, 777);
  std::uint64_t total = 0;
  for (const auto& entry : policy->hits().entries()) total += entry.count.hits;
  EXPECT_EQ(total, 45u);
}

}  // namespace
}  // namespace warden::rules
