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

// The fixed header every DNS message begins with; its question follows at kDnsHeaderSize.
inline constexpr std::size_t kDnsHeaderSize = 12;
struct DnsHeader {
  std::uint16_t id = 0;
  bool response = false;
  bool truncated = false;  // TC: the answer did not fit
  std::uint8_t rcode = 0;
};
// False when `message` is shorter than a header.
bool readDnsHeader(std::span<const std::uint8_t> message, DnsHeader& out);

// The most a question takes on the wire: the name's labels and root, type and class.
inline constexpr std::size_t kMaxDnsQuestion = DnsName::kMaxLength + 2 + 4;
// The question of `name` (lower case, as DnsName holds it) in wire form into `out`, each
// letter in upper case where the next bit of `caseBits` is set (bit i of byte i / 8: DNS 0x20);
// `caseBits` must hold a bit per letter (32 bytes always do). Its length, or 0 when the name
// has a label no DNS name may have (empty, or longer than 63).
std::size_t writeDnsQuestion(std::string_view name, std::uint16_t type, std::uint16_t qclass,
                             std::span<const std::uint8_t> caseBits,
                             std::span<std::uint8_t, kMaxDnsQuestion> out);

// A standard query with recursion desired: `id`, the one `question` (in wire form), and an
// EDNS record offering `ednsPayload` bytes for the answer. Written into `out`; its length.
inline constexpr std::size_t kDnsQueryOverhead = kDnsHeaderSize + 11;  // header, EDNS record
inline constexpr std::size_t kMaxDnsQuery = kDnsQueryOverhead + kMaxDnsQuestion;
std::size_t writeDnsQuery(std::uint16_t id, std::span<const std::uint8_t> question,
                          std::uint16_t ednsPayload, std::span<std::uint8_t, kMaxDnsQuery> out);

}  // namespace warden::engine
