#include "engine/dns/pending_dns_queries.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace warden::engine {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000;
constexpr std::uint64_t kT0 = 1000 * kSecond;

DnsExchange exchange(std::uint16_t id = 0x4242, std::string_view name = "files.test.example") {
  DnsExchange e;
  e.client = *rules::IpAddress::parse("192.0.2.1");
  e.clientPort = 40000;
  e.server = *rules::IpAddress::parse("192.0.2.2");
  e.serverPort = 53;
  e.question.id = id;
  e.question.type = 1;
  e.question.qclass = 1;
  e.question.name.assign(name);
  return e;
}

TEST(DnsPendingQueries, AReplyToAQueryIsAnsweredOnce) {
  PendingDnsQueries queries(16);
  EXPECT_EQ(queries.record(exchange(), kT0), PendingDnsQueries::Recorded::kAdded);
  EXPECT_EQ(queries.pending(kT0), 1u);
  EXPECT_TRUE(queries.answer(exchange(), kT0 + 1));
  EXPECT_FALSE(queries.answer(exchange(), kT0 + 2)) << "a second identical reply";
  EXPECT_EQ(queries.pending(kT0), 0u);
}

TEST(DnsPendingQueries, EveryPartOfTheExchangeMustMatch) {
  PendingDnsQueries queries(16);
  queries.record(exchange(), kT0);
  std::vector<std::pair<std::string, DnsExchange>> others;
  auto other = [&](const char* what, auto change) {
    DnsExchange e = exchange();
    change(e);
    others.emplace_back(what, e);
  };
  other("id", [](DnsExchange& e) { e.question.id ^= 1; });
  other("name", [](DnsExchange& e) { e.question.name.assign("evil.test.example"); });
  other("a longer name", [](DnsExchange& e) { e.question.name.assign("xfiles.test.example"); });
  other("type", [](DnsExchange& e) { e.question.type = 28; });
  other("class", [](DnsExchange& e) { e.question.qclass = 3; });
  other("server", [](DnsExchange& e) { e.server = *rules::IpAddress::parse("192.0.2.3"); });
  other("server port", [](DnsExchange& e) { e.serverPort = 5353; });
  other("client", [](DnsExchange& e) { e.client = *rules::IpAddress::parse("192.0.2.9"); });
  other("client port", [](DnsExchange& e) { e.clientPort = 40001; });
  for (const auto& [what, e] : others) {
    EXPECT_FALSE(queries.answer(e, kT0 + 1)) << "another " << what;
  }
  EXPECT_TRUE(queries.answer(exchange(), kT0 + 1)) << "the mismatches consumed nothing";
}

TEST(DnsPendingQueries, QueriesExpire) {
  PendingDnsQueries queries(16);
  queries.record(exchange(1), kT0);
  queries.record(exchange(2), kT0);
  EXPECT_TRUE(queries.answer(exchange(1), kT0 + PendingDnsQueries::kLifetimeNs - 1));
  EXPECT_FALSE(queries.answer(exchange(2), kT0 + PendingDnsQueries::kLifetimeNs));
  EXPECT_EQ(queries.pending(kT0 + PendingDnsQueries::kLifetimeNs), 0u);
}

TEST(DnsPendingQueries, ARetransmittedQueryIsOneEntryRenewed) {
  PendingDnsQueries queries(16);
  queries.record(exchange(), kT0);
  EXPECT_EQ(queries.record(exchange(), kT0 + 5 * kSecond), PendingDnsQueries::Recorded::kRepeated);
  EXPECT_EQ(queries.pending(kT0 + 5 * kSecond), 1u);
  const std::uint64_t late = kT0 + PendingDnsQueries::kLifetimeNs + kSecond;
  EXPECT_TRUE(queries.answer(exchange(), late)) << "alive from the retransmission on";
  EXPECT_FALSE(queries.answer(exchange(), late)) << "and answered once";
}

TEST(DnsPendingQueries, AFullTableLetsTheOldestWaitingQueryGo) {
  PendingDnsQueries queries(4);
  for (std::uint16_t id = 1; id <= 4; ++id) {
    EXPECT_EQ(queries.record(exchange(id), kT0 + id), PendingDnsQueries::Recorded::kAdded);
  }
  EXPECT_EQ(queries.record(exchange(5), kT0 + 5), PendingDnsQueries::Recorded::kEvicted);
  EXPECT_EQ(queries.pending(kT0 + 5), 4u);
  EXPECT_FALSE(queries.answer(exchange(1), kT0 + 6)) << "the oldest gave way";
  for (std::uint16_t id = 2; id <= 5; ++id) EXPECT_TRUE(queries.answer(exchange(id), kT0 + 6));
}

TEST(DnsPendingQueries, AnsweredQueriesLeaveNoGapsThatFillTheTable) {
  PendingDnsQueries queries(8);
  queries.record(exchange(100), kT0);  // never answered: the oldest, holds its place
  for (std::uint16_t id = 1; id <= 40; ++id) {
    ASSERT_NE(queries.record(exchange(id), kT0 + id), PendingDnsQueries::Recorded::kEvicted) << id;
    ASSERT_TRUE(queries.answer(exchange(id), kT0 + id));
  }
  EXPECT_TRUE(queries.answer(exchange(100), kT0 + 50));
}

TEST(DnsPendingQueries, ExpiredQueriesMakeRoomWithoutEvicting) {
  PendingDnsQueries queries(2);
  queries.record(exchange(1), kT0);
  queries.record(exchange(2), kT0);
  const std::uint64_t later = kT0 + PendingDnsQueries::kLifetimeNs;
  EXPECT_EQ(queries.record(exchange(3), later), PendingDnsQueries::Recorded::kAdded);
  EXPECT_EQ(queries.record(exchange(4), later), PendingDnsQueries::Recorded::kAdded);
  EXPECT_EQ(queries.capacity(), 2u);
}

// Queries recorded by one worker and answered by another (flows spread over queues).
TEST(DnsPendingQueries, SharedByThreads) {
  PendingDnsQueries queries(256);
  std::thread a([&] {
    for (std::uint16_t id = 0; id < 20000; ++id) {
      queries.record(exchange(id, "a.test.example"), kT0);
      queries.answer(exchange(id, "a.test.example"), kT0);
    }
  });
  std::thread b([&] {
    for (std::uint16_t id = 0; id < 20000; ++id) {
      queries.record(exchange(id, "b.test.example"), kT0);
      queries.answer(exchange(id, "b.test.example"), kT0);
    }
  });
  a.join();
  b.join();
  EXPECT_EQ(queries.pending(kT0), 0u);
}

}  // namespace
}  // namespace warden::engine
