#include "engine/netfilter/nft_rules.h"

// netinet/in.h before the linux/ headers, which otherwise redefine its types.
#include <netinet/in.h>

#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/if_arp.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/xt_NFQUEUE.h>
#include <linux/netfilter/xt_bpf.h>
#include <linux/rtnetlink.h>

#include <cstdlib>
#include <cstring>

#include "engine/netfilter/nft_table.h"

namespace warden::engine::nft {
namespace {

// Loads and stores of register 1, and comparisons with it.
void loadMeta(nftnl_rule* rule, std::uint32_t key, std::uint32_t reg = NFT_REG_1) {
  nftnl_expr* e = nftnl_expr_alloc("meta");
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, reg);
  nftnl_rule_add_expr(rule, e);
}

void storeMeta(nftnl_rule* rule, std::uint32_t key, std::uint32_t reg = NFT_REG_1) {
  nftnl_expr* e = nftnl_expr_alloc("meta");
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, reg);
  nftnl_rule_add_expr(rule, e);
}

void loadCt(nftnl_rule* rule, std::uint32_t key, std::uint32_t reg = NFT_REG_1) {
  nftnl_expr* e = nftnl_expr_alloc("ct");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, reg);
  nftnl_rule_add_expr(rule, e);
}

void storeCt(nftnl_rule* rule, std::uint32_t key, std::uint32_t reg = NFT_REG_1) {
  nftnl_expr* e = nftnl_expr_alloc("ct");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, reg);
  nftnl_rule_add_expr(rule, e);
}

// register 1 = (register 1 & mask) ^ xorValue, over sizeof(T) bytes.
template <typename T>
void bitwise(nftnl_rule* rule, T mask, T xorValue) {
  nftnl_expr* e = nftnl_expr_alloc("bitwise");
  nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
  nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
  nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, sizeof(T));
  nftnl_expr_set_data(e, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof mask);
  nftnl_expr_set_data(e, NFTNL_EXPR_BITWISE_XOR, &xorValue, sizeof xorValue);
  nftnl_rule_add_expr(rule, e);
}

template <typename T>
void compare(nftnl_rule* rule, std::uint32_t op, T value) {
  nftnl_expr* e = nftnl_expr_alloc("cmp");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
  nftnl_expr_set_data(e, NFTNL_EXPR_CMP_DATA, &value, sizeof value);
  nftnl_rule_add_expr(rule, e);
}

// register 1 & mask compared with `value`, over sizeof(T) bytes: how every condition on some
// of a value's bits (marks, ct state, TCP flags) ends, after the load of that value.
template <typename T>
void maskedCompare(nftnl_rule* rule, std::uint32_t op, T mask, T value) {
  bitwise<T>(rule, mask, T{0});
  compare(rule, op, value);
}

enum class XtKind { kMatch, kTarget };

// An xtables match or target through nft_compat, with its info struct (already padded to the
// xtables alignment). Unlike other attributes, libnftnl keeps (and later frees) the info
// pointer: it gets a copy of its own.
void xtablesExpr(nftnl_rule* rule, XtKind kind, const char* name, std::uint32_t revision,
                 const void* data, std::size_t size) {
  // The attribute numbers of the two kinds are different enums in libnftnl.
  const bool match = kind == XtKind::kMatch;
  const std::uint16_t nameAttr = match ? +NFTNL_EXPR_MT_NAME : +NFTNL_EXPR_TG_NAME;
  const std::uint16_t revAttr = match ? +NFTNL_EXPR_MT_REV : +NFTNL_EXPR_TG_REV;
  const std::uint16_t infoAttr = match ? +NFTNL_EXPR_MT_INFO : +NFTNL_EXPR_TG_INFO;
  nftnl_expr* e = nftnl_expr_alloc(match ? "match" : "target");
  nftnl_expr_set_str(e, nameAttr, name);
  nftnl_expr_set_u32(e, revAttr, revision);
  void* info = std::malloc(size);
  std::memcpy(info, data, size);
  nftnl_expr_set_data(e, infoAttr, info, static_cast<std::uint32_t>(size));
  nftnl_rule_add_expr(rule, e);
}

constexpr std::uint32_t kTcpFlagsOffset = 13;  // the TCP header's flags byte

// Loads `length` bytes of the transport header at `offset` into register 1.
void loadTransport(nftnl_rule* rule, std::uint32_t offset, std::uint32_t length) {
  nftnl_expr* e = nftnl_expr_alloc("payload");
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, length);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
  nftnl_rule_add_expr(rule, e);
}

}  // namespace

void RuleFree::operator()(nftnl_rule* rule) const { nftnl_rule_free(rule); }
void ChainFree::operator()(nftnl_chain* chain) const { nftnl_chain_free(chain); }

void verdict(nftnl_rule* rule, int code) {
  nftnl_expr* e = nftnl_expr_alloc("immediate");
  nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
  nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, static_cast<std::uint32_t>(code));
  nftnl_rule_add_expr(rule, e);
}

void reject(nftnl_rule* rule, std::uint32_t type, std::uint8_t code) {
  nftnl_expr* e = nftnl_expr_alloc("reject");
  nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, type);
  nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, code);
  nftnl_rule_add_expr(rule, e);
}

void queue(nftnl_rule* rule, const TablePlan& plan) {
  if (plan.method == QueueMethod::kNative) {
    nftnl_expr* e = nftnl_expr_alloc("queue");
    nftnl_expr_set_u16(e, NFTNL_EXPR_QUEUE_NUM, plan.firstQueue);
    nftnl_expr_set_u16(e, NFTNL_EXPR_QUEUE_TOTAL, plan.queueCount);
    nftnl_expr_set_u16(e, NFTNL_EXPR_QUEUE_FLAGS, plan.bypass ? NFT_QUEUE_FLAG_BYPASS : 0);
    nftnl_rule_add_expr(rule, e);
    return;
  }
  // xt_NFQUEUE revision 3; nft_compat wants the info padded to the xtables alignment (8).
  struct {
    xt_NFQ_info_v3 info;
    std::uint16_t padding;
  } target{};
  static_assert(sizeof target == 8);
  target.info.queuenum = plan.firstQueue;
  target.info.queues_total = plan.queueCount;
  target.info.flags = plan.bypass ? NFQ_FLAG_BYPASS : 0;
  xtablesExpr(rule, XtKind::kTarget, "NFQUEUE", 3, &target, sizeof target);
}

void bpfMatch(nftnl_rule* rule, int programFd) {
  xt_bpf_info_v1 match{};
  match.mode = XT_BPF_MODE_FD_ELF;
  match.fd = programFd;
  static_assert(sizeof match % 8 == 0, "nft_compat wants the info at the xtables alignment");
  xtablesExpr(rule, XtKind::kMatch, "bpf", 1, &match, sizeof match);
}

RulePtr newRule(const char* chain) {
  RulePtr rule(nftnl_rule_alloc());
  nftnl_rule_set_u32(rule.get(), NFTNL_RULE_FAMILY, NFPROTO_INET);
  nftnl_rule_set_str(rule.get(), NFTNL_RULE_TABLE, NftTable::kName);
  nftnl_rule_set_str(rule.get(), NFTNL_RULE_CHAIN, chain);
  return rule;
}

ChainPtr newChain(const char* name, std::uint32_t hook, int priority) {
  ChainPtr chain(nftnl_chain_alloc());
  nftnl_chain_set_u32(chain.get(), NFTNL_CHAIN_FAMILY, NFPROTO_INET);
  nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_TABLE, NftTable::kName);
  nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_NAME, name);
  if (hook != ~0u) {
    nftnl_chain_set_u32(chain.get(), NFTNL_CHAIN_HOOKNUM, hook);
    nftnl_chain_set_s32(chain.get(), NFTNL_CHAIN_PRIO, priority);
    nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_TYPE, "filter");
    nftnl_chain_set_u32(chain.get(), NFTNL_CHAIN_POLICY, NF_ACCEPT);
  }
  return chain;
}

void ctMarkIs(nftnl_rule* rule, const MarkBits& marks, std::uint32_t value) {
  loadCt(rule, NFT_CT_MARK);
  maskedCompare(rule, NFT_CMP_EQ, marks.mask, value);
}

void packetMarkIs(nftnl_rule* rule, const MarkBits& marks, std::uint32_t value) {
  loadMeta(rule, NFT_META_MARK);
  maskedCompare(rule, NFT_CMP_EQ, marks.mask, value);
}

void ctStateHas(nftnl_rule* rule, std::uint32_t bits) {
  loadCt(rule, NFT_CT_STATE);
  maskedCompare(rule, NFT_CMP_NEQ, bits, 0u);
}

void ctStateLacks(nftnl_rule* rule, std::uint32_t bits) {
  loadCt(rule, NFT_CT_STATE);
  maskedCompare(rule, NFT_CMP_EQ, bits, 0u);
}

void ctDirectionIs(nftnl_rule* rule, std::uint8_t direction) {
  loadCt(rule, NFT_CT_DIRECTION);
  compare(rule, NFT_CMP_EQ, direction);
}

void protocolIs(nftnl_rule* rule, std::uint8_t protocol) {
  loadMeta(rule, NFT_META_L4PROTO);
  compare(rule, NFT_CMP_EQ, protocol);
}

void tcpFlagsAre(nftnl_rule* rule, std::uint8_t mask, std::uint8_t flags) {
  loadTransport(rule, kTcpFlagsOffset, 1);
  maskedCompare(rule, NFT_CMP_EQ, mask, flags);
}

void tcpFlagsAreNot(nftnl_rule* rule, std::uint8_t mask, std::uint8_t flags) {
  loadTransport(rule, kTcpFlagsOffset, 1);
  maskedCompare(rule, NFT_CMP_NEQ, mask, flags);
}

void icmpTypeWithin(nftnl_rule* rule, std::uint8_t low, std::uint8_t high) {
  loadTransport(rule, 0, 1);
  compare(rule, NFT_CMP_GTE, low);
  compare(rule, NFT_CMP_LTE, high);
}

void inputIsLoopback(nftnl_rule* rule, bool loopback) {
  loadMeta(rule, NFT_META_IIFTYPE);
  compare(rule, loopback ? NFT_CMP_EQ : NFT_CMP_NEQ, static_cast<std::uint16_t>(ARPHRD_LOOPBACK));
}

namespace {

void loadSourceType(nftnl_rule* rule) {
  nftnl_expr* e = nftnl_expr_alloc("fib");
  nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_SADDR);
  nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
  nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
  nftnl_rule_add_expr(rule, e);
}

}  // namespace

void sourceIsLocal(nftnl_rule* rule) {
  loadSourceType(rule);
  compare(rule, NFT_CMP_EQ, static_cast<std::uint32_t>(RTN_LOCAL));
}

void sourceIsNotLocal(nftnl_rule* rule) {
  loadSourceType(rule);
  compare(rule, NFT_CMP_NEQ, static_cast<std::uint32_t>(RTN_LOCAL));
}

void ctStatusHas(nftnl_rule* rule, std::uint32_t bits) {
  loadCt(rule, NFT_CT_STATUS);
  maskedCompare(rule, NFT_CMP_NEQ, bits, 0u);
}

void transportPortIs(nftnl_rule* rule, std::uint32_t offset, std::uint16_t port) {
  loadTransport(rule, offset, sizeof(std::uint16_t));
  compare(rule, NFT_CMP_EQ, htons(port));
}

void setPacketMark(nftnl_rule* rule, const MarkBits& marks, std::uint32_t value) {
  loadMeta(rule, NFT_META_MARK);
  bitwise<std::uint32_t>(rule, ~marks.mask, value);
  storeMeta(rule, NFT_META_MARK);
}

void setCtMark(nftnl_rule* rule, const MarkBits& marks, std::uint32_t value) {
  loadCt(rule, NFT_CT_MARK);
  bitwise<std::uint32_t>(rule, ~marks.mask, value);
  storeCt(rule, NFT_CT_MARK);
}

void namedCounter(nftnl_rule* rule, const char* name) {
  nftnl_expr* e = nftnl_expr_alloc("objref");
  nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE, NFT_OBJECT_COUNTER);
  nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_IMM_NAME, name);
  nftnl_rule_add_expr(rule, e);
}

void countedQueue(nftnl_rule* rule, const TablePlan& plan) {
  namedCounter(rule, NftTable::kQueuedCounter);
  queue(rule, plan);
}

}  // namespace warden::engine::nft
