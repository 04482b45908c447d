#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "rules/address.h"

namespace warden::engine {

// A DNS name as text: lower case, labels joined by '.', no trailing dot (the root is empty).
// A fixed buffer, so that names move through the packet path without allocating.
struct DnsName {
  static constexpr std::size_t kMaxLength = 253;  // RFC 1035: 255 octets on the wire

  std::array<char, kMaxLength> text{};
  std::uint8_t length = 0;
  // When the name stops being the address's (HostCache::nowSeconds), if it came from there.
  std::uint64_t expiresAt = 0;

  std::string_view view() const { return {text.data(), length}; }
  void assign(std::string_view name);  // cut to kMaxLength; the caller passes a valid name
};

// One address an answer gave the question's name, with the time it may be kept (seconds).
struct DnsAddress {
  rules::IpAddress address;
  std::uint32_t ttl = 0;
};

enum class DnsStatus : std::uint8_t {
  kAnswers,    // a response to a class IN question: `addresses` (possibly none) belong to it
  kIgnored,    // well formed, nothing to learn: a query, another opcode, an error code, ...
  kMalformed,  // broken or hostile: nothing of it is used
};

std::string_view toString(DnsStatus status);

// A message's transaction id and its one question. The name is kept in lower case, so that
// comparing two questions ignores the case a resolver randomized (DNS 0x20).
struct DnsQuestion {
  std::uint16_t id = 0;
  std::uint16_t type = 0;
  std::uint16_t qclass = 0;
  DnsName name;

  bool operator==(const DnsQuestion& other) const {
    return id == other.id && type == other.type && qclass == other.qclass &&
           name.view() == other.name.view();
  }
};

// What a DNS response says about the name that was asked for: the addresses of its A and AAAA
// answers, found directly or through a chain of CNAMEs (so a CDN's address maps to the name
// the application resolved, not to the CDN's).
struct DnsResponse {
  static constexpr std::size_t kMaxAddresses = 32;  // more answers than that are not recorded

  DnsStatus status = DnsStatus::kIgnored;
  // Whether `question` was read: a response with exactly one question, whose name, type and
  // class are whole (also when the status is kIgnored, e.g. an NXDOMAIN answer).
  bool hasQuestion = false;
  DnsQuestion question;
  std::array<DnsAddress, kMaxAddresses> addresses{};
  std::uint8_t addressCount = 0;

  std::span<const DnsAddress> answers() const { return {addresses.data(), addressCount}; }
};

// Reads a DNS response from a whole UDP payload. Only a message that parses to its last byte
// is believed: every record of every section is checked (framing, names, lengths) before any
// of it is used, and bytes after the last record make it malformed.
// Hostile input is expected: every read is bounds-checked, compression pointers must point
// backwards (so they cannot loop) and are followed a bounded number of times, names longer
// than 253 characters or with characters no host name has are refused (in the answer
// section; names in the other sections are only checked for their form). Bounded time, no
// allocation; `out` is the only memory written. Thread-safe (no shared state).
DnsStatus parseDnsResponse(std::span<const std::uint8_t> message, DnsResponse& out);

// Reads the question of a DNS query (a standard query with exactly one question whose name is
// a host name). False when the message is anything else. Same care and bounds as above.
bool parseDnsQuery(std::span<const std::uint8_t> message, DnsQuestion& out);

}  // namespace warden::engine
