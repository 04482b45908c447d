#include "engine/netfilter/packet.h"

#include <netinet/in.h>

#include <cstring>

namespace warden::engine {
namespace {

constexpr std::size_t kIpv4MinHeader = 20;
constexpr std::size_t kIpv6Header = 40;
constexpr int kMaxExtensionHeaders = 16;  // a longer chain is hostile, not useful

std::uint16_t readBe16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

ParseResult fail(ParseError error) {
  ParseResult r;
  r.error = error;
  return r;
}

// Reads the transport header at `offset` of `p`, `available` bytes of it present there.
ParseResult parseTransport(PacketInfo info, const std::uint8_t* p, std::size_t offset,
                           std::size_t available) {
  ParseResult r;
  if (info.fragment) {
    r.ok = true;
    r.info = info;
    return r;
  }
  const std::uint8_t* l4 = p + offset;
  switch (info.ipProto) {
    case IPPROTO_TCP:
      if (available < 20) return fail(ParseError::kTruncatedL4);
      info.sourcePort = readBe16(l4);
      info.destinationPort = readBe16(l4 + 2);
      info.tcpFlags = l4[13];
      break;
    case IPPROTO_UDP:
    case IPPROTO_UDPLITE:
      if (available < 8) return fail(ParseError::kTruncatedL4);
      info.sourcePort = readBe16(l4);
      info.destinationPort = readBe16(l4 + 2);
      break;
    case IPPROTO_SCTP:
      if (available < 12) return fail(ParseError::kTruncatedL4);
      info.sourcePort = readBe16(l4);
      info.destinationPort = readBe16(l4 + 2);
      break;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      if (available < 4) return fail(ParseError::kTruncatedL4);
      info.icmpType = l4[0];
      info.icmpCode = l4[1];
      if (available >= 8) info.icmpEchoId = readBe16(l4 + 4);
      break;
    default:
      break;  // other protocols carry no ports; the decision sees only addresses
  }
  info.transportOffset = static_cast<std::uint32_t>(offset);
  info.transportEnd = static_cast<std::uint32_t>(offset + available);
  r.ok = true;
  r.info = info;
  return r;
}

ParseResult parseIpv4(std::span<const std::uint8_t> p, std::size_t wireLength) {
  if (p.size() < kIpv4MinHeader) return fail(ParseError::kTooShort);
  const std::size_t headerLength = static_cast<std::size_t>(p[0] & 0x0f) * 4;
  const std::size_t totalLength = readBe16(&p[2]);
  if (headerLength < kIpv4MinHeader || headerLength > p.size() || totalLength < headerLength ||
      totalLength > wireLength) {
    return fail(ParseError::kBadHeader);
  }
  PacketInfo info;
  info.ipVersion = 4;
  info.ipProto = p[9];
  std::uint32_t source, destination;
  std::memcpy(&source, &p[12], 4);
  std::memcpy(&destination, &p[16], 4);
  info.source = rules::IpAddress::fromV4(source);
  info.destination = rules::IpAddress::fromV4(destination);
  const std::uint16_t fragmentOffset = readBe16(&p[6]) & 0x1fff;
  info.fragment = fragmentOffset != 0;
  const std::size_t end = std::min(p.size(), totalLength);
  return parseTransport(info, p.data(), headerLength, end - headerLength);
}

ParseResult parseIpv6(std::span<const std::uint8_t> p, std::size_t wireLength) {
  if (p.size() < kIpv6Header) return fail(ParseError::kTooShort);
  const std::size_t payloadLength = readBe16(&p[4]);
  // A zero payload length means a jumbogram (hop-by-hop option); bound by the wire length.
  const std::size_t totalLength = payloadLength == 0 ? wireLength : kIpv6Header + payloadLength;
  if (totalLength > wireLength) return fail(ParseError::kBadHeader);
  const std::size_t end = std::min(p.size(), totalLength);

  PacketInfo info;
  info.ipVersion = 6;
  std::uint8_t raw[16];
  std::memcpy(raw, &p[8], 16);
  info.source = rules::IpAddress::fromV6(raw);
  std::memcpy(raw, &p[24], 16);
  info.destination = rules::IpAddress::fromV6(raw);

  std::uint8_t next = p[6];
  std::size_t offset = kIpv6Header;
  for (int hops = 0;; ++hops) {
    if (hops > kMaxExtensionHeaders) return fail(ParseError::kBadExtension);
    switch (next) {
      // The headers the kernel walks past to the transport (ipv6_ext_hdr(), which conntrack's
      // ipv6_skip_exthdr() and nftables' meta l4proto go by), and no others: the mobility
      // header (135), HIP (139) and shim6 (140) are extension headers to IANA, but to this
      // kernel they are the protocol, which no TCP or UDP socket receives and whose ct entry
      // (addresses and protocol only) passes whatever follows once accepted. Read as
      // headers, a raw socket's packet of protocol 135 wrapping a TCP header would be decided
      // as that TCP flow, and go out on its verdict.
      case IPPROTO_HOPOPTS:
      case IPPROTO_ROUTING:
      case IPPROTO_DSTOPTS:
        if (offset + 8 > end) return fail(ParseError::kBadExtension);
        next = p[offset];
        offset += (static_cast<std::size_t>(p[offset + 1]) + 1) * 8;
        continue;
      case IPPROTO_AH:
        if (offset + 8 > end) return fail(ParseError::kBadExtension);
        next = p[offset];
        offset += (static_cast<std::size_t>(p[offset + 1]) + 2) * 4;
        continue;
      case IPPROTO_FRAGMENT: {
        if (offset + 8 > end) return fail(ParseError::kBadExtension);
        const std::uint16_t fragmentOffset = readBe16(&p[offset + 2]) >> 3;
        info.fragment = info.fragment || fragmentOffset != 0;
        next = p[offset];
        offset += 8;
        continue;
      }
      case IPPROTO_NONE:
        info.ipProto = next;
        info.fragment = true;  // nothing follows: treat like a packet without ports
        return parseTransport(info, nullptr, 0, 0);
      default:
        break;
    }
    break;
  }
  if (offset > end) return fail(ParseError::kBadExtension);
  info.ipProto = next;
  return parseTransport(info, p.data(), offset, end - offset);
}

}  // namespace

std::string_view toString(ParseError error) {
  switch (error) {
    case ParseError::kTooShort:
      return "packet shorter than its IP header";
    case ParseError::kBadVersion:
      return "not an IPv4 or IPv6 packet";
    case ParseError::kBadHeader:
      return "inconsistent IP header lengths";
    case ParseError::kTruncatedL4:
      return "truncated transport header";
    case ParseError::kBadExtension:
      return "malformed IPv6 extension header chain";
  }
  return "?";
}

ParseResult parsePacket(std::span<const std::uint8_t> packet, std::size_t wireLength) {
  if (packet.empty()) return fail(ParseError::kTooShort);
  if (wireLength < packet.size()) wireLength = packet.size();
  switch (packet[0] >> 4) {
    case 4:
      return parseIpv4(packet, wireLength);
    case 6:
      return parseIpv6(packet, wireLength);
    default:
      return fail(ParseError::kBadVersion);
  }
}

}  // namespace warden::engine
