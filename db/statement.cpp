#include "db/statement.h"

#include <sqlite3.h>

#include <string>

#include "db/sqlite_error.h"

namespace warden::db {
namespace {

std::string describe(sqlite3_stmt* stmt) {
  constexpr std::size_t kMax = 60;
  const char* sql = sqlite3_sql(stmt);
  std::string text = sql == nullptr ? std::string() : std::string(sql);
  for (char& c : text) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  if (text.size() > kMax) text = text.substr(0, kMax) + "...";
  return "`" + text + "`";
}

// SQLite binds NULL for a null pointer, but an empty string_view may have one: bind ''.
const char* textData(std::string_view text) { return text.data() == nullptr ? "" : text.data(); }

}  // namespace

void Statement::Finalizer::operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }

void Statement::noteBind(int rc, int index) {
  if (rc != SQLITE_OK && bindError_ == 0) {
    bindError_ = rc;
    bindErrorIndex_ = index;
  }
}

Statement& Statement::bindInt64(int index, std::int64_t value) {
  noteBind(sqlite3_bind_int64(stmt_.get(), index, value), index);
  return *this;
}

Statement& Statement::bindDouble(int index, double value) {
  noteBind(sqlite3_bind_double(stmt_.get(), index, value), index);
  return *this;
}

Statement& Statement::bindNull(int index) {
  noteBind(sqlite3_bind_null(stmt_.get(), index), index);
  return *this;
}

Statement& Statement::bindText(int index, std::string_view text) {
  noteBind(sqlite3_bind_text64(stmt_.get(), index, textData(text), text.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8),
           index);
  return *this;
}

Statement& Statement::bindTextNoCopy(int index, std::string_view text) {
  noteBind(sqlite3_bind_text64(stmt_.get(), index, textData(text), text.size(), SQLITE_STATIC,
                               SQLITE_UTF8),
           index);
  return *this;
}

Statement& Statement::bindOptionalInt64(int index, std::optional<std::int64_t> value) {
  return value ? bindInt64(index, *value) : bindNull(index);
}

Statement& Statement::bindOptionalText(int index, std::optional<std::string_view> text) {
  return text ? bindText(index, *text) : bindNull(index);
}

base::Result<bool> Statement::step() {
  sqlite3* db = sqlite3_db_handle(stmt_.get());
  if (bindError_ != 0) {
    const int rc = bindError_;
    const int index = bindErrorIndex_;
    bindError_ = 0;
    return std::unexpected(detail::sqliteError(
        db, rc, "bind parameter " + std::to_string(index) + " of " + describe(stmt_.get())));
  }
  const int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  base::Error error = detail::sqliteError(db, rc, "run " + describe(stmt_.get()));
  sqlite3_reset(stmt_.get());
  return std::unexpected(std::move(error));
}

base::Result<void> Statement::run() {
  base::Result<bool> row;
  do {
    row = step();
  } while (row && *row);
  reset();
  if (!row) return std::unexpected(std::move(row.error()));
  return {};
}

void Statement::reset() {
  // The result code repeats the last step's error, which step() already reported.
  sqlite3_reset(stmt_.get());
}

std::int64_t Statement::columnInt64(int column) const {
  return sqlite3_column_int64(stmt_.get(), column);
}

double Statement::columnDouble(int column) const {
  return sqlite3_column_double(stmt_.get(), column);
}

std::string_view Statement::columnText(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_.get(), column));
  if (text == nullptr) return {};
  return {text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_.get(), column))};
}

bool Statement::columnIsNull(int column) const {
  return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL;
}

std::optional<std::int64_t> Statement::columnOptionalInt64(int column) const {
  if (columnIsNull(column)) return std::nullopt;
  return columnInt64(column);
}

}  // namespace warden::db
