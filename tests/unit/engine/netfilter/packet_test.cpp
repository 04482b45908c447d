#include "engine/netfilter/packet.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstdint>
#include <vector>

namespace warden::engine {
namespace {

using Bytes = std::vector<std::uint8_t>;

void put16(Bytes& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}

// IPv4 header (20 bytes, no options) + transport bytes.
Bytes ipv4(std::uint8_t proto, const Bytes& l4, std::uint16_t fragmentField = 0) {
  Bytes b(20, 0);
  b[0] = 0x45;
  put16(b, 2, static_cast<std::uint16_t>(20 + l4.size()));
  put16(b, 6, fragmentField);
  b[8] = 64;
  b[9] = proto;
  const std::uint8_t src[4] = {192, 0, 2, 1}, dst[4] = {192, 0, 2, 2};
  std::copy(src, src + 4, b.begin() + 12);
  std::copy(dst, dst + 4, b.begin() + 16);
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

// IPv6 header + the given chain bytes (extension headers followed by transport).
Bytes ipv6(std::uint8_t next, const Bytes& rest) {
  Bytes b(40, 0);
  b[0] = 0x60;
  put16(b, 4, static_cast<std::uint16_t>(rest.size()));
  b[6] = next;
  b[7] = 64;
  b[8] = 0x20, b[9] = 0x01, b[10] = 0x0d, b[11] = 0xb8, b[23] = 1;    // 2001:db8::1
  b[24] = 0x20, b[25] = 0x01, b[26] = 0x0d, b[27] = 0xb8, b[39] = 2;  // 2001:db8::2
  b.insert(b.end(), rest.begin(), rest.end());
  return b;
}

Bytes tcp(std::uint16_t sport, std::uint16_t dport, std::uint8_t flags = 0x02) {
  Bytes b(20, 0);
  put16(b, 0, sport);
  put16(b, 2, dport);
  b[12] = 0x50;
  b[13] = flags;
  return b;
}

Bytes udp(std::uint16_t sport, std::uint16_t dport) {
  Bytes b(8, 0);
  put16(b, 0, sport);
  put16(b, 2, dport);
  put16(b, 4, 8);
  return b;
}

TEST(PacketParser, Ipv4Tcp) {
  const Bytes p = ipv4(IPPROTO_TCP, tcp(40000, 443));
  const ParseResult r = parsePacket(p);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.info.ipVersion, 4);
  EXPECT_EQ(r.info.ipProto, IPPROTO_TCP);
  EXPECT_EQ(r.info.source.toString(), "192.0.2.1");
  EXPECT_EQ(r.info.destination.toString(), "192.0.2.2");
  EXPECT_EQ(r.info.sourcePort, 40000);
  EXPECT_EQ(r.info.destinationPort, 443);
  EXPECT_EQ(r.info.tcpFlags, 0x02);
}

TEST(PacketParser, Ipv4UdpAndIcmp) {
  const ParseResult u = parsePacket(ipv4(IPPROTO_UDP, udp(5353, 53)));
  ASSERT_TRUE(u.ok);
  EXPECT_EQ(u.info.destinationPort, 53);
  const ParseResult i = parsePacket(ipv4(IPPROTO_ICMP, Bytes{8, 0, 0, 0, 0x12, 0x34, 0, 1}));
  ASSERT_TRUE(i.ok);
  EXPECT_EQ(i.info.icmpType, 8);
  EXPECT_EQ(i.info.icmpEchoId, 0x1234);  // what rule 1i keys an echo request's flow by
  EXPECT_TRUE(isEchoRequest(i.info));
  EXPECT_EQ(i.info.sourcePort, 0);
  // An echo reply, and a header too short to hold the identifier.
  EXPECT_FALSE(isEchoRequest(parsePacket(ipv4(IPPROTO_ICMP, Bytes{0, 0, 0, 0, 0, 1})).info));
  EXPECT_EQ(parsePacket(ipv4(IPPROTO_ICMP, Bytes{8, 0, 0, 0, 0, 1})).info.icmpEchoId, 0);
}

TEST(PacketParser, Ipv4WithOptionsSkipsThem) {
  Bytes p = ipv4(IPPROTO_UDP, udp(1, 2));
  p.insert(p.begin() + 20, {1, 1, 1, 1, 1, 1, 1, 1});  // 8 bytes of NOP options
  p[0] = 0x47;
  put16(p, 2, static_cast<std::uint16_t>(p.size()));
  const ParseResult r = parsePacket(p);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.info.destinationPort, 2);
}

TEST(PacketParser, Ipv4NonFirstFragmentHasNoPorts) {
  const ParseResult r = parsePacket(ipv4(IPPROTO_UDP, Bytes{9, 9, 9, 9}, /*offset=*/185));
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(r.info.fragment);
  EXPECT_EQ(r.info.destinationPort, 0);
}

TEST(PacketParser, Ipv6Tcp) {
  const ParseResult r = parsePacket(ipv6(IPPROTO_TCP, tcp(50000, 80)));
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.info.ipVersion, 6);
  EXPECT_EQ(r.info.source.toString(), "2001:db8::1");
  EXPECT_EQ(r.info.destination.toString(), "2001:db8::2");
  EXPECT_EQ(r.info.destinationPort, 80);
}

TEST(PacketParser, Ipv6ExtensionHeaderChain) {
  Bytes chain;
  // hop-by-hop (8 bytes) -> destination options (16 bytes) -> fragment (8, first) -> UDP
  chain.insert(chain.end(), {IPPROTO_DSTOPTS, 0, 1, 4, 0, 0, 0, 0});
  chain.insert(chain.end(), {IPPROTO_FRAGMENT, 1, 1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  chain.insert(chain.end(), {IPPROTO_UDP, 0, 0, 1, 0, 0, 0, 7});
  const Bytes u = udp(1234, 4321);
  chain.insert(chain.end(), u.begin(), u.end());
  const ParseResult r = parsePacket(ipv6(IPPROTO_HOPOPTS, chain));
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.info.ipProto, IPPROTO_UDP);
  EXPECT_FALSE(r.info.fragment);
  EXPECT_EQ(r.info.sourcePort, 1234);
  EXPECT_EQ(r.info.destinationPort, 4321);
}

// Mobility (135), HIP (139) and shim6 (140) are what the packet carries to the kernel
// (conntrack, nftables, delivery), not headers in front of a TCP or UDP one: a TCP header
// behind one of them has no ports here either.
TEST(PacketParser, Ipv6HeadersTheKernelDoesNotWalkAreTheProtocol) {
  for (const std::uint8_t protocol : {135, 139, 140}) {
    Bytes chain = {IPPROTO_TCP, 0, 0, 0, 0, 0, 0, 0};
    const Bytes t = tcp(50000, 443);
    chain.insert(chain.end(), t.begin(), t.end());
    const ParseResult r = parsePacket(ipv6(protocol, chain));
    ASSERT_TRUE(r.ok) << int{protocol};
    EXPECT_EQ(r.info.ipProto, protocol);
    EXPECT_EQ(r.info.sourcePort, 0) << int{protocol};
    EXPECT_EQ(r.info.destinationPort, 0) << int{protocol};
  }
  // Behind one the kernel does walk (destination options), the same TCP header is the flow.
  Bytes chain = {IPPROTO_TCP, 0, 0, 0, 0, 0, 0, 0};
  const Bytes t = tcp(50000, 443);
  chain.insert(chain.end(), t.begin(), t.end());
  const ParseResult r = parsePacket(ipv6(IPPROTO_DSTOPTS, chain));
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.info.ipProto, IPPROTO_TCP);
  EXPECT_EQ(r.info.destinationPort, 443);
}

TEST(PacketParser, Ipv6NonFirstFragment) {
  Bytes chain = {IPPROTO_UDP, 0, 0x05, 0x00, 0, 0, 0, 1, 1, 2, 3, 4};  // offset 160
  const ParseResult r = parsePacket(ipv6(IPPROTO_FRAGMENT, chain));
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(r.info.fragment);
  EXPECT_EQ(r.info.ipProto, IPPROTO_UDP);
}

TEST(PacketParser, Icmpv6) {
  const ParseResult r = parsePacket(ipv6(IPPROTO_ICMPV6, Bytes{128, 0, 0, 0, 0, 1, 0, 1}));
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.info.ipProto, IPPROTO_ICMPV6);
  EXPECT_EQ(r.info.icmpType, 128);
  EXPECT_EQ(r.info.icmpEchoId, 1);
  EXPECT_TRUE(isEchoRequest(r.info));
}

TEST(PacketParser, RejectsTruncatedAndBogus) {
  EXPECT_EQ(parsePacket({}).error, ParseError::kTooShort);
  EXPECT_EQ(parsePacket(Bytes{0x45, 0, 0}).error, ParseError::kTooShort);
  Bytes notIp(40, 0);
  notIp[0] = 0x50;
  EXPECT_EQ(parsePacket(notIp).error, ParseError::kBadVersion);

  Bytes shortIhl = ipv4(IPPROTO_TCP, tcp(1, 2));
  shortIhl[0] = 0x44;  // IHL 16 bytes < 20
  EXPECT_EQ(parsePacket(shortIhl).error, ParseError::kBadHeader);

  Bytes hugeIhl = ipv4(IPPROTO_TCP, tcp(1, 2));
  hugeIhl[0] = 0x4f;      // 60-byte header: ok by itself...
  put16(hugeIhl, 2, 30);  // ...but total length shorter than it
  EXPECT_EQ(parsePacket(hugeIhl).error, ParseError::kBadHeader);

  Bytes longer = ipv4(IPPROTO_TCP, tcp(1, 2));
  put16(longer, 2, 2000);  // claims more than the wire carried
  EXPECT_EQ(parsePacket(longer).error, ParseError::kBadHeader);

  Bytes cut = ipv4(IPPROTO_TCP, tcp(1, 2));
  cut.resize(30);
  put16(cut, 2, 30);
  EXPECT_EQ(parsePacket(cut).error, ParseError::kTruncatedL4);

  EXPECT_EQ(parsePacket(ipv4(IPPROTO_UDP, Bytes{1, 2, 3})).error, ParseError::kTruncatedL4);
  EXPECT_EQ(parsePacket(ipv6(IPPROTO_TCP, Bytes(10, 0))).error, ParseError::kTruncatedL4);
}

TEST(PacketParser, CopiedPrefixOfALongerPacket) {
  // The queue copies only a prefix: the IP total length exceeds the buffer but not the wire.
  Bytes p = ipv4(IPPROTO_TCP, tcp(1, 2));
  put16(p, 2, 1500);
  const ParseResult r = parsePacket(p, 1500);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.info.destinationPort, 2);
}

TEST(PacketParser, HostileExtensionChains) {
  // A chain pointing past the end.
  EXPECT_EQ(parsePacket(ipv6(IPPROTO_HOPOPTS, Bytes{IPPROTO_TCP, 200, 0, 0, 0, 0, 0, 0})).error,
            ParseError::kBadExtension);
  // An endless chain of destination options.
  Bytes loop;
  for (int i = 0; i < 40; ++i) loop.insert(loop.end(), {IPPROTO_DSTOPTS, 0, 1, 4, 0, 0, 0, 0});
  EXPECT_EQ(parsePacket(ipv6(IPPROTO_DSTOPTS, loop)).error, ParseError::kBadExtension);
  // A header cut short.
  EXPECT_EQ(parsePacket(ipv6(IPPROTO_HOPOPTS, Bytes{IPPROTO_TCP, 0, 0})).error,
            ParseError::kBadExtension);
  // Payload length larger than what arrived.
  Bytes p = ipv6(IPPROTO_TCP, tcp(1, 2));
  put16(p, 4, 900);
  EXPECT_EQ(parsePacket(p).error, ParseError::kBadHeader);
}

}  // namespace
}  // namespace warden::engine
