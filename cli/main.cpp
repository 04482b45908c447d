// `warden`: the command-line tool (SPEC section 8). Each command lives in its own
// <name>_command.{h,cpp}; main parses the command line, runs the one command given and turns
// its result into the exit status (cli/exit_code.h).
#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "cli/check_command.h"
#include "cli/command.h"
#include "cli/exit_code.h"
#include "cli/explain_command.h"
#include "cli/hash_command.h"
#include "cli/log_command.h"
#include "cli/profiles_command.h"
#include "cli/reload_command.h"
#include "cli/rules_command.h"
#include "cli/status_command.h"
#include "rules/config.h"

namespace {

int run(int argc, char** argv) {
  using namespace warden::cli;
  CLI::App app{"warden: per-application firewall, command-line tool"};
  app.footer(exitStatusHelp());
  std::string configPath(warden::rules::kDefaultConfigPath);
  app.add_option("--config", configPath,
                 "engine configuration (warden.toml); every command also takes it")
      ->capture_default_str();

  const std::vector<Command> commands = {
      addCheckCommand(app, configPath),   addStatusCommand(app, configPath),
      addReloadCommand(app, configPath),  addProfilesCommand(app, configPath),
      addRulesCommand(app, configPath),   addLogCommand(app, configPath),
      addExplainCommand(app, configPath), addHashCommand(app, configPath),
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is a "parse error" that prints the help and succeeds; real ones print the
    // problem and a hint, and are usage errors whatever number CLI11 gives them.
    const int status = app.exit(e);
    return status == 0 ? 0 : toInt(ExitCode::kUsage);
  }
  for (const auto& command : commands) {
    if (command.app->parsed()) return command.run();
  }
  // Not required in the parser, so that `warden frob` is reported as what it is.
  std::cerr << "warden: a command is required; `warden --help` lists them\n";
  return toInt(ExitCode::kUsage);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    // Nothing is meant to throw here; if something does, say what instead of aborting.
    std::cerr << "warden: internal error: " << e.what() << '\n';
    return warden::cli::toInt(warden::cli::ExitCode::kError);
  }
}
