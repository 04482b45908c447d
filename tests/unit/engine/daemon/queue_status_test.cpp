#include "engine/daemon/queue_status.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace warden::engine {
namespace {

using nlohmann::json;

// Every counter set to a value of its own, so that a key shown with another's value shows.
void fill(QueueCounters& c, std::uint64_t base) {
  std::uint64_t next = base;
  for (const QueueCounterField& field : kQueueCounterFields) (c.*field.member).store(next++);
}

std::set<std::string> keys(const json& object) {
  std::set<std::string> out;
  for (const auto& [key, value] : object.items()) out.insert(key);
  return out;
}

// The keys `warden status` has always sent (cli/status_text.cpp and the integration tests read
// them): a counter added to kQueueCounterFields belongs here too.
const std::set<std::string> kTotalKeys = {"packets",
                                          "allow",
                                          "deny",
                                          "reject",
                                          "learn",
                                          "kernel",
                                          "malformed",
                                          "enobufs",
                                          "queue_drops",
                                          "verdict_errors",
                                          "verdict_retries",
                                          "dns_replies",
                                          "dns_answers",
                                          "dns_malformed",
                                          "dns_unsolicited",
                                          "dns_confirmations",
                                          "dns_unconfirmed",
                                          "dns_queries",
                                          "dns_queries_evicted",
                                          "parked",
                                          "parked_undescribed",
                                          "repeats"};

TEST(QueueStatus, QueueObjectHasEveryCounterUnderItsKey) {
  QueueCounters c;
  c.packets = 10;
  c.allowed = 6;
  c.denied = 3;
  c.rejected = 1;
  c.learned = 4;
  c.kernel = 2;
  c.malformed = 5;
  c.enobufs = 7;
  c.verdictErrors = 8;
  c.verdictRetries = 22;
  c.maxLatencyNs = 88'999;
  c.parked = 11;
  c.parkedUndescribed = 12;
  c.repeats = 13;
  c.dnsReplies = 14;
  c.dnsAnswers = 15;
  c.dnsMalformed = 16;
  c.dnsUnsolicited = 17;
  c.dnsQueries = 18;
  c.dnsQueriesEvicted = 19;
  c.dnsConfirmations = 23;
  c.dnsUnconfirmed = 24;
  QueueStatus status;
  status.add(3, c, KernelQueueStats{.queueDropped = 20, .userDropped = 1, .waiting = 9});

  ASSERT_EQ(status.queues().size(), 1u);
  EXPECT_EQ(status.queues()[0], json::parse(R"({
      "queue": 3, "packets": 10, "allow": 6, "deny": 3, "reject": 1, "learn": 4, "kernel": 2,
      "malformed": 5, "enobufs": 7, "queue_drops": 21, "waiting": 9, "verdict_errors": 8,
      "verdict_retries": 22,      "dns_replies": 14, "dns_answers": 15, "dns_malformed": 16, "dns_unsolicited": 17,
      "dns_confirmations": 23, "dns_unconfirmed": 24,
      "dns_queries": 18, "dns_queries_evicted": 19, "parked": 11, "parked_undescribed": 12,
      "repeats": 13, "max_latency_us": 88})"));
}

TEST(QueueStatus, TotalsSumEveryCounterButThePeakLatency) {
  QueueCounters first, second;
  fill(first, 1);
  fill(second, 100);
  QueueStatus status;
  status.add(0, first, KernelQueueStats{.queueDropped = 2, .userDropped = 3, .waiting = 4});
  status.add(1, second, KernelQueueStats{.queueDropped = 5, .userDropped = 0, .waiting = 6});

  const json totals = status.totals();
  EXPECT_EQ(keys(totals), kTotalKeys);
  EXPECT_EQ(totals["queue_drops"], 10u);
  for (const auto& [key, value] : totals.items()) {
    if (key == "queue_drops") continue;
    EXPECT_EQ(value, status.queues()[0][key].get<std::uint64_t>() +
                         status.queues()[1][key].get<std::uint64_t>())
        << key;
  }
  std::set<std::string> perQueue = kTotalKeys;
  perQueue.insert({"queue", "waiting", "max_latency_us"});
  EXPECT_EQ(keys(status.queues()[1]), perQueue);
}

TEST(QueueStatus, NoQueuesStillListsEveryTotal) {
  const QueueStatus status;
  EXPECT_TRUE(status.queues().is_array());
  EXPECT_TRUE(status.queues().empty());
  const json totals = status.totals();
  EXPECT_EQ(keys(totals), kTotalKeys);
  for (const auto& [key, value] : totals.items()) EXPECT_EQ(value, 0u) << key;
}

TEST(QueueStatus, StoppedSummaryNamesTheDecisionsAndTheErrors) {
  QueueCounters first, second;
  first.packets = 12;
  first.allowed = 9;
  first.denied = 2;
  first.rejected = 1;
  first.enobufs = 4;
  second.packets = 3;
  second.allowed = 3;
  second.verdictErrors = 5;
  QueueStatus status;
  status.add(0, first, {});
  status.add(1, second, {});
  EXPECT_EQ(status.stoppedSummary(),
            "15 packets decided (12 allowed, 2 denied, 1 rejected, 5 verdict errors, 4 ENOBUFS)");
  EXPECT_EQ(QueueStatus{}.stoppedSummary(),
            "0 packets decided (0 allowed, 0 denied, 0 rejected, 0 verdict errors, 0 ENOBUFS)");
}

TEST(QueueStatus, EveryCounterHasAKeyOfItsOwn) {
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < kQueueCounterFields.size(); ++i) {
    EXPECT_TRUE(seen.insert(kQueueCounterFields[i].key).second) << kQueueCounterFields[i].key;
    for (std::size_t j = 0; j < i; ++j) {
      EXPECT_NE(kQueueCounterFields[i].member, kQueueCounterFields[j].member)
          << kQueueCounterFields[i].key << " reads the counter of " << kQueueCounterFields[j].key;
    }
  }
  EXPECT_FALSE(seen.contains("queue"));
  EXPECT_FALSE(seen.contains("queue_drops"));
  EXPECT_FALSE(seen.contains("waiting"));
}

}  // namespace
}  // namespace warden::engine
