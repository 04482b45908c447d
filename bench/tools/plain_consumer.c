// plain_consumer FIRST_QUEUE COUNT
// What any NFQUEUE firewall pays on this kernel: serves queues FIRST_QUEUE.. (one thread each)
// and answers NF_ACCEPT to every packet, with no mark and nothing parsed. It installs no table
// of its own: bench/run puts an iptables-nft `-m conntrack --ctstate NEW -j NFQUEUE` rule in
// the bench's namespace, the textbook setup. Unlike bench/tools/null_consumer (warden's own
// table and its verdict chain), nothing of warden's design is inside this floor.
// Runs until SIGINT/SIGTERM; prints "ready" once every queue is bound.
#define _GNU_SOURCE  // gettid
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

// The same queue settings as wardend's (engine/netfilter/nfqueue.cpp), so that the two differ
// only in what happens around the queue: whole packets copied, a 16 MiB socket buffer, fail
// open, nice -5 on the queue threads.
enum { kCopyRange = 0xffff, kBufferBytes = 0xffff + 8192, kSocketBytes = 16 << 20 };

struct queue_state {
  struct mnl_socket* socket;
  uint16_t number;
  uint32_t port_id;
  char* buffer;
};

static void die(const char* what) {
  fprintf(stderr, "plain_consumer: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int send_verdict(struct queue_state* q, uint32_t id) {
  char out[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr* nlh = nfq_nlmsg_put(out, NFQNL_MSG_VERDICT, q->number);
  nfq_nlmsg_verdict_put(nlh, (int)id, NF_ACCEPT);
  return mnl_socket_sendto(q->socket, nlh, nlh->nlmsg_len) < 0 ? -1 : 0;
}

static int on_packet(const struct nlmsghdr* nlh, void* data) {
  struct nlattr* attr[NFQA_MAX + 1] = {0};
  if (nfq_nlmsg_parse(nlh, attr) < 0 || attr[NFQA_PACKET_HDR] == NULL) return MNL_CB_OK;
  const struct nfqnl_msg_packet_hdr* header = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
  send_verdict(data, ntohl(header->packet_id));
  return MNL_CB_OK;
}

static void bind_queue(struct queue_state* q) {
  q->socket = mnl_socket_open(NETLINK_NETFILTER);
  if (q->socket == NULL) die("opening a netfilter socket");
  if (mnl_socket_bind(q->socket, 0, MNL_SOCKET_AUTOPID) < 0) die("binding it");
  q->port_id = mnl_socket_get_portid(q->socket);
  int size = kSocketBytes;
  setsockopt(mnl_socket_get_fd(q->socket), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  q->buffer = malloc(kBufferBytes);
  if (q->buffer == NULL) die("allocating");

  struct nlmsghdr* nlh = nfq_nlmsg_put(q->buffer, NFQNL_MSG_CONFIG, q->number);
  nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
  nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, kCopyRange);
  nfq_nlmsg_cfg_put_qmaxlen(nlh, 4096);
  mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN));
  mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN));
  if (mnl_socket_sendto(q->socket, nlh, nlh->nlmsg_len) < 0) die("configuring the queue");
}

static void* serve(void* arg) {
  struct queue_state* q = arg;
  setpriority(PRIO_PROCESS, (id_t)gettid(), -5);  // as wardend's queue threads
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(q->socket, q->buffer, kBufferBytes);
    if (n < 0) {
      if (errno == ENOBUFS || errno == EINTR) continue;
      die("reading the queue");
    }
    mnl_cb_run(q->buffer, (size_t)n, 0, q->port_id, on_packet, q);
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: plain_consumer FIRST_QUEUE COUNT\n");
    return 2;
  }
  const int first = atoi(argv[1]), count = atoi(argv[2]);
  if (count < 1 || count > 64) return 2;
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);  // the threads inherit it; main waits for it

  struct queue_state queues[64] = {0};
  for (int i = 0; i < count; ++i) {
    queues[i].number = (uint16_t)(first + i);
    bind_queue(&queues[i]);
  }
  for (int i = 0; i < count; ++i) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, serve, &queues[i]) != 0) die("starting a thread");
  }
  printf("ready\n");
  fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  // Exiting closes the sockets; the kernel accepts (fail open, bypass) what is still queued.
  return 0;
}
