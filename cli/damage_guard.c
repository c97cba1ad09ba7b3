/*
 * damage_guard.c — a fault inside a damaged journal's memory map becomes the contract's error
 * line (`hems: DIR/journal/data.mdb: damaged (…)`, exit 3), never a signal.
 *
 * LMDB hands out pointers into its read-only map of data.mdb and follows page numbers and
 * offsets it reads from there. The journal checks the meta pages before mapping and bounds
 * every value length (journal/envcheck.c, store.c), but a damaged branch or leaf page can still
 * make liblmdb read past the end of the file (SIGBUS) or just past the map (SIGSEGV).
 *
 * A damaged page can also send liblmdb through a NULL or stale cursor page (a fault at a small
 * address with the faulting instruction inside liblmdb), or into one of its own assertions
 * (journal_set_lmdb_assert_hook: the hook below runs instead of LMDB's abort()).
 *
 * What is safe: the handler only calls async-signal-safe functions (open, read, close, write,
 * _exit, sigaction). It reads /proc/self/maps to see whether the faulting address lies in a
 * mapping of data.mdb (same device and inode as the file the command opened) or within
 * GUARD_SLACK bytes after it (LMDB reads at most a node, < 64 KiB, past a page; value lengths
 * are bounded before use), or whether the faulting instruction is liblmdb's: the journal opens
 * readers read-only and checks meta pages first, so a fault inside liblmdb is taken as the
 * store's damage, not ours. If so, it writes the prepared line and _exits with 3. It does not
 * longjmp back into the program: unwinding out of the middle of liblmdb would leave its
 * transaction and reader-table state undefined, and a command reading a damaged store has
 * nothing to save — its reader slot in lock.mdb is reclaimed by the next opener
 * (mdb_reader_check) and LMDB's writer is crash-safe. Any other fault restores the previous
 * handler (the default, or the sanitizer's) and returns, so the fault happens again and is
 * reported as the bug it is.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <ucontext.h>
#include <unistd.h>
#include "cli.h"

#define GUARD_SLACK (256u << 10)

static char guard_msg[4400];
static size_t guard_msg_len;
static dev_t guard_dev;
static ino_t guard_ino;
static bool guard_on;
static struct sigaction old_segv, old_bus;

/* Parses a hex or decimal number at *p, advancing past it. */
static uint64_t parse_num(const char **p, const char *end, unsigned base)
{
  uint64_t v = 0;
  for (; *p < end; (*p)++) {
    char c = **p;
    unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
               : base == 16 && c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 99;
    if (d >= base) break;
    v = v * base + d;
  }
  return v;
}

static void skip_field(const char **p, const char *end)
{
  while (*p < end && **p != ' ') (*p)++;
  while (*p < end && **p == ' ') (*p)++;
}

/* One /proc/self/maps line: "start-end perms offset major:minor inode path". True when addr is in
 * (or just after) a mapping of data.mdb, or when pc is in liblmdb's code. */
static bool line_covers(const char *p, const char *end, uintptr_t addr, uintptr_t pc)
{
  uint64_t start = parse_num(&p, end, 16);
  if (p >= end || *p++ != '-') return false;
  uint64_t stop = parse_num(&p, end, 16);
  skip_field(&p, end); /* to perms */
  skip_field(&p, end); /* to offset */
  skip_field(&p, end); /* to dev */
  unsigned maj = (unsigned)parse_num(&p, end, 16);
  if (p >= end || *p++ != ':') return false;
  unsigned min = (unsigned)parse_num(&p, end, 16);
  while (p < end && *p == ' ') p++;
  uint64_t ino = parse_num(&p, end, 10);
  if (pc >= start && pc < stop) {
    while (p < end && *p == ' ') p++;
    for (const char *q = p; q + 7 <= end; q++)
      if (memcmp(q, "liblmdb", 7) == 0) return true;
  }
  if (ino != (uint64_t)guard_ino || makedev(maj, min) != guard_dev) return false;
  return addr >= start && addr < stop + GUARD_SLACK;
}

static bool damage_fault(uintptr_t addr, uintptr_t pc)
{
  static char buf[65536];
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t have = 0;
  bool hit = false;
  for (;;) {
    ssize_t n = read(fd, buf + have, sizeof buf - have);
    if (n <= 0) break;
    have += (size_t)n;
    size_t pos = 0;
    for (;;) {
      char *nl = memchr(buf + pos, '\n', have - pos);
      if (!nl) break;
      if (line_covers(buf + pos, nl, addr, pc)) hit = true;
      pos = (size_t)(nl - buf) + 1;
    }
    memmove(buf, buf + pos, have - pos);
    have -= pos;
    if (have == sizeof buf) have = 0; /* an absurd line: drop it */
  }
  close(fd);
  return hit;
}

static uintptr_t fault_pc(void *uc)
{
  const ucontext_t *u = uc;
#if defined(__x86_64__)
  return (uintptr_t)u->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
  return (uintptr_t)u->uc_mcontext.pc;
#elif defined(__arm__)
  return (uintptr_t)u->uc_mcontext.arm_pc;
#else
  (void)u;
  return 0;
#endif
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
  if (guard_on && damage_fault((uintptr_t)si->si_addr, fault_pc(uc))) {
    ssize_t w = write(STDERR_FILENO, guard_msg, guard_msg_len);
    (void)w;
    _exit(CLI_ENV);
  }
  sigaction(sig, sig == SIGBUS ? &old_bus : &old_segv, NULL);
}

static void on_lmdb_assert(const char *msg)
{
  (void)msg;
  if (!guard_on) return;
  ssize_t w = write(STDERR_FILENO, guard_msg, guard_msg_len);
  (void)w;
  _exit(CLI_ENV);
}

void cli_damage_guard(const char *dir)
{
  char path[4200];
  struct stat st;
  snprintf(path, sizeof path, "%s/journal/data.mdb", dir);
  if (stat(path, &st) != 0) return;
  guard_on = false;
  guard_dev = st.st_dev;
  guard_ino = st.st_ino;
  int n = snprintf(guard_msg, sizeof guard_msg, "hems: %s: damaged (unreadable page in the LMDB map)\n", path);
  guard_msg_len = n > 0 && (size_t)n < sizeof guard_msg ? (size_t)n : 0;
  static bool installed;
  if (!installed) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
    journal_set_lmdb_assert_hook(on_lmdb_assert);
    installed = true;
  }
  guard_on = guard_msg_len > 0;
}
