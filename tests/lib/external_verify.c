/*
 * external_verify.c — a program outside the tree, built against the *installed*
 * libhems-journal through pkg-config (test_installed_library.sh): it verifies a data dir with
 * only its public key file, as an auditor's tool or a head-end would, and prints the count.
 * Usage: external_verify DIR PUBKEY_FILE
 */
#include <stdio.h>
#include <journal.h>

int main(int argc, char **argv)
{
  if (argc != 3) { fprintf(stderr, "usage: external_verify DIR PUBKEY_FILE\n"); return 2; }
  uint8_t pk[JOURNAL_PUBKEY_BYTES];
  int rc = journal_pubkey_load(argv[2], pk);
  if (rc) { fprintf(stderr, "external_verify: %s: %s\n", argv[2], journal_strerror(rc)); return 3; }
  struct journal_reader *r;
  if ((rc = journal_reader_open(&r, argv[1], NULL, false))) {
    fprintf(stderr, "external_verify: %s: %s\n", argv[1], journal_strerror(rc));
    return 3;
  }
  struct journal_dir_source ds;
  if ((rc = journal_dir_source_init(&ds, r, 1))) { journal_reader_close(r); return 3; }
  struct journal_verify_result res;
  rc = journal_verify(&ds.src, pk, NULL, &res, NULL, NULL);
  journal_dir_source_deinit(&ds);
  journal_reader_close(r);
  if (rc) {
    printf("first bad seq %llu: %s\n", (unsigned long long)res.bad_seq, res.reason);
    return 1;
  }
  printf("ok: %llu records\n", (unsigned long long)res.records);
  return 0;
}
