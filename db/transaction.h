#pragma once

#include <cstdint>

#include "base/error.h"

namespace warden::db {

class Database;

// A transaction that rolls back unless commit() succeeded. An immediate transaction takes the
// write lock at begin(), so a writer waits (busy timeout) up front instead of failing midway.
//
// Thread-safety: that of its Database, which must outlive it and not be moved meanwhile.
class Transaction {
 public:
  enum class Kind : std::uint8_t { kDeferred, kImmediate };

  [[nodiscard]] static base::Result<Transaction> begin(Database& db, Kind kind = Kind::kImmediate);

  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  [[nodiscard]] base::Result<void> commit();

 private:
  explicit Transaction(Database& db) : db_(&db) {}

  Database* db_;  // null once committed, rolled back or moved from
};

}  // namespace warden::db
