/*
 * read_history.c — the part of a listing the main log no longer holds, from the long-horizon
 * log (DIR/history, journal.h journal_history): its copies of main-log records before the main
 * log's first seq, unwrapped, so `hems timeline` (and the readers built on cli_walk: plot,
 * report) print them as the main log printed them, under their main seq. Copies are in main seq
 * order, and a copy is never older than its record, so a --since time seeks in the history too.
 */
#include <stdlib.h>
#include "cli.h"

int cli_walk_history(const char *dir, uint64_t main_first, const struct cli_filter *f, uint64_t limit, cli_walk_fn emit,
                     void *ctx, uint64_t *passed)
{
  *passed = 0;
  if (main_first <= 1 || (f->since_seq && f->since_seq >= main_first) || !journal_history_exists(dir)) return 0;
  char hdir[4200];
  if (journal_history_path(dir, hdir, sizeof hdir)) return 0;
  struct journal_reader *hr;
  int rc = journal_reader_open(&hr, hdir, NULL, false);
  if (rc) {
    cli_err("warning: %s: %s; listing the main log only (from seq %llu)", hdir, journal_strerror(rc), (unsigned long long)main_first);
    return 0;
  }
  struct journal_iter *it;
  uint64_t start = 1;
  if ((rc = journal_iter_begin(hr, 1, &it)) == 0) {
    uint64_t ts;
    if (f->have_since_t && journal_seek_time(it, f->since_t, &ts) == 0 && ts > start) start = ts;
    journal_iter_end(it);
  }
  struct journal_record *c = malloc(sizeof *c);
  if (!rc && c && (rc = journal_iter_begin(hr, start, &it)) == 0) {
    uint64_t seq;
    const uint8_t *b;
    size_t len;
    while ((!limit || *passed < limit) && journal_iter_next(it, &seq, &b, &len) == 1) {
      uint64_t s;
      unsigned type;
      uint8_t prev[JOURNAL_HASH_BYTES];
      if (journal_record_peek(b, len, &s, &type, prev) != 0 || type != JOURNAL_T_COPY) continue;
      if (journal_record_decode(b, len, c) != 0) continue;
      const struct journal_copy *cp = &c->body.copy;
      if (cp->main_seq >= main_first || (f->until_seq && cp->main_seq > f->until_seq)) break;
      if (!cp->record.len || (f->since_seq && cp->main_seq < f->since_seq)) continue;
      if (!cli_filter_matches(f, cp->record.ptr, cp->record.len, cp->main_seq)) continue;
      if (emit(ctx, cp->record.ptr, cp->record.len)) { rc = 1; break; }
      (*passed)++;
    }
    journal_iter_end(it);
  }
  free(c);
  journal_reader_close(hr);
  return rc == 1 ? 1 : 0;
}
