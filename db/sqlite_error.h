#pragma once

// Private to db/: builds base::Error values from SQLite state. Includes no SQLite header so that it
// can sit next to the public ones, but only db/*.cpp use it.

#include <string_view>

#include "base/error.h"

struct sqlite3;

namespace warden::db::detail {

// "<path>: <what>: <sqlite3_errmsg> (<result code name>)". `db` may be null (failed open).
base::Error sqliteError(sqlite3* db, int code, std::string_view path, std::string_view what);

// Same, with the path taken from the connection itself.
base::Error sqliteError(sqlite3* db, int code, std::string_view what);

// An error of ours (not SQLite's) about the database at `path`.
base::Error plainError(std::string_view path, std::string_view what);

}  // namespace warden::db::detail
