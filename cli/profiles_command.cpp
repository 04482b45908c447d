#include "cli/profiles_command.h"

#include <filesystem>
#include <iostream>
#include <memory>

#include "base/clock.h"
#include "cli/json_output.h"
#include "cli/policy_in_force.h"
#include "cli/table.h"
#include "cli/time_text.h"

namespace warden::cli {
namespace {

std::string defaultText(const ProfileView& profile, const PolicyView& view) {
  if (profile.defaultAction) return std::string(rules::toString(*profile.defaultAction));
  if (view.engineDefault)
    return "engine (" + std::string(rules::toString(*view.engineDefault)) + ")";
  return "engine";
}

std::string joinMatches(const std::vector<std::string>& matches) {
  std::string text;
  for (const auto& match : matches) text += (text.empty() ? "" : " | ") + match;
  return text.empty() ? "(no [[match]]: never selected)" : text;
}

}  // namespace

void printProfiles(const PolicyView& view, std::int64_t nowNs, std::ostream& out,
                   const Palette& palette) {
  out << describeSource(view, nowNs) << ": " << view.profiles.size()
      << (view.profiles.size() == 1 ? " profile\n" : " profiles\n");
  if (view.profiles.empty()) return;
  bool matchesKnown = false;
  for (const auto& profile : view.profiles) matchesKnown = matchesKnown || profile.matches;
  std::vector<Table::Column> columns = {{"PROFILE"},
                                        {"MODE"},
                                        {"DEFAULT", Table::Align::kLeft, 0, actionTone},
                                        {"RULES", Table::Align::kRight},
                                        {"SOURCE"}};
  if (matchesKnown) columns.push_back({"MATCH"});
  columns.push_back({"DESCRIPTION"});
  Table table(std::move(columns));
  table.paint(palette);
  for (const auto& p : view.profiles) {
    std::vector<std::string> cells = {
        p.name, modeText(p, view), defaultText(p, view), std::to_string(p.rules.size()),
        std::filesystem::path(p.file).filename().string() + ":" + std::to_string(p.line)};
    if (matchesKnown) cells.push_back(p.matches ? joinMatches(*p.matches) : "?");
    cells.push_back(p.description);
    table.addRow(std::move(cells));
  }
  out << '\n';
  table.print(out);
}

int runProfiles(const std::filesystem::path& configPath, bool json, std::ostream& out,
                std::ostream& err, const Palette& palette) {
  auto view = policyInForce(configPath, err);
  if (!view) return reportFailure(view.error(), json, out, err);
  if (json) {
    out << jsonLine(policyJson(*view, /*withRules=*/false)) << '\n';
  } else {
    printProfiles(*view, base::realtimeNs(), out, palette);
  }
  return toInt(ExitCode::kOk);
}

Command addProfilesCommand(CLI::App& app, std::string& configPath, const OutputOptions& output) {
  CLI::App* profiles =
      addSubcommand(app, "profiles", "The profiles of the policy in force", configPath);
  auto json = std::make_shared<bool>(false);
  profiles->add_flag("--json", *json, "one JSON object");
  return {profiles, [&configPath, &output, json] {
            return printPaged(output, !*json, [&](std::ostream& out, const Palette& palette) {
              return runProfiles(configPath, *json, out, std::cerr, palette);
            });
          }};
}

}  // namespace warden::cli
