#pragma once

#include <CLI/CLI.hpp>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>

#include "cli/command.h"
#include "rules/verdict.h"

namespace warden::cli {

struct LogOptions {
  bool follow = false;
  bool json = false;
  std::optional<std::string> profile;
  std::optional<rules::Action> action;
  std::optional<std::int64_t> sinceNs;
  std::optional<std::size_t> limit;  // absent: 100, or the last 10 when following
};

// `warden log`: the verdict log from the database (read-only), newest first; with -f the
// last few rows oldest first, then every new matching row as it is committed, until SIGINT
// or SIGTERM (exit 0). --json prints one object per line, so `-f --json` streams.
Command addLogCommand(CLI::App& app, std::string& configPath);

int runLog(const std::filesystem::path& configPath, const LogOptions& options, std::ostream& out,
           std::ostream& err);

}  // namespace warden::cli
