// `warden`: the command-line tool (SPEC section 8). Each command lives in its own
// <name>_command.{h,cpp} and registers itself on the app here.
#include <CLI/CLI.hpp>

#include <string>

#include "cli/check_command.h"
#include "rules/config.h"

int main(int argc, char** argv) {
  CLI::App app{"warden: per-application firewall, command-line tool"};
  app.require_subcommand(1);
  std::string configPath(warden::rules::kDefaultConfigPath);
  app.add_option("--config", configPath,
                 "engine configuration (warden.toml); every command also takes it")
      ->capture_default_str();

  warden::cli::addCheckCommand(app, configPath);

  CLI11_PARSE(app, argc, argv);
  return 0;
}
