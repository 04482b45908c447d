#include "engine/dns_snoop.h"

#include <netinet/in.h>

#include "engine/dns.h"
#include "engine/packet.h"

namespace warden::engine {
namespace {

constexpr std::size_t kUdpHeader = 8;

// The UDP payload of a parsed packet, or an empty span if its UDP header is inconsistent.
// `prefixOnly` tells whether the buffer ends before the datagram does.
std::span<const std::uint8_t> udpPayload(const QueuedPacket& packet, const PacketInfo& info,
                                         bool& prefixOnly) {
  const std::size_t start = info.transportOffset;
  const std::size_t end = info.transportEnd;
  if (info.ipProto != IPPROTO_UDP || info.fragment || start == 0 || end < start + kUdpHeader) {
    return {};
  }
  const std::size_t udpLength =
      (std::size_t{packet.payload[start + 4]} << 8) | packet.payload[start + 5];
  if (udpLength < kUdpHeader) return {};
  const bool captured = packet.payload.size() >= packet.wireLength;
  if (start + udpLength > end) {
    if (captured) return {};  // claims more than the packet holds
    prefixOnly = true;
    return packet.payload.subspan(start + kUdpHeader, end - start - kUdpHeader);
  }
  prefixOnly = false;
  return packet.payload.subspan(start + kUdpHeader, udpLength - kUdpHeader);
}

}  // namespace

void learnFromDnsReply(const QueuedPacket& packet, HostCache& hosts, QueueCounters& counters) {
  QueueCounters::bump(counters.dnsReplies);
  const ParseResult parsed = parsePacket(packet.payload, packet.wireLength);
  bool prefixOnly = false;
  const auto message =
      parsed.ok ? udpPayload(packet, parsed.info, prefixOnly) : std::span<const std::uint8_t>{};
  DnsResponse response;
  if (message.empty() || parseDnsResponse(message, prefixOnly, response) == DnsStatus::kMalformed) {
    QueueCounters::bump(counters.dnsMalformed);
    return;
  }
  for (const DnsAddress& answer : response.answers()) {
    hosts.record(answer.address, response.name.view(), answer.ttl);
  }
  QueueCounters::bump(counters.dnsAnswers, response.addressCount);
}

}  // namespace warden::engine
