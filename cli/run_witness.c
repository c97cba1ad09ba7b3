/*
 * run_witness.c — the daemon's "witness" op: {"op": "witness", "witness": WVKEY, "note": COSIGNED}
 * journals a witness's cosignature of one of the journal's own checkpoints, as `hems witness add`
 * does while no daemon runs (witness_journal.c, the same check: the cosignature verifies under
 * WVKEY over exactly the checkpoint the journal signed at that size). `hems ship --witness WVKEY`
 * sends the head-end's cosignatures with it (ship_cosigned.c; docs/fleet.md "Cosignatures").
 * Operator or above: a record in the journal, even one proven against the journal's own seal.
 */
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include "cli.h"
#include "run.h"

char *run_witness_op(struct daemon *d, int role, const json_t *req)
{
  if (role < ROLE_OPERATOR) return run_reply_error("refused: journaling a cosignature needs role operator or above");
  const char *wk = json_string_value(json_object_get(req, "witness"));
  const char *note = json_string_value(json_object_get(req, "note"));
  size_t len = note ? strlen(note) : 0;
  struct journal_tlog_verifier wv;
  if (!wk || journal_tlog_verifier_parse(wk, strlen(wk), &wv) != 0 || wv.type != JOURNAL_TLOG_COSIG_V1)
    return run_reply_error("malformed request: \"witness\" must be a cosignature/v1 verifier key (NAME+HASH+KEY)");
  if (!note || len == 0 || len > JOURNAL_TLOG_NOTE_MAX)
    return run_reply_error("malformed request: \"note\" must be a cosigned checkpoint (at most 8192 bytes)");
  struct journal_reader *r;
  if (journal_reader_attach(&r, d->j)) return run_reply_error("out of memory");
  struct journal_record rec;
  const char *why = NULL;
  int rc = cli_witness_record(r, journal_signer_pubkey(d->j), note, len, &wv, &rec, &why);
  journal_reader_close(r);
  if (rc) return run_reply_error(why);
  uint64_t seq = 0;
  rc = run_append_fx(d, &rec, &seq, NULL, NULL);
  if (rc == 0) rc = journal_sync(d->j);
  if (rc) return run_reply_error(journal_strerror(rc));
  json_t *o = json_pack("{s:b, s:I, s:I}", "ok", 1, "seq", (json_int_t)seq, "tree_size",
                        (json_int_t)rec.body.witness.tree_size);
  char *out = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return out;
}
