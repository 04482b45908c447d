#pragma once

#include <filesystem>
#include <string>

#include "cli/exit_code.h"

namespace warden::cli {

// The SHA-256 of a regular file's contents as 64 lowercase hex digits, computed as the
// engine computes an executable's (base/sha256.h): the value a profile's `sha256 = [...]`
// pins. Symbolic links are followed. Failures name the file and the reason (EACCES:
// kPermissionDenied).
[[nodiscard]] Outcome<std::string> sha256File(const std::filesystem::path& file);

}  // namespace warden::cli
