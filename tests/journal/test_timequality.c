/*
 * test_timequality.c — the live clock's quality flag. The rule (timequality.c): synced only
 * when adjtimex(2) succeeded, its state is not TIME_ERROR and STA_UNSYNC is clear. Expected
 * values come from the kernel's ABI (<sys/timex.h>: TIME_OK 0 … TIME_ERROR 5, STA_UNSYNC
 * 0x0040), not from our code. The refused call is then made real, without privileges: a child
 * sets no_new_privs and a seccomp filter that fails adjtimex/clock_adjtime with EPERM — what
 * systemd's SystemCallFilter= and ProtectClock= do — and the journal's real clock must stamp
 * its records unsynced. (Before the fix a refused call left the zeroed timex as it was, and a
 * zero status read as synced.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include "jt_util.h"
#include "skip.h"
#include "timequality_internal.h"

static struct timex tx_with(unsigned status)
{
  struct timex tx;
  memset(&tx, 0, sizeof tx);
  tx.status = (int)status;
  return tx;
}

static void failed_call_is_unsynced(void **state)
{
  (void)state;
  struct timex zero = tx_with(0);
  /* what a refused call leaves: rc -1, the caller's zeroed timex untouched */
  assert_int_equal(journal__time_quality(-1, &zero), JOURNAL_TQ_UNSYNCED);
  /* even a timex that would read as synced does not count when the call failed */
  struct timex pll = tx_with(0x0001 /* STA_PLL */);
  assert_int_equal(journal__time_quality(-1, &pll), JOURNAL_TQ_UNSYNCED);
  assert_int_equal(journal__time_quality(-1, NULL), JOURNAL_TQ_UNSYNCED);
}

static void kernel_answers(void **state)
{
  (void)state;
  struct timex pll = tx_with(0x0001), unsync = tx_with(0x0040 | 0x2000 /* STA_UNSYNC | STA_NANO */);
  assert_int_equal(STA_UNSYNC, 0x0040);
  assert_int_equal(TIME_ERROR, 5);
  assert_int_equal(journal__time_quality(0 /* TIME_OK */, &pll), JOURNAL_TQ_SYNCED);
  assert_int_equal(journal__time_quality(0, &unsync), JOURNAL_TQ_UNSYNCED);
  /* TIME_ERROR: the clock is not synchronized, whatever the status bits say */
  assert_int_equal(journal__time_quality(5, &pll), JOURNAL_TQ_UNSYNCED);
  /* a leap second announced or in progress (TIME_INS 1, TIME_DEL 2, TIME_OOP 3, TIME_WAIT 4)
   * is a synchronized clock */
  for (int s = 1; s <= 4; s++) assert_int_equal(journal__time_quality(s, &pll), JOURNAL_TQ_SYNCED);
}

/* no_new_privs + a filter failing the clock-adjusting calls with EPERM; 0 or -errno. */
static int refuse_adjtimex(void)
{
  struct sock_filter f[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_adjtimex, 3, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clock_adjtime, 2, 0),
#ifdef __NR_clock_adjtime64
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clock_adjtime64, 1, 0),
#else
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clock_adjtime, 1, 0),
#endif
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
  };
  struct sock_fprog prog = { (unsigned short)(sizeof f / sizeof f[0]), f };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -errno;
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) return -errno;
  return 0;
}

#define CHILD_NO_SECCOMP 40

/* In a child under the filter: the kernel refuses, the judgement says unsynced, and a journal
 * created with the real clock stamps its first record unsynced. Exit status: 0 ok, 1..3 which
 * check failed, CHILD_NO_SECCOMP when the filter could not be installed. */
static int child_under_filter(const char *dir)
{
  if (refuse_adjtimex() != 0) return CHILD_NO_SECCOMP;
  struct timex tx;
  memset(&tx, 0, sizeof tx);
  if (adjtimex(&tx) != -1 || errno != EPERM) return 1;
  if (journal__time_quality_now() != JOURNAL_TQ_UNSYNCED) return 2;
  struct journal_options o;
  jt_opts(&o, dir, NULL); /* clock.now NULL: the real clocks */
  if (journal_create(&o, "{}", 2, "test")) return 3;
  struct journal_reader *r;
  struct journal_iter *it;
  const uint8_t *b;
  size_t len;
  struct journal_record rec;
  if (journal_reader_open(&r, dir, NULL, true)) return 3;
  if (journal_iter_begin(r, 1, &it)) return 3;
  int rc = journal_iter_get(it, 1, &b, &len) || journal_record_decode(b, len, &rec) ? 3
           : rec.time_quality == JOURNAL_TQ_UNSYNCED ? 0 : 2;
  journal_iter_end(it);
  journal_reader_close(r);
  return rc;
}

/* The offset from the time source: adjtimex's tx.offset is in µs, or in ns with STA_NANO
 * (0x2000, <sys/timex.h>); nothing is reported for an unsynced clock or a failed call. */
static void sync_offset(void **state)
{
  (void)state;
  assert_int_equal(STA_NANO, 0x2000);
  struct timex us = tx_with(0x0001), ns = tx_with(0x0001 | 0x2000), unsync = tx_with(0x0040);
  us.offset = -1234;                   /* µs */
  ns.offset = 567890123;               /* ns */
  unsync.offset = 999;
  assert_int_equal(journal__sync_offset_ns(0, &us), -1234000);
  assert_int_equal(journal__sync_offset_ns(0, &ns), 567890123);
  assert_int_equal(journal__sync_offset_ns(0, &unsync), 0);
  assert_int_equal(journal__sync_offset_ns(-1, &ns), 0);
  assert_int_equal(journal__sync_offset_ns(5 /* TIME_ERROR */, &ns), 0);
}

static void refused_call_stamps_unsynced(void **state)
{
  (void)state;
  char *base = jt_mkdtemp();
  char *dir = jt_path("%s/data", base);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) _exit(child_under_filter(dir));
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  jt_rm_rf(base);
  assert_true(WIFEXITED(st));
  if (WEXITSTATUS(st) == CHILD_NO_SECCOMP) {
    /* qemu-user refuses seccomp filters (they would apply to its own host calls) */
    hems_skip("timequality-seccomp", "seccomp filters cannot be installed here (an emulator?)");
  } else {
    assert_int_equal(WEXITSTATUS(st), 0);
  }
  free(base);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(failed_call_is_unsynced),
    cmocka_unit_test(kernel_answers),
    cmocka_unit_test(sync_offset),
    cmocka_unit_test(refused_call_stamps_unsynced),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
