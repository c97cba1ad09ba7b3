/*
 * read_walk.c — the records a filter passes, in seq order, from whichever source the command
 * was given: a data dir (through its indexes when the filter names a branch, a source or types
 * and the indexes are complete; else a scan), a bundle (checked as it is read: only records a
 * seal proves), or the daemon's timeline op for a dir this user reads through the daemon. Of a
 * data dir, what the main log no longer holds comes first from its long-horizon log.
 * `hems timeline` prints them; other readers (branch names from the config, …) fold them.
 */
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int walk_bundle(struct cli_source *s, const struct cli_filter *f, uint64_t limit, cli_walk_fn emit, void *ctx)
{
  struct journal_record_source *src = cli_source_records(s, 0);
  if (!src) return CLI_ENV;
  const char *why = NULL;
  const uint8_t *b;
  size_t len;
  uint64_t seq, passed = 0;
  int got;
  bool out_done = false;
  /* Read to the end even past the limit: the exit status says the bundle is whole. */
  while ((got = src->next(src->ctx, &seq, &b, &len, &why)) == 1) {
    if (out_done || (limit && passed >= limit) || !cli_filter_matches(f, b, len, seq)) continue;
    if (emit(ctx, b, len)) out_done = true;
    else passed++;
  }
  return got < 0 ? cli_source_damaged(s, why) : CLI_OK;
}

/* Candidate groups from the most selective index: the branch, the source, else the union of
 * the types' lists (deduplicated). Returns the count (≤ cap) or ≤ 0 when none are left. */
static int candidate_groups(struct journal_iter *it, const struct cli_filter *f, uint64_t from, uint64_t *groups, int cap)
{
  if (f->branch) return journal_index_blocks(it, JOURNAL_IDX_BRANCH, f->branch, from, groups, cap);
  if (f->have_source)
    return journal_index_blocks(it, JOURNAL_IDX_SOURCE, journal_index_source_value(&f->source), from, groups, cap);
  uint64_t *best = malloc(sizeof *best * (size_t)cap * JOURNAL_T__MAX);
  if (!best) return -1;
  int nb = 0, n = 0;
  for (unsigned t = 1; t < JOURNAL_T__MAX; t++) {
    if (!f->types[t]) continue;
    int k = journal_index_blocks(it, JOURNAL_IDX_TYPE, t, from, best + nb, cap);
    if (k > 0) nb += k;
  }
  qsort(best, (size_t)nb, sizeof best[0], cmp_u64);
  for (int i = 0; i < nb && n < cap; i++) if (n == 0 || groups[n - 1] != best[i]) groups[n++] = best[i];
  free(best);
  return n;
}

static int walk_dir(struct cli_source *s, const char *dir, const struct cli_filter *f, uint64_t limit, cli_walk_fn emit, void *ctx)
{
  /* what the main log no longer holds, from the long-horizon log (read_history.c) first */
  uint64_t mfirst = 0, mlast = 0, passed = 0;
  journal_reader_bounds(s->reader, &mfirst, &mlast);
  if (dir && !f->main_only && cli_walk_history(dir, mfirst, f, limit, emit, ctx, &passed) != 0) return CLI_OK;
  if (limit && passed >= limit) return CLI_OK;
  if (limit) limit -= passed;
  passed = 0;
  struct journal_iter *it;
  int rc = journal_iter_begin(s->reader, 1, &it);
  if (rc) return cli_open_error(dir, NULL, rc, 0);
  uint64_t start = f->since_seq ? f->since_seq : 1, seq;
  const uint8_t *b;
  size_t len;
  if (f->have_since_t) {
    uint64_t ts;
    if (journal_seek_time(it, f->since_t, &ts) == 0 && ts > start) start = ts;
  }
  bool indexed = f->branch || f->any_type || f->have_source;
  char why[200];
  if (indexed && journal_index_coverage(it, why, sizeof why) != 0) {
    /* the index is a derived file: an incomplete one must not make records vanish */
    cli_err("warning: %s: index incomplete (%s); listing by a full scan ('hems reindex --dir %s' rebuilds it)", dir, why, dir);
    indexed = false;
  }
  if (!indexed) {
    journal_iter_end(it);
    if ((rc = journal_iter_begin(s->reader, start, &it))) return CLI_ENV;
    while ((!limit || passed < limit) && journal_iter_next(it, &seq, &b, &len) == 1) {
      if (f->until_seq && seq > f->until_seq) break;
      if (!cli_filter_matches(f, b, len, seq)) continue;
      if (emit(ctx, b, len)) break;
      passed++;
    }
    journal_iter_end(it);
    return CLI_OK;
  }
  uint64_t from = start, groups[256];
  bool done = false;
  while (!done && (!limit || passed < limit)) {
    int n = candidate_groups(it, f, from, groups, 256);
    if (n <= 0) break;
    for (int gi = 0; gi < n && !done; gi++) {
      uint64_t gf, gl;
      if (journal_index_block_range(it, groups[gi], &gf, &gl)) continue;
      for (uint64_t q = gf > start ? gf : start; q <= gl; q++) {
        if (f->until_seq && q > f->until_seq) { done = true; break; }
        if (journal_iter_get(it, q, &b, &len)) continue;
        if (!cli_filter_matches(f, b, len, q)) continue;
        if (emit(ctx, b, len)) { done = true; break; }
        if (limit && ++passed >= limit) { done = true; break; }
      }
      from = gl + 1;
    }
  }
  journal_iter_end(it);
  return CLI_OK;
}

int cli_walk_source(struct cli_source *s, const char *dir, const struct cli_filter *f, uint64_t limit,
                    cli_walk_fn emit, void *ctx)
{
  return s->bundle ? walk_bundle(s, f, limit, emit, ctx) : walk_dir(s, dir, f, limit, emit, ctx);
}

int cli_walk(const struct cli_common *c, const char *pubkey, const char *fpr, const struct cli_filter *f,
             uint64_t limit, cli_walk_fn emit, void *ctx)
{
  if (!c->bundle && cli_read_through_daemon(c->dir)) return cli_daemon_timeline(c->dir, f, limit, emit, ctx);
  struct cli_source s;
  int rc = cli_source_open(c, pubkey, fpr, &s);
  if (rc) return rc;
  rc = cli_walk_source(&s, c->dir, f, limit, emit, ctx);
  cli_source_close(&s);
  return rc;
}
