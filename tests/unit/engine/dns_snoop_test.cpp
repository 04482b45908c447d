#include "engine/dns_snoop.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace warden::engine {
namespace {

using Bytes = std::vector<std::uint8_t>;

void put16(Bytes& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}

// A response for "files.test.example": one A and one AAAA answer, both compressed.
Bytes dnsAnswer() {
  Bytes m = {0xbe, 0xef, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0};
  for (const char* label : {"files", "test", "example"}) {
    m.push_back(static_cast<std::uint8_t>(std::string(label).size()));
    m.insert(m.end(), label, label + std::string(label).size());
  }
  m.insert(m.end(), {0, 0, 1, 0, 1});
  m.insert(m.end(), {0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 198, 51, 100, 7});
  m.insert(m.end(), {0xc0, 12, 0, 28, 0, 1, 0, 0, 1, 0x2c, 0, 16, 0x20, 0x01, 0x0d, 0xb8});
  m.insert(m.end(), 11, 0);
  m.push_back(7);  // 2001:db8::7
  return m;
}

// An IPv4/UDP datagram from 192.0.2.2:53 carrying `payload`.
Bytes udp4(const Bytes& payload, int udpLengthDelta = 0) {
  Bytes b(28 + payload.size(), 0);
  b[0] = 0x45;
  put16(b, 2, static_cast<std::uint16_t>(28 + payload.size()));
  b[8] = 64;
  b[9] = IPPROTO_UDP;
  b[12] = 192, b[13] = 0, b[14] = 2, b[15] = 2;
  b[16] = 192, b[17] = 0, b[18] = 2, b[19] = 1;
  put16(b, 20, 53);
  put16(b, 22, 40000);
  put16(b, 24, static_cast<std::uint16_t>(8 + payload.size() + udpLengthDelta));
  std::copy(payload.begin(), payload.end(), b.begin() + 28);
  return b;
}

QueuedPacket queued(const Bytes& bytes, std::size_t wireLength = 0) {
  QueuedPacket packet;
  packet.hook = 1;  // NF_INET_LOCAL_IN
  packet.payload = bytes;
  packet.wireLength = wireLength ? wireLength : bytes.size();
  return packet;
}

std::string hostOf(const HostCache& cache, const char* address) {
  DnsName name;
  if (!cache.lookup(*rules::IpAddress::parse(address), name)) return "(none)";
  return std::string(name.view());
}

TEST(DnsSnoop, RecordsTheAnswersOfAReply) {
  HostCache cache(64);
  QueueCounters counters;
  const Bytes packet = udp4(dnsAnswer());
  learnFromDnsReply(queued(packet), cache, counters);
  EXPECT_EQ(hostOf(cache, "198.51.100.7"), "files.test.example");
  EXPECT_EQ(hostOf(cache, "2001:db8::7"), "files.test.example");
  EXPECT_EQ(counters.dnsReplies.load(), 1u);
  EXPECT_EQ(counters.dnsAnswers.load(), 2u);
  EXPECT_EQ(counters.dnsMalformed.load(), 0u);
  EXPECT_EQ(counters.packets.load(), 0u) << "a reply read is not a flow decided";
}

TEST(DnsSnoop, ACapturedPrefixKeepsTheCompleteAnswers) {
  HostCache cache(64);
  QueueCounters counters;
  const Bytes whole = udp4(dnsAnswer());
  const Bytes prefix(whole.begin(), whole.end() - 10);  // the AAAA record cut off
  learnFromDnsReply(queued(prefix, whole.size()), cache, counters);
  EXPECT_EQ(hostOf(cache, "198.51.100.7"), "files.test.example");
  EXPECT_EQ(hostOf(cache, "2001:db8::7"), "(none)");
  EXPECT_EQ(counters.dnsMalformed.load(), 0u);
}

TEST(DnsSnoop, BrokenPacketsAreCountedAndTeachNothing) {
  HostCache cache(64);
  QueueCounters counters;
  const Bytes lyingUdp = udp4(dnsAnswer(), +20);  // claims more than the packet has
  const Bytes shortUdp = udp4(dnsAnswer(), -(static_cast<int>(dnsAnswer().size()) + 1));
  Bytes badDns = dnsAnswer();
  badDns[36] = 0xc0;  // the first answer's owner (after the question) now points forward
  badDns[37] = 0xff;
  const Bytes notIp = {0x00, 0x01, 0x02};
  for (const Bytes& packet : {lyingUdp, shortUdp, udp4(badDns), notIp, udp4({})}) {
    learnFromDnsReply(queued(packet), cache, counters);
  }
  EXPECT_EQ(counters.dnsReplies.load(), 5u);
  EXPECT_EQ(counters.dnsMalformed.load(), 5u);
  EXPECT_EQ(counters.dnsAnswers.load(), 0u);
  EXPECT_EQ(hostOf(cache, "198.51.100.7"), "(none)");
}

}  // namespace
}  // namespace warden::engine
