#pragma once

#include <expected>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "rules/diagnostic.h"
#include "rules/rule.h"

namespace warden::rules {

// Edits the text of a profiles.d file the way a person would, for warden's commands and
// wardend's expiry: a [[rule]] table is added or taken out, and every other byte of the file
// (comments, blank lines, the order of everything) stays as it was. The text is parsed to
// find where tables start, so a `[` inside a string is never taken for a header. Errors: the
// text is not valid TOML (the diagnostics say where).

// `text` as a TOML basic string, quotes and control characters escaped.
std::string tomlString(std::string_view text);

// The [[rule]] table for `rule` as warden writes it, ending in a blank line. Keys the rule
// leaves at their default are not written.
std::string ruleText(const Rule& rule);

// `text` with `block` inserted before its first table header (after the top-level keys), or
// at its end if it has none.
std::expected<std::string, Diagnostics> insertBeforeFirstTable(std::string_view text,
                                                               const std::filesystem::path& file,
                                                               std::string_view block);

// `text` without the [[rule]] tables whose headers are on `headerLines` (1-based, as
// Rule::where). A table is its header, the comment lines right above it, its keys and the
// blank lines after them; comments after its last key (the next table's, a note at the end
// of the file) stay.
std::expected<std::string, Diagnostics> removeRuleTables(std::string_view text,
                                                         const std::filesystem::path& file,
                                                         const std::vector<int>& headerLines);

// Whether two rules match the same flows by the same keys (all but action, log, comment and
// expires): a new rule replaces such a rule instead of being stacked on top of it.
bool sameSelectors(const Rule& a, const Rule& b);

}  // namespace warden::rules
