#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/error.h"
#include "db/log_producer.h"
#include "engine/netfilter/conntrack.h"
#include "engine/netfilter/marks.h"
#include "engine/netfilter/packet.h"
#include "engine/verdict/policy_slot.h"

namespace warden::engine {

class Attributor;
class HostCache;

// What `warden reload --redecide` did to the flows accepted before (the control reply's
// "redecide" object). examined = kept + denied + rejected + gone + failed.
struct RedecideCounts {
  std::uint64_t examined = 0;  // accepted flows conntrack still held
  std::uint64_t kept = 0;      // allowed by the new policy too (or by learn mode)
  std::uint64_t denied = 0;    // revoked: dropped from now on
  std::uint64_t rejected = 0;  // revoked: rejected from now on
  std::uint64_t learned = 0;   // among kept: refused by the policy, kept by learn mode
  std::uint64_t gone = 0;      // ended: closed both ways, socket gone, or gone before re-marking
  std::uint64_t failed = 0;    // their mark could not be changed

  std::uint64_t revoked() const { return denied + rejected; }
  nlohmann::json toJson() const;
};

// The hook that decided a flow first: NF_INET_LOCAL_OUT when its original source is an
// address of this network namespace (loopback flows too: the output hook sees them first),
// NF_INET_LOCAL_IN otherwise.
std::uint8_t decidingHook(const ConntrackTuple& original, std::span<const rules::IpAddress> local);

// The flow's first packet as a queue worker would have parsed it.
PacketInfo firstPacketOf(const ConntrackTuple& original);

// The addresses of this network namespace's interfaces.
[[nodiscard]] base::Result<std::vector<rules::IpAddress>> localAddresses();

// Decides every flow the table accepted before again (with the host names DNS gave their
// remote ends, from `hosts`, which may be null) under `snapshot`, exactly as a queue worker
// decides a first packet, and marks those it now refuses as revoked (learn mode only counts
// them). A flow no socket holds any more is only counted gone: there is nobody to decide for.
// One verdict-log row per revoked flow goes to `log`. Control thread only; blocks while it
// talks to the kernel and describes processes.
[[nodiscard]] base::Result<RedecideCounts> redecideAccepted(const PolicySnapshot& snapshot,
                                                            MarkBits marks, Attributor& attributor,
                                                            const HostCache* hosts,
                                                            db::LogProducer& log);

}  // namespace warden::engine
