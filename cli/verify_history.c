/*
 * verify_history.c — `hems verify --dir DIR`'s second part: the long-horizon log DIR/history
 * (journal.h journal_history). Its chain, seals and signatures are checked with the same trust
 * root as the main log (never the history's own keys/ files), then every copy against what it
 * names and, while the main log still holds the record, against the main log
 * (journal_history_check). A data dir without one says so and passes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* The public key of the history's first key record into pk: root when that is root's, else the
 * key of the main log's certified chain with its key id. 0, or JOURNAL_EBADSIG. */
static int first_key(struct journal_reader *hr, uint8_t pk[JOURNAL_PUBKEY_BYTES], const uint8_t root[JOURNAL_PUBKEY_BYTES],
                     struct journal_reader *main, const char *dir)
{
  struct journal_iter *it;
  uint8_t id[JOURNAL_KEYID_BYTES], root_id[JOURNAL_KEYID_BYTES];
  bool found = false;
  journal_key_id(root, root_id);
  struct journal_record *rec = malloc(sizeof *rec);
  if (rec && journal_iter_begin(hr, 1, &it) == 0) {
    uint64_t seq;
    const uint8_t *b;
    size_t len;
    for (int n = 0; n < 64 && !found && journal_iter_next(it, &seq, &b, &len) == 1; n++)
      if (journal_record_decode(b, len, rec) == 0 && rec->type == JOURNAL_T_KEY) {
        memcpy(id, rec->body.key.key_id, sizeof id);
        found = true;
      }
    journal_iter_end(it);
  }
  free(rec);
  if (!found || !memcmp(id, root_id, sizeof id)) { memcpy(pk, root, JOURNAL_PUBKEY_BYTES); return 0; }
  struct cli_source s;
  memset(&s, 0, sizeof s);
  s.reader = main; /* borrowed: not closed here */
  return cli_key_chain_find(&s, dir, root, id, pk) == CLI_OK ? 0 : JOURNAL_EBADSIG;
}

int cli_history_check(struct journal_reader *main, const char *dir, const uint8_t pubkey[JOURNAL_PUBKEY_BYTES], char *line,
                      size_t cap, char *line2, size_t cap2)
{
  char hdir[4200];
  line2[0] = 0;
  if (journal_history_path(dir, hdir, sizeof hdir) || !journal_history_exists(dir)) {
    uint64_t am = 0, ah = 0;
    int arc = journal_history_anchor_find(main, &am, &ah);
    if (arc) {
      snprintf(line, cap, "none, and the main log cannot be read for its anchor: %s", journal_strerror(arc));
      return CLI_ENV;
    }
    if (am) {
      snprintf(line, cap, "missing: the main log's retention record at seq %llu names its seq %llu (deleted or moved)",
               (unsigned long long)am, (unsigned long long)ah);
      return CLI_FAIL;
    }
    snprintf(line, cap, "none (%s/" JOURNAL_HISTORY_DIR " is made by the daemon and 'hems retention --run')", dir);
    return CLI_OK;
  }
  struct journal_reader *hr;
  int rc = journal_reader_open(&hr, hdir, NULL, false);
  if (rc) {
    snprintf(line, cap, "cannot be read: %s", journal_strerror(rc));
    return journal_is_store_damage(rc) || rc == JOURNAL_EROLLBACK ? CLI_FAIL : CLI_ENV;
  }
  /* the key the history began with: the main log's trust root, or a key the main log's certified
   * chain names (a history made after a rotation); never the history's own keys/ files */
  uint8_t hpk[JOURNAL_PUBKEY_BYTES];
  memcpy(hpk, pubkey, sizeof hpk);
  if ((rc = first_key(hr, hpk, pubkey, main, dir))) {
    journal_reader_close(hr);
    snprintf(line, cap, "its first key is not one the main log certifies (%s)", journal_strerror(rc));
    return CLI_FAIL;
  }
  pubkey = hpk;
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
               "%llu main-log records not copied yet; %s", (unsigned long long)rep.copies, (unsigned long long)rep.cross_checked,
               (unsigned long long)rep.history_only, (unsigned long long)rep.named_only, (unsigned long long)rep.pending,
               rep.anchor_main_seq ? "anchored" : "not anchored (no retention cut names it yet)");
      size_t n = strlen(line2);
      if (rep.anchor_main_seq)
        n += (size_t)snprintf(line2 + n, cap2 - n, " by the retention record at seq %llu (its seq %llu)",
                              (unsigned long long)rep.anchor_main_seq, (unsigned long long)rep.anchor_history_seq);
      if (rep.unanchored && n < cap2)
        snprintf(line2 + n, cap2 - n, "; warning: %llu copies of cut records lie past the anchor (a cut without the "
                 "long-horizon log: history_gap): the history's own word", (unsigned long long)rep.unanchored);
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
