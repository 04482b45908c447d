#include "rules/rule.h"

#include <gtest/gtest.h>

namespace warden::rules {
namespace {

constexpr std::uint8_t kTcp = 6;
constexpr std::uint8_t kUdp = 17;
constexpr std::uint8_t kIcmp = 1;
constexpr std::uint8_t kIcmpV6 = 58;

IpAddress ip(std::string_view text) { return IpAddress::parse(text).value(); }
Cidr cidr(std::string_view text) { return Cidr::parse(text).value(); }

Flow outbound(std::string_view remote, std::uint16_t port = 443, std::uint8_t proto = kTcp) {
  Flow flow;
  flow.direction = Direction::kOut;
  flow.ipProto = proto;
  flow.local = ip("192.168.1.5");
  flow.remote = ip(remote);
  flow.localPort = 40000;
  flow.remotePort = port;
  return flow;
}

TEST(Rule, EmptyRuleMatchesEveryOutboundFlow) {
  const Rule rule;
  EXPECT_TRUE(rule.matches(outbound("8.8.8.8")));
  EXPECT_TRUE(rule.matches(outbound("2001:db8::1", 0, kIcmpV6)));
}

TEST(Rule, Direction) {
  Rule rule;
  Flow flow = outbound("8.8.8.8");
  flow.direction = Direction::kIn;
  EXPECT_FALSE(rule.matches(flow));
  rule.direction = Direction::kIn;
  EXPECT_TRUE(rule.matches(flow));
  EXPECT_FALSE(rule.matches(outbound("8.8.8.8")));
}

TEST(Rule, Proto) {
  Rule rule;
  rule.proto = Proto::kTcp;
  EXPECT_TRUE(rule.matches(outbound("8.8.8.8", 443, kTcp)));
  EXPECT_FALSE(rule.matches(outbound("8.8.8.8", 443, kUdp)));
  rule.proto = Proto::kUdp;
  EXPECT_TRUE(rule.matches(outbound("8.8.8.8", 53, kUdp)));
  EXPECT_FALSE(rule.matches(outbound("8.8.8.8", 53, kTcp)));
  rule.proto = Proto::kIcmp;
  EXPECT_TRUE(rule.matches(outbound("8.8.8.8", 0, kIcmp)));
  EXPECT_TRUE(rule.matches(outbound("2001:db8::1", 0, kIcmpV6)));
  EXPECT_FALSE(rule.matches(outbound("8.8.8.8", 0, kTcp)));
  rule.proto = Proto::kAny;
  EXPECT_TRUE(rule.matches(outbound("8.8.8.8", 0, 132)));
}

TEST(Rule, PortsAreRemoteForOutbound) {
  Rule rule;
  rule.ports = {{443, 443}, {8000, 8100}};
  EXPECT_TRUE(rule.matches(outbound("8.8.8.8", 443)));
  EXPECT_TRUE(rule.matches(outbound("8.8.8.8", 8000)));
  EXPECT_TRUE(rule.matches(outbound("8.8.8.8", 8100)));
  EXPECT_FALSE(rule.matches(outbound("8.8.8.8", 8101)));
  EXPECT_FALSE(rule.matches(outbound("8.8.8.8", 80)));
  Flow flow = outbound("8.8.8.8", 80);
  flow.localPort = 443;  // the local port does not count for outbound flows
  EXPECT_FALSE(rule.matches(flow));
}

TEST(Rule, PortsAreLocalForInbound) {
  Rule rule;
  rule.direction = Direction::kIn;
  rule.ports = {{22, 22}};
  Flow flow = outbound("203.0.113.9", 51000);
  flow.direction = Direction::kIn;
  flow.localPort = 22;
  EXPECT_TRUE(rule.matches(flow));
  flow.localPort = 23;
  flow.remotePort = 22;
  EXPECT_FALSE(rule.matches(flow));
}

TEST(Rule, PortsNeverMatchIcmp) {
  Rule rule;
  rule.ports = {{1, 65535}};
  EXPECT_FALSE(rule.matches(outbound("8.8.8.8", 8, kIcmp)));
  EXPECT_FALSE(rule.matches(outbound("2001:db8::1", 8, kIcmpV6)));
  EXPECT_TRUE(rule.matches(outbound("8.8.8.8", 8, kUdp)));
}

TEST(Rule, IpList) {
  Rule rule;
  rule.ip = {cidr("192.0.2.10"), cidr("2001:db8::/32"), cidr("10.0.0.0/8")};
  EXPECT_TRUE(rule.matches(outbound("192.0.2.10")));
  EXPECT_FALSE(rule.matches(outbound("192.0.2.11")));
  EXPECT_TRUE(rule.matches(outbound("2001:db8:1::5")));
  EXPECT_FALSE(rule.matches(outbound("2001:db9::5")));
  EXPECT_TRUE(rule.matches(outbound("10.9.8.7")));
}

TEST(Rule, IpIsThePeerForInbound) {
  Rule rule;
  rule.direction = Direction::kIn;
  rule.ip = {cidr("203.0.113.0/24")};
  Flow flow = outbound("203.0.113.9");
  flow.direction = Direction::kIn;
  EXPECT_TRUE(rule.matches(flow));
  flow.remote = ip("198.51.100.1");
  flow.local = ip("203.0.113.1");
  EXPECT_FALSE(rule.matches(flow));
}

TEST(Rule, Scope) {
  Rule rule;
  rule.scope = Scope::kLocalhost;
  EXPECT_TRUE(rule.matches(outbound("127.0.0.1")));
  EXPECT_TRUE(rule.matches(outbound("::1")));
  EXPECT_FALSE(rule.matches(outbound("192.168.1.1")));
  rule.scope = Scope::kLan;
  EXPECT_TRUE(rule.matches(outbound("192.168.1.1")));
  EXPECT_TRUE(rule.matches(outbound("fe80::1")));
  EXPECT_FALSE(rule.matches(outbound("8.8.8.8")));
  rule.scope = Scope::kInternet;
  EXPECT_TRUE(rule.matches(outbound("8.8.8.8")));
  EXPECT_TRUE(rule.matches(outbound("2606:4700::1111")));
  EXPECT_FALSE(rule.matches(outbound("127.0.0.1")));
}

TEST(Rule, ScopeOfInboundIsThePeer) {
  Rule rule;
  rule.direction = Direction::kIn;
  rule.scope = Scope::kLan;
  Flow flow = outbound("192.168.1.20");
  flow.direction = Direction::kIn;
  flow.local = ip("8.8.8.8");
  EXPECT_TRUE(rule.matches(flow));
}

TEST(Rule, HostExact) {
  Rule rule;
  rule.host = "example.org";
  Flow flow = outbound("192.0.2.1");
  EXPECT_FALSE(rule.matches(flow));  // unknown host never matches a host rule
  flow.host = "example.org";
  EXPECT_TRUE(rule.matches(flow));
  flow.host = "EXAMPLE.Org.";
  EXPECT_TRUE(rule.matches(flow));
  flow.host = "www.example.org";
  EXPECT_FALSE(rule.matches(flow));
  flow.host = "example.org.evil";
  EXPECT_FALSE(rule.matches(flow));
}

TEST(Rule, HostWildcard) {
  EXPECT_TRUE(hostMatches("*.example.org", "example.org"));
  EXPECT_TRUE(hostMatches("*.example.org", "www.example.org"));
  EXPECT_TRUE(hostMatches("*.example.org", "a.b.Example.ORG"));
  EXPECT_FALSE(hostMatches("*.example.org", "badexample.org"));
  EXPECT_FALSE(hostMatches("*.example.org", ".example.org"));
  EXPECT_FALSE(hostMatches("*.example.org", "example.com"));
  EXPECT_FALSE(hostMatches("*.example.org", "org"));
  EXPECT_FALSE(hostMatches("*.example.org", ""));
  EXPECT_FALSE(hostMatches("example.org", ""));
}

TEST(Rule, AllKeysMustHold) {
  Rule rule;
  rule.proto = Proto::kTcp;
  rule.ports = {{443, 443}};
  rule.ip = {cidr("2001:db8::/32")};
  rule.scope = Scope::kInternet;
  rule.host = "*.example.org";
  Flow flow = outbound("2001:db8::5", 443);
  flow.host = "api.example.org";
  EXPECT_TRUE(rule.matches(flow));
  Flow wrongPort = flow;
  wrongPort.remotePort = 80;
  EXPECT_FALSE(rule.matches(wrongPort));
  Flow wrongHost = flow;
  wrongHost.host = "example.com";
  EXPECT_FALSE(rule.matches(wrongHost));
  Flow wrongProto = flow;
  wrongProto.ipProto = kUdp;
  EXPECT_FALSE(rule.matches(wrongProto));
}

TEST(Rule, FirstMatchWins) {
  std::vector<Rule> rules(3);
  rules[0].ports = {{22, 22}};
  rules[0].action = Action::kDeny;
  rules[1].ports = {{443, 443}};
  rules[1].action = Action::kReject;
  rules[2].action = Action::kAllow;
  EXPECT_EQ(firstMatch(rules, outbound("8.8.8.8", 443)), &rules[1]);
  EXPECT_EQ(firstMatch(rules, outbound("8.8.8.8", 22)), &rules[0]);
  EXPECT_EQ(firstMatch(rules, outbound("8.8.8.8", 80)), &rules[2]);
  rules.pop_back();
  EXPECT_EQ(firstMatch(rules, outbound("8.8.8.8", 80)), nullptr);
}

}  // namespace
}  // namespace warden::rules
