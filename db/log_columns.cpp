#include "db/log_columns.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <charconv>
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

std::string addressText(const rules::IpAddress& address) {
  const auto& b = address.bytes;
  const bool mapped = b[10] == 0xff && b[11] == 0xff &&
                      std::all_of(b.begin(), b.begin() + 10, [](std::uint8_t x) { return x == 0; });
  if (mapped) {
    // Formatted by hand: glibc's inet_ntop goes through sprintf for IPv4, which showed up in
    // the writer's profile.
    char text[16];
    char* const end = text + sizeof text;
    char* out = text;
    for (int i = 12; i < 16; ++i) {
      if (i > 12 && out < end) *out++ = '.';  // always room (15 characters at most)
      out = std::to_chars(out, end, b[i]).ptr;
    }
    return std::string(text, out);
  }
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, b.data(), text, sizeof text);
  return text;
}

}  // namespace warden::db
