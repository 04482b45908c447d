#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "rules/address.h"

namespace warden::engine {

// What the decision needs from the first packet of a flow: addresses, protocol, ports.
// Parsed in place from the queued payload; no allocation.
// TCP header flags, as PacketInfo::tcpFlags holds them.
inline constexpr std::uint8_t kTcpSyn = 0x02;
inline constexpr std::uint8_t kTcpAck = 0x10;

struct PacketInfo {
  std::uint8_t ipVersion = 0;  // 4 or 6
  std::uint8_t ipProto = 0;    // transport protocol after any IPv6 extension headers
  rules::IpAddress source;
  rules::IpAddress destination;
  std::uint16_t sourcePort = 0;       // TCP/UDP only
  std::uint16_t destinationPort = 0;  // TCP/UDP only
  std::uint8_t icmpType = 0;          // ICMP/ICMPv6 only
  std::uint8_t icmpCode = 0;
  std::uint16_t icmpEchoId = 0;  // an echo request's or reply's identifier (ICMP/ICMPv6)
  std::uint8_t tcpFlags = 0;
  bool fragment = false;  // a non-first fragment: no transport header to read
  // Where the transport header starts in the buffer, and where the packet's data ends in it
  // (the buffer may hold only a prefix of the packet); both 0 when there is no header.
  std::uint32_t transportOffset = 0;
  std::uint32_t transportEnd = 0;
  // Not from the packet's bytes: the interface an inbound packet came in on, as the queue
  // tells it (0: not told). The kernel delivers to a socket bound to that device
  // (SO_BINDTODEVICE, an IPv6 link-local bind) before others, and a socket lookup must say it.
  std::uint32_t inDevice = 0;
  // Not a packet: the first packet of a flow conntrack remembers (reload --redecide), whose
  // interface is not known either way; a socket lookup then also finds sockets bound to one.
  bool remembered = false;
};

// An ICMP echo request (IPv4 type 8, ICMPv6 type 128): what ping sends.
inline bool isEchoRequest(const PacketInfo& packet) {
  return (packet.ipProto == 1 && packet.icmpType == 8) ||
         (packet.ipProto == 58 && packet.icmpType == 128);
}

enum class ParseError : std::uint8_t {
  kTooShort,      // shorter than the IP header it claims to be
  kBadVersion,    // neither IPv4 nor IPv6
  kBadHeader,     // header length or total length inconsistent with the buffer
  kTruncatedL4,   // transport header cut short
  kBadExtension,  // IPv6 extension header chain malformed or too long
};

std::string_view toString(ParseError error);

struct ParseResult {
  bool ok = false;
  ParseError error = ParseError::kTooShort;
  PacketInfo info;
};

// Parses an IPv4 or IPv6 packet starting at its IP header (as NFQUEUE delivers it).
// `length` may be shorter than the packet's total length when the queue copies only a prefix:
// `wireLength` is the packet's real length (0 = same as the buffer).
ParseResult parsePacket(std::span<const std::uint8_t> packet, std::size_t wireLength = 0);

}  // namespace warden::engine
