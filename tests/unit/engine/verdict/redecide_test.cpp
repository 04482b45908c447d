#include "engine/verdict/redecide.h"

// netinet/in.h before the linux/ headers, which otherwise redefine its types.
#include <netinet/in.h>

#include <gtest/gtest.h>
#include <linux/netfilter.h>
#include <sys/socket.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "engine/verdict/flow_decision.h"

namespace warden::engine {
namespace {

rules::IpAddress ip(const char* text) { return *rules::IpAddress::parse(text); }

ConntrackTuple tuple(const char* source, const char* destination, std::uint16_t sourcePort,
                     std::uint16_t destinationPort, std::uint8_t proto = IPPROTO_TCP) {
  ConntrackTuple t;
  t.family = ip(source).isV4() ? AF_INET : AF_INET6;
  t.ipProto = proto;
  t.source = ip(source);
  t.destination = ip(destination);
  t.sourcePort = sourcePort;
  t.destinationPort = destinationPort;
  return t;
}

// What the flow a worker saw must hold.
void expectFlow(const rules::Flow& flow, rules::Direction direction, std::uint8_t proto,
                const char* local, std::uint16_t localPort, const char* remote,
                std::uint16_t remotePort) {
  EXPECT_EQ(flow.direction, direction);
  EXPECT_EQ(flow.ipProto, proto);
  EXPECT_EQ(flow.local, ip(local));
  EXPECT_EQ(flow.remote, ip(remote));
  EXPECT_EQ(flow.localPort, localPort);
  EXPECT_EQ(flow.remotePort, remotePort);
}

const std::vector<rules::IpAddress> kLocal = {ip("127.0.0.1"), ip("::1"), ip("192.0.2.1"),
                                              ip("2001:db8::1")};

TEST(Redecide, AFlowFromALocalAddressWasDecidedOnOutput) {
  EXPECT_EQ(decidingHook(tuple("192.0.2.1", "192.0.2.2", 40000, 7000), kLocal), NF_INET_LOCAL_OUT);
  EXPECT_EQ(decidingHook(tuple("2001:db8::1", "2001:db8::2", 40000, 7000), kLocal),
            NF_INET_LOCAL_OUT);
  // Loopback: both ends are local, and the output hook saw the first packet first.
  EXPECT_EQ(decidingHook(tuple("127.0.0.1", "127.0.0.1", 40000, 7000), kLocal), NF_INET_LOCAL_OUT);
  EXPECT_EQ(decidingHook(tuple("::1", "::1", 40000, 7000), kLocal), NF_INET_LOCAL_OUT);
}

TEST(Redecide, AFlowFromElsewhereWasDecidedOnInput) {
  EXPECT_EQ(decidingHook(tuple("192.0.2.2", "192.0.2.1", 50000, 22), kLocal), NF_INET_LOCAL_IN);
  EXPECT_EQ(decidingHook(tuple("2001:db8::2", "2001:db8::1", 50000, 22), kLocal), NF_INET_LOCAL_IN);
  // Not a prefix match: another host of our own network is still remote.
  EXPECT_EQ(decidingHook(tuple("192.0.2.3", "192.0.2.1", 50000, 22), kLocal), NF_INET_LOCAL_IN);
  EXPECT_EQ(decidingHook(tuple("192.0.2.1", "192.0.2.2", 1, 2), {}), NF_INET_LOCAL_IN);
}

TEST(Redecide, OutboundTupleBecomesTheFlowAWorkerSaw) {
  const ConntrackTuple t = tuple("2001:db8::1", "2001:db8::2", 40000, 7000, IPPROTO_UDP);
  const PacketInfo info = firstPacketOf(t);
  EXPECT_EQ(info.ipVersion, 6);
  expectFlow(flowOf(info, decidingHook(t, kLocal)), rules::Direction::kOut, IPPROTO_UDP,
             "2001:db8::1", 40000, "2001:db8::2", 7000);
}

TEST(Redecide, InboundTupleHasTheLocalEndAsDestination) {
  const ConntrackTuple t = tuple("198.51.100.2", "192.0.2.1", 50000, 22);
  const PacketInfo info = firstPacketOf(t);
  EXPECT_EQ(info.ipVersion, 4);
  expectFlow(flowOf(info, decidingHook(t, kLocal)), rules::Direction::kIn, IPPROTO_TCP, "192.0.2.1",
             22, "198.51.100.2", 50000);
}

TEST(Redecide, IcmpTupleHasNoPorts) {
  const ConntrackTuple t = tuple("192.0.2.1", "192.0.2.2", 0, 0, IPPROTO_ICMP);
  const rules::Flow flow = flowOf(firstPacketOf(t), decidingHook(t, kLocal));
  EXPECT_EQ(flow.ipProto, IPPROTO_ICMP);
  EXPECT_EQ(flow.localPort, 0);
  EXPECT_EQ(flow.remotePort, 0);
}

TEST(Redecide, CountsAsTheControlReplyCarriesThem) {
  RedecideCounts counts;
  counts.examined = 12;
  counts.kept = 9;
  counts.learned = 1;
  counts.denied = 1;
  counts.rejected = 1;
  counts.gone = 1;
  const nlohmann::json json = counts.toJson();
  EXPECT_EQ(json["examined"], 12);
  EXPECT_EQ(json["kept"], 9);
  EXPECT_EQ(json["revoked"], 2);
  EXPECT_EQ(json["denied"], 1);
  EXPECT_EQ(json["rejected"], 1);
  EXPECT_EQ(json["learned"], 1);
  EXPECT_EQ(json["gone"], 1);
  EXPECT_EQ(json["failed"], 0);
}

TEST(Redecide, RevokedMarksFitAnyValidMask) {
  for (std::uint32_t mask : {0x00f00000u, 0x3u, 0xc0000000u, 0x00000300u}) {
    const MarkBits marks{mask};
    const std::uint32_t values[] = {marks.accept(), marks.reject(), marks.revokedDrop(),
                                    marks.revokedReject()};
    for (std::uint32_t v : values) EXPECT_EQ(v & ~mask, 0u) << std::hex << mask;
    EXPECT_NE(marks.revokedDrop(), marks.accept());
    EXPECT_NE(marks.revokedReject(), marks.accept());
    EXPECT_NE(marks.revokedDrop(), marks.revokedReject());
  }
}

}  // namespace
}  // namespace warden::engine
