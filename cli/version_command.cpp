#include "cli/version_command.h"

#include <chrono>
#include <sstream>

#include "base/version.h"
#include "cli/config_files.h"
#include "cli/control_client.h"

namespace warden::cli {

std::string daemonVersionLine(const Outcome<nlohmann::json>& answer) {
  if (!answer) {
    // "wardend is not running (...)" reads as it is; other failures get the subject first.
    const std::string& message = answer.error().message;
    if (answer.error().code == ExitCode::kDaemonDown) return message;
    return "wardend: version unknown (" + message + ")";
  }
  const nlohmann::json status = answer->value("status", nlohmann::json::object());
  const auto version = status.find("version");
  std::string line = "wardend ";
  // A wardend older than the "version" field still answers; say so rather than guess.
  line += version != status.end() && version->is_string() ? version->get<std::string>()
                                                          : "(version unknown)";
  line += " (running";
  const auto policy = status.find("policy");
  if (policy != status.end() && policy->is_object() && policy->contains("revision")) {
    line += ", policy revision " + (*policy)["revision"].dump();
  }
  return line + ")";
}

int runVersion(const std::filesystem::path& configPath, std::ostream& out) {
  out << "warden " << base::kWardenVersion << '\n';
  // Notes about the configuration belong to the commands that use it; --version only says
  // whether the daemon could be asked.
  std::ostringstream notes;
  auto config = readConfig(configPath, notes);
  if (!config) {
    out << daemonVersionLine(std::unexpected(config.error())) << '\n';
    return toInt(ExitCode::kOk);
  }
  // Short: a version is asked for at a prompt, and a hung daemon is worth saying so quickly.
  out << daemonVersionLine(askDaemon(config->controlSocket, "status", nlohmann::json::object(),
                                     std::chrono::seconds(3)))
      << '\n';
  return toInt(ExitCode::kOk);
}

}  // namespace warden::cli
