#include "rules/rule_shadow.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "rules/policy_lint.h"

namespace warden::rules {
namespace {

// The first earlier rule that covers rules[later], compared with every one: what the index
// must answer.
std::int64_t firstCoverByEveryPair(const std::vector<Rule>& rules, std::size_t later) {
  for (std::size_t earlier = 0; earlier < later; ++earlier) {
    if (covers(rules[earlier], rules[later])) return static_cast<std::int64_t>(earlier);
  }
  return -1;
}

Cidr cidr(std::string_view text) {
  auto parsed = Cidr::parse(text);
  EXPECT_TRUE(parsed) << text;
  return parsed.value_or(Cidr{});
}

// Rules drawn from small sets of values, so that many cover one another in every key and
// combination of keys.
std::vector<Rule> randomRules(std::size_t count, unsigned seed) {
  std::mt19937 random(seed);
  const auto pick = [&](std::size_t n) { return static_cast<std::size_t>(random() % n); };
  const std::vector<std::string> hosts = {"",
                                          "",
                                          "a.example.org",
                                          "*.example.org",
                                          "*.a.example.org",
                                          "example.org",
                                          "*.org",
                                          "b.example.net"};
  const std::vector<std::string> blocks = {"10.0.0.0/8",      "10.1.0.0/16",  "10.1.2.3",
                                           "10.2.0.0/16",     "0.0.0.0/0",    "2001:db8::/32",
                                           "2001:db8:1::/48", "192.0.2.0/25", "192.0.2.128/25"};
  const std::vector<PortRange> ports = {{22, 22}, {443, 443},   {1, 1024},    {1000, 2000},
                                        {80, 80}, {1025, 1030}, {2001, 3000}, {1, 65535}};
  std::vector<Rule> rules;
  for (std::size_t i = 0; i < count; ++i) {
    Rule rule;
    rule.direction = pick(4) == 0 ? Direction::kIn : Direction::kOut;
    rule.proto = static_cast<Proto>(pick(4));
    if (pick(3) == 0) rule.scope = static_cast<Scope>(pick(3));
    rule.host = hosts[pick(hosts.size())];
    for (std::size_t n = pick(3); n > 0; --n) rule.ip.push_back(cidr(blocks[pick(blocks.size())]));
    if (rule.proto != Proto::kIcmp) {
      for (std::size_t n = pick(3); n > 0; --n) rule.ports.push_back(ports[pick(ports.size())]);
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

TEST(ShadowIndex, FindsTheFirstCoverLikeComparingEveryPair) {
  for (unsigned seed = 1; seed <= 20; ++seed) {
    const std::vector<Rule> rules = randomRules(400, seed);
    ShadowIndex index;
    std::size_t shadowed = 0;
    for (std::size_t i = 0; i < rules.size(); ++i) {
      const std::int64_t expected = firstCoverByEveryPair(rules, i);
      ASSERT_EQ(index.addAndFindCover(rules[i]), expected) << "seed " << seed << ", rule " << i;
      shadowed += expected >= 0 ? 1 : 0;
    }
    // The draw must exercise both answers.
    EXPECT_GT(shadowed, 20u);
    EXPECT_LT(shadowed, rules.size() - 20);
  }
}

TEST(ShadowIndex, HostPortsAndBlocks) {
  const auto make = [](std::string host, std::vector<Cidr> ip, std::vector<PortRange> ports) {
    Rule rule;
    rule.host = std::move(host);
    rule.ip = std::move(ip);
    rule.ports = std::move(ports);
    return rule;
  };
  const std::vector<Rule> rules = {
      make("*.example.org", {}, {}),                            // 0
      make("a.b.example.org", {}, {{443, 443}}),                // 1: under 0
      make("example.net", {cidr("10.0.0.0/8")}, {{1, 100}}),    // 2
      make("example.net", {cidr("10.9.0.0/16")}, {{50, 60}}),   // 3: under 2
      make("example.net", {cidr("11.0.0.0/16")}, {{50, 60}}),   // 4: another block
      make("example.net", {cidr("10.9.0.0/16")}, {{90, 101}}),  // 5: past 2's ports
      make("", {}, {{1, 100}, {101, 200}}),                     // 6
      make("", {}, {{150, 160}}),                               // 7: under 6 (merged blocks)
  };
  ShadowIndex index;
  std::vector<std::int64_t> found;
  for (const Rule& rule : rules) found.push_back(index.addAndFindCover(rule));
  EXPECT_EQ(found, (std::vector<std::int64_t>{-1, 0, -1, 2, -1, -1, -1, 6}));
}

// A profile of `count` rules of the kinds a large policy holds (addresses, blocks, port
// ranges, host names and domains, scopes, protocols, both directions), none covering another
// but every tenth rule, which repeats one 500 rules before it.
Policy largeProfile(std::size_t count) {
  Policy policy;
  Profile& profile = policy.profiles.emplace_back();
  profile.name = "large";
  for (std::size_t i = 0; i < count; ++i) {
    if (i % 10 == 9 && i >= 500) {
      profile.rules.push_back(profile.rules[i - 500]);
      continue;
    }
    Rule rule;
    const std::string n = std::to_string(i);
    const auto port = static_cast<std::uint16_t>(1 + i % 60000);
    switch (i % 6) {
      case 0:
        rule.proto = Proto::kTcp;
        rule.ip = {cidr("10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) +
                        "." + std::to_string(i % 256))};
        rule.ports = {{port, port}};
        break;
      case 1:
        rule.proto = Proto::kUdp;
        rule.ip = {cidr("2001:db8:" + std::to_string(i % 9999) + "::/48")};
        rule.ports = {{port, static_cast<std::uint16_t>(port + 5)}};
        break;
      case 2:
        rule.host = "*.d" + n + ".example.org";
        rule.ports = {{443, 443}};
        break;
      case 3:
        rule.proto = Proto::kTcp;
        rule.host = "h" + n + ".example.net";
        break;
      case 4:
        rule.proto = Proto::kTcp;
        rule.scope = i % 4 == 0 ? Scope::kLan : Scope::kInternet;
        rule.ports = {{port, port}};
        break;
      default:
        rule.direction = Direction::kIn;
        rule.proto = Proto::kTcp;
        rule.ports = {{port, port}};
        break;
    }
    profile.rules.push_back(std::move(rule));
  }
  return policy;
}

// Linear, not quadratic: a rule is compared with the few earlier rules that could cover it.
// Comparing every pair, as the lint once did, asks `covers` about n * n / 2 times.
TEST(Lint, ShadowCheckWorkGrowsLinearly) {
  for (const std::size_t count : {2000u, 20000u}) {
    LintWork work;
    const Diagnostics warnings = lintPolicy(largeProfile(count), &work);
    EXPECT_EQ(warnings.size(), (count - 500) / 10) << count << " rules";
    EXPECT_LE(work.ruleComparisons, 4 * count) << count << " rules";
  }
}

}  // namespace
}  // namespace warden::rules
