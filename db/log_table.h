#pragma once

#include <cstdint>

#include "db/database.h"
#include "db/error.h"
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
  [[nodiscard]] static Result<LogInserter> create(Database& db);

  [[nodiscard]] Result<void> insert(const LogRow& row);

 private:
  explicit LogInserter(Statement insert) : insert_(std::move(insert)) {}

  Statement insert_;
};

// Deletes up to `limit` of the oldest rows older than `cutoffNs` in one statement and returns
// how many went. Small chunks keep the write lock short when a long backlog expires at once.
[[nodiscard]] Result<std::int64_t> deleteLogRowsBefore(Database& db, std::int64_t cutoffNs,
                                                       std::int64_t limit);

}  // namespace warden::db
