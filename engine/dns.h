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

  std::string_view view() const { return {text.data(), length}; }
  void assign(std::string_view name);  // cut to kMaxLength; the caller passes a valid name
};

// One address an answer gave the question's name, with the time it may be kept (seconds).
struct DnsAddress {
  rules::IpAddress address;
  std::uint32_t ttl = 0;
};

enum class DnsStatus : std::uint8_t {
  kAnswers,    // a response to a class IN question: `addresses` (possibly none) belong to `name`
  kIgnored,    // well formed, nothing to learn: a query, another opcode, an error code, ...
  kMalformed,  // broken or hostile: nothing of it is used
};

std::string_view toString(DnsStatus status);

// What a DNS response says about the name that was asked for: the addresses of its A and AAAA
// answers, found directly or through a chain of CNAMEs (so a CDN's address maps to the name
// the application resolved, not to the CDN's).
struct DnsResponse {
  static constexpr std::size_t kMaxAddresses = 32;  // more answers than that are not recorded

  DnsStatus status = DnsStatus::kIgnored;
  DnsName name;  // the question's name
  std::array<DnsAddress, kMaxAddresses> addresses{};
  std::uint8_t addressCount = 0;
  bool cut = false;  // the buffer ended inside the answers: only the records before were read

  std::span<const DnsAddress> answers() const { return {addresses.data(), addressCount}; }
};

// Reads a DNS response from a UDP payload. `prefixOnly`: the buffer holds only the start of
// the message (the queue copies a prefix of each packet), so running out of bytes inside the
// answer section ends the reading instead of making the message malformed.
// Hostile input is expected: every read is bounds-checked, compression pointers must point
// backwards (so they cannot loop) and are followed a bounded number of times, names longer
// than 253 characters or with characters no host name has are refused. Bounded time, no
// allocation; `out` is the only memory written. Thread-safe (no shared state).
DnsStatus parseDnsResponse(std::span<const std::uint8_t> message, bool prefixOnly,
                           DnsResponse& out);

}  // namespace warden::engine
