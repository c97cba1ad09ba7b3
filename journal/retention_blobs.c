/*
 * retention_blobs.c — the blobs a retention cut removes: those that only records up to the cut
 * name (waveform captures of pq_event / trip_tap records; the archive carries them with their
 * records). Blobs are content addressed, so two records may name one blob: every blob a record
 * after the cut names stays. Runs in the cut's transaction, before the records go.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "codec_internal.h"
#include "pack_internal.h"
#include "store_internal.h"

typedef uint8_t hash_t[JOURNAL_HASH_BYTES];

static int cmp_hash(const void *a, const void *b) { return memcmp(a, b, JOURNAL_HASH_BYTES); }

int journal__prune_blobs(MDB_txn *txn, const struct journal_dbs *db, uint64_t first, uint64_t cut)
{
  struct pack_cache pc = { 0 };
  struct journal_rcur cur;
  hash_t *set = NULL;
  bool *keep = NULL;
  size_t n = 0, cap = 0;
  uint64_t seq;
  const uint8_t *b, *h;
  size_t len;
  int rc = journal__rcur_open(&cur, txn, db, &pc, PACK_FAST, first);
  if (rc) { journal__pack_cache_free(&pc); return rc; }
  int got;
  /* the blobs the cut records name */
  while ((got = journal__rcur_next(&cur, &seq, &b, &len)) == 1 && seq <= cut) {
    if (!journal__record_capture(b, len, &h)) continue;
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 64;
      hash_t *q = realloc(set, nc * sizeof *q);
      if (!q) { got = -ENOMEM; break; }
      set = q;
      cap = nc;
    }
    memcpy(set[n++], h, JOURNAL_HASH_BYTES);
  }
  if (got >= 0 && n) {
    qsort(set, n, sizeof *set, cmp_hash);
    size_t u = 1;
    for (size_t i = 1; i < n; i++)
      if (memcmp(set[i], set[u - 1], JOURNAL_HASH_BYTES)) memcpy(set[u++], set[i], JOURNAL_HASH_BYTES);
    n = u;
    if (!(keep = calloc(n, sizeof *keep))) got = -ENOMEM;
    /* the record the loop stopped at (the first after the cut), then the rest */
    for (; got == 1; got = journal__rcur_next(&cur, &seq, &b, &len)) {
      if (seq <= cut || !journal__record_capture(b, len, &h)) continue;
      hash_t *f = bsearch(h, set, n, sizeof *set, cmp_hash);
      if (f) keep[f - set] = true;
    }
  }
  journal__rcur_close(&cur);
  journal__pack_cache_free(&pc);
  rc = got < 0 ? got : 0;
  for (size_t i = 0; i < n && !rc; i++) {
    if (keep[i]) continue;
    MDB_val k = { JOURNAL_HASH_BYTES, set[i] };
    int d = mdb_del(txn, db->blobs, &k, NULL);
    if (d && d != MDB_NOTFOUND) rc = journal__lmdb_err(d);
  }
  free(set);
  free(keep);
  return rc;
}
