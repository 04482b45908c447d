/* exe_swap EXE|- IPV4 PORT TIMEOUT_MS
 *
 * A process that makes the kernel's record of its executable (mm->exe_file: what /proc/PID/exe
 * shows, and what eBPF reads as current->mm->exe_file) another file without exec, then connects
 * over TCP, sends a message and reads the echo. The swap is prctl(PR_SET_MM, PR_SET_MM_MAP)
 * with exe_fd = EXE, which needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE only in the caller's
 * own user namespace (run it under `unshare -Ur`), once no mapping of the old executable is
 * left: a forked child unmaps them and makes its calls from a few instructions copied to an
 * anonymous mapping (x86-64 only). "-" for EXE: no swap (the control).
 * EXE_SWAP_WAIT_FOR=PATH in the environment: the child waits (up to 60 s) until PATH exists
 * before it swaps, so that a test can start wardend (or anything else) in between.
 * EXE_SWAP_ORPHAN=1: the child is forked by a middle process that exits at once, so that it
 * is adopted (by init or a subreaper) before it swaps; "parent-exits" is printed then, and the
 * result once the child is gone.
 * Prints "prctl=<rc> connect=<rc> write=<rc> read=<rc> echo=<text>" (rc: the syscall's return,
 * -errno on failure). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/prctl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

struct call {
  int64_t nr;
  uint64_t a[6];
  int64_t ret;
};

struct shared {
  struct call calls[64];
  struct prctl_mm_map map;
  struct sockaddr_in addr;
  char msg[64];
  char buf[64];
  int prctl_index, connect_index, write_index, read_index;
};

/* rdi: the calls; runs each (nr -1 ends), stores its result, then exits. Position
 * independent, copied to an anonymous mapping: nothing of the executable is used. */
// clang-format off
static const unsigned char tramp[] = {
  0x49, 0x89, 0xfc,                     /* mov r12, rdi */
  /* loop: */
  0x49, 0x8b, 0x04, 0x24,               /* mov rax, [r12] */
  0x48, 0x83, 0xf8, 0xff,               /* cmp rax, -1 */
  0x74, 0x2b,                           /* je done */
  0x49, 0x8b, 0x7c, 0x24, 0x08,         /* mov rdi, [r12+8] */
  0x49, 0x8b, 0x74, 0x24, 0x10,         /* mov rsi, [r12+16] */
  0x49, 0x8b, 0x54, 0x24, 0x18,         /* mov rdx, [r12+24] */
  0x4d, 0x8b, 0x54, 0x24, 0x20,         /* mov r10, [r12+32] */
  0x4d, 0x8b, 0x44, 0x24, 0x28,         /* mov r8, [r12+40] */
  0x4d, 0x8b, 0x4c, 0x24, 0x30,         /* mov r9, [r12+48] */
  0x0f, 0x05,                           /* syscall */
  0x49, 0x89, 0x44, 0x24, 0x38,         /* mov [r12+56], rax */
  0x49, 0x83, 0xc4, 0x40,               /* add r12, 64 */
  0xeb, 0xcb,                           /* jmp loop */
  /* done: exit_group(0) */
  0xb8, 0xe7, 0x00, 0x00, 0x00,         /* mov eax, 231 */
  0x31, 0xff,                           /* xor edi, edi */
  0x0f, 0x05,                           /* syscall */
  0xf4,                                 /* hlt */
};
// clang-format on

static int n_calls;

static int add(struct shared* s, int64_t nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
               uint64_t a4) {
  struct call* c = &s->calls[n_calls];
  c->nr = nr;
  c->a[0] = a0, c->a[1] = a1, c->a[2] = a2, c->a[3] = a3, c->a[4] = a4, c->a[5] = 0;
  c->ret = -4095;
  return n_calls++;
}

static int stat_fields(uint64_t* f, int max) {
  char text[4096];
  int fd = open("/proc/self/stat", O_RDONLY);
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return -1;
  text[n] = 0;
  char* p = strrchr(text, ')'); /* after comm: field 3 on */
  int i = 3;
  for (p += 2; *p && i <= max; i++) {
    f[i] = strtoull(p, &p, 10);
    if (*p == ' ')
      p++;
    else if (*p && !(*p >= '0' && *p <= '9'))
      p++;
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: exe_swap <exe|-> <ipv4> <port> <timeout_ms>\n");
    return 2;
  }
  int swap = strcmp(argv[1], "-") != 0;
  struct shared* s =
      mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  void* code =
      mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (s == MAP_FAILED || code == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  memcpy(code, tramp, sizeof tramp);
  memset(s, 0, sizeof *s);

  int exe_fd = swap ? open(argv[1], O_RDONLY) : -1;
  if (swap && exe_fd < 0) {
    perror("open");
    return 1;
  }
  int sock = socket(AF_INET, SOCK_STREAM, 0);
  int timeout_ms = atoi(argv[4]);
  struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* bounds connect() */
  setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  s->addr.sin_family = AF_INET;
  s->addr.sin_port = htons(atoi(argv[3]));
  inet_pton(AF_INET, argv[2], &s->addr.sin_addr);
  strcpy(s->msg, "exe-swap-secret");

  const int orphan = getenv("EXE_SWAP_ORPHAN") != NULL;
  int gone[2] = {-1, -1}; /* orphan: the child holds the write end until it exits */
  if (orphan && pipe(gone) != 0) {
    perror("pipe");
    return 1;
  }
  pid_t child = fork();
  if (child == 0 && orphan) {
    close(gone[0]);
    if (fork() != 0) _exit(0); /* the middle process */
  }
  if (child == 0) {
    /* EXE_SWAP_WAIT_FOR=path: wait (up to 60 s) until the file exists, so that the test
     * can start wardend between this process's start and its swap. */
    const char* wait_for = getenv("EXE_SWAP_WAIT_FOR");
    for (int i = 0; wait_for && access(wait_for, F_OK) != 0 && i < 1200; i++) usleep(50000);
    if (swap) {
      /* Every mapping of the executable goes (the kernel refuses the swap while
       * the old file is mapped). */
      struct stat self;
      stat("/proc/self/exe", &self);
      FILE* maps = fopen("/proc/self/maps", "r");
      char line[512];
      while (fgets(line, sizeof line, maps)) {
        unsigned long lo, hi, ino;
        unsigned int major, minor;
        if (sscanf(line, "%lx-%lx %*s %*s %x:%x %lu", &lo, &hi, &major, &minor, &ino) == 5 &&
            ino == self.st_ino && ino != 0)
          add(s, SYS_munmap, lo, hi - lo, 0, 0, 0);
      }
      fclose(maps);
      uint64_t f[64] = {0};
      stat_fields(f, 52);
      s->map.start_code = f[26];
      s->map.end_code = f[27];
      s->map.start_stack = f[28];
      s->map.start_data = f[45];
      s->map.end_data = f[46];
      s->map.start_brk = f[47];
      s->map.arg_start = f[48];
      s->map.arg_end = f[49];
      s->map.env_start = f[50];
      s->map.env_end = f[51];
      s->map.brk = (uint64_t)syscall(SYS_brk, 0);
      s->map.auxv = NULL;
      s->map.auxv_size = 0;
      s->map.exe_fd = exe_fd;
      s->prctl_index =
          add(s, SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, (uint64_t)&s->map, sizeof s->map, 0);
    } else {
      s->prctl_index = -1;
    }
    s->connect_index = add(s, SYS_connect, sock, (uint64_t)&s->addr, sizeof s->addr, 0, 0);
    s->write_index = add(s, SYS_write, sock, (uint64_t)s->msg, strlen(s->msg), 0, 0);
    s->read_index = add(s, SYS_read, sock, (uint64_t)s->buf, sizeof s->buf - 1, 0, 0);
    s->calls[n_calls].nr = -1;
    ((void (*)(struct call*))code)(s->calls);
    _exit(3); /* not reached */
  }
  int status = 0;
  waitpid(child, &status, 0);
  if (orphan) {
    close(gone[1]);
    printf("parent-exits\n");
    fflush(stdout);
    char byte;
    while (read(gone[0], &byte, 1) > 0) {
    }
  }
  long prctl_rc = s->prctl_index >= 0 ? s->calls[s->prctl_index].ret : 0;
  long read_rc = s->calls[s->read_index].ret;
  if (read_rc > 0) s->buf[read_rc] = 0;
  printf("prctl=%ld connect=%ld write=%ld read=%ld echo=%s\n", prctl_rc,
         (long)s->calls[s->connect_index].ret, (long)s->calls[s->write_index].ret, read_rc,
         read_rc > 0 ? s->buf : "-");
  return 0;
}
