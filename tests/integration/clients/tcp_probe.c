/* tcp_probe HOST PORT [--timeout-ms N] [--source-port N] [--source-address ADDR] [--vanish]
 *
 * Opens one TCP connection and reports how it ended, as one line "<outcome> <elapsed_ms>":
 * connected (exit 0), refused (1, a reset), timeout (2), unreachable (3), prohibited (4, EACCES),
 * blocked (5, local EPERM), error (6). The connection is closed at once after it is made.
 * --source-port binds that local port first (SO_REUSEADDR), --source-address that local address.
 * --vanish closes the connection without a FIN or a reset (TCP_REPAIR, root only), so that
 * conntrack still holds it open. */
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include "probe_common.h"

static void usage(void) {
  fprintf(stderr,
          "usage: tcp_probe HOST PORT [--timeout-ms N] [--source-port N] [--source-address ADDR] "
          "[--vanish]\n");
  exit(EXIT_USAGE);
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char* host = NULL;
  const char* port = NULL;
  long timeout_ms = 3000;
  long source_port = 0;
  const char* source_address = NULL;
  int vanish = 0;
  const char** const positional[] = {&host, &port};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc) {
      if (parse_int_arg(argv[++i], 1, 600000, &timeout_ms)) usage();
    } else if (!strcmp(argv[i], "--source-port") && i + 1 < argc) {
      if (parse_int_arg(argv[++i], 1, 65535, &source_port)) usage();
    } else if (!strcmp(argv[i], "--source-address") && i + 1 < argc) {
      source_address = argv[++i];
    } else if (!strcmp(argv[i], "--vanish")) {
      vanish = 1;
    } else if (take_positional(argv[i], positional, 2)) {
      usage();
    }
  }
  if (!host || !port) usage();
  struct sockaddr_storage ss;
  socklen_t len;
  if (parse_endpoint(host, port, &ss, &len)) usage();

  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    perror("tcp_probe: socket");
    return OUT_ERROR;
  }
  if ((source_port || source_address) &&
      bind_source(fd, ss.ss_family, source_address, source_port) < 0) {
    perror("tcp_probe: bind");
    return OUT_ERROR;
  }
  double start = now_ms();
  enum outcome result = OUT_OK;
  int err = 0;
  if (connect(fd, (struct sockaddr*)&ss, len) < 0) {
    if (errno != EINPROGRESS) {
      err = errno;
      result = outcome_from_errno(err);
    } else {
      struct pollfd p = {fd, POLLOUT, 0};
      int left = (int)timeout_ms;
      int n;
      for (;;) {
        n = poll(&p, 1, left);
        if (n < 0 && errno == EINTR) {
          left = (int)(timeout_ms - (now_ms() - start));
          if (left < 0) left = 0;
          continue;
        }
        break;
      }
      if (n == 0) {
        result = OUT_TIMEOUT;
      } else if (n < 0) {
        err = errno;
        result = OUT_ERROR;
      } else {
        socklen_t elen = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
        result = err ? outcome_from_errno(err) : OUT_OK;
      }
    }
  }
  double elapsed = now_ms() - start;
  printf("%s %.1f\n", outcome_name(result, "connected"), elapsed);
  if (result == OUT_ERROR && err) fprintf(stderr, "tcp_probe: %s\n", strerror(err));
  if (vanish && result == OUT_OK) {
    int on = 1;  // in repair mode a close sends nothing
    if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof on) < 0) perror("tcp_probe: repair");
  }
  close(fd);
  return result;
}
