#pragma once

#include <CLI/CLI.hpp>

#include <ostream>
#include <string>
#include <vector>

#include "cli/command.h"

namespace warden::cli {

// `warden hash FILE...`: each file's SHA-256 as a line to paste into a profile's [[match]],
// `sha256 = ["<hex>"]  # /usr/bin/curl`, or with --json one object per file. A file that
// cannot be read is reported and makes the exit status non-zero; the others still print.
Command addHashCommand(CLI::App& app, std::string& configPath);

int runHash(const std::vector<std::string>& files, bool json, std::ostream& out, std::ostream& err);

}  // namespace warden::cli
