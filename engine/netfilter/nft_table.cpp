#include "engine/netfilter/nft_table.h"

#include "base/logging.h"
#include "base/proc_stat.h"
#include "engine/netfilter/nft_batch.h"
#include "engine/netfilter/nft_rules.h"
#include "engine/netfilter/packet.h"

// netinet/in.h before the linux/ headers, which otherwise redefine its types.
#include <netinet/in.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/object.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace warden::engine {
namespace {

using nft::bpfMatch;
using nft::ChainPtr;
using nft::countedQueue;
using nft::ctDirectionIs;
using nft::ctMarkIs;
using nft::ctStateHas;
using nft::ctStateLacks;
using nft::ctStatusHas;
using nft::icmpTypeWithin;
using nft::inputIsLoopback;
using nft::namedCounter;
using nft::newChain;
using nft::newRule;
using nft::ObjPtr;
using nft::openNetfilterSocket;
using nft::packetMarkIs;
using nft::protocolIs;
using nft::queue;
using nft::reject;
using nft::RulePtr;
using nft::setCtMark;
using nft::setPacketMark;
using nft::sourceIsLocal;
using nft::sourceIsNotLocal;
using nft::TablePtr;
using nft::tcpFlagsAre;
using nft::tcpFlagsAreNot;
using nft::Transaction;
using nft::transportPortIs;
using nft::verdict;

// Rules 1b and 1c of TablePlan: a flow `warden reload --redecide` revoked is dropped, or
// rejected, at each of its packets. The reject spares packets the conntrack entry only relates
// to: the reset or ICMP error the reject itself makes is attached to the revoked entry, and
// rejecting it in turn would drop it before the socket learns of the refusal.
void addRevokedRules(Transaction& tx, const char* name, const MarkBits& marks) {
  auto ownPacket = [&](nftnl_rule* rule) {
    ctMarkIs(rule, marks, marks.revokedReject());
    ctStateLacks(rule, NF_CT_STATE_BIT(IP_CT_RELATED));
  };
  {  // 1b. revoked: drop
    RulePtr rule = newRule(name);
    ctMarkIs(rule.get(), marks, marks.revokedDrop());
    verdict(rule.get(), NF_DROP);
    tx.addRule(rule.get());
  }
  {  // 1c. revoked: reject, TCP with a reset
    RulePtr rule = newRule(name);
    ownPacket(rule.get());
    protocolIs(rule.get(), IPPROTO_TCP);
    reject(rule.get(), NFT_REJECT_TCP_RST, 0);
    tx.addRule(rule.get());
  }
  {  // 1c. revoked: reject, anything else with ICMP / ICMPv6 administratively prohibited
    RulePtr rule = newRule(name);
    ownPacket(rule.get());
    reject(rule.get(), NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_ICMPX_ADMIN_PROHIBITED);
    tx.addRule(rule.get());
  }
}

// A queue number outside warden's own, which nobody binds (binding one takes CAP_NET_ADMIN).
std::uint16_t silentDropQueue(const TablePlan& plan) {
  constexpr std::uint32_t kHighest = 65535;
  const std::uint32_t last = std::uint32_t{plan.firstQueue} + plan.queueCount - 1;
  return static_cast<std::uint16_t>(last < kHighest ? kHighest : plan.firstQueue - 1);
}

// Rules 3h: the first packet of a flow a kernel-held verdict decides. Each match runs the eBPF
// program of one action, which counts the flows it matches: the protocol test comes first in
// the deny and reject rules, so that a packet runs each program once at most.
void addHeldRules(Transaction& tx, const char* name, const TablePlan& plan) {
  const MarkBits& marks = plan.marks;
  {  // allowed: remembered on the flow like a worker's accept
    RulePtr rule = newRule(name);
    ctStateHas(rule.get(), NF_CT_STATE_BIT(IP_CT_NEW));
    bpfMatch(rule.get(), plan.heldAllowFd);
    setCtMark(rule.get(), marks, marks.accept());
    verdict(rule.get(), NF_ACCEPT);
    tx.addRule(rule.get());
  }
  {  // denied TCP: dropped (connect() takes a dropped SYN as lost, and sends it again)
    RulePtr rule = newRule(name);
    protocolIs(rule.get(), IPPROTO_TCP);
    ctStateHas(rule.get(), NF_CT_STATE_BIT(IP_CT_NEW));
    bpfMatch(rule.get(), plan.heldDenyFd);
    verdict(rule.get(), NF_DROP);
    tx.addRule(rule.get());
  }
  {  // denied UDP (held verdicts are for TCP and UDP only): handed to a queue nobody listens
     // on, without bypass. A packet a rule drops in the output hook fails the send() that
     // made it with EPERM, where a flow the queue denies is dropped after that send()
     // returned, unseen: a queue without a listener frees the packet and reports it taken
     // (nf_queue), so that send() succeeds as it does for the queue's deny (verified on this
     // kernel by test_kernel_verdicts.py).
    RulePtr rule = newRule(name);
    protocolIs(rule.get(), IPPROTO_UDP);
    ctStateHas(rule.get(), NF_CT_STATE_BIT(IP_CT_NEW));
    bpfMatch(rule.get(), plan.heldDenyFd);
    TablePlan nowhere = plan;
    nowhere.firstQueue = silentDropQueue(plan);
    nowhere.queueCount = 1;
    nowhere.bypass = false;
    queue(rule.get(), nowhere);
    tx.addRule(rule.get());
  }
  {  // rejected TCP: a reset
    RulePtr rule = newRule(name);
    protocolIs(rule.get(), IPPROTO_TCP);
    ctStateHas(rule.get(), NF_CT_STATE_BIT(IP_CT_NEW));
    bpfMatch(rule.get(), plan.heldRejectFd);
    reject(rule.get(), NFT_REJECT_TCP_RST, 0);
    tx.addRule(rule.get());
  }
  {  // rejected anything else: ICMP / ICMPv6 administratively prohibited
    RulePtr rule = newRule(name);
    protocolIs(rule.get(), IPPROTO_UDP);
    ctStateHas(rule.get(), NF_CT_STATE_BIT(IP_CT_NEW));
    bpfMatch(rule.get(), plan.heldRejectFd);
    reject(rule.get(), NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_ICMPX_ADMIN_PROHIBITED);
    tx.addRule(rule.get());
  }
}

// Rules 0a and 0q: a UDP packet of an accepted flow whose port at `portOffset` of the
// transport header is 53 is tagged "DNS" on our mark bits and queued to be read (never
// decided), always with bypass: an accepted flow must keep working while no wardend listens.
// `arrival`, for replies on input: which ones are read (see TapArrival).
enum class TapArrival {
  kAny,
  kFromOutside,     // not on a loopback device
  kLocalSource,     // on loopback, from one of this host's addresses
  kRedirectedHere,  // on loopback, on a flow a NAT rule sent to a local server
};

void addDnsTapRule(Transaction& tx, const char* name, const TablePlan& plan,
                   std::uint32_t portOffset, std::optional<ip_conntrack_dir> direction = {},
                   TapArrival arrival = TapArrival::kAny) {
  const MarkBits& marks = plan.marks;
  RulePtr rule = newRule(name);
  protocolIs(rule.get(), IPPROTO_UDP);
  transportPortIs(rule.get(), portOffset, 53);
  ctMarkIs(rule.get(), marks, marks.accept());
  if (direction) ctDirectionIs(rule.get(), *direction);
  switch (arrival) {
    case TapArrival::kAny:
      break;
    case TapArrival::kFromOutside:
      inputIsLoopback(rule.get(), false);
      break;
    case TapArrival::kLocalSource:
      inputIsLoopback(rule.get(), true);
      sourceIsLocal(rule.get());
      break;
    case TapArrival::kRedirectedHere:
      inputIsLoopback(rule.get(), true);
      ctStatusHas(rule.get(), IPS_DST_NAT);
      break;
  }
  setPacketMark(rule.get(), marks, marks.dnsReply());
  TablePlan bypassing = plan;
  bypassing.bypass = true;
  countedQueue(rule.get(), bypassing);
  tx.addRule(rule.get());
}

// One hook's deciding chain with its rules (see TablePlan); an existing chain's rules are
// replaced.
void addHookChain(Transaction& tx, const char* name, std::uint32_t hook, const TablePlan& plan) {
  const MarkBits& marks = plan.marks;
  ChainPtr chain = newChain(name, hook, plan.priority);
  tx.addChain(chain.get(), NFT_MSG_NEWCHAIN, NLM_F_CREATE);
  RulePtr flush = newRule(name);
  tx.addRule(flush.get(), NFT_MSG_DELRULE, 0);  // a DELRULE naming only the chain flushes it

  {  // 0f. a TCP packet of an accepted flow that is no SYN of a new connection (rule 0b's): what
     //     nearly every packet is, accepted by one rule of 12 expressions where rules 0 to 1
     //     take 14 to 16. Our bits of its mark are cleared as rule 0 does, or a forged
     //     "reject" would make the verdict chain refuse the flow's packets.
    RulePtr rule = newRule(name);
    ctMarkIs(rule.get(), marks, marks.accept());
    protocolIs(rule.get(), IPPROTO_TCP);
    tcpFlagsAreNot(rule.get(), kTcpSyn | kTcpAck, kTcpSyn);
    setPacketMark(rule.get(), marks, 0);
    verdict(rule.get(), NF_ACCEPT);
    tx.addRule(rule.get());
  }

  {  // 0. our bits of the packet mark are cleared before anything reads them. A process may
     //    set any packet mark it likes (SO_MARK and its sendmsg control message need only
     //    CAP_NET_RAW; so does a raw socket), so in this chain a mark is never a verdict: the
     //    workers' verdicts come back with NF_ACCEPT and are read by the verdict chain only,
     //    which a packet reaches after this chain has passed it (nf_reinject resumes at the
     //    next hook entry). Verified on this kernel by test_packet_path.py's forged-mark tests.
    RulePtr rule = newRule(name);
    setPacketMark(rule.get(), marks, 0);
    tx.addRule(rule.get());
  }

  if (hook == NF_INET_LOCAL_IN && plan.dns && plan.queueing) {
    // 0a. a DNS reply to an accepted flow: tagged, so the workers read it instead of deciding.
    //     Only in the reply direction: what a peer sends from port 53 on a flow it opened is
    //     no answer to this host's query (and goes on to rule 0i).
    //     A reply that comes in on loopback was sent by a process of this host: from one of
    //     its addresses (a local resolver), or on a flow a NAT rule redirected to a local
    //     server. One with another source address was forged (IP_FREEBIND lets any process
    //     send from an address that is not the host's, and CAP_NET_BIND_SERVICE from port
    //     53): it is let through on its flow's verdict (rule 1), unread.
    addDnsTapRule(tx, name, plan, /*portOffset=*/0, IP_CT_DIR_REPLY, TapArrival::kFromOutside);
    addDnsTapRule(tx, name, plan, 0, IP_CT_DIR_REPLY, TapArrival::kLocalSource);
    addDnsTapRule(tx, name, plan, 0, IP_CT_DIR_REPLY, TapArrival::kRedirectedHere);
  }

  if (plan.queueing && (hook == NF_INET_LOCAL_OUT || plan.inbound)) {
    // 0b. a TCP SYN on a flow conntrack remembers as accepted: a new connection reusing the
    //     4-tuple of one whose end conntrack never saw (it ignores such a SYN rather than
    //     starting a new entry), possibly from another process. Decided like any new flow,
    //     not waved through on the old verdict.
    //     With kernel-held verdicts, a SYN sent again of a connection whose first SYN a held
    //     allow passed is that connection's, and is let through without asking wardend,
    //     which may be away (the program, last, runs only for such SYNs).
    RulePtr rule = newRule(name);
    protocolIs(rule.get(), IPPROTO_TCP);
    tcpFlagsAre(rule.get(), kTcpSyn | kTcpAck, kTcpSyn);
    ctMarkIs(rule.get(), marks, marks.accept());
    if (hook == NF_INET_LOCAL_OUT && plan.heldSynAgainFd >= 0) {
      bpfMatch(rule.get(), plan.heldSynAgainFd);
    }
    countedQueue(rule.get(), plan);
    tx.addRule(rule.get());
  }

  if (plan.queueing && hook == NF_INET_LOCAL_OUT && plan.udpReuseFilterFd >= 0) {
    // 0c. a UDP packet of an accepted flow whose 4-tuple is now owned by another process than
    //     the one it was allowed for (a conntrack entry outlives its socket: the next process
    //     to bind the port and send to the same peer would ride the old verdict). The eBPF
    //     socket filter compares the flow map's owner record with the one wardend allowed.
    RulePtr rule = newRule(name);
    protocolIs(rule.get(), IPPROTO_UDP);
    ctMarkIs(rule.get(), marks, marks.accept());
    bpfMatch(rule.get(), plan.udpReuseFilterFd);
    countedQueue(rule.get(), plan);
    tx.addRule(rule.get());
  }

  if (plan.queueing && hook == NF_INET_LOCAL_OUT && plan.icmpReusedFd >= 0) {
    // 0e. an ICMP echo request of an accepted flow sent through another socket than the one the
    //     flow was accepted for: a ping socket bound to the identifier another program's ping
    //     used (readable in /proc/net/icmp), on the conntrack entry that ping left accepted.
    //     The eBPF socket filter keys it for its sender and matches until wardend accepted the
    //     flow for that record (`decided`, as for UDP): decided like a new flow.
    for (const int protocol : {int{IPPROTO_ICMP}, int{IPPROTO_ICMPV6}}) {
      RulePtr rule = newRule(name);
      protocolIs(rule.get(), static_cast<std::uint8_t>(protocol));
      ctMarkIs(rule.get(), marks, marks.accept());
      bpfMatch(rule.get(), plan.icmpReusedFd);
      countedQueue(rule.get(), plan);
      tx.addRule(rule.get());
    }
  }

  if (plan.queueing && hook == NF_INET_LOCAL_IN && plan.inbound &&
      plan.inboundMisdeliveredFd >= 0) {
    // 0i. a UDP datagram of an accepted inbound flow that the kernel delivered to another
    //     process's socket than the one the flow was accepted for (a SO_REUSEPORT group's
    //     steering program, SO_INCOMING_CPU): the eBPF ingress check dropped it and noted that
    //     socket, and the flow is decided again for its holder; or one whose note of that
    //     socket is gone (the map's bound), decided again to be noted. Only packets in the
    //     direction that opened the flow: replies to this host's own flows never run the
    //     program. Always with bypass, as 0a: an accepted flow keeps working while no wardend
    //     listens (and its programs' maps keep their entries then).
    RulePtr rule = newRule(name);
    protocolIs(rule.get(), IPPROTO_UDP);
    ctMarkIs(rule.get(), marks, marks.accept());
    ctDirectionIs(rule.get(), IP_CT_DIR_ORIGINAL);
    bpfMatch(rule.get(), plan.inboundMisdeliveredFd);
    TablePlan bypassing = plan;
    bypassing.bypass = true;
    countedQueue(rule.get(), bypassing);
    tx.addRule(rule.get());
  }

  if (hook == NF_INET_LOCAL_OUT && plan.dns && plan.queueing) {
    // 0q. a DNS query of an accepted flow (a later one: the first starts the flow and is
    //     decided): tagged like a reply, so the workers know every query a reply may answer.
    //     After 0c, so that the query of a process riding another's 4-tuple is decided first.
    addDnsTapRule(tx, name, plan, /*portOffset=*/sizeof(std::uint16_t));  // destination port
  }

  {  // 1. a flow decided before never leaves the kernel again; early, since it is what nearly
     //    every packet of an established flow matches
    RulePtr rule = newRule(name);
    ctMarkIs(rule.get(), marks, marks.accept());
    verdict(rule.get(), NF_ACCEPT);
    tx.addRule(rule.get());
  }
  addRevokedRules(tx, name, marks);
  {  // 1d. a packet conntrack calls invalid (no flow it could belong to, such as a TCP segment
     //     with SYN+FIN or no flags at all) is never queued as new: counted, and dropped
     //     unless `[engine] invalid = "accept"`
    RulePtr rule = newRule(name);
    ctStateHas(rule.get(), NF_CT_STATE_INVALID_BIT);
    namedCounter(rule.get(), NftTable::kInvalidCounter);
    if (plan.dropInvalid) verdict(rule.get(), NF_DROP);
    tx.addRule(rule.get());
  }
  if (plan.dropMld && hook == NF_INET_LOCAL_OUT) {
    // 1m. an MLD message (listener query, report, done; MLDv2 report), which conntrack leaves
    //     untracked, so that no rule below sees it: the kernel sends reports naming each group
    //     a process joins, which any process may (IPV6_JOIN_GROUP needs no privilege), and a
    //     group address holds 112 bits of its choosing, carried to the link. Kernel traffic:
    //     decided here by `kernel` when it refuses (nothing to attribute, no flow to keep a
    //     verdict for, so nothing queued), also while wardend is away; IGMP's, tracked, are
    //     queued as new flows. Neighbour discovery (133 to 137) stays out: it needs a raw
    //     socket to forge (README).
    for (const auto& [low, high] : {std::pair<std::uint8_t, std::uint8_t>{130, 132}, {143, 143}}) {
      RulePtr rule = newRule(name);
      ctStateHas(rule.get(), NF_CT_STATE_UNTRACKED_BIT);
      protocolIs(rule.get(), IPPROTO_ICMPV6);
      icmpTypeWithin(rule.get(), low, high);
      verdict(rule.get(), NF_DROP);
      tx.addRule(rule.get());
    }
  }
  if (plan.queueing && hook == NF_INET_LOCAL_OUT) {
    // 1f. the first packet of a new flow this host sends from an address that is not its own:
    //     a socket bound with IPV6_FREEBIND (no privilege needed) or IP_TRANSPARENT to another
    //     host's address. Counted and dropped, never decided: a flow is judged by its remote
    //     end, and this one's is its source too. The kernel would answer it, a datagram to a
    //     closed local port say, with an ICMP error to that forged source, quoting whatever
    //     the program sent (related to the flow, so no rule would decide it): data carried to
    //     a peer the policy refuses (verified on this kernel by test_packet_tricks.py).
    RulePtr rule = newRule(name);
    ctStateHas(rule.get(), NF_CT_STATE_BIT(IP_CT_NEW));
    sourceIsNotLocal(rule.get());
    namedCounter(rule.get(), NftTable::kForeignSourceCounter);
    verdict(rule.get(), NF_DROP);
    tx.addRule(rule.get());
  }
  if (plan.queueing && hook == NF_INET_LOCAL_OUT && plan.udpConnectedFd >= 0) {
    // 1u. a UDP packet of a flow not accepted (rule 1 took those; rule 0c's program keyed a
    //     connected socket's first datagram on one): the eBPF socket filter keys the flow of a
    //     connected socket's first datagram, before rules 3h, 4 and 4b read its owner. The
    //     program never matches. Only UDP runs it, and established accepted flows never reach
    //     it: on them the key was written by 0c's program, whose run they pay already.
    RulePtr rule = newRule(name);
    protocolIs(rule.get(), IPPROTO_UDP);
    bpfMatch(rule.get(), plan.udpConnectedFd);
    tx.addRule(rule.get());
  }
  if (plan.queueing && hook == NF_INET_LOCAL_OUT && plan.icmpEchoFd >= 0) {
    // 1i. an ICMP packet of a flow not accepted: the eBPF socket filter keys an echo request of
    //     a ping or raw socket for its sender (no hook records those), before rule 4 queues
    //     it. Never matches; ICMP only.
    for (const int protocol : {int{IPPROTO_ICMP}, int{IPPROTO_ICMPV6}}) {
      RulePtr rule = newRule(name);
      protocolIs(rule.get(), static_cast<std::uint8_t>(protocol));
      bpfMatch(rule.get(), plan.icmpEchoFd);
      tx.addRule(rule.get());
    }
  }
  if (plan.queueing && hook == NF_INET_LOCAL_OUT && plan.heldAllowFd >= 0) {
    addHeldRules(tx, name, plan);
  }
  if (plan.queueing && (hook == NF_INET_LOCAL_OUT || plan.inbound)) {
    // 4. the first packet of a new flow goes to userspace
    RulePtr rule = newRule(name);
    ctStateHas(rule.get(), NF_CT_STATE_BIT(IP_CT_NEW));
    countedQueue(rule.get(), plan);
    tx.addRule(rule.get());
  }
  if (plan.queueing && (hook == NF_INET_LOCAL_OUT || plan.inbound)) {
    // 4b. a later packet, in the direction that opened it, of a flow nobody decided: one
    //     that passed while the queue was full or nobody listened (fail open), or before
    //     wardend started, or a related flow (an expectation's first packet is not "new").
    //     Decided now, so that failing open never keeps a flow open for good.
    RulePtr rule = newRule(name);
    ctDirectionIs(rule.get(), IP_CT_DIR_ORIGINAL);
    ctMarkIs(rule.get(), marks, 0);
    countedQueue(rule.get(), plan);
    tx.addRule(rule.get());
  }
}

// One hook's verdict chain, right after the deciding chain: it sees the packets a worker
// handed back (and those the deciding chain let through, whose warden bits it cleared).
void addVerdictChain(Transaction& tx, const char* name, std::uint32_t hook, const TablePlan& plan) {
  const MarkBits& marks = plan.marks;
  ChainPtr chain = newChain(name, hook, plan.priority + 1);
  tx.addChain(chain.get(), NFT_MSG_NEWCHAIN, NLM_F_CREATE);
  RulePtr flush = newRule(name);
  tx.addRule(flush.get(), NFT_MSG_DELRULE, 0);
  {  // 2u. none of our bits: nothing to do. Every packet of every flow passes this chain, and
     //     all but a flow's first carry no verdict: one test instead of rules 2, 3a and 3b's
     //     three. Changes nothing, since those match only packets that carry one.
    RulePtr rule = newRule(name);
    packetMarkIs(rule.get(), marks, 0);
    verdict(rule.get(), NF_ACCEPT);
    tx.addRule(rule.get());
  }
  {  // 2. accepted by a worker: remember it on the flow, give the packet its mark back
    RulePtr rule = newRule(name);
    packetMarkIs(rule.get(), marks, marks.accept());
    setCtMark(rule.get(), marks, marks.accept());
    setPacketMark(rule.get(), marks, 0);
    verdict(rule.get(), NF_ACCEPT);
    tx.addRule(rule.get());
  }
  {  // 3a. rejected TCP: a reset the client sees at once
    RulePtr rule = newRule(name);
    packetMarkIs(rule.get(), marks, marks.reject());
    protocolIs(rule.get(), IPPROTO_TCP);
    reject(rule.get(), NFT_REJECT_TCP_RST, 0);
    tx.addRule(rule.get());
  }
  {  // 3b. rejected anything else: ICMP / ICMPv6 administratively prohibited
    RulePtr rule = newRule(name);
    packetMarkIs(rule.get(), marks, marks.reject());
    reject(rule.get(), NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_ICMPX_ADMIN_PROHIBITED);
    tx.addRule(rule.get());
  }
}

// The named counter objects (rules 1d's and 1f's, and the queue rules'); creating one that exists
// keeps its count.
void addCounters(Transaction& tx) {
  tx.addCounter(NftTable::kInvalidCounter);
  tx.addCounter(NftTable::kQueuedCounter);
  tx.addCounter(NftTable::kForeignSourceCounter);
}

bool wantsInput(const TablePlan& plan) { return plan.inbound || plan.dns; }

using StaleChains = std::set<std::string_view>;

// `stale`: the input chains that exist although the plan no longer wants them. They are deleted
// only then:
// creating a base chain registers its hook at once, so "create, then delete" in one
// transaction would unregister a hook at commit, and that drops every queued packet.
void addTableBody(Transaction& tx, const TablePlan& plan, const StaleChains& stale) {
  addCounters(tx);
  addHookChain(tx, "output", NF_INET_LOCAL_OUT, plan);
  addVerdictChain(tx, "output_verdict", NF_INET_LOCAL_OUT, plan);
  if (wantsInput(plan)) {
    addHookChain(tx, "input", NF_INET_LOCAL_IN, plan);
    addVerdictChain(tx, "input_verdict", NF_INET_LOCAL_IN, plan);
    return;
  }
  for (const char* name : {"input", "input_verdict"}) {
    if (!stale.contains(name)) continue;
    ChainPtr gone = newChain(name, ~0u, 0);
    tx.addChain(gone.get(), NFT_MSG_DELCHAIN, 0);
  }
}

base::Error transactionError(const std::map<std::uint32_t, int>& answers, const char* what) {
  for (const auto& [seq, code] : answers) {
    if (code != 0) return base::makeError(code, what);
  }
  return base::makeError(EIO, what);
}

bool allOk(const std::map<std::uint32_t, int>& answers) {
  for (const auto& [seq, code] : answers) {
    if (code != 0) return false;
  }
  return true;
}

}  // namespace

const char* toString(QueueMethod method) {
  return method == QueueMethod::kNative ? "native nft queue expression"
                                        : "xtables NFQUEUE target through nft_compat";
}

base::Result<QueueMethod> NftTable::probeQueueMethod() {
  Transaction tx;
  tx.addTable(NFT_MSG_NEWTABLE, NLM_F_CREATE);
  ChainPtr chain = newChain("queue-probe", ~0u, 0);
  tx.addChain(chain.get(), NFT_MSG_NEWCHAIN, NLM_F_CREATE);
  RulePtr rule = newRule("queue-probe");
  TablePlan plan;
  plan.method = QueueMethod::kNative;
  queue(rule.get(), plan);
  const std::uint32_t ruleSeq = tx.addRule(rule.get());
  // Deleting a chain that cannot exist fails, so the kernel aborts the whole transaction.
  ChainPtr missing = newChain("queue-probe-absent", ~0u, 0);
  const std::uint32_t abortSeq = tx.addChain(missing.get(), NFT_MSG_DELCHAIN, 0);

  auto answers = tx.run();
  if (!answers) return std::unexpected(answers.error());
  if ((*answers)[abortSeq] == 0) {
    return std::unexpected(base::makeError(EPROTO, "probing nft_queue: the probe was not aborted"));
  }
  const int ruleError = (*answers)[ruleSeq];
  if (ruleError == 0) return QueueMethod::kNative;
  if (ruleError == ENOENT || ruleError == EOPNOTSUPP) return QueueMethod::kXtCompat;
  return std::unexpected(base::makeError(ruleError, "probing nft_queue"));
}

base::Result<void> NftTable::install(const TablePlan& plan) {
  auto present = exists();
  if (!present) return std::unexpected(present.error());
  if (*present && !plan.recreate) {  // In place: the table and its base chains stay.
    StaleChains stale;
    if (!wantsInput(plan)) {
      for (const char* name : {"input", "input_verdict"}) {
        auto input = exists(name);
        if (!input) return std::unexpected(input.error());
        if (*input) stale.insert(name);
      }
    }
    Transaction tx;
    tx.addTable(NFT_MSG_NEWTABLE, NLM_F_CREATE);
    addTableBody(tx, plan, stale);
    auto answers = tx.run();
    if (!answers) return std::unexpected(answers.error());
    if (allOk(*answers)) return {};
    base::logWarning(transactionError(*answers, "updating table inet warden in place").message(),
                     "; creating it afresh");
  }
  // No table yet, one to take over, or one this version cannot update (another priority, a
  // stray chain): create it afresh, with our owner, in one transaction.
  Transaction tx;
  tx.addTable(NFT_MSG_NEWTABLE, NLM_F_CREATE);  // so that the delete below always applies
  tx.addTable(NFT_MSG_DELTABLE, 0);
  tx.addTable(NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, plan.owner);
  addTableBody(tx, plan, StaleChains{});
  auto answers = tx.run();
  if (!answers) return std::unexpected(answers.error());
  if (!allOk(*answers)) {
    return std::unexpected(transactionError(*answers, "installing table inet warden"));
  }
  return {};
}

base::Result<bool> NftTable::remove() {
  Transaction tx;
  tx.addTable(NFT_MSG_DELTABLE, 0);
  auto answers = tx.run();
  if (!answers) return std::unexpected(answers.error());
  const int code = answers->empty() ? EIO : answers->begin()->second;
  if (code == 0) return true;
  if (code == ENOENT) return false;
  return std::unexpected(base::makeError(code, "deleting table inet warden"));
}

namespace {

// Sends one nf_tables GET (`nlh`, built in `buffer`) and reads the answer, handing each object
// message to `onObject`. False when the kernel says there is no such object (or sends none).
base::Result<bool> getObject(nlmsghdr* nlh, std::vector<char>& buffer, const std::string& what,
                             const std::function<void(const nlmsghdr*)>& onObject) {
  auto socket = openNetfilterSocket();
  if (!socket) return std::unexpected(socket.error());
  if (mnl_socket_sendto(socket->get(), nlh, nlh->nlmsg_len) < 0) {
    return std::unexpected(base::errnoError("asking nf_tables for " + what));
  }
  bool any = false;
  for (;;) {
    const ssize_t n = mnl_socket_recvfrom(socket->get(), buffer.data(), buffer.size());
    if (n < 0) return std::unexpected(base::errnoError("reading nf_tables answer"));
    int length = static_cast<int>(n);
    for (auto* msg = reinterpret_cast<nlmsghdr*>(buffer.data()); mnl_nlmsg_ok(msg, length);
         msg = mnl_nlmsg_next(msg, &length)) {
      if (msg->nlmsg_type == NLMSG_ERROR) {
        const int code = -static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(msg))->error;
        if (code == 0) return any;
        if (code == ENOENT) return false;
        return std::unexpected(base::makeError(code, "asking nf_tables for " + what));
      }
      any = true;
      onObject(msg);
    }
  }
}

nlmsghdr* tableQuery(std::vector<char>& buffer) {
  TablePtr table(nftnl_table_alloc());
  nftnl_table_set_str(table.get(), NFTNL_TABLE_NAME, NftTable::kName);
  nlmsghdr* nlh =
      nftnl_nlmsg_build_hdr(buffer.data(), NFT_MSG_GETTABLE, NFPROTO_INET, NLM_F_ACK, 1);
  nftnl_table_nlmsg_build_payload(nlh, table.get());
  return nlh;
}

std::optional<std::uint64_t> processStartTime(int pid) {
  auto stat = base::readProcStat(static_cast<std::uint32_t>(pid));
  if (!stat) return std::nullopt;
  return stat->startTicks;
}

}  // namespace

base::Result<bool> NftTable::exists(const char* chain) {
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE);
  if (chain == nullptr) {
    return getObject(tableQuery(buffer), buffer, "table inet warden", [](const nlmsghdr*) {});
  }
  ChainPtr query = newChain(chain, ~0u, 0);
  nlmsghdr* nlh =
      nftnl_nlmsg_build_hdr(buffer.data(), NFT_MSG_GETCHAIN, NFPROTO_INET, NLM_F_ACK, 1);
  nftnl_chain_nlmsg_build_payload(nlh, query.get());
  return getObject(nlh, buffer, std::string("chain inet warden ") + chain, [](const nlmsghdr*) {});
}

base::Result<std::uint64_t> NftTable::invalidPackets() { return counterPackets(kInvalidCounter); }

base::Result<std::uint64_t> NftTable::foreignSourcePackets() {
  return counterPackets(kForeignSourceCounter);
}

base::Result<std::uint64_t> NftTable::queuedPackets() { return counterPackets(kQueuedCounter); }

base::Result<std::uint64_t> NftTable::counterPackets(const char* name) {
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE);
  ObjPtr query(nftnl_obj_alloc());
  nftnl_obj_set_u32(query.get(), NFTNL_OBJ_FAMILY, NFPROTO_INET);
  nftnl_obj_set_str(query.get(), NFTNL_OBJ_TABLE, kName);
  nftnl_obj_set_str(query.get(), NFTNL_OBJ_NAME, name);
  nftnl_obj_set_u32(query.get(), NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buffer.data(), NFT_MSG_GETOBJ, NFPROTO_INET, NLM_F_ACK, 1);
  nftnl_obj_nlmsg_build_payload(nlh, query.get());
  std::uint64_t packets = 0;
  auto found = getObject(nlh, buffer, std::string("counter ") + name, [&](const nlmsghdr* msg) {
    ObjPtr counter(nftnl_obj_alloc());
    if (nftnl_obj_nlmsg_parse(msg, counter.get()) == 0) {
      packets = nftnl_obj_get_u64(counter.get(), NFTNL_OBJ_CTR_PKTS);
    }
  });
  if (!found) return std::unexpected(found.error());
  return packets;
}

base::Result<std::optional<std::string>> NftTable::owner() {
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE);
  std::optional<std::string> owner;
  auto found = getObject(tableQuery(buffer), buffer, "table inet warden", [&](const nlmsghdr* msg) {
    TablePtr table(nftnl_table_alloc());
    owner.emplace();
    if (nftnl_table_nlmsg_parse(msg, table.get()) == 0 &&
        nftnl_table_is_set(table.get(), NFTNL_TABLE_USERDATA)) {
      std::uint32_t size = 0;
      const void* data = nftnl_table_get_data(table.get(), NFTNL_TABLE_USERDATA, &size);
      owner->assign(static_cast<const char*>(data), size);
    }
  });
  if (!found) return std::unexpected(found.error());
  if (!*found) return std::nullopt;
  return owner;
}

TableOwner TableOwner::self() {
  TableOwner owner;
  owner.pid = static_cast<int>(getpid());
  owner.startTime = processStartTime(owner.pid).value_or(0);
  return owner;
}

std::optional<TableOwner> TableOwner::parse(std::string_view text) {
  TableOwner owner;
  if (std::sscanf(std::string(text).c_str(), "wardend pid=%d start=%" SCNu64, &owner.pid,
                  &owner.startTime) != 2) {
    return std::nullopt;
  }
  return owner;
}

std::string TableOwner::toString() const {
  return "wardend pid=" + std::to_string(pid) + " start=" + std::to_string(startTime);
}

bool TableOwner::alive() const {
  // Not readable in time: a process stuck in execve (a wardend never execs), which may hold
  // the pid of a wardend that died, so that the next one never starts serving.
  const auto stat = base::readOtherProcStat(static_cast<std::uint32_t>(pid));
  return stat && stat->startTicks == startTime;
}

}  // namespace warden::engine
