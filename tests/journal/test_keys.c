/*
 * test_keys.c — the file signer's key hygiene: the secret key is held in locked, guarded
 * memory (not inside the caller's struct), the key file is opened without following links and
 * judged by the descriptor that is read, and signatures still verify.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>
#include "journal.h"
#include "jt_util.h"
#include "skip.h"

/* VmLck of this process in kB (locked memory), from /proc/self/status. */
static long vm_locked_kb(void)
{
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmLck: %ld kB", &kb) == 1) break;
  if (f) fclose(f);
  return kb;
}

static const uint8_t seed[32] = { 7, 7, 7, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                  13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28 };

static void test_key_in_locked_memory(void **state)
{
  (void)state;
  char *d = jt_mkdtemp();
  assert_int_equal(journal_keys_create(d, seed), 0);
  uint8_t pk[32], sk[64];
  crypto_sign_seed_keypair(pk, sk, seed);

  long before = vm_locked_kb();
  assert_true(before >= 0);
  struct journal_file_signer fs;
  assert_int_equal(journal_file_signer_load(&fs, d), 0);
  assert_memory_equal(fs.signer.pubkey, pk, 32);
  /* the secret key is not a copy inside the caller's struct (which may be on any stack or heap
   * page, swapped or dumped): no 32-byte window of it appears there */
  for (size_t off = 0; off + 32 <= sizeof fs; off++)
    assert_true(memcmp((const uint8_t *)&fs + off, sk, 32) != 0);
  assert_non_null(fs.sk);
  assert_memory_equal(fs.sk, sk, 64);
  /* locked: the kernel counts at least one more locked page (RLIMIT_MEMLOCK allows 64 kB+) */
  assert_true(fs.sk_locked);
  long during = vm_locked_kb();
  fprintf(stderr, "VmLck before %ld kB, with the key loaded %ld kB\n", before, during);
#ifdef __SANITIZE_ADDRESS__
  /* AddressSanitizer replaces mlock/munlock with no-ops, so the kernel's count cannot move in
   * this build; the normal build checks it. */
  hems_skip("test_keys/vmlck-asan", "AddressSanitizer makes mlock a no-op, VmLck not checked in this build");
#else
  assert_true(during >= before + 4);
#endif

  uint8_t sig[64];
  static const uint8_t msg[] = "hems key hygiene";
  assert_int_equal(fs.signer.sign(fs.signer.ctx, msg, sizeof msg, sig), 0);
  assert_int_equal(crypto_sign_verify_detached(sig, msg, sizeof msg, pk), 0);

  journal_file_signer_wipe(&fs);
  assert_null(fs.sk);
#ifndef __SANITIZE_ADDRESS__
  assert_true(vm_locked_kb() <= during - 4);
#endif
  sodium_memzero(sk, sizeof sk);
  jt_rm_rf(d);
  free(d);
}

static void test_key_file_checks(void **state)
{
  (void)state;
  char *d = jt_mkdtemp();
  assert_int_equal(journal_keys_create(d, seed), 0);
  char key[4200], moved[4200];
  snprintf(key, sizeof key, "%s/keys/signing.key", d);
  snprintf(moved, sizeof moved, "%s/elsewhere.key", d);
  struct journal_file_signer fs;

  /* a symlink in place of the key file is refused, even to a well-formed 0600 key */
  assert_int_equal(rename(key, moved), 0);
  assert_int_equal(symlink(moved, key), 0);
  assert_int_equal(journal_file_signer_load(&fs, d), JOURNAL_EBADKEY);
  journal_file_signer_wipe(&fs);
  assert_int_equal(unlink(key), 0);
  assert_int_equal(rename(moved, key), 0);
  assert_int_equal(journal_file_signer_load(&fs, d), 0);
  journal_file_signer_wipe(&fs);

  /* group-readable: refused */
  assert_int_equal(chmod(key, 0640), 0);
  assert_int_equal(journal_file_signer_load(&fs, d), JOURNAL_EKEYPERM);
  journal_file_signer_wipe(&fs);
  assert_int_equal(chmod(key, 0600), 0);

  /* not a regular file (a FIFO would block a plain open): refused, without hanging */
  assert_int_equal(unlink(key), 0);
  assert_int_equal(mkfifo(key, 0600), 0);
  assert_int_equal(journal_file_signer_load(&fs, d), JOURNAL_EBADKEY);
  journal_file_signer_wipe(&fs);

  /* missing */
  assert_int_equal(unlink(key), 0);
  assert_int_equal(journal_file_signer_load(&fs, d), JOURNAL_ENOKEY);
  journal_file_signer_wipe(&fs);
  jt_rm_rf(d);
  free(d);
}

/* The public key file is read by every reader of the data dir (the counter's signatures are
 * checked with it): a FIFO planted in its place is refused at once, not waited on for a writer
 * that never comes (alarm: a hang fails the test instead of stalling it). */
static void test_pubkey_file_checks(void **state)
{
  (void)state;
  char *d = jt_mkdtemp();
  assert_int_equal(journal_keys_create(d, seed), 0);
  char pub[4200];
  snprintf(pub, sizeof pub, "%s/keys/signing.pub", d);
  uint8_t pk[JOURNAL_PUBKEY_BYTES], want[JOURNAL_PUBKEY_BYTES], sk[64];
  crypto_sign_seed_keypair(want, sk, seed);
  assert_int_equal(journal_pubkey_load(pub, pk), 0);
  assert_memory_equal(pk, want, sizeof pk);
  assert_int_equal(unlink(pub), 0);
  assert_int_equal(mkfifo(pub, 0644), 0);
  alarm(10);
  assert_int_equal(journal_pubkey_load(pub, pk), JOURNAL_EBADKEY);
  alarm(0);
  jt_rm_rf(d);
  free(d);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_key_in_locked_memory),
    cmocka_unit_test(test_key_file_checks),
    cmocka_unit_test(test_pubkey_file_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
