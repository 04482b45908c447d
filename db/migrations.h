#pragma once

#include "base/error.h"
#include "db/database.h"

namespace warden::db {

// The schema version this code writes and understands, kept in `PRAGMA user_version`.
inline constexpr int kSchemaVersion = 4;

// Both use the caller's connection, under its rules (database.h).
[[nodiscard]] base::Result<int> schemaVersion(Database& db);

// Brings the schema up to kSchemaVersion: each missing migration runs in order, in its own
// immediate transaction together with the user_version bump, so a crash leaves the database at
// a version boundary and a second process opening at the same time waits instead of racing.
// A database newer than this code is refused untouched.
[[nodiscard]] base::Result<void> migrate(Database& db);

}  // namespace warden::db
