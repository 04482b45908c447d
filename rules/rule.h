#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules/address.h"
#include "rules/diagnostic.h"
#include "rules/flow.h"
#include "rules/verdict.h"

namespace warden::rules {

struct PortRange {
  std::uint16_t first = 0;
  std::uint16_t last = 0;
  bool contains(std::uint16_t port) const { return port >= first && port <= last; }
};

// One [[rule]] of warden.toml or of a profile. Absent keys match anything.
// `ports` is the remote port for outbound flows and the local port for inbound ones.
struct Rule {
  Action action = Action::kAllow;
  Direction direction = Direction::kOut;
  Proto proto = Proto::kAny;
  std::vector<Cidr> ip;          // empty: any
  std::vector<PortRange> ports;  // empty: any
  std::string host;              // empty: any; "*.example.org" = that domain and any subdomain
  std::optional<Scope> scope;    // absent: any
  bool log = true;
  std::string comment;
  // From this instant on the rule is not in the policy (the loader leaves it out).
  std::optional<std::chrono::sys_seconds> expires;
  SourceLocation where;  // the [[rule]] table's position; its file for drop-in rules too

  bool matches(const Flow& flow) const;
};

// Host-name pattern of a rule: an exact name, or "*.example.org" for that domain and any
// subdomain. Case-insensitive, a trailing dot ignored; an empty host never matches.
bool hostMatches(std::string_view pattern, std::string_view host);

// Whether a packet's IP protocol number is the one `proto` names (kIcmp: ICMP or ICMPv6).
bool protoMatches(Proto proto, std::uint8_t ipProto);
bool isIcmp(std::uint8_t ipProto);

// `when` as an offset date-time in UTC, the way `expires` is written: 2026-12-03T22:10:00Z.
std::string formatUtc(std::chrono::sys_seconds when);

// First rule that matches, or nullptr.
const Rule* firstMatch(const std::vector<Rule>& rules, const Flow& flow);

}  // namespace warden::rules
