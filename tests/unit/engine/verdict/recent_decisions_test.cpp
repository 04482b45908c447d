#include "engine/verdict/recent_decisions.h"

#include <netinet/in.h>

#include <gtest/gtest.h>

#include "tests/unit/engine/verdict/verdict_rows.h"

namespace warden::engine {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000ull;
constexpr std::uint64_t kStart = 1'000 * kSecond;  // some monotonic time

rules::Decision denied() {
  rules::Decision decision;
  decision.action = rules::Action::kDeny;
  decision.enforced = rules::Action::kDeny;
  decision.by = rules::DecidedBy::kProfileRule;
  decision.ruleIndex = 2;
  decision.profileIndex = 0;
  return decision;
}

DecisionKey browserKey(std::uint16_t localPort = 40000) {
  rules::Flow flow = testing::outboundFlow("");
  flow.localPort = localPort;
  return decisionKeyOf(flow, testing::browserOwner(), denied(), 7);
}

TEST(RecentDecisions, ARepeatWithinTheWindowIsNotLoggedAgain) {
  RecentDecisions recent;
  EXPECT_FALSE(recent.repeat(browserKey(), kStart)) << "first time: logged";
  // The SYN sent again 1, 3, 7 ... 63 s later.
  for (std::uint64_t at : {1, 3, 7, 15, 31, 63}) {
    EXPECT_TRUE(recent.repeat(browserKey(), kStart + at * kSecond)) << at;
  }
}

TEST(RecentDecisions, TheWindowRunsFromTheLoggedRowSoALongRefusalIsLoggedNowAndThen) {
  RecentDecisions recent;
  EXPECT_FALSE(recent.repeat(browserKey(), kStart));
  EXPECT_TRUE(recent.repeat(browserKey(), kStart + RecentDecisions::kWindowNs - 1));
  EXPECT_FALSE(recent.repeat(browserKey(), kStart + RecentDecisions::kWindowNs));
  EXPECT_TRUE(recent.repeat(browserKey(), kStart + RecentDecisions::kWindowNs + kSecond));
}

TEST(RecentDecisions, AnotherFlowOwnerOrDecisionIsLogged) {
  RecentDecisions recent;
  const DecisionKey first = browserKey();
  EXPECT_FALSE(recent.repeat(first, kStart));

  // Another connection: another source port.
  EXPECT_FALSE(recent.repeat(browserKey(40001), kStart + kSecond));

  // The same 5-tuple, another process (a reused pid is another start time).
  DecisionKey otherProcess = first;
  otherProcess.startTicks += 1;
  EXPECT_FALSE(recent.repeat(otherProcess, kStart + kSecond));

  // The same flow and process, decided otherwise: another policy revision, rule or action.
  DecisionKey reloaded = first;
  reloaded.revision = 8;
  EXPECT_FALSE(recent.repeat(reloaded, kStart + 2 * kSecond));
  DecisionKey otherRule = reloaded;
  otherRule.ruleIndex = 3;
  EXPECT_FALSE(recent.repeat(otherRule, kStart + 3 * kSecond));
  DecisionKey rejected = otherRule;
  rejected.action = rules::Action::kReject;
  EXPECT_FALSE(recent.repeat(rejected, kStart + 4 * kSecond));
  DecisionKey learned = rejected;
  learned.learn = true;
  EXPECT_FALSE(recent.repeat(learned, kStart + 5 * kSecond));
}

TEST(RecentDecisions, ADecisionOfTheFlowDisplacesTheOneBefore) {
  RecentDecisions recent;
  DecisionKey allowed = browserKey();
  allowed.action = rules::Action::kAllow;
  EXPECT_FALSE(recent.repeat(browserKey(), kStart));
  EXPECT_FALSE(recent.repeat(allowed, kStart + kSecond));
  // Back to the first decision: its slot was taken meanwhile, so it is logged again.
  EXPECT_FALSE(recent.repeat(browserKey(), kStart + 2 * kSecond));
}

TEST(RecentDecisions, AForgottenDecisionIsLoggedAtItsNextRepeat) {
  RecentDecisions recent;
  EXPECT_FALSE(recent.repeat(browserKey(), kStart));
  recent.forget(browserKey(40001));  // another flow: changes nothing
  EXPECT_TRUE(recent.repeat(browserKey(), kStart + kSecond));
  recent.forget(browserKey());
  EXPECT_FALSE(recent.repeat(browserKey(), kStart + 2 * kSecond));
  EXPECT_TRUE(recent.repeat(browserKey(), kStart + 3 * kSecond));
}

TEST(RecentDecisions, AnEarlierClockReadingCountsAsWithinTheWindow) {
  RecentDecisions recent;
  EXPECT_FALSE(recent.repeat(browserKey(), kStart));
  EXPECT_TRUE(recent.repeat(browserKey(), kStart - kSecond));
}

TEST(RecentDecisions, ItsBoundIsKeptWhateverComes) {
  RecentDecisions recent;
  // Far more flows than slots: each logged once, none mistaken for another's repeat.
  for (std::uint32_t i = 0; i < 4 * RecentDecisions::kSlots; ++i) {
    DecisionKey key = browserKey(static_cast<std::uint16_t>(10'000 + i));
    EXPECT_FALSE(recent.repeat(key, kStart + i)) << i;
  }
  // The latest ones are mostly still there (a few displaced by later neighbours); looked at
  // newest first, since a look that misses takes the slot.
  constexpr std::uint32_t kLatest = 100;
  std::size_t remembered = 0;
  for (std::uint32_t i = 4 * RecentDecisions::kSlots;
       i-- > 4 * RecentDecisions::kSlots - kLatest;) {
    remembered += recent.repeat(browserKey(static_cast<std::uint16_t>(10'000 + i)), kStart + i);
  }
  EXPECT_GT(remembered, kLatest * 8 / 10);
}

TEST(RecentDecisions, OwnerKindsAndProcessesMakeTheKey) {
  const rules::Flow flow = testing::outboundFlow("");
  FlowOwner unknown;
  unknown.attribution.kind = OwnerKind::kUnknown;
  FlowOwner kernel;
  kernel.attribution.kind = OwnerKind::kKernel;
  FlowOwner process = testing::browserOwner();
  process.attribution.key = ProcessKey{4242, 99};
  const DecisionKey a = decisionKeyOf(flow, unknown, denied(), 7);
  const DecisionKey b = decisionKeyOf(flow, kernel, denied(), 7);
  const DecisionKey c = decisionKeyOf(flow, process, denied(), 7);
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(c.pid, 4242u);
  EXPECT_EQ(c.startTicks, 99u);
  EXPECT_EQ(a.pid, 0u) << "only a process's owner names one";
}

TEST(RecentDecisions, OnlyTcpAndUdpPortsNameAFlow) {
  PacketInfo info;
  info.ipProto = IPPROTO_TCP;
  EXPECT_TRUE(portsNameFlow(info));
  info.ipProto = IPPROTO_UDP;
  EXPECT_TRUE(portsNameFlow(info));
  info.fragment = true;
  EXPECT_FALSE(portsNameFlow(info));
  info = {};
  info.ipProto = IPPROTO_ICMP;
  EXPECT_FALSE(portsNameFlow(info));
}

}  // namespace
}  // namespace warden::engine
