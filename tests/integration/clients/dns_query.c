/* dns_query SERVER NAME [--type a|aaaa] [--port N] [--timeout-ms N]
 *
 * Asks SERVER one DNS question over UDP (recursion desired), as a stub resolver would, and
 * prints one line "<outcome> <elapsed_ms> <reply bytes> [address ...]": the A or AAAA addresses
 * of the answer section, whatever name owns them. Outcomes and exit codes as the other probes:
 * reply (0), refused (1), timeout (2), ... A reply it cannot read (a hostile one) is still a
 * reply, with no addresses listed. The tests use only documentation addresses and names under
 * .example; nothing here reads /etc/resolv.conf. */
#include <poll.h>
#include <unistd.h>

#include "probe_common.h"

static void usage(void) {
  fprintf(stderr, "usage: dns_query SERVER NAME [--type a|aaaa] [--port N] [--timeout-ms N]\n");
  exit(EXIT_USAGE);
}

/* Writes NAME in wire form at out; returns its length, or -1 if it is not a valid name. */
static int encode_name(const char* name, unsigned char* out, size_t room) {
  size_t used = 0;
  while (*name) {
    const char* dot = strchr(name, '.');
    size_t label = dot ? (size_t)(dot - name) : strlen(name);
    if (label == 0 || label > 63 || used + 1 + label + 1 > room) return -1;
    out[used++] = (unsigned char)label;
    memcpy(out + used, name, label);
    used += label;
    name += label + (dot ? 1 : 0);
  }
  out[used++] = 0;
  return (int)used;
}

/* Skips a (possibly compressed) name at *pos; 0 on success. */
static int skip_name(const unsigned char* m, size_t len, size_t* pos) {
  while (*pos < len) {
    unsigned char lead = m[*pos];
    if ((lead & 0xc0) == 0xc0) {
      *pos += 2;
      return *pos <= len ? 0 : -1;
    }
    if (lead & 0xc0) return -1;
    *pos += 1 + (size_t)lead;
    if (lead == 0) return 0;
  }
  return -1;
}

/* Prints the A/AAAA addresses of the answer section, as far as it can be read. */
static void print_addresses(const unsigned char* m, size_t len) {
  if (len < 12) return;
  unsigned qd = (unsigned)(m[4] << 8 | m[5]), an = (unsigned)(m[6] << 8 | m[7]);
  size_t pos = 12;
  for (unsigned i = 0; i < qd; i++) {
    if (skip_name(m, len, &pos) || pos + 4 > len) return;
    pos += 4;
  }
  for (unsigned i = 0; i < an; i++) {
    if (skip_name(m, len, &pos) || pos + 10 > len) return;
    unsigned type = (unsigned)(m[pos] << 8 | m[pos + 1]);
    size_t rdlength = (size_t)(m[pos + 8] << 8 | m[pos + 9]);
    pos += 10;
    if (pos + rdlength > len) return;
    char text[INET6_ADDRSTRLEN];
    if (type == 1 && rdlength == 4 && inet_ntop(AF_INET, m + pos, text, sizeof text))
      printf(" %s", text);
    if (type == 28 && rdlength == 16 && inet_ntop(AF_INET6, m + pos, text, sizeof text))
      printf(" %s", text);
    pos += rdlength;
  }
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char* server = NULL;
  const char* name = NULL;
  const char* port = "53";
  long timeout_ms = 2000;
  unsigned qtype = 1;
  const char** const positional[] = {&server, &name};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc) {
      if (parse_int_arg(argv[++i], 1, 600000, &timeout_ms)) usage();
    } else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
      port = argv[++i];
    } else if (!strcmp(argv[i], "--type") && i + 1 < argc) {
      i++;
      if (!strcmp(argv[i], "a"))
        qtype = 1;
      else if (!strcmp(argv[i], "aaaa"))
        qtype = 28;
      else
        usage();
    } else if (take_positional(argv[i], positional, 2)) {
      usage();
    }
  }
  if (!server || !name) usage();
  struct sockaddr_storage to;
  socklen_t to_len;
  if (parse_endpoint(server, port, &to, &to_len)) usage();

  unsigned char query[512];
  unsigned short id = (unsigned short)(getpid() ^ (int)now_ms());
  unsigned char header[12] = {(unsigned char)(id >> 8), (unsigned char)id, 0x01, 0x00, 0, 1};
  memcpy(query, header, sizeof header);
  int name_len = encode_name(name, query + 12, sizeof query - 12 - 4);
  if (name_len < 0) usage();
  size_t query_len = 12 + (size_t)name_len;
  query[query_len++] = (unsigned char)(qtype >> 8);
  query[query_len++] = (unsigned char)qtype;
  query[query_len++] = 0;
  query[query_len++] = 1; /* class IN */

  int fd = socket(to.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr*)&to, to_len) < 0) {
    enum outcome o = outcome_from_errno(errno);
    printf("%s 0 0\n", outcome_name(o, "reply"));
    return (int)o;
  }
  double start = now_ms();
  if (send(fd, query, query_len, 0) < 0) {
    enum outcome o = outcome_from_errno(errno);
    printf("%s %.3f 0\n", outcome_name(o, "reply"), now_ms() - start);
    return (int)o;
  }
  unsigned char reply[4096];
  for (;;) {
    double left = (double)timeout_ms - (now_ms() - start);
    struct pollfd pfd = {fd, POLLIN, 0};
    if (left <= 0 || poll(&pfd, 1, (int)left + 1) == 0) {
      printf("timeout %.3f 0\n", now_ms() - start);
      return OUT_TIMEOUT;
    }
    ssize_t n = recv(fd, reply, sizeof reply, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      enum outcome o = outcome_from_errno(errno);
      printf("%s %.3f 0\n", outcome_name(o, "reply"), now_ms() - start);
      return (int)o;
    }
    if (n < 2 || reply[0] != query[0] || reply[1] != query[1]) continue; /* not our answer */
    printf("reply %.3f %zd", now_ms() - start, n);
    print_addresses(reply, (size_t)n);
    printf("\n");
    return OUT_OK;
  }
}
