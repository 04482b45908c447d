#pragma once

#include <expected>
#include <filesystem>
#include <string_view>
#include <vector>

#include "rules/diagnostic.h"
#include "rules/profile.h"

namespace warden::rules {

// Parses one profiles.d file (SPEC section 3): a single profile as top-level keys, or
// several [[profile]] tables. Every error of the file is reported with its location;
// warnings (a file without profiles, wildcards in an exact `path`) go to `warnings`.
// Checks across files (duplicate names, overlaps) are done by loadPolicy.
std::expected<std::vector<Profile>, Diagnostics> parseProfiles(std::string_view text,
                                                               const std::filesystem::path& file,
                                                               Diagnostics* warnings = nullptr);

// Whether `name` is usable as a profile name: a letter or digit, then letters, digits and
// . _ - : @ +, at most 128 characters.
bool isValidProfileName(std::string_view name);

}  // namespace warden::rules
