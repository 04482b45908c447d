#include "cli/status_text.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include <sstream>

namespace warden::cli {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kNow = 1'777'636'800 * kSecond;  // 2026-05-01T12:00:00Z

// A status object as wardend sends it (engine/daemon/daemon.cpp, Daemon::status).
nlohmann::json sampleStatus() {
  return nlohmann::json::parse(R"({
    "running": true, "pid": 4242, "started_at_ns": )" +
                               std::to_string(kNow - kSecond * 3 * 3600) + R"(,
    "mode": "learn", "fail": "closed", "invalid": "drop", "method": "none",
    "queue_method": "nft_compat",
    "queues": [
      {"queue": 0, "packets": 10, "allow": 6, "deny": 3, "reject": 1, "learn": 4, "kernel": 2,
       "malformed": 1, "enobufs": 0, "queue_drops": 5, "waiting": 0, "verdict_errors": 0,
       "max_latency_us": 88},
      {"queue": 1, "packets": 0, "allow": 0, "deny": 0, "reject": 0, "learn": 0, "kernel": 0,
       "malformed": 0, "enobufs": 7, "queue_drops": 0, "waiting": 0, "verdict_errors": 0,
       "max_latency_us": 0}],
    "totals": {"packets": 10, "allow": 6, "deny": 3, "reject": 1, "learn": 4, "kernel": 2,
               "malformed": 1, "enobufs": 7, "queue_drops": 5, "verdict_errors": 0,
               "verdict_retries": 2, "invalid": 3, "passed_undecided": 12},
    "log": {"enabled": true, "db": "/var/lib/warden/warden.db", "written": 9, "dropped": 1,
            "failed": 0, "backlog": 2, "expired": 100},
    "policy": {"revision": 7, "loaded_at_ns": )" +
                               std::to_string(kNow - 192 * kSecond) + R"(,
               "config": "/etc/warden/warden.toml", "profiles": 1}
  })");
}

class StatusText : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC0", 1);
    tzset();
  }
  std::string print(const nlohmann::json& status) {
    std::ostringstream out;
    printStatus(status, kNow, out);
    return out.str();
  }
};

// Rule 1f's drops (new flows sent from an address not the host's) are a problem line item
// only when there are any.
TEST_F(StatusText, ForeignSourceDropsAreNamedWhenThereAreAny) {
  auto status = sampleStatus();
  EXPECT_EQ(print(status).find("foreign source"), std::string::npos);
  status["totals"]["foreign_source"] = 0;
  EXPECT_EQ(print(status).find("foreign source"), std::string::npos);
  status["totals"]["foreign_source"] = 2;
  const std::string text = print(status);
  EXPECT_NE(text.find("3 invalid packets dropped, 2 new flows from a foreign source address "
                      "dropped\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("foreign_source 2"), std::string::npos) << "not among the unknown totals";
}

TEST_F(StatusText, ShowsStateMethodsPolicyAndCounters) {
  const std::string text = print(sampleStatus());
  for (const char* expected : {
           "wardend      running, pid 4242, up 3h 00m (since 2026-05-01 09:00:00)\n",
           "mode         learn, fail closed\n",
           "attribution  none: no process can be attributed",
           "queues       0, 1 through nft_compat\n",
           "policy       revision 7, loaded 2026-05-01 11:56:48 (3m 12s ago), 1 profile\n",
           "             from /etc/warden/warden.toml\n",
           "flows        10 decided: 6 allowed, 3 denied, 1 rejected\n",
           "2 kernel-generated, 4 blocked by the policy but accepted in learn mode\n",
           "problems     1 malformed packets, 5 queue drops, 12 passed undecided, 7 ENOBUFS, 0 "
           "verdict errors (2 retries), 3 invalid packets dropped\n",
           "verdict log  /var/lib/warden/warden.db\n",
           "9 rows written, 1 dropped, 0 failed, 2 waiting, 100 expired by retention\n",
       }) {
    EXPECT_NE(text.find(expected), std::string::npos) << "missing: " << expected << "\n" << text;
  }
  EXPECT_NE(text.find("QUEUE  PACKETS  ALLOW  DENY  REJECT"), std::string::npos) << text;
  EXPECT_NE(text.find("    0       10      6     3       1"), std::string::npos) << text;
}

TEST_F(StatusText, AttributionMissesAndNewCountersShowWhenTheDaemonSendsThem) {
  auto status = sampleStatus();
  status["method"] = "ebpf";
  status["attribution"] = {{"method", "ebpf"},
                           {"hits", 40},
                           {"misses", 3},
                           {"kernel", 2},
                           {"flow_entries", 120},
                           {"flow_capacity", 65536},
                           {"evictions", 0},
                           {"bpf", {{"events_lost", 1}, {"lookups_by_syscall", 5}}},
                           {"describe_misses", 4},
                           {"fallback_errors", 0},
                           {"processes", {{"entries", 57}}},
                           {"hash_cache", {{"entries", 9}}}};
  status["totals"]["misses"] = 3;
  status["totals"]["future_counter"] = 12;
  const std::string text = print(status);
  EXPECT_NE(text.find("attribution  ebpf (connect-hook flow map)\n"), std::string::npos) << text;
  EXPECT_NE(
      text.find("40 flows attributed, 3 misses, 2 kernel-owned, 4 decided before described\n"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("flow map 120 of 65536 entries, 0 evicted, 1 events lost, 5 looked up by "
                      "syscall\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("57 processes known, 9 image hashes cached\n"), std::string::npos) << text;
  EXPECT_NE(text.find(", 3 attribution misses"), std::string::npos) << text;
  EXPECT_NE(text.find("future_counter 12"), std::string::npos) << text;
}

TEST_F(StatusText, OwnersOutsideThePidNamespaceShowWhenCounted) {
  auto status = sampleStatus();
  status["attribution"] = {
      {"method", "ebpf"}, {"hits", 5}, {"misses", 0}, {"kernel", 1}, {"outside_pid_namespace", 0}};
  EXPECT_EQ(print(status).find("pid namespace"), std::string::npos) << print(status);
  status["attribution"]["outside_pid_namespace"] = 7;
  const std::string text = print(status);
  EXPECT_NE(text.find("5 flows attributed, 0 misses, 1 kernel-owned, 7 outside wardend's pid "
                      "namespace (unknown)\n"),
            std::string::npos)
      << text;
}

TEST_F(StatusText, ProcessStormBoundsShowOnceReached) {
  auto status = sampleStatus();
  status["attribution"] = {
      {"method", "ebpf"},
      {"processes", {{"entries", 1100}, {"bound", 8192}, {"exited_bound", 1024}, {"evicted", 0}}},
      {"held_images", {{"held", 3}, {"bound", 256}, {"refused", 0}}},
      {"hash_cache", {{"entries", 3}}}};
  EXPECT_EQ(print(status).find("dropped at the bounds"), std::string::npos) << "none reached";
  status["attribution"]["processes"]["evicted"] = 7131;
  const std::string text = print(status);
  EXPECT_NE(text.find("7131 dropped at the bounds (8192 processes, 1024 exited), 3 images held "
                      "open of 256, 0 refused\n"),
            std::string::npos)
      << text;
}

TEST_F(StatusText, RepeatedDecisionsShowUnderTheVerdictLog) {
  auto status = sampleStatus();
  EXPECT_EQ(print(status).find("repeated decisions"), std::string::npos) << "none sent, no line";
  status["totals"]["repeats"] = 5;
  const std::string text = print(status);
  EXPECT_NE(text.find("100 expired by retention\n"
                      "             5 repeated decisions not written again (the same flow, "
                      "process and verdict)\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("repeats 5"), std::string::npos) << "not listed again among others";
}

TEST_F(StatusText, TheDaemonsVersionWhenItSendsOne) {
  auto status = sampleStatus();
  EXPECT_EQ(print(status).find("version"), std::string::npos) << "an older wardend: not shown";
  status["version"] = "0.1.0";
  EXPECT_NE(print(status).find("wardend      running, pid 4242, up 3h 00m (since 2026-05-01 "
                               "09:00:00), version 0.1.0\n"),
            std::string::npos)
      << print(status);
}

TEST_F(StatusText, TheQueueTableHeaderIsBoldWhenColoured) {
  std::ostringstream plain, painted;
  printStatus(sampleStatus(), kNow, plain);
  printStatus(sampleStatus(), kNow, painted, Palette(true));
  EXPECT_EQ(plain.str().find('\x1b'), std::string::npos);
  EXPECT_NE(painted.str().find("\x1b[1mQUEUE\x1b[0m"), std::string::npos) << painted.str();
}

TEST_F(StatusText, DnsShowsRepliesAddressesAndHostNamesKept) {
  auto status = sampleStatus();
  EXPECT_EQ(print(status).find("\ndns "), std::string::npos) << "no dns object, no line";
  status["dns"] = {{"enabled", true}, {"hosts", 4}, {"capacity", 4096}};
  status["totals"]["dns_replies"] = 3;
  status["totals"]["dns_answers"] = 1;
  status["totals"]["dns_malformed"] = 2;
  status["totals"]["dns_unsolicited"] = 5;
  status["totals"]["dns_queries"] = 6;
  status["totals"]["dns_queries_evicted"] = 0;
  std::string text = print(status);
  EXPECT_NE(text.find("dns          6 queries, 3 replies read, 1 address learned, 2 malformed, "
                      "5 unsolicited; 4 of 4096 host names kept\n"),
            std::string::npos)
      << text;
  for (const char* key : {"dns_replies", "dns_unsolicited", "dns_queries"}) {
    EXPECT_EQ(text.find(key), std::string::npos) << key << ": not repeated as an unknown counter";
  }
  status["totals"]["dns_queries_evicted"] = 2;
  text = print(status);
  EXPECT_NE(text.find("5 unsolicited, 2 unanswered queries pushed out; 4 of 4096"),
            std::string::npos)
      << text;
  status["totals"]["dns_confirmations"] = 4;
  status["totals"]["dns_unconfirmed"] = 7;
  text = print(status);
  EXPECT_NE(text.find("5 unsolicited, 7 not confirmed by the server, 2 unanswered queries"),
            std::string::npos)
      << text;
  for (const char* key : {"dns_confirmations", "dns_unconfirmed"}) {
    EXPECT_EQ(text.find(key), std::string::npos) << key << ": not repeated as an unknown counter";
  }
  status["dns"]["enabled"] = false;
  text = print(status);
  EXPECT_NE(text.find("dns          off: no flow has a host name"), std::string::npos) << text;
}

TEST_F(StatusText, ControlClientsCutOffShowOnceThereAreAny) {
  auto status = sampleStatus();
  status["control"] = {{"clients", 1},      {"max_clients", 32},     {"answered", 12},
                       {"request_late", 0}, {"request_too_long", 0}, {"answer_not_taken", 0},
                       {"evicted", 0}};
  EXPECT_EQ(print(status).find("\ncontrol "), std::string::npos) << "nothing cut off, no line";
  status["control"]["request_late"] = 3;
  status["control"]["evicted"] = 2;
  const std::string text = print(status);
  EXPECT_NE(text.find("control      clients cut off: 3 sent no request in time, 0 sent a request "
                      "too long, 0 did not take their answer in time, 2 closed for newer ones "
                      "(at most 32 at once)\n"),
            std::string::npos)
      << text;
}

TEST_F(StatusText, KernelHeldVerdictsShowWhatIsHeldAndWhatEndedIt) {
  auto status = sampleStatus();
  EXPECT_EQ(print(status).find("kernel-held"), std::string::npos) << "an older wardend";
  status["kernel_verdicts"] = {{"enabled", false}, {"reason", "kernel_verdicts = false"}};
  EXPECT_NE(print(status).find("kernel-held  off: kernel_verdicts = false\n"), std::string::npos);
  status["kernel_verdicts"] = nlohmann::json::parse(R"({
    "enabled": true, "entries": 5, "stored": 9, "capacity": 16384, "ttl": 600, "written": 11,
    "write_errors": 0, "hits": {"allow": 120, "deny": 3, "reject": 1},
    "invalidations": {"reload": 2, "dns": 4, "stale": 6, "expired": 1},
    "logged": 124, "unlogged": 0, "not_held_log_full": 0})");
  const std::string text = print(status);
  EXPECT_NE(text.find("kernel-held  5 of 16384 verdicts live (ttl 600 s), 11 held so far; flows "
                      "decided by them: 120 allowed, 3 denied, 1 rejected\n"
                      "             ended by 2 policy changes, 4 new host names; 6 lookups found "
                      "one out of date, 1 expired\n"),
            std::string::npos)
      << text;
}

TEST_F(StatusText, ALogThatCouldNotOpenShowsItsError) {
  auto status = sampleStatus();
  status["log"] = {{"enabled", false}, {"db", "/x/warden.db"}, {"error", "unable to open"}};
  const std::string text = print(status);
  EXPECT_NE(text.find("verdict log  /x/warden.db (not written: see error)"), std::string::npos);
  EXPECT_NE(text.find("error: unable to open"), std::string::npos);
}

TEST_F(StatusText, MissingOrMistypedFieldsAreUnknownNotACrash) {
  EXPECT_NO_THROW(print(nlohmann::json::object()));
  const std::string text = print(nlohmann::json{{"mode", 5}, {"queues", "x"}, {"totals", 1}});
  EXPECT_NE(text.find("mode         5, fail ?"), std::string::npos) << text;
  EXPECT_NE(text.find("flows        0 decided"), std::string::npos) << text;
}

TEST_F(StatusText, SaysWhyEbpfIsNotUsedWhenTheFallbackAttributes) {
  auto status = sampleStatus();
  status["method"] = "sock_diag";
  status["attribution"] = {{"method", "sock_diag"},
                           {"hits", 4},
                           {"misses", 0},
                           {"kernel", 0},
                           {"ebpf_error", "loading the eBPF programs: Operation not permitted"}};
  const std::string text = print(status);
  EXPECT_NE(text.find("attribution  sock_diag (+ /proc fallback; eBPF is off or unavailable)\n"
                      "             eBPF not used: loading the eBPF programs: Operation not "
                      "permitted\n"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace warden::cli
