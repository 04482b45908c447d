#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <ostream>
#include <string>

#include "cli/command.h"

namespace warden::cli {

// `warden reload [--redecide]`: asks wardend to load the policy files now. Prints the new
// revision, or wardend's refusal (exit 1; the running policy stays in force).
Command addReloadCommand(CLI::App& app, std::string& configPath);

int runReload(const std::filesystem::path& configPath, bool redecide, std::ostream& out,
              std::ostream& err);

}  // namespace warden::cli
