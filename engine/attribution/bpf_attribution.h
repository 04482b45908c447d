#pragma once

#include <linux/types.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "bpf/attribution.h"
#include "engine/attribution/exec_windows.h"

struct attribution_bpf;
struct bpf_link;
struct ring_buffer;

namespace warden::engine {

struct BpfOptions {
  std::string cgroup;  // cgroup v2 directory the socket hooks attach to (already resolved)
  std::uint32_t flowEntries = WARDEN_DEFAULT_FLOW_ENTRIES;
  std::uint32_t listenerEntries = WARDEN_DEFAULT_LISTENER_ENTRIES;
  std::uint32_t eventsBytes = WARDEN_DEFAULT_EVENTS_BYTES;      // a power of two, >= page size
  std::uint32_t flowSlots = WARDEN_DEFAULT_FLOW_SLOTS;          // mirror slots, a power of two
  std::uint32_t listenerSlots = WARDEN_DEFAULT_LISTENER_SLOTS;  // likewise
  bool captureArgs = true;                                      // exec events carry argv
  bool processEvents = true;  // attach the exec/fork/exit tracepoints
  // The nsfs inode of the pid namespace the programs number processes in (PidNamespace);
  // 0: the one the loading process's /proc shows (procPidNamespace).
  std::uint32_t pidNamespaceInode = 0;
  // Kernel-held verdicts ([engine] kernel_verdicts): the size of held_verdicts, and the
  // connect and sendmsg hooks attached so that they outlive this process (a legacy
  // BPF_PROG_ATTACH, not a link), which keeps wardend's decisions applied while it is down.
  // 0: off; every hook is a link, gone with wardend.
  std::uint32_t heldEntries = 0;
};

// The descriptors of the output chain's held-verdict matches (xt_bpf), by action.
struct HeldMatchFds {
  int allow = -1;
  int deny = -1;
  int reject = -1;
  int synAgain = -1;  // rule 0b's: 0 for a SYN sent again of a connection a held allow passed
};

using BpfCounters = std::array<std::uint64_t, WARDEN_CTR_COUNT>;

// The loaded attribution programs (bpf/attribution.bpf.c) attached to one cgroup: owns the
// skeleton, every link and the ring-buffer reader, and releases them in its destructor (links
// first, so nothing runs against freed maps). Neither copyable nor movable: held by unique_ptr.
//
// Thread-safety: the lookups read the mirrors (memory shared with the programs, see
// bpf/attribution.h) and fall back to bpf(2) syscalls on map fds; they, counters() and
// flowEntryCount() may be called from any thread at once. The event calls
// (consumeEvents/pollEvents) belong to one thread, the one that set the handler.
class BpfAttribution : public ExecWindows {
 public:
  // One ring-buffer record: a warden_event_head followed by the struct its kind names.
  // Returns false to stop consumeEvents() after this record (the rest stays in the ring).
  using EventHandler = std::function<bool(std::span<const std::byte> record)>;

  // open -> size maps and set rodata -> load -> attach. Any failure releases what was made.
  [[nodiscard]] static base::Result<std::unique_ptr<BpfAttribution>> load(
      const BpfOptions& options);

  ~BpfAttribution();
  BpfAttribution(const BpfAttribution&) = delete;
  BpfAttribution& operator=(const BpfAttribution&) = delete;

  // The owner recorded for a flow / a bound port: from the mirror when its slot holds the key
  // (no syscall), else one bpf(BPF_MAP_LOOKUP_ELEM) on the hash map. (A listener of a port no
  // socket was bound to since the programs were loaded, a server bound before wardend
  // started, is none without asking: see portBound.)
  bool lookupFlow(const warden_flow_key& key, warden_owner& owner) const noexcept;
  bool lookupListener(const warden_listener_key& key, warden_owner& owner) const noexcept;
  // The mirrors alone (what the lookups try first).
  bool mirroredFlow(const warden_flow_key& key, warden_owner& owner) const noexcept;
  bool mirroredListener(const warden_listener_key& key, warden_owner& owner) const noexcept;
  // Records that a UDP flow's verdict was made for the owner record of that generation
  // (bpf `decided`): the table's reuse check then lets the flow's later packets through while
  // that record owns the key. One bpf(2) call; false when the update failed.
  bool markDecided(const warden_flow_key& key, std::uint64_t generation) const noexcept;
  // The socket filter program of that check, for the table's xt_bpf match (rule 0c). It also
  // keys the flow of a connected UDP socket's first datagram, as the next one does.
  // Rule 1i's socket filter: keys the first echo request of a ping or raw socket's ICMP flow
  // for its sending task (bpf/attribution/icmp_out.bpf.h). Never matches.
  int icmpEchoFd() const;
  // Rule 0e's socket filter: matches an echo request on an accepted flow that its own socket's
  // record was not accepted for (bpf/attribution/icmp_out.bpf.h).
  int icmpReusedFd() const;
  int udpReuseFilterFd() const;
  // The socket filter program that keys a connected UDP socket's flow at its first datagram
  // when that is not on an accepted flow (rule 1u): the connect hook could not, the socket's
  // local port being bound only after it. Without the table, nothing keys such a flow.
  int udpConnectedFd() const;

  // Inbound flows (bpf/attribution.h, "Inbound flows"): what the map holds for a flow: the
  // socket it was decided for, and whether the ingress check found it delivered to another
  // process's socket; one bpf(2) call each. noteInboundReceiver is false when the update
  // failed (the flow's delivery is then not checked).
  bool lookupInboundReceiver(const warden_inbound_key& key,
                             warden_inbound_receiver& receiver) const noexcept;
  bool noteInboundReceiver(const warden_inbound_key& key,
                           const warden_inbound_receiver& receiver) const noexcept;
  void forgetInboundReceiver(const warden_inbound_key& key) const noexcept;
  // Marks local `port` as one inbound flows are noted for (bpf `port_bits`,
  // WARDEN_PORTS_NOTED): before the first note to it. No syscall: a bit set in wardend's
  // mapping of the array.
  void noteInboundPort(std::uint16_t port) const noexcept;
  // Whether it was (else no inbound flow to that port has a note to look for).
  bool inboundPortNoted(std::uint16_t port) const noexcept;
  // Whether the ingress check may have found a flow to `port` delivered to another socket
  // (WARDEN_PORTS_MISDELIVERED; else no note of the port's says so).
  bool portMisdelivered(std::uint16_t port) const noexcept;
  // Whether a socket may have been bound to `port` since the programs were loaded
  // (WARDEN_PORTS_BOUND; else no listener or bind record of the port exists).
  bool portBound(std::uint16_t port) const noexcept;
  // The record of the bind of the socket with that cookie (bpf `bound_sockets`).
  bool lookupBoundSocket(std::uint64_t cookie, warden_owner& owner) const noexcept;
  // The last process that sent on the UDP socket with that cookie through a hook (bpf
  // `udp_senders`).
  bool lookupUdpSender(std::uint64_t cookie, warden_owner& owner) const noexcept;
  // The socket filter program that says whether an accepted inbound UDP flow was delivered to
  // another process's socket (rule 0i).
  int inboundMisdeliveredFd() const;

  // Lookups the mirrors could not answer, which cost a syscall.
  std::uint64_t mirrorMisses() const { return mirrorMisses_.load(std::memory_order_relaxed); }

  // Starts reading the ring buffer into `handler`.
  [[nodiscard]] base::Result<void> openEvents(EventHandler handler);
  int eventsFd() const;  // epoll fd that turns readable when records wait; -1 before openEvents
  // Hands every waiting record to the handler, until it asks to stop; returns how many.
  [[nodiscard]] base::Result<int> consumeEvents();

  // ExecWindows, over the programs' exec_windows: one or two bpf(2) calls a window (nullopt
  // also without process events), one a deletion.
  std::optional<warden_exec_window> execWindow(std::uint32_t tgid,
                                               std::uint64_t startNs) const override;
  void forgetExecWindow(const warden_exec_window_key& key) const override;
  std::vector<warden_exec_window_key> execWindowKeys(const warden_exec_window_key* after,
                                                     std::size_t max) const override;

  BpfCounters counters() const;  // summed over CPUs
  // One counter of the programs' per-CPU counters map `countersFd`, summed over CPUs (one
  // bpf(2) call); nullopt when it cannot be read.
  static std::optional<std::uint64_t> counter(int countersFd, std::uint32_t index);
  int countersFd() const { return countersFd_; }
  [[nodiscard]] base::Result<std::size_t> flowEntryCount()
      const;  // walks the map: not for hot paths
  std::uint32_t flowCapacity() const { return flowEntries_; }
  std::size_t programCount() const;  // attached programs
  std::uint32_t pidNamespaceInode() const { return pidNamespaceInode_; }

  // The cookie of the caller's network namespace (SO_NETNS_COOKIE), as the programs see it.
  [[nodiscard]] static base::Result<std::uint64_t> currentNetnsCookie();

  // Kernel-held verdicts (bpf/attribution.h): the maps KernelVerdicts writes (-1 when off)
  // and the table's matches.
  bool holdsVerdicts() const { return heldEntries_ > 0; }
  std::uint32_t heldCapacity() const { return heldEntries_; }
  int heldVerdictsFd() const { return holdsVerdicts() ? heldVerdictsFd_ : -1; }
  int heldStateFd() const { return holdsVerdicts() ? heldStateFd_ : -1; }
  int heldNamesFd() const { return holdsVerdicts() ? heldNamesFd_ : -1; }
  HeldMatchFds heldMatchFds() const;
  // Detaches from the cgroup directory `cgroup` the held-verdict hooks a wardend that no
  // longer runs left there (killed, crashed); never a live wardend's, the caller's included.
  // wardend calls it once its own hooks and table are in place, so that its predecessor's
  // decisions applied until then. Returns how many it detached.
  [[nodiscard]] static base::Result<int> detachStaleHooks(const std::string& cgroup);

 private:
  BpfAttribution() = default;
  base::Result<void> attach(const BpfOptions& options);

  struct SkeletonDeleter {
    void operator()(attribution_bpf* skeleton) const;
  };
  struct LinkDeleter {
    void operator()(bpf_link* link) const;
  };
  struct RingDeleter {
    void operator()(ring_buffer* ring) const;
  };
  // A mirror: a BPF array of Slot mapped read-only into this process.
  template <typename Slot>
  struct Mirror {
    const Slot* slots = nullptr;
    std::uint32_t mask = 0;  // slot count - 1
    std::size_t bytes = 0;
    Mirror() = default;
    Mirror(const Mirror&) = delete;
    Mirror& operator=(const Mirror&) = delete;
    ~Mirror();
  };
  template <typename Slot>
  static base::Result<void> mapMirror(int mapFd, std::uint32_t slots, Mirror<Slot>& mirror);
  // Maps `bytes` of an array map (BPF_F_MMAPABLE) with `protection`; whole pages, as the
  // kernel maps them, whose length is returned in `mapped`.
  static base::Result<void*> mapArray(int mapFd, std::size_t bytes, int protection,
                                      std::size_t& mapped, const char* what);
  // The word of `bitmap` in `port_bits` that holds `port`'s bit.
  std::atomic_ref<std::uint64_t> portWord(warden_port_bitmap bitmap,
                                          std::uint16_t port) const noexcept;
  bool portMarked(warden_port_bitmap bitmap, std::uint16_t port) const noexcept;
  // Sets `port`'s bit in `bitmap` (a fully ordered read-modify-write, only while it is clear).
  void markPort(warden_port_bitmap bitmap, std::uint16_t port) const noexcept;

  // Declaration order is destruction order reversed: ring reader and links go before the
  // skeleton that owns the maps and programs.
  std::unique_ptr<attribution_bpf, SkeletonDeleter> skeleton_;
  base::UniqueFd cgroupFd_;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links_;
  Mirror<warden_flow_slot> flowMirror_;
  Mirror<warden_listener_slot> listenerMirror_;
  std::uint64_t* portBits_ = nullptr;  // bpf `port_bits`, mapped writable
  std::size_t portBitsBytes_ = 0;
  mutable std::atomic<std::uint64_t> mirrorMisses_{0};
  struct EventReader {
    EventHandler handler;
    int handled = 0;  // records handed to it by the consumeEvents() in progress
  };
  static int onRecord(void* context, void* data, std::size_t size);  // ring_buffer_sample_fn
  EventReader reader_;
  std::unique_ptr<ring_buffer, RingDeleter> ring_;
  // The maps' descriptors, owned by the skeleton: borrowed, never closed here.
  int flowsFd_ = -1;
  int execWindowsFd_ = -1;  // -1 without process events
  int listenersFd_ = -1;
  int countersFd_ = -1;
  int decidedFd_ = -1;
  int inboundReceiversFd_ = -1;
  int boundSocketsFd_ = -1;
  int udpSendersFd_ = -1;
  std::uint32_t flowEntries_ = 0;
  std::uint32_t pidNamespaceInode_ = 0;
  int heldVerdictsFd_ = -1;
  int heldStateFd_ = -1;
  int heldNamesFd_ = -1;
  std::uint32_t heldEntries_ = 0;
  // Hooks attached without a link (see BpfOptions::heldEntries): program fd and attach type,
  // detached by the destructor.
  std::vector<std::pair<int, int>> persistent_;
};

}  // namespace warden::engine
