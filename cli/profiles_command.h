#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <ostream>
#include <string>

#include "cli/color.h"
#include "cli/command.h"
#include "cli/output.h"
#include "cli/policy_view.h"

namespace warden::cli {

// `warden profiles [--json]`: the profiles of the policy in force (cli/policy_in_force.h),
// each with its default, rule count, source and [[match]] lines.
Command addProfilesCommand(CLI::App& app, std::string& configPath, const OutputOptions& output);

int runProfiles(const std::filesystem::path& configPath, bool json, std::ostream& out,
                std::ostream& err, const Palette& palette = Palette());

// The table, for the tests.
void printProfiles(const PolicyView& view, std::int64_t nowNs, std::ostream& out,
                   const Palette& palette = Palette());

}  // namespace warden::cli
