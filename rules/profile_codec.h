#pragma once

#include <expected>
#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "rules/diagnostic.h"
#include "rules/profile.h"

namespace warden::rules {

// The first line of a profiles.d file that warden's commands write and may edit again
// (warden allow|deny|reject): wardend removes expired rules from such a file only.
inline constexpr std::string_view kManagedMarker = "# Managed by warden";

// The file in a profiles directory that whoever edits its files locks first (flock), so that
// two edits of one file never interleave. Hidden, so the loader never takes it for a profile.
inline constexpr std::string_view kEditLockName = ".warden-edit.lock";

// Whether `text` starts with kManagedMarker.
bool isManagedText(std::string_view text);

// What one profiles.d file holds: profiles, or one drop-in (`extends`).
struct ProfileFile {
  std::vector<Profile> profiles;
  std::optional<DropIn> dropIn;
  bool managed = false;  // starts with kManagedMarker
};

// Parses one profiles.d file: profiles (see parseProfiles) or a drop-in, whose top level
// holds only `extends` and [[rule]] tables. Whether the profile a drop-in extends exists is
// checked by the loader.
std::expected<ProfileFile, Diagnostics> parseProfileFile(std::string_view text,
                                                         const std::filesystem::path& file,
                                                         Diagnostics* warnings = nullptr);

// Parses one profiles.d file (SPEC section 3): a single profile as top-level keys, or
// several [[profile]] tables. Every error of the file is reported with its location;
// warnings (a file without profiles, wildcards in an exact `path`) go to `warnings`. A
// drop-in is an error here (callers that take drop-ins use parseProfileFile).
// Checks across files (duplicate names, overlaps) are done by loadPolicy.
std::expected<std::vector<Profile>, Diagnostics> parseProfiles(std::string_view text,
                                                               const std::filesystem::path& file,
                                                               Diagnostics* warnings = nullptr);

// Whether `name` is usable as a profile name: a letter or digit, then letters, digits and
// . _ - : @ +, at most 128 characters.
bool isValidProfileName(std::string_view name);

}  // namespace warden::rules
