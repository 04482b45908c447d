// connect_rate HOST PORT SECONDS PROCESSES [MAX_CONNECTIONS [SPREAD [FIRST]]]
// Opens and closes TCP connections as fast as PROCESSES client processes can for SECONDS (or
// until MAX_CONNECTIONS in all; 0: no limit), timing each connect(). Prints one JSON line:
// connections, failures, rate per second, and connect() latency percentiles in microseconds.
// SPREAD > 1: each process's connections go to SPREAD addresses in turn, HOST's last 32 bits
// plus FIRST, FIRST + 1, ... (so that no process connects to one destination twice, as long
// as SPREAD is larger than its connections: every connection a first flow).
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLES_PER_PROCESS 2000000

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u32(const void* a, const void* b) {
  uint32_t x = *(const uint32_t*)a, y = *(const uint32_t*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: connect_rate HOST PORT SECONDS PROCESSES [MAX_CONNECTIONS]\n");
    return 2;
  }
  struct sockaddr_storage ss = {0};
  socklen_t len;
  int family;
  struct sockaddr_in* v4 = (struct sockaddr_in*)&ss;
  struct sockaddr_in6* v6 = (struct sockaddr_in6*)&ss;
  if (inet_pton(AF_INET, argv[1], &v4->sin_addr) == 1) {
    family = v4->sin_family = AF_INET;
    v4->sin_port = htons(atoi(argv[2]));
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, argv[1], &v6->sin6_addr) == 1) {
    family = v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(atoi(argv[2]));
    len = sizeof *v6;
  } else {
    fprintf(stderr, "connect_rate: bad address %s\n", argv[1]);
    return 2;
  }
  const double seconds = atof(argv[3]);
  const int processes = atoi(argv[4]);
  const long max_total = argc > 5 ? atol(argv[5]) : -1;
  const uint32_t spread = argc > 6 ? (uint32_t)strtoul(argv[6], NULL, 10) : 1;
  const uint32_t first = argc > 7 ? (uint32_t)strtoul(argv[7], NULL, 10) : 0;
  // The address's last 32 bits, in host order, that SPREAD counts from.
  uint32_t* low = family == AF_INET ? &v4->sin_addr.s_addr : &v6->sin6_addr.s6_addr32[3];
  const uint32_t base = ntohl(*low);
  const long max_each = max_total > 0 ? (max_total + processes - 1) / processes : -1;

  // Shared with the children: per process, a count, a failure count and latency samples.
  size_t per = sizeof(uint64_t) * 2 + sizeof(uint32_t) * MAX_SAMPLES_PER_PROCESS;
  uint8_t* shared =
      mmap(NULL, per * processes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) return 1;

  const uint64_t start = now_ns();
  const uint64_t deadline = start + (uint64_t)(seconds * 1e9);
  for (int p = 0; p < processes; ++p) {
    if (fork() == 0) {
      uint64_t* count = (uint64_t*)(shared + per * p);
      uint64_t* failures = count + 1;
      uint32_t* samples = (uint32_t*)(count + 2);
      for (uint32_t i = 0;
           now_ns() < deadline && (max_each < 0 || (long)(*count + *failures) < max_each); ++i) {
        if (spread > 1) *low = htonl(base + first + i % spread);
        int fd = socket(family, SOCK_STREAM, 0);
        struct linger lg = {1, 0};  // RST on close: no TIME_WAIT pile-up on either side
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        uint64_t t0 = now_ns();
        int rc = connect(fd, (struct sockaddr*)&ss, len);
        uint64_t t1 = now_ns();
        if (rc == 0) {
          if (*count < MAX_SAMPLES_PER_PROCESS) samples[*count] = (uint32_t)((t1 - t0) / 1000 + 0);
          ++*count;
        } else {
          ++*failures;
        }
        close(fd);
      }
      _exit(0);
    }
  }
  while (wait(NULL) > 0) {
  }
  const double elapsed = (now_ns() - start) / 1e9;

  uint64_t total = 0, failed = 0, nsamples = 0;
  for (int p = 0; p < processes; ++p) {
    uint64_t* count = (uint64_t*)(shared + per * p);
    total += count[0];
    failed += count[1];
    nsamples += count[0] < MAX_SAMPLES_PER_PROCESS ? count[0] : MAX_SAMPLES_PER_PROCESS;
  }
  uint32_t* all = malloc(sizeof(uint32_t) * (nsamples ? nsamples : 1));
  uint64_t k = 0;
  for (int p = 0; p < processes; ++p) {
    uint64_t* count = (uint64_t*)(shared + per * p);
    uint64_t n = count[0] < MAX_SAMPLES_PER_PROCESS ? count[0] : MAX_SAMPLES_PER_PROCESS;
    memcpy(all + k, count + 2, n * sizeof(uint32_t));
    k += n;
  }
  qsort(all, nsamples, sizeof(uint32_t), cmp_u32);
  uint32_t p50 = nsamples ? all[nsamples / 2] : 0;
  uint32_t p99 = nsamples ? all[(nsamples * 99) / 100] : 0;
  printf(
      "{\"connections\": %llu, \"failures\": %llu, \"seconds\": %.3f, \"rate\": %.1f, "
      "\"p50_us\": %u, \"p99_us\": %u}\n",
      (unsigned long long)total, (unsigned long long)failed, elapsed, total / elapsed, p50, p99);
  return 0;
}
