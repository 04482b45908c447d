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

namespace {

// Dotted quad of 4 bytes at `out` (room for 15 characters); returns the end.
char* writeDotted(char* out, const std::uint8_t* b) {
  char* const end = out + 15;
  for (int i = 0; i < 4; ++i) {
    if (i > 0) *out++ = '.';
    out = std::to_chars(out, end, b[i]).ptr;
  }
  return out;
}

}  // namespace

// Formatted by hand, character for character as glibc's inet_ntop writes them (RFC 5952: the
// longest run of two or more zero groups, the first of equal ones, becomes "::"; an address
// whose first six groups are zero ends in a dotted quad): inet_ntop goes through sprintf for
// every group, which showed up in the writer's profile.
std::string addressText(const rules::IpAddress& address) {
  const auto& b = address.bytes;
  const bool mapped = b[10] == 0xff && b[11] == 0xff &&
                      std::all_of(b.begin(), b.begin() + 10, [](std::uint8_t x) { return x == 0; });
  char text[INET6_ADDRSTRLEN];
  if (mapped) return std::string(text, writeDotted(text, b.data() + 12));
  std::array<std::uint16_t, 8> groups{};
  for (std::size_t i = 0; i < groups.size(); ++i) {
    groups[i] = static_cast<std::uint16_t>(b[2 * i] << 8 | b[2 * i + 1]);
  }
  int bestStart = -1, bestLength = 0;
  for (int i = 0; i < 8;) {
    if (groups[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && groups[j] == 0) ++j;
    if (j - i > bestLength) bestStart = i, bestLength = j - i;
    i = j;
  }
  if (bestLength < 2) bestStart = -1;
  char* out = text;
  char* const end = text + sizeof text;
  for (int i = 0; i < 8; ++i) {
    if (bestStart >= 0 && i >= bestStart && i < bestStart + bestLength) {
      if (i == bestStart) *out++ = ':';
      continue;
    }
    if (i != 0) *out++ = ':';
    if (i == 6 && bestStart == 0 && bestLength == 6) {
      out = writeDotted(out, b.data() + 12);
      break;
    }
    out = std::to_chars(out, end, groups[i], 16).ptr;
  }
  if (bestStart >= 0 && bestStart + bestLength == 8) *out++ = ':';
  return std::string(text, out);
}

}  // namespace warden::db
