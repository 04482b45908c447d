#include "cli/explain_command.h"

#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/config_files.h"
#include "cli/control_client.h"
#include "cli/exit_code.h"

namespace warden::cli {

namespace {

std::string text(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return "(unknown)";
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

void printList(std::ostream& out, const char* label, const nlohmann::json& list) {
  out << label;
  if (!list.is_array() || list.empty()) {
    out << " (none)\n";
    return;
  }
  for (const auto& item : list)
    out << ' ' << (item.is_string() ? item.get<std::string>() : item.dump());
  out << '\n';
}

}  // namespace

int runExplain(const std::filesystem::path& configPath, const ExplainOptions& options,
               std::ostream& out, std::ostream& err) {
  auto config = readConfig(configPath, err);
  if (!config) return report(config.error(), err);
  // The daemon describes the process exactly as its verdict path does, and selects the
  // profile with the policy in force.
  auto answer = askDaemon(config->controlSocket, "explain", nlohmann::json{{"pid", options.pid}},
                          std::chrono::seconds(10));
  if (!answer) return report(answer.error(), err);
  const nlohmann::json& process = (*answer)["process"];
  if (options.json) {
    out << process.dump() << '\n';
    return toInt(ExitCode::kOk);
  }
  out << "process " << options.pid << (process.value("exited", false) ? " (exited)" : "") << '\n';
  out << "  executable  " << text(process, "path") << '\n';
  out << "  sha256      " << text(process, "sha256") << '\n';
  out << "  user        " << text(process, "user") << " (uid " << text(process, "uid") << ")\n";
  for (const char* key : {"argv", "tags", "ancestors"}) {
    std::string label = std::string("  ") + key;
    label.resize(13, ' ');
    printList(out, label.c_str(), process.value(key, nlohmann::json::array()));
  }
  if (process.contains("profile")) {
    const auto& profile = process["profile"];
    if (profile.is_null()) {
      out << "  profile     none: " << text(process, "profile_reason") << '\n';
    } else {
      out << "  profile     " << text(profile, "name") << " (" << text(profile, "file") << ':'
          << text(profile, "match_line") << ", [[match]] #" << text(profile, "match_index")
          << ", specificity " << text(profile, "score") << ", policy revision "
          << text(profile, "revision") << ")\n";
    }
  }
  return toInt(ExitCode::kOk);
}

Command addExplainCommand(CLI::App& app, std::string& configPath) {
  CLI::App* explain = addSubcommand(
      app, "explain", "How a running process is identified and which profile it gets, and why",
      configPath);
  auto options = std::make_shared<ExplainOptions>();
  explain->add_option("PID", options->pid, "the process")->required()->check(CLI::PositiveNumber);
  explain->add_flag("--json", options->json, "one JSON object");
  return {explain, [&configPath, options] {
            return runExplain(configPath, *options, std::cout, std::cerr);
          }};
}

}  // namespace warden::cli
