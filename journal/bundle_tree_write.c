/*
 * bundle_tree_write.c — the tree entry of a format-3 bundle (layout in bundle_tree.c and
 * docs/journal.md "Bundles"), built from the data dir's stored tiles inside the export's read
 * snapshot.
 *
 * The head is the newest seal of the journal at export; the closing size is the exported
 * range's last seal's seq - 1; the frontier is the tree at first_seq - 1. Nothing is written on
 * the tiles' word: the head seal must verify with the exporting key, the root of the closing
 * size must be proven consistent with the head seal's tree_root, and so must every extra size's
 * root; otherwise the export stops (JOURNAL_EPROOF) before a byte is written.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "bundle_format.h"
#include "store_internal.h"

typedef uint8_t hash_t[JOURNAL_HASH_BYTES];

struct tw { uint8_t *p; size_t len, cap; };

static void put(struct tw *w, const void *d, size_t n)
{
  if (w->len + n <= w->cap) memcpy(w->p + w->len, d, n);
  w->len += n;
}

static void put64(struct tw *w, uint64_t v)
{
  uint8_t b[8];
  journal__be64(b, v);
  put(w, b, 8);
}

static void put8(struct tw *w, unsigned v)
{
  uint8_t b = (uint8_t)v;
  put(w, &b, 1);
}

/* A proven consistency proof from old_size to the head: old_size's root from the tiles, the
 * proof from the tiles, verified against the head's signed root. */
static int proof_to_head(struct journal_merkle_hasher *h, const struct journal_merkle_tile_reader *rd, uint64_t old_size,
                         uint64_t head_size, const uint8_t head_root[32], struct tw *w)
{
  hash_t root, p[JOURNAL_MERKLE_PROOF_MAX];
  unsigned n = 0;
  int rc = journal_merkle_root(h, rd, old_size, root);
  if (!rc) rc = journal_merkle_prove_consistency(h, rd, old_size, head_size, p, &n);
  if (!rc) rc = journal_merkle_verify_consistency(h, old_size, root, head_size, head_root, (const hash_t *)p, n);
  if (rc) return rc == JOURNAL_ENOTFOUND ? JOURNAL_EPROOF : rc;
  put64(w, old_size);
  put8(w, n);
  put(w, p, (size_t)n * JOURNAL_HASH_BYTES);
  return 0;
}

int bundle_tree_build(struct journal_iter *it, const uint8_t pubkey[32], const char *device_id, uint64_t from, uint64_t to,
                      uint64_t last, const uint64_t *extra, unsigned nextra, uint8_t **out, size_t *out_len,
                      uint64_t *head_size_out, uint8_t **wit, size_t *wit_len)
{
  *out = NULL;
  *out_len = 0;
  *wit = NULL;
  *wit_len = 0;
  if (nextra > JOURNAL_BUNDLE_PROOFS_MAX - 1) return -ERANGE;
  uint64_t gfirst, head_seq;
  const uint8_t *b;
  size_t len;
  struct journal_record head;
  static const uint8_t zero[JOURNAL_HASH_BYTES];
  if (journal_group_of(it, last, &gfirst, &head_seq) != 0 || journal_iter_get(it, head_seq, &b, &len) != 0 ||
      journal_record_decode(b, len, &head) != 0 || head.type != JOURNAL_T_SEAL)
    return JOURNAL_ECORRUPT;
  uint64_t close_size = to - 1, head_size = head.body.seal.sealed_seq, start = from - 1;
  /* a v 1 head signs no checkpoint: the bundle is written in format 2, without a tree entry */
  if (head.version < 3 || memcmp(head.body.seal.tree_root, zero, sizeof zero) == 0 || close_size == 0) return 0;
  if (head_size != head_seq - 1 || close_size > head_size) return JOURNAL_ECORRUPT;
  if (journal_seal_verify(&head, device_id, pubkey) != 0) return JOURNAL_EBADSIG;
  for (unsigned i = 0; i < nextra; i++)
    if (extra[i] == 0 || extra[i] > head_size) return -ERANGE;
  char note[JOURNAL_TLOG_NOTE_MAX];
  int nl = journal_seal_note(&head, device_id, pubkey, note, sizeof note);
  if (nl < 0) return nl;
  struct journal_merkle_hasher h;
  struct journal_merkle_records rs;
  if (journal_merkle_hasher_init(&h)) return -ENOMEM;
  struct journal_merkle_tile_reader rd = journal_iter_tile_reader(it, &h, &rs);
  size_t cap = 8 + 1 + 64 * 32 + 8 + 4 + (size_t)nl + 1 + (size_t)(1 + nextra) * (9 + JOURNAL_MERKLE_PROOF_MAX * 32);
  struct tw w = { malloc(cap), 0, cap };
  int rc = w.p ? 0 : -ENOMEM;
  if (!rc) {
    put64(&w, start);
    put8(&w, (unsigned)__builtin_popcountll(start));
    for (int k = 63; k >= 0 && !rc; k--) {
      if (!((start >> k) & 1)) continue;
      hash_t e;
      rc = journal_merkle_stored_hash(&h, &rd, (unsigned)k, (start >> k) - 1, e);
      put(&w, e, sizeof e);
    }
  }
  if (rc == JOURNAL_ENOTFOUND) rc = JOURNAL_EPROOF;
  if (!rc) {
    uint8_t l[4];
    put64(&w, close_size);
    bundle_be32(l, (uint32_t)nl);
    put(&w, l, 4);
    put(&w, note, (size_t)nl);
    put8(&w, 1 + nextra);
    rc = proof_to_head(&h, &rd, close_size, head_size, head.body.seal.tree_root, &w);
    for (unsigned i = 0; i < nextra && !rc; i++) rc = proof_to_head(&h, &rd, extra[i], head_size, head.body.seal.tree_root, &w);
  }
  if (!rc) rc = bundle_witnessed_build(it, &h, &rd, pubkey, device_id, to, close_size, head_size, head.body.seal.tree_root,
                                       wit, wit_len);
  journal_merkle_hasher_deinit(&h);
  if (!rc && w.len > w.cap) rc = -EOVERFLOW;
  if (rc) { free(w.p); free(*wit); *wit = NULL; return rc; }
  *out = w.p;
  *out_len = w.len;
  *head_size_out = head_size;
  return 0;
}
