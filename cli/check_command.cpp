#include "cli/check_command.h"

#include <iostream>
#include <memory>

#include "cli/json_output.h"
#include "rules/compiled_policy.h"
#include "rules/policy.h"

namespace warden::cli {
namespace {

std::size_t countErrors(const rules::Diagnostics& diagnostics) {
  std::size_t errors = 0;
  for (const auto& d : diagnostics) errors += d.severity == rules::Severity::kError ? 1 : 0;
  return errors;
}

std::string plural(std::size_t n, std::string_view word) {
  return std::to_string(n) + " " + std::string(word) + (n == 1 ? "" : "s");
}

nlohmann::json orNull(const std::optional<std::size_t>& n) {
  return n ? nlohmann::json(*n) : nlohmann::json();
}

}  // namespace

CheckReport checkPolicy(const std::string& configPath) {
  CheckReport report;
  rules::Diagnostics warnings;
  auto policy = rules::loadPolicy(configPath, &warnings);
  if (!policy) {
    report.diagnostics = std::move(policy.error());
    return report;
  }
  report.diagnostics = std::move(warnings);
  std::size_t rules = 0;
  for (const auto& profile : policy->profiles) rules += profile.rules.size();
  report.rules = rules;
  report.profiles = policy->profiles.size();
  report.globalRules = policy->config.globalRules.size();
  auto compiled = rules::CompiledPolicy::compile(std::move(*policy));
  if (!compiled) {
    for (auto& d : compiled.error()) report.diagnostics.push_back(std::move(d));
    return report;
  }
  report.ok = !rules::hasErrors(report.diagnostics);
  return report;
}

nlohmann::json diagnosticJson(const rules::Diagnostic& d) {
  using nlohmann::json;
  return {{"file", d.where.file.empty() ? json() : json(d.where.file)},
          {"line", d.where.line > 0 ? json(d.where.line) : json()},
          {"column", d.where.column > 0 ? json(d.where.column) : json()},
          {"severity", d.severity == rules::Severity::kError ? "error" : "warning"},
          {"message", d.message}};
}

nlohmann::json checkJson(const std::string& configPath, const CheckReport& report) {
  nlohmann::json diagnostics = nlohmann::json::array();
  for (const auto& d : report.diagnostics) diagnostics.push_back(diagnosticJson(d));
  const std::size_t errors = countErrors(report.diagnostics);
  return {{"config", configPath},
          {"ok", report.ok},
          {"diagnostics", std::move(diagnostics)},
          {"summary",
           {{"errors", errors},
            {"warnings", report.diagnostics.size() - errors},
            {"profiles", orNull(report.profiles)},
            {"rules", orNull(report.rules)},
            {"global_rules", orNull(report.globalRules)}}}};
}

std::string diagnosticText(const rules::Diagnostic& d, const Palette& palette) {
  std::string text = d.format();
  if (!palette.on()) return text;
  // format() writes "<where>: error: <message>"; colour the severity word as compilers do.
  const bool error = d.severity == rules::Severity::kError;
  const std::string word = error ? ": error:" : ": warning:";
  if (const auto at = text.find(word); at != std::string::npos) {
    text.replace(
        at + 2, word.size() - 3,
        palette.paint(word.substr(2, word.size() - 3), error ? Tone::kError : Tone::kWarning));
  }
  return text;
}

int runCheck(const std::string& configPath, bool json, std::ostream& out, std::ostream& err,
             const Palette& palette) {
  const CheckReport report = checkPolicy(configPath);
  if (json) {
    out << jsonLine(checkJson(configPath, report)) << '\n';
    return report.ok ? 0 : 1;
  }
  for (const auto& d : report.diagnostics) err << diagnosticText(d, palette) << '\n';
  const std::size_t errors = countErrors(report.diagnostics);
  if (!report.ok) {
    if (!report.profiles) {
      err << configPath << ": " << plural(errors, "error") << ", "
          << plural(report.diagnostics.size() - errors, "warning") << "; policy refused\n";
    }
    return 1;
  }
  out << configPath << ": OK, " << plural(*report.globalRules, "global rule") << ", "
      << plural(*report.profiles, "profile") << " with " << plural(*report.rules, "rule");
  if (!report.diagnostics.empty()) out << ", " << plural(report.diagnostics.size(), "warning");
  out << '\n';
  return 0;
}

Command addCheckCommand(CLI::App& app, std::string& configPath, const OutputOptions& output) {
  CLI::App* check = addSubcommand(
      app, "check", "Validate warden.toml and every profile; exit 1 on any error", configPath);
  auto json = std::make_shared<bool>(false);
  check->add_flag("--json", *json,
                  "one JSON object: ok, every error and warning (file, line, column, severity, "
                  "message) and a summary");
  return {check, [&configPath, &output, json] {
            return runCheck(configPath, *json, std::cout, std::cerr, stderrPalette(output));
          }};
}

}  // namespace warden::cli
