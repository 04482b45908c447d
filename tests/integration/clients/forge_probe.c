/* forge_probe HOST PORT MODE [--mark N] [--timeout-ms N] [--flags F]
 *
 * What an attacker holding only CAP_NET_RAW can send past a firewall that trusts packet marks
 * or lets conntrack's "invalid" packets through. Prints "<outcome> <elapsed_ms>" like the other
 * probes (see probe_common.h) and exits with the outcome's code.
 *
 * MODE:
 *   tcp-sockopt  TCP connect() from a socket whose SO_MARK is N      -> connected / timeout
 *   udp-sockopt  UDP datagram from a socket whose SO_MARK is N; waits for the echo -> reply
 *   udp-cmsg     UDP datagram carrying SO_MARK N as a sendmsg control message      -> reply
 *   raw-udp      UDP datagram built by hand on a raw IPv4 socket with SO_MARK N; the echo is
 *                read back from the same raw socket                               -> reply
 *   raw-tcp      one TCP segment with the flags F (letters of "FSRPAUEC", or "none") and a
 *                payload "warden-forged", on a raw IPv4 socket with SO_MARK N      -> sent
 *                (whether it arrived is for the receiver to say)
 * --mark 0 (the default) sets no mark at all. */
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <unistd.h>

#include "probe_common.h"

#define PAYLOAD "warden-forged"

static void usage(void) {
  fprintf(stderr,
          "usage: forge_probe HOST PORT tcp-sockopt|udp-sockopt|udp-cmsg|raw-udp|raw-tcp "
          "[--mark N] [--timeout-ms N] [--flags F]\n");
  exit(EXIT_USAGE);
}

static int finish(enum outcome o, const char* ok_name, double start) {
  printf("%s %.1f\n", outcome_name(o, ok_name), now_ms() - start);
  return (int)o;
}

static int set_mark(int fd, unsigned long mark) {
  if (!mark) return 0;
  unsigned int value = (unsigned int)mark;
  if (setsockopt(fd, SOL_SOCKET, SO_MARK, &value, sizeof value) < 0) {
    perror("forge_probe: SO_MARK");
    return -1;
  }
  return 0;
}

/* Waits until fd is readable or the deadline passes: 1 readable, 0 timed out. */
static int wait_readable(int fd, double deadline) {
  for (;;) {
    double left = deadline - now_ms();
    if (left <= 0) return 0;
    struct pollfd p = {fd, POLLIN, 0};
    int n = poll(&p, 1, (int)left + 1);
    if (n > 0) return 1;
    if (n < 0 && errno != EINTR) return 0;
  }
}

static int tcp_sockopt(const struct sockaddr_storage* ss, socklen_t len, unsigned long mark,
                       long timeout_ms, double start) {
  int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || set_mark(fd, mark) < 0) return finish(OUT_ERROR, "connected", start);
  if (connect(fd, (const struct sockaddr*)ss, len) < 0 && errno != EINPROGRESS) {
    return finish(outcome_from_errno(errno), "connected", start);
  }
  struct pollfd p = {fd, POLLOUT, 0};
  if (poll(&p, 1, (int)timeout_ms) <= 0) return finish(OUT_TIMEOUT, "connected", start);
  int err = 0;
  socklen_t elen = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
  close(fd);
  return finish(err ? outcome_from_errno(err) : OUT_OK, "connected", start);
}

static int udp_send(const struct sockaddr_storage* ss, socklen_t len, unsigned long mark,
                    int as_cmsg, long timeout_ms, double start) {
  int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return finish(OUT_ERROR, "reply", start);
  if (!as_cmsg && set_mark(fd, mark) < 0) return finish(OUT_ERROR, "reply", start);
  struct iovec iov = {PAYLOAD, sizeof PAYLOAD - 1};
  union {
    char buf[CMSG_SPACE(sizeof(unsigned int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {0};
  msg.msg_name = (void*)ss;
  msg.msg_namelen = len;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (as_cmsg && mark) {
    memset(&control, 0, sizeof control);
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SO_MARK;
    c->cmsg_len = CMSG_LEN(sizeof(unsigned int));
    unsigned int value = (unsigned int)mark;
    memcpy(CMSG_DATA(c), &value, sizeof value);
  }
  if (sendmsg(fd, &msg, 0) < 0) return finish(outcome_from_errno(errno), "reply", start);
  if (!wait_readable(fd, start + (double)timeout_ms)) return finish(OUT_TIMEOUT, "reply", start);
  char reply[256];
  if (recv(fd, reply, sizeof reply, MSG_DONTWAIT) < 0) {
    return finish(outcome_from_errno(errno), "reply", start);
  }
  close(fd);
  return finish(OUT_OK, "reply", start);
}

/* The one's-complement sum of RFC 1071 over the IPv4 pseudo-header and the segment. */
static uint16_t transport_checksum(struct in_addr src, struct in_addr dst, uint8_t protocol,
                                   const unsigned char* segment, size_t length) {
  uint32_t sum = 0;
  const uint16_t* s = (const uint16_t*)&src.s_addr;
  const uint16_t* d = (const uint16_t*)&dst.s_addr;
  sum += s[0] + s[1] + d[0] + d[1];
  sum += htons(protocol);
  sum += htons((uint16_t)length);
  for (size_t i = 0; i + 1 < length; i += 2) sum += (uint32_t)(segment[i] | segment[i + 1] << 8);
  if (length & 1) sum += segment[length - 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

/* The source address the kernel would pick for dst: what a connected UDP socket is bound to. */
static int source_for(const struct sockaddr_in* dst, struct in_addr* src) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in local;
  socklen_t len = sizeof local;
  if (fd < 0 || connect(fd, (const struct sockaddr*)dst, sizeof *dst) < 0 ||
      getsockname(fd, (struct sockaddr*)&local, &len) < 0) {
    perror("forge_probe: source address");
    return -1;
  }
  close(fd);
  *src = local.sin_addr;
  return 0;
}

static int parse_flags(const char* text) {
  if (!strcmp(text, "none")) return 0;
  static const char letters[] = "FSRPAUEC"; /* bit 0 = FIN ... bit 7 = CWR */
  int flags = 0;
  for (const char* c = text; *c; c++) {
    const char* at = strchr(letters, *c);
    if (!at) return -1;
    flags |= 1 << (at - letters);
  }
  return flags;
}

static int raw_send(const struct sockaddr_storage* ss, unsigned long mark, int protocol, int flags,
                    long timeout_ms, double start) {
  const char* ok_name = protocol == IPPROTO_UDP ? "reply" : "sent";
  if (ss->ss_family != AF_INET) {
    fprintf(stderr, "forge_probe: raw modes take an IPv4 address\n");
    return finish(OUT_ERROR, ok_name, start);
  }
  const struct sockaddr_in* dst = (const struct sockaddr_in*)ss;
  struct in_addr src;
  if (source_for(dst, &src) < 0) return finish(OUT_ERROR, ok_name, start);
  int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) {
    perror("forge_probe: raw socket");
    return finish(outcome_from_errno(errno), ok_name, start);
  }
  if (set_mark(fd, mark) < 0) return finish(OUT_ERROR, ok_name, start);
  const uint16_t sport = (uint16_t)(40000 + getpid() % 20000);
  unsigned char segment[64];
  size_t length;
  memset(segment, 0, sizeof segment);
  if (protocol == IPPROTO_UDP) {
    struct udphdr* u = (struct udphdr*)segment;
    length = sizeof *u + sizeof PAYLOAD - 1;
    u->source = htons(sport);
    u->dest = dst->sin_port;
    u->len = htons((uint16_t)length);
    memcpy(segment + sizeof *u, PAYLOAD, sizeof PAYLOAD - 1);
    u->check = transport_checksum(src, dst->sin_addr, IPPROTO_UDP, segment, length);
  } else {
    struct tcphdr* t = (struct tcphdr*)segment;
    length = sizeof *t + sizeof PAYLOAD - 1;
    t->source = htons(sport);
    t->dest = dst->sin_port;
    t->seq = htonl(0x12345678);
    t->doff = sizeof *t / 4;
    ((unsigned char*)t)[13] = (unsigned char)flags;
    t->window = htons(1024);
    memcpy(segment + sizeof *t, PAYLOAD, sizeof PAYLOAD - 1);
    t->check = transport_checksum(src, dst->sin_addr, IPPROTO_TCP, segment, length);
  }
  struct sockaddr_in to = *dst;
  to.sin_port = 0; /* raw sockets take the protocol, not a port */
  if (sendto(fd, segment, length, 0, (const struct sockaddr*)&to, sizeof to) < 0) {
    return finish(outcome_from_errno(errno), ok_name, start);
  }
  if (protocol != IPPROTO_UDP) return finish(OUT_OK, ok_name, start);
  /* The echo comes back to a port no socket holds; the raw socket sees a copy of it. */
  const double deadline = start + (double)timeout_ms;
  while (wait_readable(fd, deadline)) {
    unsigned char packet[1500];
    ssize_t n = recv(fd, packet, sizeof packet, MSG_DONTWAIT);
    if (n < (ssize_t)sizeof(struct iphdr)) continue;
    const struct iphdr* ip = (const struct iphdr*)packet;
    size_t header = (size_t)ip->ihl * 4;
    if ((size_t)n < header + sizeof(struct udphdr)) continue;
    const struct udphdr* u = (const struct udphdr*)(packet + header);
    if (ip->saddr == dst->sin_addr.s_addr && u->source == dst->sin_port &&
        u->dest == htons(sport)) {
      return finish(OUT_OK, ok_name, start);
    }
  }
  return finish(OUT_TIMEOUT, ok_name, start);
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char* host = NULL;
  const char* port = NULL;
  const char* mode = NULL;
  long timeout_ms = 1500;
  unsigned long mark = 0;
  int flags = 0;
  const char** const positional[] = {&host, &port, &mode};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc) {
      if (parse_int_arg(argv[++i], 1, 600000, &timeout_ms)) usage();
    } else if (!strcmp(argv[i], "--mark") && i + 1 < argc) {
      char* end = NULL;
      mark = strtoul(argv[++i], &end, 0);
      if (*end || mark > 0xffffffffUL) usage();
    } else if (!strcmp(argv[i], "--flags") && i + 1 < argc) {
      if ((flags = parse_flags(argv[++i])) < 0) usage();
    } else if (take_positional(argv[i], positional, 3)) {
      usage();
    }
  }
  if (!host || !port || !mode) usage();
  struct sockaddr_storage ss;
  socklen_t len;
  if (parse_endpoint(host, port, &ss, &len)) usage();
  const double start = now_ms();
  if (!strcmp(mode, "tcp-sockopt")) return tcp_sockopt(&ss, len, mark, timeout_ms, start);
  if (!strcmp(mode, "udp-sockopt")) return udp_send(&ss, len, mark, 0, timeout_ms, start);
  if (!strcmp(mode, "udp-cmsg")) return udp_send(&ss, len, mark, 1, timeout_ms, start);
  if (!strcmp(mode, "raw-udp")) return raw_send(&ss, mark, IPPROTO_UDP, 0, timeout_ms, start);
  if (!strcmp(mode, "raw-tcp")) return raw_send(&ss, mark, IPPROTO_TCP, flags, timeout_ms, start);
  usage();
  return EXIT_USAGE;
}
