#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "cli/exit_code.h"

namespace warden::cli {

struct NewFile {
  std::string name;  // a plain file name inside the directory
  std::string content;
};

// Writes files that must not exist yet into `dir` (made, 0755, when missing), all or none:
// when any of them exists already nothing is written and the failure names every one. Each
// file is written to a temporary file in `dir`, fsynced, made 0644 (policy files writable by
// others are refused by wardend) and moved to its name with renameat2(RENAME_NOREPLACE), so
// that a file that appeared meanwhile is not overwritten either; then the directory is
// fsynced. A failure part-way removes the files this call already put in place. `dir` itself
// must not be a symbolic link (a trailing slash included), nor one of `refused` (directories
// whose files take effect by themselves: the policy's), and as root nor a directory another
// user could change (base/trusted_path.h), so that whoever made the path can neither point the
// files elsewhere nor change them before they are read.
[[nodiscard]] Outcome<void> writeNewFiles(const std::filesystem::path& dir,
                                          const std::vector<NewFile>& files,
                                          const std::vector<std::filesystem::path>& refused = {});

}  // namespace warden::cli
