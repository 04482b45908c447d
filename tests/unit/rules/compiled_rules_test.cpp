#include "rules/compiled_rules.h"

#include <gtest/gtest.h>

#include <random>

namespace warden::rules {
namespace {

// The compiled list must decide exactly like the plain first-match over Rule::matches,
// which is simple enough to trust. Random rules and flows over a small universe, so that
// matches and near misses are both common.
class RandomRules {
 public:
  explicit RandomRules(unsigned seed) : random_(seed) {}

  Rule rule() {
    Rule r;
    r.action = pick({Action::kAllow, Action::kDeny, Action::kReject});
    r.direction = pick({Direction::kOut, Direction::kIn});
    r.proto = pick({Proto::kAny, Proto::kTcp, Proto::kUdp, Proto::kIcmp});
    if (chance(2) && r.proto != Proto::kIcmp) {
      for (int i = 0, n = 1 + below(3); i < n; ++i) {
        const auto first = static_cast<std::uint16_t>(1 + below(30));
        r.ports.push_back({first, static_cast<std::uint16_t>(first + below(5))});
      }
    }
    if (chance(2)) {
      for (int i = 0, n = 1 + below(3); i < n; ++i) r.ip.push_back(cidr());
    }
    if (chance(4)) r.scope = pick({Scope::kLocalhost, Scope::kLan, Scope::kInternet});
    if (chance(4)) r.host = pick<std::string>({"example.org", "*.example.org", "a.example.org"});
    return r;
  }

  Flow flow() {
    Flow f;
    f.direction = pick({Direction::kOut, Direction::kIn});
    f.ipProto = pick<std::uint8_t>({1, 6, 17, 58, 132});
    f.remote = address();
    f.local = address();
    f.localPort = static_cast<std::uint16_t>(below(36));
    f.remotePort = static_cast<std::uint16_t>(below(36));
    f.host = pick<std::string_view>({"", "example.org", "b.example.org", "a.example.org"});
    return f;
  }

 private:
  int below(int n) { return std::uniform_int_distribution<int>(0, n - 1)(random_); }
  bool chance(int oneIn) { return below(oneIn) == 0; }
  template <typename T>
  T pick(std::initializer_list<T> values) {
    return values.begin()[below(static_cast<int>(values.size()))];
  }

  IpAddress address() {
    const std::string text =
        pick<std::string>({"10.0.0.", "10.0.1.", "127.0.0.", "8.8.8.", "2001:db8::", "::"}) +
        std::to_string(below(4));
    return *IpAddress::parse(text);
  }

  Cidr cidr() {
    return *Cidr::parse(
        pick<std::string>({"10.0.0.0/24", "10.0.0.0/23", "10.0.0.1", "10.0.0.2/31", "0.0.0.0/0",
                           "::/0", "2001:db8::/126", "127.0.0.0/8", "8.8.8.3", "::/127"}));
  }

  std::mt19937 random_;
};

TEST(CompiledRules, DecidesLikeTheRuleList) {
  RandomRules random(20240611);
  for (int round = 0; round < 300; ++round) {
    std::vector<Rule> rules;
    for (int i = 0, n = 1 + round % 12; i < n; ++i) rules.push_back(random.rule());
    const CompiledRules compiled(rules);
    for (int i = 0; i < 200; ++i) {
      const Flow flow = random.flow();
      const Rule* expected = firstMatch(rules, flow);
      const std::int32_t index = compiled.firstMatch(FlowView(flow));
      ASSERT_EQ(index, expected ? expected - rules.data() : -1) << "round " << round;
    }
  }
}

TEST(CompiledRules, MergedRangesAtTheEdges) {
  Rule rule;
  rule.ports = {{65535, 65535}, {1, 1}, {2, 65534}};
  rule.ip = {*Cidr::parse("::/0"), *Cidr::parse("0.0.0.0/0")};
  const CompiledRules compiled({rule});
  Flow flow;
  flow.ipProto = 6;
  flow.remote = *IpAddress::parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  for (const std::uint16_t port : {1, 2, 1000, 65534, 65535}) {
    flow.remotePort = port;
    EXPECT_EQ(compiled.firstMatch(FlowView(flow)), 0) << port;
  }
  flow.remotePort = 0;
  EXPECT_EQ(compiled.firstMatch(FlowView(flow)), -1);
}

}  // namespace
}  // namespace warden::rules
