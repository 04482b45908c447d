/* heavy_exec hold COUNT MS NARGS NVARS
 * heavy_exec forks COUNT MS
 * heavy_exec sleep MS [ARG...]
 *
 * forks: starts COUNT processes that sleep MS without an exec (copies of this one), and waits
 * for them. Prints "started COUNT" once all were forked.
 *
 * hold: starts COUNT processes, each this program exec'd as `heavy_exec sleep MS` followed by
 * NARGS one-byte arguments, with NVARS tiny distinct variables of its own (one more makes each
 * environment unlike the others'), and waits for them. Each costs its user about a byte or
 * eight of stack an argument or variable, and asks wardend to describe a process of that
 * argv and environment. Prints "started COUNT" once all were forked. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char** arguments(const char* ms, int nargs) {
  char** v = calloc((size_t)nargs + 4, sizeof *v);
  if (!v) exit(2);
  v[0] = "heavy_exec";
  v[1] = "sleep";
  v[2] = (char*)ms;
  for (int i = 0; i < nargs; i++) v[3 + i] = "a";
  return v;
}

static char** variables(int nvars, int tag) {
  char** e = calloc((size_t)nvars + 2, sizeof *e);
  char* text = malloc((size_t)nvars * 12 + 32);
  if (!e || !text) exit(2);
  char* p = text;
  for (int i = 0; i < nvars; i++) {
    e[i] = p;
    p += sprintf(p, "%x=", i) + 1;
  }
  e[nvars] = p;
  sprintf(p, "T=%d", tag);
  return e;
}

int main(int argc, char** argv) {
  if (argc >= 3 && strcmp(argv[1], "sleep") == 0) {
    const long ms = atol(argv[2]);
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0) {
    }
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "forks") == 0) {
    const int count = atoi(argv[2]);
    const long ms = atol(argv[3]);
    for (int i = 0; i < count; i++) {
      const pid_t pid = fork();
      if (pid == 0) {
        struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&t, &t) != 0) {
        }
        _exit(0);
      }
      if (pid < 0) return 1;
    }
    printf("started %d\n", count);
    fflush(stdout);
    while (wait(NULL) > 0) {
    }
    return 0;
  }
  if (argc != 6 || strcmp(argv[1], "hold") != 0) {
    fprintf(stderr,
            "usage: heavy_exec hold COUNT MS NARGS NVARS | forks COUNT MS | sleep MS [ARG...]\n");
    return 2;
  }
  const int count = atoi(argv[2]), nargs = atoi(argv[4]), nvars = atoi(argv[5]);
  /* The kernel lets argv and the environment take a quarter of the stack limit. */
  struct rlimit stack;
  getrlimit(RLIMIT_STACK, &stack);
  const rlim_t want = (rlim_t)64 << 20;
  stack.rlim_cur = stack.rlim_max == RLIM_INFINITY || stack.rlim_max > want ? want : stack.rlim_max;
  setrlimit(RLIMIT_STACK, &stack);
  char** args = arguments(argv[3], nargs);
  for (int i = 0; i < count; i++) {
    const pid_t pid = fork();
    if (pid == 0) {
      execve("/proc/self/exe", args, variables(nvars, i));
      _exit(127);
    }
    if (pid < 0) return 1;
  }
  printf("started %d\n", count);
  fflush(stdout);
  while (wait(NULL) > 0) {
  }
  return 0;
}
