#include "engine/netfilter/nft_batch.h"

// netinet/in.h before the linux/ headers, which otherwise redefine its types.
#include <netinet/in.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <poll.h>
#include <time.h>

#include <cerrno>

#include "engine/netfilter/nft_table.h"

namespace warden::engine::nft {
namespace {

constexpr std::size_t kBatchBufferSize = 1 << 16;
constexpr int kAckTimeoutMs = 5000;

}  // namespace

void MnlSocketCloser::operator()(mnl_socket* socket) const { mnl_socket_close(socket); }
void TableFree::operator()(nftnl_table* table) const { nftnl_table_free(table); }
void ObjFree::operator()(nftnl_obj* object) const { nftnl_obj_free(object); }

base::Result<MnlSocket> openNetfilterSocket() {
  MnlSocket socket(mnl_socket_open(NETLINK_NETFILTER));
  if (!socket) return std::unexpected(base::errnoError("opening a netfilter netlink socket"));
  if (mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    return std::unexpected(base::errnoError("binding a netfilter netlink socket"));
  }
  return socket;
}

Transaction::Transaction() : buffer_(kBatchBufferSize) {
  batch_ = mnl_nlmsg_batch_start(buffer_.data(), buffer_.size());
  seq_ = static_cast<std::uint32_t>(::time(nullptr));
  nftnl_batch_begin(static_cast<char*>(mnl_nlmsg_batch_current(batch_)), seq_++);
  mnl_nlmsg_batch_next(batch_);
}

Transaction::~Transaction() { mnl_nlmsg_batch_stop(batch_); }

std::uint32_t Transaction::addTable(std::uint16_t type, std::uint16_t flags,
                                    std::string_view owner) {
  TablePtr table(nftnl_table_alloc());
  nftnl_table_set_u32(table.get(), NFTNL_TABLE_FAMILY, NFPROTO_INET);
  nftnl_table_set_str(table.get(), NFTNL_TABLE_NAME, NftTable::kName);
  if (!owner.empty()) {
    nftnl_table_set_data(table.get(), NFTNL_TABLE_USERDATA, owner.data(),
                         static_cast<std::uint32_t>(owner.size()));
  }
  nlmsghdr* nlh = header(type, flags);
  nftnl_table_nlmsg_build_payload(nlh, table.get());
  return commit();
}

std::uint32_t Transaction::addChain(const nftnl_chain* chain, std::uint16_t type,
                                    std::uint16_t flags) {
  nlmsghdr* nlh = header(type, flags);
  nftnl_chain_nlmsg_build_payload(nlh, chain);
  return commit();
}

std::uint32_t Transaction::addCounter(const char* name) {
  ObjPtr counter(nftnl_obj_alloc());
  nftnl_obj_set_u32(counter.get(), NFTNL_OBJ_FAMILY, NFPROTO_INET);
  nftnl_obj_set_str(counter.get(), NFTNL_OBJ_TABLE, NftTable::kName);
  nftnl_obj_set_str(counter.get(), NFTNL_OBJ_NAME, name);
  nftnl_obj_set_u32(counter.get(), NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
  nlmsghdr* nlh = header(NFT_MSG_NEWOBJ, NLM_F_CREATE);
  nftnl_obj_nlmsg_build_payload(nlh, counter.get());
  return commit();
}

std::uint32_t Transaction::addRule(nftnl_rule* rule) {
  return addRule(rule, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
}

std::uint32_t Transaction::addRule(nftnl_rule* rule, std::uint16_t type, std::uint16_t flags) {
  nlmsghdr* nlh = header(type, flags);
  nftnl_rule_nlmsg_build_payload(nlh, rule);
  return commit();
}

base::Result<std::map<std::uint32_t, int>> Transaction::run() {
  nftnl_batch_end(static_cast<char*>(mnl_nlmsg_batch_current(batch_)), seq_++);
  mnl_nlmsg_batch_next(batch_);

  auto socket = openNetfilterSocket();
  if (!socket) return std::unexpected(socket.error());
  const void* batch = mnl_nlmsg_batch_head(batch_);
  if (mnl_socket_sendto(socket->get(), batch, mnl_nlmsg_batch_size(batch_)) < 0) {
    return std::unexpected(base::errnoError("sending an nf_tables transaction"));
  }
  std::map<std::uint32_t, int> answers;
  std::vector<char> reply(MNL_SOCKET_BUFFER_SIZE);
  const int fd = mnl_socket_get_fd(socket->get());
  while (answers.size() < expected_) {
    pollfd pfd{fd, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, kAckTimeoutMs);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return std::unexpected(base::makeError(ETIMEDOUT, "waiting for nf_tables"));
    const ssize_t n = mnl_socket_recvfrom(socket->get(), reply.data(), reply.size());
    if (n < 0) return std::unexpected(base::errnoError("reading nf_tables answers"));
    int length = static_cast<int>(n);
    for (auto* nlh = reinterpret_cast<nlmsghdr*>(reply.data()); mnl_nlmsg_ok(nlh, length);
         nlh = mnl_nlmsg_next(nlh, &length)) {
      if (nlh->nlmsg_type != NLMSG_ERROR) continue;
      const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
      answers[nlh->nlmsg_seq] = -err->error;
    }
  }
  return answers;
}

nlmsghdr* Transaction::header(std::uint16_t type, std::uint16_t flags) {
  return nftnl_nlmsg_build_hdr(static_cast<char*>(mnl_nlmsg_batch_current(batch_)), type,
                               NFPROTO_INET, flags | NLM_F_ACK, seq_);
}

std::uint32_t Transaction::commit() {
  mnl_nlmsg_batch_next(batch_);
  ++expected_;
  return seq_++;
}

}  // namespace warden::engine::nft
