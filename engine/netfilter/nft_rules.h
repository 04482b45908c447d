#pragma once

#include <cstdint>
#include <memory>

#include "engine/netfilter/marks.h"

struct nftnl_chain;
struct nftnl_rule;

// The pieces NftTable's rules are made of (libnftnl): chains and rules of the `inet warden`
// table, the conditions a rule tests (each a load into register 1 and a comparison; on the
// marks only warden's bits count), and what it does. Each appends expressions to `rule`,
// which owns them.
namespace warden::engine {
struct TablePlan;
}

namespace warden::engine::nft {

struct RuleFree {
  void operator()(nftnl_rule* rule) const;
};
struct ChainFree {
  void operator()(nftnl_chain* chain) const;
};
using RulePtr = std::unique_ptr<nftnl_rule, RuleFree>;
using ChainPtr = std::unique_ptr<nftnl_chain, ChainFree>;

// A rule to append to `chain` of the table.
RulePtr newRule(const char* chain);
// A chain of the table; a base chain (filter type, policy accept) on `hook` at `priority`
// unless `hook` is ~0u.
ChainPtr newChain(const char* name, std::uint32_t hook, int priority);

// Conditions.
void ctMarkIs(nftnl_rule* rule, const MarkBits& marks, std::uint32_t value);
void packetMarkIs(nftnl_rule* rule, const MarkBits& marks, std::uint32_t value);
// Any of the ct state `bits` (NF_CT_STATE_*BIT*) is set.
void ctStateHas(nftnl_rule* rule, std::uint32_t bits);
// None of the ct state `bits` is set.
void ctStateLacks(nftnl_rule* rule, std::uint32_t bits);
// The conntrack direction is `direction` (IP_CT_DIR_ORIGINAL or IP_CT_DIR_REPLY).
void ctDirectionIs(nftnl_rule* rule, std::uint8_t direction);
void protocolIs(nftnl_rule* rule, std::uint8_t protocol);
// The TCP flags under `mask` are `flags`; are not `flags`.
void tcpFlagsAre(nftnl_rule* rule, std::uint8_t mask, std::uint8_t flags);
void tcpFlagsAreNot(nftnl_rule* rule, std::uint8_t mask, std::uint8_t flags);
// The first byte of the transport header (an ICMP or ICMPv6 type) is within [low, high].
void icmpTypeWithin(nftnl_rule* rule, std::uint8_t low, std::uint8_t high);
// The packet came in on a loopback device (it was sent by this host), or did not.
void inputIsLoopback(nftnl_rule* rule, bool loopback);
// Its source address is one of this host's (the routing table's "local" type).
void sourceIsLocal(nftnl_rule* rule);
// Its source address is not one of this host's.
void sourceIsNotLocal(nftnl_rule* rule);
// Any of the conntrack status `bits` (IPS_*) is set.
void ctStatusHas(nftnl_rule* rule, std::uint32_t bits);
// The transport header's port at `offset` (0: source, 2: destination) is `port`.
void transportPortIs(nftnl_rule* rule, std::uint32_t offset, std::uint16_t port);
// The xtables `bpf` match (xt_bpf revision 1, through nft_compat) running the socket filter
// program `programFd` of this process: the rule goes on while the program returns non-zero.
void bpfMatch(nftnl_rule* rule, int programFd);

// Actions: warden's bits of the packet's, or its flow's, mark set to `value`, the others kept.
void setPacketMark(nftnl_rule* rule, const MarkBits& marks, std::uint32_t value);
void setCtMark(nftnl_rule* rule, const MarkBits& marks, std::uint32_t value);
// Adds `counter name "<name>"` to the rule: the named counter object the table holds.
void namedCounter(nftnl_rule* rule, const char* name);
// A verdict (NF_ACCEPT, NF_DROP, ...).
void verdict(nftnl_rule* rule, int code);
// A reject of `type` (NFT_REJECT_*) with ICMP `code`.
void reject(nftnl_rule* rule, std::uint32_t type, std::uint8_t code);
// To the plan's queues, by its method (nft_queue, or the xtables NFQUEUE target), with bypass
// when the plan fails open.
void queue(nftnl_rule* rule, const TablePlan& plan);
// A queue rule's verdict, counted first in the named counter of every packet a rule sent to
// the queues: those that never entered one passed undecided (see NftTable::queuedPackets).
// The counter changes nothing of the rule's effect.
void countedQueue(nftnl_rule* rule, const TablePlan& plan);

}  // namespace warden::engine::nft
