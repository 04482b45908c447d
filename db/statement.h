#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "base/error.h"

struct sqlite3_stmt;

namespace warden::db {

// A prepared statement. Parameters are 1-based, columns 0-based, as in SQLite.
//
// Binding never fails on its own: the first bind error is remembered and returned by the next
// step(), so a row of binds reads as one block. Bindings survive reset(), so a statement
// reused for many rows must bind every parameter each time.
//
// Thread-safety: that of the Database it was prepared on; it must not outlive it.
class Statement {
 public:
  Statement() = default;
  Statement(Statement&&) noexcept = default;
  Statement& operator=(Statement&&) noexcept = default;
  ~Statement() = default;

  Statement& bindInt64(int index, std::int64_t value);
  Statement& bindDouble(int index, double value);
  Statement& bindNull(int index);
  // SQLite copies the text.
  Statement& bindText(int index, std::string_view text);
  // SQLite keeps a pointer: the text must stay unchanged until the statement is stepped to
  // completion and reset, or rebound. For hot loops whose rows outlive the step.
  Statement& bindTextNoCopy(int index, std::string_view text);
  // NULL when absent.
  Statement& bindOptionalInt64(int index, std::optional<std::int64_t> value);
  Statement& bindOptionalText(int index, std::optional<std::string_view> text);

  // Advances: true when a row is available, false when the statement is done.
  [[nodiscard]] base::Result<bool> step();
  // Steps to completion (rows are discarded) and resets, ready for the next binds.
  [[nodiscard]] base::Result<void> run();
  // Makes the statement runnable again; bindings are kept.
  void reset();

  std::int64_t columnInt64(int column) const;
  double columnDouble(int column) const;
  // Valid until the next step(), reset() or destruction.
  std::string_view columnText(int column) const;
  bool columnIsNull(int column) const;
  std::optional<std::int64_t> columnOptionalInt64(int column) const;

  bool valid() const { return stmt_ != nullptr; }

 private:
  friend class Database;
  struct Finalizer {
    void operator()(sqlite3_stmt* stmt) const;
  };

  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  void noteBind(int rc, int index);

  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
  int bindError_ = 0;  // first failed bind's result code since the last step
  int bindErrorIndex_ = 0;
};

}  // namespace warden::db
