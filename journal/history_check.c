/*
 * history_check.c — the cross-reference between the long-horizon log and the main log
 * (journal_history_check, journal.h): every copy holds the bytes it names (hash and seq), in main
 * seq order; while the main log still holds the record, it is the same record; and every record
 * of a kept type the main log holds up to the newest copy has its copy. The chains, seals and
 * signatures of each log are journal_verify's business.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "journal.h"

static int fail(struct journal_history_report *rep, uint64_t hseq, uint64_t mseq, const char *fmt, const char *what)
{
  rep->bad_history_seq = hseq;
  rep->bad_main_seq = mseq;
  snprintf(rep->reason, sizeof rep->reason, fmt, what);
  return JOURNAL_ECORRUPT;
}

/* Whether a main-log record of a kept type is kept (a DER resync is not): 1, 0, or <0. */
static int kept(struct journal_record *scratch, const uint8_t *b, size_t len, unsigned type)
{
  if (!journal_type_is_kept(type)) return 0;
  if (type != JOURNAL_T_DER) return 1;
  if (journal_record_decode(b, len, scratch) != 0) return JOURNAL_ECORRUPT;
  return journal_record_is_kept(scratch);
}

/* A main-log record seen on the walk: the newest retention record naming a history head is the
 * anchor (journal_retention.history_seq/hash). */
static int note_main(struct journal_history_report *rep, struct journal_record *scratch, uint64_t mseq, const uint8_t *b,
                     size_t len, unsigned type)
{
  if (type != JOURNAL_T_RETENTION) return 0;
  if (journal_record_decode(b, len, scratch) != 0) return JOURNAL_ECORRUPT;
  if (scratch->body.retention.history_seq) {
    rep->anchor_main_seq = mseq;
    rep->anchor_history_seq = scratch->body.retention.history_seq;
    memcpy(rep->anchor_hash, scratch->body.retention.history_hash, JOURNAL_HASH_BYTES);
  }
  return 0;
}

/* Advances the main iterator past every record before `until` (exclusive); a kept one there
 * has no copy. mseq, mb and ml hold the main record at or after `until` (*mseq 0: none left). */
static int main_upto(struct journal_iter *mit, uint64_t until, uint64_t *mseq, const uint8_t **mb, size_t *ml,
                     struct journal_history_report *rep, uint64_t hseq, struct journal_record *scratch)
{
  while (*mseq && *mseq < until) {
    uint64_t s;
    unsigned type;
    uint8_t prev[JOURNAL_HASH_BYTES];
    if (journal_record_peek(*mb, *ml, &s, &type, prev) != 0 || note_main(rep, scratch, *mseq, *mb, *ml, type) != 0)
      return fail(rep, hseq, *mseq, "%s", "main-log record does not decode");
    int k = kept(scratch, *mb, *ml, type);
    if (k < 0) return fail(rep, hseq, *mseq, "%s", "main-log record does not decode");
    if (k) {
      char what[96];
      snprintf(what, sizeof what, "main-log record %llu (%s) has no copy", (unsigned long long)*mseq, journal_type_name(type));
      return fail(rep, hseq, *mseq, "%s", what);
    }
    int got = journal_iter_next(mit, mseq, mb, ml);
    if (got < 0) return got;
    if (got == 0) *mseq = 0;
  }
  return 0;
}

int journal_history_check(struct journal_reader *hist, struct journal_reader *main, struct journal_history_report *rep)
{
  memset(rep, 0, sizeof *rep);
  int rc;
  struct journal_iter *hit = NULL, *mit = NULL;
  struct journal_record *c = malloc(sizeof *c), *scratch = malloc(sizeof *scratch);
  if (!c || !scratch) { free(c); free(scratch); return -ENOMEM; }
  uint64_t hfirst = 0, hlast = 0, last_only = 0;
  /* the history's snapshot first: every copy in it was made from a record the main log had
   * durable before, so the main log's later snapshot holds it unless retention cut it */
  if ((rc = journal_iter_begin(hist, 1, &hit)) || (rc = journal_iter_begin(main, 1, &mit))) goto out;
  uint64_t mseq = 0, hseq, last_main = 0;
  const uint8_t *mb = NULL, *hb;
  size_t ml = 0, hl;
  int got = journal_iter_next(mit, &mseq, &mb, &ml);
  if (got < 0) { rc = got; goto out; }
  if (got == 0) mseq = 0;
  uint64_t mfirst = mseq;
  rep->main_first = mfirst;
  while ((got = journal_iter_next(hit, &hseq, &hb, &hl)) == 1) {
    uint64_t s;
    unsigned type;
    uint8_t prev[JOURNAL_HASH_BYTES], h[JOURNAL_HASH_BYTES];
    if ((rc = journal_record_peek(hb, hl, &s, &type, prev))) { rc = fail(rep, hseq, 0, "%s", "record does not decode"); goto out; }
    if (!hfirst) hfirst = hseq;
    hlast = hseq;
    if (type != JOURNAL_T_COPY) continue;
    if ((rc = journal_record_decode(hb, hl, c))) { rc = fail(rep, hseq, 0, "%s", "copy does not decode"); goto out; }
    const struct journal_copy *cp = &c->body.copy;
    rep->copies++;
    if (cp->main_seq <= last_main) { rc = fail(rep, hseq, cp->main_seq, "%s", "copies out of main seq order"); goto out; }
    last_main = cp->main_seq;
    if (cp->record.len) {
      uint64_t es;
      unsigned et;
      journal_record_hash(cp->record.ptr, cp->record.len, h);
      if (memcmp(h, cp->main_hash, sizeof h)) { rc = fail(rep, hseq, cp->main_seq, "%s", "the copied bytes do not have the hash it names"); goto out; }
      if (journal_record_peek(cp->record.ptr, cp->record.len, &es, &et, prev) != 0 || es != cp->main_seq)
        { rc = fail(rep, hseq, cp->main_seq, "%s", "the copied record is not the seq it names"); goto out; }
      if (kept(scratch, cp->record.ptr, cp->record.len, et) != 1)
        { rc = fail(rep, hseq, cp->main_seq, "the copied record is a %s the history does not keep", journal_type_name(et)); goto out; }
    } else {
      rep->named_only++;
    }
    if (!mfirst || cp->main_seq < mfirst) {
      rep->history_only++;
      last_only = hseq;
      continue;
    }
    if ((rc = main_upto(mit, cp->main_seq, &mseq, &mb, &ml, rep, hseq, scratch))) goto out;
    if (!mseq) { rc = fail(rep, hseq, cp->main_seq, "%s", "copy of a record the main log has not written"); goto out; }
    if (mseq != cp->main_seq) { rc = fail(rep, hseq, cp->main_seq, "%s", "the main log lacks the record in its range"); goto out; }
    journal_record_hash(mb, ml, h);
    if (memcmp(h, cp->main_hash, sizeof h)) { rc = fail(rep, hseq, cp->main_seq, "%s", "the main log's record differs from the copy"); goto out; }
    if ((rc = journal_record_peek(mb, ml, &s, &type, prev)) || (rc = note_main(rep, scratch, mseq, mb, ml, type)))
      { rc = fail(rep, hseq, mseq, "%s", "main-log record does not decode"); goto out; }
    rep->cross_checked++;
    got = journal_iter_next(mit, &mseq, &mb, &ml);
    if (got < 0) { rc = got; goto out; }
    if (got == 0) mseq = 0;
  }
  if (got < 0) { rc = got; goto out; }
  rep->last_copied = last_main;
  /* after the newest copy: kept records not copied yet (the history follows the main log) */
  while (mseq) {
    uint64_t s;
    unsigned type;
    uint8_t prev[JOURNAL_HASH_BYTES];
    if (journal_record_peek(mb, ml, &s, &type, prev) != 0 || note_main(rep, scratch, mseq, mb, ml, type) != 0)
      { rc = fail(rep, 0, mseq, "%s", "main-log record does not decode"); goto out; }
    if (mseq > last_main && kept(scratch, mb, ml, type) == 1) rep->pending++;
    got = journal_iter_next(mit, &mseq, &mb, &ml);
    if (got < 0) { rc = got; goto out; }
    if (got == 0) mseq = 0;
  }
  /* the anchor: the newest cut's retention record (signed in the main log) names the history's
   * head then; the history must still hold it, unless its own horizon cut it */
  if (rep->anchor_history_seq) {
    const uint8_t *ab;
    size_t al;
    uint8_t h[JOURNAL_HASH_BYTES];
    if (journal_iter_get(hit, rep->anchor_history_seq, &ab, &al) == 0) {
      journal_record_hash(ab, al, h);
      if (memcmp(h, rep->anchor_hash, sizeof h) != 0) {
        rc = fail(rep, rep->anchor_history_seq, rep->anchor_main_seq,
                  "%s", "the history differs from the one the main log's retention record names (replaced)");
        goto out;
      }
    } else if (!hfirst || rep->anchor_history_seq > hlast || rep->anchor_history_seq >= hfirst) {
      rc = fail(rep, rep->anchor_history_seq, rep->anchor_main_seq,
                "%s", "the history lacks the head the main log's retention record names (rolled back or replaced)");
      goto out;
    }
  }
  /* copies of cut records the newest anchor does not cover: made after it (a cut while the disk
   * was full or the history had failed: history_gap) — the history's own word only */
  if (last_only > rep->anchor_history_seq) {
    struct journal_iter *it2;
    if ((rc = journal_iter_begin(hist, rep->anchor_history_seq + 1, &it2))) goto out;
    while (journal_iter_next(it2, &hseq, &hb, &hl) == 1 && hseq <= last_only) {
      uint64_t s;
      unsigned type;
      uint8_t prev[JOURNAL_HASH_BYTES];
      if (journal_record_peek(hb, hl, &s, &type, prev) == 0 && type == JOURNAL_T_COPY && journal_record_decode(hb, hl, c) == 0 &&
          c->body.copy.main_seq < mfirst)
        rep->unanchored++;
    }
    journal_iter_end(it2);
  }
out:
  journal_iter_end(hit);
  journal_iter_end(mit);
  free(c);
  free(scratch);
  return rc;
}

int journal_history_anchor_find(struct journal_reader *main, uint64_t *main_seq, uint64_t *history_seq)
{
  struct journal_history_report rep;
  memset(&rep, 0, sizeof rep);
  struct journal_record *scratch = malloc(sizeof *scratch);
  struct journal_iter *it = NULL;
  int rc = scratch ? journal_iter_begin(main, 1, &it) : -ENOMEM;
  uint64_t seq;
  const uint8_t *b;
  size_t len;
  int got = 0;
  while (!rc && (got = journal_iter_next(it, &seq, &b, &len)) == 1) {
    uint64_t s;
    unsigned type;
    uint8_t prev[JOURNAL_HASH_BYTES];
    if (journal_record_peek(b, len, &s, &type, prev) != 0 || note_main(&rep, scratch, seq, b, len, type) != 0) rc = JOURNAL_ECORRUPT;
  }
  if (!rc && got < 0) rc = got;
  journal_iter_end(it);
  free(scratch);
  *main_seq = rep.anchor_main_seq;
  *history_seq = rep.anchor_history_seq;
  return rc;
}
