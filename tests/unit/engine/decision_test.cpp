#include "engine/decision.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

namespace warden::engine {
namespace {

rules::Rule rule(rules::Action action, rules::Proto proto, std::uint16_t port) {
  rules::Rule r;
  r.action = action;
  r.proto = proto;
  r.ports = {{port, port}};
  return r;
}

rules::Flow tcpTo(const char* address, std::uint16_t port) {
  rules::Flow flow;
  flow.ipProto = IPPROTO_TCP;
  flow.local = *rules::IpAddress::parse("192.0.2.1");
  flow.remote = *rules::IpAddress::parse(address);
  flow.localPort = 40000;
  flow.remotePort = port;
  return flow;
}

TEST(Decision, FirstMatchingGlobalRuleWins) {
  rules::Config config;
  config.defaultAction = rules::Action::kDeny;
  config.globalRules = {rule(rules::Action::kReject, rules::Proto::kTcp, 81),
                        rule(rules::Action::kAllow, rules::Proto::kTcp, 81),
                        rule(rules::Action::kAllow, rules::Proto::kAny, 80)};
  const Decision d = decide(config, tcpTo("192.0.2.2", 81), Owner::kProcess);
  EXPECT_EQ(d.action, rules::Action::kReject);
  EXPECT_EQ(d.by, DecidedBy::kGlobalRule);
  EXPECT_EQ(d.index, 0);
  const Decision e = decide(config, tcpTo("192.0.2.2", 80), Owner::kProcess);
  EXPECT_EQ(e.action, rules::Action::kAllow);
  EXPECT_EQ(e.index, 2);
}

TEST(Decision, EngineDefaultWhenNoRuleMatches) {
  rules::Config config;
  config.defaultAction = rules::Action::kDeny;
  config.globalRules = {rule(rules::Action::kAllow, rules::Proto::kUdp, 80)};
  const Decision d = decide(config, tcpTo("192.0.2.2", 80), Owner::kProcess);
  EXPECT_EQ(d.action, rules::Action::kDeny);
  EXPECT_EQ(d.by, DecidedBy::kEngineDefault);
}

TEST(Decision, KernelTrafficGetsTheKernelVerdictButGlobalRulesStillFirst) {
  rules::Config config;
  config.defaultAction = rules::Action::kAllow;
  config.kernelAction = rules::Action::kReject;
  config.globalRules = {rule(rules::Action::kAllow, rules::Proto::kTcp, 179)};
  EXPECT_EQ(decide(config, tcpTo("192.0.2.2", 80), Owner::kKernel).by, DecidedBy::kKernel);
  EXPECT_EQ(decide(config, tcpTo("192.0.2.2", 80), Owner::kKernel).action, rules::Action::kReject);
  EXPECT_EQ(decide(config, tcpTo("192.0.2.2", 179), Owner::kKernel).by, DecidedBy::kGlobalRule);
}

TEST(Decision, MalformedPacketsGetTheUnknownVerdict) {
  rules::Config config;
  config.unknownAction = rules::Action::kReject;
  const Decision d = decideMalformed(config);
  EXPECT_EQ(d.action, rules::Action::kReject);
  EXPECT_EQ(d.by, DecidedBy::kUnknown);
}

}  // namespace
}  // namespace warden::engine
