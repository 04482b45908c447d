#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/exit_code.h"
#include "rules/profile.h"

namespace warden::cli {

// What `warden allow|deny|reject EXE` needs to know about EXE before it edits a profile.

// EXE as the kernel would run it: a name without '/' looked up in `pathVariable` like
// `command -v` (the first directory holding an executable file of that name), then made
// absolute with every symbolic link resolved (a process's /proc/PID/exe names the target).
// Missing, not a regular file, or not executable: the failure says which.
[[nodiscard]] Outcome<std::filesystem::path> resolveExecutable(std::string_view exe,
                                                               std::string_view pathVariable);

// The profile wardend would give a process running `exe`, judged from the file alone: its
// path (for path and path_glob) and, when some profile pins one, its SHA-256 (`digest`,
// asked for at most once). Keys that need a live process (cmdline, env, tags, user, uid,
// parent_path, ancestor_path) cannot hold here, as for the engine when it lacks them.
struct FileProfile {
  std::optional<std::size_t> profile;  // index into the profiles; none: no profile matches
  // Profiles that would match the file if their live-process keys held: the file alone
  // cannot tell whether a process gets one of them. With no `profile`, guessing would
  // be wrong either way (the command refuses); with one, a process may still get another.
  std::vector<std::size_t> undecidable;
};

FileProfile profileForFile(const std::vector<rules::Profile>& profiles,
                           const std::filesystem::path& exe,
                           const std::function<std::optional<rules::Sha256>()>& digest);

// A name ending as the files warden writes beside a profile do (NAME.local.toml, its drop-in;
// NAME.suggested.toml, a draft's addition to it) would have its own file taken for one of
// those: "curl.local" becomes "curl-local".
void unreserved(std::string& name);

// A profile name made from a file's base name ("curl", "python3.11"): the characters a
// profile name may hold, others as '-', unreserved, not taken by `taken` (then "-2", "-3"...).
std::string profileNameFor(const std::filesystem::path& exe,
                           const std::function<bool(const std::string&)>& taken);

}  // namespace warden::cli
