#include "rules/rule_text.h"

#include <gtest/gtest.h>

namespace warden::rules {
namespace {

TEST(RuleText, DescribesEveryKeyGiven) {
  Rule rule;
  rule.action = Action::kReject;
  rule.proto = Proto::kTcp;
  rule.ip = {*Cidr::parse("192.0.2.0/24"), *Cidr::parse("2001:db8::1")};
  rule.ports = {{443, 443}, {8000, 8100}};
  rule.host = "*.example.org";
  rule.scope = Scope::kInternet;
  rule.log = false;
  EXPECT_EQ(describe(rule),
            "reject out tcp ip=192.0.2.0/24,2001:db8::1 ports=443,8000-8100 "
            "host=*.example.org scope=internet log=false");
}

TEST(RuleText, BareRule) {
  Rule rule;
  rule.direction = Direction::kIn;
  EXPECT_EQ(describe(rule), "allow in");
}

}  // namespace
}  // namespace warden::rules
