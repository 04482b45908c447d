#include "cli/rules_command.h"

#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>

#include "base/clock.h"
#include "cli/json_output.h"
#include "cli/policy_in_force.h"
#include "cli/table.h"
#include "cli/time_text.h"

namespace warden::cli {
namespace {

std::string location(const std::string& file, int line) {
  return std::filesystem::path(file).filename().string() + ":" + std::to_string(line);
}

std::string painted(rules::Action action, const Palette& palette) {
  const std::string_view word = rules::toString(action);
  return palette.paint(word, actionTone(word));
}

void printRuleTable(const std::vector<RuleView>& rules, std::ostream& out, const Palette& palette) {
  if (rules.empty()) {
    out << "  (no rules)\n";
    return;
  }
  Table table(
      {{"#", Table::Align::kRight}, {"RULE", Table::Align::kLeft, 0, actionTone}, {"SOURCE"}});
  table.paint(palette);
  for (const auto& rule : rules) {
    table.addRow({std::to_string(rule.index), rule.text, location(rule.file, rule.line)});
  }
  std::ostringstream text;
  table.print(text);
  std::istringstream lines(text.str());
  for (std::string line; std::getline(lines, line);) out << "  " << line << '\n';
}

void printProfile(const ProfileView& p, const PolicyView& view, std::ostream& out,
                  const Palette& palette) {
  out << "\nprofile " << printable(p.name) << " (" << location(p.file, p.line) << ")";
  if (!p.description.empty()) out << ": " << printable(p.description);
  out << '\n';
  printRuleTable(p.rules, out, palette);
  out << "  otherwise: ";
  if (p.defaultAction) {
    out << painted(*p.defaultAction, palette) << " (profile default)\n";
  } else if (view.engineDefault) {
    out << painted(*view.engineDefault, palette) << " ([engine] default)\n";
  } else {
    out << "the [engine] default\n";
  }
}

}  // namespace

Outcome<void> printRules(const PolicyView& view, const std::optional<std::string>& profile,
                         std::int64_t nowNs, std::ostream& out, const Palette& palette) {
  if (profile) {
    const ProfileView* found = view.findProfile(*profile);
    if (found == nullptr) {
      std::string names;
      for (const auto& p : view.profiles) names += (names.empty() ? "" : ", ") + p.name;
      return std::unexpected(Failure{
          ExitCode::kError, "no profile '" + *profile + "' in the " + describeSource(view, nowNs) +
                                " (profiles: " + (names.empty() ? "none" : names) + ")"});
    }
    out << describeSource(view, nowNs) << '\n';
    printProfile(*found, view, out, palette);
    out << "\n"
        << view.globalRules.size()
        << " global rules are checked before these (`warden rules` lists them)\n";
    return {};
  }
  out << describeSource(view, nowNs) << '\n';
  out << "\nglobal rules (" << std::filesystem::path(view.configPath).filename().string()
      << "), checked first for every flow:\n";
  printRuleTable(view.globalRules, out, palette);
  for (const auto& p : view.profiles) printProfile(p, view, out, palette);
  out << "\na process no profile matches: ";
  if (view.engineDefault) {
    out << painted(*view.engineDefault, palette) << " ([engine] default)\n";
  } else {
    out << "the [engine] default\n";
  }
  return {};
}

int runRules(const std::filesystem::path& configPath, const std::optional<std::string>& profile,
             bool json, std::ostream& out, std::ostream& err, const Palette& palette) {
  auto view = policyInForce(configPath, err);
  if (!view) return reportFailure(view.error(), json, out, err);
  if (json) {
    if (profile && view->findProfile(*profile) == nullptr) {
      return reportFailure({ExitCode::kError, "no profile '" + *profile + "'"}, json, out, err);
    }
    nlohmann::json document = policyJson(*view, /*withRules=*/true);
    if (profile) {
      nlohmann::json only = nlohmann::json::array();
      for (const auto& p : document["profiles"]) {
        if (p["name"] == *profile) only.push_back(p);
      }
      document["profiles"] = std::move(only);
    }
    out << jsonLine(document) << '\n';
    return toInt(ExitCode::kOk);
  }
  if (auto printed = printRules(*view, profile, base::realtimeNs(), out, palette); !printed) {
    return report(printed.error(), err);
  }
  return toInt(ExitCode::kOk);
}

Command addRulesCommand(CLI::App& app, std::string& configPath, const OutputOptions& output) {
  CLI::App* rules = addSubcommand(
      app, "rules", "The rules of the policy in force, in the order they are checked", configPath);
  auto profile = std::make_shared<std::optional<std::string>>();
  auto json = std::make_shared<bool>(false);
  rules->add_option("PROFILE", *profile, "only this profile's rules");
  rules->add_flag("--json", *json, "one JSON object");
  return {rules, [&configPath, &output, profile, json] {
            return printPaged(output, !*json, [&](std::ostream& out, const Palette& palette) {
              return runRules(configPath, *profile, *json, out, std::cerr, palette);
            });
          }};
}

}  // namespace warden::cli
