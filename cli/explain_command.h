#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <ostream>
#include <string>

#include "cli/command.h"
#include "cli/output.h"

namespace warden::cli {

struct ExplainOptions {
  int pid = 0;
  bool json = false;
};

// `warden explain PID`: how wardend identifies a running process (executable, hash, command
// line, user, parents, tags), which profile the policy gives it through which [[match]], and
// what then decides its flows. wardend must be running (exit 3 otherwise): the description
// is its own, the one flows are decided with.
Command addExplainCommand(CLI::App& app, std::string& configPath, const OutputOptions& output);

int runExplain(const std::filesystem::path& configPath, const ExplainOptions& options,
               std::ostream& out, std::ostream& err);

}  // namespace warden::cli
