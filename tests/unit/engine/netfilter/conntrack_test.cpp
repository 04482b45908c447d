#include "engine/netfilter/conntrack.h"

// netinet/in.h before the linux/ headers, which otherwise redefine its types.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include <cstring>
#include <span>
#include <vector>

namespace warden::engine {
namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr std::uint16_t kCtNew = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
constexpr std::uint16_t kCtGet = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;

struct Endpoints {
  const char* source;
  const char* destination;
  std::uint16_t sourcePort;
  std::uint16_t destinationPort;
};

void putTuple(nlmsghdr* nlh, std::uint16_t type, int family, std::uint8_t proto,
              const Endpoints& ends) {
  nlattr* tuple = mnl_attr_nest_start(nlh, type);
  nlattr* ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
  std::uint8_t raw[16];
  const bool v4 = family == AF_INET;
  inet_pton(family, ends.source, raw);
  mnl_attr_put(nlh, v4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, v4 ? 4 : 16, raw);
  inet_pton(family, ends.destination, raw);
  mnl_attr_put(nlh, v4 ? CTA_IP_V4_DST : CTA_IP_V6_DST, v4 ? 4 : 16, raw);
  mnl_attr_nest_end(nlh, ip);
  nlattr* protocol = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
  mnl_attr_put_u8(nlh, CTA_PROTO_NUM, proto);
  mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(ends.sourcePort));
  mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(ends.destinationPort));
  mnl_attr_nest_end(nlh, protocol);
  mnl_attr_nest_end(nlh, tuple);
}

// One entry of a conntrack dump, laid out as the kernel sends it (ctnetlink_fill_info): the
// original tuple, the reply tuple, and the mark (and a zone when asked for).
Bytes dumpEntry(int family, std::uint8_t proto, const Endpoints& original, std::uint32_t mark,
                int zone = -1, int tcpState = -1) {
  Bytes buffer(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buffer.data());
  nlh->nlmsg_type = kCtNew;
  nlh->nlmsg_flags = NLM_F_MULTI;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = static_cast<std::uint8_t>(family);
  putTuple(nlh, CTA_TUPLE_ORIG, family, proto, original);
  putTuple(nlh, CTA_TUPLE_REPLY, family, proto,
           {original.destination, original.source, original.destinationPort, original.sourcePort});
  mnl_attr_put_u32(nlh, CTA_STATUS, htonl(0x8));
  mnl_attr_put_u32(nlh, CTA_MARK, htonl(mark));
  if (zone >= 0) mnl_attr_put_u16(nlh, CTA_ZONE, htons(static_cast<std::uint16_t>(zone)));
  if (tcpState >= 0) {
    nlattr* info = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
    nlattr* tcp = mnl_attr_nest_start(nlh, CTA_PROTOINFO_TCP);
    mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_STATE, static_cast<std::uint8_t>(tcpState));
    mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_WSCALE_ORIGINAL, 7);
    mnl_attr_nest_end(nlh, tcp);
    mnl_attr_nest_end(nlh, info);
  }
  buffer.resize(nlh->nlmsg_len);
  return buffer;
}

// The top-level attributes of a ctnetlink message, by type.
std::vector<const nlattr*> attributesOf(const Bytes& message) {
  std::vector<const nlattr*> table(CTA_MAX + 1, nullptr);
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(message.data());
  mnl_attr_parse(
      nlh, sizeof(nfgenmsg),
      [](const nlattr* attr, void* data) {
        (*static_cast<std::vector<const nlattr*>*>(data))[mnl_attr_get_type(attr)] = attr;
        return MNL_CB_OK;
      },
      &table);
  return table;
}

rules::IpAddress ip(const char* text) { return *rules::IpAddress::parse(text); }

// What a parsed entry's original tuple must hold.
void expectTuple(const ConntrackTuple& tuple, int family, std::uint8_t proto,
                 const Endpoints& ends) {
  EXPECT_EQ(tuple.family, family);
  EXPECT_EQ(tuple.ipProto, proto);
  EXPECT_EQ(tuple.source, ip(ends.source));
  EXPECT_EQ(tuple.destination, ip(ends.destination));
  EXPECT_EQ(tuple.sourcePort, ends.sourcePort);
  EXPECT_EQ(tuple.destinationPort, ends.destinationPort);
}

TEST(Conntrack, ParsesAnIpv4EntryFromItsOriginalTuple) {
  const Endpoints ends{"192.0.2.1", "192.0.2.2", 40000, 7000};
  const Bytes message = dumpEntry(AF_INET, IPPROTO_TCP, ends, 0x00100042);
  const auto entry = parseConntrackEntry(message);
  ASSERT_TRUE(entry);
  expectTuple(entry->original, AF_INET, IPPROTO_TCP, ends);
  EXPECT_EQ(entry->mark, 0x00100042u);
  EXPECT_FALSE(entry->zone);
  // The tuple is kept as sent: the nested attribute's payload.
  const nlattr* tuple = attributesOf(message)[CTA_TUPLE_ORIG];
  ASSERT_NE(tuple, nullptr);
  const auto* payload = static_cast<const std::uint8_t*>(mnl_attr_get_payload(tuple));
  EXPECT_EQ(entry->tupleAttribute, Bytes(payload, payload + mnl_attr_get_payload_len(tuple)));
}

TEST(Conntrack, ParsesAnIpv6UdpEntryAndItsZone) {
  const Endpoints ends{"2001:db8::2", "2001:db8::1", 5353, 41000};
  const Bytes message = dumpEntry(AF_INET6, IPPROTO_UDP, ends, 1, 7);
  const auto entry = parseConntrackEntry(message);
  ASSERT_TRUE(entry);
  expectTuple(entry->original, AF_INET6, IPPROTO_UDP, ends);
  EXPECT_EQ(entry->zone, 7);
}

TEST(Conntrack, KnowsATcpConnectionClosedBothWays) {
  const Endpoints ends{"192.0.2.1", "192.0.2.2", 40000, 7000};
  const auto open =
      parseConntrackEntry(dumpEntry(AF_INET, IPPROTO_TCP, ends, 1, -1, TCP_CONNTRACK_ESTABLISHED));
  ASSERT_TRUE(open);
  EXPECT_EQ(open->tcpState, TCP_CONNTRACK_ESTABLISHED);
  EXPECT_FALSE(open->closed());
  for (int state : {TCP_CONNTRACK_TIME_WAIT, TCP_CONNTRACK_CLOSE}) {
    const auto entry = parseConntrackEntry(dumpEntry(AF_INET, IPPROTO_TCP, ends, 1, -1, state));
    ASSERT_TRUE(entry);
    EXPECT_TRUE(entry->closed()) << state;
  }
  // Half-closed connections can still carry data one way: still open.
  EXPECT_FALSE(
      parseConntrackEntry(dumpEntry(AF_INET, IPPROTO_TCP, ends, 1, -1, TCP_CONNTRACK_CLOSE_WAIT))
          ->closed());
  // UDP has no TCP state.
  EXPECT_FALSE(parseConntrackEntry(dumpEntry(AF_INET, IPPROTO_UDP, ends, 1))->closed());
}

TEST(Conntrack, RefusesWhatIsNotAnEntry) {
  Bytes message = dumpEntry(AF_INET, IPPROTO_TCP, {"192.0.2.1", "192.0.2.2", 1, 2}, 1);
  EXPECT_FALSE(parseConntrackEntry(std::span(message).first(10)));  // cut short
  EXPECT_FALSE(parseConntrackEntry(std::span(message).first(message.size() - 4)));
  reinterpret_cast<nlmsghdr*>(message.data())->nlmsg_type = NLMSG_DONE;
  EXPECT_FALSE(parseConntrackEntry(message));

  Bytes bare(MNL_SOCKET_BUFFER_SIZE);  // an entry without its tuple
  nlmsghdr* nlh = mnl_nlmsg_put_header(bare.data());
  nlh->nlmsg_type = kCtNew;
  mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg));
  mnl_attr_put_u32(nlh, CTA_MARK, htonl(1));
  bare.resize(nlh->nlmsg_len);
  EXPECT_FALSE(parseConntrackEntry(bare));
}

TEST(Conntrack, DumpRequestFiltersByMarkInTheKernel) {
  const Bytes request = conntrackDumpRequest(0x00100000, 0x00f00000, 77);
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(request.data());
  ASSERT_EQ(nlh->nlmsg_len, request.size());
  EXPECT_EQ(nlh->nlmsg_type, kCtGet);
  EXPECT_EQ(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
  EXPECT_EQ(nlh->nlmsg_seq, 77u);
  const auto attrs = attributesOf(request);
  ASSERT_TRUE(attrs[CTA_MARK] && attrs[CTA_MARK_MASK]);
  EXPECT_EQ(ntohl(mnl_attr_get_u32(attrs[CTA_MARK])), 0x00100000u);
  EXPECT_EQ(ntohl(mnl_attr_get_u32(attrs[CTA_MARK_MASK])), 0x00f00000u);
}

TEST(Conntrack, MarkUpdateNamesTheEntryAndKeepsForeignBits) {
  const Bytes dumped =
      dumpEntry(AF_INET6, IPPROTO_TCP, {"2001:db8::1", "2001:db8::2", 40000, 7000}, 0x1, 3);
  const auto entry = parseConntrackEntry(dumped);
  ASSERT_TRUE(entry);
  const Bytes update = conntrackMarkUpdate(*entry, 0x00300000, 0x00f00000, 9);
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(update.data());
  ASSERT_EQ(nlh->nlmsg_len, update.size());
  EXPECT_EQ(nlh->nlmsg_type, kCtNew);
  // An update only: without NLM_F_CREATE an entry gone meanwhile is not made again.
  EXPECT_EQ(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
  EXPECT_EQ(static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh))->nfgen_family, AF_INET6);
  const auto attrs = attributesOf(update);
  ASSERT_TRUE(attrs[CTA_MARK] && attrs[CTA_MARK_MASK] && attrs[CTA_ZONE]);
  EXPECT_EQ(ntohl(mnl_attr_get_u32(attrs[CTA_MARK])), 0x00300000u);
  EXPECT_EQ(ntohl(mnl_attr_get_u32(attrs[CTA_MARK_MASK])), 0x00f00000u);
  EXPECT_EQ(ntohs(mnl_attr_get_u16(attrs[CTA_ZONE])), 3);
  // The same tuple the kernel sent: read back, it names the same flow.
  const auto again = parseConntrackEntry(update);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->tupleAttribute, entry->tupleAttribute);
  EXPECT_EQ(again->original.source, entry->original.source);
  EXPECT_EQ(again->original.destinationPort, 7000);
  EXPECT_EQ(again->zone, 3);
}

}  // namespace
}  // namespace warden::engine
