#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/rule_options.h"

namespace warden::cli {

// `warden allow|deny|reject EXE [--proto P] [--port LIST] [--host H] [--ip CIDR]...
// [--scope S] [--direction out|in] [--for DURATION] [--json]`: adds the rule to EXE's profile
// (cli/policy_edit.h), asks wardend to reload and says what changed where. wardend not
// running is no error: the file is written and applies when it starts.
std::vector<Command> addEditCommands(CLI::App& app, std::string& configPath);

int runEdit(const std::filesystem::path& configPath, const std::string& exe,
            const RuleOptions& options, bool json, std::ostream& out, std::ostream& err,
            const std::optional<std::string>& sameFile = std::nullopt);

}  // namespace warden::cli
