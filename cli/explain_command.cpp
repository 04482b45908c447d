#include "cli/explain_command.h"

#include <iostream>
#include <memory>

#include "cli/config_files.h"
#include "cli/control_client.h"
#include "cli/exit_code.h"
#include "cli/explain_text.h"
#include "cli/json_output.h"
#include "cli/policy_in_force.h"
#include "cli/process_view.h"
#include "rules/compiled_policy.h"

namespace warden::cli {
namespace {

Outcome<rules::Policy> loadFiles(const std::filesystem::path& configPath) {
  auto policy = rules::loadPolicy(configPath);
  if (policy) return std::move(*policy);
  std::string message =
      "the policy files have errors, so no profile can be selected (`warden check` lists "
      "them):";
  for (const auto& diagnostic : policy.error()) {
    if (diagnostic.severity == rules::Severity::kError) message += "\n  " + diagnostic.format();
  }
  return std::unexpected(Failure{ExitCode::kError, std::move(message)});
}

}  // namespace

int runExplain(const std::filesystem::path& configPath, const ExplainOptions& options,
               std::ostream& out, std::ostream& err) {
  auto config = readConfig(configPath, err);
  if (!config) return report(config.error(), err);
  auto answer = askDaemon(config->controlSocket, "explain", {{"pid", options.pid}});
  if (!answer) {
    Failure failure = std::move(answer.error());
    if (failure.message == "wardend: no such process") {
      failure.message = "no process " + std::to_string(options.pid) + " (wardend knows none)";
    }
    return report(failure, err);
  }
  Explanation explanation;
  explanation.process = answer->value("process", nlohmann::json::object());

  // Profiles are selected from the files, since stored revisions do not keep [[match]]
  // tables; wardend says which revision runs and when it was loaded.
  auto files = loadFiles(configPath);
  if (!files) return report(files.error(), err);
  if (auto status = askDaemon(config->controlSocket, "status")) {
    const auto policy =
        status->value(nlohmann::json::json_pointer("/status/policy"), nlohmann::json::object());
    explanation.revision = policy.value("revision", std::int64_t{0});
    explanation.filesChanged =
        !filesUnchangedSince(*config, policy.value("loaded_at_ns", std::int64_t{0}));
  }
  if (explanation.filesChanged) {
    err << "warden: note: the policy files changed after revision " << *explanation.revision
        << " was loaded; the profile shown is the one the files select now\n";
  }

  std::optional<rules::Environment> env;
  if (explanation.process.value("env_known", false)) {
    env = readEnvironment(options.pid, explanation.process.value("start_ticks", std::uint64_t{0}));
  }
  explanation.environmentRead = env.has_value();
  const rules::ProcessInfo process = processInfoOf(explanation.process, std::move(env));

  auto compiled = rules::CompiledPolicy::compile(std::move(*files));
  if (!compiled) {
    return report({ExitCode::kError,
                   "the policy files could not be compiled: " + compiled.error().front().format()},
                  err);
  }
  explanation.policy = &(*compiled)->policy();
  explanation.selection = (*compiled)->selectProfile(process);
  if (options.json) {
    out << jsonLine(explanationJson(explanation)) << '\n';
  } else {
    printExplanation(explanation, out);
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
