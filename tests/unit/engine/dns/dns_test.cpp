#include "engine/dns/dns.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace warden::engine {
namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr std::uint16_t kA = 1, kCname = 5, kTxt = 16, kAaaa = 28;
constexpr std::uint16_t kIn = 1, kChaos = 3;
constexpr std::uint16_t kQuestionOffset = 12;  // where the question's name starts

void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}

void put32(Bytes& b, std::uint32_t v) {
  put16(b, static_cast<std::uint16_t>(v >> 16));
  put16(b, static_cast<std::uint16_t>(v));
}

// A name in wire form, uncompressed: "www.example.org" -> 3www7example3org0.
Bytes name(std::string_view text) {
  Bytes b;
  while (!text.empty()) {
    const auto dot = text.find('.');
    const std::string_view label = text.substr(0, dot);
    b.push_back(static_cast<std::uint8_t>(label.size()));
    b.insert(b.end(), label.begin(), label.end());
    text = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  }
  b.push_back(0);
  return b;
}

Bytes pointer(std::uint16_t offset) {
  return {static_cast<std::uint8_t>(0xc0 | (offset >> 8)), static_cast<std::uint8_t>(offset)};
}

Bytes concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A DNS message under construction: header, one question, then records appended by hand.
struct Message {
  Bytes bytes;
  std::uint16_t answers = 0;

  explicit Message(std::string_view question, std::uint16_t qtype = kA,
                   std::uint16_t flags = 0x8180, std::uint16_t qclass = kIn) {
    put16(bytes, 0x1234);
    put16(bytes, flags);
    put16(bytes, 1);  // questions
    put16(bytes, 0);  // answers, set by build()
    put16(bytes, 0);
    put16(bytes, 0);
    const Bytes q = name(question);
    bytes.insert(bytes.end(), q.begin(), q.end());
    put16(bytes, qtype);
    put16(bytes, qclass);
  }

  std::uint16_t here() const { return static_cast<std::uint16_t>(bytes.size()); }

  Message& record(const Bytes& owner, std::uint16_t type, const Bytes& rdata,
                  std::uint32_t ttl = 300, std::uint16_t rclass = kIn) {
    bytes.insert(bytes.end(), owner.begin(), owner.end());
    put16(bytes, type);
    put16(bytes, rclass);
    put32(bytes, ttl);
    put16(bytes, static_cast<std::uint16_t>(rdata.size()));
    bytes.insert(bytes.end(), rdata.begin(), rdata.end());
    ++answers;
    return *this;
  }

  Bytes build() const {
    Bytes b = bytes;
    b[6] = static_cast<std::uint8_t>(answers >> 8);
    b[7] = static_cast<std::uint8_t>(answers);
    return b;
  }
};

Bytes v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) { return {a, b, c, d}; }

Bytes v6Doc(std::uint8_t last) {  // 2001:db8::<last>
  Bytes b(16, 0);
  b[0] = 0x20, b[1] = 0x01, b[2] = 0x0d, b[3] = 0xb8, b[15] = last;
  return b;
}

DnsResponse parse(const Bytes& message) {
  DnsResponse response;
  parseDnsResponse(message, response);
  return response;
}

std::vector<std::string> addresses(const DnsResponse& response) {
  std::vector<std::string> out;
  for (const auto& a : response.answers()) out.push_back(a.address.toString());
  return out;
}

using Strings = std::vector<std::string>;

TEST(DnsParse, AAndAaaaAnswersBelongToTheQuestion) {
  Message m("WWW.Example.ORG", kA);
  m.record(pointer(kQuestionOffset), kA, v4(198, 51, 100, 7), 120)
      .record(pointer(kQuestionOffset), kAaaa, v6Doc(7), 30);
  const DnsResponse r = parse(m.build());
  ASSERT_EQ(r.status, DnsStatus::kAnswers);
  EXPECT_TRUE(r.hasQuestion);
  EXPECT_EQ(r.question.id, 0x1234);
  EXPECT_EQ(r.question.type, kA);
  EXPECT_EQ(r.question.qclass, kIn);
  EXPECT_EQ(r.question.name.view(), "www.example.org");  // lower case, no trailing dot
  EXPECT_EQ(addresses(r), (Strings{"198.51.100.7", "2001:db8::7"}));
  EXPECT_EQ(r.addresses[0].ttl, 120u);
  EXPECT_EQ(r.addresses[1].ttl, 30u);
}

TEST(DnsParse, UncompressedOwnerNamesMatchToo) {
  Message m("host.test.example");
  m.record(name("HOST.test.example"), kA, v4(192, 0, 2, 5));
  EXPECT_EQ(addresses(parse(m.build())), (Strings{"192.0.2.5"}));
}

TEST(DnsParse, CnameChainsLeadAddressesBackToTheQueriedName) {
  Message m("www.shop.example");
  const std::uint16_t first = m.here();
  m.record(pointer(kQuestionOffset), kCname, name("edge.cdn.example"), 600);
  // edge.cdn.example -> a1.cdn.example; the owner points into the first CNAME's data.
  const std::uint16_t edgeName = first + 2 + 10;
  m.record(pointer(edgeName), kCname, concat(Bytes{2, 'a', '1'}, pointer(edgeName + 5)), 60);
  const std::uint16_t a1 = m.here() - 5;  // "2a1" + pointer
  m.record(pointer(a1), kA, v4(198, 51, 100, 9), 300);
  m.record(name("unrelated.example"), kA, v4(198, 51, 100, 10), 300);  // not on the chain
  const DnsResponse r = parse(m.build());
  ASSERT_EQ(r.status, DnsStatus::kAnswers);
  EXPECT_EQ(r.question.name.view(), "www.shop.example");
  EXPECT_EQ(addresses(r), (Strings{"198.51.100.9"}));
  EXPECT_EQ(r.addresses[0].ttl, 60u) << "the shortest TTL along the chain";
}

TEST(DnsParse, CnamesInAnyOrderAndCnameLoopsEnd) {
  Message m("a.example");
  m.record(name("c.example"), kA, v4(192, 0, 2, 3))
      .record(name("b.example"), kCname, name("c.example"))
      .record(name("a.example"), kCname, name("b.example"))
      .record(name("c.example"), kCname, name("a.example"));  // a loop back to the question
  const DnsResponse r = parse(m.build());
  ASSERT_EQ(r.status, DnsStatus::kAnswers);
  EXPECT_EQ(addresses(r), (Strings{"192.0.2.3"}));
}

TEST(DnsParse, NonResponsesErrorsAndOtherClassesTeachNothing) {
  Message query("q.example", kA, /*flags=*/0x0100);
  query.record(pointer(kQuestionOffset), kA, v4(192, 0, 2, 1));
  EXPECT_EQ(parse(query.build()).status, DnsStatus::kIgnored);

  Message nxdomain("q.example", kA, /*flags=*/0x8183);
  EXPECT_EQ(parse(nxdomain.build()).status, DnsStatus::kIgnored);

  Message notify("q.example", kA, /*flags=*/0xa000);  // opcode 4
  EXPECT_EQ(parse(notify.build()).status, DnsStatus::kIgnored);

  Message chaos("version.bind", kTxt, 0x8180, kChaos);
  EXPECT_EQ(parse(chaos.build()).status, DnsStatus::kIgnored);

  // A class CH answer inside an IN response is skipped, the IN one kept.
  Message mixed("q.example");
  mixed.record(pointer(kQuestionOffset), kA, v4(192, 0, 2, 1), 300, kChaos)
      .record(pointer(kQuestionOffset), kA, v4(192, 0, 2, 2));
  EXPECT_EQ(addresses(parse(mixed.build())), (Strings{"192.0.2.2"}));

  Message noAnswers("q.example");
  const DnsResponse empty = parse(noAnswers.build());
  EXPECT_EQ(empty.status, DnsStatus::kAnswers);
  EXPECT_TRUE(empty.answers().empty());
}

TEST(DnsParse, OtherRecordTypesAreSkipped) {
  Message m("q.example");
  m.record(pointer(kQuestionOffset), kTxt, Bytes{3, 'a', 'b', 'c'})
      .record(pointer(kQuestionOffset), kA, v4(192, 0, 2, 8));
  EXPECT_EQ(addresses(parse(m.build())), (Strings{"192.0.2.8"}));
}

TEST(DnsParse, TopBitTtlIsZero) {
  Message m("q.example");
  m.record(pointer(kQuestionOffset), kA, v4(192, 0, 2, 8), 0x80000001u);
  EXPECT_EQ(parse(m.build()).addresses[0].ttl, 0u);
}

// ---- hostile and broken messages ------------------------------------------------------------

DnsStatus statusOf(const Bytes& message) {
  DnsResponse r;
  const DnsStatus status = parseDnsResponse(message, r);
  EXPECT_EQ(status, r.status);
  if (status != DnsStatus::kAnswers) {
    EXPECT_EQ(r.addressCount, 0);
  }
  return status;
}

TEST(DnsHostile, ShorterThanAHeader) {
  EXPECT_EQ(statusOf({}), DnsStatus::kMalformed);
  EXPECT_EQ(statusOf(Bytes(11, 0x81)), DnsStatus::kMalformed);
}

TEST(DnsHostile, EveryTruncationOfAGoodMessageIsMalformed) {
  Message m("www.example.org");
  m.record(pointer(kQuestionOffset), kCname, name("cdn.example.net"))
      .record(name("cdn.example.net"), kA, v4(198, 51, 100, 1));
  const Bytes whole = m.build();
  ASSERT_EQ(statusOf(whole), DnsStatus::kAnswers);
  for (std::size_t n = 0; n < whole.size(); ++n) {
    const Bytes part(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_EQ(statusOf(part), DnsStatus::kMalformed) << n << " bytes";
  }
}

TEST(DnsHostile, BytesAfterTheLastRecordAreMalformed) {
  Message m("q.example");
  m.record(pointer(kQuestionOffset), kA, v4(192, 0, 2, 1));
  Bytes trailing = m.build();
  ASSERT_EQ(statusOf(trailing), DnsStatus::kAnswers);
  trailing.push_back(0);
  EXPECT_EQ(statusOf(trailing), DnsStatus::kMalformed);
}

// The case: 64 good answers, then a broken one. Only 64 records are used, but the
// whole message must parse before any of it is.
TEST(DnsHostile, ARecordBrokenAfterTheFirst64AnswersSpoilsTheMessage) {
  Message m("q.example");
  for (int i = 0; i < 64; ++i) {
    m.record(pointer(kQuestionOffset), kA, v4(192, 0, 2, static_cast<std::uint8_t>(i)));
  }
  ASSERT_EQ(statusOf(m.build()), DnsStatus::kAnswers);
  Message broken = m;
  broken.record(pointer(broken.here()), kA, v4(192, 0, 2, 99));  // an owner pointing at itself
  EXPECT_EQ(statusOf(broken.build()), DnsStatus::kMalformed);
  Message wrongLength = m;
  wrongLength.record(pointer(kQuestionOffset), kA, Bytes{1, 2, 3});
  EXPECT_EQ(statusOf(wrongLength.build()), DnsStatus::kMalformed);
  Message lying = m;
  Bytes announced = lying.build();
  announced[7] = 66;  // 66 answers announced, 64 present
  EXPECT_EQ(statusOf(announced), DnsStatus::kMalformed);
}

// Authority and additional records are not used, but they are part of the message.
TEST(DnsHostile, BrokenAuthorityOrAdditionalRecordsSpoilTheMessage) {
  Message m("q.example");
  m.record(pointer(kQuestionOffset), kA, v4(192, 0, 2, 1));
  Bytes good = m.build();
  // An additional OPT record (EDNS): the root as owner, any bytes in its data.
  const Bytes opt = {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0};
  Bytes withOpt = concat(good, opt);
  withOpt[11] = 1;
  EXPECT_EQ(statusOf(withOpt), DnsStatus::kAnswers);
  // An authority record whose owner name uses characters no host name has is only data.
  Bytes withAuthority =
      concat(good, concat(Bytes{3, '0', '/', '2', 0}, Bytes{0, 2, 0, 1, 0, 0, 0, 1, 0, 1, 0}));
  withAuthority[9] = 1;
  EXPECT_EQ(statusOf(withAuthority), DnsStatus::kAnswers);
  // An additional record announced but missing, or running past the end.
  Bytes missing = good;
  missing[11] = 1;
  EXPECT_EQ(statusOf(missing), DnsStatus::kMalformed);
  Bytes overlong = concat(good, Bytes{0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 9, 1, 2});
  overlong[11] = 1;
  EXPECT_EQ(statusOf(overlong), DnsStatus::kMalformed);
  Bytes looping = good;
  const auto at = static_cast<std::uint16_t>(looping.size());
  looping = concat(looping, concat(pointer(at), Bytes{0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4}));
  looping[9] = 1;
  EXPECT_EQ(statusOf(looping), DnsStatus::kMalformed);
}

TEST(DnsParse, ErrorAnswersStillNameTheirQuestion) {
  const DnsResponse r = parse(Message("Q.Example", kAaaa, /*flags=*/0x8183).build());
  EXPECT_EQ(r.status, DnsStatus::kIgnored);
  EXPECT_TRUE(r.hasQuestion);
  EXPECT_EQ(r.question.name.view(), "q.example");
  EXPECT_EQ(r.question.type, kAaaa);
  // A query has no answer to give.
  EXPECT_FALSE(parse(Message("q.example", kA, /*flags=*/0x0100).build()).hasQuestion);
}

TEST(DnsQuery, ReadsIdAndQuestionInLowerCase) {
  DnsQuestion q;
  ASSERT_TRUE(parseDnsQuery(Message("WwW.ExAmPlE.oRg", kAaaa, /*flags=*/0x0100).build(), q));
  EXPECT_EQ(q.id, 0x1234);
  EXPECT_EQ(q.type, kAaaa);
  EXPECT_EQ(q.qclass, kIn);
  EXPECT_EQ(q.name.view(), "www.example.org");
  // An EDNS OPT record after the question is fine.
  Bytes edns = Message("q.example", kA, 0x0100).build();
  edns[11] = 1;
  edns = concat(edns, Bytes{0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_TRUE(parseDnsQuery(edns, q));
}

TEST(DnsQuery, AnythingButAStandardQueryForOneHostNameIsNone) {
  DnsQuestion q;
  EXPECT_FALSE(parseDnsQuery(Message("q.example").build(), q)) << "a response";
  EXPECT_FALSE(parseDnsQuery(Message("q.example", kA, 0x2900).build(), q)) << "an update";
  Bytes two = Message("q.example", kA, 0x0100).build();
  two[5] = 2;
  EXPECT_FALSE(parseDnsQuery(two, q)) << "two questions";
  Bytes cut = Message("q.example", kA, 0x0100).build();
  cut.pop_back();
  EXPECT_FALSE(parseDnsQuery(cut, q));
  EXPECT_FALSE(parseDnsQuery(Bytes(11, 0), q));
  Bytes odd = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'a', ' ', 'b', 0, 0, 1, 0, 1};
  EXPECT_FALSE(parseDnsQuery(odd, q)) << "not a host name";
  Bytes root = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1};
  EXPECT_FALSE(parseDnsQuery(root, q)) << "the root names no host";
}

TEST(DnsHostile, PointerLoops) {
  // The answer's owner points at itself.
  Message self("q.example");
  const std::uint16_t at = self.here();
  self.record(pointer(at), kA, v4(192, 0, 2, 1));
  EXPECT_EQ(statusOf(self.build()), DnsStatus::kMalformed);

  // Two names pointing at each other: the owner "x" -> the data "y" -> the owner again.
  Message pair("q.example");
  const std::uint16_t a = pair.here();
  const Bytes owner = concat(Bytes{1, 'x'}, pointer(a + 4 + 10));  // -> the CNAME's data
  pair.record(owner, kCname, concat(Bytes{1, 'y'}, pointer(a)));
  EXPECT_EQ(statusOf(pair.build()), DnsStatus::kMalformed);
}

TEST(DnsHostile, PointersForwardIntoTheHeaderOrOutOfRange) {
  Message forward("q.example");
  forward.record(pointer(forward.here() + 20), kA, v4(192, 0, 2, 1));
  EXPECT_EQ(statusOf(forward.build()), DnsStatus::kMalformed);

  Message header("q.example");
  header.record(pointer(4), kA, v4(192, 0, 2, 1));
  EXPECT_EQ(statusOf(header.build()), DnsStatus::kMalformed);

  Message outside("q.example");
  outside.record(pointer(0x3fff), kA, v4(192, 0, 2, 1));
  EXPECT_EQ(statusOf(outside.build()), DnsStatus::kMalformed);

  // A question that starts with a pointer has nothing before it to point to.
  Bytes compressedQuestion = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0};
  compressedQuestion = concat(compressedQuestion, pointer(12));
  compressedQuestion.insert(compressedQuestion.end(), {0, 1, 0, 1});
  EXPECT_EQ(statusOf(compressedQuestion), DnsStatus::kMalformed);

  // Half a pointer at the very end.
  Bytes half = Message("q.example").build();
  half[7] = 1;
  half.push_back(0xc0);
  EXPECT_EQ(statusOf(half), DnsStatus::kMalformed);
}

// wardend's own queries (DnsConfirmer): what it writes parses back as the question it asked.
TEST(DnsQueryWriting, AQueryReadsBackAsItsQuestion) {
  const std::uint8_t everyLetterUp[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  const std::uint8_t alternate[32] = {0x55, 0x55, 0x55, 0x55};
  std::array<std::uint8_t, kMaxDnsQuestion> question{};
  std::array<std::uint8_t, kMaxDnsQuery> query{};
  for (const std::string& name : {std::string("files.test.example"), std::string("a-1.b_2.c3"),
                                  std::string(63, 'x') + "." + std::string(63, 'y') + "." +
                                      std::string(63, 'z') + "." + std::string(61, 'w')}) {
    for (const std::span<const std::uint8_t> bits :
         {std::span<const std::uint8_t>(everyLetterUp), std::span<const std::uint8_t>(alternate)}) {
      const std::size_t length = writeDnsQuestion(name, 28, 1, bits, question);
      ASSERT_EQ(length, name.size() + 2 + 4) << name;
      const std::size_t size =
          writeDnsQuery(0xbeef, std::span(question).first(length), 1232, query);
      ASSERT_EQ(size, length + kDnsQueryOverhead);
      DnsQuestion parsed;
      ASSERT_TRUE(parseDnsQuery(std::span(query).first(size), parsed)) << name;
      EXPECT_EQ(parsed.id, 0xbeef);
      EXPECT_EQ(parsed.type, 28);
      EXPECT_EQ(parsed.qclass, 1);
      EXPECT_EQ(parsed.name.view(), name) << "read back in lower case";
      DnsHeader header;
      ASSERT_TRUE(readDnsHeader(std::span(query).first(size), header));
      EXPECT_EQ(header.id, 0xbeef);
      EXPECT_FALSE(header.response);
      EXPECT_EQ(query[2], 0x01) << "recursion desired";
      EXPECT_EQ(query[11], 1) << "one additional record: EDNS";
      EXPECT_EQ((query[size - 8] << 8) | query[size - 7], 1232) << "the payload EDNS offers";
    }
  }
  // The case of each letter follows its bit; other characters take none.
  const std::size_t length = writeDnsQuestion("ab-cd.e", 1, 1, alternate, question);
  ASSERT_EQ(length, 13u);
  EXPECT_EQ(std::string(question.begin() + 1, question.begin() + 6), "Ab-Cd");
  EXPECT_EQ(question[7], 'E');
}

TEST(DnsQueryWriting, NamesNoQueryMayAskAreRefused) {
  std::array<std::uint8_t, kMaxDnsQuestion> question{};
  const std::uint8_t bits[32] = {};
  EXPECT_EQ(writeDnsQuestion("a..b", 1, 1, bits, question), 0u);
  EXPECT_EQ(writeDnsQuestion(".a", 1, 1, bits, question), 0u);
  EXPECT_EQ(writeDnsQuestion(std::string(64, 'a') + ".b", 1, 1, bits, question), 0u);
  EXPECT_EQ(writeDnsQuestion(std::string(254, 'a'), 1, 1, bits, question), 0u);
}

TEST(DnsQueryWriting, TheHeaderOfAnAnswer) {
  Bytes answer = {0x12, 0x34, 0x83, 0x83, 0, 0, 0, 0, 0, 0, 0, 0};
  DnsHeader header;
  ASSERT_TRUE(readDnsHeader(answer, header));
  EXPECT_EQ(header.id, 0x1234);
  EXPECT_TRUE(header.response);
  EXPECT_TRUE(header.truncated);
  EXPECT_EQ(header.rcode, 3);
  answer.pop_back();
  EXPECT_FALSE(readDnsHeader(answer, header));
}

TEST(DnsHostile, LabelsAndNamesBeyondTheirLimits) {
  // 0x40 and 0x80 lead bytes: extended label types, a label "longer than 63".
  for (std::uint8_t lead : {std::uint8_t{0x40}, std::uint8_t{0x7f}, std::uint8_t{0x80}}) {
    Message m("q.example");
    Bytes owner = {lead};
    owner.resize(1 + 70, 'a');
    owner.push_back(0);
    m.record(owner, kA, v4(192, 0, 2, 1));
    EXPECT_EQ(statusOf(m.build()), DnsStatus::kMalformed) << int{lead};
  }
  // 5 labels of 63: 319 characters, more than a name may have.
  const std::string label(63, 'a');
  std::string longName = label;
  for (int i = 0; i < 4; ++i) longName += "." + label;
  EXPECT_EQ(statusOf(Message(longName).build()), DnsStatus::kMalformed);
  // 253 characters exactly is still a name.
  std::string longest = label + "." + label + "." + label + "." + std::string(61, 'b');
  ASSERT_EQ(longest.size(), 253u);
  Message ok(longest);
  ok.record(pointer(kQuestionOffset), kA, v4(192, 0, 2, 1));
  const DnsResponse r = parse(ok.build());
  EXPECT_EQ(r.status, DnsStatus::kAnswers);
  EXPECT_EQ(r.question.name.view(), longest);
  // 254 is not.
  EXPECT_EQ(statusOf(Message(longest + "b").build()), DnsStatus::kMalformed);
}

TEST(DnsHostile, NamesWithCharactersNoHostNameHas) {
  for (std::string_view bad : {std::string_view("a b"), std::string_view("a\0b", 3),
                               std::string_view("a\nb"), std::string_view("\xff")}) {
    Bytes question = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0};
    question.push_back(static_cast<std::uint8_t>(bad.size()));
    question.insert(question.end(), bad.begin(), bad.end());
    question.insert(question.end(), {0, 0, 1, 0, 1});
    EXPECT_EQ(statusOf(question), DnsStatus::kMalformed) << bad;
  }
  // A '.' inside a label would make "evil.example.org" out of one label.
  Message m("q.example");
  m.record(pointer(kQuestionOffset), kCname, Bytes{5, 'a', '.', 'o', 'r', 'g', 0});
  EXPECT_EQ(statusOf(m.build()), DnsStatus::kMalformed);
}

TEST(DnsHostile, WrongDataLengths) {
  Message a("q.example");
  a.record(pointer(kQuestionOffset), kA, Bytes{1, 2, 3, 4, 5});
  EXPECT_EQ(statusOf(a.build()), DnsStatus::kMalformed);
  Message aaaa("q.example");
  aaaa.record(pointer(kQuestionOffset), kAaaa, v4(1, 2, 3, 4));
  EXPECT_EQ(statusOf(aaaa.build()), DnsStatus::kMalformed);
  // A CNAME whose name runs past its data, or ends before it.
  Message longer("q.example");
  longer.record(pointer(kQuestionOffset), kCname, Bytes{3, 'a', 'b', 'c'});
  longer.record(pointer(kQuestionOffset), kA, v4(1, 2, 3, 4));
  EXPECT_EQ(statusOf(longer.build()), DnsStatus::kMalformed);
  Message shorter("q.example");
  shorter.record(pointer(kQuestionOffset), kCname, Bytes{1, 'a', 0, 0, 0});
  EXPECT_EQ(statusOf(shorter.build()), DnsStatus::kMalformed);
  // More answers announced than present.
  Bytes lying = Message("q.example").build();
  lying[7] = 200;
  EXPECT_EQ(statusOf(lying), DnsStatus::kMalformed);
}

TEST(DnsHostile, AddressCountIsBounded) {
  Message m("q.example");
  for (int i = 0; i < 60; ++i) {
    m.record(pointer(kQuestionOffset), kA, v4(192, 0, 2, static_cast<std::uint8_t>(i)));
  }
  const DnsResponse r = parse(m.build());
  EXPECT_EQ(r.status, DnsStatus::kAnswers);
  EXPECT_EQ(r.answers().size(), DnsResponse::kMaxAddresses);
}

// Random and mutated messages: whatever comes, the parser ends, stays inside the buffer (run
// under valgrind or -fsanitize=address to see that), and gives a consistent result.
TEST(DnsHostile, RandomAndMutatedInputsNeverCrash) {
  std::mt19937 random(20240501);
  Message seed("www.example.org");
  seed.record(pointer(kQuestionOffset), kCname, name("cdn.example.net"))
      .record(name("cdn.example.net"), kA, v4(198, 51, 100, 1))
      .record(pointer(kQuestionOffset), kAaaa, v6Doc(1));
  const Bytes good = seed.build();
  std::size_t answered = 0;
  for (int round = 0; round < 200000; ++round) {
    Bytes input;
    if (round % 4 == 0) {  // pure noise with a plausible header
      input.resize(random() % 300);
      for (auto& byte : input) byte = static_cast<std::uint8_t>(random());
      if (input.size() >= 4) input[2] |= 0x80, input[3] &= 0xf0;
    } else {  // a good message with a few bytes flipped, cut, or pointer-like bytes planted
      input = good;
      const int edits = 1 + static_cast<int>(random() % 4);
      for (int e = 0; e < edits; ++e) {
        const std::size_t at = random() % input.size();
        switch (random() % 4) {
          case 0:
            input[at] = static_cast<std::uint8_t>(random());
            break;
          case 1:
            input[at] = static_cast<std::uint8_t>(0xc0 | (random() & 1));
            break;
          case 2:
            input.resize(at + 1);
            break;
          default:
            input.insert(input.begin() + static_cast<std::ptrdiff_t>(at),
                         static_cast<std::uint8_t>(random() % 64));
            break;
        }
      }
    }
    DnsResponse r;
    const DnsStatus status = parseDnsResponse(input, r);
    ASSERT_EQ(status, r.status);
    ASSERT_LE(r.addressCount, DnsResponse::kMaxAddresses);
    ASSERT_LE(r.question.name.length, DnsName::kMaxLength);
    for (char c : r.question.name.view()) {
      ASSERT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                  c == '.')
          << int{c};
    }
    if (status == DnsStatus::kAnswers && r.addressCount > 0) ++answered;
  }
  EXPECT_GT(answered, 0u) << "the mutations should leave some messages readable";
}

}  // namespace
}  // namespace warden::engine
