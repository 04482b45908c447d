/*
 * attr_client: the socket calls the attribution tests check, one per run.
 *
 *   attr_client MODE ADDRESS PORT [--bind-port P] [--hold] [--count N] [--ports N]
 *               [--delay-ms N] [--resend]
 *
 * MODE: tcp (connect), udp-sendto, udp-connect (connect + send), listen (bind + listen, or
 * bind for UDP with ADDRESS "udp"; the wildcard address of ADDRESS's family), listen-at (bind
 * ADDRESS itself + listen), tcp-hold (connect and keep the connection), udp-connect-cmsg
 * (connect, then sendmsg with no address and a control message: IP_TOS or IPV6_TCLASS).
 * Prints one line "pid=N local_port=P netns_cookie=C result=R" after the socket call (R: ok,
 * or the errno name of a failed connect/send: ECONNREFUSED, ETIMEDOUT...), then exits at
 * once unless --hold, which waits until stdin closes (the test's signal to go). --count sends
 * N datagrams; --ports spreads sendto over N consecutive destination ports; --delay-ms waits
 * before the socket call (time for a test to delete or replace the binary meanwhile);
 * --resend (udp-sendto with --hold) sends the datagram once more when released.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

static int fill(const char* address, int port, struct sockaddr_storage* ss, socklen_t* len) {
  struct sockaddr_in* in4 = (struct sockaddr_in*)ss;
  struct sockaddr_in6* in6 = (struct sockaddr_in6*)ss;

  memset(ss, 0, sizeof(*ss));
  if (inet_pton(AF_INET, address, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(port);
    *len = sizeof(*in4);
    return AF_INET;
  }
  if (inet_pton(AF_INET6, address, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    *len = sizeof(*in6);
    return AF_INET6;
  }
  fprintf(stderr, "attr_client: bad address %s\n", address);
  exit(2);
}

static int local_port(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);

  if (getsockname(fd, (struct sockaddr*)&ss, &len) != 0) return -1;
  if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in*)&ss)->sin_port);
  return ntohs(((struct sockaddr_in6*)&ss)->sin6_port);
}

static void bind_port(int fd, int family, int port) {
  struct sockaddr_storage ss;
  socklen_t len;
  int one = 1;

  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  fill(family == AF_INET ? "0.0.0.0" : "::", port, &ss, &len);
  if (bind(fd, (struct sockaddr*)&ss, len) != 0) {
    perror("attr_client: bind");
    exit(3);
  }
}

int main(int argc, char** argv) {
  const char *mode, *address;
  int port, bindp = 0, hold = 0, count = 1, ports = 1, delay = 0, resend = 0, fd, family, type, i;
  const char* result = "ok";
  struct timeval tv = {2, 0};
  struct sockaddr_storage ss;
  socklen_t len;
  uint64_t cookie = 0;
  socklen_t cookie_len = sizeof(cookie);
  char c;

  if (argc < 4) {
    fprintf(stderr,
            "usage: attr_client MODE ADDRESS PORT [--bind-port P] [--hold] "
            "[--count N]\n");
    return 2;
  }
  mode = argv[1];
  address = argv[2];
  port = atoi(argv[3]);
  for (i = 4; i < argc; i++) {
    if (!strcmp(argv[i], "--bind-port") && i + 1 < argc)
      bindp = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--hold"))
      hold = 1;
    else if (!strcmp(argv[i], "--count") && i + 1 < argc)
      count = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--ports") && i + 1 < argc)
      ports = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--delay-ms") && i + 1 < argc)
      delay = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--resend"))
      resend = 1;
  }

  if (!strcmp(mode, "listen") && !strcmp(address, "udp")) {
    family = AF_INET6;
    type = SOCK_DGRAM;
    address = "::";
  } else {
    family = fill(address, port, &ss, &len);
    type = (!strncmp(mode, "tcp", 3) || !strncmp(mode, "listen", 6)) ? SOCK_STREAM : SOCK_DGRAM;
  }
  fd = socket(family, type, 0);
  if (fd < 0) {
    perror("attr_client: socket");
    return 3;
  }
  if (bindp) bind_port(fd, family, bindp);
  if (delay > 0) {
    struct timespec ts = {delay / 1000, (delay % 1000) * 1000000L};

    nanosleep(&ts, NULL);
  }
  /* a dropped SYN must not hold the client for the kernel's full retry time */
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

  if (!strcmp(mode, "tcp") || !strcmp(mode, "tcp-hold")) {
    if (connect(fd, (struct sockaddr*)&ss, len) != 0) {
      if (errno != ECONNREFUSED && errno != ETIMEDOUT && errno != EINPROGRESS && errno != EAGAIN &&
          errno != EACCES && errno != EPERM) {
        perror("attr_client: connect");
        return 4;
      }
      result = strerrorname_np(errno);
    }
  } else if (!strcmp(mode, "udp-sendto")) {
    for (i = 0; i < count * ports; i++) {
      fill(address, port + i % ports, &ss, &len);
      if (sendto(fd, "x", 1, 0, (struct sockaddr*)&ss, len) != 1) {
        perror("attr_client: sendto");
        return 4;
      }
    }
  } else if (!strcmp(mode, "udp-connect")) {
    if (connect(fd, (struct sockaddr*)&ss, len) != 0) {
      perror("attr_client: connect");
      return 4;
    }
    for (i = 0; i < count; i++)
      if (send(fd, "x", 1, 0) != 1 && errno != ECONNREFUSED) {
        perror("attr_client: send");
        return 4;
      }
  } else if (!strcmp(mode, "udp-connect-cmsg")) {
    union {
      char buf[CMSG_SPACE(sizeof(int))];
      struct cmsghdr align;
    } control;
    struct iovec iov = {"x", 1};
    struct msghdr msg = {0};
    struct cmsghdr* cmsg;
    int tos = 0x10;

    if (connect(fd, (struct sockaddr*)&ss, len) != 0) {
      perror("attr_client: connect");
      return 4;
    }
    memset(&control, 0, sizeof(control));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);
    cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
    cmsg->cmsg_type = family == AF_INET ? IP_TOS : IPV6_TCLASS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &tos, sizeof(tos));
    if (sendmsg(fd, &msg, 0) != 1 && errno != ECONNREFUSED) {
      perror("attr_client: sendmsg");
      return 4;
    }
  } else if (!strcmp(mode, "listen") || !strcmp(mode, "listen-at")) {
    int one = 1;

    if (!strcmp(mode, "listen")) {
      bind_port(fd, family, port);
    } else if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
               bind(fd, (struct sockaddr*)&ss, len) != 0) {
      perror("attr_client: bind");
      return 3;
    }
    if (type == SOCK_STREAM && listen(fd, 16) != 0) {
      perror("attr_client: listen");
      return 4;
    }
  } else {
    fprintf(stderr, "attr_client: unknown mode %s\n", mode);
    return 2;
  }
  getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &cookie_len);
  printf("pid=%d local_port=%d netns_cookie=%llu result=%s\n", getpid(), local_port(fd),
         (unsigned long long)cookie, result);
  fflush(stdout);
  if (hold) {
    /* a listener accepts whatever arrives while it waits */
    while (read(0, &c, 1) > 0)
      ;
    if (resend && !strcmp(mode, "udp-sendto") &&
        sendto(fd, "x", 1, 0, (struct sockaddr*)&ss, len) != 1) {
      perror("attr_client: sendto");
      return 4;
    }
  }
  return 0;
}
