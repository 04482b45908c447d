#include "cli/edit_command.h"

#include <charconv>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "cli/config_files.h"
#include "cli/control_client.h"
#include "cli/exe_profile.h"
#include "cli/json_output.h"
#include "cli/option_checks.h"
#include "cli/policy_edit.h"
#include "cli/table.h"
#include "cli/time_text.h"
#include "rules/rule_text.h"

namespace warden::cli {
namespace {

constexpr std::int64_t kNsPerSecond = 1'000'000'000;

// "allow out tcp ports=443 host=example.org", without the expiry (said apart, in local time).
std::string ruleSummary(rules::Rule rule) {
  rule.expires.reset();
  return rules::describe(rule);
}

}  // namespace

int runEdit(const std::filesystem::path& configPath, const std::string& exe,
            const RuleOptions& options, bool json, std::ostream& out, std::ostream& err,
            const std::optional<std::string>& sameFile) {
  auto config = readConfig(configPath, err);
  if (!config) return reportFailure(config.error(), json, out, err);
  const std::int64_t nowNs = base::realtimeNs();
  auto rule = ruleFromOptions(options, nowNs);
  if (!rule) return reportFailure(rule.error(), json, out, err);
  const char* path = std::getenv("PATH");
  auto file = resolveExecutable(exe, path ? path : "/usr/local/bin:/usr/bin:/bin");
  if (!file) return reportFailure(file.error(), json, out, err);
  RuleEdit request{*file, *rule, std::nullopt};
  if (sameFile) {
    SameFile identity;
    std::string_view text = *sameFile;
    // DEV:INO or DEV:INO:CTIME_NS, decimal.
    const auto number = [&text](auto& value) {
      const std::size_t colon = text.find(':');
      const std::string_view digits = text.substr(0, colon);
      text = colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
      const auto [end, error] =
          std::from_chars(digits.data(), digits.data() + digits.size(), value);
      return !digits.empty() && error == std::errc{} && end == digits.data() + digits.size();
    };
    const bool parsed = number(identity.device) && number(identity.inode) &&
                        (text.empty() || (number(identity.ctimeNs) && text.empty()));
    if (!parsed || identity.inode == 0 || identity.ctimeNs < 0) {
      return reportFailure(
          {ExitCode::kUsage, "--same-file: expected DEV:INO or DEV:INO:CTIME_NS, in decimal"}, json,
          out, err);
    }
    request.sameFile = identity;
  }
  auto edited = applyRuleEdit(configPath, *config, request);
  if (!edited) return reportFailure(edited.error(), json, out, err);

  const std::string where = edited->file.string() + ":" + std::to_string(edited->line);
  std::string expiry;
  std::optional<std::int64_t> expiresNs;
  if (rule->expires) {
    expiresNs = rule->expires->time_since_epoch().count() * kNsPerSecond;
    expiry = ", expires " + localTime(*expiresNs) + " (in " + formatAge(*expiresNs - nowNs) + ")";
  }
  // wardend reloads on the file's change by itself; asked here so that the rule is in force
  // (or its refusal known) when the command returns.
  auto reloaded = askDaemon(config->controlSocket, "reload", nlohmann::json::object(),
                            std::chrono::seconds(60));
  if (json) {
    nlohmann::json shown = {
        {"ok", reloaded || reloaded.error().code == ExitCode::kDaemonDown},
        {"profile", edited->profile},
        {"created_profile", edited->createdProfile},
        {"file", edited->file.string()},
        {"line", edited->line},
        {"exe", file->string()},
        {"rule", ruleSummary(*rule)},
        {"expires",
         rule->expires ? nlohmann::json(rules::formatUtc(*rule->expires)) : nlohmann::json()},
        {"replaced", edited->replaced},
        {"reloaded", reloaded.has_value()},
        {"notes", edited->notes}};
    if (reloaded) shown["revision"] = reloaded->value("revision", nlohmann::json());
    if (!reloaded) shown["reload_error"] = reloaded.error().message;
    out << jsonLine(shown) << '\n';
  } else {
    if (edited->createdProfile) {
      out << "created profile " << edited->profile << " for " << printable(file->string()) << " in "
          << edited->file.string() << "\n";
    }
    for (const auto& old : edited->replaced) out << "replaced: " << old << "\n";
    out << "added to " << where << ": " << ruleSummary(*rule) << expiry << "\n";
  }
  for (const auto& note : edited->notes) err << "warden: note: " << note << "\n";
  if (reloaded) {
    if (!json) {
      out << "reloaded: policy revision " << reloaded->value("revision", nlohmann::json()).dump()
          << " in force\n";
    }
    return toInt(ExitCode::kOk);
  }
  if (reloaded.error().code == ExitCode::kDaemonDown) {
    err << "warden: wardend is not running; the rule applies when it starts\n";
    return toInt(ExitCode::kOk);
  }
  Failure failure = reloaded.error();
  failure.message = "the file was written, but the reload failed: " + failure.message;
  return report(failure, err);
}

std::vector<Command> addEditCommands(CLI::App& app, std::string& configPath) {
  std::vector<Command> commands;
  const std::pair<const char*, const char*> actions[] = {
      {"allow", "Allow a program's flows: adds the rule to its profile's drop-in file"},
      {"deny", "Drop a program's flows: adds the rule to its profile's drop-in file"},
      {"reject",
       "Refuse a program's flows (TCP reset, ICMP): adds the rule to its profile's "
       "drop-in file"},
  };
  for (const auto& [action, description] : actions) {
    CLI::App* command = addSubcommand(app, action, description, configPath);
    auto exe = std::make_shared<std::string>();
    auto options = std::make_shared<RuleOptions>();
    auto json = std::make_shared<bool>(false);
    auto sameFile = std::make_shared<std::optional<std::string>>();
    options->action = action;
    command
        ->add_option("EXE", *exe,
                     "the program: a path, or a name looked up in PATH; its profile is the one "
                     "wardend gives a process running it (none: a new profile pinning the "
                     "file by path and sha256)")
        ->required();
    command->add_option("--proto", options->proto, "tcp, udp, icmp or any (default any)")
        ->check(oneOf({"tcp", "udp", "icmp", "any"}))
        ->type_name("PROTO");
    command
        ->add_option("--port", options->ports,
                     "remote port (local port with --direction in): a list such as "
                     "443,8000-8100")
        ->type_name("LIST");
    command
        ->add_option("--host", options->host,
                     "remote host name learned from DNS (*.example.org: the domain and "
                     "its subdomains)")
        ->type_name("HOST");
    command->add_option("--ip", options->ip, "remote address or CIDR; repeat for several")
        ->type_name("CIDR");
    command->add_option("--scope", options->scope, "localhost, lan or internet")
        ->check(oneOf({"localhost", "lan", "internet"}))
        ->type_name("SCOPE");
    command->add_option("--direction", options->direction, "out (default) or in")
        ->check(oneOf({"out", "in"}))
        ->type_name("DIR");
    command
        ->add_option("--for", options->duration,
                     "the rule expires by itself after this long (30s, 10m, 2h, 1d): "
                     "gone from the policy and from the file")
        ->type_name("DURATION");
    command->add_flag("--json", *json,
                      "one JSON object: ok, profile, created_profile, file, line, exe, rule, "
                      "expires, replaced, reloaded, revision, notes");
    command
        ->add_option("--same-file", *sameFile,
                     "refuse unless EXE is still the file of this st_dev:st_ino (before and after "
                     "it is read) and no profile matches it yet: what `warden prompt` passes, "
                     "so that a rule is written for the program it asked about")
        ->type_name("DEV:INO[:CTIME]");
    commands.push_back({command, [&configPath, exe, options, json, sameFile] {
                          return runEdit(configPath, *exe, *options, *json, std::cout, std::cerr,
                                         *sameFile);
                        }});
  }
  return commands;
}

}  // namespace warden::cli
