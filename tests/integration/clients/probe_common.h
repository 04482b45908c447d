/* Shared by the integration-test clients: address parsing, clocks, and the one vocabulary of
 * outcomes every client prints and exits with, so the pytest side parses one format. */
#pragma once

#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* Outcome names and exit codes. "blocked" is a local EPERM: netfilter dropped our own packet
 * in OUTPUT synchronously (e.g. a queue without listener and without bypass). "prohibited" is an
 * ICMP "administratively prohibited" (v4 type 3 code 9/10/13, v6 type 1 code 1) or EACCES. */
enum outcome {
  OUT_OK = 0, /* connected / reply */
  OUT_REFUSED = 1,
  OUT_TIMEOUT = 2,
  OUT_UNREACHABLE = 3,
  OUT_PROHIBITED = 4,
  OUT_BLOCKED = 5,
  OUT_ERROR = 6,
};
#define EXIT_USAGE 64

/* Stores a positional argument in the first of `slots` still empty; -1 when every one is
 * taken already (a usage error). */
static inline int take_positional(const char* arg, const char** const slots[], int n) {
  for (int i = 0; i < n; i++) {
    if (!*slots[i]) {
      *slots[i] = arg;
      return 0;
    }
  }
  return -1;
}

static inline const char* outcome_name(enum outcome o, const char* ok_name) {
  switch (o) {
    case OUT_OK:
      return ok_name;
    case OUT_REFUSED:
      return "refused";
    case OUT_TIMEOUT:
      return "timeout";
    case OUT_UNREACHABLE:
      return "unreachable";
    case OUT_PROHIBITED:
      return "prohibited";
    case OUT_BLOCKED:
      return "blocked";
    default:
      return "error";
  }
}

static inline enum outcome outcome_from_errno(int err) {
  switch (err) {
    case ECONNREFUSED:
      return OUT_REFUSED;
    case ETIMEDOUT:
      return OUT_TIMEOUT;
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
    case ENONET:
      return OUT_UNREACHABLE;
    case EACCES:
      return OUT_PROHIBITED;
    case EPERM:
      return OUT_BLOCKED;
    default:
      return OUT_ERROR;
  }
}

/* Classifies one ICMP error from the socket's error queue (IP_RECVERR / IPV6_RECVERR). */
static inline enum outcome outcome_from_icmp(const struct sock_extended_err* ee) {
  if (ee->ee_origin == SO_EE_ORIGIN_ICMP && ee->ee_type == ICMP_DEST_UNREACH) {
    if (ee->ee_code == ICMP_PORT_UNREACH) return OUT_REFUSED;
    if (ee->ee_code == ICMP_PKT_FILTERED || ee->ee_code == ICMP_NET_ANO ||
        ee->ee_code == ICMP_HOST_ANO)
      return OUT_PROHIBITED;
    return OUT_UNREACHABLE;
  }
  if (ee->ee_origin == SO_EE_ORIGIN_ICMP6 && ee->ee_type == ICMP6_DST_UNREACH) {
    if (ee->ee_code == ICMP6_DST_UNREACH_NOPORT) return OUT_REFUSED;
    if (ee->ee_code == ICMP6_DST_UNREACH_ADMIN) return OUT_PROHIBITED;
    return OUT_UNREACHABLE;
  }
  if (ee->ee_origin == SO_EE_ORIGIN_LOCAL) return outcome_from_errno((int)ee->ee_errno);
  return outcome_from_errno((int)ee->ee_errno);
}

/* Reads one queued error, if any, and classifies it; returns -1 when the queue is empty. */
static inline int read_error_queue(int fd, int* icmp_type, int* icmp_code) {
  char data[512];
  char control[512];
  struct sockaddr_storage from;
  struct iovec iov = {data, sizeof data};
  struct msghdr msg = {0};
  msg.msg_name = &from;
  msg.msg_namelen = sizeof from;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return -1;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if ((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
        (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
      struct sock_extended_err ee;
      memcpy(&ee, CMSG_DATA(c), sizeof ee);
      *icmp_type = ee.ee_type;
      *icmp_code = ee.ee_code;
      return (int)outcome_from_icmp(&ee);
    }
  }
  return -1;
}

static inline double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Sends the n bytes of payload on fd (to ss with sendto, or on the socket's own peer when
 * connected) and waits up to timeout_ms for them to come back from an echo server: OUT_OK, the
 * outcome of an ICMP error from the error queue (IP_RECVERR must be on), of the send's errno,
 * or OUT_TIMEOUT. Late echoes of earlier datagrams are skipped. */
static inline enum outcome udp_echo(int fd, const struct sockaddr_storage* ss, socklen_t len,
                                    int connected, const char* payload, size_t n, long timeout_ms) {
  char in[1500];
  int type, code;
  ssize_t sent = connected ? send(fd, payload, n, 0)
                           : sendto(fd, payload, n, 0, (const struct sockaddr*)ss, len);
  if (sent < 0) {
    int err = errno;
    int q = read_error_queue(fd, &type, &code);
    return q >= 0 ? (enum outcome)q : outcome_from_errno(err);
  }
  const double deadline = now_ms() + (double)timeout_ms;
  for (;;) {
    int left = (int)(deadline - now_ms());
    if (left <= 0) return OUT_TIMEOUT;
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, left);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return OUT_TIMEOUT;
    if (p.revents & POLLERR) {
      int q = read_error_queue(fd, &type, &code);
      if (q >= 0) return (enum outcome)q;
    }
    ssize_t got = recv(fd, in, sizeof in, MSG_DONTWAIT);
    if (got < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      int err = errno;
      int q = read_error_queue(fd, &type, &code);
      return q >= 0 ? (enum outcome)q : outcome_from_errno(err);
    }
    if ((size_t)got == n && !memcmp(in, payload, n)) return OUT_OK;
  }
}

/* Numeric addresses only: the tests never resolve names. */
static inline int parse_endpoint(const char* host, const char* port, struct sockaddr_storage* ss,
                                 socklen_t* len) {
  char* end = NULL;
  long p = strtol(port, &end, 10);
  if (!*port || *end || p <= 0 || p > 65535) return -1;
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in* v4 = (struct sockaddr_in*)ss;
  struct sockaddr_in6* v6 = (struct sockaddr_in6*)ss;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((unsigned short)p);
    *len = sizeof *v4;
    return 0;
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((unsigned short)p);
    *len = sizeof *v6;
    return 0;
  }
  return -1;
}

/* Binds fd (of `family`) to the local ADDRESS (NULL: the wildcard address) and PORT (0: the
 * kernel's choice), with SO_REUSEADDR: the probes' --source-address and --source-port. */
static inline int bind_source(int fd, int family, const char* address, long port) {
  struct sockaddr_storage local;
  socklen_t len;
  char port_text[8];
  int on = 1;
  snprintf(port_text, sizeof port_text, "%ld", port ? port : 1);
  if (parse_endpoint(address ? address : (family == AF_INET ? "0.0.0.0" : "::"), port_text, &local,
                     &len) ||
      local.ss_family != family) {
    errno = EINVAL;
    return -1;
  }
  if (!port) ((struct sockaddr_in*)&local)->sin_port = 0; /* the same offset in sockaddr_in6 */
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  return bind(fd, (struct sockaddr*)&local, len);
}

static inline int parse_int_arg(const char* s, long min, long max, long* out) {
  char* end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || !*s || *end || v < min || v > max) return -1;
  *out = v;
  return 0;
}
