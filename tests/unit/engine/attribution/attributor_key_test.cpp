#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>

#include "engine/attribution/attributor.h"

namespace warden::engine {
namespace {

TEST(FlowKey, OutboundKeyIsTheBpfKey) {
  PacketInfo packet;
  packet.ipVersion = 4;
  packet.ipProto = IPPROTO_UDP;
  packet.source = *rules::IpAddress::parse("192.0.2.1");
  packet.destination = *rules::IpAddress::parse("192.0.2.2");
  packet.sourcePort = 40000;
  packet.destinationPort = 53;
  const warden_flow_key key = outboundFlowKey(packet, 0x1122334455667788ull);
  EXPECT_EQ(key.netns_cookie, 0x1122334455667788ull);
  EXPECT_EQ(key.local_port, 40000);
  EXPECT_EQ(key.remote_port, 53);
  EXPECT_EQ(key.protocol, IPPROTO_UDP);
  const std::uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 2};
  EXPECT_EQ(std::memcmp(key.remote_addr, mapped, 16), 0);
  EXPECT_EQ(key.pad[0] | key.pad[1] | key.pad[2], 0);
  EXPECT_EQ(sizeof(warden_flow_key), 32u);  // no implicit padding: the kernel compares bytes
}

TEST(FlowKey, InboundKeyIsTheLocalPort) {
  PacketInfo packet;
  packet.ipVersion = 6;
  packet.ipProto = IPPROTO_TCP;
  packet.source = *rules::IpAddress::parse("2001:db8::1");
  packet.destination = *rules::IpAddress::parse("2001:db8::2");
  packet.sourcePort = 51000;
  packet.destinationPort = 8080;
  const warden_listener_key key = inboundListenerKey(packet, 9);
  EXPECT_EQ(key.netns_cookie, 9u);
  EXPECT_EQ(key.local_port, 8080);
  EXPECT_EQ(key.protocol, IPPROTO_TCP);
  EXPECT_EQ(sizeof(warden_listener_key), 16u);
}

TEST(AttributionMethod, Names) {
  EXPECT_STREQ(toString(AttributionMethod::kEbpf), "ebpf");
  EXPECT_STREQ(toString(AttributionMethod::kSockDiag), "sock_diag");
  EXPECT_STREQ(toString(AttributionMethod::kNone), "none");
}

}  // namespace
}  // namespace warden::engine
