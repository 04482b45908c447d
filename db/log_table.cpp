#include "db/log_table.h"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "db/log_columns.h"
#include "db/scrub.h"

namespace warden::db {
namespace {

constexpr std::string_view kInsert =
    "INSERT INTO verdict_log (time_ns, direction, protocol, local_addr, local_port, "
    "remote_addr, remote_port, host, pid, process_start_ns, uid, exe, argv, profile, "
    "decided_by, rule_index, action, mode, revision, latency_us) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
    "?19, ?20)";

// argv as a JSON array of scrubbed strings. Bytes that are not UTF-8 (argv is arbitrary) are
// replaced rather than failing the row.
std::string argvJson(std::string_view cmdline) {
  const std::vector<std::string_view> parts = splitCmdline(cmdline);
  const nlohmann::json array = scrubArgv(parts);
  return array.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<std::string_view> unlessEmpty(const std::string& text) {
  if (text.empty()) return std::nullopt;
  return text;
}

}  // namespace

Result<LogInserter> LogInserter::create(Database& db) {
  auto insert = db.prepare(kInsert);
  if (!insert) return std::unexpected(std::move(insert.error()));
  return LogInserter(std::move(*insert));
}

Result<void> LogInserter::insert(const LogRow& row) {
  const bool attributed = row.pid != 0;
  // Texts built here are copied by SQLite; the row's own strings outlive the step and are not.
  insert_.bindInt64(1, row.timeNs)
      .bindTextNoCopy(2, rules::toString(row.direction))
      .bindText(3, protocolName(row.ipProto))
      .bindText(4, addressText(row.localAddr))
      .bindInt64(5, row.localPort)
      .bindText(6, addressText(row.remoteAddr))
      .bindInt64(7, row.remotePort);
  if (row.host.empty()) {
    insert_.bindNull(8);
  } else {
    insert_.bindTextNoCopy(8, row.host);
  }
  insert_.bindOptionalInt64(9, attributed ? std::optional<std::int64_t>(row.pid) : std::nullopt)
      .bindOptionalInt64(10, attributed ? std::optional<std::int64_t>(
                                              static_cast<std::int64_t>(row.processStartNs))
                                        : std::nullopt)
      .bindOptionalInt64(11,
                         row.uid == kNoUid ? std::nullopt : std::optional<std::int64_t>(row.uid));
  if (auto exe = unlessEmpty(row.exe)) {
    insert_.bindTextNoCopy(12, *exe);
  } else {
    insert_.bindNull(12);
  }
  if (row.argv.empty()) {
    insert_.bindNull(13);
  } else {
    insert_.bindText(13, argvJson(row.argv));
  }
  if (auto profile = unlessEmpty(row.profile)) {
    insert_.bindTextNoCopy(14, *profile);
  } else {
    insert_.bindNull(14);
  }
  const bool byRule =
      row.decidedBy == DecidedBy::kGlobalRule || row.decidedBy == DecidedBy::kProfileRule;
  insert_.bindTextNoCopy(15, toString(row.decidedBy))
      .bindOptionalInt64(16, byRule && row.ruleIndex >= 0
                                 ? std::optional<std::int64_t>(row.ruleIndex)
                                 : std::nullopt)
      .bindTextNoCopy(17, rules::toString(row.action))
      .bindTextNoCopy(18, toString(row.mode))
      .bindInt64(19, row.revision)
      .bindDouble(20, static_cast<double>(row.latencyNs) / 1000.0);
  return insert_.run();
}

Result<std::int64_t> deleteLogRowsBefore(Database& db, std::int64_t cutoffNs, std::int64_t limit) {
  auto stmt = db.prepare(
      "DELETE FROM verdict_log WHERE id IN "
      "(SELECT id FROM verdict_log WHERE time_ns < ? ORDER BY time_ns LIMIT ?)");
  if (!stmt) return std::unexpected(std::move(stmt.error()));
  stmt->bindInt64(1, cutoffNs).bindInt64(2, limit);
  if (auto ok = stmt->run(); !ok) return std::unexpected(std::move(ok.error()));
  return db.changes();
}

}  // namespace warden::db
