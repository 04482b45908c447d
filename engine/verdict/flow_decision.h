#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "db/log_row.h"
#include "engine/attribution/attributor.h"
#include "engine/dns/host_cache.h"
#include "engine/netfilter/packet.h"
#include "engine/verdict/policy_slot.h"
#include "rules/compiled_policy.h"
#include "rules/decision.h"
#include "rules/flow.h"
#include "rules/profile_selector.h"

namespace warden::engine {

// How a flow is decided, shared by the queue workers (a flow's first packet) and `warden
// reload --redecide` (a flow accepted before), so that both decide and log alike.

// Who owns the flow of one packet, as process attribution found it.
struct FlowOwner {
  Attribution attribution;
  std::shared_ptr<const ProcessDescription> process;  // null unless attributed and described
};

// The flow of a flow's first packet, seen at netfilter hook `hook` (NF_INET_LOCAL_OUT: the
// packet's source is the local end; NF_INET_LOCAL_IN: its destination is).
rules::Flow flowOf(const PacketInfo& info, std::uint8_t hook);

// Sets `flow.host` to the name DNS gave an outbound flow's remote address, copied into `name`
// (which must outlive the flow's use). Inbound flows stay nameless: their source address was
// not looked up by anyone here. `hosts` may be null (no names).
void nameRemote(const HostCache* hosts, rules::Flow& flow, DnsName& name);

// SPEC section 4 for a flow whose owner is attributed (and, for a process, described as far as
// it is): the one way the engine decides a flow. A process known by pid but not described well
// enough for profiles to judge it (its description late, as under a launch storm; only the
// kernel's record of its socket call; never had) gets the engine `unknown` verdict, never
// `default`: lacking knowledge must not be more permissive than knowing. `remembered` (may be
// null) is where the caller keeps the profile chosen for a described process under `policy`
// (rules::Subject::process); the choice is made only when no global rule decides the flow.
rules::Decision decideForOwner(const rules::CompiledPolicy& policy, const rules::Flow& flow,
                               const FlowOwner& owner,
                               std::optional<rules::ProfileSelection>* remembered = nullptr);

// Finds who owns the flow of `info` (into `owner`), then decides it with decideForOwner.
// `hasUid`: whether the packet came from a process's socket (the queue's NFQA_UID). Blocks: it
// waits a bounded moment (Attributor::describeForVerdict) for the description of a process
// that has just started. For the control thread (`warden reload --redecide`); a queue worker
// parks such a packet instead.
rules::Decision decideWaitingForDescription(const rules::CompiledPolicy& policy,
                                            Attributor& attributor, const PacketInfo& info,
                                            const rules::Flow& flow, std::uint8_t hook, bool hasUid,
                                            FlowOwner& owner);

// Whether a decision gets a verdict-log row: every refusal, allowed flows only with
// [log] allowed, and never one whose rule says `log = false`.
bool wantsLogRow(const rules::Config& config, const rules::Decision& decision);

// The verdict-log row of a decided flow (SPEC section 7).
db::LogRow verdictRow(const PolicySnapshot& snapshot, const rules::Decision& decision,
                      const rules::Flow& flow, std::uint64_t latencyNs, const FlowOwner& owner);

}  // namespace warden::engine
