#pragma once

#include <filesystem>

#include "cli/exit_code.h"
#include "db/database.h"
#include "rules/config.h"

namespace warden::cli {

// The files every command finds through warden.toml.

// Reads and parses warden.toml. Its diagnostics, or why it cannot be read (a missing file
// is an error, an unreadable one permission denied), become the failure.
[[nodiscard]] Outcome<rules::Config> readConfig(const std::filesystem::path& file);

// Opens the verdict log database ([log] db) read-only: the tool never changes it. A file
// that does not exist yet is kNoDatabase; one the caller may not read, kPermissionDenied.
[[nodiscard]] Outcome<db::Database> openLogDatabase(const rules::Config& config);

}  // namespace warden::cli
