#include "cli/check_command.h"

#include <iostream>

#include "rules/compiled_policy.h"
#include "rules/policy.h"

namespace warden::cli {
namespace {

void print(const rules::Diagnostics& diagnostics, std::ostream& err) {
  for (const auto& diagnostic : diagnostics) err << diagnostic.format() << '\n';
}

std::size_t countErrors(const rules::Diagnostics& diagnostics) {
  std::size_t errors = 0;
  for (const auto& d : diagnostics) errors += d.severity == rules::Severity::kError ? 1 : 0;
  return errors;
}

std::string plural(std::size_t n, std::string_view word) {
  return std::to_string(n) + " " + std::string(word) + (n == 1 ? "" : "s");
}

}  // namespace

int runCheck(const std::string& configPath, std::ostream& out, std::ostream& err) {
  rules::Diagnostics warnings;
  auto policy = rules::loadPolicy(configPath, &warnings);
  if (!policy) {
    print(policy.error(), err);
    const std::size_t errors = countErrors(policy.error());
    err << configPath << ": " << plural(errors, "error") << ", "
        << plural(policy.error().size() - errors, "warning") << "; policy refused\n";
    return 1;
  }
  print(warnings, err);
  std::size_t rules = 0;
  for (const auto& profile : policy->profiles) rules += profile.rules.size();
  const std::size_t profiles = policy->profiles.size();
  const std::size_t globalRules = policy->config.globalRules.size();
  auto compiled = rules::CompiledPolicy::compile(std::move(*policy));
  if (!compiled) {
    print(compiled.error(), err);
    return 1;
  }
  out << configPath << ": OK, " << plural(globalRules, "global rule") << ", "
      << plural(profiles, "profile") << " with " << plural(rules, "rule");
  if (!warnings.empty()) out << ", " << plural(warnings.size(), "warning");
  out << '\n';
  return 0;
}

Command addCheckCommand(CLI::App& app, std::string& configPath) {
  CLI::App* check = addSubcommand(
      app, "check", "Validate warden.toml and every profile; exit 1 on any error", configPath);
  return {check, [&configPath] { return runCheck(configPath, std::cout, std::cerr); }};
}

}  // namespace warden::cli
