/* sanitizer_probe leak|overflow|race|clean
 *
 * Does one thing a sanitizer reports, so that the integration harness can show it notices a
 * report: in a sanitizer build (scripts/test with WARDEN_SANITIZE) this program is built with the
 * same flags as wardend and run with the same *SAN_OPTIONS. leak: loses a heap block
 * (LeakSanitizer, at exit); overflow: signed integer overflow (UBSan); race: two threads write one
 * variable without a lock (ThreadSanitizer); clean: nothing, exits 0. Without the sanitizer in
 * question each mode just exits 0. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int shared;

/* In functions of their own, so that no register or stack slot of main still holds the block. */
static __attribute__((noinline)) void lose(void) {
  char* volatile block = malloc(4096);
  block[0] = 1;
}

static __attribute__((noinline)) void scrub_stack(void) {
  volatile char pad[16384];
  memset((char*)pad, 0, sizeof pad);
}

static void* bump(void* arg) {
  (void)arg;
  for (int i = 0; i < 1000; ++i) shared = shared + 1;
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: sanitizer_probe leak|overflow|race|clean\n");
    return 2;
  }
  const char* mode = argv[1];
  if (strcmp(mode, "leak") == 0) {
    lose();
    scrub_stack();
  } else if (strcmp(mode, "overflow") == 0) {
    volatile int big = INT_MAX;
    int sum = big + atoi("1");
    printf("%d\n", sum);
  } else if (strcmp(mode, "race") == 0) {
    pthread_t a, b;
    if (pthread_create(&a, NULL, bump, NULL) != 0 || pthread_create(&b, NULL, bump, NULL) != 0) {
      return 3;
    }
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("%d\n", shared);
  } else if (strcmp(mode, "clean") != 0) {
    fprintf(stderr, "sanitizer_probe: unknown mode %s\n", mode);
    return 2;
  }
  return 0;
}
