/* flow_repeat: one long-lived process that makes flows on command, so that a test can make the
 * same process reach the same destination again and again (kernel-held verdicts are per process
 * and destination), change its uid, or exec another program in between.
 *
 * Prints "ready <pid> <uid>" at start, then reads commands from stdin, one a line, and answers
 * each with one line, flushed at once:
 *   tcp HOST PORT TIMEOUT_MS [SPORT]  a new TCP connection; when it is up, one 16-byte echo
 *                                     round trip on it (the connection's later packets pass
 *                                     too). "<outcome> <ms>": connected, refused, timeout,
 *                                     prohibited, blocked, unreachable, error; "stalled" when
 *                                     the connection came up but the echo did not come back.
 *                                     SPORT: from that local port, closed with a reset, so
 *                                     that the next connection may take the same 4-tuple.
 *   udp HOST PORT TIMEOUT_MS SPORT    a new unconnected UDP socket (sendto), bound to local port
 *                                     SPORT (0: the kernel's choice), one datagram, its echo
 *                                     awaited: "<outcome> <ms>" (reply, prohibited, timeout...).
 *   udpc HOST PORT TIMEOUT_MS SPORT   the same over a connected socket (connect, send).
 *   udpo HOST PORT TIMEOUT_MS SPORT   as udp, over IPv6 with a destination options header (an
 *                                     empty PadN option: IPV6_DSTOPTS, which takes CAP_NET_RAW)
 *                                     between the IPv6 and the UDP header.
 *   keep HOST PORT TIMEOUT_MS         one datagram with sendto on the one unconnected socket
 *                                     this process keeps for its whole life (made at the first
 *                                     "keep"): several destinations through one socket.
 *   setuid UID                        setgid and setuid to UID: "ok <uid>" or "error <errno>".
 *   exec PROGRAM                      replaces this process with PROGRAM (no arguments; same
 *                                     pid, stdin and stdout), which a test points at a copy of
 *                                     this program: the copy answers "ready ..." in its turn.
 *   quit                              exits 0.
 * ICMP errors are read from the error queue (IP_RECVERR), so that an unconnected socket sees
 * them too. Numeric addresses only. */
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include "probe_common.h"

#define STALLED_NAME "stalled"

/* Waits for EVENTS on fd until deadline (ms on now_ms's clock): revents, 0 on timeout. */
static int wait_fd(int fd, short events, double deadline) {
  for (;;) {
    int left = (int)(deadline - now_ms());
    if (left < 0) left = 0;
    struct pollfd p = {fd, events, 0};
    int n = poll(&p, 1, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    return p.revents;
  }
}

static void recv_err_on(int fd, int family) {
  int on = 1;
  if (family == AF_INET)
    setsockopt(fd, SOL_IP, IP_RECVERR, &on, sizeof on);
  else
    setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &on, sizeof on);
}

static void say(const char* outcome, double start) {
  printf("%s %.1f\n", outcome, now_ms() - start);
}

/* Binds fd to local port source_port (SO_REUSEADDR) of ss's family: 0 on success. */
static int bind_source_port(int fd, const struct sockaddr_storage* ss, socklen_t len,
                            long source_port) {
  int on = 1;
  struct sockaddr_storage local;
  memset(&local, 0, sizeof local);
  local.ss_family = ss->ss_family;
  if (ss->ss_family == AF_INET)
    ((struct sockaddr_in*)&local)->sin_port = htons((uint16_t)source_port);
  else
    ((struct sockaddr_in6*)&local)->sin6_port = htons((uint16_t)source_port);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (bind(fd, (struct sockaddr*)&local, len) < 0) {
    fprintf(stderr, "flow_repeat: bind %ld: %s\n", source_port, strerror(errno));
    return -1;
  }
  return 0;
}

static void tcp_flow(const struct sockaddr_storage* ss, socklen_t len, long timeout_ms,
                     long source_port) {
  double start = now_ms();
  double deadline = start + (double)timeout_ms;
  int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    say("error", start);
    return;
  }
  if (source_port) {
    struct linger reset = {1, 0}; /* no TIME_WAIT: the 4-tuple is free again at once */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    if (bind_source_port(fd, ss, len, source_port) < 0) {
      say("error", start);
      close(fd);
      return;
    }
  }
  enum outcome result = OUT_OK;
  if (connect(fd, (const struct sockaddr*)ss, len) < 0) {
    if (errno != EINPROGRESS) {
      result = outcome_from_errno(errno);
    } else if (!wait_fd(fd, POLLOUT, deadline)) {
      result = OUT_TIMEOUT;
    } else {
      int err = 0;
      socklen_t elen = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
      if (err) result = outcome_from_errno(err);
    }
  }
  if (result != OUT_OK) {
    say(outcome_name(result, "connected"), start);
    close(fd);
    return;
  }
  /* Connected: one echo round trip, bounded by the same deadline plus a second (the echo must
   * not be mistaken for a drop of the connect itself). */
  char out[16], in[16];
  memset(out, 'k', sizeof out);
  size_t got = 0;
  int echoed = send(fd, out, sizeof out, MSG_NOSIGNAL) == (ssize_t)sizeof out;
  while (echoed && got < sizeof in) {
    if (!(wait_fd(fd, POLLIN, deadline + 1000.0) & (POLLIN | POLLHUP | POLLERR))) {
      echoed = 0;
      break;
    }
    ssize_t n = recv(fd, in + got, sizeof in - got, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) {
      echoed = 0;
      break;
    }
    got += (size_t)n;
  }
  say(echoed && !memcmp(in, out, sizeof out) ? "connected" : STALLED_NAME, start);
  close(fd);
}

/* One datagram on fd (connected or to ss), its echo awaited. */
static enum outcome udp_exchange(int fd, const struct sockaddr_storage* ss, socklen_t len,
                                 int connected, long timeout_ms) {
  static unsigned seq;
  char out[32];
  memset(out, 'u', sizeof out);
  snprintf(out, sizeof out, "flow_repeat %d %u ", (int)getpid(), ++seq);
  return udp_echo(fd, ss, len, connected, out, sizeof out, timeout_ms);
}

static void udp_flow(const struct sockaddr_storage* ss, socklen_t len, long timeout_ms,
                     long source_port, int connected, int options) {
  double start = now_ms();
  int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    say("error", start);
    return;
  }
  /* next header (the kernel's), length 0 (8 bytes), PadN of 4 zero bytes */
  static const unsigned char kDestinationOptions[8] = {0, 0, 1, 4, 0, 0, 0, 0};
  if (options && setsockopt(fd, IPPROTO_IPV6, IPV6_DSTOPTS, kDestinationOptions,
                            sizeof kDestinationOptions) < 0) {
    say("error", start);
    close(fd);
    return;
  }
  recv_err_on(fd, ss->ss_family);
  if (source_port && bind_source_port(fd, ss, len, source_port) < 0) {
    say("error", start);
    close(fd);
    return;
  }
  enum outcome result = OUT_OK;
  if (connected && connect(fd, (const struct sockaddr*)ss, len) < 0) {
    result = outcome_from_errno(errno);
  }
  if (result == OUT_OK) result = udp_exchange(fd, ss, len, connected, timeout_ms);
  say(outcome_name(result, "reply"), start);
  close(fd);
}

static void keep_flow(const struct sockaddr_storage* ss, socklen_t len, long timeout_ms) {
  static int kept4 = -1, kept6 = -1;
  double start = now_ms();
  int* kept = ss->ss_family == AF_INET ? &kept4 : &kept6;
  if (*kept < 0) {
    *kept = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (*kept < 0) {
      say("error", start);
      return;
    }
    recv_err_on(*kept, ss->ss_family);
  }
  while (read_error_queue(*kept, &(int){0}, &(int){0}) >= 0) {
    /* an earlier datagram's ICMP error: not this one's */
  }
  say(outcome_name(udp_exchange(*kept, ss, len, 0, timeout_ms), "reply"), start);
}

int main(int argc, char** argv) {
  (void)argc;
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("ready %d %u\n", (int)getpid(), (unsigned)getuid());
  char line[512];
  while (fgets(line, sizeof line, stdin)) {
    char verb[16], host[64], port[16], program[400];
    long timeout_ms = 0, source_port = 0, uid = 0;
    struct sockaddr_storage ss;
    socklen_t len;
    int fields =
        sscanf(line, "%15s %63s %15s %ld %ld", verb, host, port, &timeout_ms, &source_port);
    if (fields < 1) continue;
    if (!strcmp(verb, "quit")) return 0;
    if (!strcmp(verb, "setuid") && fields >= 2 && sscanf(host, "%ld", &uid) == 1) {
      if (setgid((gid_t)uid) < 0 || setuid((uid_t)uid) < 0) {
        printf("error %d\n", errno);
      } else {
        printf("ok %u\n", (unsigned)getuid());
      }
      continue;
    }
    if (!strcmp(verb, "exec") && sscanf(line, "%*s %399s", program) == 1) {
      char* const args[] = {program, NULL};
      execv(program, args);
      printf("error %d\n", errno);
      continue;
    }
    if (fields < 4 || timeout_ms <= 0 || parse_endpoint(host, port, &ss, &len)) {
      printf("usage %s\n", verb);
      continue;
    }
    if (!strcmp(verb, "tcp")) {
      tcp_flow(&ss, len, timeout_ms, fields >= 5 ? source_port : 0);
    } else if (!strcmp(verb, "udp") || !strcmp(verb, "udpc") || !strcmp(verb, "udpo")) {
      udp_flow(&ss, len, timeout_ms, fields >= 5 ? source_port : 0, !strcmp(verb, "udpc"),
               !strcmp(verb, "udpo"));
    } else if (!strcmp(verb, "keep")) {
      keep_flow(&ss, len, timeout_ms);
    } else {
      printf("usage %s\n", verb);
    }
  }
  (void)argv;
  return 0;
}
