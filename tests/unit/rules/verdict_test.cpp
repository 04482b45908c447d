#include "rules/verdict.h"

#include <gtest/gtest.h>

namespace warden::rules {
namespace {

TEST(Verdict, NamesRoundTrip) {
  for (auto a : {Action::kAllow, Action::kDeny, Action::kReject}) {
    EXPECT_EQ(parseAction(toString(a)), a);
  }
  EXPECT_EQ(parseProto("icmp"), Proto::kIcmp);
  EXPECT_EQ(parseScope("lan"), Scope::kLan);
  EXPECT_FALSE(parseAction("Allow").has_value());
  EXPECT_FALSE(parseDirection("").has_value());
}

}  // namespace
}  // namespace warden::rules
