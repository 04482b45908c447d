#include <gtest/gtest.h>

#include "engine/decision.h"

namespace warden::engine {
namespace {

// SPEC section 4 steps 2 and 3: kernel traffic and unattributable sockets get the engine
// verdicts, after the global rules.
TEST(DecisionOwner, UnknownOwnerGetsTheUnknownVerdict) {
  rules::Config config;
  config.defaultAction = rules::Action::kAllow;
  config.unknownAction = rules::Action::kReject;
  config.kernelAction = rules::Action::kDeny;
  rules::Flow flow;
  const Decision unknown = decide(config, flow, Owner::kUnknown);
  EXPECT_EQ(unknown.action, rules::Action::kReject);
  EXPECT_EQ(unknown.by, DecidedBy::kUnknown);
  const Decision kernel = decide(config, flow, Owner::kKernel);
  EXPECT_EQ(kernel.action, rules::Action::kDeny);
  EXPECT_EQ(kernel.by, DecidedBy::kKernel);
  EXPECT_EQ(decide(config, flow, Owner::kProcess).by, DecidedBy::kEngineDefault);
}

}  // namespace
}  // namespace warden::engine
