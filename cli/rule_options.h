#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/exit_code.h"
#include "rules/rule.h"

namespace warden::cli {

// The rule that `warden allow|deny|reject` options describe, as given on the command line.
struct RuleOptions {
  std::string action;  // allow | deny | reject
  std::optional<std::string> proto;
  std::optional<std::string> ports;  // "443,8000-8100"
  std::optional<std::string> host;
  std::vector<std::string> ip;
  std::optional<std::string> scope;
  std::optional<std::string> direction;
  std::optional<std::string> duration;  // --for: "10m"
};

// The options read by the profiles' own codec, so that a value `warden check` would refuse
// is refused here with the same words, naming the option: "--port: invalid port 70000
// (expected 1 to 65535)". `nowNs` (CLOCK_REALTIME) plus --for, rounded up to a second, gives
// `expires`.
[[nodiscard]] Outcome<rules::Rule> ruleFromOptions(const RuleOptions& options, std::int64_t nowNs);

}  // namespace warden::cli
