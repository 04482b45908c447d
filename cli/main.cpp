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
#include "cli/edit_command.h"
#include "cli/exit_code.h"
#include "cli/explain_command.h"
#include "cli/hash_command.h"
#include "cli/log_command.h"
#include "cli/option_checks.h"
#include "cli/output.h"
#include "cli/profiles_command.h"
#include "cli/prompt_command.h"
#include "cli/reload_command.h"
#include "cli/rules_command.h"
#include "cli/status_command.h"
#include "cli/suggest_command.h"
#include "cli/version_command.h"
#include "rules/config.h"

namespace {

int run(int argc, char** argv) {
  using namespace warden::cli;
  CLI::App app{"warden: per-application firewall, command-line tool"};
  app.footer(exitStatusHelp());
  std::string configPath(warden::rules::kDefaultConfigPath);
  OutputOptions output;
  bool version = false;
  app.add_option("--config", configPath,
                 "engine configuration (warden.toml); every command also takes it")
      ->capture_default_str();
  app.add_flag("--version", version,
               "print warden's version and, when it answers, the running wardend's");
  app.add_flag("--no-pager", output.noPager,
               "never page output (by default long output on a terminal goes through "
               "$WARDEN_PAGER, else $PAGER, else less)");
  app.add_option_function<std::string>(
         "--color", [&output](const std::string& text) { output.color = *parseColorMode(text); },
         "colour: auto (on a terminal, unless NO_COLOR is set or TERM=dumb), always or never")
      ->check(oneOf({"auto", "always", "never"}))
      ->type_name("WHEN");

  // The global options also after the command (`warden log --no-pager`), as systemctl takes
  // them: subcommands made from here on hand what they do not know to this parser.
  app.fallthrough();
  std::vector<Command> commands = {
      addCheckCommand(app, configPath, output),   addStatusCommand(app, configPath, output),
      addReloadCommand(app, configPath),          addProfilesCommand(app, configPath, output),
      addRulesCommand(app, configPath, output),   addLogCommand(app, configPath, output),
      addExplainCommand(app, configPath, output), addHashCommand(app, configPath),
      addSuggestCommand(app, configPath),         addPromptCommand(app, configPath),
  };
  // warden allow|deny|reject
  for (auto& command : addEditCommands(app, configPath)) commands.push_back(std::move(command));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is a "parse error" that prints the help and succeeds; real ones print the
    // problem and a hint, and are usage errors whatever number CLI11 gives them.
    const int status = app.exit(e);
    return status == 0 ? 0 : toInt(ExitCode::kUsage);
  }
  if (version) return runVersion(configPath, std::cout);
  for (const auto& command : commands) {
    if (command.app->parsed()) return command.run();
  }
  // Bare `warden`: the help, on stdout so that it can be paged or searched, as git and docker
  // do. Still a usage error (2) like any incomplete command line, so that a script running
  // `warden $command` with an empty variable does not pass for a success; `warden --help` is
  // the way to ask for help with status 0.
  std::cout << app.help();
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
