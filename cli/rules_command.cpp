#include "cli/rules_command.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>

#include "base/clock.h"
#include "cli/config_files.h"
#include "cli/json_output.h"
#include "cli/policy_in_force.h"
#include "cli/rule_hits_view.h"
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

// HITS and LAST of one counter: "-" when the counts are not known.
std::string hitsText(const std::optional<rules::HitCount>& hits) {
  return hits ? std::to_string(hits->hits) : "-";
}

std::string lastText(const std::optional<rules::HitCount>& hits, std::int64_t nowNs) {
  if (!hits) return "-";
  if (hits->lastNs <= 0) return "never";
  return formatAge(std::max<std::int64_t>(0, nowNs - hits->lastNs)) + " ago";
}

bool unused(const std::optional<rules::HitCount>& hits) { return hits && hits->hits == 0; }

void printRuleTable(const std::vector<RuleView>& rules, const RulesOptions& options,
                    std::ostream& out, const Palette& palette) {
  std::vector<const RuleView*> shown;
  for (const auto& rule : rules) {
    if (!options.unusedOnly || unused(rule.hits)) shown.push_back(&rule);
  }
  if (shown.empty()) {
    out << (rules.empty() ? "  (no rules)\n" : "  (no unused rules)\n");
    return;
  }
  Table table({{"#", Table::Align::kRight},
               {"RULE", Table::Align::kLeft, 0, actionTone},
               {"HITS", Table::Align::kRight},
               {"LAST"},
               {"SOURCE"}});
  table.paint(palette);
  for (const RuleView* rule : shown) {
    table.addRow({std::to_string(rule->index), rule->text, hitsText(rule->hits),
                  lastText(rule->hits, options.nowNs), location(rule->file, rule->line)});
  }
  std::ostringstream text;
  table.print(text);
  std::istringstream lines(text.str());
  for (std::string line; std::getline(lines, line);) out << "  " << line << '\n';
}

void printProfile(const ProfileView& p, const PolicyView& view, const RulesOptions& options,
                  std::ostream& out, const Palette& palette) {
  out << "\nprofile " << printable(p.name) << " (" << location(p.file, p.line) << ")";
  if (!p.description.empty()) out << ": " << printable(p.description);
  if (p.mode == rules::Mode::kLearn || (!p.mode && view.engineMode == rules::Mode::kLearn)) {
    out << " [learn mode: its flows are accepted]";
  }
  out << '\n';
  printRuleTable(p.rules, options, out, palette);
  if (options.unusedOnly && !unused(p.defaultHits)) return;
  out << "  otherwise: ";
  if (p.defaultAction) {
    out << painted(*p.defaultAction, palette) << " (profile default)";
  } else if (view.engineDefault) {
    out << painted(*view.engineDefault, palette) << " ([engine] default)";
  } else {
    out << "the [engine] default";
  }
  if (p.defaultHits) {
    out << ", " << p.defaultHits->hits << (p.defaultHits->hits == 1 ? " hit" : " hits") << ", last "
        << lastText(p.defaultHits, options.nowNs);
  }
  out << '\n';
}

}  // namespace

Outcome<void> printRules(const PolicyView& view, const std::optional<std::string>& profile,
                         const RulesOptions& options, std::ostream& out, const Palette& palette) {
  const std::int64_t nowNs = options.nowNs;
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
    printProfile(*found, view, options, out, palette);
    out << "\n"
        << view.globalRules.size()
        << " global rules are checked before these (`warden rules` lists them)\n";
    return {};
  }
  out << describeSource(view, nowNs) << '\n';
  out << "\nglobal rules (" << std::filesystem::path(view.configPath).filename().string()
      << "), checked first for every flow:\n";
  printRuleTable(view.globalRules, options, out, palette);
  for (const auto& p : view.profiles) printProfile(p, view, options, out, palette);
  out << "\na process no profile matches: ";
  if (view.engineDefault) {
    out << painted(*view.engineDefault, palette) << " ([engine] default)\n";
  } else {
    out << "the [engine] default\n";
  }
  return {};
}

int runRules(const std::filesystem::path& configPath, const std::optional<std::string>& profile,
             bool json, bool unusedOnly, std::ostream& out, std::ostream& err,
             const Palette& palette) {
  auto config = readConfig(configPath, err);
  if (!config) return reportFailure(config.error(), json, out, err);
  auto view = policyInForce(configPath, *config);
  if (!view) return reportFailure(view.error(), json, out, err);
  addHits(*view, *config);
  for (const auto& note : view->notes) err << "warden: note: " << note << '\n';
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
  const RulesOptions options{base::realtimeNs(), unusedOnly};
  if (auto printed = printRules(*view, profile, options, out, palette); !printed) {
    return report(printed.error(), err);
  }
  return toInt(ExitCode::kOk);
}

Command addRulesCommand(CLI::App& app, std::string& configPath, const OutputOptions& output) {
  CLI::App* rules = addSubcommand(
      app, "rules", "The rules of the policy in force, in the order they are checked", configPath);
  auto profile = std::make_shared<std::optional<std::string>>();
  auto json = std::make_shared<bool>(false);
  auto unusedOnly = std::make_shared<bool>(false);
  rules->add_option("PROFILE", *profile, "only this profile's rules");
  rules->add_flag("--unused", *unusedOnly,
                  "only the rules and profile defaults that have decided no flow");
  rules->add_flag("--json", *json, "one JSON object");
  return {rules, [&configPath, &output, profile, json, unusedOnly] {
            return printPaged(output, !*json, [&](std::ostream& out, const Palette& palette) {
              return runRules(configPath, *profile, *json, *unusedOnly, out, std::cerr, palette);
            });
          }};
}

}  // namespace warden::cli
