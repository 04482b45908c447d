#include "engine/verdict/redecide.h"

// netinet/in.h before the linux/ headers, which otherwise redefine its types.
#include <netinet/in.h>

#include <ifaddrs.h>
#include <linux/netfilter.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/logging.h"
#include "engine/attribution/attributor.h"
#include "engine/verdict/flow_decision.h"

namespace warden::engine {
namespace {

struct IfaddrsFree {
  void operator()(ifaddrs* list) const { freeifaddrs(list); }
};

}  // namespace

nlohmann::json RedecideCounts::toJson() const {
  return {{"examined", examined}, {"kept", kept},       {"revoked", revoked()}, {"denied", denied},
          {"rejected", rejected}, {"learned", learned}, {"gone", gone},         {"failed", failed}};
}

std::uint8_t decidingHook(const ConntrackTuple& original, std::span<const rules::IpAddress> local) {
  const bool ours = std::find(local.begin(), local.end(), original.source) != local.end();
  return ours ? NF_INET_LOCAL_OUT : NF_INET_LOCAL_IN;
}

PacketInfo firstPacketOf(const ConntrackTuple& original) {
  PacketInfo info;
  info.ipVersion = original.family == AF_INET6 ? 6 : 4;
  info.ipProto = original.ipProto;
  info.source = original.source;
  info.destination = original.destination;
  info.sourcePort = original.sourcePort;
  info.destinationPort = original.destinationPort;
  info.remembered = true;
  return info;
}

base::Result<std::vector<rules::IpAddress>> localAddresses() {
  ifaddrs* raw = nullptr;
  if (getifaddrs(&raw) < 0) return std::unexpected(base::errnoError("listing local addresses"));
  std::unique_ptr<ifaddrs, IfaddrsFree> list(raw);
  std::vector<rules::IpAddress> addresses;
  for (const ifaddrs* a = raw; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr) continue;
    if (a->ifa_addr->sa_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
      addresses.push_back(rules::IpAddress::fromV4(in->sin_addr.s_addr));
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a->ifa_addr);
      addresses.push_back(rules::IpAddress::fromV6(in6->sin6_addr.s6_addr));
    }
  }
  return addresses;
}

base::Result<RedecideCounts> redecideAccepted(const PolicySnapshot& snapshot, MarkBits marks,
                                              Attributor& attributor, const HostCache* hosts,
                                              db::LogProducer& log) {
  const rules::CompiledPolicy& policy = *snapshot.policy;
  auto local = localAddresses();
  if (!local) return std::unexpected(local.error());
  auto conntrack = Conntrack::open();
  if (!conntrack) return std::unexpected(conntrack.error());
  auto entries = conntrack->dumpMarked(marks.accept(), marks.mask);
  if (!entries) return std::unexpected(entries.error());
  attributor.setImageHashing(policy.usesSha256());

  RedecideCounts counts;
  for (const ConntrackEntry& entry : *entries) {
    const std::uint64_t started = base::monotonicNs();
    ++counts.examined;
    if (entry.closed()) {
      ++counts.gone;  // its sockets are closed: no process to ask, nothing left to cut
      continue;
    }
    const std::uint8_t hook = decidingHook(entry.original, *local);
    if (hook == NF_INET_LOCAL_IN && !policy.config().inbound) {
      ++counts.kept;  // inbound flows are no longer warden's to decide
      continue;
    }
    const PacketInfo info = firstPacketOf(entry.original);
    if (attributor.socketGone(info, hook)) {
      // Nobody holds the flow any more (a connection attempt that never got an answer, whose
      // process has exited): no owner to decide for. Left to conntrack to forget; a new
      // connection on its 4-tuple is decided afresh (its SYN is queued again).
      ++counts.gone;
      continue;
    }
    rules::Flow flow = flowOf(info, hook);
    DnsName host;  // flow.host points here
    nameRemote(hosts, flow, host);
    FlowOwner owner;
    // A socket holds the flow (or none could be looked up), so it is a process's (hasUid).
    const rules::Decision decision =
        decideWaitingForDescription(policy, attributor, info, flow, hook, /*hasUid=*/true, owner);
    if (decision.enforced == rules::Action::kAllow) {
      ++counts.kept;
      if (decision.action == rules::Action::kAllow) continue;
      ++counts.learned;  // learn mode: logged as a queue worker logs it, and kept
    } else {
      const bool deny = decision.enforced == rules::Action::kDeny;
      auto marked =
          conntrack->setMark(entry, deny ? marks.revokedDrop() : marks.revokedReject(), marks.mask);
      if (!marked) {
        if (marked.error().code == ENOENT) {
          ++counts.gone;
        } else {
          if (counts.failed++ == 0) base::logError("redecide: ", marked.error().message());
        }
        continue;
      }
      ++(deny ? counts.denied : counts.rejected);
    }
    if (wantsLogRow(policy.config(), decision)) {
      log.tryEnqueue(verdictRow(snapshot, decision, flow, base::monotonicNs() - started, owner));
    }
  }
  return counts;
}

}  // namespace warden::engine
