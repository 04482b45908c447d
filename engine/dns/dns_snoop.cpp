#include "engine/dns/dns_snoop.h"

// netinet/in.h before the linux/ headers, which otherwise redefine its types.
#include <netinet/in.h>

#include <linux/netfilter.h>

#include "base/clock.h"
#include "engine/dns/dns.h"

namespace warden::engine {
namespace {

constexpr std::size_t kUdpHeader = 8;
constexpr std::uint16_t kDnsPort = 53;

// The UDP payload of a parsed packet, or an empty span if its UDP header is inconsistent or
// the queue copied only a prefix of it (a message not seen whole is not believed).
std::span<const std::uint8_t> udpPayload(const QueuedPacket& packet, const PacketInfo& info) {
  const std::size_t start = info.transportOffset;
  const std::size_t end = info.transportEnd;
  if (info.ipProto != IPPROTO_UDP || info.fragment || start == 0 || end < start + kUdpHeader ||
      packet.payload.size() < packet.wireLength) {
    return {};
  }
  const std::size_t udpLength =
      (std::size_t{packet.payload[start + 4]} << 8) | packet.payload[start + 5];
  if (udpLength < kUdpHeader || start + udpLength > end) return {};
  return packet.payload.subspan(start + kUdpHeader, udpLength - kUdpHeader);
}

// Reads a reply from `info.source` to `info.destination`.
DnsRead readReply(const QueuedPacket& packet, const PacketInfo& info, PendingDnsQueries& queries,
                  HostCache& hosts, QueueCounters& counters, UnconfirmedReply& unconfirmed) {
  QueueCounters::bump(counters.dnsReplies);
  const auto message = udpPayload(packet, info);
  DnsResponse& response = unconfirmed.response;
  if (message.empty() || parseDnsResponse(message, response) == DnsStatus::kMalformed) {
    QueueCounters::bump(counters.dnsMalformed);
    return DnsRead::kDone;
  }
  // Not a response to one question: it answers nothing.
  if (!response.hasQuestion) return DnsRead::kDone;
  DnsExchange& reply = unconfirmed.exchange;
  reply.client = info.destination;
  reply.clientPort = info.destinationPort;
  reply.server = info.source;
  reply.serverPort = info.sourcePort;
  reply.question = response.question;
  // Matched even when it teaches nothing (an NXDOMAIN): the query has had its answer.
  if (!queries.answer(reply, base::monotonicNs())) {
    QueueCounters::bump(counters.dnsUnsolicited);
    return DnsRead::kUnsolicited;
  }
  if (response.addressCount == 0) return DnsRead::kDone;
  if (!repliedOverLoopback(packet.inDevice)) return DnsRead::kUnconfirmed;
  // From this host (a local resolver), so believed; but not what a server contradicted when
  // wardend asked it (a local cache may have kept a forged answer from upstream).
  std::size_t learned = 0;
  for (const DnsAddress& answer : response.answers()) {
    if (hosts.refused(answer.address, response.question.name.view())) continue;
    hosts.record(answer.address, response.question.name.view(), answer.ttl);
    ++learned;
  }
  QueueCounters::bump(counters.dnsAnswers, learned);
  QueueCounters::bump(counters.dnsUnconfirmed, response.addressCount - learned);
  return DnsRead::kDone;
}

}  // namespace

bool readDnsQuery(const QueuedPacket& packet, const PacketInfo& info, DnsExchange& out) {
  if (info.ipProto != IPPROTO_UDP || info.destinationPort != kDnsPort) return false;
  const auto message = udpPayload(packet, info);
  if (message.empty() || !parseDnsQuery(message, out.question)) return false;
  out.client = info.source;
  out.clientPort = info.sourcePort;
  out.server = info.destination;
  out.serverPort = info.destinationPort;
  return true;
}

void rememberDnsQuery(const DnsExchange& query, PendingDnsQueries& queries,
                      QueueCounters& counters) {
  QueueCounters::bump(counters.dnsQueries);
  if (queries.record(query, base::monotonicNs()) == PendingDnsQueries::Recorded::kEvicted) {
    QueueCounters::bump(counters.dnsQueriesEvicted);
  }
}

DnsRead readDnsPacket(const QueuedPacket& packet, PendingDnsQueries& queries, HostCache& hosts,
                      QueueCounters& counters, const DnsConfirmerPorts* own,
                      UnconfirmedReply& unconfirmed) {
  const ParseResult parsed = parsePacket(packet.payload, packet.wireLength);
  // The hook tells the direction: the table tags queries on output, replies on input (a query
  // over loopback passes input too, but its source port is not 53, so it is not tagged there).
  const bool query = packet.hook == NF_INET_LOCAL_OUT;
  // wardend's own exchanges: its port is the local one, the source of a query, the
  // destination of a reply (no other socket may have it, see DnsConfirmerPorts).
  if (parsed.ok && own &&
      own->contains(!parsed.info.source.isV4(),
                    query ? parsed.info.sourcePort : parsed.info.destinationPort)) {
    return DnsRead::kDone;
  }
  if (query) {
    DnsExchange sent;
    if (parsed.ok && readDnsQuery(packet, parsed.info, sent)) {
      rememberDnsQuery(sent, queries, counters);
    }
    return DnsRead::kDone;
  }
  if (!parsed.ok) {
    QueueCounters::bump(counters.dnsReplies);
    QueueCounters::bump(counters.dnsMalformed);
    return DnsRead::kDone;
  }
  return readReply(packet, parsed.info, queries, hosts, counters, unconfirmed);
}

}  // namespace warden::engine
