// accept_server PORT [THREADS]: accepts TCP connections on [::]:PORT (v4 and v6) and closes
// them at once. The far end of the connection-rate benchmark.
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int listener;

static void* serve(void* arg) {
  (void)arg;
  for (;;) {
    int fd = accept(listener, NULL, NULL);
    if (fd >= 0) close(fd);
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: accept_server PORT [THREADS]\n");
    return 2;
  }
  int threads = argc > 2 ? atoi(argv[2]) : 2;
  listener = socket(AF_INET6, SOCK_STREAM, 0);
  int off = 0, on = 1;
  setsockopt(listener, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  struct sockaddr_in6 addr = {.sin6_family = AF_INET6, .sin6_port = htons(atoi(argv[1]))};
  if (bind(listener, (struct sockaddr*)&addr, sizeof addr) < 0 || listen(listener, 4096) < 0) {
    perror("accept_server");
    return 1;
  }
  printf("listening\n");
  fflush(stdout);
  pthread_t t;
  for (int i = 1; i < threads; ++i) pthread_create(&t, NULL, serve, NULL);
  serve(NULL);
  return 0;
}
