#pragma once

#include <cstdint>
#include <expected>
#include <string>

namespace warden::base {

// A failure of an OS call or of SQLite, said completely: what was being done, on what, and why
// (message()); with the code behind it for callers that act on the cause (EBUSY, ENOENT...).
struct Error {
  // What `code` is.
  enum class Source : std::uint8_t {
    kErrno,   // an errno value; 0 when the failure has none (a check of ours)
    kSqlite,  // an SQLite extended result code
  };

  Source source = Source::kErrno;
  int code = 0;
  // What was being done: "binding NFQUEUE 0", "/var/lib/warden/warden.db: insert verdict_log
  // row".
  std::string where;
  // Why, when the code's own text does not say it: SQLite's explanation of its failure, e.g.
  // "database is locked (SQLITE_BUSY)". Empty for errno failures, whose reason is strerror.
  std::string reason;

  // "binding NFQUEUE 0: Device or resource busy",
  // "/var/lib/warden/warden.db: insert verdict_log row: database is locked (SQLITE_BUSY)".
  std::string message() const;
};

template <typename T>
using Result = std::expected<T, Error>;

// An errno failure: from the current errno, or from `code` (0: no cause beyond `where`).
Error errnoError(std::string where);
Error makeError(int code, std::string where);
// An SQLite failure; `reason` is SQLite's message for it (see db/sqlite_error.h).
Error makeSqliteError(int code, std::string where, std::string reason);

}  // namespace warden::base
