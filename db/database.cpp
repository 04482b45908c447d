#include "db/database.h"

#include <sqlite3.h>

#include <mutex>
#include <string>
#include <utility>

#include "db/sqlite_error.h"
#include "db/statement.h"

namespace warden::db {
namespace {

// Statement text shortened for error messages: enough to recognise it.
std::string excerpt(std::string_view sql) {
  constexpr std::size_t kMax = 60;
  std::string out;
  for (char c : sql.substr(0, kMax)) out += (c == '\n' || c == '\t') ? ' ' : c;
  if (sql.size() > kMax) out += "...";
  return out;
}

// Memory statistics make every SQLite allocation take a global mutex; warden never reads them.
// This must run before SQLite initializes; if something in the process initialized it
// earlier the call fails harmlessly and the statistics stay on.
void configureSqliteOnce() {
  static std::once_flag once;
  std::call_once(once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

}  // namespace

void Database::Closer::operator()(sqlite3* handle) const {
  // sqlite3_close_v2 defers the close until every statement is finalized, so the order in
  // which owners are destroyed cannot leak the connection.
  sqlite3_close_v2(handle);
}

Database::Database(sqlite3* handle, std::string path, Access access)
    : handle_(handle), path_(std::move(path)), access_(access) {}

base::Result<Database> Database::open(const std::filesystem::path& path,
                                      const OpenOptions& options) {
  configureSqliteOnce();
  const std::string name = path.string();
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  flags |= options.access == Access::kReadOnly ? SQLITE_OPEN_READONLY
                                               : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(name.c_str(), &raw, flags, nullptr);
  // Even a failed open may allocate a handle, which carries the message and must be closed.
  Database db(raw, name, options.access);
  if (rc != SQLITE_OK) {
    return std::unexpected(detail::sqliteError(raw, rc, name, "open"));
  }
  sqlite3_busy_timeout(raw, static_cast<int>(options.busyTimeout.count()));

  // A file that is not a database opens fine and only fails on first read: the first
  // statements below are that read (page_size for a writer, schema_version for a reader).
  if (options.access == Access::kReadWrite) {
    // Pages of 16 KiB for a new database (a no-op for an existing one): the verdict log's
    // writer dirties and rewrites fewer pages per row than with 4 KiB (about 12% less CPU per
    // row in bench/log_bench). Only possible before the switch to WAL.
    if (auto ok = db.exec("PRAGMA page_size = 16384", "configure connection"); !ok) {
      return std::unexpected(std::move(ok.error()));
    }
    auto mode = db.prepare("PRAGMA journal_mode = WAL");
    if (!mode) return std::unexpected(std::move(mode.error()));
    auto row = mode->step();
    if (!row) return std::unexpected(std::move(row.error()));
    // A file system without shared memory support keeps the old journal mode: refuse rather
    // than run with weaker crash guarantees than the SPEC promises.
    if (!*row || mode->columnText(0) != "wal") {
      return std::unexpected(detail::plainError(name, "cannot switch the journal to WAL mode"));
    }
    if (auto ok = db.exec("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON",
                          "configure connection");
        !ok) {
      return std::unexpected(std::move(ok.error()));
    }
  } else {
    if (auto ok = db.exec("PRAGMA foreign_keys = ON", "configure connection"); !ok) {
      return std::unexpected(std::move(ok.error()));
    }
    if (auto probe = db.queryInt("PRAGMA schema_version"); !probe) {
      return std::unexpected(std::move(probe.error()));
    }
  }
  return db;
}

base::Result<void> Database::exec(std::string_view sql, std::string_view what) {
  // sqlite3_exec needs a terminated string; statements here are short and rare.
  const std::string text(sql);
  const int rc = sqlite3_exec(handle(), text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return std::unexpected(detail::sqliteError(handle(), rc, path_, what));
  return {};
}

base::Result<Statement> Database::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(handle(), sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return std::unexpected(
        detail::sqliteError(handle(), rc, path_, "prepare `" + excerpt(sql) + "`"));
  }
  return Statement(stmt);
}

base::Result<std::int64_t> Database::queryInt(std::string_view sql) {
  auto stmt = prepare(sql);
  if (!stmt) return std::unexpected(std::move(stmt.error()));
  auto row = stmt->step();
  if (!row) return std::unexpected(std::move(row.error()));
  if (!*row) {
    // (Built by appending: GCC 12 misreads "literal" + std::string&& as overlapping copies.)
    std::string message = "`";
    message.append(excerpt(sql)).append("` returned no row");
    return std::unexpected(detail::plainError(path_, std::move(message)));
  }
  return stmt->columnInt64(0);
}

std::int64_t Database::changes() const { return sqlite3_changes64(handle()); }

std::int64_t Database::lastInsertId() const { return sqlite3_last_insert_rowid(handle()); }

}  // namespace warden::db
