#pragma once

#include <CLI/CLI.hpp>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>

#include "cli/color.h"
#include "cli/command.h"
#include "cli/output.h"
#include "rules/verdict.h"

namespace warden::cli {

struct LogOptions {
  bool follow = false;
  bool json = false;
  std::optional<std::string> profile;
  std::optional<rules::Action> action;
  std::optional<std::string> since;  // as given: read with one "now" (cli/time_text.h)
  std::optional<std::string> until;
  std::optional<std::size_t> limit;  // absent: 100, or the last 10 when following
};

// `warden log`: the verdict log from the database (read-only), newest first; with -f the
// last few rows oldest first, then every new matching row as it is committed, until SIGINT
// or SIGTERM (exit 0), or until the clock passes --until (rows are before it; the last are
// collected after a commit's delay, then exit 0). --json prints one object per line, so
// `-f --json` streams. A table on a terminal is paged (not with -f) and its actions
// coloured (cli/output.h).
Command addLogCommand(CLI::App& app, std::string& configPath, const OutputOptions& output);

int runLog(const std::filesystem::path& configPath, const LogOptions& options, std::ostream& out,
           std::ostream& err, const Palette& palette = Palette());

}  // namespace warden::cli
