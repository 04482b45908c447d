#pragma once

#include <optional>

#include "rules/profile.h"
#include "rules/toml_reader.h"

namespace warden::rules {

// Internal to rules/ (the profile codec).
// Reads one [[match]] table of a profile, reporting every bad key to `reader`; the match
// is returned only if it had no error.
std::optional<Match> readMatch(const toml::node& node, TomlReader& reader);

}  // namespace warden::rules
