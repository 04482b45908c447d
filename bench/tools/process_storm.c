// process_storm SECONDS RATE HOST PORT [CONNECT_EVERY]
// A storm of short-lived processes: RATE new processes a second for SECONDS, each one fork()ed
// and then execve()d again as this program (so every one is a new image start with its own
// exec event and argv, as a build or a shell loop makes them). Every CONNECT_EVERY-th child
// (default 3) opens one TCP connection to HOST:PORT and closes it; the others exit at once.
// Children are reaped as they end. Prints "storming" when it begins, then one JSON line:
// spawned, connected, failed (connections that did not succeed), seconds.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// Child mode: "process_storm --child HOST PORT SEQ": one connection (PORT 0: none). Exits 0
// when it connected or had nothing to do, 1 when the connection failed.
static int child(const char* host, int port) {
  if (port == 0) return 0;
  struct sockaddr_storage ss = {0};
  socklen_t len;
  struct sockaddr_in* v4 = (struct sockaddr_in*)&ss;
  struct sockaddr_in6* v6 = (struct sockaddr_in6*)&ss;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    len = sizeof *v6;
  } else {
    return 2;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM, 0);
  if (fd < 0) return 1;
  // A dropped SYN would make the child wait for TCP's retries: give up after 2 s instead.
  struct timeval timeout = {2, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  int rc = connect(fd, (struct sockaddr*)&ss, len) == 0 ? 0 : 1;
  close(fd);
  return rc;
}

static void reap(long* connected, long* failed, int block) {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, block ? 0 : WNOHANG);
    if (pid <= 0) return;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      ++*connected;
    } else {
      ++*failed;
    }
  }
}

int main(int argc, char** argv) {
  if (argc == 5 && strcmp(argv[1], "--child") == 0) return child(argv[2], atoi(argv[3]));
  if (argc < 5) {
    fprintf(stderr, "usage: process_storm SECONDS RATE HOST PORT [CONNECT_EVERY]\n");
    return 2;
  }
  const double seconds = atof(argv[1]);
  const double rate = atof(argv[2]);
  const char* host = argv[3];
  const char* port = argv[4];
  const long every = argc > 5 ? atol(argv[5]) : 3;
  if (seconds <= 0 || rate <= 0 || every <= 0) return 2;

  printf("storming\n");
  fflush(stdout);
  const uint64_t start = now_ns();
  const uint64_t interval = (uint64_t)(1e9 / rate);
  const uint64_t end = start + (uint64_t)(seconds * 1e9);
  uint64_t due = start;
  long spawned = 0, outcomes_ok = 0, outcomes_failed = 0, connecting = 0;
  char seq[32];
  while (now_ns() < end) {
    const int connects = spawned % every == 0;
    connecting += connects;
    snprintf(seq, sizeof seq, "%ld", spawned);
    pid_t pid = fork();
    if (pid == 0) {
      char* args[] = {argv[0], "--child", (char*)host, connects ? (char*)port : "0", seq, NULL};
      // The first argument is the path this program was started by; /proc/self/exe would do
      // as well, but a name shows in the table what a user would see.
      execv("/proc/self/exe", args);
      _exit(127);
    }
    if (pid > 0) ++spawned;
    reap(&outcomes_ok, &outcomes_failed, 0);
    due += interval;
    const uint64_t now = now_ns();
    if (due > now) {
      struct timespec pause = {(time_t)((due - now) / 1000000000ull),
                               (long)((due - now) % 1000000000ull)};
      nanosleep(&pause, NULL);
    }
  }
  reap(&outcomes_ok, &outcomes_failed, 1);
  const double took = (double)(now_ns() - start) / 1e9;
  // A child that had no connection to open exits 0 too: `failed` counts connections.
  printf(
      "{\"spawned\": %ld, \"connecting\": %ld, \"ok\": %ld, \"failed\": %ld, \"seconds\": %.2f}\n",
      spawned, connecting, outcomes_ok, outcomes_failed, took);
  return 0;
}
