#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "rules/rule.h"
#include "rules/toml_reader.h"

namespace warden::rules {

// Internal to rules/ (the TOML codecs).
// Reads one [[rule]] table (SPEC section 3) of warden.toml or of a profile. Every bad key is
// reported to `reader`; the rule is returned only if it had no error.
std::optional<Rule> readRule(const toml::node& node, TomlReader& reader);

// Reads the value of a `rule` key: an array of tables. Rules with errors are left out.
std::vector<Rule> readRules(const toml::node& node, TomlReader& reader);

// Parses "N" or "N-M" with 1 <= N <= M <= 65535.
std::optional<PortRange> parsePortRange(std::string_view text);

// Validates and normalizes (lower case, no trailing dot) a rule's host pattern.
std::optional<std::string> normalizeHostPattern(std::string_view text);

}  // namespace warden::rules
