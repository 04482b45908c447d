#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rules/diagnostic.h"
#include "rules/process_info.h"
#include "rules/rule.h"
#include "rules/verdict.h"

namespace warden::rules {

// One `env` requirement of a [[match]]: the variable must be set, to `value` if given
// ("*" in the file = any value).
struct EnvRequirement {
  std::string name;
  std::optional<std::string> value;
};

// One [[match]] of a profile: a process belongs to the profile if every given key holds.
// Absent keys (nullopt, empty list) hold for anything.
struct Match {
  std::optional<std::string> path;
  std::optional<std::string> pathGlob;
  std::vector<Sha256> sha256;          // one of them must equal the image's digest
  std::optional<std::string> cmdline;  // RE2, searched in argv joined by spaces
  std::vector<EnvRequirement> env;
  std::vector<std::string> tags;  // all must be present
  std::optional<std::string> user;
  std::optional<std::uint32_t> uid;
  std::optional<std::string> parentPath;
  std::optional<std::string> ancestorPath;
  SourceLocation where;  // the [[match]] table's position

  // SPEC section 4: sha256 8, path 4, path_glob/parent_path/ancestor_path 2, the rest 1.
  int specificity() const;
  bool empty() const;
};

// One application profile (SPEC section 3).
struct Profile {
  std::string name;
  std::string description;
  std::optional<Action> defaultAction;  // absent: the engine default
  std::vector<Match> matches;
  std::vector<Rule> rules;  // first match wins; drop-in rules first (see DropIn)
  std::string file;         // the profiles.d file it came from
  SourceLocation where;     // the profile's position (its name, or its [[profile]] table)
};

// A drop-in: a profiles.d file whose top level is `extends = "NAME"` plus [[rule]] tables.
// Its rules are put before the rules of profile NAME (drop-ins in file-name order, then file
// order), so that a rule added later by a command decides before what a person wrote.
struct DropIn {
  std::string extends;
  std::vector<Rule> rules;  // each keeps its own file and line
  std::string file;
  SourceLocation where;  // the `extends` value
};

// Points of each [[match]] key, for `warden explain` and the tests.
inline constexpr int kSha256Score = 8;
inline constexpr int kPathScore = 4;
inline constexpr int kPathGlobScore = 2;
inline constexpr int kParentPathScore = 2;
inline constexpr int kAncestorPathScore = 2;
inline constexpr int kAttributeScore = 1;  // cmdline, env, tags, user, uid

}  // namespace warden::rules
