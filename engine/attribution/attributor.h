#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "base/error.h"
#include "base/heartbeat.h"
#include "base/repeated_log.h"
#include "bpf/attribution.h"
#include "engine/attribution/exe_hasher.h"
#include "engine/attribution/process_description.h"
#include "engine/attribution/process_table.h"
#include "engine/netfilter/packet.h"
#include "rules/config.h"
#include "rules/flow.h"

namespace warden::engine {

class BpfAttribution;
class DbHashStore;
class ProcessTracker;
class SockDiag;
struct DiagSocket;
class SocketInodeIndex;

// How flows are attributed to processes (what `warden status` shows as "method").
enum class AttributionMethod : std::uint8_t {
  kEbpf,      // the connect/sendmsg/bind hooks' flow map, sock_diag for what they missed
  kSockDiag,  // netlink sock_diag + /proc only
  kNone,      // neither works: every socket-owned flow is `unknown`
};
const char* toString(AttributionMethod method);

// Who owns a flow, as far as SPEC section 4 steps 2 and 3 care.
enum class OwnerKind : std::uint8_t {
  kKernel,   // no socket owns it: engine `kernel` verdict
  kUnknown,  // a socket, but no process could be named: engine `unknown` verdict
  kProcess,  // a process: its profile decides
};

struct Attribution {
  enum class Via : std::uint8_t { kNone, kFlowMap, kListenerMap, kSockDiag };

  OwnerKind kind = OwnerKind::kUnknown;
  Via via = Via::kNone;
  ProcessKey key;  // kProcess: the process (pid + start time)
  // kProcess via the maps: the kernel's record taken at the socket call. Via sock_diag only
  // tgid, uid and start_time_ns are set.
  warden_owner owner{};
  // The generation of the flow map's record of this flow, which the table's UDP reuse check
  // compares with the one noted at its accept (noteAccepted): the owner's, or that of a
  // provisional record sock_diag stood in for. 0: no record.
  std::uint64_t recordGeneration = 0;
  // Inbound: no socket was found to receive the flow (its port's record may name one that
  // closed, or one the kernel's lookup could not see). Whatever decides, an accept is not
  // remembered on the flow, so that its next packet is decided again for whoever holds the
  // port then.
  bool receiverUnseen = false;
  // Inbound: the cookie of the socket the flow is decided for (0: none known), which wardend
  // notes before it accepts the flow, so that the kernel's delivery to another process's
  // socket is caught (noteAccepted).
  std::uint64_t receiverCookie = 0;
  // An ICMP echo flow's identifier, its flow key's local port (echoSender): noteAccepted marks
  // the flow decided under that key, which rule 0e's program compares.
  std::optional<std::uint16_t> echoId;
};

struct AttributorOptions {
  bool ebpf = true;             // [attribution] ebpf
  std::string cgroup = "auto";  // [attribution] cgroup
  std::uint32_t flowEntries = WARDEN_DEFAULT_FLOW_ENTRIES;
  std::uint32_t listenerEntries = WARDEN_DEFAULT_LISTENER_ENTRIES;
  std::uint32_t eventsBytes = WARDEN_DEFAULT_EVENTS_BYTES;
  std::uint32_t heldEntries = 0;  // kernel-held verdicts (BpfOptions::heldEntries); 0: off
  bool fallback = true;           // sock_diag for what the maps miss (and alone without eBPF)
  // How long one verdict may wait for the /proc fd scan that names a sock_diag socket's
  // process. 0: never wait (the flow is `unknown` until a later packet finds the scan done).
  std::chrono::microseconds fallbackWait{20'000};
  std::chrono::milliseconds fallbackScanInterval{10};  // rate limit of /proc fd scans
  // How long a verdict may wait for the description of a process the table does not hold
  // yet (its exec event still in the ring buffer, or /proc being read): normally well under
  // a millisecond, and only for the first flow of a new process.
  std::chrono::microseconds describeWait{50'000};
  // The process tracker thread cannot go on (see ProcessTracker::Options::onFailure).
  std::function<void(const base::Error&)> onTrackerFailure = nullptr;
  // A flow a kernel-held verdict decided (ProcessTracker::Options::onHeldFlow).
  std::function<void(const warden_held_event&)> onHeldFlow = nullptr;
  ProcessTable::Limits table;
  std::size_t hashCacheEntries = 4096;
  // warden.db, whose executable-hash table backs the in-memory cache (empty: memory only).
  std::filesystem::path hashDb;
  std::string procRoot = "/proc";
};

// The process attribution the verdict path asks: which process owns the flow of a queued
// packet, and what is known about that process. Built once at start; falls back from eBPF to
// sock_diag (and logs why) rather than failing.
//
// Thread-safety: attribute(), describe() and stats() may be called from every queue worker at
// once. attribute() reads the eBPF mirrors (no syscall; one bpf map lookup when a mirror slot
// lost the flow); it reads no /proc. describe() is a shared-lock table lookup; on a
// miss it queues a request to the tracker thread and returns null.
class Attributor {
 public:
  static std::unique_ptr<Attributor> create(const AttributorOptions& options);
  ~Attributor();
  Attributor(const Attributor&) = delete;
  Attributor& operator=(const Attributor&) = delete;

  AttributionMethod method() const { return method_; }
  // The process tracker thread's (see ProcessTracker::heartbeat).
  const base::Heartbeat& trackerHeartbeat() const;

  // `hook` is the netfilter hook (NF_INET_LOCAL_OUT / NF_INET_LOCAL_IN); `hasUid` whether the
  // queue named a uid (only packets of a process-owned socket carry one).
  Attribution attribute(const PacketInfo& packet, std::uint8_t hook, bool hasUid);

  // Called before a flow's first packet is accepted. For an outbound UDP flow: records the
  // owner record the verdict was made for, so that the table's reuse check
  // (bpf/attribution/udp_table.bpf.h, warden_udp_reused) decides the flow again once another
  // process owns its 4-tuple (one map update, only for UDP flows attributed through the flow map).
  // For an inbound one: the socket it was decided for (Attribution::receiverCookie), so that
  // a delivery to another process's socket is dropped and decided again (bpf/attribution.h,
  // "Inbound flows"; one map update).
  void noteAccepted(const rules::Flow& flow, const Attribution& attribution) noexcept;
  // The check's socket filter program for the table's xt_bpf match; -1 without eBPF.
  int udpReuseFilterFd() const;
  // The program that keys connected UDP flows at their first datagram (table rule 1u; see
  // BpfAttribution::udpConnectedFd); -1 without eBPF.
  int udpConnectedFd() const;
  // Rule 1i's socket filter (BpfAttribution::icmpEchoFd); -1 without eBPF.
  int icmpEchoFd() const;
  // Rule 0e's socket filter (BpfAttribution::icmpReusedFd); -1 without eBPF.
  int icmpReusedFd() const;
  // The program of rule 0i (BpfAttribution::inboundMisdeliveredFd); -1 without eBPF.
  int inboundMisdeliveredFd() const;

  // Whether no socket holds the flow of `packet` (seen at `hook`) any more, as sock_diag
  // tells: its process closed it, or exited (a connection attempt that never got an answer,
  // left in conntrack as SYN_SENT). False while a socket holds it, owned by a process or not,
  // when sock_diag cannot tell, and for protocols other than TCP and UDP; for an inbound TCP
  // flow a listener on its port counts as a socket. One netlink round trip: for the control
  // thread (`warden reload --redecide`), not the verdict path.
  bool socketGone(const PacketInfo& packet, std::uint8_t hook);

  // The process an attribution names, or null when it is not described (yet): then the
  // tracker is asked to describe it. Never waits.
  std::shared_ptr<const ProcessDescription> describe(const Attribution& attribution);
  // The same, waiting up to `wait` for the tracker (the exec event of a process that has just
  // started may still be in the ring buffer). For a caller that may block: a verdict that can
  // be given later, `warden explain`, tests.
  std::shared_ptr<const ProcessDescription> describeWithin(const Attribution& attribution,
                                                           std::chrono::microseconds wait);
  // What the table holds for the process now, complete or not, asking nobody: for a verdict
  // that waits (parked) for a description describe() has already requested.
  std::shared_ptr<const ProcessDescription> described(const Attribution& attribution) const;
  std::chrono::microseconds describeWait() const { return options_.describeWait; }
  // describeWithin() with the configured describeWait: what a queue worker calls when it
  // cannot park the packet.
  std::shared_ptr<const ProcessDescription> describeForVerdict(const Attribution& attribution) {
    return describeWithin(attribution, options_.describeWait);
  }

  // Hashes images in the background from exec on (a loaded profile pins sha256).
  void setImageHashing(bool enabled);

  ProcessTable& processes() { return table_; }
  ExeHasher& hasher() { return hasher_; }
  BpfAttribution* bpf() { return bpf_.get(); }
  // The cookie of wardend's network namespace, as the eBPF programs see it.
  std::uint64_t netnsCookie() const { return netnsCookie_; }

  // Process `pid` as the table holds it, else as /proc describes it now (the table's entry
  // may be an exited process whose pid is now another one's). Null when no such process is
  // known. Reads /proc: for the control thread (`warden explain`), never the verdict path.
  std::shared_ptr<const ProcessDescription> describePid(std::uint32_t pid);
  // How `process` is identified, for `warden explain`: its description (processJson), whether
  // it has exited and, when it can be read, the SHA-256 of its image (computed here: call from
  // the control thread, never the verdict path).
  nlohmann::json explainJson(const ProcessDescription& process);

  // Counters for `warden status`: {"method": ..., "hits": ..., "misses": ..., ...}.
  nlohmann::json statusJson() const;

 private:
  explicit Attributor(const AttributorOptions& options);
  // The holder of the flow's socket, as sock_diag names it.
  Attribution viaSockDiag(const PacketInfo& packet, bool inbound, bool hasUid);
  // The same for the socket a lookup found.
  Attribution holderOf(const base::Result<std::optional<DiagSocket>>& socket, bool inbound,
                       bool hasUid);
  // A listener record is the last socket bound to its port, which is not always the one that
  // receives an inbound flow: the kernel delivers to the most specific bind, or by a hash
  // among a SO_REUSEPORT group. sock_diag asks the kernel which socket that is; nullopt when
  // the record stands (it is the record's, or nobody can tell: then `unseen` is set when the
  // lookup found no socket at all), else the attribution of the one that is.
  std::optional<Attribution> receiverIfNotRecorded(const PacketInfo& packet,
                                                   const warden_owner& owner, bool hasUid,
                                                   bool& unseen);
  // An ICMP echo request's sender, as rule 1i's program keyed it; nullopt when it did not
  // (bpf_ must be set).
  std::optional<Attribution> echoSender(const PacketInfo& packet);
  // When the ingress check found the inbound flow of `packet` delivered to another process's
  // socket than it was accepted for: the holder of that socket (bpf_ must be set).
  std::optional<Attribution> deliveredElsewhere(const PacketInfo& packet);
  void noteInboundAccepted(const rules::Flow& flow, const Attribution& attribution) noexcept;
  // For an inbound SYN whose 4-tuple sock_diag finds held by an earlier connection's socket
  // without a file (`found`): the listener the kernel hands such a SYN to, or `found`.
  base::Result<std::optional<DiagSocket>> listenerBehind(
      const PacketInfo& packet, base::Result<std::optional<DiagSocket>> found);
  // The socket sock_diag finds for the flow (sockDiag_ must be set).
  base::Result<std::optional<DiagSocket>> findSocket(const PacketInfo& packet, bool inbound);
  // Whether this is the first time a flow record marked WARDEN_OWNER_SENDER_UNKNOWN (its
  // socket and generation) is read.
  bool firstOfRecord(const warden_owner& owner);

  struct Counters {
    std::atomic<std::uint64_t> flowHits{0};
    std::atomic<std::uint64_t> listenerHits{0};
    std::atomic<std::uint64_t> fallbackHits{0};
    std::atomic<std::uint64_t> misses{0};  // socket-owned, no process: `unknown`
    std::atomic<std::uint64_t> kernel{0};  // no socket
    std::atomic<std::uint64_t> fallbackErrors{0};
    std::atomic<std::uint64_t> describeMisses{0};
    std::atomic<std::uint64_t> decidedErrors{0};  // noteAccepted's map update failed
    // Flows of tasks outside wardend's pid namespace (also counted in misses): `unknown`.
    std::atomic<std::uint64_t> outsidePidNamespace{0};
    // MPTCP join subflows (also counted in misses): `unknown`.
    std::atomic<std::uint64_t> kernelJoins{0};
    // Flow records that name who connected a UDP socket, not its sender: left to sock_diag.
    std::atomic<std::uint64_t> provisional{0};
    std::atomic<std::uint64_t> otherAddress{0};   // records of another local address's socket
    std::atomic<std::uint64_t> otherListener{0};  // listener records of a socket not receiving
    // Inbound flows decided again for the socket the ingress check found receiving them.
    std::atomic<std::uint64_t> misdelivered{0};
    // Datagrams of a record marked WARDEN_OWNER_SENDER_UNKNOWN, decided `unknown`.
    std::atomic<std::uint64_t> senderUnknown{0};
  };

  AttributorOptions options_;
  AttributionMethod method_ = AttributionMethod::kNone;
  std::unique_ptr<DbHashStore> hashStore_;  // before the cache that uses it
  std::uint64_t netnsCookie_ = 0;
  ProcessTable table_;
  ImageHashLru hashCache_;
  ExeHasher hasher_;
  // Destroyed in reverse: tracker and index threads stop before the BPF object goes.
  std::unique_ptr<BpfAttribution> bpf_;
  std::unique_ptr<SockDiag> sockDiag_;
  std::unique_ptr<SocketInodeIndex> inodes_;
  std::unique_ptr<ProcessTracker> tracker_;
  mutable Counters counters_;
  std::string ebpfProblem_;  // why eBPF does not attribute, if it does not (set by create())
  // The verdict path's errors, each logged at most once a minute (the lock is taken only when
  // one happens).
  std::mutex errorLogMutex_;
  base::RepeatedLog fallbackErrorLog_{base::LogLevel::kWarning};  // guarded by errorLogMutex_
  base::RepeatedLog decidedErrorLog_{base::LogLevel::kWarning};   // guarded by errorLogMutex_

  // The records marked WARDEN_OWNER_SENDER_UNKNOWN already read (socket cookie, generation).
  static constexpr std::size_t kSenderUnknownRecords = 4096;
  std::mutex senderUnknownMutex_;
  std::set<std::pair<std::uint64_t, std::uint64_t>> senderUnknownSeen_;  // guarded

  // flowEntryCount() walks the whole map: status reuses a count for a second.
  mutable std::mutex entriesMutex_;
  mutable std::uint64_t entriesAtNs_ = 0;
  mutable std::size_t entries_ = 0;
};

// A description as JSON (what `warden explain` shows). Environment values are left out: only
// the variable names, since values often hold secrets.
nlohmann::json processJson(const ProcessDescription& info);

// The options warden.toml's [attribution] section asks for.
AttributorOptions attributorOptions(const rules::Config& config);

// The flow-map key of an outbound packet, exactly as the BPF programs write it.
warden_flow_key outboundFlowKey(const PacketInfo& packet, std::uint64_t netnsCookie);
warden_listener_key inboundListenerKey(const PacketInfo& packet, std::uint64_t netnsCookie);

}  // namespace warden::engine
