#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <ostream>
#include <string>

#include "cli/command.h"
#include "cli/policy_view.h"

namespace warden::cli {

// `warden profiles [--json]`: the profiles of the policy in force (cli/policy_in_force.h),
// each with its default, rule count, source and [[match]] lines.
Command addProfilesCommand(CLI::App& app, std::string& configPath);

int runProfiles(const std::filesystem::path& configPath, bool json, std::ostream& out,
                std::ostream& err);

// The table, for the tests.
void printProfiles(const PolicyView& view, std::int64_t nowNs, std::ostream& out);

}  // namespace warden::cli
