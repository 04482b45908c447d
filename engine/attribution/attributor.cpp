#include "engine/attribution/attributor.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
// after netinet/in.h, which it must not redefine
#include <linux/netfilter.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/logging.h"
#include "engine/attribution/bpf_attribution.h"
#include "engine/attribution/db_hash_store.h"
#include "engine/attribution/pid_namespace.h"
#include "engine/attribution/proc_reader.h"
#include "engine/attribution/process_tracker.h"
#include "engine/attribution/sock_diag.h"
#include "engine/attribution/system_mounts.h"

namespace warden::engine {
namespace {

void bump(std::atomic<std::uint64_t>& counter) { counter.fetch_add(1, std::memory_order_relaxed); }

Attribution kernelOwned() {
  Attribution kernel;
  kernel.kind = OwnerKind::kKernel;
  return kernel;
}

bool tracked(std::uint8_t protocol) { return protocol == IPPROTO_TCP || protocol == IPPROTO_UDP; }

// Whether a flow or listener record may be the packet's: written for a socket of the packet's
// local address (`local`), or when that address was not known (all zero; bpf/attribution.h).
bool fromRecordedAddress(const warden_owner& owner, const rules::IpAddress& local) {
  static constexpr std::uint8_t kUnknown[sizeof owner.local_addr] = {};
  return std::memcmp(owner.local_addr, kUnknown, sizeof kUnknown) == 0 ||
         std::memcmp(owner.local_addr, local.bytes.data(), sizeof owner.local_addr) == 0;
}

}  // namespace

const char* toString(AttributionMethod method) {
  switch (method) {
    case AttributionMethod::kEbpf:
      return "ebpf";
    case AttributionMethod::kSockDiag:
      return "sock_diag";
    case AttributionMethod::kNone:
      return "none";
  }
  return "?";
}

nlohmann::json processJson(const ProcessDescription& info) {
  nlohmann::json env = nlohmann::json::array();
  for (const std::string& entry : info.env) env.push_back(entry.substr(0, entry.find('=')));
  if (info.env.empty() && info.match && info.match->env) {
    for (const auto& [name, value] : *info.match->env) env.push_back(name);
  }
  return {
      {"pid", info.key.pid},
      {"start_ticks", info.key.startTicks},
      {"start_time_ns", info.startTimeNs},
      {"ppid", info.ppid},
      {"uid", info.uid},
      {"gid", info.gid},
      {"user", info.user},
      {"comm", info.comm},
      {"path", info.path},
      {"path_deleted", info.pathDeleted},
      {"path_on_host", info.pathOnHost},
      {"argv", info.argv},
      {"argv_truncated", info.argvTruncated},
      {"env_known", info.envKnown},
      {"env_truncated", info.envTruncated || (info.match && info.match->envCut)},
      {"env_names", std::move(env)},
      {"cwd", info.cwd},
      {"root", info.root},
      {"cgroup", info.cgroupPath},
      {"ancestors", info.ancestorPaths},
      {"ancestors_cut", info.ancestorsCut},
      {"tags", info.tags},
      {"source", std::string(toString(info.source))},
      {"image_replaced", info.imageReplaced},
      {"complete", info.complete},
  };
}

AttributorOptions attributorOptions(const rules::Config& config) {
  AttributorOptions options;
  options.ebpf = config.ebpf;
  options.cgroup = config.cgroup;
  options.flowEntries = config.flowEntries;
  options.listenerEntries = std::max<std::uint32_t>(1024, config.flowEntries / 8);
  options.heldEntries = config.kernelVerdicts ? config.kernelVerdictsEntries : 0;
  options.hashDb = config.logDb;
  return options;
}

warden_flow_key outboundFlowKey(const PacketInfo& packet, std::uint64_t netnsCookie) {
  warden_flow_key key;
  std::memset(&key, 0, sizeof key);  // padding included: the kernel compares bytes
  key.netns_cookie = netnsCookie;
  std::memcpy(key.remote_addr, packet.destination.bytes.data(), 16);
  key.local_port = packet.sourcePort;
  key.remote_port = packet.destinationPort;
  key.protocol = packet.ipProto;
  return key;
}

warden_listener_key inboundListenerKey(const PacketInfo& packet, std::uint64_t netnsCookie) {
  warden_listener_key key;
  std::memset(&key, 0, sizeof key);
  key.netns_cookie = netnsCookie;
  key.local_port = packet.destinationPort;
  key.protocol = packet.ipProto;
  return key;
}

// A flow's ends, remote first, as bpf `inbound_receivers` keys them.
warden_inbound_key inboundKey(const rules::IpAddress& remote, std::uint16_t remotePort,
                              const rules::IpAddress& local, std::uint16_t localPort,
                              std::uint8_t protocol, std::uint64_t netnsCookie) {
  warden_inbound_key key;
  std::memset(&key, 0, sizeof key);
  key.netns_cookie = netnsCookie;
  std::memcpy(key.remote_addr, remote.bytes.data(), 16);
  std::memcpy(key.local_addr, local.bytes.data(), 16);
  key.remote_port = remotePort;
  key.local_port = localPort;
  key.protocol = protocol;
  return key;
}

warden_inbound_key inboundKey(const rules::Flow& flow, std::uint64_t netnsCookie) {
  return inboundKey(flow.remote, flow.remotePort, flow.local, flow.localPort, flow.ipProto,
                    netnsCookie);
}

// An inbound packet's: its source is the remote end.
warden_inbound_key inboundKey(const PacketInfo& packet, std::uint64_t netnsCookie) {
  return inboundKey(packet.source, packet.sourcePort, packet.destination, packet.destinationPort,
                    packet.ipProto, netnsCookie);
}

Attributor::Attributor(const AttributorOptions& options)
    : options_(options),
      hashStore_(options.hashDb.empty() ? nullptr : DbHashStore::open(options.hashDb)),
      table_(options.table),
      hashCache_(options.hashCacheEntries, hashStore_.get()),
      hasher_(hashCache_) {}

Attributor::~Attributor() {
  if (tracker_) tracker_->stop();
  hasher_.stop();  // its hashes read through the tracker's reader
}

std::unique_ptr<Attributor> Attributor::create(const AttributorOptions& options) {
  std::unique_ptr<Attributor> self(new Attributor(options));

  if (options.ebpf) {
    if (auto mounted = ensureTracefs(); !mounted) {
      base::logWarning("attribution: ", mounted.error().message());
    } else if (*mounted) {
      base::logInfo("attribution: mounted tracefs on /sys/kernel/tracing");
    }
    auto cgroup = resolveAttachCgroup(options.cgroup);
    // The programs number processes as this /proc does; without knowing how, they would name
    // the wrong ones. sock_diag reads everything from that /proc and stays consistent.
    auto pidns = procPidNamespace(options.procRoot);
    if (!cgroup || !pidns) {
      self->ebpfProblem_ = !cgroup ? cgroup.error().message() : pidns.error().message();
      base::logWarning("attribution: eBPF unavailable: ", self->ebpfProblem_);
    } else {
      BpfOptions bpfOptions;
      bpfOptions.cgroup = *cgroup;
      bpfOptions.flowEntries = options.flowEntries;
      bpfOptions.listenerEntries = options.listenerEntries;
      bpfOptions.eventsBytes = options.eventsBytes;
      bpfOptions.pidNamespaceInode = pidns->inode;
      bpfOptions.heldEntries = options.heldEntries;
      auto loaded = BpfAttribution::load(bpfOptions);
      if (loaded) {
        self->bpf_ = std::move(*loaded);
        base::logInfo("attribution: eBPF programs attached to cgroup ", *cgroup, " (",
                      self->bpf_->programCount(), " programs, flow map of ", options.flowEntries,
                      " entries, pids of namespace pid:[", pidns->inode, "])");
      } else {
        self->ebpfProblem_ = loaded.error().message();
        base::logWarning("attribution: eBPF unavailable (", self->ebpfProblem_,
                         "); falling back to sock_diag");
      }
    }
  }
  if (auto cookie = BpfAttribution::currentNetnsCookie(); cookie) {
    self->netnsCookie_ = *cookie;
  } else if (self->bpf_) {
    self->ebpfProblem_ = cookie.error().message();
    base::logWarning("attribution: ", self->ebpfProblem_, "; eBPF flow lookups disabled");
    self->bpf_.reset();
  }
  // sock_diag also tells which socket receives an inbound flow, to check the listener record
  // against (attribute()), with or without the fallback.
  if (auto diag = SockDiag::open(); diag) {
    self->sockDiag_ = std::move(*diag);
    if (options.fallback || !self->bpf_) {
      self->inodes_ =
          std::make_unique<SocketInodeIndex>(options.procRoot, options.fallbackScanInterval);
    }
  } else {
    base::logWarning("attribution: sock_diag unavailable (", diag.error().message(), ")",
                     self->bpf_ ? "; an inbound flow is decided for the last program that bound "
                                  "its port, even where another socket receives it"
                                : "");
  }
  self->method_ = self->bpf_        ? AttributionMethod::kEbpf
                  : self->sockDiag_ ? AttributionMethod::kSockDiag
                                    : AttributionMethod::kNone;

  ProcessTracker::Options trackerOptions;
  trackerOptions.procRoot = options.procRoot;
  trackerOptions.onFailure = options.onTrackerFailure;
  trackerOptions.onHeldFlow = options.onHeldFlow;
  // /proc/PID/cgroup paths are relative to the cgroup2 root, whose directories tags trust.
  if (auto root = cgroup2MountPoint()) {
    trackerOptions.cgroupRoot = *root;
  } else {
    base::logWarning("attribution: ", root.error().message(), ": no systemd or container tags");
  }
  self->tracker_ = std::make_unique<ProcessTracker>(self->table_, trackerOptions, &self->hasher_);
  self->hasher_.readProcThrough(self->tracker_->reader());
  if (auto started = self->tracker_->start(self->bpf_.get()); !started) {
    base::logWarning("attribution: process events unavailable: ", started.error().message());
    (void)self->tracker_->start(nullptr);
  }
  base::logInfo("attribution method: ", toString(self->method_), "; ", self->table_.size(),
                " running processes described");
  return self;
}

Attribution Attributor::attribute(const PacketInfo& packet, std::uint8_t hook, bool hasUid) {
  const bool inbound = hook == NF_INET_LOCAL_IN;
  if (bpf_ && !inbound && hasUid && isEchoRequest(packet)) {
    if (auto sender = echoSender(packet)) return *sender;
  }
  if (!tracked(packet.ipProto)) {
    // Only TCP and UDP flows are recorded by the hooks and found by sock_diag.
    Attribution none;
    none.kind = !inbound && !hasUid ? OwnerKind::kKernel : OwnerKind::kUnknown;
    bump(none.kind == OwnerKind::kKernel ? counters_.kernel : counters_.misses);
    return none;
  }
  if (bpf_) {
    if (inbound) {
      if (auto receiver = deliveredElsewhere(packet)) return *receiver;
    }
    Attribution found;
    bool hit;
    if (inbound) {
      hit = bpf_->lookupListener(inboundListenerKey(packet, netnsCookie_), found.owner);
      found.via = Attribution::Via::kListenerMap;
    } else {
      hit = bpf_->lookupFlow(outboundFlowKey(packet, netnsCookie_), found.owner);
      found.via = Attribution::Via::kFlowMap;
    }
    if (hit && !fromRecordedAddress(found.owner, inbound ? packet.destination : packet.source)) {
      // Another socket's record: one on another local address of this host with the same
      // port (and peer) writes the same key (bpf/attribution.h, warden_owner.local_addr).
      // sock_diag finds this packet's socket, decided for its last sender (a UDP one's) or its
      // holder; nothing is noted as decided for the flow, so that the reuse check decides its
      // next packet again too.
      bump(counters_.otherAddress);
      if (!inbound && packet.ipProto == IPPROTO_UDP && sockDiag_) {
        // A datagram is its socket's last sender's (the hook noted it at the send, in
        // udp_senders), not whichever process the /proc scan finds holding the socket: one it
        // was handed to, say. The record may be that very sender's, rewritten meanwhile for
        // its other socket on another address (sent on right after this one).
        auto socket = findSocket(packet, false);
        warden_owner sender{};
        if (socket && *socket && (*socket)->cookie != 0 &&
            bpf_->lookupUdpSender((*socket)->cookie, sender) && sender.tgid != 0) {
          Attribution named;
          named.kind = OwnerKind::kProcess;
          named.via = Attribution::Via::kFlowMap;
          named.owner = sender;
          named.key = processKey(sender.tgid, sender.start_time_ns);
          bump(counters_.flowHits);
          return named;
        }
        return holderOf(socket, inbound, hasUid);
      }
      return viaSockDiag(packet, inbound, hasUid);
    }
    if (hit && inbound) {
      if (auto other = receiverIfNotRecorded(packet, found.owner, hasUid, found.receiverUnseen)) {
        return *other;
      }
    }
    if (hit && (found.owner.flags & WARDEN_OWNER_KERNEL_JOIN)) {
      // An MPTCP join subflow the kernel opened for a user's connection: no process is named,
      // and none can be asked (the subflow has no file). `unknown`: never `kernel`,
      // which would let any program reach an address its profile refuses by having its peer
      // announce it.
      bump(counters_.kernelJoins);
      bump(counters_.misses);
      return Attribution{};
    }
    if (hit && (found.owner.flags & WARDEN_OWNER_SENDER_UNKNOWN) && firstOfRecord(found.owner)) {
      // Nobody is known to have sent on the packet's socket, and the flow's record was
      // another socket's (bpf/attribution.h): the datagram may be one a process corked on
      // the socket and passed on (whose own entry it pushed out of the map), which sock_diag
      // would take for its holder's. `unknown`, once: the socket's next datagram is its
      // holder's to decide for.
      bump(counters_.senderUnknown);
      bump(counters_.misses);
      return Attribution{};
    }
    if (hit && (found.owner.flags & WARDEN_OWNER_PROVISIONAL)) {
      // Who connected a UDP socket, not who sent its first datagram (bpf/attribution.h):
      // sock_diag names the socket's holder. The record stays the one the reuse check
      // compares, so that the flow's later packets are not decided again.
      bump(counters_.provisional);
      Attribution held = viaSockDiag(packet, inbound, hasUid);
      held.recordGeneration = found.owner.generation;
      // The holder sock_diag names may be the process that connected, though another task
      // sent (it would have been named here otherwise): if it exec'd since, what it runs now
      // is neither what connected nor what sent (a socket kept across an exec of an allowed
      // program, its datagram sent by a child moved to another cgroup). `unknown`. (A
      // process described by the start's scan has no known generation: taken as it is.)
      if (held.kind == OwnerKind::kProcess && found.owner.exec_id != 0 &&
          held.key == processKey(found.owner.tgid, found.owner.start_time_ns)) {
        const auto now = table_.find(held.key);
        if (!now || (now->execId != 0 && now->execId != found.owner.exec_id)) {
          bump(counters_.misses);
          return Attribution{};
        }
      }
      return held;
    }
    if (hit && found.owner.tgid == 0) {
      // A task outside wardend's pid namespace (bpf/attribution.h): no pid of ours names it,
      // and /proc cannot describe it.
      found.kind = OwnerKind::kUnknown;
      if (inbound) found.receiverCookie = found.owner.sock_cookie;
      bump(counters_.outsidePidNamespace);
      bump(counters_.misses);
      return found;
    }
    if (hit) {
      found.kind = OwnerKind::kProcess;
      found.recordGeneration = found.owner.generation;
      found.key = processKey(found.owner.tgid, found.owner.start_time_ns);
      // A listener's record names the exec that bound it, and nothing writes it again when
      // the process execs and keeps the socket (a re-exec that keeps its listening sockets):
      // its generation would name a description that is gone. The image still tells the
      // program the socket was bound by; inbound flows are never held in the kernel. Without
      // its generation, a binder gone before it was read is not taken for a copy of its
      // parent (whose current generation may be a later exec): fork_exec_id 0, not told.
      if (inbound) {
        found.owner.exec_id = found.owner.fork_exec_id = 0;
        found.receiverCookie = found.owner.sock_cookie;
      }
      bump(inbound ? counters_.listenerHits : counters_.flowHits);
      return found;
    }
  }
  if (!inbound && !hasUid) {
    bump(counters_.kernel);
    return kernelOwned();
  }
  return viaSockDiag(packet, inbound, hasUid);
}

std::optional<Attribution> Attributor::echoSender(const PacketInfo& packet) {
  // Keyed by rule 1i's program (bpf/attribution/icmp_out.bpf.h) as a flow whose local port is
  // the echo identifier; a ping socket's identifier is its port, a raw socket's its writer's
  // choice. (Its ports read 0: no remote port.)
  warden_flow_key key = outboundFlowKey(packet, netnsCookie_);
  key.local_port = packet.icmpEchoId;
  Attribution found;
  found.via = Attribution::Via::kFlowMap;
  if (!bpf_->lookupFlow(key, found.owner) || !fromRecordedAddress(found.owner, packet.source) ||
      found.owner.tgid == 0) {
    return std::nullopt;
  }
  found.kind = OwnerKind::kProcess;
  found.recordGeneration = found.owner.generation;
  found.key = processKey(found.owner.tgid, found.owner.start_time_ns);
  found.echoId = packet.icmpEchoId;
  bump(counters_.flowHits);
  return found;
}

std::optional<Attribution> Attributor::deliveredElsewhere(const PacketInfo& packet) {
  // (Only the ports the ingress check marked can have such a note: no syscall for the rest.)
  if (!bpf_->portMisdelivered(packet.destinationPort)) return std::nullopt;
  warden_inbound_key key = inboundKey(packet, netnsCookie_);
  warden_inbound_receiver receiver;
  if (!bpf_->lookupInboundReceiver(key, receiver) || receiver.delivered_cookie == 0 ||
      receiver.delivered_cookie == receiver.sock_cookie) {
    return std::nullopt;
  }
  // The ingress check dropped a packet of this flow at another process's socket than the one
  // it was accepted for: this packet (a SYN sent again, a datagram after it) is decided for
  // the holder of that socket, which the kernel will deliver it to. The note is used once:
  // an accept writes the entry anew for that socket; after a refusal, the flow's next packet
  // is decided as any (and, delivered there again, noted again), so that a note does not
  // outlast the steering that made it.
  const std::uint64_t delivered = receiver.delivered_cookie;
  receiver.delivered_cookie = 0;
  (void)bpf_->noteInboundReceiver(key, receiver);
  receiver.delivered_cookie = delivered;
  bump(counters_.misdelivered);
  Attribution found;
  found.via = Attribution::Via::kListenerMap;
  found.receiverCookie = receiver.delivered_cookie;
  // (By cookie alone: the receiving socket's port need not be the packet's where a TPROXY rule
  // or an sk_lookup program picked it.)
  if (!bpf_->lookupBoundSocket(receiver.delivered_cookie, found.owner)) {
    // Bound before the programs were attached, or its record evicted: sock_diag finds it
    // among the port's sockets by its cookie, and the fd scan names its holder.
    if (!sockDiag_) {
      bump(counters_.misses);
      return found;
    }
    // (None: the socket closed meanwhile, and the flow is the kernel's.)
    return holderOf(sockDiag_->findByCookie(packet.ipProto, packet.destinationPort,
                                            receiver.delivered_cookie, packet.ipVersion == 4),
                    true, true);
  }
  if (found.owner.tgid == 0) {  // outside wardend's pid namespace: nobody to name
    bump(counters_.misses);
    return found;
  }
  found.kind = OwnerKind::kProcess;
  found.recordGeneration = found.owner.generation;
  found.key = processKey(found.owner.tgid, found.owner.start_time_ns);
  found.owner.exec_id = found.owner.fork_exec_id = 0;  // as for a listener record
  bump(counters_.listenerHits);
  return found;
}

void Attributor::noteAccepted(const rules::Flow& flow, const Attribution& attribution) noexcept {
  if (!bpf_) return;
  if (flow.direction == rules::Direction::kIn) {
    noteInboundAccepted(flow, attribution);
    return;
  }
  // An ICMP echo flow keyed by rule 1i's or 0e's program, under its identifier.
  const bool echo = attribution.echoId.has_value();
  if (flow.ipProto != IPPROTO_UDP && !echo) return;
  if (!echo && bpf_->inboundPortNoted(flow.localPort)) {
    // An entry an inbound flow on these ends left for another socket than this flow's goes
    // (the flow expired, or another socket answers it now): else the ingress check would
    // refuse this flow's replies as delivered to another than the old flow's. (A port no
    // inbound flow was noted for, a client's, has none to look for.)
    const warden_inbound_key key = inboundKey(flow, netnsCookie_);
    warden_inbound_receiver receiver;
    if (bpf_->lookupInboundReceiver(key, receiver) &&
        receiver.sock_cookie != attribution.owner.sock_cookie) {
      bpf_->forgetInboundReceiver(key);
    }
  }
  if (attribution.recordGeneration == 0) return;
  warden_flow_key key;
  std::memset(&key, 0, sizeof key);
  key.netns_cookie = netnsCookie_;
  std::memcpy(key.remote_addr, flow.remote.bytes.data(), 16);
  key.local_port = echo ? *attribution.echoId : flow.localPort;
  key.remote_port = echo ? 0 : flow.remotePort;
  key.protocol = echo ? flow.ipProto : static_cast<std::uint8_t>(IPPROTO_UDP);
  // A failed update costs the flow's next packet another decision, never a pass.
  if (!bpf_->markDecided(key, attribution.recordGeneration)) {
    bump(counters_.decidedErrors);
    std::lock_guard lock(errorLogMutex_);
    decidedErrorLog_.note(
        "attribution: an accepted UDP or ICMP echo flow could not be recorded in the eBPF flow "
        "map; its next packet is decided again");
  }
}

void Attributor::noteInboundAccepted(const rules::Flow& flow,
                                     const Attribution& attribution) noexcept {
  if (!tracked(flow.ipProto)) return;
  const warden_inbound_key key = inboundKey(flow, netnsCookie_);
  warden_inbound_receiver receiver;
  std::memset(&receiver, 0, sizeof receiver);
  // 0 (the `kernel` verdict for a closed port; a socket sock_diag could not answer for): an
  // entry that checks nothing, so that what an earlier flow on these ends left does not decide
  // where this one may go, and the table does not queue the flow again for want of one.
  receiver.sock_cookie = attribution.receiverCookie;
  receiver.tgid = attribution.owner.tgid;
  receiver.start_time_ns = attribution.owner.start_time_ns;
  // The process as the socket's bind record names it, which is what the check compares
  // another socket's with: sock_diag's holder has its start time only to the clock tick (a
  // map's record is that bind record already).
  warden_owner bound;
  if (attribution.via == Attribution::Via::kSockDiag && bpf_->portBound(flow.localPort) &&
      bpf_->lookupBoundSocket(attribution.receiverCookie, bound)) {
    receiver.tgid = bound.tgid;
    receiver.start_time_ns = bound.start_time_ns;
  }
  bpf_->noteInboundPort(flow.localPort);
  // A failed update leaves the flow's delivery unchecked: it goes where the kernel's lookup
  // sends it, as without the check.
  if (!bpf_->noteInboundReceiver(key, receiver)) {
    bump(counters_.decidedErrors);
    std::lock_guard lock(errorLogMutex_);
    decidedErrorLog_.note(
        "attribution: an accepted inbound flow could not be recorded in the eBPF map of their "
        "receivers; its delivery to another process's socket is not checked");
  }
}

int Attributor::udpReuseFilterFd() const { return bpf_ ? bpf_->udpReuseFilterFd() : -1; }

int Attributor::udpConnectedFd() const { return bpf_ ? bpf_->udpConnectedFd() : -1; }

int Attributor::icmpEchoFd() const { return bpf_ ? bpf_->icmpEchoFd() : -1; }
int Attributor::icmpReusedFd() const { return bpf_ ? bpf_->icmpReusedFd() : -1; }

int Attributor::inboundMisdeliveredFd() const { return bpf_ ? bpf_->inboundMisdeliveredFd() : -1; }

std::optional<Attribution> Attributor::receiverIfNotRecorded(const PacketInfo& packet,
                                                             const warden_owner& owner, bool hasUid,
                                                             bool& unseen) {
  if (!sockDiag_) return std::nullopt;  // nothing to ask: the record stands (logged at start)
  auto socket = findSocket(packet, true);
  if (!socket) return holderOf(socket, true, hasUid);  // no answer: `unknown`
  if (!*socket) {
    // Nobody receives it as far as the lookup sees: the record's socket closed (the kernel
    // answers the packet), or one the lookup cannot tell (bound to another device than the
    // packet's: a local connection to a device-bound socket, a VRF). The record decides, but
    // an accept is not remembered: whoever holds the port at the flow's next packet is asked
    // about that one (the queue worker leaves the ct mark unset).
    unseen = true;
    return std::nullopt;
  }
  const DiagSocket& receiver = **socket;
  if (receiver.cookie == owner.sock_cookie) return std::nullopt;
  // A connection's own socket on the 4-tuple (TIME_WAIT, a request being answered, one
  // closing) is what an exact lookup finds first; the SYN goes to a listener all the same (or
  // is answered with an ACK): no answer here. A connecting socket (SYN_SENT: a simultaneous
  // open, where the peer's SYN meets this host's own) is the one that receives it.
  if (packet.ipProto == IPPROTO_TCP && receiver.state != TCP_LISTEN &&
      receiver.state != TCP_SYN_SENT) {
    return std::nullopt;
  }
  // Another socket on the port receives it: one bound to the packet's address (or device)
  // where the record's binder took the wildcard, or another of a SO_REUSEPORT group. Its
  // holder decides, named as for any flow the maps do not know.
  bump(counters_.otherListener);
  return holderOf(socket, true, hasUid);
}

bool Attributor::firstOfRecord(const warden_owner& owner) {
  std::lock_guard lock(senderUnknownMutex_);
  // Bounded: when full, forgotten all at once; a record read again then is refused again,
  // which costs its socket a datagram more, never lets one through.
  if (senderUnknownSeen_.size() >= kSenderUnknownRecords) senderUnknownSeen_.clear();
  return senderUnknownSeen_.emplace(owner.sock_cookie, owner.generation).second;
}

Attribution Attributor::viaSockDiag(const PacketInfo& packet, bool inbound, bool hasUid) {
  if (!sockDiag_) {
    bump(counters_.misses);
    return Attribution{};
  }
  auto socket = findSocket(packet, inbound);
  if (inbound && packet.ipProto == IPPROTO_TCP &&
      (packet.tcpFlags & (kTcpSyn | kTcpAck)) == kTcpSyn && socket && *socket &&
      (*socket)->inode == 0) {
    socket = listenerBehind(packet, std::move(socket));
  }
  return holderOf(socket, inbound, hasUid);
}

base::Result<std::optional<DiagSocket>> Attributor::listenerBehind(
    const PacketInfo& packet, base::Result<std::optional<DiagSocket>> found) {
  // What the exact lookup found first is a socket of an earlier connection on the 4-tuple
  // with no file, and so no holder: one in TIME_WAIT (a server that closes first leaves one
  // for each connection), which hands a SYN with a later sequence number or timestamp on to
  // the listener; a request being answered, whose SYN sent again the listener answers; or
  // one closing, which answers the SYN itself (nothing is delivered to a process then). The
  // listener's holder decides: asked for no peer port, the exact lookup finds the listener
  // of the packet's address and device.
  PacketInfo toListener = packet;
  toListener.sourcePort = 0;
  auto listener = findSocket(toListener, true);
  if (!listener) return found;
  if (!*listener) return listener;  // none: the kernel answers the SYN
  if (!bpf_) {
    // Of a SO_REUSEPORT group, the member the lookup picks by its hash of the peer's port,
    // which is not the packet's: with eBPF the ingress check sends a SYN delivered to another
    // process's member back to be decided for it; without, nothing would. Named only where
    // one listener holds the port.
    auto all = sockDiag_->boundTo(IPPROTO_TCP, packet.destinationPort, packet.ipVersion == 4);
    if (!all || all->size() != 1) return found;
  }
  return listener;
}

Attribution Attributor::holderOf(const base::Result<std::optional<DiagSocket>>& socket,
                                 bool inbound, bool hasUid) {
  Attribution result;
  if (!socket) {
    bump(counters_.fallbackErrors);
    bump(counters_.misses);
    std::lock_guard lock(errorLogMutex_);
    fallbackErrorLog_.note("attribution: sock_diag: ", socket.error().message(),
                           "; the flow gets the `unknown` verdict");
    return result;
  }
  if (!*socket) {
    // Nobody holds the flow: an inbound packet to a closed port, or (outbound with a uid) a
    // socket closed meanwhile.
    if (inbound || !hasUid) {
      bump(counters_.kernel);
      return kernelOwned();
    }
    bump(counters_.misses);
    return result;
  }
  if (inbound) result.receiverCookie = (*socket)->cookie;
  if (!inodes_ || (*socket)->inode == 0) {  // the fallback is off, or the socket has no file
    bump(counters_.misses);
    return result;
  }
  auto owner = inodes_->find((*socket)->inode);
  if (!owner && options_.fallbackWait.count() > 0) {
    const std::uint64_t scan = inodes_->requestScan((*socket)->inode);
    if (inodes_->waitFor(scan, options_.fallbackWait)) owner = inodes_->find((*socket)->inode);
  } else if (!owner) {
    inodes_->requestScan((*socket)->inode);
  }
  if (!owner) {
    bump(counters_.misses);
    return result;
  }
  result.kind = OwnerKind::kProcess;
  result.via = Attribution::Via::kSockDiag;
  result.key = ProcessKey{owner->pid, owner->startTicks};
  result.owner.tgid = owner->pid;
  result.owner.pid = owner->pid;
  result.owner.uid = (*socket)->uid;
  result.owner.start_time_ns = owner->startTicks * (1'000'000'000ull / clockTicksPerSecond());
  bump(counters_.fallbackHits);
  return result;
}

base::Result<std::optional<DiagSocket>> Attributor::findSocket(const PacketInfo& packet,
                                                               bool inbound) {
  SocketEnd local, remote;
  if (inbound) {
    local = {packet.destination.bytes, packet.destinationPort};
    remote = {packet.source.bytes, packet.sourcePort};
  } else {
    local = {packet.source.bytes, packet.sourcePort};
    remote = {packet.destination.bytes, packet.destinationPort};
  }
  auto found = sockDiag_->find(packet.ipProto, local, remote, inbound ? packet.inDevice : 0);
  if (!found || *found || !packet.remembered) return found;
  // A flow conntrack remembers has no interface, and the exact lookup without one never finds
  // a socket bound to a device (SO_BINDTODEVICE, which needs no privilege): the socket
  // connected on the flow's 4-tuple is looked for among the port's sockets, whatever their
  // device. Only then: a dump per miss is not for the packet path, where the flow maps name
  // the owners and a miss is a closed socket.
  auto connected = sockDiag_->connectedOnAnyDevice(packet.ipProto, local, remote);
  if (!connected) return std::unexpected(connected.error());
  if (connected->empty()) return std::optional<DiagSocket>{};
  if (connected->size() > 1) {
    // Several sockets connected on one 4-tuple (SO_REUSEPORT): none is named.
    return std::unexpected(base::makeError(EEXIST, "sock_diag: several sockets on the flow"));
  }
  return std::optional<DiagSocket>{connected->front()};
}

bool Attributor::socketGone(const PacketInfo& packet, std::uint8_t hook) {
  if (!sockDiag_ || !tracked(packet.ipProto)) return false;
  auto socket = findSocket(packet, hook == NF_INET_LOCAL_IN);
  return socket && !*socket;
}

std::shared_ptr<const ProcessDescription> Attributor::describe(const Attribution& attribution) {
  if (attribution.kind != OwnerKind::kProcess) return nullptr;
  auto info = described(attribution);
  if (!info || !info->complete) {
    bump(counters_.describeMisses);
    if (!info) tracker_->requestDescribe(attribution.owner);
  }
  return info;
}

std::shared_ptr<const ProcessDescription> Attributor::described(
    const Attribution& attribution) const {
  if (attribution.kind != OwnerKind::kProcess) return nullptr;
  return table_.find(attribution.key, attribution.owner.exe_dev, attribution.owner.exe_ino,
                     attribution.owner.exec_id);
}

std::shared_ptr<const ProcessDescription> Attributor::describeWithin(
    const Attribution& attribution, std::chrono::microseconds wait) {
  if (auto info = describe(attribution); info && info->complete) return info;
  if (attribution.kind != OwnerKind::kProcess) return nullptr;
  return table_.waitComplete(attribution.key, wait, attribution.owner.exe_dev,
                             attribution.owner.exe_ino, attribution.owner.exec_id);
}

std::shared_ptr<const ProcessDescription> Attributor::describePid(std::uint32_t pid) {
  auto info = table_.findByPid(pid);
  const DeadlinedProcReader& reader = tracker_->reader();
  const auto stat = reader.stat(pid);
  if (stat && (!info || info->key.startTicks != stat->startTicks)) {
    if (auto fresh = reader.describe(pid)) {
      info = std::make_shared<const ProcessDescription>(std::move(*fresh));
    }
  }
  return info;
}

nlohmann::json Attributor::explainJson(const ProcessDescription& process) {
  nlohmann::json out = processJson(process);
  out["exited"] = table_.exited(process.key);
  // On a hashing thread: the control thread waits a few seconds at most (512 MiB).
  const auto hash =
      hasher_.hashWithin(ImageRef::of(process), std::chrono::seconds(3), options_.procRoot);
  if (hash && *hash) {
    out["sha256"] = **hash;
  } else {
    out["sha256"] = nullptr;
    out["sha256_error"] = hash ? hash->error().message() : "still being hashed: ask again";
  }
  return out;
}

void Attributor::setImageHashing(bool enabled) { tracker_->setImageHashing(enabled); }

const base::Heartbeat& Attributor::trackerHeartbeat() const { return tracker_->heartbeat(); }

nlohmann::json Attributor::statusJson() const {
  using nlohmann::json;
  auto load = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  const std::uint64_t hits =
      load(counters_.flowHits) + load(counters_.listenerHits) + load(counters_.fallbackHits);
  json status = {
      {"method", toString(method_)},
      {"hits", hits},
      {"misses", load(counters_.misses)},
      {"kernel", load(counters_.kernel)},
      {"flow_hits", load(counters_.flowHits)},
      {"listener_hits", load(counters_.listenerHits)},
      {"fallback_hits", load(counters_.fallbackHits)},
      {"fallback_errors", load(counters_.fallbackErrors)},
      {"describe_misses", load(counters_.describeMisses)},
      {"decided_errors", load(counters_.decidedErrors)},
      {"outside_pid_namespace", load(counters_.outsidePidNamespace)},
      {"mptcp_joins", load(counters_.kernelJoins)},
      {"provisional_records", load(counters_.provisional)},
      {"records_of_another_address", load(counters_.otherAddress)},
      {"records_of_another_listener", load(counters_.otherListener)},
      {"inbound_redecided_for_receiver", load(counters_.misdelivered)},
      // UDP datagrams of a socket nobody was known to send on, on another socket's flow
      // record: decided `unknown` (the first of each such record)
      {"sender_unknown", load(counters_.senderUnknown)},
  };
  // Why eBPF is not what attributes (the fallback took over), when it is not.
  if (!bpf_ && !ebpfProblem_.empty()) status["ebpf_error"] = ebpfProblem_;
  if (bpf_) {
    const BpfCounters c = bpf_->counters();
    std::size_t entries;
    {
      std::lock_guard lock(entriesMutex_);
      const std::uint64_t now = base::bootTimeNs();
      if (now - entriesAtNs_ > 1'000'000'000ull || entriesAtNs_ == 0) {
        entries_ = bpf_->flowEntryCount().value_or(entries_);
        entriesAtNs_ = now;
      }
      entries = entries_;
    }
    // The programs never delete flow keys: whatever was inserted and is not there any more
    // was evicted by the LRU.
    const std::uint64_t inserts = c[WARDEN_CTR_FLOW_INSERTS];
    status["flow_entries"] = entries;
    status["flow_capacity"] = bpf_->flowCapacity();
    // The nsfs inode the pids are of, as `readlink /proc/self/ns/pid` shows it.
    status["pid_namespace"] = bpf_->pidNamespaceInode();
    status["evictions"] = inserts > entries ? inserts - entries : 0;
    status["bpf"] = {{"flow_inserts", inserts},
                     {"flow_updates", c[WARDEN_CTR_FLOW_UPDATES]},
                     {"flow_unchanged", c[WARDEN_CTR_FLOW_UNCHANGED]},
                     {"flow_errors", c[WARDEN_CTR_FLOW_ERRORS]},
                     {"listener_writes", c[WARDEN_CTR_LISTENER_WRITES]},
                     // connected UDP flows keyed at their first datagram, by the table
                     {"udp_connects", c[WARDEN_CTR_UDP_CONNECT_DONE]},
                     // ... whose first datagram another process, exec or uid sent
                     {"udp_connect_other_sender", c[WARDEN_CTR_UDP_CONNECT_OTHER_SENDER]},
                     // ... or by a task not known to be its sender: sock_diag names it
                     {"udp_connect_unnamed", c[WARDEN_CTR_UDP_CONNECT_UNNAMED]},
                     // TCP connects a kernel-held verdict decided: no owner record written
                     {"held_unrecorded", c[WARDEN_CTR_HELD_UNRECORDED]},
                     // ... whose SYN another process, exec or uid sent (TCP Fast Open's
                     // deferred connect): the held verdict not used, the SYN queued
                     {"held_other_sender", c[WARDEN_CTR_HELD_OTHER_SENDER]},
                     // UDP packets whose flow record was another socket's: keyed for the
                     // last process that sent on their own socket through a hook ...
                     {"udp_last_sender", c[WARDEN_CTR_UDP_LAST_SENDER]},
                     // ... or, with none known, left to sock_diag
                     {"udp_sender_unknown", c[WARDEN_CTR_UDP_SENDER_UNKNOWN]},
                     // inbound first packets delivered to another process's socket than
                     // the one they were accepted for: dropped
                     {"inbound_misdelivered", c[WARDEN_CTR_INBOUND_MISDELIVERED]},
                     // ... and inbound packets whose IPv6 extension headers it does not walk
                     {"inbound_unwalked", c[WARDEN_CTR_INBOUND_UNWALKED]},
                     {"echo_recorded", c[WARDEN_CTR_ECHO_RECORDED]},
                     {"echo_reused", c[WARDEN_CTR_ECHO_REUSED]},
                     {"mptcp_joins_recorded", c[WARDEN_CTR_KERNEL_JOINS]},
                     {"events", c[WARDEN_CTR_EVENTS]},
                     {"events_lost", c[WARDEN_CTR_EVENTS_LOST]},
                     // execs exec_windows had no room for: /proc reads of processes it
                     // has no entry of are then taken unchecked (exec_window_unknown)
                     {"exec_windows_lost", c[WARDEN_CTR_EXEC_WINDOWS_LOST]},
                     {"slot_busy", c[WARDEN_CTR_SLOT_BUSY]},
                     {"outside_pid_namespace", c[WARDEN_CTR_OUTSIDE_PIDNS]},
                     {"lookups_by_syscall", bpf_->mirrorMisses()}};
  } else {
    status["evictions"] = 0;
  }
  const ProcessTable::Stats table = table_.stats();
  const ProcessTracker::Counters& t = tracker_->counters();
  status["processes"] = {{"entries", table.entries},
                         {"exited", table.exited},
                         {"evicted", table.evicted},
                         {"expired", table.expired},
                         {"pid_reuses", table.pidReuses},
                         {"execs", load(t.execs)},
                         {"exits", load(t.exits)},
                         {"completed_at_exec", load(t.procCompleted)},
                         {"gone_before_proc", load(t.procGone)},
                         {"described_on_request", load(t.requests)},
                         {"described_before_exec", load(t.describedBeforeExec)},
                         {"described_before_fork", load(t.describedBeforeFork)},
                         {"proc_moved_on", load(t.procMoved)},
                         {"exec_window_unknown", load(t.execWindowUnknown)},
                         {"image_replaced", load(t.imageReplaced)},
                         {"exec_windows_swept", load(t.execWindowsSwept)},
                         {"bound", table_.limits().maxEntries},
                         {"exited_bound", table_.limits().maxExited},
                         {"memory_trims", tracker_->trims()}};
  const HeldImages& held = tracker_->heldImages();
  status["held_images"] = {
      {"held", held.held()}, {"bound", held.maxHeld()}, {"refused", held.refused()}};
  status["hash_cache"] = {
      {"entries", hashCache_.size()}, {"hits", hashCache_.hits()}, {"misses", hashCache_.misses()}};
  // Reads of /proc/PID that its process kept waiting (base::BoundedWaits).
  const base::BoundedWaits::Counters reads = tracker_->reader().counters();
  status["proc_reads"] = {{"late", reads.late},
                          {"refused", reads.refused},
                          {"stuck", reads.stuck},
                          {"threads", reads.threads}};
  // Hashes that outlived their caller's wait (ExeHasher::hashWithin).
  const base::BoundedWaits::Counters hashes = hasher_.hashCounters();
  status["hash_waits"] = {{"late", hashes.late},
                          {"refused", hashes.refused},
                          {"under_way", hashes.stuck},
                          {"threads", hashes.threads}};
  if (inodes_) status["proc_fd_scans"] = inodes_->scans();
  return status;
}

}  // namespace warden::engine
