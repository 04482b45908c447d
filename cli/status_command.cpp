#include "cli/status_command.h"

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "cli/config_files.h"
#include "cli/control_client.h"
#include "cli/json_output.h"
#include "cli/status_text.h"
#include "cli/time_text.h"

namespace warden::cli {

int runStatus(const std::filesystem::path& configPath, bool json, std::ostream& out,
              std::ostream& err, const Palette& palette) {
  auto config = readConfig(configPath, err);
  if (!config) return reportFailure(config.error(), json, out, err);
  auto answer = askDaemon(config->controlSocket, "status");
  if (!answer) {
    if (answer.error().code == ExitCode::kDaemonDown) {
      // Not running is a state, not a malfunction: it is the answer, on stdout.
      if (json) {
        out << jsonLine({{"running", false}, {"reason", answer.error().message}}) << '\n';
      } else {
        out << answer.error().message << '\n';
      }
      return toInt(ExitCode::kDaemonDown);
    }
    return reportFailure(answer.error(), json, out, err);
  }
  const auto status = answer->find("status");
  if (status == answer->end() || !status->is_object()) {
    return reportFailure({ExitCode::kError, "wardend's status answer has no status object"}, json,
                         out, err);
  }
  if (json) {
    out << jsonLine(*status) << '\n';
  } else {
    printStatus(*status, base::realtimeNs(), out, palette);
  }
  return toInt(ExitCode::kOk);
}

Command addStatusCommand(CLI::App& app, std::string& configPath, const OutputOptions& output) {
  CLI::App* status = addSubcommand(
      app, "status", "Whether wardend runs; its mode, methods, policy revision and counters",
      configPath);
  auto json = std::make_shared<bool>(false);
  status->add_flag("--json", *json, "print the daemon's status object as one JSON line");
  return {status, [&configPath, &output, json] {
            return printPaged(output, !*json, [&](std::ostream& out, const Palette& palette) {
              return runStatus(configPath, *json, out, std::cerr, palette);
            });
          }};
}

}  // namespace warden::cli
