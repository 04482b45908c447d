#include "db/sqlite_error.h"

#include <sqlite3.h>

#include <iterator>
#include <string>

namespace warden::db::detail {
namespace {

std::string_view filenameOf(sqlite3* db) {
  const char* name = db == nullptr ? nullptr : sqlite3_db_filename(db, "main");
  // An in-memory or temporary database has an empty name.
  return name == nullptr || *name == '\0' ? std::string_view(":memory:") : std::string_view(name);
}

// Names of the primary result codes, so that a message can be searched for in SQLite's
// documentation; extended codes are shown by number after the primary name.
std::string_view primaryName(int code) {
  static constexpr std::string_view kNames[] = {
      "SQLITE_OK",       "SQLITE_ERROR",     "SQLITE_INTERNAL", "SQLITE_PERM",
      "SQLITE_ABORT",    "SQLITE_BUSY",      "SQLITE_LOCKED",   "SQLITE_NOMEM",
      "SQLITE_READONLY", "SQLITE_INTERRUPT", "SQLITE_IOERR",    "SQLITE_CORRUPT",
      "SQLITE_NOTFOUND", "SQLITE_FULL",      "SQLITE_CANTOPEN", "SQLITE_PROTOCOL",
      "SQLITE_EMPTY",    "SQLITE_SCHEMA",    "SQLITE_TOOBIG",   "SQLITE_CONSTRAINT",
      "SQLITE_MISMATCH", "SQLITE_MISUSE",    "SQLITE_NOLFS",    "SQLITE_AUTH",
      "SQLITE_FORMAT",   "SQLITE_RANGE",     "SQLITE_NOTADB",   "SQLITE_NOTICE",
      "SQLITE_WARNING"};
  const int primary = code & 0xff;
  if (primary >= 0 && primary < static_cast<int>(std::size(kNames))) return kNames[primary];
  if (primary == SQLITE_ROW) return "SQLITE_ROW";
  if (primary == SQLITE_DONE) return "SQLITE_DONE";
  return "SQLITE_?";
}

}  // namespace

base::Error sqliteError(sqlite3* db, int code, std::string_view path, std::string_view what) {
  std::string where(path);
  where += ": ";
  where += what;
  // sqlite3_errmsg describes the most recent failure on this connection, which is the one
  // being reported; without a connection only the generic text of the code is available.
  std::string reason = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code);
  reason += " (";
  reason += primaryName(code);
  if (code != (code & 0xff)) {
    reason += ", extended code ";
    reason += std::to_string(code);
  }
  reason += ')';
  return base::makeSqliteError(code, std::move(where), std::move(reason));
}

base::Error sqliteError(sqlite3* db, int code, std::string_view what) {
  return sqliteError(db, code, filenameOf(db), what);
}

base::Error plainError(std::string_view path, std::string_view what) {
  std::string where(path);
  where += ": ";
  where += what;
  return base::makeError(0, std::move(where));
}

}  // namespace warden::db::detail
