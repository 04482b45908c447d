#include "cli/command.h"

#include "cli/exit_code.h"

namespace warden::cli {

CLI::App* addSubcommand(CLI::App& app, std::string name, std::string description,
                        std::string& configPath) {
  CLI::App* command = app.add_subcommand(std::move(name), std::move(description));
  command
      ->add_option("--config", configPath,
                   "engine configuration (warden.toml); the database and the control "
                   "socket are found through it")
      ->capture_default_str();
  command->footer(exitStatusHelp());
  return command;
}

}  // namespace warden::cli
