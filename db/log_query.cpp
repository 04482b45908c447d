#include "db/log_query.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "db/log_columns.h"
#include "db/statement.h"

namespace warden::db {
namespace {

// The rule that decided a row is found by (revision, kind, profile, index); a profile default
// by (revision, profile). Both joins hit primary keys.
constexpr std::string_view kSelect =
    "SELECT v.id, v.time_ns, v.direction, v.protocol, v.local_addr, v.local_port, "
    "v.remote_addr, v.remote_port, v.host, v.pid, v.process_start_ns, v.uid, v.exe, v.argv, "
    "v.profile, v.decided_by, v.rule_index, v.action, v.mode, v.revision, v.latency_us, "
    "coalesce(r.file, p.file), coalesce(r.line, p.line), "
    "coalesce(r.summary, 'default ' || p.default_action), v.tags "
    "FROM verdict_log AS v "
    "LEFT JOIN policy_rule AS r ON v.decided_by IN ('rule', 'global-rule') "
    "AND r.revision = v.revision "
    "AND r.kind = (CASE v.decided_by WHEN 'rule' THEN 'profile' ELSE 'global' END) "
    "AND r.profile = (CASE v.decided_by WHEN 'rule' THEN v.profile ELSE '' END) "
    "AND r.rule_index = v.rule_index "
    "LEFT JOIN policy_profile AS p ON v.decided_by = 'profile-default' "
    "AND p.revision = v.revision AND p.name = v.profile ";

// argv and tags are stored as JSON arrays of strings (LogInserter).
std::vector<std::string> parseStrings(std::string_view json) {
  std::vector<std::string> argv;
  if (json.empty()) return argv;
  // Stored by LogInserter as an array of strings; anything else is shown as one element.
  const nlohmann::json parsed = nlohmann::json::parse(json, nullptr, false);
  if (!parsed.is_array()) return {std::string(json)};
  for (const auto& element : parsed) {
    argv.push_back(element.is_string() ? element.get<std::string>() : element.dump());
  }
  return argv;
}

LogEntry readEntry(const Statement& s) {
  LogEntry e;
  e.id = s.columnInt64(0);
  e.timeNs = s.columnInt64(1);
  e.direction = rules::parseDirection(s.columnText(2)).value_or(rules::Direction::kOut);
  e.protocol = s.columnText(3);
  e.localAddr = s.columnText(4);
  e.localPort = static_cast<std::uint16_t>(s.columnInt64(5));
  e.remoteAddr = s.columnText(6);
  e.remotePort = static_cast<std::uint16_t>(s.columnInt64(7));
  e.host = s.columnText(8);
  if (auto pid = s.columnOptionalInt64(9)) e.pid = static_cast<std::int32_t>(*pid);
  e.processStartNs = s.columnOptionalInt64(10);
  if (auto uid = s.columnOptionalInt64(11)) e.uid = static_cast<std::uint32_t>(*uid);
  e.exe = s.columnText(12);
  e.argv = parseStrings(s.columnText(13));
  e.profile = s.columnText(14);
  e.decidedBy = parseDecidedBy(s.columnText(15)).value_or(DecidedBy::kEngineDefault);
  if (auto index = s.columnOptionalInt64(16)) e.ruleIndex = static_cast<int>(*index);
  e.action = rules::parseAction(s.columnText(17)).value_or(rules::Action::kDeny);
  e.mode = rules::parseMode(s.columnText(18)).value_or(rules::Mode::kEnforce);
  e.revision = s.columnInt64(19);
  e.latencyUs = s.columnDouble(20);
  if (!s.columnIsNull(21)) {
    e.source = DecisionSource{std::string(s.columnText(21)), static_cast<int>(s.columnInt64(22)),
                              std::string(s.columnText(23))};
  }
  e.tags = parseStrings(s.columnText(24));
  return e;
}

base::Result<std::vector<LogEntry>> run(Database& db, std::optional<std::int64_t> afterId,
                                        const LogFilter& filter) {
  std::string sql(kSelect);
  std::string where;
  const auto add = [&where](std::string_view condition) {
    where += where.empty() ? "WHERE " : " AND ";
    where += condition;
  };
  if (afterId) add("v.id > :after");
  if (filter.profile) add("v.profile = :profile");
  if (filter.action) {
    add("v.action = :action");
    // The index by action holds only refused rows (see migrations.cpp); SQLite uses a partial
    // index only when the query states its condition.
    if (*filter.action != rules::Action::kAllow) add("v.action <> 'allow'");
  }
  if (filter.sinceNs) add("v.time_ns >= :since");
  if (filter.untilNs) add("v.time_ns < :until");
  sql += where;
  sql += afterId ? " ORDER BY v.id" : " ORDER BY v.time_ns DESC, v.id DESC";
  if (filter.limit > 0) sql += " LIMIT :limit";

  auto stmt = db.prepare(sql);
  if (!stmt) return std::unexpected(std::move(stmt.error()));
  // Parameters are numbered in order of appearance; bind in the same order.
  int index = 1;
  if (afterId) stmt->bindInt64(index++, *afterId);
  if (filter.profile) stmt->bindText(index++, *filter.profile);
  if (filter.action) stmt->bindText(index++, rules::toString(*filter.action));
  if (filter.sinceNs) stmt->bindInt64(index++, *filter.sinceNs);
  if (filter.untilNs) stmt->bindInt64(index++, *filter.untilNs);
  if (filter.limit > 0) stmt->bindInt64(index++, static_cast<std::int64_t>(filter.limit));

  std::vector<LogEntry> entries;
  for (;;) {
    auto row = stmt->step();
    if (!row) return std::unexpected(std::move(row.error()));
    if (!*row) break;
    entries.push_back(readEntry(*stmt));
  }
  return entries;
}

}  // namespace

base::Result<std::size_t> scanDraftableRows(Database& db, std::optional<std::int64_t> sinceNs,
                                            std::optional<std::int64_t> untilNs,
                                            const std::function<void(const LogEntry&)>& visit) {
  std::string sql(kSelect);
  sql +=
      "WHERE v.exe IS NOT NULL "
      "AND v.decided_by IN ('rule', 'profile-default', 'engine-default') "
      "AND (v.action <> 'allow' OR v.profile IS NULL)";
  if (sinceNs) sql += " AND v.time_ns >= :since";
  if (untilNs) sql += " AND v.time_ns < :until";
  sql += " ORDER BY v.id";
  auto stmt = db.prepare(sql);
  if (!stmt) return std::unexpected(std::move(stmt.error()));
  int index = 1;
  if (sinceNs) stmt->bindInt64(index++, *sinceNs);
  if (untilNs) stmt->bindInt64(index++, *untilNs);
  std::size_t count = 0;
  for (;;) {
    auto row = stmt->step();
    if (!row) return std::unexpected(std::move(row.error()));
    if (!*row) break;
    visit(readEntry(*stmt));
    ++count;
  }
  return count;
}

base::Result<std::vector<LogEntry>> queryLog(Database& db, const LogFilter& filter) {
  return run(db, std::nullopt, filter);
}

base::Result<std::vector<LogEntry>> queryLogAfter(Database& db, std::int64_t afterId,
                                                  const LogFilter& filter) {
  return run(db, afterId, filter);
}

}  // namespace warden::db
