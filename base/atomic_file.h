#pragma once

#include <filesystem>
#include <string_view>

#include <sys/types.h>

#include "base/error.h"

namespace warden::base {

// Replaces `file` with `text` so that a reader (wardend's loader, a crash) sees either the old
// file or the whole new one: a hidden temporary file in the same directory (".NAME.XXXXXX",
// which the profile loader skips), fsync, rename over `file`, fsync of the directory. The new
// file gets `mode`, and the owner of the process. Nothing is left behind on failure.
[[nodiscard]] Result<void> replaceFile(const std::filesystem::path& file, std::string_view text,
                                       mode_t mode);

}  // namespace warden::base
