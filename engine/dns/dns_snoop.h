#pragma once

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

// Reads a DNS packet the table queued to be read (a packet of an already accepted UDP flow to
// or from port 53, tagged with MarkBits::dnsReply): a query the flow sends is remembered in
// `queries`; a reply it receives records the addresses it gives in `hosts`, but only if it
// answers one of those queries (same ends, id and question; the query is then forgotten) and
// parses whole. Counts what it saw in `counters`. Gives no verdict: the caller accepts the
// packet whatever it holds. No allocation; locks: `queries`' and the cache's writer mutex.
void readDnsPacket(const QueuedPacket& packet, PendingDnsQueries& queries, HostCache& hosts,
                   QueueCounters& counters);

// Remembers a query the flow sends, counting it (and an older query it pushed out).
void rememberDnsQuery(const DnsExchange& query, PendingDnsQueries& queries,
                      QueueCounters& counters);

}  // namespace warden::engine
