/*
 * index_check.c — the indexes are derived files in the data dir: checked against the records
 * they point to before they are believed.
 *
 * - journal_index_coverage (cheap, every indexed query): the index blocks are contiguous, cover
 *   the journal from its first record to its head, and each is listed under the `seal` type (every
 *   group ends with a seal, so a block without that entry lost its entries).
 * - journal_index_check (`hems verify`): recomputes every record's index keys, block by block
 *   (from the decoded record: index_keys.c; without hashing the records again when the caller's
 *   journal_verify has just checked this snapshot: journal_index_check_opt),
 *   and merges the expected (key, block) entries with the `index` database: an expected entry
 *   that is absent is missing, an entry no record of its block justifies is wrong. A block that
 *   straddles a retention cut keeps entries for its archived records; those are not counted.
 * Nothing here writes; index_rebuild.c rebuilds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store_internal.h"

struct blockset { uint64_t *first, *last; size_t n, cap; };

static int rec_bounds(MDB_txn *txn, const struct journal_dbs *db, uint64_t *first, uint64_t *last)
{
  return journal__rec_bounds(txn, db, first, last);
}

static void say(char *why, size_t cap, const char *fmt, unsigned long long a, unsigned long long b)
  __attribute__((format(printf, 3, 0)));
static void say(char *why, size_t cap, const char *fmt, unsigned long long a, unsigned long long b)
{
  if (why && cap && !why[0]) snprintf(why, cap, fmt, a, b);
}

/* Loads the `blocks` database and checks it is contiguous and covers first..last. */
static int load_blocks(MDB_txn *txn, const struct journal_dbs *db, uint64_t first, uint64_t last,
                       struct blockset *bs, char *why, size_t cap)
{
  MDB_cursor *c;
  MDB_val k, v;
  int rc = mdb_cursor_open(txn, db->blocks, &c);
  if (rc) return journal__lmdb_err(rc);
  int bad = 0;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    if (k.mv_size != 8 || v.mv_size != 8) { say(why, cap, "index block entry malformed%.0llu%.0llu", 0, 0); bad = 1; continue; }
    uint64_t f = journal__rd64(k.mv_data), l = journal__rd64(v.mv_data);
    if (bs->n == bs->cap) {
      size_t nc = bs->cap ? bs->cap * 2 : 256;
      uint64_t *nf = realloc(bs->first, nc * sizeof *nf), *nl = nf ? realloc(bs->last, nc * sizeof *nl) : NULL;
      if (nf) bs->first = nf;
      if (!nl) { mdb_cursor_close(c); return -ENOMEM; }
      bs->last = nl;
      bs->cap = nc;
    }
    if (l < f) { say(why, cap, "index block at seq %llu ends before it starts (%llu)", f, l); bad = 1; continue; }
    if (bs->n && f != bs->last[bs->n - 1] + 1) {
      say(why, cap, "index blocks not contiguous: seq %llu..%llu have no block", bs->last[bs->n - 1] + 1, f - 1);
      bad = 1;
    }
    bs->first[bs->n] = f;
    bs->last[bs->n] = l;
    bs->n++;
  }
  mdb_cursor_close(c);
  if (rc != MDB_NOTFOUND) return journal__lmdb_err(rc);
  if (last && !bs->n) { say(why, cap, "no index blocks for seq %llu..%llu", first, last); bad = 1; }
  else if (last) {
    if (bs->first[0] > first) { say(why, cap, "seq %llu..%llu have no index block", first, bs->first[0] - 1); bad = 1; }
    if (bs->last[0] < first) { say(why, cap, "index block at seq %llu lies before the journal (first seq %llu)", bs->first[0], first); bad = 1; }
    if (bs->last[bs->n - 1] != last)
      { say(why, cap, "index blocks end at seq %llu, the head is %llu", bs->last[bs->n - 1], last); bad = 1; }
  }
  return bad ? JOURNAL_ECORRUPT : 0;
}

static void blockset_free(struct blockset *bs) { free(bs->first); free(bs->last); }

static void key_bytes(uint8_t out[5], uint8_t kind, uint32_t value)
{
  out[0] = kind;
  out[1] = (uint8_t)(value >> 24); out[2] = (uint8_t)(value >> 16); out[3] = (uint8_t)(value >> 8); out[4] = (uint8_t)value;
}

int journal_index_coverage(struct journal_iter *it, char *why, size_t why_cap)
{
  if (why && why_cap) why[0] = 0;
  MDB_txn *txn = it->txn;
  const struct journal_dbs *db = &it->r->db;
  uint64_t first, last;
  int rc = rec_bounds(txn, db, &first, &last);
  struct blockset bs = { 0 };
  if (!rc) rc = load_blocks(txn, db, first, last, &bs, why, why_cap);
  if (!rc && bs.n) {
    /* every block holds a seal: its `seal` type entry must be there */
    MDB_cursor *c;
    uint8_t ik[5];
    key_bytes(ik, JOURNAL_IDX_TYPE, JOURNAL_T_SEAL);
    MDB_val k = { 5, ik }, v;
    if ((rc = mdb_cursor_open(txn, db->index, &c)) != 0) { blockset_free(&bs); return journal__lmdb_err(rc); }
    size_t i = 0;
    int g = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);
    for (; g == 0 && i < bs.n; g = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
      if (v.mv_size != 8) continue;
      uint64_t b = journal__rd64(v.mv_data);
      if (b < bs.first[i]) continue; /* a block retention cut away entirely: pruned with it */
      if (b != bs.first[i]) break;
      i++;
    }
    mdb_cursor_close(c);
    if (i < bs.n) {
      say(why, why_cap, "index block at seq %llu..%llu has lost its entries", bs.first[i], bs.last[i]);
      rc = JOURNAL_ECORRUPT;
    }
  }
  blockset_free(&bs);
  return rc;
}

/* ------------------------------------------------------------------ the full check */

struct entry { uint8_t key[5]; uint64_t block, seq; }; /* seq: first record of the block with the key */

static int entry_cmp(const void *a, const void *b)
{
  const struct entry *x = a, *y = b;
  int c = memcmp(x->key, y->key, 5);
  if (c) return c;
  return x->block < y->block ? -1 : x->block > y->block;
}

static void key_name(const uint8_t k[5], char *buf, size_t cap)
{
  uint32_t v = (uint32_t)k[1] << 24 | (uint32_t)k[2] << 16 | (uint32_t)k[3] << 8 | k[4];
  if (k[0] == JOURNAL_IDX_TYPE) {
    const char *n = journal_type_name(v);
    if (n) snprintf(buf, cap, "type %s", n);
    else snprintf(buf, cap, "type %u", v);
  } else if (k[0] == JOURNAL_IDX_BRANCH) {
    snprintf(buf, cap, "branch %u", v);
  } else if (k[0] == JOURNAL_IDX_SOURCE) {
    struct journal_source s = { .kind = (uint8_t)(v >> 24), .sub = (uint8_t)(v >> 16), .index = (uint16_t)v };
    char t[64];
    if (journal_source_format(&s, t, sizeof t) < 0) snprintf(t, sizeof t, "%08x", v);
    snprintf(buf, cap, "source %s", t);
  } else {
    snprintf(buf, cap, "key %02x:%08x", k[0], v);
  }
}

/* The expected entries: each record's keys, once per block. */
static int expected_entries(MDB_txn *txn, const struct journal_dbs *db, const struct blockset *bs, int mode,
                            struct entry **out, size_t *out_n)
{
  struct journal_rcur c;
  struct pack_cache pc = { 0 };
  int rc = journal__rcur_open(&c, txn, db, &pc, mode, 0);
  if (rc) return rc;
  struct entry *e = NULL;
  size_t n = 0, cap = 0, blk_start = 0, bi = 0;
  /* the block's distinct keys: open addressing over entry index - blk_start + 1 */
  uint32_t *set = calloc(GROUP_KEYSET, sizeof *set);
  if (!set) { journal__rcur_close(&c); journal__pack_cache_free(&pc); return -ENOMEM; }
  uint64_t seq;
  const uint8_t *vb;
  size_t vl;
  while ((rc = journal__rcur_next(&c, &seq, &vb, &vl)) == 1) {
    bool moved = false;
    while (bi < bs->n && seq > bs->last[bi]) { bi++; blk_start = n; moved = true; }
    if (moved) memset(set, 0, GROUP_KEYSET * sizeof *set);
    if (bi == bs->n || seq < bs->first[bi]) continue; /* coverage already reported */
    struct index_key ks[64];
    int nk = journal__record_index_keys(vb, vl, ks, 64);
    for (int i = 0; i < nk; i++) {
      struct entry x;
      key_bytes(x.key, ks[i].kind, ks[i].value);
      x.block = bs->first[bi];
      x.seq = seq;
      uint32_t h = ((ks[i].value * 2654435761u) ^ (uint32_t)ks[i].kind * 40503u) & (GROUP_KEYSET - 1);
      while (set[h] && memcmp(e[blk_start + set[h] - 1].key, x.key, 5) != 0) h = (h + 1) & (GROUP_KEYSET - 1);
      if (set[h]) continue; /* already expected for this block */
      if (n - blk_start >= GROUP_KEYSET / 2) continue; /* more than the writer can index: its put fails */
      set[h] = (uint32_t)(n - blk_start + 1);
      if (n == cap) {
        size_t nc = cap ? cap * 2 : 1024;
        struct entry *ne = realloc(e, nc * sizeof *ne);
        if (!ne) { free(e); free(set); journal__rcur_close(&c); journal__pack_cache_free(&pc); return -ENOMEM; }
        e = ne;
        cap = nc;
      }
      e[n++] = x;
    }
  }
  journal__rcur_close(&c);
  journal__pack_cache_free(&pc);
  free(set);
  if (rc != 0) { free(e); return rc; }
  if (n) qsort(e, n, sizeof *e, entry_cmp); /* e is NULL when nothing was expected */
  *out = e;
  *out_n = n;
  return 0;
}

int journal_index_check(struct journal_iter *it, struct journal_index_report *rep)
{
  return journal_index_check_opt(it, 0, rep);
}

int journal_index_check_opt(struct journal_iter *it, uint64_t verified_last, struct journal_index_report *rep)
{
  memset(rep, 0, sizeof *rep);
  MDB_txn *txn = it->txn;
  const struct journal_dbs *db = &it->r->db;
  uint64_t first, last;
  int rc = rec_bounds(txn, db, &first, &last);
  if (rc) return rc;
  rep->records = last ? last - first + 1 : 0;
  struct blockset bs = { 0 };
  rc = load_blocks(txn, db, first, last, &bs, rep->reason, sizeof rep->reason);
  if (rc && rc != JOURNAL_ECORRUPT) { blockset_free(&bs); return rc; }
  bool coverage_bad = rc != 0;
  rep->blocks = bs.n;
  struct entry *e = NULL;
  size_t n = 0;
  /* Records journal_verify already hashed and chained in this snapshot are read without hashing
   * them again: the keys depend on their content only, which the verifier has vouched for. */
  int mode = last && verified_last == last ? PACK_FAST : PACK_CHECKED;
  if ((rc = expected_entries(txn, db, &bs, mode, &e, &n))) { blockset_free(&bs); return rc; }
  MDB_cursor *c;
  if ((rc = mdb_cursor_open(txn, db->index, &c))) { free(e); blockset_free(&bs); return journal__lmdb_err(rc); }
  MDB_val k, v;
  size_t i = 0;
  char kn[80];
  int g = mdb_cursor_get(c, &k, &v, MDB_FIRST);
  for (;;) {
    bool have_db = g == 0, have_e = i < n;
    if (!have_db && !have_e) break;
    struct entry d = { { 0 }, 0, 0 };
    if (have_db) {
      if (k.mv_size != 5 || v.mv_size != 8) { rep->wrong++; g = mdb_cursor_get(c, &k, &v, MDB_NEXT); continue; }
      memcpy(d.key, k.mv_data, 5);
      d.block = journal__rd64(v.mv_data);
    }
    int cmp = !have_db ? 1 : !have_e ? -1 : entry_cmp(&d, &e[i]);
    if (cmp <= 0) rep->entries++;
    if (cmp == 0) {
      i++;
      g = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    } else if (cmp < 0) {
      /* an entry no record justifies — unless its block straddles the retention cut */
      if (!(bs.n && d.block == bs.first[0] && d.block < first)) {
        if (!rep->reason[0]) {
          key_name(d.key, kn, sizeof kn);
          snprintf(rep->reason, sizeof rep->reason, "index entry %s names the block at seq %llu, which holds no such record",
                   kn, (unsigned long long)d.block);
        }
        rep->wrong++;
      }
      g = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    } else {
      if (!rep->missing) rep->bad_seq = e[i].seq;
      if (!rep->reason[0]) {
        key_name(e[i].key, kn, sizeof kn);
        snprintf(rep->reason, sizeof rep->reason, "index entry %s missing for the block at seq %llu (record seq %llu has it)",
                 kn, (unsigned long long)e[i].block, (unsigned long long)e[i].seq);
      }
      rep->missing++;
      i++;
    }
  }
  mdb_cursor_close(c);
  free(e);
  blockset_free(&bs);
  if (g != 0 && g != MDB_NOTFOUND) return journal__lmdb_err(g);
  return coverage_bad || rep->missing || rep->wrong ? JOURNAL_ECORRUPT : 0;
}
