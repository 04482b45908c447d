#pragma once

#include <expected>
#include <string>

namespace warden::db {

// A failed database operation. `message` is complete on its own and names the database file,
// what was being done and SQLite's explanation, e.g.
//   "/var/lib/warden/warden.db: insert verdict_log row: database is locked (SQLITE_BUSY)".
struct Error {
  std::string message;
  int code = 0;  // SQLite extended result code, 0 when the error is not SQLite's own
};

template <typename T>
using Result = std::expected<T, Error>;

}  // namespace warden::db
