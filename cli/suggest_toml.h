#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cli/suggest_draft.h"

namespace warden::cli {

// How drafts of `warden suggest` are written: as profile files (warden-profiles(5)) a person
// reviews, and as JSON for scripts.

// A TOML basic string: quotes, backslashes and control characters escaped. `text` must be
// UTF-8 (TOML files are; see isUtf8).
std::string tomlString(std::string_view text);

// Whether `text` is valid UTF-8, which a TOML file must be: a path or tag that is not cannot
// be written as a key's value.
bool isUtf8(std::string_view text);

// Whether every text of the draft can be written (isUtf8).
bool writable(const ProfileDraft& draft);

// The draft as a profile file: `header` (comment lines, each starting with "# " and ending
// with a newline), then a new profile (name, default "deny", one [[match]], its rules) or an
// addition (`extends = NAME` and its rules), every rule `action = "allow"` with the keys in
// the order of warden-profiles(5).
std::string draftToml(const ProfileDraft& draft, std::string_view header);

// The draft as data: kind, name, file, match, rules, flows and time range.
nlohmann::json draftJson(const ProfileDraft& draft);

}  // namespace warden::cli
