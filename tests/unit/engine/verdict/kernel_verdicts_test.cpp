// Which decisions may be held in the kernel, and the key they are held under. (What the kernel
// does with them is tested with real programs in tests/bpf and tests/integration.)
#include "engine/verdict/kernel_verdicts.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <memory>

namespace warden::engine {
namespace {

constexpr std::uint64_t kExecId = 7;

Attribution processOwner() {
  Attribution owner;
  owner.kind = OwnerKind::kProcess;
  owner.via = Attribution::Via::kFlowMap;
  owner.key = ProcessKey{4242, 99};
  owner.owner.tgid = owner.owner.pid = 4242;
  owner.owner.uid = 1000;
  owner.owner.start_time_ns = 990'000'000;
  owner.owner.exe_dev = 0x0fe00001;
  owner.owner.exe_ino = 5123;
  owner.owner.exec_id = kExecId;
  return owner;
}

// The owner, described from its exec event: the image, exec generation and uid it had then.
FlowOwner described(const Attribution& attribution) {
  auto info = std::make_shared<ProcessDescription>();
  info->key = attribution.key;
  info->uid = attribution.owner.uid;
  info->path = "/usr/bin/curl";
  info->exeKernelDev = attribution.owner.exe_dev;
  info->exeInode = attribution.owner.exe_ino;
  info->execId = attribution.owner.exec_id;
  info->source = ProcessSource::kExecEvent;
  info->complete = true;
  info->match = std::make_shared<rules::ProcessInfo>();
  return FlowOwner{attribution, std::move(info)};
}

rules::Flow tcpFlow(std::uint16_t remotePort = 443) {
  rules::Flow flow;
  flow.direction = rules::Direction::kOut;
  flow.ipProto = IPPROTO_TCP;
  flow.local = rules::IpAddress::v4(192, 0, 2, 1);
  flow.remote = rules::IpAddress::v4(192, 0, 2, 2);
  flow.localPort = 40000;
  flow.remotePort = remotePort;
  return flow;
}

rules::Decision byRule(rules::Action action) {
  rules::Decision decision;
  decision.action = decision.enforced = action;
  decision.by = rules::DecidedBy::kProfileRule;
  return decision;
}

class Holdable : public ::testing::Test {
 protected:
  rules::Config config_;
  FlowOwner owner_ = described(processOwner());
  rules::Flow flow_ = tcpFlow();
};

TEST_F(Holdable, AnEnforcedDecisionOfAProcessDescribedForItsImage) {
  for (auto action : {rules::Action::kAllow, rules::Action::kDeny, rules::Action::kReject}) {
    EXPECT_TRUE(holdable(config_, byRule(action), owner_, flow_));
  }
  for (auto by : {rules::DecidedBy::kGlobalRule, rules::DecidedBy::kProfileDefault,
                  rules::DecidedBy::kEngineDefault}) {
    rules::Decision decision = byRule(rules::Action::kAllow);
    decision.by = by;
    EXPECT_TRUE(holdable(config_, decision, owner_, flow_));
  }
  rules::Flow udp = flow_;
  udp.ipProto = IPPROTO_UDP;
  EXPECT_TRUE(holdable(config_, byRule(rules::Action::kAllow), owner_, udp));
}

TEST_F(Holdable, NotWhenSwitchedOffOrLearningOrDecidedByAnythingButThePolicy) {
  rules::Config off = config_;
  off.kernelVerdicts = false;
  EXPECT_FALSE(holdable(off, byRule(rules::Action::kAllow), owner_, flow_));
  rules::Decision learn = byRule(rules::Action::kDeny);
  learn.learn = true;
  learn.enforced = rules::Action::kAllow;
  EXPECT_FALSE(holdable(config_, learn, owner_, flow_));
  for (auto by :
       {rules::DecidedBy::kUnknown, rules::DecidedBy::kKernel, rules::DecidedBy::kPrompt}) {
    rules::Decision decision = byRule(rules::Action::kAllow);
    decision.by = by;
    EXPECT_FALSE(holdable(config_, decision, owner_, flow_)) << static_cast<int>(by);
  }
}

TEST_F(Holdable, OnlyOutboundTcpAndUdpAndNeverADnsQueryWhileNamesAreRead) {
  rules::Flow in = flow_;
  in.direction = rules::Direction::kIn;
  EXPECT_FALSE(holdable(config_, byRule(rules::Action::kAllow), owner_, in));
  rules::Flow icmp = flow_;
  icmp.ipProto = IPPROTO_ICMP;
  EXPECT_FALSE(holdable(config_, byRule(rules::Action::kAllow), owner_, icmp));
  const rules::Flow dns = tcpFlow(53);
  EXPECT_FALSE(holdable(config_, byRule(rules::Action::kAllow), owner_, dns));
  rules::Config noDns = config_;
  noDns.dns = false;
  EXPECT_TRUE(holdable(noDns, byRule(rules::Action::kAllow), owner_, dns));
}

// The key the hooks compute names the process image and uid of the socket call: a decision
// made from a description of anything else must not be held under it.
TEST_F(Holdable, NotWhenTheDescriptionIsOfAnotherImageOrUidOrIncomplete) {
  const rules::Decision allow = byRule(rules::Action::kAllow);
  auto withDescription = [&](auto change) {
    auto info = std::make_shared<ProcessDescription>(*owner_.process);
    change(*info);
    return FlowOwner{owner_.attribution, std::move(info)};
  };
  EXPECT_FALSE(holdable(config_, allow,
                        withDescription([](ProcessDescription& d) { d.execId = kExecId - 1; }),
                        flow_));
  EXPECT_FALSE(holdable(config_, allow,
                        withDescription([](ProcessDescription& d) { d.execId = 0; }), flow_));
  EXPECT_FALSE(holdable(config_, allow,
                        withDescription([](ProcessDescription& d) { d.exeInode += 1; }), flow_));
  EXPECT_FALSE(
      holdable(config_, allow, withDescription([](ProcessDescription& d) { d.uid = 0; }), flow_));
  EXPECT_FALSE(holdable(config_, allow,
                        withDescription([](ProcessDescription& d) { d.complete = false; }), flow_));
  EXPECT_FALSE(holdable(
      config_, allow,
      withDescription([](ProcessDescription& d) { d.source = ProcessSource::kOwnerOnly; }), flow_));
  FlowOwner viaSockDiag = owner_;
  viaSockDiag.attribution.via = Attribution::Via::kSockDiag;
  EXPECT_FALSE(holdable(config_, allow, viaSockDiag, flow_));
  FlowOwner undescribed = owner_;
  undescribed.process = nullptr;
  EXPECT_FALSE(holdable(config_, allow, undescribed, flow_));
}

TEST(HeldKey, NamesTheProcessImageUidAndDestinationAndNothingElse) {
  const Attribution owner = processOwner();
  const rules::Flow flow = tcpFlow(8443);
  const warden_held_key key = heldKeyOf(flow, owner.owner, 0x1234);
  EXPECT_EQ(key.tgid, 4242u);
  EXPECT_EQ(key.start_time_ns, owner.owner.start_time_ns);
  EXPECT_EQ(key.exec_id, kExecId);
  EXPECT_EQ(key.uid, 1000u);
  EXPECT_EQ(key.netns_cookie, 0x1234u);
  EXPECT_EQ(std::memcmp(key.remote_addr, flow.remote.bytes.data(), 16), 0);
  EXPECT_EQ(key.remote_port, 8443);
  EXPECT_EQ(key.protocol, IPPROTO_TCP);
  EXPECT_EQ(key.direction, WARDEN_HELD_OUT);
  // The local end is not part of it (the hooks do not know it at connect), and the padding
  // is zero, so that keys compare bytewise.
  rules::Flow otherLocal = flow;
  otherLocal.localPort = 50000;
  otherLocal.local = rules::IpAddress::v4(192, 0, 2, 9);
  const warden_held_key same = heldKeyOf(otherLocal, owner.owner, 0x1234);
  EXPECT_EQ(std::memcmp(&key, &same, sizeof key), 0);
}

}  // namespace
}  // namespace warden::engine
