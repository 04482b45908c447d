#pragma once

#include <cstdint>
#include <memory>

#include "db/log_row.h"
#include "engine/attribution/attributor.h"
#include "engine/dns/host_cache.h"
#include "engine/netfilter/packet.h"
#include "engine/verdict/policy_slot.h"
#include "rules/decision.h"
#include "rules/flow.h"

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

// Whether `process` describes a process well enough for profiles to judge it: complete (its
// /proc was read, or its exec event said what it ran), not the kernel's record of the socket
// call alone (kOwnerOnly: its exec event lost and the process gone before /proc was read).
inline bool describedForPolicy(const ProcessDescription* process) {
  return process != nullptr && process->complete && process->match != nullptr &&
         process->source != ProcessSource::kOwnerOnly;
}

// SPEC section 4 steps 2-4 for an owner already attributed (and, for a process, described as
// far as it is): the engine `kernel` or `unknown` verdict, or the process's profile. A process
// known by pid but not described (describedForPolicy: its description late, as under a launch
// storm, or never had) gets the engine `unknown` verdict, never `default`: lacking knowledge
// must not be more permissive than knowing. `select(match)` chooses a described process's
// profile (a queue worker remembers its choices); it is asked only when no global rule decides
// the flow.
template <typename Select>
rules::Decision decideForOwner(const rules::CompiledPolicy& policy, const rules::Flow& flow,
                               const FlowOwner& owner, Select&& select) {
  switch (owner.attribution.kind) {
    case OwnerKind::kKernel:
      return policy.decideKernel(flow);
    case OwnerKind::kUnknown:
      return policy.decide(nullptr, flow);
    case OwnerKind::kProcess:
      break;
  }
  if (!describedForPolicy(owner.process.get())) return policy.decide(nullptr, flow);
  return policy.decideWith([&] { return select(*owner.process->match); }, flow);
}

// The same with the policy's own choice of profile.
rules::Decision decideForOwner(const rules::CompiledPolicy& policy, const rules::Flow& flow,
                               const FlowOwner& owner);

// SPEC section 4 steps 2-4: who owns the flow (filled into `owner`), then what `policy` says.
// `hasUid`: whether the packet came from a process's socket (the queue's NFQA_UID). May wait
// a bounded moment for the description of a process that has just started.
rules::Decision decideOwned(const rules::CompiledPolicy& policy, Attributor& attributor,
                            const PacketInfo& info, const rules::Flow& flow, std::uint8_t hook,
                            bool hasUid, FlowOwner& owner);

// Whether a decision gets a verdict-log row: every refusal, allowed flows only with
// [log] allowed, and never one whose rule says `log = false`.
bool wantsLogRow(const rules::Config& config, const rules::Decision& decision);

// The verdict-log row of a decided flow (SPEC section 7).
db::LogRow verdictRow(const PolicySnapshot& snapshot, const rules::Decision& decision,
                      const rules::Flow& flow, std::uint64_t latencyNs, const FlowOwner& owner);

}  // namespace warden::engine
