/* syscall_probe: a long-lived client (commands on stdin, one line of answer each) for
 * test_kernel_verdicts_syscalls.py, the attacks on kernel-held verdicts through the less common
 * ways of sending: sendmmsg to two destinations, a UDP disconnect (AF_UNSPEC) then sendto, an
 * IPv4-mapped destination on a dual-stack socket, io_uring sends and connects (inline, from an
 * io-wq worker, with a personality), TCP Fast Open, setuid and exec. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <linux/io_uring.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe_common.h"

static double ms_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void errq_on(int fd, int family) {
  int on = 1;
  if (family == AF_INET)
    setsockopt(fd, SOL_IP, IP_RECVERR, &on, sizeof on);
  else
    setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &on, sizeof on);
}

/* Waits for one datagram on fd (an echo) or an error; returns the outcome. */
static enum outcome wait_echo(int fd, long timeout_ms, char* from_port) {
  double end = ms_now() + timeout_ms;
  for (;;) {
    int left = (int)(end - ms_now());
    if (left <= 0) return OUT_TIMEOUT;
    struct pollfd p = {fd, POLLIN, 0};
    int n = poll(&p, 1, left);
    if (n <= 0) return OUT_TIMEOUT;
    char buf[2048];
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    ssize_t r = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr*)&ss, &sl);
    if (r >= 0) {
      if (from_port) {
        int port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in*)&ss)->sin_port)
                                           : ntohs(((struct sockaddr_in6*)&ss)->sin6_port);
        sprintf(from_port, "%d", port);
      }
      return OUT_OK;
    }
    int type, code;
    int q = read_error_queue(fd, &type, &code);
    if (q >= 0) return (enum outcome)q;
    if (errno != EAGAIN) return outcome_from_errno(errno);
  }
}

/* ---- io_uring, raw ------------------------------------------------------------------------ */
struct ring {
  int fd;
  unsigned *sq_tail, *sq_mask, *sq_array, *sq_flags, *cq_head, *cq_tail, *cq_mask;
  struct io_uring_sqe* sqes;
  struct io_uring_cqe* cqes;
  int sqpoll;
};

static int ring_init(struct ring* r, int sqpoll) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  memset(r, 0, sizeof *r);
  if (sqpoll) {
    p.flags = IORING_SETUP_SQPOLL;
    p.sq_thread_idle = 5000;
  }
  r->sqpoll = sqpoll;
  r->fd = (int)syscall(__NR_io_uring_setup, 8, &p);
  if (r->fd < 0) return -1;
  size_t sqsz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cqsz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  if (cqsz > sqsz) sqsz = cqsz;
  char* sq =
      mmap(0, sqsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
  if (sq == MAP_FAILED) return -1;
  char* cq = sq;
  r->sqes = mmap(0, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
  if (r->sqes == MAP_FAILED) return -1;
  r->sq_tail = (unsigned*)(sq + p.sq_off.tail);
  r->sq_mask = (unsigned*)(sq + p.sq_off.ring_mask);
  r->sq_array = (unsigned*)(sq + p.sq_off.array);
  r->sq_flags = (unsigned*)(sq + p.sq_off.flags);
  r->cq_head = (unsigned*)(cq + p.cq_off.head);
  r->cq_tail = (unsigned*)(cq + p.cq_off.tail);
  r->cq_mask = (unsigned*)(cq + p.cq_off.ring_mask);
  r->cqes = (struct io_uring_cqe*)(cq + p.cq_off.cqes);
  return 0;
}

/* Submits sqe; waits up to timeout_ms for its completion: its res, or -ETIME. */
static int ring_run(struct ring* r, const struct io_uring_sqe* sqe, long timeout_ms) {
  unsigned tail = *r->sq_tail, idx = tail & *r->sq_mask;
  r->sqes[idx] = *sqe;
  r->sq_array[idx] = idx;
  __atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
  unsigned flags = 0;
  int submit = 1;
  if (r->sqpoll) {
    submit = 0;
    if (__atomic_load_n(r->sq_flags, __ATOMIC_ACQUIRE) & IORING_SQ_NEED_WAKEUP)
      flags |= IORING_ENTER_SQ_WAKEUP;
  }
  if (submit || flags) {
    if (syscall(__NR_io_uring_enter, r->fd, submit, 0, flags, NULL, 0) < 0) return -errno;
  }
  double end = ms_now() + timeout_ms;
  for (;;) {
    unsigned head = *r->cq_head;
    if (head != __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) {
      int res = r->cqes[head & *r->cq_mask].res;
      __atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
      return res;
    }
    int left = (int)(end - ms_now());
    if (left <= 0) return -ETIME;
    struct pollfd p = {r->fd, POLLIN, 0};
    poll(&p, 1, left < 50 ? left : 50);
  }
}

static struct ring kept_ring;
static int have_ring;

static int get_ring(int sqpoll) {
  if (have_ring) return 0;
  if (ring_init(&kept_ring, sqpoll)) return -1;
  have_ring = 1;
  return 0;
}

/* ---- commands ----------------------------------------------------------------------------- */

static int ep(const char* host, const char* port, struct sockaddr_storage* ss, socklen_t* len) {
  if (parse_endpoint(host, port, ss, len)) {
    printf("error endpoint %s %s\n", host, port);
    return -1;
  }
  return 0;
}

static int udp_socket(int family) {
  int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) errq_on(fd, family);
  return fd;
}

static void cmd_udp(char** w) {
  struct sockaddr_storage ss;
  socklen_t len;
  if (ep(w[1], w[2], &ss, &len)) return;
  int fd = udp_socket(ss.ss_family);
  char msg[] = "syscall_probe udp";
  enum outcome o;
  if (sendto(fd, msg, sizeof msg, 0, (struct sockaddr*)&ss, len) < 0)
    o = outcome_from_errno(errno);
  else
    o = wait_echo(fd, atol(w[3]), NULL);
  close(fd);
  printf("%s\n", outcome_name(o, "reply"));
}

/* mmsg HOST P1 P2 TMO: one socket, one sendmmsg() of a datagram to P1 and one to P2. */
static void cmd_mmsg(char** w) {
  struct sockaddr_storage a, b;
  socklen_t la, lb;
  if (ep(w[1], w[2], &a, &la) || ep(w[1], w[3], &b, &lb)) return;
  int fd = udp_socket(a.ss_family);
  char m1[] = "syscall_probe mmsg 1", m2[] = "syscall_probe mmsg 2";
  struct iovec v1 = {m1, sizeof m1}, v2 = {m2, sizeof m2};
  struct mmsghdr mm[2];
  memset(mm, 0, sizeof mm);
  mm[0].msg_hdr.msg_name = &a;
  mm[0].msg_hdr.msg_namelen = la;
  mm[0].msg_hdr.msg_iov = &v1;
  mm[0].msg_hdr.msg_iovlen = 1;
  mm[1].msg_hdr.msg_name = &b;
  mm[1].msg_hdr.msg_namelen = lb;
  mm[1].msg_hdr.msg_iov = &v2;
  mm[1].msg_hdr.msg_iovlen = 1;
  int sent = sendmmsg(fd, mm, 2, 0);
  int err = errno;
  int got1 = 0, got2 = 0;
  double end = ms_now() + atol(w[4]);
  while (ms_now() < end && !(got1 && got2)) {
    char port[16] = "";
    if (wait_echo(fd, (long)(end - ms_now()) + 1, port) != OUT_OK) continue;
    if (!strcmp(port, w[2])) got1 = 1;
    if (!strcmp(port, w[3])) got2 = 1;
  }
  close(fd);
  printf("sent=%d errno=%d p1=%s p2=%s\n", sent, sent < 0 ? err : 0, got1 ? "reply" : "timeout",
         got2 ? "reply" : "timeout");
}

/* unspec HOST PA PB TMO: connect to PA, echo; connect(AF_UNSPEC); sendto PB, echo. */
static void cmd_unspec(char** w) {
  struct sockaddr_storage a, b;
  socklen_t la, lb;
  if (ep(w[1], w[2], &a, &la) || ep(w[1], w[3], &b, &lb)) return;
  long tmo = atol(w[4]);
  int fd = udp_socket(a.ss_family);
  char msg[] = "syscall_probe unspec";
  enum outcome oa, ob;
  if (connect(fd, (struct sockaddr*)&a, la) < 0 || send(fd, msg, sizeof msg, 0) < 0)
    oa = outcome_from_errno(errno);
  else
    oa = wait_echo(fd, tmo, NULL);
  struct sockaddr un;
  memset(&un, 0, sizeof un);
  un.sa_family = AF_UNSPEC;
  if (connect(fd, &un, sizeof un) < 0) {
    printf("error unspec %s\n", strerror(errno));
    close(fd);
    return;
  }
  if (sendto(fd, msg, sizeof msg, 0, (struct sockaddr*)&b, lb) < 0)
    ob = outcome_from_errno(errno);
  else
    ob = wait_echo(fd, tmo, NULL);
  close(fd);
  printf("a=%s b=%s\n", outcome_name(oa, "reply"), outcome_name(ob, "reply"));
}

/* mapped HOST4 PORT TMO: an AF_INET6 socket sends to ::ffff:HOST4. */
static void cmd_mapped(char** w) {
  char host[64];
  snprintf(host, sizeof host, "::ffff:%s", w[1]);
  w[1] = host;
  cmd_udp(w);
}

/* uring udp|tcp HOST PORT TMO inline|async|sqpoll PERSONALITY */
static void cmd_uring(char** w) {
  struct sockaddr_storage ss;
  socklen_t len;
  if (ep(w[2], w[3], &ss, &len)) return;
  long tmo = atol(w[4]);
  int async = !strcmp(w[5], "async"), sqpoll = !strcmp(w[5], "sqpoll");
  int pers = atoi(w[6]);
  if (get_ring(sqpoll)) {
    printf("error ring %s\n", strerror(errno));
    return;
  }
  int tcp = !strcmp(w[1], "tcp");
  int fd = tcp ? socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0) : udp_socket(ss.ss_family);
  struct io_uring_sqe sqe;
  memset(&sqe, 0, sizeof sqe);
  char msg[] = "syscall_probe uring";
  struct iovec v = {msg, sizeof msg};
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_name = &ss;
  mh.msg_namelen = len;
  mh.msg_iov = &v;
  mh.msg_iovlen = 1;
  sqe.fd = fd;
  if (tcp) {
    sqe.opcode = IORING_OP_CONNECT;
    sqe.addr = (unsigned long)&ss;
    sqe.off = len;
  } else {
    sqe.opcode = IORING_OP_SENDMSG;
    sqe.addr = (unsigned long)&mh;
    sqe.len = 1;
  }
  if (async) sqe.flags |= IOSQE_ASYNC;
  sqe.personality = (unsigned short)pers;
  int res = ring_run(&kept_ring, &sqe, tmo);
  enum outcome o;
  if (res == -ETIME)
    o = OUT_TIMEOUT;
  else if (res < 0)
    o = outcome_from_errno(-res);
  else
    o = tcp ? OUT_OK : wait_echo(fd, tmo, NULL);
  close(fd);
  printf("%s res=%d\n", outcome_name(o, tcp ? "connected" : "reply"), res);
}

static void cmd_ringpers(void) {
  if (get_ring(0)) {
    printf("error ring %s\n", strerror(errno));
    return;
  }
  int id = (int)syscall(__NR_io_uring_register, kept_ring.fd, IORING_REGISTER_PERSONALITY, NULL, 0);
  if (id < 0)
    printf("error personality %s\n", strerror(errno));
  else
    printf("pers %d\n", id);
}

/* tfosend HOST PORT TMO: a new TCP socket, sendto(MSG_FASTOPEN) naming HOST PORT (the SYN
 * carries the data, no cookie needed), and the echo. */
static void cmd_tfosend(char** w) {
  struct sockaddr_storage ss;
  socklen_t len;
  if (ep(w[1], w[2], &ss, &len)) return;
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
  setsockopt(fd, IPPROTO_TCP, 34 /* TCP_FASTOPEN_NO_COOKIE */, &on, sizeof on);
  char msg[] = "syscall_probe tfo";
  enum outcome o = OUT_OK;
  if (sendto(fd, msg, sizeof msg, MSG_FASTOPEN | MSG_DONTWAIT, (struct sockaddr*)&ss, len) < 0 &&
      errno != EINPROGRESS && errno != EAGAIN)
    o = outcome_from_errno(errno);
  if (o == OUT_OK) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, (int)atol(w[3])) <= 0)
      o = OUT_TIMEOUT;
    else {
      char buf[64];
      ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) o = n == 0 ? OUT_ERROR : outcome_from_errno(errno);
    }
  }
  close(fd);
  printf("%s\n", outcome_name(o, "connected"));
}

static void cmd_setuid(char** w) {
  long uid = atol(w[1]);
  if (setgroups(0, NULL) || setresgid(uid, uid, uid) || setresuid(uid, uid, uid)) {
    printf("error setuid %s\n", strerror(errno));
    return;
  }
  printf("uid %d\n", (int)getuid());
}

int main(int argc, char** argv) {
  (void)argc;
  (void)argv;
  setvbuf(stdout, NULL, _IOLBF, 0);
  setvbuf(stdin, NULL, _IONBF, 0);
  printf("ready %d %d\n", (int)getpid(), (int)getuid());
  char line[4096];
  while (fgets(line, sizeof line, stdin)) {
    char* w[32];
    int nw = 0;
    for (char* t = strtok(line, " \t\n"); t && nw < 31; t = strtok(NULL, " \t\n")) w[nw++] = t;
    w[nw] = NULL;
    if (!nw) continue;
    if (!strcmp(w[0], "udp") && nw == 4)
      cmd_udp(w);
    else if (!strcmp(w[0], "mmsg") && nw == 5)
      cmd_mmsg(w);
    else if (!strcmp(w[0], "unspec") && nw == 5)
      cmd_unspec(w);
    else if (!strcmp(w[0], "mapped") && nw == 4)
      cmd_mapped(w);
    else if (!strcmp(w[0], "uring") && nw == 7)
      cmd_uring(w);
    else if (!strcmp(w[0], "ringpers"))
      cmd_ringpers();
    else if (!strcmp(w[0], "tfosend") && nw == 4)
      cmd_tfosend(w);
    else if (!strcmp(w[0], "setuid") && nw == 2)
      cmd_setuid(w);
    else if (!strcmp(w[0], "exec") && nw >= 2) {
      fflush(stdout);
      execv(w[1], &w[1]);
      printf("error exec %s\n", strerror(errno));
    } else if (!strcmp(w[0], "quit"))
      return 0;
    else
      printf("error unknown %s\n", w[0]);
  }
  return 0;
}
