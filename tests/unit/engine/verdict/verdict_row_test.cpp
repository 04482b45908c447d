#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "engine/verdict/flow_decision.h"
#include "tests/unit/engine/verdict/verdict_rows.h"

namespace warden::engine {
namespace {

using testing::browserOwner;
using testing::browserPolicy;
using testing::kBrowserPath;
using testing::kBrowserProfile;
using testing::outboundFlow;

TEST(VerdictRow, RecordsTheFlowTheProcessAndTheDecision) {
  const PolicySnapshot snapshot = browserPolicy();
  const FlowOwner owner = browserOwner();
  const rules::Flow flow = outboundFlow("telemetry.eu-west-1.browser-vendor.example");
  const rules::Decision decision = decideForOwner(*snapshot.policy, flow, owner);
  ASSERT_TRUE(wantsLogRow(snapshot.config(), decision));

  const db::LogRow row = verdictRow(snapshot, decision, flow, 1500, owner);
  EXPECT_EQ(row.revision, 7);
  EXPECT_EQ(row.remoteAddr, flow.remote);
  EXPECT_EQ(row.remotePort, 443);
  EXPECT_EQ(row.action, rules::Action::kDeny);
  EXPECT_EQ(row.decidedBy, db::DecidedBy::kProfileDefault);
  EXPECT_EQ(row.latencyNs, 1500u);
  EXPECT_EQ(row.pid, 4242);
  EXPECT_EQ(row.uid, 1000u);
  EXPECT_EQ(row.host.view(), "telemetry.eu-west-1.browser-vendor.example");
  ASSERT_NE(row.profile, nullptr);
  EXPECT_EQ(*row.profile, kBrowserProfile);
  ASSERT_NE(row.process, nullptr);
  EXPECT_EQ(row.process->exe, kBrowserPath);
}

TEST(VerdictRow, ProfileNameOutlivesThePolicy) {
  // A reload may drop the policy while its rows still wait for the writer thread.
  PolicySnapshot snapshot = browserPolicy();
  const std::weak_ptr<const rules::CompiledPolicy> policy = snapshot.policy;
  const FlowOwner owner = browserOwner();
  const rules::Flow flow = outboundFlow("");
  db::LogRow row =
      verdictRow(snapshot, decideForOwner(*snapshot.policy, flow, owner), flow, 0, owner);
  snapshot = PolicySnapshot{};
  ASSERT_TRUE(policy.expired());
  ASSERT_NE(row.profile, nullptr);
  EXPECT_EQ(*row.profile, kBrowserProfile);
  EXPECT_TRUE(row.host.empty());
}

TEST(VerdictRow, NoProfileNoName) {
  const PolicySnapshot snapshot = browserPolicy();
  FlowOwner owner = browserOwner();
  owner.process = nullptr;  // not described: the engine `unknown` verdict, with the pid
  const rules::Flow flow = outboundFlow("example.org");
  const rules::Decision decision = decideForOwner(*snapshot.policy, flow, owner);
  EXPECT_EQ(decision.by, rules::DecidedBy::kUnknown);
  const db::LogRow row = verdictRow(snapshot, decision, flow, 0, owner);
  EXPECT_EQ(row.decidedBy, db::DecidedBy::kUnknown);
  EXPECT_EQ(row.pid, 4242);
  EXPECT_EQ(row.profile, nullptr);
  EXPECT_EQ(row.process, nullptr);
  EXPECT_EQ(row.host.view(), "example.org");
}

// SPEC section 4: a process known by pid whose description is late (a launch storm) or rests
// on the kernel's socket record alone gets the engine `unknown` verdict, never `default`, even
// when `default` is more permissive ("allow" here, `unknown` "reject").
TEST(DecideForOwner, AProcessNotDescribedGetsUnknownNotDefault) {
  rules::Policy policy;
  policy.config = *rules::parseConfig(
      "[engine]\ndefault = 'allow'\nunknown = 'reject'\n[[rule]]\naction = 'allow'\n"
      "ports = 53\n",
      "/t/warden.toml");
  policy.profiles = browserPolicy().policy->policy().profiles;
  const auto compiled = *rules::CompiledPolicy::compile(std::move(policy), 8);
  const rules::Flow web = outboundFlow("");
  const FlowOwner described = browserOwner();
  ASSERT_EQ(decideForOwner(*compiled, web, described).by, rules::DecidedBy::kProfileDefault);

  auto late = std::make_shared<ProcessDescription>(*described.process);
  late->complete = false;  // published by the exec event, /proc not read yet
  auto ownerOnly = std::make_shared<ProcessDescription>(*described.process);
  ownerOnly->source = ProcessSource::kOwnerOnly;
  auto bare = std::make_shared<ProcessDescription>(*described.process);
  bare->match = nullptr;
  for (const auto& process : {std::shared_ptr<const ProcessDescription>{},
                              std::shared_ptr<const ProcessDescription>(late),
                              std::shared_ptr<const ProcessDescription>(ownerOnly),
                              std::shared_ptr<const ProcessDescription>(bare)}) {
    FlowOwner owner = described;
    owner.process = process;
    const rules::Decision decision = decideForOwner(*compiled, web, owner);
    EXPECT_EQ(decision.by, rules::DecidedBy::kUnknown);
    EXPECT_EQ(decision.action, rules::Action::kReject);
    EXPECT_EQ(verdictRow(browserPolicy(), decision, web, 0, owner).pid, 4242);
    // Global rules still see the flow first (SPEC section 4 step 1).
    rules::Flow dns = web;
    dns.remotePort = 53;
    EXPECT_EQ(decideForOwner(*compiled, dns, owner).by, rules::DecidedBy::kGlobalRule);
  }
}

// A queue worker hands decideForOwner where it keeps a process's choice of profile: chosen only
// when no global rule decides the flow, kept there, and used as given from then on.
TEST(DecideForOwner, ChoosesTheProfileOnlyAfterTheGlobalRulesAndRemembersIt) {
  rules::Policy policy;
  policy.config = *rules::parseConfig("[[rule]]\naction = 'allow'\nports = 53\n", "/t/warden.toml");
  policy.profiles = browserPolicy().policy->policy().profiles;
  const auto compiled = *rules::CompiledPolicy::compile(std::move(policy), 8);
  const FlowOwner owner = browserOwner();
  std::optional<rules::ProfileSelection> remembered;
  rules::Flow dns = outboundFlow("");
  dns.remotePort = 53;
  EXPECT_EQ(decideForOwner(*compiled, dns, owner, &remembered).by, rules::DecidedBy::kGlobalRule);
  EXPECT_FALSE(remembered.has_value());
  const rules::Flow web = outboundFlow("");
  const rules::Decision decision = decideForOwner(*compiled, web, owner, &remembered);
  EXPECT_EQ(decision.profile, kBrowserProfile);
  EXPECT_EQ(decision.by, rules::DecidedBy::kProfileDefault);
  ASSERT_TRUE(remembered.has_value());
  EXPECT_EQ(remembered->profile, 0);
  // No profile chosen (what a selection of none says): the engine default decides.
  remembered = rules::ProfileSelection{};
  EXPECT_EQ(decideForOwner(*compiled, web, owner, &remembered).by,
            rules::DecidedBy::kEngineDefault);
  // A process not described is not judged by a profile, remembered or not.
  FlowOwner late = owner;
  late.process = nullptr;
  remembered = compiled->selectProfile(*owner.process->match);
  EXPECT_EQ(decideForOwner(*compiled, web, late, &remembered).by, rules::DecidedBy::kUnknown);
}

// The kernel and an owner that could not be named get the engine verdicts for them.
TEST(DecideForOwner, KernelAndUnknownOwners) {
  rules::Policy policy;
  policy.config =
      *rules::parseConfig("[engine]\nkernel = 'reject'\nunknown = 'deny'\n", "/t/warden.toml");
  policy.profiles = browserPolicy().policy->policy().profiles;
  const auto compiled = *rules::CompiledPolicy::compile(std::move(policy), 8);
  FlowOwner owner;
  owner.attribution.kind = OwnerKind::kKernel;
  const rules::Decision kernel = decideForOwner(*compiled, outboundFlow(""), owner);
  EXPECT_EQ(kernel.by, rules::DecidedBy::kKernel);
  EXPECT_EQ(kernel.action, rules::Action::kReject);
  owner.attribution.kind = OwnerKind::kUnknown;
  const rules::Decision unknown = decideForOwner(*compiled, outboundFlow(""), owner);
  EXPECT_EQ(unknown.by, rules::DecidedBy::kUnknown);
  EXPECT_EQ(unknown.action, rules::Action::kDeny);
}

}  // namespace
}  // namespace warden::engine
