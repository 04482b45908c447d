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

// OR FAIL: a row that breaks a constraint stops the statement but leaves the rows before it,
// which the caller's transaction then keeps or (LogWriter, on any error) rolls back. With the
// default (ABORT) SQLite must be able to undo a multi-row statement alone inside a transaction,
// so it copies every page the statement is about to change into a statement journal, a
// temporary file: a 16 KiB write for each of the table's and indexes' pages per 16 rows, and
// the largest part of the writer's system time (log_bench: 3.2 -> 2.3 us of CPU a row).
constexpr std::string_view kInsertColumns =
    "INSERT OR FAIL INTO verdict_log (time_ns, direction, protocol, local_addr, local_port, "
    "remote_addr, remote_port, host, pid, process_start_ns, uid, exe, argv, profile, "
    "decided_by, rule_index, action, mode, revision, latency_us, tags) VALUES ";

constexpr std::size_t kArgvCacheBytes = 1 << 20;

// An INSERT of `rows` rows of anonymous parameters, numbered row by row.
std::string insertSql(std::size_t rows) {
  std::string row = "(?";
  for (int i = 1; i < LogInserter::kColumns; ++i) row += ", ?";
  row += ')';
  std::string sql(kInsertColumns);
  for (std::size_t i = 0; i < rows; ++i) {
    if (i > 0) sql += ", ";
    sql += row;
  }
  return sql;
}

// argv as a JSON array of scrubbed strings. Bytes that are not UTF-8 (argv is arbitrary) are
// replaced rather than failing the row.
std::string encodeArgv(std::string_view cmdline) {
  const std::vector<std::string_view> parts = splitCmdline(cmdline);
  const nlohmann::json array = scrubArgv(parts);
  return array.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string tagsJson(const std::vector<std::string>& tags) {
  if (tags.empty()) return {};
  return nlohmann::json(tags).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

base::Result<LogInserter> LogInserter::create(Database& db) {
  auto one = db.prepare(insertSql(1));
  if (!one) return std::unexpected(std::move(one.error()));
  auto many = db.prepare(insertSql(kRowsPerStatement));
  if (!many) return std::unexpected(std::move(many.error()));
  return LogInserter(std::move(*one), std::move(*many));
}

void LogInserter::bindRow(Statement& stmt, int base, const LogRow& row) {
  // Texts built here are copied by SQLite (bindText); the row's own strings and the static
  // words outlive the step and are not (bindTextNoCopy). Empty and zero mean unknown: NULL.
  const auto text = [&](int column, std::string_view value) {
    if (value.empty()) {
      stmt.bindNull(base + column);
    } else {
      stmt.bindTextNoCopy(base + column, value);
    }
  };
  const auto integer = [&](int column, std::int64_t value, bool known) {
    if (known) {
      stmt.bindInt64(base + column, value);
    } else {
      stmt.bindNull(base + column);
    }
  };
  const bool attributed = row.pid != 0;
  const bool byRule =
      row.decidedBy == DecidedBy::kGlobalRule || row.decidedBy == DecidedBy::kProfileRule;

  stmt.bindInt64(base + 1, row.timeNs);
  stmt.bindTextNoCopy(base + 2, rules::toString(row.direction));
  stmt.bindText(base + 3, protocolName(row.ipProto));
  stmt.bindText(base + 4, row.localAddr.toString());
  stmt.bindInt64(base + 5, row.localPort);
  stmt.bindText(base + 6, row.remoteAddr.toString());
  stmt.bindInt64(base + 7, row.remotePort);
  text(8, row.host.view());
  integer(9, row.pid, attributed);
  integer(10, static_cast<std::int64_t>(row.processStartNs), attributed);
  integer(11, row.uid, row.uid != kNoUid);
  text(12, row.process ? std::string_view(row.process->exe) : std::string_view());
  if (!row.process || row.process->argv.empty()) {
    stmt.bindNull(base + 13);
  } else {
    stmt.bindText(base + 13, argvJson(row.process->argv));  // copied: the cache may drop it
  }
  text(14, row.profile ? std::string_view(*row.profile) : std::string_view());
  stmt.bindTextNoCopy(base + 15, toString(row.decidedBy));
  integer(16, row.ruleIndex, byRule && row.ruleIndex >= 0);
  stmt.bindTextNoCopy(base + 17, rules::toString(row.action));
  stmt.bindTextNoCopy(base + 18, rules::toString(row.mode));
  stmt.bindInt64(base + 19, row.revision);
  stmt.bindDouble(base + 20, static_cast<double>(row.latencyNs) / 1000.0);
  text(21, row.process ? std::string_view(row.process->tags) : std::string_view());
}

const std::string& LogInserter::argvJson(const std::string& cmdline) {
  if (auto it = argvCache_.find(cmdline); it != argvCache_.end()) return it->second;
  // Bounded by bytes, since one argv can be long (class paths); forgetting everything at once
  // is simpler than an LRU and costs one re-encoding per live process.
  if (argvCacheBytes_ > kArgvCacheBytes) {
    argvCache_.clear();
    argvCacheBytes_ = 0;
  }
  std::string encoded = encodeArgv(cmdline);
  argvCacheBytes_ += cmdline.size() + encoded.size();
  return argvCache_.emplace(cmdline, std::move(encoded)).first->second;
}

base::Result<void> LogInserter::insert(const LogRow& row) {
  bindRow(one_, 0, row);
  return one_.run();
}

base::Result<void> LogInserter::insert(std::span<const LogRow> rows) {
  while (rows.size() >= kRowsPerStatement) {
    for (std::size_t i = 0; i < kRowsPerStatement; ++i) {
      bindRow(many_, static_cast<int>(i) * kColumns, rows[i]);
    }
    if (auto ok = many_.run(); !ok) return ok;
    rows = rows.subspan(kRowsPerStatement);
  }
  for (const LogRow& row : rows) {
    if (auto ok = insert(row); !ok) return ok;
  }
  return {};
}

base::Result<std::int64_t> deleteLogRowsBefore(Database& db, std::int64_t cutoffNs,
                                               std::int64_t limit) {
  auto stmt = db.prepare(
      "DELETE FROM verdict_log WHERE id IN "
      "(SELECT id FROM verdict_log WHERE time_ns < ? ORDER BY time_ns LIMIT ?)");
  if (!stmt) return std::unexpected(std::move(stmt.error()));
  stmt->bindInt64(1, cutoffNs).bindInt64(2, limit);
  if (auto ok = stmt->run(); !ok) return std::unexpected(std::move(ok.error()));
  return db.changes();
}

}  // namespace warden::db
