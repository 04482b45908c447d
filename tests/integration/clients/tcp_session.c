/* tcp_session HOST PORT [--count N] [--interval-ms M] [--timeout-ms T] [--each]
 *
 * Holds one TCP connection to an echo server and exchanges a 32-byte message COUNT times
 * (0 = until SIGTERM/SIGINT), every INTERVAL ms, each echo awaited up to TIMEOUT ms. Used for
 * "1,000 packets in one flow" and for "an established connection keeps working".
 *
 * Output, one line each, flushed at once:
 *   connected <ms>                      the connection is up (else "<outcome> <ms>", exit code
 *                                       as tcp_probe's)
 *   ok <seq> <ms since start>           with --each, after every good exchange
 *   fail <seq> <outcome> <ms>           an exchange failed; the program exits 2 (timeout) or 6
 *   done <ok>/<attempted> <ms>          all exchanges worked (or stopped by a signal); exit 0 */
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include "probe_common.h"

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static void usage(void) {
  fprintf(stderr,
          "usage: tcp_session HOST PORT [--count N] [--interval-ms M] [--timeout-ms T] "
          "[--each]\n");
  exit(EXIT_USAGE);
}

/* Waits for EVENTS on fd until deadline; 1 ready, 0 timeout, -1 error or stop requested. */
static int wait_fd(int fd, short events, double deadline) {
  for (;;) {
    if (stop_requested) return -1;
    int left = (int)(deadline - now_ms());
    if (left <= 0) return 0;
    struct pollfd p = {fd, events, 0};
    int n = poll(&p, 1, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) return 0;
    return 1;
  }
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char* host = NULL;
  const char* port = NULL;
  long count = 1, interval_ms = 0, timeout_ms = 3000;
  int each = 0;
  const char** const positional[] = {&host, &port};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--count") && i + 1 < argc) {
      if (parse_int_arg(argv[++i], 0, 100000000, &count)) usage();
    } else if (!strcmp(argv[i], "--interval-ms") && i + 1 < argc) {
      if (parse_int_arg(argv[++i], 0, 600000, &interval_ms)) usage();
    } else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc) {
      if (parse_int_arg(argv[++i], 1, 600000, &timeout_ms)) usage();
    } else if (!strcmp(argv[i], "--each")) {
      each = 1;
    } else if (take_positional(argv[i], positional, 2)) {
      usage();
    }
  }
  if (!host || !port) usage();
  struct sockaddr_storage ss;
  socklen_t len;
  if (parse_endpoint(host, port, &ss, &len)) usage();

  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    perror("tcp_session: socket");
    return OUT_ERROR;
  }
  int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  double start = now_ms();
  int err = 0;
  if (connect(fd, (struct sockaddr*)&ss, len) < 0) {
    if (errno != EINPROGRESS) {
      err = errno;
    } else {
      int r = wait_fd(fd, POLLOUT, start + (double)timeout_ms);
      if (r == 0) {
        printf("timeout %.1f\n", now_ms() - start);
        return OUT_TIMEOUT;
      }
      socklen_t elen = sizeof err;
      if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) err = err ? err : EINTR;
    }
  }
  if (err) {
    enum outcome o = outcome_from_errno(err);
    printf("%s %.1f\n", outcome_name(o, "connected"), now_ms() - start);
    return o;
  }
  printf("connected %.1f\n", now_ms() - start);

  long ok = 0, seq = 0;
  char out[32], in[32];
  for (; (count == 0 || seq < count) && !stop_requested; seq++) {
    if (interval_ms > 0 && seq > 0) {
      struct timespec ts = {interval_ms / 1000, (interval_ms % 1000) * 1000000L};
      while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop_requested) {
      }
      if (stop_requested) break;
    }
    memset(out, '.', sizeof out);
    snprintf(out, sizeof out, "tcp_session %ld", seq);
    out[sizeof out - 1] = '\n';
    double deadline = now_ms() + (double)timeout_ms;
    size_t done = 0;
    enum outcome o = OUT_OK;
    while (o == OUT_OK && done < sizeof out) {
      ssize_t n = send(fd, out + done, sizeof out - done, MSG_NOSIGNAL);
      if (n > 0) {
        done += (size_t)n;
      } else if (n < 0 && errno == EAGAIN) {
        int r = wait_fd(fd, POLLOUT, deadline);
        if (r == 0) o = OUT_TIMEOUT;
        if (r < 0) goto stopped;
      } else if (n < 0 && errno != EINTR) {
        o = outcome_from_errno(errno);
        if (o == OUT_ERROR) err = errno;
      }
    }
    done = 0;
    while (o == OUT_OK && done < sizeof in) {
      ssize_t n = recv(fd, in + done, sizeof in - done, 0);
      if (n > 0) {
        done += (size_t)n;
      } else if (n == 0) {
        o = OUT_ERROR;
        err = ECONNRESET;
      } else if (errno == EAGAIN) {
        int r = wait_fd(fd, POLLIN, deadline);
        if (r == 0) o = OUT_TIMEOUT;
        if (r < 0) goto stopped;
      } else if (errno != EINTR) {
        o = outcome_from_errno(errno);
        if (o == OUT_ERROR) err = errno;
      }
    }
    if (o == OUT_OK && memcmp(in, out, sizeof out)) {
      o = OUT_ERROR;
      err = EBADMSG;
    }
    if (o != OUT_OK) {
      printf("fail %ld %s %.1f\n", seq, outcome_name(o, "ok"), now_ms() - start);
      if (err) fprintf(stderr, "tcp_session: %s\n", strerror(err));
      close(fd);
      return o == OUT_TIMEOUT ? OUT_TIMEOUT : OUT_ERROR;
    }
    ok++;
    if (each) printf("ok %ld %.1f\n", seq, now_ms() - start);
  }
stopped:
  printf("done %ld/%ld %.1f\n", ok, seq, now_ms() - start);
  close(fd);
  return 0;
}
