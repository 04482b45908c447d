#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <ostream>
#include <string>

#include "cli/command.h"

namespace warden::cli {

struct ExplainOptions {
  int pid = 0;
  bool json = false;
};

// `warden explain PID`: how a running process is identified (path, argv, tags, user,
// parents), which profile it gets through which [[match]], and why. It needs the engine's
// process attribution (issue 4); until that lands it checks the pid and says so (exit 1).
Command addExplainCommand(CLI::App& app, std::string& configPath);

int runExplain(const std::filesystem::path& configPath, const ExplainOptions& options,
               std::ostream& out, std::ostream& err);

}  // namespace warden::cli
