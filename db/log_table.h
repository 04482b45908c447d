#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>

#include "base/error.h"
#include "db/database.h"
#include "db/log_row.h"
#include "db/statement.h"

namespace warden::db {

// Writes LogRows into verdict_log with one prepared statement: formats the addresses, scrubs
// and JSON-encodes argv (db/scrub.h), maps enumerations to their stored words. The caller
// groups calls into transactions. LogWriter uses it; tests and tools may use it to seed rows.
//
// Thread-safety: that of the Database it was created on, which must outlive it.
class LogInserter {
 public:
  static constexpr int kColumns = 21;
  // Rows per multi-row INSERT: one statement execution opens the table and index cursors
  // once for all of them, which is most of SQLite's per-row overhead.
  static constexpr std::size_t kRowsPerStatement = 16;

  [[nodiscard]] static base::Result<LogInserter> create(Database& db);

  [[nodiscard]] base::Result<void> insert(const LogRow& row);
  // Rows are stored in order; on an error, an unknown prefix may have been inserted (the
  // caller's transaction decides what stays).
  [[nodiscard]] base::Result<void> insert(std::span<const LogRow> rows);

 private:
  LogInserter(Statement one, Statement many) : one_(std::move(one)), many_(std::move(many)) {}
  void bindRow(Statement& stmt, int base, const LogRow& row);
  // Scrubbed JSON argv for a raw cmdline. A process usually opens many connections, so the
  // last few processes' argv are remembered instead of split, scrubbed and encoded per row.
  const std::string& argvJson(const std::string& cmdline);

  Statement one_;
  Statement many_;
  std::unordered_map<std::string, std::string> argvCache_;  // raw cmdline -> stored text
  std::size_t argvCacheBytes_ = 0;
};

// Deletes up to `limit` of the oldest rows older than `cutoffNs` in one statement and returns
// how many went. Small chunks keep the write lock short when a long backlog expires at once.
[[nodiscard]] base::Result<std::int64_t> deleteLogRowsBefore(Database& db, std::int64_t cutoffNs,
                                                             std::int64_t limit);

}  // namespace warden::db
