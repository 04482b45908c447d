#pragma once

#include "engine/dns/dns_confirmer.h"
#include "engine/dns/host_cache.h"
#include "engine/dns/pending_dns_queries.h"
#include "engine/netfilter/nfqueue.h"
#include "engine/netfilter/packet.h"
#include "engine/netfilter/queue_counters.h"

namespace warden::engine {

// The DNS query an outbound UDP packet to port 53 carries (`info` is the packet parsed), in
// `out`; false when it carries none that could be answered with names (not a standard query
// for one host name, or not captured whole).
bool readDnsQuery(const QueuedPacket& packet, const PacketInfo& info, DnsExchange& out);

// A reply from another host that answers a pending query with addresses: they are learned
// only once the server has said them again to wardend itself (DnsConfirmer).
struct UnconfirmedReply {
  DnsExchange exchange;
  DnsResponse response;
};

// What readDnsPacket found.
enum class DnsRead : std::uint8_t {
  kDone,         // nothing more to do: a query remembered, a reply learned or of no use, ...
  kUnconfirmed,  // a reply from another host with addresses, left in `unconfirmed`
  kUnsolicited,  // a well-formed reply that answers no pending query: its exchange (ends,
                 // id, question) left in `unconfirmed.exchange`
};

// Reads a DNS packet the table queued to be read (a packet of an already accepted UDP flow to
// or from port 53, tagged with MarkBits::dnsReply): a query the flow sends is remembered in
// `queries`; a reply it receives that answers one of those queries (same ends, id and
// question; the query is then forgotten) and parses whole is believed: its addresses are
// recorded in `hosts` when it came over loopback (repliedOverLoopback) and the cache has not
// refused them (HostCache::refuse), else they are left in `unconfirmed`. Packets of wardend's
// own exchanges (`own`'s ports; may be null) are not read. Counts what it saw in `counters`.
// Gives no verdict. No allocation; locks: `queries`' and the cache's mutexes.
DnsRead readDnsPacket(const QueuedPacket& packet, PendingDnsQueries& queries, HostCache& hosts,
                      QueueCounters& counters, const DnsConfirmerPorts* own,
                      UnconfirmedReply& unconfirmed);

// Remembers a query the flow sends, counting it (and an older query it pushed out).
void rememberDnsQuery(const DnsExchange& query, PendingDnsQueries& queries,
                      QueueCounters& counters);

}  // namespace warden::engine
