#include "rules/rule.h"

#include <algorithm>
#include <cstdio>

namespace warden::rules {
namespace {

constexpr std::uint8_t kIpProtoIcmp = 1;
constexpr std::uint8_t kIpProtoTcp = 6;
constexpr std::uint8_t kIpProtoUdp = 17;
constexpr std::uint8_t kIpProtoIcmpV6 = 58;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view withoutTrailingDot(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return name;
}

}  // namespace

bool isIcmp(std::uint8_t ipProto) { return ipProto == kIpProtoIcmp || ipProto == kIpProtoIcmpV6; }

bool protoMatches(Proto proto, std::uint8_t ipProto) {
  switch (proto) {
    case Proto::kAny:
      return true;
    case Proto::kTcp:
      return ipProto == kIpProtoTcp;
    case Proto::kUdp:
      return ipProto == kIpProtoUdp;
    case Proto::kIcmp:
      return isIcmp(ipProto);
  }
  return false;
}

bool hostMatches(std::string_view pattern, std::string_view host) {
  pattern = withoutTrailingDot(pattern);
  host = withoutTrailingDot(host);
  if (host.empty() || pattern.empty()) return false;
  if (!pattern.starts_with("*.")) return equalsIgnoreCase(pattern, host);
  const std::string_view domain = pattern.substr(2);
  if (host.size() == domain.size()) return equalsIgnoreCase(domain, host);
  // A subdomain: "<labels>.<domain>", the dot keeping "badexample.org" out of "*.example.org".
  return host.size() > domain.size() + 1 && host[host.size() - domain.size() - 1] == '.' &&
         equalsIgnoreCase(domain, host.substr(host.size() - domain.size()));
}

bool Rule::matches(const Flow& flow) const {
  if (flow.direction != direction) return false;
  if (!protoMatches(proto, flow.ipProto)) return false;
  if (!ports.empty()) {
    if (isIcmp(flow.ipProto)) return false;
    const std::uint16_t port = flow.direction == Direction::kOut ? flow.remotePort : flow.localPort;
    if (std::ranges::none_of(ports, [port](const PortRange& r) { return r.contains(port); })) {
      return false;
    }
  }
  if (!ip.empty() &&
      std::ranges::none_of(ip, [&flow](const Cidr& c) { return c.contains(flow.remote); })) {
    return false;
  }
  if (scope && scopeOf(flow.remote) != *scope) return false;
  if (!host.empty() && !hostMatches(host, flow.host)) return false;
  return true;
}

std::string formatUtc(std::chrono::sys_seconds when) {
  const std::chrono::sys_days day = std::chrono::floor<std::chrono::days>(when);
  const std::chrono::year_month_day date(day);
  const std::chrono::hh_mm_ss time(when - day);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02ld:%02ld:%02ldZ", int(date.year()),
                unsigned(date.month()), unsigned(date.day()), long(time.hours().count()),
                long(time.minutes().count()), long(time.seconds().count()));
  return text;
}

const Rule* firstMatch(const std::vector<Rule>& rules, const Flow& flow) {
  for (const Rule& rule : rules) {
    if (rule.matches(flow)) return &rule;
  }
  return nullptr;
}

}  // namespace warden::rules
