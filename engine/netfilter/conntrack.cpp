#include "engine/netfilter/conntrack.h"

// netinet/in.h before the linux/ headers, which otherwise redefine its types.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>

namespace warden::engine {
namespace {

constexpr int kReplyTimeoutMs = 5000;
constexpr std::size_t kRequestBytes = 512;       // a tuple is well under 200 bytes
constexpr std::size_t kDumpBufferBytes = 32768;  // what the kernel fills per dump read, at most

std::uint16_t ctnlType(std::uint8_t message) {
  return static_cast<std::uint16_t>((NFNL_SUBSYS_CTNETLINK << 8) | message);
}

nlmsghdr* putHeader(std::vector<std::uint8_t>& buffer, std::uint8_t message, std::uint16_t flags,
                    std::uint8_t family, std::uint32_t seq) {
  buffer.assign(kRequestBytes, 0);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buffer.data());
  nlh->nlmsg_type = ctnlType(message);
  nlh->nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | flags);
  nlh->nlmsg_seq = seq;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = family;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = 0;
  return nlh;
}

void finish(std::vector<std::uint8_t>& buffer, const nlmsghdr* nlh) {
  buffer.resize(nlh->nlmsg_len);
}

// The attributes of one nesting level, indexed by type; absent ones stay null.
template <std::size_t N>
struct Attributes {
  const nlattr* at[N + 1] = {};
  const nlattr* operator[](int type) const { return at[type]; }
};

template <std::size_t N>
int collect(const nlattr* attr, void* data) {
  auto* table = static_cast<Attributes<N>*>(data);
  const int type = mnl_attr_get_type(attr);
  if (type >= 0 && static_cast<std::size_t>(type) <= N) table->at[type] = attr;
  return MNL_CB_OK;
}

template <std::size_t N>
bool parseNested(const nlattr* nest, Attributes<N>& out) {
  return mnl_attr_parse_nested(nest, collect<N>, &out) >= 0;
}

bool readAddress(const nlattr* attr, std::uint8_t family, rules::IpAddress& out) {
  if (attr == nullptr) return false;
  if (family == AF_INET && mnl_attr_get_payload_len(attr) == 4) {
    std::uint32_t raw;
    std::memcpy(&raw, mnl_attr_get_payload(attr), sizeof raw);
    out = rules::IpAddress::fromV4(raw);
    return true;
  }
  if (family == AF_INET6 && mnl_attr_get_payload_len(attr) == 16) {
    std::uint8_t raw[16];
    std::memcpy(raw, mnl_attr_get_payload(attr), sizeof raw);
    out = rules::IpAddress::fromV6(raw);
    return true;
  }
  return false;
}

std::uint16_t readPort(const nlattr* attr) {
  if (attr == nullptr || mnl_attr_get_payload_len(attr) != sizeof(std::uint16_t)) return 0;
  return ntohs(mnl_attr_get_u16(attr));
}

bool parseTuple(const nlattr* nest, std::uint8_t family, ConntrackTuple& tuple) {
  Attributes<CTA_TUPLE_MAX> parts;
  if (!parseNested(nest, parts) || !parts[CTA_TUPLE_IP] || !parts[CTA_TUPLE_PROTO]) return false;
  Attributes<CTA_IP_MAX> ip;
  Attributes<CTA_PROTO_MAX> proto;
  if (!parseNested(parts[CTA_TUPLE_IP], ip) || !parseNested(parts[CTA_TUPLE_PROTO], proto)) {
    return false;
  }
  tuple.family = family;
  const bool v4 = family == AF_INET;
  if (!readAddress(ip[v4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC], family, tuple.source) ||
      !readAddress(ip[v4 ? CTA_IP_V4_DST : CTA_IP_V6_DST], family, tuple.destination)) {
    return false;
  }
  if (!proto[CTA_PROTO_NUM] || mnl_attr_get_payload_len(proto[CTA_PROTO_NUM]) != 1) return false;
  tuple.ipProto = mnl_attr_get_u8(proto[CTA_PROTO_NUM]);
  tuple.sourcePort = readPort(proto[CTA_PROTO_SRC_PORT]);
  tuple.destinationPort = readPort(proto[CTA_PROTO_DST_PORT]);
  return true;
}

}  // namespace

std::vector<std::uint8_t> conntrackDumpRequest(std::uint32_t value, std::uint32_t mask,
                                               std::uint32_t seq) {
  std::vector<std::uint8_t> buffer;
  nlmsghdr* nlh = putHeader(buffer, IPCTNL_MSG_CT_GET, NLM_F_DUMP, AF_UNSPEC, seq);
  mnl_attr_put_u32(nlh, CTA_MARK, htonl(value));
  mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(mask));
  finish(buffer, nlh);
  return buffer;
}

std::vector<std::uint8_t> conntrackMarkUpdate(const ConntrackEntry& entry, std::uint32_t value,
                                              std::uint32_t mask, std::uint32_t seq) {
  std::vector<std::uint8_t> buffer;
  nlmsghdr* nlh = putHeader(buffer, IPCTNL_MSG_CT_NEW, NLM_F_ACK, entry.original.family, seq);
  mnl_attr_put(nlh, CTA_TUPLE_ORIG | NLA_F_NESTED, entry.tupleAttribute.size(),
               entry.tupleAttribute.data());
  if (entry.zone) mnl_attr_put_u16(nlh, CTA_ZONE, htons(*entry.zone));
  mnl_attr_put_u32(nlh, CTA_MARK, htonl(value));
  mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(mask));
  finish(buffer, nlh);
  return buffer;
}

std::optional<ConntrackEntry> parseConntrackEntry(std::span<const std::uint8_t> message) {
  if (message.size() < sizeof(nlmsghdr) + sizeof(nfgenmsg)) return std::nullopt;
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(message.data());
  if (nlh->nlmsg_len > message.size() || nlh->nlmsg_type != ctnlType(IPCTNL_MSG_CT_NEW) ||
      nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(nfgenmsg)) {
    return std::nullopt;
  }
  const auto* nfg = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
  Attributes<CTA_MAX> top;
  if (mnl_attr_parse(nlh, sizeof(nfgenmsg), collect<CTA_MAX>, &top) < 0 || !top[CTA_TUPLE_ORIG]) {
    return std::nullopt;
  }
  ConntrackEntry entry;
  if (!parseTuple(top[CTA_TUPLE_ORIG], nfg->nfgen_family, entry.original)) return std::nullopt;
  const auto* tuple = static_cast<const std::uint8_t*>(mnl_attr_get_payload(top[CTA_TUPLE_ORIG]));
  entry.tupleAttribute.assign(tuple, tuple + mnl_attr_get_payload_len(top[CTA_TUPLE_ORIG]));
  if (top[CTA_MARK] && mnl_attr_get_payload_len(top[CTA_MARK]) == 4) {
    entry.mark = ntohl(mnl_attr_get_u32(top[CTA_MARK]));
  }
  if (top[CTA_ZONE] && mnl_attr_get_payload_len(top[CTA_ZONE]) == 2) {
    entry.zone = ntohs(mnl_attr_get_u16(top[CTA_ZONE]));
  }
  Attributes<CTA_PROTOINFO_MAX> info;
  Attributes<CTA_PROTOINFO_TCP_MAX> tcp;
  if (top[CTA_PROTOINFO] && parseNested(top[CTA_PROTOINFO], info) && info[CTA_PROTOINFO_TCP] &&
      parseNested(info[CTA_PROTOINFO_TCP], tcp) && tcp[CTA_PROTOINFO_TCP_STATE] &&
      mnl_attr_get_payload_len(tcp[CTA_PROTOINFO_TCP_STATE]) == 1) {
    entry.tcpState = mnl_attr_get_u8(tcp[CTA_PROTOINFO_TCP_STATE]);
  }
  return entry;
}

bool ConntrackEntry::closed() const {
  return tcpState && (*tcpState == TCP_CONNTRACK_TIME_WAIT || *tcpState == TCP_CONNTRACK_CLOSE);
}

void Conntrack::Closer::operator()(mnl_socket* socket) const { mnl_socket_close(socket); }

base::Result<Conntrack> Conntrack::open() {
  std::unique_ptr<mnl_socket, Closer> socket(mnl_socket_open(NETLINK_NETFILTER));
  if (!socket) return std::unexpected(base::errnoError("opening a ctnetlink socket"));
  if (mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    return std::unexpected(base::errnoError("binding a ctnetlink socket"));
  }
  // A kernel that never answers must not hang the control thread.
  timeval timeout{kReplyTimeoutMs / 1000, 0};
  if (setsockopt(mnl_socket_get_fd(socket.get()), SOL_SOCKET, SO_RCVTIMEO, &timeout,
                 sizeof timeout) < 0) {
    return std::unexpected(base::errnoError("setting a ctnetlink socket's timeout"));
  }
  return Conntrack(std::move(socket));
}

// Sends `message` and hands every answer to `onMessage` (null: acks only) until the kernel
// says it is done; an error answer (NLMSG_ERROR with an errno) fails with that errno.
base::Result<void> Conntrack::exchange(const std::vector<std::uint8_t>& message,
                                       OnMessage onMessage, void* data, std::size_t bufferBytes,
                                       const char* what) {
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(message.data());
  if (mnl_socket_sendto(socket_.get(), message.data(), message.size()) < 0) {
    return std::unexpected(base::errnoError(what));
  }
  std::vector<std::uint8_t> buffer(bufferBytes);
  const unsigned portId = mnl_socket_get_portid(socket_.get());
  for (;;) {
    const ssize_t n = mnl_socket_recvfrom(socket_.get(), buffer.data(), buffer.size());
    if (n < 0) return std::unexpected(base::errnoError(what));
    const int run = mnl_cb_run(buffer.data(), static_cast<std::size_t>(n), nlh->nlmsg_seq, portId,
                               onMessage, data);
    if (run == MNL_CB_STOP) return {};
    if (run < 0) return std::unexpected(base::errnoError(what));
  }
}

base::Result<std::vector<ConntrackEntry>> Conntrack::dumpMarked(std::uint32_t value,
                                                                std::uint32_t mask) {
  std::vector<ConntrackEntry> entries;
  auto onEntry = [](const nlmsghdr* nlh, void* data) {
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(nlh);
    if (auto entry = parseConntrackEntry({bytes, nlh->nlmsg_len})) {
      static_cast<std::vector<ConntrackEntry>*>(data)->push_back(std::move(*entry));
    }
    return MNL_CB_OK;
  };
  if (auto done = exchange(conntrackDumpRequest(value, mask, ++seq_), onEntry, &entries,
                           kDumpBufferBytes, "dumping conntrack entries");
      !done) {
    return std::unexpected(done.error());
  }
  return entries;
}

base::Result<void> Conntrack::setMark(const ConntrackEntry& entry, std::uint32_t value,
                                      std::uint32_t mask) {
  // The answer is an ack (NLMSG_ERROR): mnl_cb_run stops at a zero one.
  return exchange(conntrackMarkUpdate(entry, value, mask, ++seq_), nullptr, nullptr,
                  MNL_SOCKET_BUFFER_SIZE, "changing a conntrack mark");
}

}  // namespace warden::engine
