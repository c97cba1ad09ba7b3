/*
 * cmd_reindex.c — the indexes as untrusted derived files: `hems reindex` rebuilds them from the
 * records under the writer lock (so never while a daemon runs), and `hems verify --dir` checks
 * them (cli_verify_indexes). The check itself is journal_index_check (journal/index_check.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"

/* Full index check of the reader's snapshot, or of verified_it's (the iterator journal_verify_opt
 * has just read through seq verified_last: journal_index_check_opt); prints the problem.
 * Returns 0, or 1 when the index is damaged, 3 on I/O error. */
static int check_indexes(struct journal_reader *r, struct journal_iter *verified_it, uint64_t verified_last,
                         const char *what, const char *dir, bool quiet_ok)
{
  struct journal_iter *it = verified_it;
  int rc = it ? 0 : journal_iter_begin(r, 1, &it);
  if (rc) { cli_err("%s: %s", what, journal_strerror(rc)); return CLI_ENV; }
  struct journal_index_report rep;
  rc = journal_index_check_opt(it, verified_it ? verified_last : 0, &rep);
  if (!verified_it) journal_iter_end(it);
  if (rc == 0) {
    if (!quiet_ok)
      printf("index: ok: %llu entries in %llu blocks cover %llu records\n", (unsigned long long)rep.entries,
             (unsigned long long)rep.blocks, (unsigned long long)rep.records);
    return CLI_OK;
  }
  if (rc != JOURNAL_ECORRUPT && journal_is_store_damage(rc)) {
    cli_err("%s/journal/data.mdb: damaged (%s)", dir, journal_strerror(rc));
    return CLI_ENV;
  }
  if (rc != JOURNAL_ECORRUPT) { cli_err("%s: index: %s", what, journal_strerror(rc)); return CLI_ENV; }
  printf("index damaged: %s\n", rep.reason);
  cli_err("%s: index damaged: %s (%llu entries missing, %llu wrong; 'hems reindex --dir %s' rebuilds it)", what,
          rep.reason, (unsigned long long)rep.missing, (unsigned long long)rep.wrong, dir);
  return CLI_FAIL;
}

int cli_verify_indexes(struct journal_reader *r, struct journal_iter *verified_it, uint64_t verified_last, const char *dir)
{
  return check_indexes(r, verified_it, verified_last, "verify", dir, false);
}

int cli_cmd_reindex(int argc, char **argv)
{
  enum { O_DIR = 1000, O_COUNTER, O_ACCEPT };
  enum { O_SIGNER = 1100 };
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR }, { "counter", required_argument, NULL, O_COUNTER },
                                      { "accept-rollback", no_argument, NULL, O_ACCEPT },
                                      CLI_SIGNER_OPTION(O_SIGNER), { 0 } };
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DIR) c.dir = optarg;
    else if (opt == O_COUNTER) c.counter = optarg;
    else if (opt == O_ACCEPT) c.accept_rollback = true;
    else if (opt == O_SIGNER) cli_signer_option(optarg);
    else return cli_usage(cli_find("reindex"), false);
  }
  if (optind != argc) return cli_usage(cli_find("reindex"), false);
  /* The writer lock: a running daemon holds it, so this refuses (exit 3) while one runs. */
  struct journal *j;
  struct journal_open_info oi;
  int rc = cli_open_writer(&c, &j, &oi);
  if (rc) return rc;
  struct journal_reader *r;
  if ((rc = journal_reader_attach(&r, j)) == 0) {
    int before = check_indexes(r, NULL, 0, "reindex", c.dir, true);
    journal_reader_close(r);
    if (before == CLI_OK) printf("index was intact; rebuilding anyway\n");
  }
  struct journal_reindex_info info;
  rc = journal_reindex(j, &info);
  int exit_code = CLI_OK;
  if (rc) {
    cli_err("reindex: %s: %s (the old index is kept)", c.dir, journal_strerror(rc));
    exit_code = rc == JOURNAL_ECORRUPT ? CLI_FAIL : CLI_ENV;
  } else {
    printf("reindexed %llu records: %llu groups, %llu index entries in %llu blocks\n", (unsigned long long)info.records,
           (unsigned long long)info.groups, (unsigned long long)info.entries, (unsigned long long)info.blocks);
    if (journal_reader_attach(&r, j) == 0) {
      exit_code = check_indexes(r, NULL, 0, "reindex", c.dir, true);
      journal_reader_close(r);
    }
  }
  int crc = journal_close(j);
  if (crc && exit_code == CLI_OK) { cli_err("reindex: %s: %s", c.dir, journal_strerror(crc)); exit_code = CLI_ENV; }
  return exit_code;
}
