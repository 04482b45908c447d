#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"
#include "db/statement.h"

struct sqlite3;

namespace warden::db {

enum class Access : std::uint8_t {
  kReadOnly,   // the file must exist; nothing is changed (the `warden` tool)
  kReadWrite,  // created if missing (the daemon)
};

struct OpenOptions {
  Access access = Access::kReadWrite;
  // How long a statement waits for another connection's write lock before failing with
  // SQLITE_BUSY. WAL lets readers and one writer proceed together, so only writers wait.
  std::chrono::milliseconds busyTimeout{5000};
};

// One SQLite connection, configured the way every warden connection must be: WAL journal (a
// crash loses at most the transaction in flight and never corrupts the file), synchronous =
// NORMAL (in WAL mode a commit is durable against a process crash without an fsync),
// foreign keys on, and a busy timeout. The schema is not touched here; see openStore().
//
// Thread-safety: a Database and every Statement prepared on it belong to one thread at a
// time (the connection is opened without SQLite's own mutex). It may be handed to another
// thread between uses. Use one connection per thread.
class Database {
 public:
  [[nodiscard]] static base::Result<Database> open(const std::filesystem::path& path,
                                                   const OpenOptions& options = {});

  Database(Database&&) noexcept = default;
  Database& operator=(Database&&) noexcept = default;
  ~Database() = default;

  // Runs one or more statements that return no rows. `what` names the step in an error.
  [[nodiscard]] base::Result<void> exec(std::string_view sql, std::string_view what);

  [[nodiscard]] base::Result<Statement> prepare(std::string_view sql);

  // The first column of the first row of a query that yields one integer (PRAGMA, count).
  [[nodiscard]] base::Result<std::int64_t> queryInt(std::string_view sql);

  // Rows changed by the most recent INSERT, UPDATE or DELETE on this connection.
  std::int64_t changes() const;
  std::int64_t lastInsertId() const;

  const std::string& path() const { return path_; }
  Access access() const { return access_; }

  // The raw handle, for db/ internals only.
  sqlite3* handle() const { return handle_.get(); }

 private:
  struct Closer {
    void operator()(sqlite3* handle) const;
  };

  Database(sqlite3* handle, std::string path, Access access);

  std::unique_ptr<sqlite3, Closer> handle_;
  std::string path_;
  Access access_ = Access::kReadWrite;
};

}  // namespace warden::db
