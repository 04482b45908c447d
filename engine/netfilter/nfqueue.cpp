#include "engine/netfilter/nfqueue.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

#include "base/logging.h"

namespace warden::engine {

void preferQueueThread() {
  constexpr int kQueueThreadNice = -5;
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kQueueThreadNice) == 0) return;
  static std::atomic_flag told;
  if (!told.test_and_set()) {
    base::logWarning("queue threads keep the default priority (nice ", kQueueThreadNice,
                     " refused: ", std::strerror(errno), ")");
  }
}

namespace {

// Big enough for a burst of queued first packets; root may exceed rmem_max with FORCE.
constexpr int kSocketBufferBytes = 16 << 20;
// Whole packets (the most NFQUEUE copies): a decision reads only headers, but a DNS reply is
// believed only when all of it parses (SPEC section 7), and the kernel copies no more than a
// packet's length, so first packets, nearly all small, cost no more.
constexpr int kCopyRange = 0xffff;
constexpr std::size_t kReceiveBufferBytes = 0xffff + 8192;  // a whole GSO packet + headers

struct ParseContext {
  std::vector<QueuedPacket>* out;
  std::size_t added = 0;
  bool sawAck = false;
  int ackError = 0;
};

int onMessage(const nlmsghdr* nlh, void* data) {
  auto* ctx = static_cast<ParseContext*>(data);
  nlattr* attr[NFQA_MAX + 1] = {};
  if (nfq_nlmsg_parse(nlh, attr) < 0 || attr[NFQA_PACKET_HDR] == nullptr) {
    return MNL_CB_OK;  // not a packet: nothing to give a verdict to
  }
  const auto* header =
      static_cast<const nfqnl_msg_packet_hdr*>(mnl_attr_get_payload(attr[NFQA_PACKET_HDR]));
  QueuedPacket packet;
  packet.id = ntohl(header->packet_id);
  packet.hook = header->hook;
  if (attr[NFQA_PAYLOAD] != nullptr) {
    packet.payload = {static_cast<const std::uint8_t*>(mnl_attr_get_payload(attr[NFQA_PAYLOAD])),
                      mnl_attr_get_payload_len(attr[NFQA_PAYLOAD])};
  }
  packet.wireLength = attr[NFQA_CAP_LEN] != nullptr ? ntohl(mnl_attr_get_u32(attr[NFQA_CAP_LEN]))
                                                    : packet.payload.size();
  if (attr[NFQA_MARK] != nullptr) packet.mark = ntohl(mnl_attr_get_u32(attr[NFQA_MARK]));
  if (attr[NFQA_UID] != nullptr) {
    packet.hasUid = true;
    packet.uid = ntohl(mnl_attr_get_u32(attr[NFQA_UID]));
  }
  if (attr[NFQA_IFINDEX_INDEV] != nullptr) {
    packet.inDevice = ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_INDEV]));
  }
  ctx->out->push_back(packet);
  ++ctx->added;
  return MNL_CB_OK;
}

int onError(const nlmsghdr* nlh, void* data) {
  auto* ctx = static_cast<ParseContext*>(data);
  const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  ctx->sawAck = true;
  ctx->ackError = -err->error;
  return MNL_CB_STOP;
}

}  // namespace

void NfQueue::SocketCloser::operator()(mnl_socket* s) const { mnl_socket_close(s); }

NfQueue::NfQueue(std::unique_ptr<mnl_socket, SocketCloser> socket, std::uint16_t number)
    : socket_(std::move(socket)),
      number_(number),
      portId_(mnl_socket_get_portid(socket_.get())),
      receiveBuffer_(kReceiveBufferBytes),
      sendBuffer_(8192) {}

NfQueue::NfQueue(NfQueue&&) noexcept = default;
NfQueue& NfQueue::operator=(NfQueue&&) noexcept = default;
NfQueue::~NfQueue() = default;

int NfQueue::fd() const { return mnl_socket_get_fd(socket_.get()); }

base::Result<NfQueue> NfQueue::open(const Options& options) {
  const std::string what = "NFQUEUE " + std::to_string(options.number);
  std::unique_ptr<mnl_socket, SocketCloser> socket(mnl_socket_open(NETLINK_NETFILTER));
  if (!socket) return std::unexpected(base::errnoError("opening " + what));
  if (mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    return std::unexpected(base::errnoError("binding the socket of " + what));
  }
  const int fd = mnl_socket_get_fd(socket.get());
  int size = kSocketBufferBytes;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);  // best effort without CAP
  }
  NfQueue queue(std::move(socket), options.number);
  if (auto configured = queue.configure(options); !configured) {
    return std::unexpected(configured.error());
  }
  return queue;
}

base::Result<void> NfQueue::configure(const Options& options) {
  const std::string what = "binding NFQUEUE " + std::to_string(number_);
  nlmsghdr* nlh = nfq_nlmsg_put(sendBuffer_.data(), NFQNL_MSG_CONFIG, number_);
  nlh->nlmsg_flags |= NLM_F_ACK;
  nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
  nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, kCopyRange);
  nfq_nlmsg_cfg_put_qmaxlen(nlh, options.maxLength);
  // GSO: take large segments as they are instead of making the kernel segment them for us.
  // UID_GID: tells process-owned packets from kernel-generated ones.
  std::uint32_t flags = NFQA_CFG_F_GSO | NFQA_CFG_F_UID_GID;
  if (options.failOpen) flags |= NFQA_CFG_F_FAIL_OPEN;
  const std::uint32_t mask = NFQA_CFG_F_GSO | NFQA_CFG_F_UID_GID | NFQA_CFG_F_FAIL_OPEN;
  mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
  mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(mask));
  if (mnl_socket_sendto(socket_.get(), nlh, nlh->nlmsg_len) < 0) {
    return std::unexpected(base::errnoError(what));
  }
  // A table left by an earlier run may queue packets to us before the answer arrives: hand
  // those back with NF_REPEAT so they come again once we are ready for them.
  std::vector<QueuedPacket> early;
  for (;;) {
    const ssize_t n =
        mnl_socket_recvfrom(socket_.get(), receiveBuffer_.data(), receiveBuffer_.size());
    if (n < 0) {
      if (errno == ENOBUFS || errno == EINTR) continue;
      return std::unexpected(base::errnoError(what));
    }
    ParseContext ctx{&early};
    mnl_cb_t callbacks[NLMSG_MIN_TYPE] = {};
    callbacks[NLMSG_ERROR] = onError;
    mnl_cb_run2(receiveBuffer_.data(), static_cast<std::size_t>(n), 0, portId_, onMessage, &ctx,
                callbacks, NLMSG_MIN_TYPE);
    for (const QueuedPacket& packet : early) {
      (void)verdict(packet.id, Verdict::kRepeat);
    }
    early.clear();
    if (ctx.sawAck) {
      if (ctx.ackError != 0) return std::unexpected(base::makeError(ctx.ackError, what));
      return {};
    }
  }
}

base::Result<std::size_t> NfQueue::receive(std::vector<QueuedPacket>& out, bool wait) {
  const ssize_t n =
      recv(fd(), receiveBuffer_.data(), receiveBuffer_.size(), wait ? 0 : MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return std::unexpected(base::errnoError("reading NFQUEUE " + std::to_string(number_)));
  }
  ParseContext ctx{&out};
  mnl_cb_t callbacks[NLMSG_MIN_TYPE] = {};
  callbacks[NLMSG_ERROR] = onError;
  mnl_cb_run2(receiveBuffer_.data(), static_cast<std::size_t>(n), 0, portId_, onMessage, &ctx,
              callbacks, NLMSG_MIN_TYPE);
  return ctx.added;
}

base::Result<void> NfQueue::verdict(std::uint32_t id, Verdict verdict, const std::uint32_t* mark) {
  nlmsghdr* nlh = nfq_nlmsg_put(sendBuffer_.data(), NFQNL_MSG_VERDICT, number_);
  nfq_nlmsg_verdict_put(nlh, static_cast<int>(id), static_cast<int>(verdict));
  if (mark != nullptr) nfq_nlmsg_verdict_put_mark(nlh, *mark);
  if (mnl_socket_sendto(socket_.get(), nlh, nlh->nlmsg_len) < 0) {
    return std::unexpected(
        base::errnoError("sending a verdict on NFQUEUE " + std::to_string(number_)));
  }
  return {};
}

}  // namespace warden::engine
