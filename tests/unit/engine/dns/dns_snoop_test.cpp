#include "engine/dns/dns_snoop.h"

#include <gtest/gtest.h>
// netinet/in.h before the linux/ headers, which otherwise redefine its types.
#include <netinet/in.h>

#include <linux/netfilter.h>

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

// A DNS message with header `id`/`flags` and one class IN question for `name` (written as
// given, case and all).
Bytes dnsMessage(std::uint16_t id, std::uint16_t flags, const std::string& name,
                 std::uint16_t type = 1) {
  Bytes m(12, 0);
  put16(m, 0, id);
  put16(m, 2, flags);
  put16(m, 4, 1);
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t dot = std::min(name.find('.', start), name.size());
    m.push_back(static_cast<std::uint8_t>(dot - start));
    m.insert(m.end(), name.begin() + static_cast<std::ptrdiff_t>(start),
             name.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  m.push_back(0);
  m.insert(m.end(), {static_cast<std::uint8_t>(type >> 8), static_cast<std::uint8_t>(type), 0, 1});
  return m;
}

Bytes dnsQuery(std::uint16_t id, const std::string& name, std::uint16_t type = 1) {
  return dnsMessage(id, 0x0100, name, type);
}

// A response to `name`: one A answer (compressed, pointing at the question) for `address`.
Bytes dnsAnswer(std::uint16_t id, const std::string& name, std::uint8_t last = 7) {
  Bytes m = dnsMessage(id, 0x8180, name);
  put16(m, 6, 1);
  m.insert(m.end(), {0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 198, 51, 100, last});
  return m;
}

// An IPv4/UDP datagram carrying `payload`.
Bytes udp4(const Bytes& payload, const char* from, std::uint16_t fromPort, const char* to,
           std::uint16_t toPort, int udpLengthDelta = 0) {
  Bytes b(28 + payload.size(), 0);
  b[0] = 0x45;
  put16(b, 2, static_cast<std::uint16_t>(28 + payload.size()));
  b[8] = 64;
  b[9] = IPPROTO_UDP;
  const auto source = *rules::IpAddress::parse(from);
  const auto destination = *rules::IpAddress::parse(to);
  std::copy(source.bytes.begin() + 12, source.bytes.end(), b.begin() + 12);
  std::copy(destination.bytes.begin() + 12, destination.bytes.end(), b.begin() + 16);
  put16(b, 20, fromPort);
  put16(b, 22, toPort);
  put16(b, 24, static_cast<std::uint16_t>(8 + payload.size() + udpLengthDelta));
  std::copy(payload.begin(), payload.end(), b.begin() + 28);
  return b;
}

constexpr const char* kClient = "192.0.2.1";
constexpr const char* kServer = "192.0.2.2";
constexpr std::uint16_t kClientPort = 40000;

// From the client to the server's port 53, as the table queues a later query of a flow.
Bytes queryPacket(const Bytes& dns) { return udp4(dns, kClient, kClientPort, kServer, 53); }
// From the server's port 53 back to the client.
Bytes replyPacket(const Bytes& dns) { return udp4(dns, kServer, 53, kClient, kClientPort); }

QueuedPacket queued(const Bytes& bytes, std::uint8_t hook, std::size_t wireLength = 0) {
  QueuedPacket packet;
  packet.hook = hook;
  packet.payload = bytes;
  packet.wireLength = wireLength ? wireLength : bytes.size();
  return packet;
}

struct Snoop {
  HostCache cache{64};
  PendingDnsQueries queries{16};
  QueueCounters counters;
  // Loopback: replies are believed at once (from elsewhere they wait for a DnsConfirmer).
  std::uint32_t inDevice = 1;
  const DnsConfirmerPorts* own = nullptr;
  UnconfirmedReply unconfirmed;
  DnsRead read = DnsRead::kDone;

  void send(const Bytes& packet) {
    EXPECT_EQ(readDnsPacket(queued(packet, NF_INET_LOCAL_OUT), queries, cache, counters, own,
                            unconfirmed),
              DnsRead::kDone);
  }
  void receive(const Bytes& packet, std::size_t wireLength = 0) {
    QueuedPacket reply = queued(packet, NF_INET_LOCAL_IN, wireLength);
    reply.inDevice = inDevice;
    read = readDnsPacket(reply, queries, cache, counters, own, unconfirmed);
  }
  std::string hostOf(const char* address) const {
    DnsName name;
    if (!cache.lookup(*rules::IpAddress::parse(address), name)) return "(none)";
    return std::string(name.view());
  }
};

TEST(DnsSnoop, AReplyToTheFlowsQueryTeachesItsAnswers) {
  Snoop s;
  s.send(queryPacket(dnsQuery(0xbeef, "files.test.example")));
  EXPECT_EQ(s.counters.dnsQueries.load(), 1u);
  s.receive(replyPacket(dnsAnswer(0xbeef, "files.test.example")));
  EXPECT_EQ(s.hostOf("198.51.100.7"), "files.test.example");
  EXPECT_EQ(s.counters.dnsReplies.load(), 1u);
  EXPECT_EQ(s.counters.dnsAnswers.load(), 1u);
  EXPECT_EQ(s.counters.dnsMalformed.load(), 0u);
  EXPECT_EQ(s.counters.dnsUnsolicited.load(), 0u);
  EXPECT_EQ(s.counters.packets.load(), 0u) << "a reply read is not a flow decided";
}

// A local caching resolver that kept a forged answer from upstream hands it on over loopback:
// what a server contradicted when wardend asked it is not learned from there either.
TEST(DnsSnoop, AReplyOverLoopbackDoesNotTeachWhatTheServerContradicted) {
  Snoop s;
  s.cache.refuse(*rules::IpAddress::parse("198.51.100.7"), "files.test.example", 300);
  s.send(queryPacket(dnsQuery(0xbeef, "files.test.example")));
  s.receive(replyPacket(dnsAnswer(0xbeef, "files.test.example")));
  EXPECT_EQ(s.read, DnsRead::kDone);
  EXPECT_EQ(s.hostOf("198.51.100.7"), "(none)");
  EXPECT_EQ(s.counters.dnsAnswers.load(), 0u);
  EXPECT_EQ(s.counters.dnsUnconfirmed.load(), 1u);
  // Another name of the address is not refused.
  s.send(queryPacket(dnsQuery(0xbeef, "other.test.example")));
  s.receive(replyPacket(dnsAnswer(0xbeef, "other.test.example")));
  EXPECT_EQ(s.hostOf("198.51.100.7"), "other.test.example");
}

TEST(DnsSnoop, AReplyFromAnotherHostIsLeftForItsConfirmation) {
  Snoop s;
  s.inDevice = 2;
  s.send(queryPacket(dnsQuery(0xbeef, "files.test.example")));
  s.receive(replyPacket(dnsAnswer(0xbeef, "files.test.example")));
  EXPECT_EQ(s.read, DnsRead::kUnconfirmed);
  EXPECT_EQ(s.hostOf("198.51.100.7"), "(none)") << "learned before the server said it again";
  EXPECT_EQ(s.unconfirmed.exchange.server, *rules::IpAddress::parse(kServer));
  EXPECT_EQ(s.unconfirmed.exchange.serverPort, 53);
  EXPECT_EQ(s.unconfirmed.exchange.question.name.view(), "files.test.example");
  ASSERT_EQ(s.unconfirmed.response.addressCount, 1u);
  EXPECT_EQ(s.unconfirmed.response.addresses[0].address, *rules::IpAddress::parse("198.51.100.7"));
  EXPECT_EQ(s.counters.dnsAnswers.load(), 0u);
  // Its query was answered all the same: a second reply is unsolicited, and left alone.
  s.receive(replyPacket(dnsAnswer(0xbeef, "files.test.example")));
  EXPECT_EQ(s.read, DnsRead::kUnsolicited);
  EXPECT_EQ(s.unconfirmed.exchange.question.id, 0xbeef) << "what the caller compares";
  EXPECT_EQ(s.counters.dnsUnsolicited.load(), 1u);
}

TEST(DnsSnoop, AReplyWithoutAddressesNeedsNoConfirmation) {
  Snoop s;
  s.inDevice = 2;
  s.send(queryPacket(dnsQuery(0xbeef, "files.test.example")));
  s.receive(replyPacket(dnsMessage(0xbeef, 0x8183, "files.test.example")));  // NXDOMAIN
  EXPECT_EQ(s.read, DnsRead::kDone);
}

TEST(DnsSnoop, PacketsOfWardendsOwnExchangesAreNotRead) {
  DnsConfirmerPorts ports;
  ports.add(false, kClientPort);
  Snoop s;
  s.own = &ports;
  s.send(queryPacket(dnsQuery(0xbeef, "files.test.example")));
  EXPECT_EQ(s.counters.dnsQueries.load(), 0u);
  s.receive(replyPacket(dnsAnswer(0xbeef, "files.test.example")));
  EXPECT_EQ(s.counters.dnsReplies.load(), 0u);
  EXPECT_EQ(s.counters.dnsUnsolicited.load(), 0u);
  // The same port of the other family is another socket's.
  DnsConfirmerPorts v6;
  v6.add(true, kClientPort);
  s.own = &v6;
  s.send(queryPacket(dnsQuery(0xbeef, "files.test.example")));
  EXPECT_EQ(s.counters.dnsQueries.load(), 1u);
}

TEST(DnsSnoop, AReplyNobodyAskedForTeachesNothing) {
  Snoop s;
  s.receive(replyPacket(dnsAnswer(0xbeef, "files.test.example")));
  EXPECT_EQ(s.hostOf("198.51.100.7"), "(none)");
  EXPECT_EQ(s.counters.dnsUnsolicited.load(), 1u);
  EXPECT_EQ(s.counters.dnsAnswers.load(), 0u);
}

// The attack of the issue: the server the flow may reach answers its query, then sends more
// "answers" to the same port, for questions nobody asked.
TEST(DnsSnoop, ForgedRepliesOnTheSameFlowTeachNothing) {
  Snoop s;
  s.send(queryPacket(dnsQuery(0x1111, "real.test.example")));
  s.receive(replyPacket(dnsAnswer(0x1111, "real.test.example", 1)));
  s.receive(replyPacket(dnsAnswer(0x2222, "forged.test.example", 2)));  // another id
  s.receive(replyPacket(dnsAnswer(0x1111, "forged.test.example", 3)));  // another question
  s.receive(replyPacket(dnsAnswer(0x1111, "real.test.example", 4)));    // answered before
  EXPECT_EQ(s.hostOf("198.51.100.1"), "real.test.example");
  EXPECT_EQ(s.hostOf("198.51.100.2"), "(none)");
  EXPECT_EQ(s.hostOf("198.51.100.3"), "(none)");
  EXPECT_EQ(s.hostOf("198.51.100.4"), "(none)");
  EXPECT_EQ(s.counters.dnsUnsolicited.load(), 3u);
  EXPECT_EQ(s.counters.dnsAnswers.load(), 1u);
}

TEST(DnsSnoop, AReplyMustComeFromTheServerAndPortsAsked) {
  Snoop s;
  s.send(queryPacket(dnsQuery(0x1111, "files.test.example")));
  const Bytes answer = dnsAnswer(0x1111, "files.test.example");
  s.receive(udp4(answer, "192.0.2.3", 53, kClient, kClientPort));  // another server
  s.receive(udp4(answer, kServer, 5353, kClient, kClientPort));    // another server port
  s.receive(udp4(answer, kServer, 53, kClient, kClientPort + 1));  // another client port
  s.receive(udp4(answer, kServer, 53, "192.0.2.9", kClientPort));  // another client
  EXPECT_EQ(s.hostOf("198.51.100.7"), "(none)");
  EXPECT_EQ(s.counters.dnsUnsolicited.load(), 4u);
  s.receive(replyPacket(answer));  // and the query still waits for its own answer
  EXPECT_EQ(s.hostOf("198.51.100.7"), "files.test.example");
}

TEST(DnsSnoop, AQuestionOfAnotherTypeIsAnotherQuestion) {
  Snoop s;
  s.send(queryPacket(dnsQuery(0x1111, "files.test.example", /*AAAA*/ 28)));
  s.receive(replyPacket(dnsAnswer(0x1111, "files.test.example")));  // answers type A
  EXPECT_EQ(s.hostOf("198.51.100.7"), "(none)");
  EXPECT_EQ(s.counters.dnsUnsolicited.load(), 1u);
}

// Resolvers randomize the case of a question's letters (DNS 0x20); servers echo it, or not.
TEST(DnsSnoop, NamesAreComparedWithoutCase) {
  Snoop s;
  s.send(queryPacket(dnsQuery(0x1111, "FiLeS.tEsT.ExAmPlE")));
  s.receive(replyPacket(dnsAnswer(0x1111, "files.TEST.example")));
  EXPECT_EQ(s.hostOf("198.51.100.7"), "files.test.example");
}

TEST(DnsSnoop, AnErrorAnswerUsesUpItsQuery) {
  Snoop s;
  s.send(queryPacket(dnsQuery(0x1111, "files.test.example")));
  s.receive(replyPacket(dnsMessage(0x1111, 0x8183, "files.test.example")));  // NXDOMAIN
  s.receive(replyPacket(dnsAnswer(0x1111, "files.test.example")));
  EXPECT_EQ(s.hostOf("198.51.100.7"), "(none)");
  EXPECT_EQ(s.counters.dnsUnsolicited.load(), 1u);
}

TEST(DnsSnoop, ABrokenReplyDoesNotUseUpItsQuery) {
  Snoop s;
  s.send(queryPacket(dnsQuery(0x1111, "files.test.example")));
  Bytes broken = dnsAnswer(0x1111, "files.test.example");
  broken.push_back(0);  // a byte after the last record
  s.receive(replyPacket(broken));
  EXPECT_EQ(s.counters.dnsMalformed.load(), 1u);
  EXPECT_EQ(s.hostOf("198.51.100.7"), "(none)");
  s.receive(replyPacket(dnsAnswer(0x1111, "files.test.example")));
  EXPECT_EQ(s.hostOf("198.51.100.7"), "files.test.example");
}

TEST(DnsSnoop, AReplyCapturedOnlyInPartTeachesNothing) {
  Snoop s;
  s.send(queryPacket(dnsQuery(0x1111, "files.test.example")));
  const Bytes whole = replyPacket(dnsAnswer(0x1111, "files.test.example"));
  const Bytes prefix(whole.begin(), whole.end() - 4);
  s.receive(prefix, whole.size());
  EXPECT_EQ(s.hostOf("198.51.100.7"), "(none)");
  EXPECT_EQ(s.counters.dnsMalformed.load(), 1u);
}

TEST(DnsSnoop, OnlyQueriesToPort53AreRemembered) {
  Snoop s;
  s.send(udp4(dnsQuery(0x1111, "files.test.example"), kClient, kClientPort, kServer, 5353));
  s.send(queryPacket(dnsAnswer(0x1111, "files.test.example")));  // a response sent out
  s.send(queryPacket({1, 2, 3}));
  EXPECT_EQ(s.counters.dnsQueries.load(), 0u);
  EXPECT_EQ(s.queries.pending(0), 0u);
}

TEST(DnsSnoop, BrokenPacketsAreCountedAndTeachNothing) {
  Snoop s;
  s.send(queryPacket(dnsQuery(0xbeef, "files.test.example")));
  const Bytes good = dnsAnswer(0xbeef, "files.test.example");
  const Bytes lyingUdp = udp4(good, kServer, 53, kClient, kClientPort, +20);
  const Bytes shortUdp =
      udp4(good, kServer, 53, kClient, kClientPort, -(static_cast<int>(good.size()) + 1));
  Bytes badDns = good;
  badDns[36] = 0xc0;  // the first answer's owner (after the question) now points forward
  badDns[37] = 0xff;
  const Bytes notIp = {0x00, 0x01, 0x02};
  for (const Bytes& packet : {lyingUdp, shortUdp, replyPacket(badDns), notIp, replyPacket({})}) {
    s.receive(packet);
  }
  EXPECT_EQ(s.counters.dnsReplies.load(), 5u);
  EXPECT_EQ(s.counters.dnsMalformed.load(), 5u);
  EXPECT_EQ(s.counters.dnsAnswers.load(), 0u);
  EXPECT_EQ(s.hostOf("198.51.100.7"), "(none)");
}

}  // namespace
}  // namespace warden::engine
