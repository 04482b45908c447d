#pragma once

#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "cli/color.h"
#include "cli/command.h"
#include "cli/output.h"
#include "rules/diagnostic.h"

namespace warden::cli {

// `warden check [--json]`: validates warden.toml and every profile, prints each finding as
// `file:line:column: error: message` (warnings too) and exits 1 on any error. With --json,
// one object on stdout instead:
//   {"config":F,"ok":B,"diagnostics":[{"file","line","column","severity","message"}...],
//    "summary":{"errors":N,"warnings":N,"profiles":N,"rules":N,"global_rules":N}}
// (line and column null when unknown; the counts null when the policy did not load).
Command addCheckCommand(CLI::App& app, std::string& configPath, const OutputOptions& output);

// The work of `warden check`, separated from the argument parsing for tests. `palette`
// colours the findings on `err` (errors bold red, warnings yellow).
int runCheck(const std::string& configPath, bool json, std::ostream& out, std::ostream& err,
             const Palette& palette = Palette());

// What was found in the policy files, as `warden check` reports it.
struct CheckReport {
  rules::Diagnostics diagnostics;  // errors and warnings, in the order found
  bool ok = false;                 // loaded and compiled
  // Known when the policy loaded.
  std::optional<std::size_t> profiles, rules, globalRules;
};
CheckReport checkPolicy(const std::string& configPath);

nlohmann::json diagnosticJson(const rules::Diagnostic& diagnostic);
nlohmann::json checkJson(const std::string& configPath, const CheckReport& report);
// One finding as text, its severity word coloured by `palette`.
std::string diagnosticText(const rules::Diagnostic& diagnostic, const Palette& palette);

}  // namespace warden::cli
