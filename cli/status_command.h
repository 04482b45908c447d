#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <ostream>
#include <string>

#include "cli/command.h"
#include "cli/output.h"

namespace warden::cli {

// `warden status [--json]`: the running daemon's state and counters. Exit 3 (with a line
// saying so, or {"running":false,...} in JSON) when wardend is not running; other failures
// print {"ok":false,"error":...} with --json (cli/json_output.h).
Command addStatusCommand(CLI::App& app, std::string& configPath, const OutputOptions& output);

int runStatus(const std::filesystem::path& configPath, bool json, std::ostream& out,
              std::ostream& err, const Palette& palette = Palette());

}  // namespace warden::cli
