#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "cli/command.h"

namespace warden::cli {

// `warden reload [--redecide] [--json]`: asks wardend to load the policy files now. Prints
// the new revision, or wardend's refusal (exit 1; the running policy stays in force). With
// --redecide wardend also decides the flows it accepted before again and prints the counts;
// exit 1 when some flow's verdict could not be changed.
Command addReloadCommand(CLI::App& app, std::string& configPath);

int runReload(const std::filesystem::path& configPath, bool redecide, bool json, std::ostream& out,
              std::ostream& err);

// The human-readable line of a successful reload answer:
// "reloaded: policy revision 7 in force; redecided 12 flows: 10 kept, 2 revoked (...)".
std::string reloadText(const nlohmann::json& answer);

}  // namespace warden::cli
