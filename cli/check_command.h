#pragma once

#include <CLI/CLI.hpp>

#include <ostream>
#include <string>

#include "cli/command.h"

namespace warden::cli {

// `warden check`: validates warden.toml and every profile, prints each finding as
// `file:line:column: error: message` (warnings too) and exits 1 on any error.
Command addCheckCommand(CLI::App& app, std::string& configPath);

// The work of `warden check`, separated from the argument parsing for tests.
int runCheck(const std::string& configPath, std::ostream& out, std::ostream& err);

}  // namespace warden::cli
