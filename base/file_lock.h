#pragma once

#include <filesystem>

#include "base/error.h"
#include "base/unique_fd.h"

namespace warden::base {

// An exclusive flock(2) on `file` (created 0600 if missing), held until the returned
// descriptor closes. Serialises the programs that edit the same files (warden's commands,
// wardend removing expired rules); it waits for the holder.
[[nodiscard]] Result<UniqueFd> lockFile(const std::filesystem::path& file);

}  // namespace warden::base
