#pragma once

#include <filesystem>
#include <ostream>

#include "cli/exit_code.h"
#include "db/database.h"
#include "rules/config.h"

namespace warden::cli {

// The files every command finds through warden.toml.

// Reads and parses warden.toml; why it cannot be read (a missing file is an error, an
// unreadable one permission denied) is the failure. A file with errors that is still valid
// TOML gives a Config with just its paths ([log] db, [profiles] dir, [control] socket; the
// rest default) and a note on `err`: the daemon still runs the last good configuration, and
// `warden status` must reach it exactly while someone is fixing the file. Otherwise its
// diagnostics are the failure.
[[nodiscard]] Outcome<rules::Config> readConfig(const std::filesystem::path& file,
                                                std::ostream& err);

// Opens the verdict log database ([log] db) read-only: the tool never changes it. A file
// that does not exist yet is kNoDatabase; one the caller may not read, kPermissionDenied.
[[nodiscard]] Outcome<db::Database> openLogDatabase(const rules::Config& config);

}  // namespace warden::cli
