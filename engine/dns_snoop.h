#pragma once

#include "engine/counters.h"
#include "engine/host_cache.h"
#include "engine/nfqueue.h"

namespace warden::engine {

// Reads a DNS reply that the table queued to be read (an answer to an already accepted flow,
// tagged with MarkBits::dnsReply) and records the addresses it gives in `hosts`. Counts the
// reply, its addresses, or that it was malformed, in `counters`. Gives no verdict: the caller
// accepts the packet whatever it holds. No allocation, no lock but the cache's writer mutex.
void learnFromDnsReply(const QueuedPacket& packet, HostCache& hosts, QueueCounters& counters);

}  // namespace warden::engine
