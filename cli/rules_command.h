#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>

#include "cli/color.h"
#include "cli/command.h"
#include "cli/exit_code.h"
#include "cli/output.h"
#include "cli/policy_view.h"

namespace warden::cli {

// `warden rules [PROFILE] [--json]`: the rules of the policy in force in the order they are
// checked: the global rules, then each profile's, each with its file:line and what happens
// when none matches. With PROFILE, that profile's only (exit 1 if there is no such profile).
Command addRulesCommand(CLI::App& app, std::string& configPath, const OutputOptions& output);

// Each rule and profile default also shows its hit count and the age of its last flow
// (HITS, LAST: live from wardend, or as it last stored them when it is not running).
// `--unused`: only the rules and defaults that decided no flow.
int runRules(const std::filesystem::path& configPath, const std::optional<std::string>& profile,
             bool json, bool unusedOnly, std::ostream& out, std::ostream& err,
             const Palette& palette = Palette());

struct RulesOptions {
  std::int64_t nowNs = 0;   // for the LAST column's ages
  bool unusedOnly = false;  // --unused
};

// The text, for the tests; fails only for an unknown profile.
[[nodiscard]] Outcome<void> printRules(const PolicyView& view,
                                       const std::optional<std::string>& profile,
                                       const RulesOptions& options, std::ostream& out,
                                       const Palette& palette = Palette());

}  // namespace warden::cli
