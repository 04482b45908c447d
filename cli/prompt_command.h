#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <string>

#include "cli/command.h"

namespace warden::cli {

// `warden prompt`: an interactive terminal client. While it runs, wardend holds the first
// packet of each new flow of a program no profile matches and asks here; one key answers
// (allow or deny, once or until wardend restarts). Needs a terminal on stdin and stdout.
// Ctrl-C (or q) leaves: wardend gives what waits the engine verdict.
Command addPromptCommand(CLI::App& app, std::string& configPath);

int runPrompt(const std::filesystem::path& configPath);

}  // namespace warden::cli
