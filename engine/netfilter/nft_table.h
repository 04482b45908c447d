#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "engine/netfilter/marks.h"

namespace warden::engine {

// How new flows are handed to userspace.
enum class QueueMethod : std::uint8_t {
  kNative,    // the nft `queue` expression (nft_queue)
  kXtCompat,  // the xtables NFQUEUE target through nft_compat, as iptables-nft does
};

const char* toString(QueueMethod method);

// The `inet warden` table warden installs. Per hook (output, and input when inbound or dns), a
// deciding chain at `priority`:
//   0f. TCP, ct mark says "accepted", and not a SYN without ACK
//                                      -> our bits of the packet mark cleared (as rule 0),
//                                         accept: nearly every packet, in one rule. Nothing
//                                         below would do otherwise: rule 0b takes only such a
//                                         SYN, 0a, 0c and 0q only UDP, and rule 1 accepts.
//   0.  every packet: warden's bits of the packet mark cleared (a process can set any packet
//       mark: SO_MARK, its sendmsg control message and raw sockets need only CAP_NET_RAW)
//   0a. input only, when dns: UDP from port 53, ct mark says "accepted", ct direction reply,
//       and not in on loopback, or in on loopback from a local address, or in on loopback on
//       a flow a NAT rule redirected (three rules: anything else on loopback was sent from an
//       address not the host's, a forged answer, and goes on unread)
//                                      -> tag the packet mark "DNS reply", queue (always bypass)
//   0b. TCP SYN (no ACK), ct mark says "accepted", and on output with kernel-held verdicts
//       the eBPF match says it is not a SYN sent again of a connection a held allow passed
//                                      -> queue: a new connection on an old flow's 4-tuple
//                                         (on input only when inbound)
//   0c. output only, with eBPF: UDP, ct mark says "accepted", and the eBPF socket filter says
//       another process than the one the flow was allowed for owns its 4-tuple now (having
//       first keyed a connected socket's first datagram, as rule 1u does)
//                                      -> queue: decided again for its new owner
//   0i. input only, when inbound, with eBPF: UDP, ct mark says "accepted", ct direction
//       original, and the eBPF match says the ingress check found the flow delivered to
//       another process's socket than the one it was accepted for (bpf/attribution.h,
//       "Inbound flows")     -> queue: decided again for the holder of that socket (a TCP
//                                         flow's SYN sent again takes rule 0b)
//   0q. output only, when dns: UDP to port 53 and ct mark says "accepted" (after 0c, so that a
//       query of a process reusing another's 4-tuple is decided first)
//                                      -> tag the packet mark "DNS reply", queue (always
//                                         bypass): a later DNS query of the flow, read (its
//                                         reply must answer it) and accepted unchanged
//   1.  ct mark says "accepted"        -> accept (a decided flow never leaves the kernel again)
//   1b. ct mark says "revoked: drop"   -> drop
//   1c. ct mark says "revoked: reject" -> reject (TCP reset, else ICMP admin prohibited), but
//                                         not packets only related to the flow
//   1d. ct state invalid               -> count; drop unless `[engine] invalid = "accept"`
//   1m. output only, `kernel` refusing in enforce mode: untracked ICMPv6 MLD (130 to 132, 143;
//       two rules)                     -> drop (kernel traffic conntrack does not track)
//   1u. output only, with eBPF: UDP    -> no verdict: the eBPF socket filter keys the flow of a
//                                         connected socket's first datagram for its sender (the
//                                         connect hook kept the connector, whose local port
//                                         may not have been bound then), before rules 3h, 4
//                                         and 4b read it. Rule
//                                         0c's program does the same for datagrams on accepted
//                                         flows, before it compares their owner.
//   1i. output only, with eBPF: ICMP and ICMPv6 (two rules)
//                                      -> no verdict: the eBPF socket filter keys the flow of an
//                                         echo request of a ping or raw socket made in the
//                                         attached cgroup tree for its sending task (nothing
//                                         else records those), before rule 4 queues it
//   3h. output only, with kernel-held verdicts: ct state new, and an eBPF match says a held
//       verdict decides the packet (the hook of the very connect or sendmsg that sends it
//       found one for its process and destination, see bpf/attribution.h)
//                                      -> allow: ct mark "accepted", accept; deny: TCP drop,
//                                         UDP a queue nobody listens on (no bypass: a
//                                         silent drop, where a drop fails the send() with
//                                         EPERM); reject: as rule 3. Never queued to wardend,
//                                         so these keep working while no wardend listens.
//   4.  ct state new                   -> queue (with bypass when failing open); on input only
//                                         when inbound
//   4b. ct direction original, none of our bits on the ct mark
//                                      -> queue: a flow that passed undecided (failing open,
//                                         before wardend ran, a related flow) is decided now
// and a verdict chain at `priority + 1`, which a packet reaches only once the deciding chain
// (or a worker's NF_ACCEPT verdict, which resumes at the next hook entry) let it through:
//   2u. none of our bits on the packet mark
//                                      -> accept: every packet passes this chain, nearly all
//                                         without a verdict (rules 2 and 3 never match them)
//   2.  packet mark says "accepted"    -> copy it to the ct mark, restore the packet mark, accept
//   3.  packet mark says "reject"      -> reject (TCP reset, else ICMP admin prohibited)
// Rules 2 and 3 serve packets the workers hand back with a mark: this kernel build cannot set
// the ct mark from a queue verdict (no NETFILTER_NETLINK_GLUE_CT). Since rule 0 clears our bits
// before the deciding chain reads or queues anything, every mark the verdict chain sees was set
// by a worker (or by the tag of rules 0a and 0q, which the workers clear): no process can claim a
// verdict by marking its own packets (rule 0f clears them as well). Rules 0f and 1 come early
// because nearly every packet of an established flow stops there, except the DNS replies rule 0a
// hands to the workers to read host names from (they accept them unchanged, tag cleared), and
// those of UDP flows, which rule 0c looks at first. Only replies of accepted flows are
// read, so that a flow still to be decided is never waved through as "DNS"; and rule 0a always
// bypasses, since an accepted flow must keep working while no wardend listens, whatever `fail`
// says. Rules 1b and 1c hold the flows `warden reload --redecide` revoked by rewriting their ct
// mark; only accepted flows can be revoked, as a denied flow's conntrack entry never outlives
// its first packet.
struct TablePlan {
  QueueMethod method = QueueMethod::kXtCompat;
  std::uint16_t firstQueue = 0;
  std::uint16_t queueCount = 1;
  bool bypass = true;  // fail open: pass new flows when no process listens on the queue
  bool inbound = true;
  bool dns = true;            // rules 0a and 0q: queue DNS replies and queries to read them
  bool dropInvalid = true;    // rule 1d: drop what conntrack calls invalid (else only count it)
  bool dropMld = false;       // rule 1m: drop MLD messages (`kernel` refuses, mode enforce)
  int udpReuseFilterFd = -1;  // rule 0c's socket filter program (eBPF attribution only)
  int udpConnectedFd = -1;    // rule 1u's socket filter program (eBPF attribution only)
  int icmpEchoFd = -1;        // rule 1i's socket filter program (eBPF attribution only)
  int icmpReusedFd = -1;      // rule 0e's socket filter program (eBPF attribution only)
  int inboundMisdeliveredFd = -1;  // rule 0i's (eBPF attribution only)
  // Rules 3h's programs (kernel-held verdicts only; -1: no such rules).
  int heldAllowFd = -1;
  int heldDenyFd = -1;
  int heldRejectFd = -1;
  int heldSynAgainFd = -1;  // rule 0b's program on output (kernel-held verdicts only)
  MarkBits marks;
  int priority = 0;      // filter priority of the deciding chains (verdict chains: + 1)
  bool queueing = true;  // false: no rules 0a, 0q, 0b and 4, for draining the queues at shutdown
  // Stored in the table's userdata when the table is created, so that a wardend can tell its
  // own table from another live one's (see TableOwner).
  std::string owner;
  bool recreate = false;  // replace the table whole (and so take its ownership)
};

// Who created the table: "wardend pid=123 start=456789" (start = /proc/PID/stat starttime),
// so that a reused pid is never mistaken for the owner.
struct TableOwner {
  int pid = 0;
  std::uint64_t startTime = 0;

  static TableOwner self();
  static std::optional<TableOwner> parse(std::string_view text);
  std::string toString() const;
  bool alive() const;  // that very process still runs
  bool operator==(const TableOwner&) const = default;
};

// Everything talks to nf_tables over netlink in single transactions; only the table
// `inet warden` is ever created, changed or deleted. Stateless: safe from any thread.
class NftTable {
 public:
  static constexpr const char* kName = "warden";
  // The named counter of packets conntrack called invalid (rule 1d).
  static constexpr const char* kInvalidCounter = "invalid";
  // The named counter of new outbound flows from an address not this host's (rule 1f).
  static constexpr const char* kForeignSourceCounter = "foreign-source";
  // The named counter of packets the queue rules (0a, 0b, 0c, 0i, 0q, 4, 4b) sent to the queues.
  static constexpr const char* kQueuedCounter = "queued";

  // Whether the kernel has the native queue expression: a transaction that would add it is
  // sent with a final message that always fails, so the kernel aborts it and nothing changes.
  [[nodiscard]] static base::Result<QueueMethod> probeQueueMethod();

  // Creates the table or replaces its rules, in one transaction. An existing table keeps its
  // base chains, so their hooks stay registered: unregistering a hook makes the kernel drop
  // every packet still waiting in any queue. Only if the existing table cannot be updated in
  // place (an incompatible chain) is it deleted and created anew, still in one transaction.
  [[nodiscard]] static base::Result<void> install(const TablePlan& plan);

  // Deletes the table; true if there was one. Drain the queues first (see install).
  [[nodiscard]] static base::Result<bool> remove();

  // Packets rule 1d counted as invalid since the table was created.
  [[nodiscard]] static base::Result<std::uint64_t> invalidPackets();
  // The packets rule 1f dropped: new outbound flows from an address not this host's.
  [[nodiscard]] static base::Result<std::uint64_t> foreignSourcePackets();
  // Packets the queue rules sent to the queues since the table was created, whether they
  // entered a queue or not: the kernel passes one without a queue entry when the queue is full
  // and fails open (NFQA_CFG_F_FAIL_OPEN) or nobody listens (bypass), and drops one when the
  // queue is full and fails closed.
  [[nodiscard]] static base::Result<std::uint64_t> queuedPackets();

  // The owner recorded in the table; nullopt if there is no table, "" if it names none.
  [[nodiscard]] static base::Result<std::optional<std::string>> owner();

  // Whether the table (or, when named, one of its chains) exists in this network namespace.
  [[nodiscard]] static base::Result<bool> exists(const char* chain = nullptr);

 private:
  // The packets counted by the table's named counter `name`.
  [[nodiscard]] static base::Result<std::uint64_t> counterPackets(const char* name);
};

}  // namespace warden::engine
