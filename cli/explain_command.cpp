#include "cli/explain_command.h"

#include <iostream>
#include <memory>

#include "cli/config_files.h"
#include "cli/control_client.h"
#include "cli/exit_code.h"
#include "cli/explain_text.h"
#include "cli/json_output.h"
#include "cli/option_checks.h"
#include "cli/policy_in_force.h"

namespace warden::cli {
namespace {

// PID_MAX_LIMIT of the kernel (include/linux/threads.h on 64-bit): no pid is larger.
constexpr std::int64_t kMaxPid = 4'194'304;

}  // namespace

int runExplain(const std::filesystem::path& configPath, const ExplainOptions& options,
               std::ostream& out, std::ostream& err) {
  auto config = readConfig(configPath, err);
  if (!config) return reportFailure(config.error(), options.json, out, err);
  // wardend describes the process exactly as its verdict path sees it, and selects the
  // profile with the policy in force.
  auto answer = askDaemon(config->controlSocket, "explain", {{"pid", options.pid}});
  if (!answer) {
    Failure failure = std::move(answer.error());
    if (failure.message == "wardend: no such process") {
      failure.message = "no process " + std::to_string(options.pid) + " (wardend knows none)";
    }
    return reportFailure(failure, options.json, out, err);
  }
  Explanation explanation;
  explanation.process = answer->value("process", nlohmann::json::object());
  // The policy view adds what the selection alone does not say: the [[match]] in words, the
  // profile's default and rules. Without it the selection is still shown.
  auto view = policyInForce(configPath, *config);
  if (view) {
    for (const auto& note : view->notes) err << "warden: note: " << note << '\n';
    explanation.policy = &*view;
  } else {
    err << "warden: note: " << view.error().message << '\n';
  }
  if (options.json) {
    out << jsonLine(explanationJson(explanation)) << '\n';
  } else {
    printExplanation(explanation, out);
  }
  return toInt(ExitCode::kOk);
}

Command addExplainCommand(CLI::App& app, std::string& configPath, const OutputOptions& output) {
  CLI::App* explain = addSubcommand(
      app, "explain", "How a running process is identified and which profile it gets, and why",
      configPath);
  auto options = std::make_shared<ExplainOptions>();
  explain->add_option("PID", options->pid, "the process")
      ->required()
      ->check(wholeNumber(1, kMaxPid));
  explain->add_flag("--json", options->json, "one JSON object");
  return {explain, [&configPath, &output, options] {
            return printPaged(output, !options->json, [&](std::ostream& out, const Palette&) {
              return runExplain(configPath, *options, out, std::cerr);
            });
          }};
}

}  // namespace warden::cli
