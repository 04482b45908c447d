#include "db/log_query.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "db/log_table.h"
#include "db/policy_store.h"
#include "db/store.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/db/log_rows.h"

namespace warden::db {
namespace {

using ::testing::ElementsAre;
using testing::sampleRow;
using warden::testing::TempDir;

class LogQueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = openStore(dir_.file("warden.db"));
    ASSERT_TRUE(db.has_value()) << db.error().message();
    db_.emplace(std::move(*db));
    auto inserter = LogInserter::create(*db_);
    ASSERT_TRUE(inserter.has_value()) << inserter.error().message();
    inserter_.emplace(std::move(*inserter));
  }

  void insert(const LogRow& row) {
    auto ok = inserter_->insert(row);
    ASSERT_TRUE(ok.has_value()) << ok.error().message();
  }

  std::vector<LogEntry> query(const LogFilter& filter) {
    auto rows = queryLog(*db_, filter);
    EXPECT_TRUE(rows.has_value()) << rows.error().message();
    return rows.value_or(std::vector<LogEntry>{});
  }

  TempDir dir_;
  std::optional<Database> db_;
  std::optional<LogInserter> inserter_;
};

TEST_F(LogQueryTest, StoresEveryFieldOfARow) {
  insert(sampleRow(1'700'000'000'000'000'000));
  const auto rows = query({});
  ASSERT_EQ(rows.size(), 1u);
  const LogEntry& e = rows[0];
  EXPECT_GT(e.id, 0);
  EXPECT_EQ(e.timeNs, 1'700'000'000'000'000'000);
  EXPECT_EQ(e.direction, rules::Direction::kOut);
  EXPECT_EQ(e.protocol, "tcp");
  EXPECT_EQ(e.localAddr, "10.0.0.2");
  EXPECT_EQ(e.localPort, 40000);
  EXPECT_EQ(e.remoteAddr, "192.0.2.10");
  EXPECT_EQ(e.remotePort, 443);
  EXPECT_EQ(e.host, "www.example.org");
  EXPECT_THAT(e.tags, ElementsAre("systemd:curl.service", "script:/opt/a \"b\""));
  EXPECT_EQ(e.pid, 4242);
  EXPECT_EQ(e.processStartNs, 123456789);
  EXPECT_EQ(e.uid, 1000u);
  EXPECT_EQ(e.exe, "/usr/bin/curl");
  EXPECT_THAT(e.argv, ElementsAre("curl", "-s", "--token", "***", "https://www.example.org/"));
  EXPECT_EQ(e.profile, "curl");
  EXPECT_EQ(e.decidedBy, DecidedBy::kProfileRule);
  EXPECT_EQ(e.ruleIndex, 0);
  EXPECT_EQ(e.action, rules::Action::kAllow);
  EXPECT_EQ(e.mode, rules::Mode::kEnforce);
  EXPECT_EQ(e.revision, 1);
  EXPECT_DOUBLE_EQ(e.latencyUs, 1.5);
  EXPECT_EQ(e.source, std::nullopt);  // revision 1 was never stored

  // The secret never reached the file.
  EXPECT_EQ(db_->queryInt("SELECT count(*) FROM verdict_log WHERE argv LIKE '%abc%'").value(), 0);
}

TEST_F(LogQueryTest, UnattributedKernelFlowStoresNulls) {
  LogRow row;
  row.timeNs = 5;
  row.direction = rules::Direction::kIn;
  row.ipProto = 58;
  rules::IpAddress v6;
  v6.bytes = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  row.remoteAddr = v6;
  row.decidedBy = DecidedBy::kKernel;
  row.ruleIndex = 3;  // ignored: not decided by a rule
  row.mode = rules::Mode::kLearn;
  row.action = rules::Action::kDeny;
  insert(row);
  const auto rows = query({});
  ASSERT_EQ(rows.size(), 1u);
  const LogEntry& e = rows[0];
  EXPECT_EQ(e.direction, rules::Direction::kIn);
  EXPECT_EQ(e.protocol, "icmpv6");
  EXPECT_EQ(e.remoteAddr, "2001:db8::1");
  EXPECT_EQ(e.localAddr, "::");
  EXPECT_EQ(e.pid, std::nullopt);
  EXPECT_EQ(e.processStartNs, std::nullopt);
  EXPECT_EQ(e.uid, std::nullopt);
  EXPECT_TRUE(e.exe.empty());
  EXPECT_TRUE(e.argv.empty());
  EXPECT_TRUE(e.profile.empty());
  EXPECT_TRUE(e.host.empty());
  EXPECT_EQ(e.decidedBy, DecidedBy::kKernel);
  EXPECT_EQ(e.ruleIndex, std::nullopt);
  EXPECT_EQ(e.mode, rules::Mode::kLearn);
  EXPECT_EQ(e.action, rules::Action::kDeny);
  EXPECT_EQ(db_->queryInt("SELECT count(*) FROM verdict_log WHERE pid IS NULL AND uid IS NULL "
                          "AND exe IS NULL AND profile IS NULL AND rule_index IS NULL")
                .value(),
            1);
}

TEST_F(LogQueryTest, LongHostAndProfileNamesAreStoredWhole) {
  // Past what LogHost holds inline, and past std::string's inline 15.
  const std::string host = std::string(63, 'a') + "." + std::string(63, 'b') + ".example.org";
  LogRow row = sampleRow(1);
  row.host = host;
  row.profile = std::make_shared<const std::string>("corporate-web-browser");
  insert(row);
  const auto rows = query({});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].host, host);
  EXPECT_EQ(rows[0].profile, "corporate-web-browser");
}

TEST_F(LogQueryTest, ArgvThatIsNotUtf8IsStoredReplaced) {
  using namespace std::string_literals;
  LogRow row = sampleRow(1);
  row.process =
      std::make_shared<const LogProcess>(LogProcess{"/bin/prog", "prog\0\xff\xfe\0"s, ""});
  insert(row);
  const auto rows = query({});
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_EQ(rows[0].argv.size(), 2u);
  EXPECT_EQ(rows[0].argv[1], "\xEF\xBF\xBD\xEF\xBF\xBD");  // two U+FFFD
}

TEST_F(LogQueryTest, NewestFirstWithFilters) {
  const std::int64_t base = 1'000'000'000;
  for (int i = 0; i < 10; ++i) {
    LogRow row = sampleRow(base + i);
    row.profile = std::make_shared<const std::string>(i % 2 == 0 ? "curl" : "ssh");
    row.action = i % 3 == 0 ? rules::Action::kDeny : rules::Action::kAllow;
    row.remotePort = static_cast<std::uint16_t>(i);
    insert(row);
  }
  const auto ports = [](const std::vector<LogEntry>& rows) {
    std::vector<int> out;
    for (const auto& r : rows) out.push_back(r.remotePort);
    return out;
  };
  EXPECT_THAT(ports(query({.limit = 3})), ElementsAre(9, 8, 7));
  EXPECT_EQ(query({.limit = 0}).size(), 10u);
  EXPECT_THAT(ports(query({.profile = "curl"})), ElementsAre(8, 6, 4, 2, 0));
  EXPECT_THAT(ports(query({.action = rules::Action::kDeny})), ElementsAre(9, 6, 3, 0));
  EXPECT_THAT(ports(query({.profile = "ssh", .action = rules::Action::kDeny})), ElementsAre(9, 3));
  EXPECT_THAT(ports(query({.sinceNs = base + 7})), ElementsAre(9, 8, 7));
  EXPECT_THAT(ports(query({.profile = "curl", .sinceNs = base + 3, .limit = 2})),
              ElementsAre(8, 6));
  // --until is exclusive: `--since yesterday --until today` is yesterday, not a row more.
  EXPECT_THAT(ports(query({.untilNs = base + 3})), ElementsAre(2, 1, 0));
  EXPECT_THAT(ports(query({.sinceNs = base + 3, .untilNs = base + 6})), ElementsAre(5, 4, 3));
  EXPECT_THAT(ports(queryLogAfter(*db_, 0, {.untilNs = base + 2}).value()), ElementsAre(0, 1));
  EXPECT_TRUE(query({.profile = "nobody"}).empty());
  EXPECT_TRUE(query({.action = rules::Action::kReject}).empty());
}

// Allowed rows stay out of the index by action (one index insert less per row); refused rows
// are found through it, which the planner does only when the query repeats its condition.
TEST_F(LogQueryTest, IndexByActionHoldsRefusedRowsOnly) {
  for (int i = 0; i < 6; ++i) {
    LogRow row = sampleRow(1000 + i);
    row.action = i < 4    ? rules::Action::kAllow
                 : i == 4 ? rules::Action::kDeny
                          : rules::Action::kReject;
    insert(row);
  }
  EXPECT_EQ(db_->queryInt("SELECT count(*) FROM verdict_log INDEXED BY verdict_log_refused "
                          "WHERE action <> 'allow'")
                .value(),
            2);
  auto plan = db_->prepare(
      "EXPLAIN QUERY PLAN SELECT v.id FROM verdict_log v WHERE v.action = 'deny' "
      "AND v.action <> 'allow' ORDER BY v.time_ns DESC, v.id DESC");
  ASSERT_TRUE(plan.has_value()) << plan.error().message();
  std::string steps;
  while (plan->step().value_or(false)) {
    steps += plan->columnText(3);
    steps += '\n';
  }
  EXPECT_NE(steps.find("verdict_log_refused"), std::string::npos) << steps;
  EXPECT_EQ(query({.action = rules::Action::kDeny}).size(), 1u);
  EXPECT_EQ(query({.action = rules::Action::kReject}).size(), 1u);
  EXPECT_EQ(query({.action = rules::Action::kAllow, .limit = 0}).size(), 4u);
}

TEST_F(LogQueryTest, OrdersByTimeNotInsertion) {
  // Two workers' rows can arrive slightly out of order.
  LogRow later = sampleRow(200);
  later.remotePort = 2;
  LogRow earlier = sampleRow(100);
  earlier.remotePort = 1;
  insert(later);
  insert(earlier);
  const auto rows = query({});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].remotePort, 2);
  EXPECT_EQ(rows[1].remotePort, 1);
}

TEST_F(LogQueryTest, FollowsRowsAfterAnId) {
  for (int i = 0; i < 5; ++i) insert(sampleRow(100 + i));
  const auto newest = query({.limit = 1});
  ASSERT_EQ(newest.size(), 1u);
  const std::int64_t lastSeen = newest[0].id;

  auto none = queryLogAfter(*db_, lastSeen, {});
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());

  LogRow denied = sampleRow(200);
  denied.action = rules::Action::kDeny;
  insert(sampleRow(199));
  insert(denied);
  insert(sampleRow(201));
  auto fresh = queryLogAfter(*db_, lastSeen, {});
  ASSERT_TRUE(fresh.has_value());
  ASSERT_EQ(fresh->size(), 3u);
  EXPECT_LT((*fresh)[0].id, (*fresh)[1].id);  // oldest first
  EXPECT_LT((*fresh)[1].id, (*fresh)[2].id);

  auto filtered = queryLogAfter(*db_, lastSeen, {.action = rules::Action::kDeny});
  ASSERT_TRUE(filtered.has_value());
  ASSERT_EQ(filtered->size(), 1u);
  EXPECT_EQ((*filtered)[0].timeNs, 200);

  auto limited = queryLogAfter(*db_, lastSeen, {.limit = 2});
  ASSERT_TRUE(limited.has_value());
  EXPECT_EQ(limited->size(), 2u);
  EXPECT_EQ((*limited)[0].timeNs, 199);
}

TEST_F(LogQueryTest, NamesTheRuleOrProfileThatDecided) {
  PolicyRecord policy;
  policy.revision = {.loadedAtNs = 1, .configPath = "/w/warden.toml", .sourcesDigest = "d"};
  policy.profiles = {{.name = "curl",
                      .file = "/w/profiles.d/curl.toml",
                      .line = 2,
                      .defaultAction = rules::Action::kReject,
                      .description = "",
                      .mode = std::nullopt}};
  policy.rules = {{.kind = RuleKind::kGlobal,
                   .profile = "",
                   .index = 0,
                   .file = "/w/warden.toml",
                   .line = 40,
                   .action = rules::Action::kAllow,
                   .summary = "allow scope=localhost"},
                  {.kind = RuleKind::kProfile,
                   .profile = "curl",
                   .index = 0,
                   .file = "/w/profiles.d/curl.toml",
                   .line = 9,
                   .action = rules::Action::kAllow,
                   .summary = "allow out tcp 443"}};
  const std::int64_t revision = storeRevision(*db_, policy).value();

  LogRow byRule = sampleRow(1);
  byRule.revision = revision;
  insert(byRule);
  LogRow byGlobal = sampleRow(2);
  byGlobal.revision = revision;
  byGlobal.decidedBy = DecidedBy::kGlobalRule;
  insert(byGlobal);
  LogRow byDefault = sampleRow(3);
  byDefault.revision = revision;
  byDefault.decidedBy = DecidedBy::kProfileDefault;
  byDefault.action = rules::Action::kReject;
  insert(byDefault);
  LogRow byEngine = sampleRow(4);
  byEngine.revision = revision;
  byEngine.decidedBy = DecidedBy::kEngineDefault;
  byEngine.profile.reset();
  insert(byEngine);

  const auto rows = query({});
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[3].source, (DecisionSource{"/w/profiles.d/curl.toml", 9, "allow out tcp 443"}));
  EXPECT_EQ(rows[2].source, (DecisionSource{"/w/warden.toml", 40, "allow scope=localhost"}));
  EXPECT_EQ(rows[1].source, (DecisionSource{"/w/profiles.d/curl.toml", 2, "default reject"}));
  EXPECT_EQ(rows[0].source, std::nullopt);
}

}  // namespace
}  // namespace warden::db

namespace warden::db {
namespace {

// `warden suggest` reads refused rows of profiles and every engine-default row of processes
// without one; never allowed rows of a profile, global rules, or rows without a process.
TEST_F(LogQueryTest, DraftableRowsAreRefusedOrOfProcessesWithoutAProfile) {
  const auto add = [&](std::uint16_t port, rules::Action action, DecidedBy by, bool profile,
                       bool process = true, std::int64_t time = 5000) {
    LogRow row = sampleRow(time);
    row.remotePort = port;
    row.action = action;
    row.decidedBy = by;
    if (!profile) row.profile.reset();
    if (!process) row.process.reset();
    insert(row);
  };
  add(1, rules::Action::kDeny, DecidedBy::kProfileRule, true);
  add(2, rules::Action::kAllow, DecidedBy::kProfileRule, true);  // allowed by its profile
  add(3, rules::Action::kReject, DecidedBy::kProfileDefault, true);
  add(4, rules::Action::kAllow, DecidedBy::kEngineDefault, false);
  add(5, rules::Action::kDeny, DecidedBy::kEngineDefault, false);
  add(6, rules::Action::kDeny, DecidedBy::kGlobalRule, false);  // no profile changes it
  add(7, rules::Action::kDeny, DecidedBy::kUnknown, false, false);
  add(8, rules::Action::kDeny, DecidedBy::kEngineDefault, false, false);      // no executable
  add(9, rules::Action::kDeny, DecidedBy::kEngineDefault, false, true, 100);  // too old
  std::vector<int> ports;
  std::vector<std::string> tags;
  auto visited = scanDraftableRows(*db_, 1000, std::nullopt, [&](const LogEntry& e) {
    ports.push_back(e.remotePort);
    tags = e.tags;
  });
  ASSERT_TRUE(visited.has_value()) << visited.error().message();
  EXPECT_EQ(*visited, 4u);
  EXPECT_THAT(ports, ElementsAre(1, 3, 4, 5));
  EXPECT_THAT(tags, ElementsAre("systemd:curl.service", "script:/opt/a \"b\""));
}

}  // namespace
}  // namespace warden::db
