#include "db/log_columns.h"

#include <netinet/in.h>

#include <array>
#include <utility>

namespace warden::db {
namespace {

constexpr std::array<std::pair<DecidedBy, std::string_view>, 7> kDecidedBy{{
    {DecidedBy::kGlobalRule, "global-rule"},
    {DecidedBy::kProfileRule, "rule"},
    {DecidedBy::kProfileDefault, "profile-default"},
    {DecidedBy::kEngineDefault, "engine-default"},
    {DecidedBy::kUnknown, "unknown"},
    {DecidedBy::kKernel, "kernel"},
    {DecidedBy::kPrompt, "prompt"},
}};

}  // namespace

std::string_view toString(DecidedBy decidedBy) {
  for (const auto& [value, name] : kDecidedBy) {
    if (value == decidedBy) return name;
  }
  return "?";
}

std::optional<DecidedBy> parseDecidedBy(std::string_view text) {
  for (const auto& [value, name] : kDecidedBy) {
    if (name == text) return value;
  }
  return std::nullopt;
}

std::string protocolName(std::uint8_t ipProto) {
  switch (ipProto) {
    case IPPROTO_ICMP:
      return "icmp";
    case IPPROTO_TCP:
      return "tcp";
    case IPPROTO_UDP:
      return "udp";
    case IPPROTO_ICMPV6:
      return "icmpv6";
    case IPPROTO_SCTP:
      return "sctp";
    default:
      return std::to_string(ipProto);
  }
}

}  // namespace warden::db
