/* held_client: one long-lived process that opens flows when told to, so that a test can make
 * the same process (same pid, start time and image) reach a destination again and again: what a
 * kernel-held verdict is keyed on. Also the attacks on such verdicts that need one process:
 * socket marks set on many sockets at once, a UDP socket inherited across exec or fork, and
 * threads sending on one unconnected UDP socket at once.
 *
 *   held_client [--as NAME]         reads commands on stdin, answers each with one line
 *                                   (NAME only shows in the command line, for profiles to
 *                                   match; stdin is read unbuffered, so that after `exec` the
 *                                   new image reads the commands that follow)
 *   held_client --send-fd FD HOST PORT[,PORT...] [--count N] [--timeout-ms N] [--as NAME]
 *                                   sends COUNT datagrams to each HOST PORT on the inherited
 *                                   UDP socket FD, each waiting for its echo; prints
 *                                   "<outcome> <replies>/<sent> <ms> pid=<pid>" (the outcome
 *                                   of the first datagram that got no echo)
 *
 * Commands (outcomes as in probe_common.h; one line each):
 *   tcp HOST PORT TIMEOUT_MS        a new TCP connection          -> "<outcome> <ms>"
 *   tcpx HOST PORT TIMEOUT_MS       a new TCP connection and one echo round trip on it (to an
 *                                   echo server): "connected" only when the echo came back,
 *                                   "stalled" when the connection opened but no echo came
 *   udp HOST PORT TIMEOUT_MS        a new unconnected UDP socket, one datagram and its echo
 *   udpc HOST PORT TIMEOUT_MS       the same on a connected UDP socket
 *   marks tcp|udp|udp-cmsg HOST PORT TIMEOUT_MS MARK...
 *                                   one socket per MARK, all at once: SO_MARK set with
 *                                   setsockopt (tcp, udp) or carried by each datagram's SO_MARK
 *                                   control message (udp-cmsg); waits TIMEOUT_MS for all of
 *                                   them -> "passed <n>/<total> <mark>,..." (the marks whose
 *                                   connection or echo got through), or "error ..."
 *   keep HOST PORT TIMEOUT_MS       one unconnected UDP socket kept open across exec (no
 *                                   CLOEXEC; made at the first keep), a datagram and its echo
 *                                   -> "<outcome> <ms> fd=<fd>"
 *   fork-send HOST PORT TIMEOUT_MS  a forked child sends one datagram on the kept socket and
 *                                   prints "<outcome> <ms> pid=<child pid>"
 *   fork-exec PROGRAM ARG...        a forked child execs PROGRAM (the kept socket open in it);
 *                                   PROGRAM prints the line; the parent waits for it
 *   exec PROGRAM ARG...             this process execs PROGRAM (same pid, the kept socket
 *                                   open); PROGRAM prints the line
 *   threads HOST PORT_X PORT_Y DURATION_MS
 *                                   one unconnected UDP socket, three threads sending at once
 *                                   for DURATION_MS: one to PORT_X, one to PORT_Y, one
 *                                   alternating; each first sends one datagram and waits 300 ms
 *                                   (a first flow decided by wardend) -> "sent x=<n> y=<n>
 *                                   alt=<n> errors=<n>" (errors: sends that failed, e.g. EPERM)
 *   send FD HOST PORT TIMEOUT_MS    one datagram on the inherited socket FD and its echo
 *                                   -> "<outcome> <ms>"
 *   keepc HOST PORT [bound]         a UDP socket kept open across exec, connected to HOST PORT
 *                                   and nothing sent yet -> "connected fd=<fd>" or the outcome;
 *                                   bound: bound to a port of the kernel's choice first (the
 *                                   connect hook then knows the flow's key)
 *   sendc FD TIMEOUT_MS [thread]    one datagram on the connected socket FD with send(2) (no
 *                                   address: the cgroup sendmsg hook does not run) and its echo
 *                                   -> "<outcome> <ms>"; thread: sent by a new thread
 *   tfo HOST PORT                   a TCP socket kept open across exec, connected with TCP Fast
 *                                   Open's deferred connect (TCP_FASTOPEN_CONNECT, no cookie):
 *                                   connect() returns at once and sends nothing; the SYN leaves
 *                                   with the first write, from whoever writes
 *                                   -> "deferred fd=<fd>" or the outcome
 *   tcpw FD TIMEOUT_MS              writes on the TCP socket FD (for a deferred connect: sends
 *                                   the SYN, with the data) and waits for the echo
 *                                   -> "<outcome> <ms>" ("connected" when the echo came back)
 *   listen tcp|udp ADDRESS PORT reuseaddr|reuseport [DEVICE]
 *                                   a socket bound to ADDRESS PORT with that option (TCP:
 *                                   listening), and to the interface DEVICE (SO_BINDTODEVICE)
 *                                   -> "listening fd=<fd>"
 *   connectfrom PORT HOST HPORT TIMEOUT_MS
 *                                   a TCP connect to HOST HPORT from local PORT (bound with
 *                                   SO_REUSEPORT, so beside a listener of that port of the same
 *                                   user) -> "<outcome> <ms>"
 *   steer FD INDEX [SYN-INDEX]      attaches to FD's SO_REUSEPORT group a steering program
 *                                   (SO_ATTACH_REUSEPORT_CBPF, no privilege needed) that sends
 *                                   every packet to the group's member INDEX (in the order they
 *                                   joined), or with SYN-INDEX, TCP segments with SYN set to
 *                                   that member and the rest to INDEX -> "steered"
 *   serve FD MS                     for MS milliseconds, accepts the connections (TCP) or echoes
 *                                   the datagrams (UDP) that arrive on FD -> "served <n>"
 *   setuid UID                      drops to UID (groups cleared, real, effective and saved)
 *                                   -> "uid <uid>"
 *   pid                             -> "pid <pid>"
 *   quit                            exits */
#define _GNU_SOURCE /* setresuid, setresgid */
#include <grp.h>
#include <linux/filter.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe_common.h"

#ifndef TCP_FASTOPEN_CONNECT
#define TCP_FASTOPEN_CONNECT 30
#endif
#ifndef TCP_FASTOPEN_NO_COOKIE
#define TCP_FASTOPEN_NO_COOKIE 34
#endif

#define MAX_MARKS 64
#define MAX_WORDS 72

static int kept_fd = -1;

static void usage(void) {
  fprintf(stderr,
          "usage: held_client [--as NAME] (commands on stdin)\n"
          "       held_client --send-fd FD HOST PORT[,PORT...] [--count N] [--timeout-ms N] "
          "[--as NAME]\n");
  exit(EXIT_USAGE);
}

static void recv_errors_on(int fd, int family) {
  int on = 1;
  if (family == AF_INET)
    setsockopt(fd, SOL_IP, IP_RECVERR, &on, sizeof on);
  else
    setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &on, sizeof on);
}

/* Discards what an earlier exchange left queued on fd (a late echo, an ICMP error). */
static void drain(int fd) {
  char buf[1500];
  int type, code;
  while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) >= 0) {
  }
  while (read_error_queue(fd, &type, &code) >= 0) {
  }
}

/* One datagram to ss on fd (sendto unless connected) and its echo within timeout_ms. */
static enum outcome udp_exchange(int fd, const struct sockaddr_storage* ss, socklen_t len,
                                 int connected, long timeout_ms) {
  static unsigned long seq;
  char out[64];
  int n = snprintf(out, sizeof out, "held_client %d %lu", (int)getpid(), seq++);
  return udp_echo(fd, ss, len, connected, out, (size_t)n, timeout_ms);
}

static enum outcome tcp_connect(const struct sockaddr_storage* ss, socklen_t len, long timeout_ms,
                                int exchange, int* stalled) {
  int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return OUT_ERROR;
  enum outcome result = OUT_OK;
  if (connect(fd, (const struct sockaddr*)ss, len) < 0) {
    if (errno != EINPROGRESS) {
      result = outcome_from_errno(errno);
    } else {
      struct pollfd p = {fd, POLLOUT, 0};
      int r;
      do {
        r = poll(&p, 1, (int)timeout_ms);
      } while (r < 0 && errno == EINTR);
      if (r <= 0) {
        result = OUT_TIMEOUT;
      } else {
        int err = 0;
        socklen_t elen = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
        if (err) result = outcome_from_errno(err);
      }
    }
  }
  if (result == OUT_OK && exchange) {
    /* The handshake's last ACK and the data leave after connect() returned: a flow whose
     * first packet passed but whose later ones are refused opens and then stalls here. */
    static const char ping[] = "held_client tcpx";
    char in[sizeof ping];
    size_t got = 0;
    const double deadline = now_ms() + (double)timeout_ms;
    if (send(fd, ping, sizeof ping, MSG_NOSIGNAL) != (ssize_t)sizeof ping) *stalled = 1;
    while (!*stalled && got < sizeof ping) {
      int left = (int)(deadline - now_ms());
      struct pollfd p = {fd, POLLIN, 0};
      if (left <= 0 || poll(&p, 1, left) <= 0) {
        *stalled = 1;
        break;
      }
      ssize_t n = recv(fd, in + got, sizeof in - got, MSG_DONTWAIT);
      if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR))) *stalled = 1;
      if (n > 0) got += (size_t)n;
    }
  }
  close(fd);
  return result;
}

static int endpoint(const char* host, const char* port, struct sockaddr_storage* ss,
                    socklen_t* len) {
  if (!host || !port || parse_endpoint(host, port, ss, len)) {
    printf("error bad endpoint\n");
    return -1;
  }
  return 0;
}

static int timeout_arg(const char* s, long* out) {
  if (!s || parse_int_arg(s, 1, 600000, out)) {
    printf("error bad timeout\n");
    return -1;
  }
  return 0;
}

/* ---- marks ---------------------------------------------------------------------------- */

static int set_mark(int fd, unsigned int mark) {
  return setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark);
}

static ssize_t send_with_mark_cmsg(int fd, const struct sockaddr_storage* ss, socklen_t len,
                                   const char* data, size_t n, unsigned int mark) {
  struct iovec iov = {(void*)data, n};
  union {
    char buf[CMSG_SPACE(sizeof(unsigned int))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg = {0};
  msg.msg_name = (void*)ss;
  msg.msg_namelen = len;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SO_MARK;
  c->cmsg_len = CMSG_LEN(sizeof(unsigned int));
  memcpy(CMSG_DATA(c), &mark, sizeof mark);
  return sendmsg(fd, &msg, 0);
}

static void command_marks(char** w, int nw) {
  if (nw < 6) {
    printf("error usage: marks tcp|udp|udp-cmsg HOST PORT TIMEOUT_MS MARK...\n");
    return;
  }
  const char* kind = w[1];
  int tcp = !strcmp(kind, "tcp"), cmsg = !strcmp(kind, "udp-cmsg");
  if (!tcp && !cmsg && strcmp(kind, "udp")) {
    printf("error unknown kind %s\n", kind);
    return;
  }
  struct sockaddr_storage ss;
  socklen_t len;
  long timeout_ms;
  if (endpoint(w[2], w[3], &ss, &len) || timeout_arg(w[4], &timeout_ms)) return;
  int count = nw - 5;
  if (count > MAX_MARKS) count = MAX_MARKS;
  unsigned int marks[MAX_MARKS];
  int fds[MAX_MARKS], passed[MAX_MARKS];
  for (int i = 0; i < count; i++) {
    marks[i] = (unsigned int)strtoul(w[5 + i], NULL, 0);
    fds[i] = -1;
    passed[i] = 0;
  }
  char payload[MAX_MARKS][32];
  for (int i = 0; i < count; i++) {
    int fd =
        socket(ss.ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      printf("error socket: %s\n", strerror(errno));
      goto out;
    }
    fds[i] = fd;
    if (!cmsg && set_mark(fd, marks[i]) < 0) {
      printf("error SO_MARK %#x: %s\n", marks[i], strerror(errno));
      goto out;
    }
    if (tcp) {
      if (connect(fd, (struct sockaddr*)&ss, len) < 0 && errno != EINPROGRESS) {
        close(fd);
        fds[i] = -1; /* refused at once (EPERM, ...): did not pass */
      }
      continue;
    }
    int n = snprintf(payload[i], sizeof payload[i], "mark %#x %d", marks[i], (int)getpid());
    ssize_t sent = cmsg ? send_with_mark_cmsg(fd, &ss, len, payload[i], (size_t)n, marks[i])
                        : sendto(fd, payload[i], (size_t)n, 0, (struct sockaddr*)&ss, len);
    if (sent < 0) {
      if (errno == EPERM && cmsg) {
        /* The control message needs CAP_NET_RAW or CAP_NET_ADMIN: tell the test. */
        int probe = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        unsigned int zero = 0;
        int capable = probe >= 0 && set_mark(probe, zero) == 0;
        if (probe >= 0) close(probe);
        if (!capable) {
          printf("error SO_MARK control message: %s\n", strerror(EPERM));
          goto out;
        }
      }
      close(fd);
      fds[i] = -1; /* refused at once: did not pass */
    }
  }
  const double deadline = now_ms() + (double)timeout_ms;
  for (;;) {
    struct pollfd p[MAX_MARKS];
    int index[MAX_MARKS], np = 0;
    for (int i = 0; i < count; i++) {
      if (fds[i] < 0 || passed[i]) continue;
      p[np].fd = fds[i];
      p[np].events = tcp ? POLLOUT : POLLIN;
      p[np].revents = 0;
      index[np++] = i;
    }
    int left = (int)(deadline - now_ms());
    if (np == 0 || left <= 0) break;
    int r = poll(p, (nfds_t)np, left);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    for (int k = 0; k < np; k++) {
      if (!p[k].revents) continue;
      int i = index[k];
      if (tcp) {
        int err = 0;
        socklen_t elen = sizeof err;
        getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &elen);
        if (!err) passed[i] = 1;
        close(fds[i]);
        fds[i] = -1;
      } else {
        char in[1500];
        ssize_t got = recv(fds[i], in, sizeof in, MSG_DONTWAIT);
        if (got > 0) {
          passed[i] = 1;
        } else if (got < 0 && errno != EAGAIN && errno != EINTR) {
          close(fds[i]); /* an ICMP error: did not pass */
          fds[i] = -1;
        }
      }
    }
  }
  int total = 0;
  char list[MAX_MARKS * 12] = "";
  for (int i = 0; i < count; i++) {
    if (!passed[i]) continue;
    total++;
    char one[16];
    snprintf(one, sizeof one, "%s%#x", *list ? "," : "", marks[i]);
    strcat(list, one);
  }
  printf("passed %d/%d %s\n", total, count, list);
out:
  for (int i = 0; i < count; i++) {
    if (fds[i] >= 0) close(fds[i]);
  }
}

/* ---- threads -------------------------------------------------------------------------- */

struct sender {
  int fd;
  const struct sockaddr_storage* to[2];
  socklen_t len;
  int alternate;
  double until;
  long sent;
  long errors;
};

static void* send_loop(void* arg) {
  struct sender* s = arg;
  char data[32];
  int n = snprintf(data, sizeof data, "held_client threads %d", (int)getpid());
  /* One first datagram, decided by wardend, then the tight loop on what it holds. */
  for (int k = 0; k < (s->alternate ? 2 : 1); k++) {
    if (sendto(s->fd, data, (size_t)n, 0, (const struct sockaddr*)s->to[k], s->len) < 0)
      s->errors++;
    else
      s->sent++;
    usleep(150 * 1000);
  }
  usleep(150 * 1000);
  for (long i = 0; now_ms() < s->until; i++) {
    const struct sockaddr_storage* to = s->to[s->alternate ? (i & 1) : 0];
    if (sendto(s->fd, data, (size_t)n, 0, (const struct sockaddr*)to, s->len) < 0)
      s->errors++;
    else
      s->sent++;
  }
  return NULL;
}

static void command_threads(char** w, int nw) {
  if (nw != 5) {
    printf("error usage: threads HOST PORT_X PORT_Y DURATION_MS\n");
    return;
  }
  struct sockaddr_storage x, y;
  socklen_t len;
  long duration_ms;
  if (endpoint(w[1], w[2], &x, &len) || endpoint(w[1], w[3], &y, &len) ||
      timeout_arg(w[4], &duration_ms))
    return;
  int fd = socket(x.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    printf("error socket: %s\n", strerror(errno));
    return;
  }
  int big = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  const double until = now_ms() + 600.0 + (double)duration_ms;
  struct sender senders[3] = {
      {fd, {&x, &x}, len, 0, until, 0, 0},
      {fd, {&y, &y}, len, 0, until, 0, 0},
      {fd, {&x, &y}, len, 1, until, 0, 0},
  };
  pthread_t threads[3];
  for (int i = 0; i < 3; i++) pthread_create(&threads[i], NULL, send_loop, &senders[i]);
  for (int i = 0; i < 3; i++) pthread_join(threads[i], NULL);
  close(fd);
  printf("sent x=%ld y=%ld alt=%ld errors=%ld\n", senders[0].sent, senders[1].sent, senders[2].sent,
         senders[0].errors + senders[1].errors + senders[2].errors);
}

/* ---- the kept socket, fork and exec --------------------------------------------------- */

static void command_keep(char** w, int nw) {
  struct sockaddr_storage ss;
  socklen_t len;
  long timeout_ms;
  if (nw != 4 || endpoint(w[1], w[2], &ss, &len) || timeout_arg(w[3], &timeout_ms)) return;
  if (kept_fd < 0) {
    kept_fd = socket(ss.ss_family, SOCK_DGRAM, 0); /* no CLOEXEC: it is to be inherited */
    if (kept_fd < 0) {
      printf("error socket: %s\n", strerror(errno));
      return;
    }
    recv_errors_on(kept_fd, ss.ss_family);
  }
  drain(kept_fd);
  double start = now_ms();
  enum outcome o = udp_exchange(kept_fd, &ss, len, 0, timeout_ms);
  printf("%s %.1f fd=%d\n", outcome_name(o, "reply"), now_ms() - start, kept_fd);
}

static void command_fork_send(char** w, int nw) {
  struct sockaddr_storage ss;
  socklen_t len;
  long timeout_ms;
  if (nw != 4 || endpoint(w[1], w[2], &ss, &len) || timeout_arg(w[3], &timeout_ms)) return;
  if (kept_fd < 0) {
    printf("error no kept socket\n");
    return;
  }
  drain(kept_fd);
  fflush(stdout);
  pid_t child = fork();
  if (child < 0) {
    printf("error fork: %s\n", strerror(errno));
    return;
  }
  if (child == 0) {
    double start = now_ms();
    enum outcome o = udp_exchange(kept_fd, &ss, len, 0, timeout_ms);
    printf("%s %.1f pid=%d\n", outcome_name(o, "reply"), now_ms() - start, (int)getpid());
    fflush(stdout);
    _exit(0);
  }
  waitpid(child, NULL, 0);
}

static void command_exec(char** w, int nw, int in_child) {
  if (nw < 2) {
    printf("error usage: %s PROGRAM ARG...\n", w[0]);
    return;
  }
  if (kept_fd >= 0) drain(kept_fd);
  fflush(stdout);
  pid_t child = in_child ? fork() : 0;
  if (child < 0) {
    printf("error fork: %s\n", strerror(errno));
    return;
  }
  if (child == 0) {
    w[nw] = NULL;
    execv(w[1], &w[1]);
    printf("error exec %s: %s\n", w[1], strerror(errno));
    fflush(stdout);
    if (in_child) _exit(127);
    return;
  }
  waitpid(child, NULL, 0);
}

/* ---- the inherited socket's user ------------------------------------------------------ */

static int send_fd_main(int argc, char** argv) {
  const char *fd_text = NULL, *host = NULL, *ports = NULL;
  long count = 1, timeout_ms = 1500, fd;
  const char** const positional[] = {&fd_text, &host, &ports};
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--count") && i + 1 < argc) {
      if (parse_int_arg(argv[++i], 1, 10000, &count)) usage();
    } else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc) {
      if (parse_int_arg(argv[++i], 1, 600000, &timeout_ms)) usage();
    } else if (!strcmp(argv[i], "--as") && i + 1 < argc) {
      i++; /* for profiles to match, as in the interactive mode */
    } else if (take_positional(argv[i], positional, 3)) {
      usage();
    }
  }
  if (!fd_text || !host || !ports || parse_int_arg(fd_text, 0, 65535, &fd)) usage();
  char list[256];
  snprintf(list, sizeof list, "%s", ports);
  drain((int)fd);
  double start = now_ms();
  enum outcome result = OUT_OK;
  long replies = 0, sent = 0;
  for (char* port = strtok(list, ","); port; port = strtok(NULL, ",")) {
    struct sockaddr_storage ss;
    socklen_t len;
    if (parse_endpoint(host, port, &ss, &len)) usage();
    for (long i = 0; i < count; i++, sent++) {
      enum outcome o = udp_exchange((int)fd, &ss, len, 0, timeout_ms);
      if (o == OUT_OK)
        replies++;
      else if (result == OUT_OK)
        result = o;
    }
  }
  printf("%s %ld/%ld %.1f pid=%d\n", outcome_name(result, "reply"), replies, sent, now_ms() - start,
         (int)getpid());
  return (int)result;
}

static void command_send(char** w, int nw) {
  struct sockaddr_storage ss;
  socklen_t len;
  long timeout_ms, fd;
  if (nw != 5 || parse_int_arg(w[1], 0, 65535, &fd) || endpoint(w[2], w[3], &ss, &len) ||
      timeout_arg(w[4], &timeout_ms)) {
    if (nw != 5) printf("error usage: send FD HOST PORT TIMEOUT_MS\n");
    return;
  }
  drain((int)fd);
  double start = now_ms();
  enum outcome o = udp_exchange((int)fd, &ss, len, 0, timeout_ms);
  printf("%s %.1f\n", outcome_name(o, "reply"), now_ms() - start);
}

static void command_keepc(char** w, int nw) {
  struct sockaddr_storage ss;
  socklen_t len;
  if (nw != 3 && !(nw == 4 && !strcmp(w[3], "bound"))) {
    printf("error usage: keepc HOST PORT [bound]\n");
    return;
  }
  if (endpoint(w[1], w[2], &ss, &len)) return;
  int fd = socket(ss.ss_family, SOCK_DGRAM, 0); /* no CLOEXEC: it is to be inherited */
  if (fd < 0) {
    printf("error socket: %s\n", strerror(errno));
    return;
  }
  recv_errors_on(fd, ss.ss_family);
  if (nw == 4) {
    struct sockaddr_storage any;
    memset(&any, 0, sizeof any);
    any.ss_family = ss.ss_family; /* port 0: the kernel's choice */
    if (bind(fd, (struct sockaddr*)&any, len) < 0) {
      printf("error bind: %s\n", strerror(errno));
      close(fd);
      return;
    }
  }
  if (connect(fd, (struct sockaddr*)&ss, len) < 0) {
    printf("%s\n", outcome_name(outcome_from_errno(errno), "connected"));
    close(fd);
    return;
  }
  printf("connected fd=%d\n", fd);
}

struct exchange {
  int fd;
  long timeout_ms;
  enum outcome outcome;
};

static void* exchange_on(void* arg) {
  struct exchange* e = arg;
  struct sockaddr_storage unused;
  memset(&unused, 0, sizeof unused);
  e->outcome = udp_exchange(e->fd, &unused, 0, 1, e->timeout_ms);
  return NULL;
}

/* sendc FD TIMEOUT_MS [thread]: a datagram on the connected socket FD, sent by this thread or
 * by a new one of this process. */
static void command_sendc(char** w, int nw) {
  long fd, timeout_ms;
  const int threaded = nw == 4 && !strcmp(w[3], "thread");
  if ((nw != 3 && !threaded) || parse_int_arg(w[1], 0, 65535, &fd) ||
      timeout_arg(w[2], &timeout_ms)) {
    if (nw != 3 && !threaded) printf("error usage: sendc FD TIMEOUT_MS [thread]\n");
    return;
  }
  struct exchange e = {(int)fd, timeout_ms, OUT_TIMEOUT};
  drain((int)fd);
  double start = now_ms();
  if (threaded) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, exchange_on, &e) != 0) {
      printf("error pthread_create\n");
      return;
    }
    pthread_join(thread, NULL);
  } else {
    exchange_on(&e);
  }
  printf("%s %.1f\n", outcome_name(e.outcome, "reply"), now_ms() - start);
}

static void command_tfo(char** w, int nw) {
  struct sockaddr_storage ss;
  socklen_t len;
  if (nw != 3) {
    printf("error usage: tfo HOST PORT\n");
    return;
  }
  if (endpoint(w[1], w[2], &ss, &len)) return;
  int fd = socket(ss.ss_family, SOCK_STREAM, 0); /* no CLOEXEC: it is to be inherited */
  int on = 1;
  if (fd < 0 || setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &on, sizeof on) ||
      setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_NO_COOKIE, &on, sizeof on)) {
    printf("error tfo socket: %s\n", strerror(errno));
    if (fd >= 0) close(fd);
    return;
  }
  if (connect(fd, (struct sockaddr*)&ss, len) < 0) {
    printf("%s\n", outcome_name(outcome_from_errno(errno), "connected"));
    close(fd);
    return;
  }
  printf("deferred fd=%d\n", fd);
}

static void command_tcpw(char** w, int nw) {
  long fd, timeout_ms;
  if (nw != 3 || parse_int_arg(w[1], 0, 65535, &fd) || timeout_arg(w[2], &timeout_ms)) {
    if (nw != 3) printf("error usage: tcpw FD TIMEOUT_MS\n");
    return;
  }
  static const char ping[] = "held_client tcpw";
  char in[sizeof ping];
  size_t got = 0;
  const double start = now_ms();
  enum outcome o = OUT_OK;
  /* MSG_DONTWAIT: a deferred connect's write sends the SYN and returns (EINPROGRESS) instead
   * of waiting for the handshake; the data goes with the SYN or after it. */
  if (send((int)fd, ping, sizeof ping, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EINPROGRESS &&
      errno != EAGAIN)
    o = outcome_from_errno(errno);
  while (o == OUT_OK && got < sizeof ping) {
    int left = (int)(start + (double)timeout_ms - now_ms());
    struct pollfd p = {(int)fd, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, left) <= 0) {
      o = OUT_TIMEOUT;
      break;
    }
    ssize_t n = recv((int)fd, in + got, sizeof in - got, MSG_DONTWAIT);
    if (n > 0) {
      got += (size_t)n;
    } else if (n == 0) {
      o = OUT_ERROR;
    } else if (errno != EAGAIN && errno != EINTR) {
      o = outcome_from_errno(errno);
    }
  }
  printf("%s %.1f\n", outcome_name(o, "connected"), now_ms() - start);
}

static void command_setuid(char** w, int nw) {
  long uid;
  if (nw != 2 || parse_int_arg(w[1], 0, 0x7fffffff, &uid)) {
    printf("error usage: setuid UID\n");
    return;
  }
  if (setgroups(0, NULL) || setresgid((gid_t)uid, (gid_t)uid, (gid_t)uid) ||
      setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid)) {
    printf("error setuid %ld: %s\n", uid, strerror(errno));
    return;
  }
  printf("uid %d\n", (int)getuid());
}

/* ---- listeners ----------------------------------------------------------------------- */

static void command_listen(char** w, int nw) {
  struct sockaddr_storage ss;
  socklen_t len;
  int tcp = nw >= 5 && !strcmp(w[1], "tcp");
  const char* device = nw == 6 ? w[5] : NULL;
  int option = nw != 5 && nw != 6           ? 0
               : !strcmp(w[4], "reuseaddr") ? SO_REUSEADDR
               : !strcmp(w[4], "reuseport") ? SO_REUSEPORT
                                            : 0;
  if (!option || (!tcp && strcmp(w[1], "udp"))) {
    printf("error usage: listen tcp|udp ADDRESS PORT reuseaddr|reuseport [DEVICE]\n");
    return;
  }
  if (endpoint(w[2], w[3], &ss, &len)) return;
  int fd = socket(ss.ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
  int on = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, option, &on, sizeof on) ||
      (device &&
       setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device, (socklen_t)strlen(device) + 1)) ||
      bind(fd, (struct sockaddr*)&ss, len) || (tcp && listen(fd, 64))) {
    printf("error listen: %s\n", strerror(errno));
    if (fd >= 0) close(fd);
    return;
  }
  printf("listening fd=%d\n", fd);
}

static void command_connectfrom(char** w, int nw) {
  struct sockaddr_storage ss, local;
  socklen_t len, llen;
  long port, timeout_ms;
  if (nw != 5 || parse_int_arg(w[1], 1, 65535, &port) || endpoint(w[2], w[3], &ss, &len) ||
      timeout_arg(w[4], &timeout_ms)) {
    if (nw != 5) printf("error usage: connectfrom PORT HOST HPORT TIMEOUT_MS\n");
    return;
  }
  if (endpoint(ss.ss_family == AF_INET ? "0.0.0.0" : "::", w[1], &local, &llen)) return;
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int on = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) ||
      bind(fd, (struct sockaddr*)&local, llen)) {
    printf("error connectfrom: %s\n", strerror(errno));
    if (fd >= 0) close(fd);
    return;
  }
  double start = now_ms();
  enum outcome o = OUT_OK;
  if (connect(fd, (struct sockaddr*)&ss, len) < 0) {
    if (errno != EINPROGRESS) {
      o = outcome_from_errno(errno);
    } else {
      struct pollfd p = {fd, POLLOUT, 0};
      int err = 0;
      socklen_t elen = sizeof err;
      if (poll(&p, 1, (int)timeout_ms) <= 0) {
        o = OUT_TIMEOUT;
      } else {
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
        if (err) o = outcome_from_errno(err);
      }
    }
  }
  close(fd);
  printf("%s %.1f\n", outcome_name(o, "connected"), now_ms() - start);
}

static void command_steer(char** w, int nw) {
  long fd, index, syn_index = -1;
  if ((nw != 3 && nw != 4) || parse_int_arg(w[1], 0, 65535, &fd) ||
      parse_int_arg(w[2], 0, 255, &index) || (nw == 4 && parse_int_arg(w[3], 0, 255, &syn_index))) {
    printf("error usage: steer FD INDEX [SYN-INDEX]\n");
    return;
  }
  /* The program runs on the packet past its transport header; SKF_NET_OFF reads from the
   * network header: the TCP flags are at 20 + 13 (IPv4 without options) or 40 + 13 (IPv6
   * without extension headers). */
  struct sock_filter by_flags[] = {
      {BPF_LD | BPF_B | BPF_ABS, 0, 0, (unsigned)SKF_NET_OFF},
      {BPF_ALU | BPF_RSH | BPF_K, 0, 0, 4},
      {BPF_JMP | BPF_JEQ | BPF_K, 0, 2, 4},
      {BPF_LD | BPF_B | BPF_ABS, 0, 0, (unsigned)(SKF_NET_OFF + 33)},
      {BPF_JMP | BPF_JA | BPF_K, 0, 0, 1},
      {BPF_LD | BPF_B | BPF_ABS, 0, 0, (unsigned)(SKF_NET_OFF + 53)},
      {BPF_JMP | BPF_JSET | BPF_K, 0, 1, 0x02},
      {BPF_RET | BPF_K, 0, 0, (unsigned)syn_index},
      {BPF_RET | BPF_K, 0, 0, (unsigned)index},
  };
  struct sock_filter code[] = {{BPF_RET | BPF_K, 0, 0, (unsigned)index}};
  struct sock_fprog program = {1, code};
  if (syn_index >= 0) {
    program.len = sizeof by_flags / sizeof by_flags[0];
    program.filter = by_flags;
  }
  if (setsockopt((int)fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &program, sizeof program)) {
    printf("error steer: %s\n", strerror(errno));
    return;
  }
  printf("steered\n");
}

static void command_serve(char** w, int nw) {
  long fd, ms;
  int type;
  socklen_t tlen = sizeof type;
  if (nw != 3 || parse_int_arg(w[1], 0, 65535, &fd) || timeout_arg(w[2], &ms) ||
      getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &tlen)) {
    printf("error usage: serve FD MS (a socket of the listen command)\n");
    return;
  }
  long served = 0;
  const double deadline = now_ms() + (double)ms;
  for (;;) {
    int left = (int)(deadline - now_ms());
    struct pollfd p = {(int)fd, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, left) <= 0) break;
    if (type == SOCK_STREAM) {
      int c = accept4((int)fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (c >= 0) {
        served++;
        close(c);
      }
    } else {
      char buf[1500];
      struct sockaddr_storage peer;
      socklen_t plen = sizeof peer;
      ssize_t n = recvfrom((int)fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr*)&peer, &plen);
      if (n >= 0) {
        served++;
        sendto((int)fd, buf, (size_t)n, 0, (struct sockaddr*)&peer, plen);
      }
    }
  }
  printf("served %ld\n", served);
}

/* ---- the command loop ----------------------------------------------------------------- */

static void command_flow(char** w, int nw, int kind) {
  struct sockaddr_storage ss;
  socklen_t len;
  long timeout_ms;
  if (nw != 4 || endpoint(w[1], w[2], &ss, &len) || timeout_arg(w[3], &timeout_ms)) return;
  double start = now_ms();
  enum outcome o;
  int stalled = 0;
  if (kind == 0 || kind == 3) {
    o = tcp_connect(&ss, len, timeout_ms, kind == 3, &stalled);
  } else {
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      printf("error socket: %s\n", strerror(errno));
      return;
    }
    recv_errors_on(fd, ss.ss_family);
    o = OUT_OK;
    if (kind == 2 && connect(fd, (struct sockaddr*)&ss, len) < 0) o = outcome_from_errno(errno);
    if (o == OUT_OK) o = udp_exchange(fd, &ss, len, kind == 2, timeout_ms);
    close(fd);
  }
  const char* name = outcome_name(o, kind == 0 || kind == 3 ? "connected" : "reply");
  printf("%s %.1f\n", stalled ? "stalled" : name, now_ms() - start);
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc > 1 && !strcmp(argv[1], "--send-fd")) return send_fd_main(argc, argv);
  if (argc > 1 && (argc != 3 || strcmp(argv[1], "--as"))) usage();
  setvbuf(stdin, NULL, _IONBF, 0);
  char line[4096];
  while (fgets(line, sizeof line, stdin)) {
    char* w[MAX_WORDS + 1];
    int nw = 0;
    for (char* tok = strtok(line, " \t\n"); tok && nw < MAX_WORDS; tok = strtok(NULL, " \t\n"))
      w[nw++] = tok;
    w[nw] = NULL;
    if (nw == 0) continue;
    if (!strcmp(w[0], "tcp"))
      command_flow(w, nw, 0);
    else if (!strcmp(w[0], "tcpx"))
      command_flow(w, nw, 3);
    else if (!strcmp(w[0], "udp"))
      command_flow(w, nw, 1);
    else if (!strcmp(w[0], "udpc"))
      command_flow(w, nw, 2);
    else if (!strcmp(w[0], "marks"))
      command_marks(w, nw);
    else if (!strcmp(w[0], "keep"))
      command_keep(w, nw);
    else if (!strcmp(w[0], "fork-send"))
      command_fork_send(w, nw);
    else if (!strcmp(w[0], "fork-exec"))
      command_exec(w, nw, 1);
    else if (!strcmp(w[0], "exec"))
      command_exec(w, nw, 0);
    else if (!strcmp(w[0], "threads"))
      command_threads(w, nw);
    else if (!strcmp(w[0], "send"))
      command_send(w, nw);
    else if (!strcmp(w[0], "keepc"))
      command_keepc(w, nw);
    else if (!strcmp(w[0], "sendc"))
      command_sendc(w, nw);
    else if (!strcmp(w[0], "tfo"))
      command_tfo(w, nw);
    else if (!strcmp(w[0], "tcpw"))
      command_tcpw(w, nw);
    else if (!strcmp(w[0], "listen"))
      command_listen(w, nw);
    else if (!strcmp(w[0], "connectfrom"))
      command_connectfrom(w, nw);
    else if (!strcmp(w[0], "steer"))
      command_steer(w, nw);
    else if (!strcmp(w[0], "serve"))
      command_serve(w, nw);
    else if (!strcmp(w[0], "setuid"))
      command_setuid(w, nw);
    else if (!strcmp(w[0], "pid"))
      printf("pid %d\n", (int)getpid());
    else if (!strcmp(w[0], "quit"))
      return 0;
    else
      printf("error unknown command %s\n", w[0]);
  }
  return 0;
}
