#include "cli/explain_command.h"

#include <iostream>
#include <memory>

#include "cli/exit_code.h"

namespace warden::cli {

int runExplain(const std::filesystem::path& configPath, const ExplainOptions& options,
               std::ostream& /*out*/, std::ostream& err) {
  std::error_code ec;
  if (!std::filesystem::exists("/proc/" + std::to_string(options.pid), ec)) {
    return report({ExitCode::kError, "no process " + std::to_string(options.pid)}, err);
  }
  // What comes here: describe the process the way the engine does (its ProcessInfo), compile
  // the policy in force (from --config, or the daemon's revision) and print
  // CompiledPolicy::selectProfile() with the scores of each candidate [[match]].
  (void)configPath;
  return report({ExitCode::kError,
                 "explain needs the engine's process attribution, which comes with issue 4; "
                 "until then `warden log --json` shows what decided each flow"},
                err);
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
