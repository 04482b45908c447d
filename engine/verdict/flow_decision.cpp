#include "engine/verdict/flow_decision.h"

#include <linux/netfilter.h>
#include <time.h>

#include <algorithm>
#include <climits>

#include "base/clock.h"

namespace warden::engine {

rules::Flow flowOf(const PacketInfo& info, std::uint8_t hook) {
  rules::Flow flow;
  flow.ipProto = info.ipProto;
  if (hook == NF_INET_LOCAL_IN) {
    flow.direction = rules::Direction::kIn;
    flow.local = info.destination;
    flow.remote = info.source;
    flow.localPort = info.destinationPort;
    flow.remotePort = info.sourcePort;
  } else {
    flow.direction = rules::Direction::kOut;
    flow.local = info.source;
    flow.remote = info.destination;
    flow.localPort = info.sourcePort;
    flow.remotePort = info.destinationPort;
  }
  return flow;
}

void nameRemote(const HostCache* hosts, rules::Flow& flow, DnsName& name) {
  if (hosts && flow.direction == rules::Direction::kOut && hosts->lookup(flow.remote, name)) {
    flow.host = name.view();
  }
}

namespace {

// Whether `process` describes a process well enough for profiles to judge it: complete (its
// /proc was read, or its exec event said what it ran), not the kernel's record of the socket
// call alone (kOwnerOnly: its exec event lost and the process gone before /proc was read).
bool describedForPolicy(const ProcessDescription* process) {
  return process != nullptr && process->complete && process->match != nullptr &&
         process->source != ProcessSource::kOwnerOnly;
}

}  // namespace

rules::Decision decideForOwner(const rules::CompiledPolicy& policy, const rules::Flow& flow,
                               const FlowOwner& owner,
                               std::optional<rules::ProfileSelection>* remembered) {
  switch (owner.attribution.kind) {
    case OwnerKind::kKernel:
      return policy.decide(rules::Subject::kernel(), flow);
    case OwnerKind::kUnknown:
      return policy.decide(rules::Subject::unknown(), flow);
    case OwnerKind::kProcess:
      break;
  }
  if (!describedForPolicy(owner.process.get())) {
    return policy.decide(rules::Subject::unknown(), flow);
  }
  if (const std::uint32_t uid = owner.attribution.owner.uid;
      owner.attribution.via == Attribution::Via::kFlowMap && uid != owner.process->uid) {
    // The process changed its uid (setuid) since the image was described: judged by the uid
    // the kernel recorded at the socket call. Its user name is not looked up on this path, so
    // a `user` key does not hold; the profile chosen for the old uid is not reused.
    rules::ProcessInfo now = *owner.process->match;
    now.uid = uid;
    now.user.reset();
    return policy.decide(rules::Subject::process(now), flow);
  }
  return policy.decide(rules::Subject::process(*owner.process->match, remembered), flow);
}

rules::Decision decideWaitingForDescription(const rules::CompiledPolicy& policy,
                                            Attributor& attributor, const PacketInfo& info,
                                            const rules::Flow& flow, std::uint8_t hook, bool hasUid,
                                            FlowOwner& owner) {
  owner.attribution = attributor.attribute(info, hook, hasUid);
  if (owner.attribution.kind == OwnerKind::kProcess) {
    owner.process = attributor.describeForVerdict(owner.attribution);
  }
  return decideForOwner(policy, flow, owner);
}

bool wantsLogRow(const rules::Config& config, const rules::Decision& decision) {
  return decision.log && (decision.action != rules::Action::kAllow || config.logAllowed);
}

db::LogRow verdictRow(const PolicySnapshot& snapshot, const rules::Decision& decision,
                      const rules::Flow& flow, std::uint64_t latencyNs, const FlowOwner& owner) {
  static_assert(static_cast<int>(db::DecidedBy::kKernel) ==
                static_cast<int>(rules::DecidedBy::kKernel));
  static_assert(static_cast<int>(db::DecidedBy::kPrompt) ==
                static_cast<int>(rules::DecidedBy::kPrompt));
  static_assert(DnsName::kMaxLength <= db::LogHost::kMaxLength, "a row records names whole");
  db::LogRow row;
  row.timeNs = base::realtimeNs();
  row.revision = static_cast<std::int64_t>(snapshot.revision());
  row.localAddr = flow.local;
  row.remoteAddr = flow.remote;
  row.localPort = flow.localPort;
  row.remotePort = flow.remotePort;
  row.ipProto = flow.ipProto;
  row.direction = flow.direction;
  row.action = decision.action;
  row.mode = decision.learn ? rules::Mode::kLearn : rules::Mode::kEnforce;
  row.decidedBy = static_cast<db::DecidedBy>(decision.by);
  row.ruleIndex = decision.ruleIndex;
  row.latencyNs = static_cast<std::uint32_t>(std::min<std::uint64_t>(latencyNs, UINT32_MAX));
  // Neither allocates: the profile's name is shared with the policy, which a reload may drop
  // before the writer thread reads the row; the host is copied inline (but see LogHost).
  if (decision.profileName) row.profile = *decision.profileName;
  row.host.assign(flow.host);
  if (owner.attribution.kind == OwnerKind::kProcess) {
    row.pid = static_cast<std::int32_t>(owner.attribution.owner.tgid);
    row.processStartNs = owner.attribution.owner.start_time_ns;
    row.uid = owner.attribution.owner.uid;
    if (owner.process) row.process = loggedProcess(*owner.process);
  }
  return row;
}

}  // namespace warden::engine
