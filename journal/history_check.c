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

/* Advances the main iterator past every record before `until` (exclusive); a kept one there
 * has no copy. mseq, mb and ml hold the main record at or after `until` (*mseq 0: none left). */
static int main_upto(struct journal_iter *mit, uint64_t until, uint64_t *mseq, const uint8_t **mb, size_t *ml,
                     struct journal_history_report *rep, uint64_t hseq)
{
  while (*mseq && *mseq < until) {
    uint64_t s;
    unsigned type;
    uint8_t prev[JOURNAL_HASH_BYTES];
    if (journal_record_peek(*mb, *ml, &s, &type, prev) != 0) return fail(rep, hseq, *mseq, "%s", "main-log record does not decode");
    if (journal_type_is_kept(type)) {
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
  uint64_t mfirst = 0, mlast = 0;
  int rc = journal_reader_bounds(main, &mfirst, &mlast);
  if (rc) return rc;
  rep->main_first = mfirst;
  struct journal_iter *hit = NULL, *mit = NULL;
  struct journal_record *c = malloc(sizeof *c);
  if (!c) return -ENOMEM;
  if ((rc = journal_iter_begin(hist, 1, &hit)) || (rc = journal_iter_begin(main, mfirst ? mfirst : 1, &mit))) goto out;
  uint64_t mseq = 0, hseq, last_main = 0;
  const uint8_t *mb = NULL, *hb;
  size_t ml = 0, hl;
  int got = journal_iter_next(mit, &mseq, &mb, &ml);
  if (got < 0) { rc = got; goto out; }
  if (got == 0) mseq = 0;
  while ((got = journal_iter_next(hit, &hseq, &hb, &hl)) == 1) {
    uint64_t s;
    unsigned type;
    uint8_t prev[JOURNAL_HASH_BYTES], h[JOURNAL_HASH_BYTES];
    if ((rc = journal_record_peek(hb, hl, &s, &type, prev))) { rc = fail(rep, hseq, 0, "%s", "record does not decode"); goto out; }
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
      if (!journal_type_is_kept(et)) { rc = fail(rep, hseq, cp->main_seq, "the copied record is a %s (not kept)", journal_type_name(et)); goto out; }
    } else {
      rep->named_only++;
    }
    if (!mfirst || cp->main_seq < mfirst) { rep->history_only++; continue; }
    if (cp->main_seq > mlast) { rc = fail(rep, hseq, cp->main_seq, "%s", "copy of a record the main log has not written"); goto out; }
    if ((rc = main_upto(mit, cp->main_seq, &mseq, &mb, &ml, rep, hseq))) goto out;
    if (mseq != cp->main_seq) { rc = fail(rep, hseq, cp->main_seq, "%s", "the main log lacks the record in its range"); goto out; }
    journal_record_hash(mb, ml, h);
    if (memcmp(h, cp->main_hash, sizeof h)) { rc = fail(rep, hseq, cp->main_seq, "%s", "the main log's record differs from the copy"); goto out; }
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
    if (mseq > last_main && journal_record_peek(mb, ml, &s, &type, prev) == 0 && journal_type_is_kept(type)) rep->pending++;
    got = journal_iter_next(mit, &mseq, &mb, &ml);
    if (got < 0) { rc = got; goto out; }
    if (got == 0) mseq = 0;
  }
out:
  journal_iter_end(hit);
  journal_iter_end(mit);
  free(c);
  return rc;
}
