#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>

#include "cli/command.h"
#include "cli/output.h"

namespace warden::cli {

struct SuggestOptions {
  std::optional<std::string> since;  // as `warden log --since`
  std::optional<std::string> profile;
  std::optional<std::filesystem::path> out;
  bool json = false;
};

// `warden suggest`: profiles drafted from the verdict log (cli/suggest_draft.h) for a person
// to review. TOML on stdout, each file --out would write introduced by a comment naming it;
// `--out DIR` writes one file per draft (NAME.toml, NAME.suggested.toml for additions to a
// profile) and never overwrites (cli/new_files.h); `--json` the drafts as data. New profiles
// pin the executable's SHA-256 as the file is when suggest runs: wardend's hash cache when it
// has that version, else hashed here.
Command addSuggestCommand(CLI::App& app, std::string& configPath);

int runSuggest(const std::filesystem::path& configPath, const SuggestOptions& options,
               std::ostream& out, std::ostream& err);

}  // namespace warden::cli
