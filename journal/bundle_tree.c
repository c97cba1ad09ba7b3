/*
 * bundle_tree.c — reading a format-3 bundle's tree entry (kind 4; docs/journal.md "Bundles")
 * and extending the tree it starts from by the bundle's records.
 *
 * Entry payload (big-endian):
 *   u64 start_size (= first_seq - 1) | u8 nf | nf × 32 frontier hashes |
 *   u64 close_size | u32 note_len | note (the head's signed note, ≤ JOURNAL_TLOG_NOTE_MAX) |
 *   u8 np (1 … JOURNAL_BUNDLE_PROOFS_MAX) | np × ( u64 old_size | u8 n (≤ 64) | n × 32 )
 * The frontier is the complete subtrees of the tree of start_size leaves, largest (leftmost)
 * first: one per set bit of start_size (nf must equal its popcount). Every proof is to the
 * head's size; the first is from close_size. Every count is checked against the bytes left
 * before anything is kept, so a hostile entry costs at most its own length.
 *
 * Invariant while reading: the appender holds the tree of the records before the next one
 * (size = next seq - 1); a v 3 seal at seq q whose tree_root is not all zero must carry the
 * root of size q - 1, or the bundle is damaged (JOURNAL_EPROOF).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "bundle_format.h"
#include "codec_internal.h"
#include "store_internal.h"

_Static_assert(JOURNAL_MERKLE_PROOF_MAX == 64, "journal_bundle_proof.hashes");

struct bundle_tree_state {
  struct journal_bundle_tree info;
  struct journal_bundle_proof proofs[JOURNAL_BUNDLE_PROOFS_MAX];
  struct journal_bundle_witnessed wit[JOURNAL_BUNDLE_WITNESSED_MAX];
  char note[JOURNAL_TLOG_NOTE_MAX];
  struct journal_merkle_hasher h;
  struct journal_merkle_appender a;
  bool started;
};

struct rd { const uint8_t *p; uint32_t n, pos; bool bad; };

static uint64_t rd64(struct rd *r)
{
  if (r->n - r->pos < 8) { r->bad = true; return 0; }
  uint64_t v = journal__rd64(r->p + r->pos);
  r->pos += 8;
  return v;
}

static unsigned rd8(struct rd *r)
{
  if (r->n - r->pos < 1) { r->bad = true; return 0; }
  return r->p[r->pos++];
}

static const uint8_t *rdn(struct rd *r, size_t len)
{
  if (r->bad || r->n - r->pos < len) { r->bad = true; return NULL; }
  const uint8_t *q = r->p + r->pos;
  r->pos += (uint32_t)len;
  return q;
}

/* The head note's size and root (the body ends at the last blank line). */
static int head_of(struct bundle_tree_state *t)
{
  const char *s = t->note;
  size_t len = t->info.head_note_len, body = 0;
  for (size_t i = 1; i < len; i++)
    if (s[i] == '\n' && s[i - 1] == '\n') body = i;
  struct journal_tlog_checkpoint c;
  if (body == 0 || journal_tlog_checkpoint_parse(s, body, &c) != 0 || c.size == 0) return JOURNAL_EBUNDLE;
  t->info.head_size = c.size;
  memcpy(t->info.head_root, c.root, JOURNAL_HASH_BYTES);
  return 0;
}

int bundle_tree_parse(struct bundle_tree_state **out, uint64_t first_seq, const uint8_t *p, uint32_t n, const char **why)
{
  struct bundle_tree_state *t = calloc(1, sizeof *t);
  if (!t) return -ENOMEM;
  struct rd r = { p, n, 0, false };
  *why = "tree entry malformed";
  int rc = JOURNAL_EBUNDLE;
  uint64_t start = rd64(&r);
  unsigned nf = rd8(&r);
  if (r.bad || start != first_seq - 1 || nf != (unsigned)__builtin_popcountll(start)) { *why = "tree entry: frontier does not match the first seq"; goto fail; }
  if (journal_merkle_hasher_init(&t->h)) { rc = -ENOMEM; goto fail; }
  journal_merkle_appender_init(&t->a, &t->h, NULL, NULL);
  unsigned k = 64;
  for (unsigned i = 0; i < nf; i++) {
    while (k > 0 && !((start >> (k - 1)) & 1)) k--;
    const uint8_t *hsh = rdn(&r, JOURNAL_HASH_BYTES);
    if (!hsh) goto fail;
    memcpy(t->a.edge[--k], hsh, JOURNAL_HASH_BYTES);
  }
  t->a.size = start;
  t->info.start_size = start;
  t->info.close_size = rd64(&r);
  uint64_t nl = r.bad ? 0 : (r.n - r.pos >= 4 ? bundle_rd32(r.p + r.pos) : (r.bad = true, 0));
  r.pos += r.bad ? 0 : 4;
  if (r.bad || t->info.close_size < start || nl == 0 || nl > sizeof t->note) { *why = "tree entry: closing size or head note length implausible"; goto fail; }
  const uint8_t *note = rdn(&r, nl);
  if (!note) goto fail;
  memcpy(t->note, note, nl);
  t->info.head_note = t->note;
  t->info.head_note_len = nl;
  if (head_of(t)) { *why = "tree entry: head checkpoint malformed"; goto fail; }
  unsigned np = rd8(&r);
  if (np == 0 || np > JOURNAL_BUNDLE_PROOFS_MAX) { *why = "tree entry: proof count implausible"; goto fail; }
  for (unsigned i = 0; i < np; i++) {
    struct journal_bundle_proof *pr = &t->proofs[i];
    pr->old_size = rd64(&r);
    pr->new_size = t->info.head_size;
    pr->n = rd8(&r);
    if (r.bad || pr->n > JOURNAL_MERKLE_PROOF_MAX || pr->old_size == 0 || pr->old_size > pr->new_size ||
        (i == 0 && pr->old_size != t->info.close_size)) { *why = "tree entry: a proof's size or length implausible"; goto fail; }
    const uint8_t *hs = rdn(&r, (size_t)pr->n * JOURNAL_HASH_BYTES);
    if (!hs) goto fail;
    memcpy(pr->hashes, hs, (size_t)pr->n * JOURNAL_HASH_BYTES);
  }
  if (r.bad || r.pos != r.n) { *why = "tree entry: bytes left over"; goto fail; }
  t->info.nproofs = np;
  t->info.proofs = t->proofs;
  *out = t;
  return 0;
fail:
  bundle_tree_free(t);
  return rc;
}

static void keep_root(struct bundle_tree_state *t)
{
  struct journal_bundle_tree *i = &t->info;
  if (t->a.size == i->close_size && !i->close_known) i->close_known = journal_merkle_appender_root(&t->a, i->close_root) == 0;
  if (i->watch_size && t->a.size == i->watch_size && !i->watch_known)
    i->watch_known = journal_merkle_appender_root(&t->a, i->watch_root) == 0;
}

int bundle_tree_record(struct bundle_tree_state *t, uint64_t seq, const uint8_t *bytes, size_t len, const char **why)
{
  if (seq - 1 != t->a.size) { *why = "records out of order for the tree"; return JOURNAL_EPROOF; }
  keep_root(t);
  uint64_t s;
  unsigned type;
  uint8_t prev[32];
  if (journal_record_peek(bytes, len, &s, &type, prev) == 0 && (type == JOURNAL_T_SEAL || !t->started)) {
    struct journal_record r;
    if (journal_record_decode(bytes, len, &r) == 0) {
      if (!t->started) t->info.first_wall_ns = r.wall_ns;
      if (r.type == JOURNAL_T_SEAL) {
        static const uint8_t zero[JOURNAL_HASH_BYTES];
        uint8_t root[JOURNAL_HASH_BYTES];
        t->info.last_wall_ns = r.wall_ns;
        if (r.version >= 3 && memcmp(r.body.seal.tree_root, zero, sizeof zero) != 0 &&
            (journal_merkle_appender_root(&t->a, root) != 0 || memcmp(root, r.body.seal.tree_root, sizeof root) != 0)) {
          *why = "a seal's tree_root is not the root of the bundle's frontier and the records before it";
          return JOURNAL_EPROOF;
        }
      }
    }
  }
  t->started = true;
  t->info.last_seq = seq;
  uint8_t leaf[JOURNAL_HASH_BYTES];
  journal_merkle_leaf_hash(&t->h, bytes, len, leaf);
  if (journal_merkle_append(&t->a, leaf)) { *why = "hashing failed"; return -EIO; }
  return 0;
}

void bundle_tree_end(struct bundle_tree_state *t)
{
  keep_root(t);
}

int bundle_tree_witnessed(struct bundle_tree_state *t, const uint8_t *p, uint32_t n, const char **why)
{
  if (t->started || t->info.nwitnessed == JOURNAL_BUNDLE_WITNESSED_MAX) { *why = "witnessed entry out of place"; return JOURNAL_EBUNDLE; }
  int rc = bundle_witnessed_parse(&t->wit[t->info.nwitnessed], p, n, why);
  if (rc) return rc;
  t->info.nwitnessed++;
  t->info.witnessed = t->wit;
  return 0;
}

void bundle_tree_free(struct bundle_tree_state *t)
{
  if (!t) return;
  for (unsigned i = 0; i < t->info.nwitnessed; i++) free((void *)t->wit[i].note);
  journal_merkle_hasher_deinit(&t->h);
  free(t);
}

const struct journal_bundle_tree *bundle_tree_info(struct bundle_tree_state *t) { return &t->info; }

void bundle_tree_watch(struct bundle_tree_state *t, uint64_t size)
{
  if (size >= t->info.start_size && size <= t->info.close_size) t->info.watch_size = size;
}
