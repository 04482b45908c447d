#include "cli/reload_command.h"

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/config_files.h"
#include "cli/control_client.h"

namespace warden::cli {

int runReload(const std::filesystem::path& configPath, bool redecide, std::ostream& out,
              std::ostream& err) {
  auto config = readConfig(configPath, err);
  if (!config) return report(config.error(), err);
  nlohmann::json fields = nlohmann::json::object();
  if (redecide) fields["redecide"] = true;
  // Loading and compiling a large policy takes a while; give it more than a status.
  auto answer = askDaemon(config->controlSocket, "reload", fields, std::chrono::seconds(60));
  if (!answer) {
    Failure failure = answer.error();
    if (failure.code == ExitCode::kError && failure.message.find("refused") != std::string::npos) {
      failure.message += "\nthe running policy stays in force; `warden check --config " +
                         configPath.string() + "` shows what is wrong";
    }
    return report(failure, err);
  }
  out << "reloaded: policy revision " << answer->value("revision", nlohmann::json()).dump()
      << " in force\n";
  return toInt(ExitCode::kOk);
}

Command addReloadCommand(CLI::App& app, std::string& configPath) {
  CLI::App* reload = addSubcommand(
      app, "reload", "Make wardend load the policy files now; a broken policy is refused",
      configPath);
  auto redecide = std::make_shared<bool>(false);
  reload->add_flag("--redecide", *redecide,
                   "also decide flows already decided again under the new policy");
  return {reload, [&configPath, redecide] {
            return runReload(configPath, *redecide, std::cout, std::cerr);
          }};
}

}  // namespace warden::cli
