#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace warden::cli {

// One subcommand of `warden`: its node in the CLI11 parser and the work to do once the
// whole command line has been parsed. run() returns the exit status (cli/exit_code.h).
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

// Adds the subcommand with what every command has: --config bound to the shared path
// (so `warden --config F status` and `warden status --config F` are the same) and the
// exit status section in its --help.
CLI::App* addSubcommand(CLI::App& app, std::string name, std::string description,
                        std::string& configPath);

}  // namespace warden::cli
