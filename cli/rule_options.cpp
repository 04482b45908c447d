#include "cli/rule_options.h"

#include <algorithm>
#include <map>

#include "cli/time_text.h"
#include "rules/profile_codec.h"
#include "rules/rule_file_text.h"

namespace warden::cli {
namespace {

constexpr std::int64_t kNsPerSecond = 1'000'000'000;

bool allDigits(std::string_view text) {
  return !text.empty() && text.size() < 10 &&
         std::ranges::all_of(text, [](char c) { return c >= '0' && c <= '9'; });
}

// "443, 8000-8100" as TOML array items: numbers as integers, ranges as strings.
std::string portItems(std::string_view list) {
  std::string items;
  while (true) {
    const std::size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!items.empty()) items += ", ";
    items += allDigits(item) ? std::string(item) : rules::tomlString(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return items;
}

}  // namespace

Outcome<rules::Rule> ruleFromOptions(const RuleOptions& options, std::int64_t nowNs) {
  // One line per option, so that a diagnostic's line names the option it came from.
  std::string text = "extends = \"x\"\n[[rule]]\n";
  std::map<int, std::string> optionOfLine;
  int line = 3;
  const auto add = [&](const std::string& key, const std::string& value,
                       const std::string& option) {
    text += key + " = " + value + "\n";
    optionOfLine[line++] = option;
  };
  add("action", rules::tomlString(options.action), "action");
  if (options.direction) add("direction", rules::tomlString(*options.direction), "--direction");
  if (options.proto) add("proto", rules::tomlString(*options.proto), "--proto");
  if (options.ports) add("ports", "[" + portItems(*options.ports) + "]", "--port");
  if (options.host) add("host", rules::tomlString(*options.host), "--host");
  if (!options.ip.empty()) {
    std::string items;
    for (const auto& ip : options.ip) items += (items.empty() ? "" : ", ") + rules::tomlString(ip);
    add("ip", "[" + items + "]", "--ip");
  }
  if (options.scope) add("scope", rules::tomlString(*options.scope), "--scope");
  std::optional<std::int64_t> expires;
  if (options.duration) {
    const auto ns = parseDurationNs(*options.duration);
    if (!ns || *ns <= 0) {
      return std::unexpected(Failure{
          ExitCode::kUsage, "--for: expected a duration such as 30s, 10m, 2h, 1d or 1h30m, got '" +
                                *options.duration + "'"});
    }
    // Rounded up: the rule lasts at least as long as asked.
    expires = (nowNs + *ns + kNsPerSecond - 1) / kNsPerSecond;
  }
  auto parsed = rules::parseProfileFile(text, "command line");
  if (!parsed) {
    std::string message;
    for (const auto& d : parsed.error()) {
      if (d.severity != rules::Severity::kError) continue;
      const auto it = optionOfLine.find(d.where.line);
      if (!message.empty()) message += "\n";
      message +=
          (it != optionOfLine.end() ? it->second : std::string("options")) + ": " + d.message;
    }
    return std::unexpected(Failure{ExitCode::kUsage, message + "; nothing was changed"});
  }
  rules::Rule rule = parsed->dropIn->rules.front();
  rule.where = {};
  if (expires) rule.expires = std::chrono::sys_seconds(std::chrono::seconds(*expires));
  return rule;
}

}  // namespace warden::cli
