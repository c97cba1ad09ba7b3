/*
 * verify_history.c — `hems verify --dir DIR`'s second part: the long-horizon log DIR/history
 * (journal.h journal_history). Its chain, seals and signatures are checked with the same trust
 * root as the main log (never the history's own keys/ files), then every copy against what it
 * names and, while the main log still holds the record, against the main log
 * (journal_history_check). A data dir without one says so and passes.
 */
#include <stdio.h>
#include "cli.h"

int cli_history_check(struct journal_reader *main, const char *dir, const uint8_t pubkey[JOURNAL_PUBKEY_BYTES], char *line,
                      size_t cap, char *line2, size_t cap2)
{
  char hdir[4200];
  line2[0] = 0;
  if (journal_history_path(dir, hdir, sizeof hdir) || !journal_history_exists(dir)) {
    snprintf(line, cap, "none (%s/" JOURNAL_HISTORY_DIR " is made by the daemon and 'hems retention --run')", dir);
    return CLI_OK;
  }
  struct journal_reader *hr;
  int rc = journal_reader_open(&hr, hdir, NULL, false);
  if (rc) {
    snprintf(line, cap, "cannot be read: %s", journal_strerror(rc));
    return journal_is_store_damage(rc) || rc == JOURNAL_EROLLBACK ? CLI_FAIL : CLI_ENV;
  }
  struct journal_dir_source ds;
  struct journal_verify_result res;
  if ((rc = journal_dir_source_init(&ds, hr, 1))) {
    journal_reader_close(hr);
    snprintf(line, cap, "cannot be read: %s", journal_strerror(rc));
    return CLI_ENV;
  }
  rc = journal_verify(&ds.src, pubkey, NULL, &res, NULL, NULL);
  journal_dir_source_deinit(&ds);
  int exit_code = CLI_OK;
  char fp[33];
  journal_fingerprint_hex(pubkey, fp);
  if (rc == 0) {
    snprintf(line, cap, "ok: seq %llu..%llu intact: %llu records, %llu seals, key %s", (unsigned long long)res.first_seq,
             (unsigned long long)res.last_seq, (unsigned long long)res.records, (unsigned long long)res.seals, fp);
  } else if (res.bad_seq) {
    snprintf(line, cap, "first bad seq %llu: %s", (unsigned long long)res.bad_seq, res.reason);
    exit_code = CLI_FAIL;
  } else {
    snprintf(line, cap, "%s", journal_strerror(rc));
    exit_code = rc == JOURNAL_ETRUNC || rc == JOURNAL_ECORRUPT ? CLI_FAIL : CLI_ENV;
  }
  if (exit_code == CLI_OK) {
    struct journal_history_report rep;
    rc = journal_history_check(hr, main, &rep);
    if (rc == 0) {
      snprintf(line2, cap2, "%llu copies: %llu compared with the main log, %llu of records it no longer holds, %llu named only; "
               "%llu main-log records not copied yet", (unsigned long long)rep.copies, (unsigned long long)rep.cross_checked,
               (unsigned long long)rep.history_only, (unsigned long long)rep.named_only, (unsigned long long)rep.pending);
    } else if (rc == JOURNAL_ECORRUPT) {
      snprintf(line2, cap2, "copy at seq %llu (main seq %llu): %s", (unsigned long long)rep.bad_history_seq,
               (unsigned long long)rep.bad_main_seq, rep.reason);
      exit_code = CLI_FAIL;
    } else {
      snprintf(line2, cap2, "%s", journal_strerror(rc));
      exit_code = CLI_ENV;
    }
  }
  journal_reader_close(hr);
  return exit_code;
}

int cli_verify_history(struct journal_reader *main, const char *dir, const uint8_t pubkey[JOURNAL_PUBKEY_BYTES])
{
  char l1[400], l2[400];
  int rc = cli_history_check(main, dir, pubkey, l1, sizeof l1, l2, sizeof l2);
  printf("history: %s\n", l1);
  if (l2[0]) printf("history: %s\n", l2);
  if (rc == CLI_FAIL) cli_err("verify failed: %s/" JOURNAL_HISTORY_DIR ": %s", dir, l2[0] ? l2 : l1);
  else if (rc) cli_err("verify: %s/" JOURNAL_HISTORY_DIR ": %s", dir, l2[0] ? l2 : l1);
  return rc;
}
