#include "cli/reload_command.h"

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/check_command.h"
#include "cli/config_files.h"
#include "cli/control_client.h"
#include "cli/json_output.h"

namespace warden::cli {

std::string reloadText(const nlohmann::json& answer) {
  std::string text = "reloaded: policy revision " +
                     answer.value("revision", nlohmann::json()).dump() + " in force";
  const auto redecide = answer.find("redecide");
  if (redecide == answer.end() || !redecide->is_object()) return text + "\n";
  auto count = [&](const char* key) { return redecide->value(key, std::uint64_t{0}); };
  auto flows = [](std::uint64_t n) { return std::to_string(n) + (n == 1 ? " flow" : " flows"); };
  text +=
      "; redecided " + flows(count("examined")) + ": " + std::to_string(count("kept")) + " kept";
  if (count("learned") > 0)
    text += " (" + std::to_string(count("learned")) + " only by learn mode)";
  text += ", " + std::to_string(count("revoked")) + " revoked";
  if (count("revoked") > 0) {
    text += " (" + std::to_string(count("denied")) + " denied, " +
            std::to_string(count("rejected")) + " rejected)";
  }
  if (count("gone") > 0) text += ", " + std::to_string(count("gone")) + " gone meanwhile";
  if (count("failed") > 0) text += ", " + std::to_string(count("failed")) + " failed";
  return text + "\n";
}

int runReload(const std::filesystem::path& configPath, bool redecide, bool json, std::ostream& out,
              std::ostream& err) {
  auto config = readConfig(configPath, err);
  if (!config) return reportFailure(config.error(), json, out, err);
  nlohmann::json fields = nlohmann::json::object();
  if (redecide) fields["redecide"] = true;
  // Loading and compiling a large policy takes a while; give it more than a status.
  auto answer = askDaemon(config->controlSocket, "reload", fields, std::chrono::seconds(60));
  if (!answer) {
    Failure failure = answer.error();
    const bool refused =
        failure.code == ExitCode::kError && failure.message.find("refused") != std::string::npos;
    if (!refused) return reportFailure(failure, json, out, err);
    failure.message += "\nthe running policy stays in force; `warden check --config " +
                       configPath.string() + "` shows what is wrong";
    if (json) {
      // wardend's refusal says only that the policy has errors (its log has them); the
      // errors are those `warden check` finds in the same files, which a script wants here.
      nlohmann::json shown = failureJson(failure);
      shown["diagnostics"] =
          checkJson(configPath.string(), checkPolicy(configPath.string()))["diagnostics"];
      out << jsonLine(shown) << '\n';
    }
    return report(failure, err);
  }
  const auto failed = answer->value("redecide", nlohmann::json::object()).value("failed", 0);
  if (json) {
    // "ok" agrees with the exit status: a redecide whose marks failed is not a success.
    nlohmann::json shown = {{"ok", failed == 0},
                            {"revision", answer->value("revision", nlohmann::json())}};
    if (answer->contains("redecide")) shown["redecide"] = (*answer)["redecide"];
    out << jsonLine(shown) << '\n';
  } else {
    out << reloadText(*answer);
  }
  if (failed > 0) {
    return report({ExitCode::kError, "the marks of " + std::to_string(failed) +
                                         " flows could not be changed (wardend's log says why)"},
                  err);
  }
  return toInt(ExitCode::kOk);
}

Command addReloadCommand(CLI::App& app, std::string& configPath) {
  CLI::App* reload = addSubcommand(
      app, "reload", "Make wardend load the policy files now; a broken policy is refused",
      configPath);
  auto redecide = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  reload->add_flag("--redecide", *redecide,
                   "also decide the flows accepted before again under the new policy, and cut "
                   "those it refuses");
  reload->add_flag(
      "--json", *json,
      "one JSON line: ok and the revision (and redecide counts); when refused, ok false, the "
      "error and the errors `warden check` finds");
  return {reload, [&configPath, redecide, json] {
            return runReload(configPath, *redecide, *json, std::cout, std::cerr);
          }};
}

}  // namespace warden::cli
