#pragma once

#include <filesystem>

#include "base/error.h"
#include "db/database.h"

namespace warden::db {

// Opens warden.db the one way every component should: a read-write open creates the file if
// needed and migrates it to kSchemaVersion; a read-only open (the `warden` tool) requires the
// schema to be exactly kSchemaVersion, since it must not change the file and cannot read
// another layout. A database newer than this code is refused in both cases.
[[nodiscard]] base::Result<Database> openStore(const std::filesystem::path& path,
                                               const OpenOptions& options = {});

}  // namespace warden::db
