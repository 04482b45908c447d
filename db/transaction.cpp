#include "db/transaction.h"

#include <utility>

#include "db/database.h"

namespace warden::db {

base::Result<Transaction> Transaction::begin(Database& db, Kind kind) {
  auto ok =
      db.exec(kind == Kind::kImmediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED", "begin transaction");
  if (!ok) return std::unexpected(std::move(ok.error()));
  return Transaction(db);
}

Transaction::Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Transaction::~Transaction() {
  if (db_ != nullptr) {
    // Nothing useful can be done if the rollback fails: SQLite then rolls back itself when
    // the connection closes, and the caller already has the error that brought us here.
    (void)db_->exec("ROLLBACK", "roll back transaction");
  }
}

base::Result<void> Transaction::commit() {
  auto ok = db_->exec("COMMIT", "commit transaction");
  // A failed COMMIT (SQLITE_BUSY) leaves the transaction open; the destructor rolls it back.
  if (ok) db_ = nullptr;
  return ok;
}

}  // namespace warden::db
