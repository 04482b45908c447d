#include "cli/log_text.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include <sstream>

namespace warden::cli {
namespace {

db::LogEntry entry() {
  db::LogEntry e;
  e.id = 41;
  e.timeNs = 1'777'636'800'123'000'000;  // 2026-05-01T12:00:00.123Z
  e.direction = rules::Direction::kOut;
  e.protocol = "tcp";
  e.localAddr = "192.0.2.1";
  e.localPort = 40000;
  e.remoteAddr = "192.0.2.2";
  e.remotePort = 443;
  e.action = rules::Action::kDeny;
  e.revision = 3;
  e.latencyUs = 12.5;
  return e;
}

class LogText : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC0", 1);
    tzset();
  }
};

TEST_F(LogText, DecidedByNamesTheRuleWithItsPlace) {
  db::LogEntry e = entry();
  e.decidedBy = db::DecidedBy::kProfileRule;
  e.profile = "curl";
  e.ruleIndex = 2;
  e.source =
      db::DecisionSource{"/etc/warden/profiles.d/20-http.toml", 14, "deny out tcp ports=443"};
  EXPECT_EQ(decidedByText(e), "rule 20-http.toml:14 deny out tcp ports=443");
  e.decidedBy = db::DecidedBy::kGlobalRule;
  e.source = db::DecisionSource{"/etc/warden/warden.toml", 31, "deny out tcp"};
  EXPECT_EQ(decidedByText(e), "global rule warden.toml:31 deny out tcp");
  e.source.reset();  // its revision was pruned
  EXPECT_EQ(decidedByText(e), "global rule #2 of revision 3 (no longer stored)");
}

TEST_F(LogText, DecidedByDefaultsAndEngineVerdicts) {
  db::LogEntry e = entry();
  e.decidedBy = db::DecidedBy::kProfileDefault;
  e.source = db::DecisionSource{"/etc/warden/profiles.d/10-browser.toml", 3, "default deny"};
  EXPECT_EQ(decidedByText(e), "profile default deny (10-browser.toml:3)");
  e.source.reset();
  EXPECT_EQ(decidedByText(e), "profile default");
  e.decidedBy = db::DecidedBy::kEngineDefault;
  EXPECT_EQ(decidedByText(e), "engine default");
  e.decidedBy = db::DecidedBy::kUnknown;
  EXPECT_EQ(decidedByText(e), "unknown");
  e.decidedBy = db::DecidedBy::kKernel;
  EXPECT_EQ(decidedByText(e), "kernel");
}

TEST_F(LogText, RemoteEndPerFamilyAndProtocol) {
  db::LogEntry e = entry();
  EXPECT_EQ(remoteText(e), "192.0.2.2:443");
  e.remoteAddr = "2001:db8::2";
  EXPECT_EQ(remoteText(e), "[2001:db8::2]:443");
  e.protocol = "icmpv6";
  e.remotePort = 0;
  EXPECT_EQ(remoteText(e), "2001:db8::2");
}

TEST_F(LogText, TableCellsInColumnOrder) {
  db::LogEntry e = entry();
  e.decidedBy = db::DecidedBy::kEngineDefault;
  e.mode = rules::Mode::kLearn;
  EXPECT_EQ(logCells(e),
            (std::vector<std::string>{"2026-05-01 12:00:00", "deny", "out", "tcp", "192.0.2.2:443",
                                      "-", "-", "-", "-", "learn", "engine default"}));
  e.pid = 1234;
  e.exe = "/usr/bin/curl";
  e.profile = "curl";
  e.host = "example.org";
  const auto cells = logCells(e);
  EXPECT_EQ(cells[5], "example.org");
  EXPECT_EQ(cells[6], "1234");
  EXPECT_EQ(cells[7], "/usr/bin/curl");
  EXPECT_EQ(cells[8], "curl");
  Table table = logTable(false);
  table.addRow(cells);
  std::ostringstream out;
  table.print(out);
  const std::string text = out.str();
  const std::string header = text.substr(0, text.find('\n'));
  std::size_t at = 0;
  for (const char* column : {"TIME", "ACTION", "DIR", "PROTO", "REMOTE", "HOST", "PID", "EXE",
                             "PROFILE", "MODE", "DECIDED BY"}) {
    const std::size_t found = header.find(column, at);
    ASSERT_NE(found, std::string::npos) << column << " in " << header;
    at = found;
  }
  EXPECT_NE(text.find("2026-05-01 12:00:00  deny    out  tcp    192.0.2.2:443  example.org"),
            std::string::npos)
      << text;
}

TEST_F(LogText, JsonHasEveryFieldAndNullForTheUnknown) {
  db::LogEntry e = entry();
  e.decidedBy = db::DecidedBy::kUnknown;
  const auto j = logJson(e);
  EXPECT_EQ(j["id"], 41);
  EXPECT_EQ(j["time_ns"], 1'777'636'800'123'000'000);
  EXPECT_EQ(j["time"], "2026-05-01T12:00:00.123+00:00");
  EXPECT_EQ(j["action"], "deny");
  EXPECT_EQ(j["mode"], "enforce");
  EXPECT_EQ(j["direction"], "out");
  EXPECT_EQ(j["protocol"], "tcp");
  EXPECT_EQ(j["local_addr"], "192.0.2.1");
  EXPECT_EQ(j["local_port"], 40000);
  EXPECT_EQ(j["remote_addr"], "192.0.2.2");
  EXPECT_EQ(j["remote_port"], 443);
  EXPECT_EQ(j["decided_by"], "unknown");
  EXPECT_EQ(j["decided_by_text"], "unknown");
  EXPECT_EQ(j["revision"], 3);
  EXPECT_EQ(j["latency_us"], 12.5);
  for (const char* absent :
       {"host", "pid", "process_start_ns", "uid", "exe", "profile", "rule_index", "source"}) {
    EXPECT_TRUE(j[absent].is_null()) << absent;
  }
  EXPECT_EQ(j["argv"], nlohmann::json::array());

  e.decidedBy = db::DecidedBy::kGlobalRule;
  e.ruleIndex = 0;
  e.source = db::DecisionSource{"/w/warden.toml", 9, "deny out"};
  e.pid = 7;
  e.uid = 1000;
  e.argv = {"curl", "--password", "***"};
  const auto k = logJson(e);
  EXPECT_EQ(k["rule_index"], 0);
  EXPECT_EQ(k["source"],
            (nlohmann::json{{"file", "/w/warden.toml"}, {"line", 9}, {"rule", "deny out"}}));
  EXPECT_EQ(k["pid"], 7);
  EXPECT_EQ(k["uid"], 1000);
  EXPECT_EQ(k["argv"], (nlohmann::json{"curl", "--password", "***"}));
}

}  // namespace
}  // namespace warden::cli
