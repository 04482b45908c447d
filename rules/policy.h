#pragma once

#include <chrono>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "rules/config.h"
#include "rules/diagnostic.h"
#include "rules/profile.h"

namespace warden::rules {

// Everything that decides flows, as loaded and validated: the engine configuration with
// its global rules, and the profiles of profiles.d in file-name order (within a file, in
// file order). Plain data; compile it into a CompiledPolicy to decide with it.
struct Policy {
  Config config;
  std::vector<Profile> profiles;  // drop-in rules already put in front of their profile's
  // Rules whose `expires` had passed when the policy was loaded: left out of it.
  struct ExpiredRule {
    SourceLocation where;
    std::chrono::sys_seconds expires;
    bool managed = false;  // its file starts with kManagedMarker: wardend may remove it
  };
  std::vector<ExpiredRule> expired;
  // The earliest `expires` still ahead: the policy changes by itself then (wardend reloads).
  std::optional<std::chrono::sys_seconds> nextExpiry;
};

// Loads warden.toml, then every *.toml of its profiles directory (PolicyLoader does the
// same and re-reads only changed files on the next load). Any error anywhere makes
// the result unexpected, carrying every diagnostic of the run (errors and warnings).
// Without errors, warnings (from the files and from lintPolicy) go to `warnings`; lint
// runs only if `warnings` is given, so a reload that ignores them does not pay for it.
std::expected<Policy, Diagnostics> loadPolicy(const std::filesystem::path& configFile,
                                              Diagnostics* warnings = nullptr);

// The same with an already loaded configuration.
std::expected<Policy, Diagnostics> loadPolicy(Config config, Diagnostics* warnings = nullptr);

// The *.toml files of a profiles directory in the order they are loaded (file name, byte
// order). Hidden files are skipped.
std::expected<std::vector<std::filesystem::path>, Diagnostic> listProfileFiles(
    const std::filesystem::path& directory);

}  // namespace warden::rules
