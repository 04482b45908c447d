#include "engine/dns/dns_confirmer.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "base/clock.h"

namespace warden::engine {
namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr const char* kName = "files.test.example";

// A resolver on loopback that the test answers by hand.
struct FakeResolver {
  base::UniqueFd fd;
  std::uint16_t port = 0;

  FakeResolver() {
    fd = base::UniqueFd(socket(AF_INET, SOCK_DGRAM, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    socklen_t length = sizeof address;
    getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length);
    port = ntohs(address.sin_port);
  }

  // The next query, and where it came from.
  Bytes receive(sockaddr_in& from) {
    pollfd p{fd.get(), POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 2000), 1) << "no query came";
    Bytes query(4096);
    socklen_t length = sizeof from;
    const ssize_t got = recvfrom(fd.get(), query.data(), query.size(), 0,
                                 reinterpret_cast<sockaddr*>(&from), &length);
    query.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
    return query;
  }

  void send(const Bytes& message, const sockaddr_in& to) {
    sendto(fd.get(), message.data(), message.size(), 0, reinterpret_cast<const sockaddr*>(&to),
           sizeof to);
  }
};

// The question of `query` (header included) as the reply repeats it.
std::size_t questionEnd(const Bytes& query) {
  std::size_t pos = 12;
  while (pos < query.size() && query[pos] != 0) pos += query[pos] + 1;
  return pos + 1 + 4;
}

// An answer to `query` with one A record per last byte in `lasts` (198.51.100.x).
Bytes answer(const Bytes& query, std::initializer_list<std::uint8_t> lasts) {
  Bytes m(query.begin(), query.begin() + static_cast<std::ptrdiff_t>(questionEnd(query)));
  m[2] = 0x81;
  m[3] = 0x80;
  m[6] = 0;
  m[7] = static_cast<std::uint8_t>(lasts.size());
  m[10] = m[11] = 0;  // no additional records
  for (std::uint8_t last : lasts) {
    m.insert(m.end(), {0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 198, 51, 100, last});
  }
  return m;
}

std::string questionName(const Bytes& query) {
  std::string name;
  for (std::size_t pos = 12; pos < query.size() && query[pos] != 0; pos += query[pos] + 1) {
    if (!name.empty()) name += '.';
    name.append(reinterpret_cast<const char*>(&query[pos + 1]), query[pos]);
  }
  return name;
}

struct Confirming {
  DnsConfirmerPorts ports;
  DnsConfirmer confirmer;
  FakeResolver resolver;
  HostCache hosts{64};
  QueueCounters counters;
  std::vector<DnsConfirmer::Held> released;
  DnsExchange reply;
  DnsResponse response;

  Confirming() {
    EXPECT_TRUE(confirmer.open(ports).has_value());
    reply.server = *rules::IpAddress::parse("127.0.0.1");
    reply.serverPort = resolver.port;
    reply.client = *rules::IpAddress::parse("127.0.0.1");
    reply.clientPort = 40000;
    reply.question.id = 0x1234;
    reply.question.type = 1;
    reply.question.qclass = 1;
    reply.question.name.assign(kName);
    response.status = DnsStatus::kAnswers;
    response.hasQuestion = true;
    response.question = reply.question;
    for (std::uint8_t last : {7, 8}) {
      DnsAddress& a = response.addresses[response.addressCount++];
      a.address = *rules::IpAddress::parse("198.51.100." + std::to_string(last));
      a.ttl = 300;
    }
  }

  bool begin(std::uint32_t packetId = 5) {
    return confirmer.begin(reply, 0, response, {packetId, 0x10}, base::monotonicNs(), counters);
  }
  // The two queries of a confirmation, as the server gets them.
  std::vector<Bytes> queries(sockaddr_in& from) {
    return {resolver.receive(from), resolver.receive(from)};
  }
  // Serves until the confirmer has nothing in flight, or once at `now`.
  void serve(std::uint64_t now = 0) {
    for (int i = 0; i < 50 && confirmer.inFlight() > 0; ++i) {
      pollfd p{confirmer.fd4(), POLLIN, 0};
      poll(&p, 1, 20);
      confirmer.serve(now ? now : base::monotonicNs(), true, hosts, counters, released);
      if (now) break;
    }
  }
  std::string hostOf(const char* address) const {
    DnsName name;
    if (!hosts.lookup(*rules::IpAddress::parse(address), name)) return "(none)";
    return std::string(name.view());
  }
  bool refused(const char* address) const {
    return hosts.refused(*rules::IpAddress::parse(address), kName);
  }
};

std::uint16_t idOf(const Bytes& m) { return static_cast<std::uint16_t>(m[0] << 8 | m[1]); }

TEST(DnsConfirmer, LearnsTheReplyWhenBothAnswersGiveAllItsAddresses) {
  Confirming c;
  ASSERT_TRUE(c.begin(5));
  EXPECT_EQ(c.counters.dnsConfirmations.load(), 1u);
  EXPECT_EQ(c.confirmer.inFlight(), 1u);
  sockaddr_in from{};
  const auto asked = c.queries(from);
  EXPECT_TRUE(c.ports.contains(false, ntohs(from.sin_port))) << "sent from the socket's port";
  EXPECT_TRUE(c.ports.isAsking(ntohs(from.sin_port), c.reply.server));
  for (const Bytes& query : asked) {
    ASSERT_GT(query.size(), 12u);
    EXPECT_NE(idOf(query), 0x1234) << "the program's id is known to it";
    EXPECT_EQ(query[2], 0x01) << "recursion desired";
    std::string name = questionName(query);
    for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    EXPECT_EQ(name, kName);
  }
  EXPECT_NE(idOf(asked[0]), idOf(asked[1]));
  // One answer is not enough: the reply stays held, nothing is learned.
  c.resolver.send(answer(asked[0], {7, 8, 9}), from);
  for (int i = 0; i < 3; ++i) {
    pollfd p{c.confirmer.fd4(), POLLIN, 0};
    poll(&p, 1, 20);
    c.confirmer.serve(base::monotonicNs(), true, c.hosts, c.counters, c.released);
  }
  EXPECT_TRUE(c.released.empty());
  EXPECT_EQ(c.hostOf("198.51.100.7"), "(none)");

  c.resolver.send(answer(asked[1], {8, 7}), from);
  pollfd p{c.confirmer.fd4(), POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 2000), 1);
  c.confirmer.serve(base::monotonicNs(), /*readable=*/false, c.hosts, c.counters, c.released);
  EXPECT_TRUE(c.released.empty()) << "read without poll's word";
  c.serve();
  ASSERT_EQ(c.released.size(), 1u);
  EXPECT_EQ(c.released[0].packetId, 5u);
  EXPECT_EQ(c.released[0].mark, 0x10u);
  EXPECT_EQ(c.hostOf("198.51.100.7"), kName);
  EXPECT_EQ(c.hostOf("198.51.100.8"), kName);
  EXPECT_EQ(c.hostOf("198.51.100.9"), "(none)") << "the program was not told it";
  EXPECT_EQ(c.counters.dnsAnswers.load(), 2u);
  EXPECT_EQ(c.counters.dnsUnconfirmed.load(), 0u);
  EXPECT_EQ(c.confirmer.inFlight(), 0u);
  EXPECT_EQ(c.confirmer.nextDeadline(), 0u);
  EXPECT_FALSE(c.ports.isAsking(ntohs(from.sin_port), c.reply.server));
}

// A forged reply: the server has no address for the name, or its own reply to the program's
// query came besides the one held. What neither answer gives is refused, so that no reply
// teaches it (a local cache may keep the forgery); what both give is learned; the reply goes on.
TEST(DnsConfirmer, WhatTheServerContradictsIsRefusedAndTheReplyGoesOn) {
  for (const bool nxdomain : {false, true}) {
    Confirming c;
    ASSERT_TRUE(c.begin());
    sockaddr_in from{};
    const auto asked = c.queries(from);
    if (!nxdomain) {
      EXPECT_TRUE(c.confirmer.anotherReply(c.reply)) << "the server's own reply came too";
    }
    for (const Bytes& query : asked) {
      Bytes reply = answer(query, {7, 9});  // 8 missing, twice
      if (nxdomain) {
        reply = answer(query, {});
        reply[3] = 0x83;
      }
      c.resolver.send(reply, from);
    }
    c.serve();
    ASSERT_EQ(c.released.size(), 1u) << nxdomain;
    EXPECT_EQ(c.released[0].packetId, 5u);
    EXPECT_EQ(c.hostOf("198.51.100.8"), "(none)") << nxdomain;
    EXPECT_TRUE(c.refused("198.51.100.8")) << nxdomain;
    EXPECT_EQ(c.hostOf("198.51.100.7"), nxdomain ? "(none)" : kName);
    EXPECT_EQ(c.refused("198.51.100.7"), nxdomain);
    EXPECT_FALSE(c.refused("198.51.100.9")) << "the program was not told it";
    EXPECT_EQ(c.counters.dnsUnconfirmed.load(), nxdomain ? 2u : 1u);
    EXPECT_EQ(c.counters.dnsAnswers.load(), nxdomain ? 0u : 1u);
  }
}

// Answers with other addresses than the reply's and no other reply: a forger, or a server
// whose caches give each asker another subset. It waits about a round trip for the server's
// own reply to the program, then lets the reply go, neither learned nor refused (a local
// cache's answer of that name still teaches); another reply meanwhile refuses.
TEST(DnsConfirmer, AnswersWithOtherAddressesWaitForTheServersOwnReply) {
  for (const bool another : {false, true}) {
    Confirming c;
    ASSERT_TRUE(c.begin());
    sockaddr_in from{};
    const auto asked = c.queries(from);
    for (const Bytes& query : asked) c.resolver.send(answer(query, {7, 9}), from);
    for (int i = 0; i < 3; ++i) {
      pollfd p{c.confirmer.fd4(), POLLIN, 0};
      poll(&p, 1, 5);
      c.confirmer.serve(base::monotonicNs(), true, c.hosts, c.counters, c.released);
    }
    EXPECT_TRUE(c.released.empty()) << "waits for another reply";
    EXPECT_EQ(c.hostOf("198.51.100.7"), "(none)") << "learned only once it ends";
    const std::uint64_t settleBy = c.confirmer.nextDeadline();
    EXPECT_LE(settleBy, base::monotonicNs() + 250'000'000u) << "not the whole second";
    if (another) {
      EXPECT_TRUE(c.confirmer.anotherReply(c.reply));
    }
    c.serve(settleBy);
    ASSERT_EQ(c.released.size(), 1u) << another;
    EXPECT_EQ(c.hostOf("198.51.100.7"), kName) << another;
    EXPECT_EQ(c.hostOf("198.51.100.8"), "(none)") << another;
    EXPECT_EQ(c.refused("198.51.100.8"), another);
    EXPECT_EQ(c.counters.dnsUnconfirmed.load(), 1u);
  }
}

// A server whose answers differ from one query to the next (subsets of a large set): what
// one answer gave and the other not teaches nothing, and is not refused either.
TEST(DnsConfirmer, TwoAnswersThatDifferTeachOnlyWhatBothGave) {
  Confirming c;
  c.response.addresses[c.response.addressCount].address = *rules::IpAddress::parse("198.51.100.9");
  c.response.addresses[c.response.addressCount++].ttl = 300;
  ASSERT_TRUE(c.begin());
  sockaddr_in from{};
  const auto asked = c.queries(from);
  c.resolver.send(answer(asked[0], {7, 9}), from);
  c.resolver.send(answer(asked[1], {8, 9}), from);
  c.serve();
  ASSERT_EQ(c.released.size(), 1u);
  EXPECT_EQ(c.hostOf("198.51.100.7"), "(none)");
  EXPECT_EQ(c.hostOf("198.51.100.8"), "(none)");
  EXPECT_EQ(c.hostOf("198.51.100.9"), kName);
  EXPECT_FALSE(c.refused("198.51.100.7"));
  EXPECT_FALSE(c.refused("198.51.100.8"));
  EXPECT_EQ(c.counters.dnsUnconfirmed.load(), 2u);
}

// A server failure, a refusal or a truncated answer says nothing about the name.
TEST(DnsConfirmer, AnAnswerThatSaysNothingLetsTheReplyGoUnlearned) {
  for (const int kind : {0, 1, 2}) {
    Confirming c;
    ASSERT_TRUE(c.begin());
    sockaddr_in from{};
    const auto asked = c.queries(from);
    Bytes reply = answer(asked[0], {});
    if (kind == 0) reply[3] = 0x82;   // SERVFAIL
    if (kind == 1) reply[3] = 0x85;   // REFUSED
    if (kind == 2) reply[2] |= 0x02;  // TC
    c.resolver.send(reply, from);
    c.serve();
    ASSERT_EQ(c.released.size(), 1u) << kind;
    EXPECT_EQ(c.hostOf("198.51.100.7"), "(none)") << kind;
    EXPECT_FALSE(c.refused("198.51.100.7")) << kind;
  }
  // Two answers that do not parse (a byte after the last record) say nothing either: the
  // reply's addresses are not refused, as they would be after two that give none.
  Confirming c;
  ASSERT_TRUE(c.begin());
  sockaddr_in from{};
  for (const Bytes& query : c.queries(from)) {
    Bytes reply = answer(query, {9});
    reply.push_back(0);
    c.resolver.send(reply, from);
  }
  c.serve();
  ASSERT_EQ(c.released.size(), 1u);
  EXPECT_EQ(c.hostOf("198.51.100.7"), "(none)");
  EXPECT_FALSE(c.refused("198.51.100.7"));
  EXPECT_FALSE(c.refused("198.51.100.8"));
}

TEST(DnsConfirmer, TheLettersCaseIsRandom) {
  Confirming c;
  std::vector<std::string> asked;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c.begin(static_cast<std::uint32_t>(i)));
    sockaddr_in from{};
    for (const Bytes& query : c.queries(from)) asked.push_back(questionName(query));
    c.confirmer.releaseAll(c.counters, c.released);
  }
  bool differ = false;
  for (const auto& one : asked) differ = differ || one != asked[0];
  EXPECT_TRUE(differ) << "four questions asked in one case: " << asked[0];
}

// What a peer that knows the program's query but not wardend's would send.
TEST(DnsConfirmer, AnswersThatDoNotMatchItsQueriesAreIgnored) {
  Confirming c;
  ASSERT_TRUE(c.begin());
  sockaddr_in from{};
  const auto asked = c.queries(from);
  for (const Bytes& query : asked) {
    Bytes otherId = answer(query, {7, 8});
    otherId[1] ^= 2;
    c.resolver.send(otherId, from);
    FakeResolver elsewhere;  // the right answer from another port
    elsewhere.send(answer(query, {7, 8}), from);
    Bytes notAResponse = answer(query, {7, 8});
    notAResponse[2] &= 0x7f;
    c.resolver.send(notAResponse, from);
    Bytes anotherName = answer(query, {7, 8});
    anotherName[13] = anotherName[13] == 'x' ? 'y' : 'x';
    c.resolver.send(anotherName, from);
  }
  for (int i = 0; i < 5; ++i) {
    pollfd p{c.confirmer.fd4(), POLLIN, 0};
    poll(&p, 1, 20);
    c.confirmer.serve(base::monotonicNs(), true, c.hosts, c.counters, c.released);
  }
  EXPECT_TRUE(c.released.empty());
  EXPECT_EQ(c.confirmer.inFlight(), 1u);
  EXPECT_EQ(c.hostOf("198.51.100.7"), "(none)");
  // Its wait over, the reply goes on unconfirmed.
  c.serve(c.confirmer.nextDeadline());
  ASSERT_EQ(c.released.size(), 1u);
  EXPECT_EQ(c.hostOf("198.51.100.7"), "(none)");
  EXPECT_EQ(c.counters.dnsUnconfirmed.load(), 2u);
  EXPECT_EQ(c.counters.dnsAnswers.load(), 0u);
}

// A resolver that changes the case of the question: nothing can be confirmed, and nothing
// waits.
TEST(DnsConfirmer, AnAnswerInAnotherLetterCaseEndsItAtOnceUnconfirmed) {
  Confirming c;
  ASSERT_TRUE(c.begin());
  sockaddr_in from{};
  const auto asked = c.queries(from);
  Bytes recased = answer(asked[0], {7, 8});
  recased[13] ^= 0x20;  // the first letter of "files", in the other case than it was asked
  c.resolver.send(recased, from);
  c.serve();
  ASSERT_EQ(c.released.size(), 1u);
  EXPECT_EQ(c.hostOf("198.51.100.7"), "(none)");
  EXPECT_EQ(c.counters.dnsUnconfirmed.load(), 2u);
}

TEST(DnsConfirmer, OneConfirmationOfAQuestionAtATime) {
  Confirming c;
  ASSERT_TRUE(c.begin(1));
  EXPECT_FALSE(c.begin(2)) << "the same question, to the same server";
  c.reply.question.type = 28;
  EXPECT_TRUE(c.begin(3)) << "another type is another question";
  EXPECT_EQ(c.confirmer.inFlight(), 2u);
}

TEST(DnsConfirmer, BoundedInFlightAndAllReleasedOnStop) {
  Confirming c;
  for (std::size_t i = 0; i < DnsConfirmer::kMaxInFlight; ++i) {
    c.reply.question.name.assign("n" + std::to_string(i) + ".test.example");
    ASSERT_TRUE(c.begin(static_cast<std::uint32_t>(i)));
  }
  c.reply.question.name.assign("past.test.example");
  EXPECT_FALSE(c.begin(99)) << "past its bound";
  EXPECT_EQ(c.counters.dnsConfirmations.load(), DnsConfirmer::kMaxInFlight);
  c.confirmer.releaseAll(c.counters, c.released);
  EXPECT_EQ(c.released.size(), DnsConfirmer::kMaxInFlight);
  EXPECT_EQ(c.confirmer.inFlight(), 0u);
  EXPECT_EQ(c.counters.dnsUnconfirmed.load(), 2 * DnsConfirmer::kMaxInFlight);
  EXPECT_TRUE(c.begin(100)) << "places are free again";
}

TEST(DnsConfirmer, ANameItCannotAskAgainIsNotConfirmed) {
  Confirming c;
  c.reply.question.name.assign("a..b");
  EXPECT_FALSE(c.begin());
  EXPECT_EQ(c.confirmer.inFlight(), 0u);
}

TEST(DnsConfirmer, KnowsAnotherReplyToTheProgramsExchangeItHolds) {
  Confirming c;
  EXPECT_FALSE(c.confirmer.anotherReply(c.reply));
  ASSERT_TRUE(c.begin());
  EXPECT_TRUE(c.confirmer.anotherReply(c.reply));
  DnsExchange other = c.reply;
  other.question.id ^= 1;
  EXPECT_FALSE(c.confirmer.anotherReply(other));
  other = c.reply;
  other.clientPort += 1;
  EXPECT_FALSE(c.confirmer.anotherReply(other));
  c.confirmer.releaseAll(c.counters, c.released);
  EXPECT_FALSE(c.confirmer.anotherReply(c.reply));
}

TEST(DnsConfirmer, OnlyLoopbackRepliesAreBelievedAtOnce) {
  EXPECT_TRUE(repliedOverLoopback(1));
  EXPECT_FALSE(repliedOverLoopback(0));
  EXPECT_FALSE(repliedOverLoopback(2));
}

}  // namespace
}  // namespace warden::engine
