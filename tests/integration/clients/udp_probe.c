/* udp_probe HOST PORT [--connect | --uring-connect] [--count N] [--timeout-ms N] [--size BYTES]
 *           [--source-port N] [--source-address ADDR] [--then-connect PORT2] [--no-wait]
 *           [--orphan]
 *           [--then-exec PROGRAM ARG...]
 *
 * Sends COUNT datagrams from one socket (one flow), each waiting up to TIMEOUT for its echo.
 * Prints one line "<outcome> <replies>/<count> <elapsed_ms>" and exits with the outcome's code:
 * reply (0, every datagram echoed), refused (1, ICMP port unreachable), timeout (2),
 * unreachable (3, other ICMP unreachable), prohibited (4, ICMP administratively prohibited),
 * blocked (5, local EPERM on send), error (6). The outcome is that of the first failure.
 *
 * IP_RECVERR / IPV6_RECVERR is on, so ICMP errors are seen with and without --connect (an
 * unconnected socket otherwise never learns of them), and their type and code are reported.
 *
 * --ipv6-ext hop|dst puts an IPv6 hop-by-hop or destination-options extension header (one PadN
 * option, 8 bytes) in front of UDP in every datagram: the packet parser must look past it.
 * --source-port binds that local port first (SO_REUSEADDR), --source-address that local address.
 * --uring-connect connects through io_uring (IORING_OP_CONNECT) instead of connect(2): the same
 * kernel path without the syscall.
 * --then-connect (with --connect or --uring-connect) connects the same socket again, to HOST
 * PORT2, once the first COUNT datagrams are echoed, and sends COUNT more there (a second flow
 * from the same local port).
 * --then-exec replaces this process with PROGRAM ARG... once done (same pid, another image);
 * everything after it is PROGRAM's. --no-wait sends without waiting for echoes (outcome
 * "sent"): with --then-exec, the exec follows the last datagram at once.
 * --orphan forks first and the parent exits at once (status 0, nothing printed); the child,
 * a fork of this program that never execs, waits until another process adopted it (at most
 * 2 s), 20 ms more, and goes on as above. */
#include <linux/io_uring.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe_common.h"

static void usage(void) {
  fprintf(stderr,
          "usage: udp_probe HOST PORT [--connect] [--count N] [--timeout-ms N] [--size BYTES] "
          "[--ipv6-ext hop|dst] [--source-port N] [--source-address ADDR] [--uring-connect] "
          "[--then-connect PORT2] "
          "[--no-wait] [--orphan] [--then-exec PROGRAM ARG...]\n");
  exit(EXIT_USAGE);
}

/* connect(2) through io_uring: one IORING_OP_CONNECT, waited for. Returns 0 or -errno. */
static int uring_connect(int fd, const struct sockaddr* sa, socklen_t len) {
  struct io_uring_params params;
  memset(&params, 0, sizeof params);
  int ring = (int)syscall(__NR_io_uring_setup, 4, &params);
  if (ring < 0) return -errno;
  size_t sq_size = params.sq_off.array + params.sq_entries * sizeof(unsigned);
  size_t cq_size = params.cq_off.cqes + params.cq_entries * sizeof(struct io_uring_cqe);
  size_t sqes_size = params.sq_entries * sizeof(struct io_uring_sqe);
  char* sq = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
                  IORING_OFF_SQ_RING);
  char* cq = mmap(NULL, cq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
                  IORING_OFF_CQ_RING);
  struct io_uring_sqe* sqes = mmap(NULL, sqes_size, PROT_READ | PROT_WRITE,
                                   MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
  if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) return -ENOMEM;
  unsigned* tail = (unsigned*)(sq + params.sq_off.tail);
  unsigned index = *tail & *(unsigned*)(sq + params.sq_off.ring_mask);
  struct io_uring_sqe* sqe = &sqes[index];
  memset(sqe, 0, sizeof *sqe);
  sqe->opcode = IORING_OP_CONNECT;
  sqe->fd = fd;
  sqe->addr = (unsigned long)sa;
  sqe->off = len;
  ((unsigned*)(sq + params.sq_off.array))[index] = index;
  __atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
  if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) {
    return -errno;
  }
  unsigned* head = (unsigned*)(cq + params.cq_off.head);
  struct io_uring_cqe* cqes = (struct io_uring_cqe*)(cq + params.cq_off.cqes);
  int result = cqes[*head & *(unsigned*)(cq + params.cq_off.ring_mask)].res;
  __atomic_store_n(head, *head + 1, __ATOMIC_RELEASE);
  munmap(sq, sq_size);
  munmap(cq, cq_size);
  munmap(sqes, sqes_size);
  close(ring);
  return result;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char* host = NULL;
  const char* port = NULL;
  long timeout_ms = 2000;
  long count = 1;
  long size = 32;
  int connected = 0;
  int uring = 0;
  int no_wait = 0;
  int orphan = 0;
  char** then_exec = NULL;
  const char* then_port = NULL;
  long source_port = 0;
  const char* source_address = NULL;
  int ext_option = 0; /* IPV6_HOPOPTS or IPV6_DSTOPTS */
  const char** const positional[] = {&host, &port};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc) {
      if (parse_int_arg(argv[++i], 1, 600000, &timeout_ms)) usage();
    } else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
      if (parse_int_arg(argv[++i], 1, 10000000, &count)) usage();
    } else if (!strcmp(argv[i], "--size") && i + 1 < argc) {
      if (parse_int_arg(argv[++i], 16, 1400, &size)) usage();
    } else if (!strcmp(argv[i], "--ipv6-ext") && i + 1 < argc) {
      i++;
      if (!strcmp(argv[i], "hop"))
        ext_option = IPV6_HOPOPTS;
      else if (!strcmp(argv[i], "dst"))
        ext_option = IPV6_DSTOPTS;
      else
        usage();
    } else if (!strcmp(argv[i], "--source-port") && i + 1 < argc) {
      if (parse_int_arg(argv[++i], 1, 65535, &source_port)) usage();
    } else if (!strcmp(argv[i], "--source-address") && i + 1 < argc) {
      source_address = argv[++i];
    } else if (!strcmp(argv[i], "--connect")) {
      connected = 1;
    } else if (!strcmp(argv[i], "--no-wait")) {
      no_wait = 1;
    } else if (!strcmp(argv[i], "--orphan")) {
      orphan = 1;
    } else if (!strcmp(argv[i], "--uring-connect")) {
      connected = uring = 1;
    } else if (!strcmp(argv[i], "--then-connect") && i + 1 < argc) {
      then_port = argv[++i];
    } else if (!strcmp(argv[i], "--then-exec") && i + 1 < argc) {
      then_exec = &argv[i + 1];
      break;
    } else if (take_positional(argv[i], positional, 2)) {
      usage();
    }
  }
  if (!host || !port || (then_port && !connected)) usage();
  struct sockaddr_storage ss;
  socklen_t len;
  if (parse_endpoint(host, port, &ss, &len)) usage();

  if (orphan) {
    const pid_t parent = getpid();
    const pid_t child = fork();
    if (child < 0) {
      perror("udp_probe: --orphan");
      return OUT_ERROR;
    }
    if (child > 0) _exit(0);
    for (int waited = 0; waited < 2000 && getppid() == parent; waited++) usleep(1000);
    usleep(20000);
  }

  int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    perror("udp_probe: socket");
    return OUT_ERROR;
  }
  int on = 1;
  if (ss.ss_family == AF_INET)
    setsockopt(fd, SOL_IP, IP_RECVERR, &on, sizeof on);
  else
    setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &on, sizeof on);

  if ((source_port || source_address) &&
      bind_source(fd, ss.ss_family, source_address, source_port) < 0) {
    perror("udp_probe: --source-address/--source-port");
    return OUT_ERROR;
  }

  if (ext_option) {
    /* next header (filled in by the kernel), length 0 (= 8 bytes), PadN of 4 zero bytes */
    unsigned char ext[8] = {0, 0, 1, 4, 0, 0, 0, 0};
    if (ss.ss_family != AF_INET6 || setsockopt(fd, IPPROTO_IPV6, ext_option, ext, sizeof ext)) {
      perror("udp_probe: --ipv6-ext");
      return OUT_ERROR;
    }
  }

  double start = now_ms();
  enum outcome result = OUT_OK;
  int icmp_type = -1, icmp_code = -1, err = 0;
  if (uring) {
    int r = uring_connect(fd, (struct sockaddr*)&ss, len);
    if (r < 0) {
      err = -r;
      result = outcome_from_errno(err);
    }
  } else if (connected && connect(fd, (struct sockaddr*)&ss, len) < 0) {
    err = errno;
    result = outcome_from_errno(err);
  }
  long replies = 0;
  char out[1500], in[1500];
  for (int phase = 0; phase < (then_port ? 2 : 1) && result == OUT_OK; phase++) {
    if (phase == 1) {
      if (parse_endpoint(host, then_port, &ss, &len)) usage();
      int r = uring ? uring_connect(fd, (struct sockaddr*)&ss, len)
                    : (connect(fd, (struct sockaddr*)&ss, len) < 0 ? -errno : 0);
      if (r < 0) {
        err = -r;
        result = outcome_from_errno(err);
        break;
      }
    }
    for (long seq = 0; result == OUT_OK && seq < count; seq++) {
      memset(out, 'u', (size_t)size);
      int hdr = snprintf(out, (size_t)size, "udp_probe %d %ld ", (int)getpid(), seq);
      (void)hdr;
      ssize_t sent = connected ? send(fd, out, (size_t)size, 0)
                               : sendto(fd, out, (size_t)size, 0, (struct sockaddr*)&ss, len);
      if (sent < 0) {
        err = errno;
        int q = read_error_queue(fd, &icmp_type, &icmp_code);
        result = q >= 0 ? (enum outcome)q : outcome_from_errno(err);
        break;
      }
      if (no_wait) continue;
      double deadline = now_ms() + (double)timeout_ms;
      for (;;) {
        int left = (int)(deadline - now_ms());
        if (left < 0) left = 0;
        struct pollfd p = {fd, POLLIN, 0};
        int n = poll(&p, 1, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          result = OUT_TIMEOUT;
          break;
        }
        if (p.revents & POLLERR) {
          int q = read_error_queue(fd, &icmp_type, &icmp_code);
          if (q >= 0) {
            result = (enum outcome)q;
            break;
          }
        }
        ssize_t got = recv(fd, in, sizeof in, MSG_DONTWAIT);
        if (got < 0) {
          if (errno == EAGAIN || errno == EINTR) continue;
          err = errno;
          int q = read_error_queue(fd, &icmp_type, &icmp_code);
          result = q >= 0 ? (enum outcome)q : outcome_from_errno(err);
          break;
        }
        /* Echo of an older datagram after a slow reply: keep waiting for this one. */
        if (got == size && !memcmp(in, out, (size_t)size)) {
          replies++;
          break;
        }
      }
    }
  }
  double elapsed = now_ms() - start;
  printf("%s %ld/%ld %.1f", outcome_name(result, no_wait ? "sent" : "reply"), replies,
         then_port ? 2 * count : count, elapsed);
  if (icmp_type >= 0) printf(" icmp=%d/%d", icmp_type, icmp_code);
  printf("\n");
  if (result == OUT_ERROR && err) fprintf(stderr, "udp_probe: %s\n", strerror(err));
  close(fd);
  if (then_exec) {
    execv(then_exec[0], then_exec);
    perror("udp_probe: --then-exec");
    return OUT_ERROR;
  }
  return result;
}
