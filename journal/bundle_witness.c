/*
 * bundle_witness.c — the witnessed entries of a format-3 bundle (kind 5; docs/journal.md "The
 * witnessed entries"): witness cosignatures the journal holds of checkpoints at or after the
 * bundle's closing size, carried so `hems verify BUNDLE --witness WVKEY` can check that the
 * range was witnessed (a witness record is journaled after the seal it cosigns, so it is never
 * inside the range it covers).
 *
 * Payload (big-endian): u32 note_len (1 … JOURNAL_TLOG_NOTE_MAX) | note: the checkpoint the
 * journal signed at size T (the seal at seq T + 1) with the witness's C2SP cosignature line
 * appended | u8 n (≤ 64) | n × 32: the RFC 9162 proof from T to the head's size. At most
 * JOURNAL_BUNDLE_WITNESSED_MAX entries, after the tree entry, before any record. The exporter
 * takes, per witness (name and key), the witness record with the largest size from the closing
 * size to the head's, journaled after the range; nothing here is trusted by the reader: the
 * caller opens the note with the panel's and the witness's keys and checks the proof.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "bundle_format.h"
#include "codec_internal.h"
#include "pack_internal.h"
#include "store_internal.h"

/* ------------------------------------------------------------------ reading */

int bundle_witnessed_parse(struct journal_bundle_witnessed *w, const uint8_t *p, uint32_t n, const char **why)
{
  *why = "witnessed entry malformed";
  if (n < 5) return JOURNAL_EBUNDLE;
  uint32_t nl = bundle_rd32(p);
  if (nl == 0 || nl > JOURNAL_TLOG_NOTE_MAX || nl > n - 5) return JOURNAL_EBUNDLE;
  unsigned k = p[4 + nl];
  if (k > JOURNAL_MERKLE_PROOF_MAX || (size_t)n != 5 + (size_t)nl + 32 * (size_t)k) return JOURNAL_EBUNDLE;
  char *note = malloc(nl);
  if (!note) return -ENOMEM;
  memcpy(note, p + 4, nl);
  w->note = note;
  w->note_len = nl;
  w->n = k;
  memcpy(w->proof, p + 5 + nl, 32 * (size_t)k);
  return 0;
}

/* ------------------------------------------------------------------ writing */

struct pick { char name[JOURNAL_TLOG_NAME_MAX + 1]; struct journal_witness w; };

/* The newest cosignature per witness among the records after `to`, of sizes close … head. */
static int collect(struct journal_iter *it, uint64_t to, uint64_t close_size, uint64_t head_size, struct pick *picks,
                   unsigned *np)
{
  int rc = journal__iter_restart(it, to + 1, PACK_CHECKED);
  if (rc) return rc == JOURNAL_ENOTFOUND ? 0 : rc;
  uint64_t seq;
  const uint8_t *b;
  size_t len;
  while ((rc = journal_iter_next(it, &seq, &b, &len)) == 1) {
    uint64_t s;
    unsigned type;
    uint8_t prev[32];
    if (journal_record_peek(b, len, &s, &type, prev) != 0 || type != JOURNAL_T_WITNESS) continue;
    struct journal_record r;
    if (journal_record_decode(b, len, &r) != 0) continue;
    const struct journal_witness *w = &r.body.witness;
    if (w->tree_size < close_size || w->tree_size > head_size || w->name.len == 0 || w->name.len > JOURNAL_TLOG_NAME_MAX)
      continue;
    unsigned i = 0;
    while (i < *np && !(strlen(picks[i].name) == w->name.len && !memcmp(picks[i].name, w->name.ptr, w->name.len) &&
                        !memcmp(picks[i].w.pubkey, w->pubkey, JOURNAL_PUBKEY_BYTES)))
      i++;
    if (i == *np) {
      if (*np == JOURNAL_BUNDLE_WITNESSED_MAX) continue;
      (*np)++;
    } else if (picks[i].w.tree_size > w->tree_size) {
      continue;
    }
    memcpy(picks[i].name, w->name.ptr, w->name.len);
    picks[i].name[w->name.len] = 0;
    picks[i].w = *w;
    picks[i].w.name = (struct journal_slice){ NULL, 0 };
  }
  return rc < 0 ? rc : 0;
}

int bundle_witnessed_build(struct journal_iter *it, struct journal_merkle_hasher *h, const struct journal_merkle_tile_reader *rd,
                           const uint8_t pubkey[32], const char *device_id, uint64_t to, uint64_t close_size,
                           uint64_t head_size, const uint8_t head_root[32], uint8_t **out, size_t *out_len)
{
  struct pick picks[JOURNAL_BUNDLE_WITNESSED_MAX];
  unsigned np = 0;
  *out = NULL;
  *out_len = 0;
  int rc = collect(it, to, close_size, head_size, picks, &np);
  if (rc || np == 0) return rc;
  size_t cap = np * (5 + 5 + JOURNAL_TLOG_NOTE_MAX + 1 + 32 * JOURNAL_MERKLE_PROOF_MAX), len = 0;
  uint8_t *buf = malloc(cap);
  if (!buf) return -ENOMEM;
  for (unsigned i = 0; i < np && !rc; i++) {
    const struct journal_witness *w = &picks[i].w;
    const uint8_t *b;
    size_t bl;
    struct journal_record seal;
    char note[JOURNAL_TLOG_NOTE_MAX];
    /* the checkpoint the journal signed at that size, and the witness's line under it */
    if (journal_iter_get(it, w->tree_size + 1, &b, &bl) != 0 || journal_record_decode(b, bl, &seal) != 0 ||
        seal.type != JOURNAL_T_SEAL || seal.version < 3 || seal.body.seal.sealed_seq != w->tree_size ||
        journal_seal_verify(&seal, device_id, pubkey) != 0)
      continue; /* a cosignature of no checkpoint this key signed: not carried */
    int nl = journal_seal_note(&seal, device_id, pubkey, note, sizeof note);
    struct journal_tlog_verifier v;
    if (nl < 0 || journal_tlog_verifier_init(&v, picks[i].name, JOURNAL_TLOG_COSIG_V1, w->pubkey) != 0) continue;
    uint8_t raw[4 + 8 + JOURNAL_SIG_BYTES];
    for (int k = 0; k < 4; k++) raw[k] = (uint8_t)(v.key_hash >> (24 - 8 * k));
    for (int k = 0; k < 8; k++) raw[4 + k] = (uint8_t)(w->timestamp >> (56 - 8 * k));
    memcpy(raw + 12, w->sig, JOURNAL_SIG_BYTES);
    char b64[128];
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    int m = snprintf(note + nl, sizeof note - (size_t)nl, "\xe2\x80\x94 %s %s\n", picks[i].name, b64);
    if (m < 0 || (size_t)m >= sizeof note - (size_t)nl) continue;
    nl += m;
    uint8_t root[32], p[JOURNAL_MERKLE_PROOF_MAX][32];
    unsigned n = 0;
    rc = journal_merkle_root(h, rd, w->tree_size, root);
    if (!rc) rc = journal_merkle_prove_consistency(h, rd, w->tree_size, head_size, p, &n);
    if (!rc) rc = journal_merkle_verify_consistency(h, w->tree_size, root, head_size, head_root, (const uint8_t(*)[32])p, n);
    if (rc) { rc = rc == JOURNAL_ENOTFOUND ? JOURNAL_EPROOF : rc; break; }
    uint32_t plen = 4 + (uint32_t)nl + 1 + 32 * n;
    buf[len] = BUNDLE_E_WITNESSED;
    bundle_be32(buf + len + 1, plen);
    bundle_be32(buf + len + 5, (uint32_t)nl);
    memcpy(buf + len + 9, note, (size_t)nl);
    buf[len + 9 + nl] = (uint8_t)n;
    memcpy(buf + len + 10 + nl, p, 32 * (size_t)n);
    len += 5 + plen;
  }
  if (rc || len == 0) { free(buf); return rc; }
  *out = buf;
  *out_len = len;
  return 0;
}
