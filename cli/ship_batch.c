/*
 * ship_batch.c — a batch of records as `hems ship` publishes it, and its envelope (the layout
 * is in ship.h and docs/fleet.md). The records are kept as the CBOR sequence that gets
 * compressed, so the envelope is one zstd call and a few CBOR heads: libcbor writes every head
 * in its shortest form and the keys go out in ascending order, so the envelope is deterministic
 * CBOR (RFC 8949 §4.2.1) and the same batch always has the same bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <cbor.h>
#include <sodium.h>
#include <zstd.h>
#include "journal.h"
#include "ship.h"

void ship_batch_init(struct ship_batch *b) { memset(b, 0, sizeof *b); }

void ship_batch_deinit(struct ship_batch *b)
{
  free(b->raw);
  if (b->hasher) journal_merkle_hasher_deinit(b->hasher);
  free(b->hasher);
  memset(b, 0, sizeof *b);
}

void ship_batch_reset(struct ship_batch *b)
{
  b->len = b->rec_bytes = 0;
  b->first_seq = b->count = b->withheld = 0;
  b->ends_at_seal = false;
}

int ship_withhold_parse(const char *types, uint64_t *mask, char *why, size_t why_cap)
{
  /* what a head-end needs to verify the rest: seals (their signatures and tree roots), key
   * records (whose key signs later seals), and the boot, config and retention records that say
   * what the journal is */
  static const unsigned never[] = { JOURNAL_T_SEAL, JOURNAL_T_KEY, JOURNAL_T_BOOT, JOURNAL_T_CONFIG, JOURNAL_T_RETENTION };
  *mask = 0;
  char buf[256];
  if (snprintf(buf, sizeof buf, "%s", types) >= (int)sizeof buf) { snprintf(why, why_cap, "too long"); return -EINVAL; }
  char *save = NULL;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    unsigned type = journal_type_from_name(t);
    if (!type || type >= 64) { snprintf(why, why_cap, "%s: not a record type", t); return -EINVAL; }
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
      if (type == never[i]) { snprintf(why, why_cap, "%s: always shipped (the head-end verifies the rest with it)", t); return -EINVAL; }
    *mask |= 1ull << type;
  }
  if (!*mask) { snprintf(why, why_cap, "no record type named"); return -EINVAL; }
  return 0;
}

static int grow(uint8_t **p, size_t *cap, size_t need)
{
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 65536;
  while (c < need) c *= 2;
  uint8_t *q = realloc(*p, c);
  if (!q) return -ENOMEM;
  *p = q;
  *cap = c;
  return 0;
}

/* The record's leaf hash in its place: [h'…'] (an array of one 32-byte string). */
static int add_withheld(struct ship_batch *b, const uint8_t *rec, size_t len)
{
  if (!b->hasher) {
    if (!(b->hasher = calloc(1, sizeof *b->hasher))) return -ENOMEM;
    if (journal_merkle_hasher_init(b->hasher)) { free(b->hasher); b->hasher = NULL; return -ENOMEM; }
  }
  uint8_t *p = b->raw + b->len;
  p[0] = 0x81; /* array(1) */
  p[1] = 0x58; /* bstr, one-byte length */
  p[2] = JOURNAL_HASH_BYTES;
  journal_merkle_leaf_hash(b->hasher, rec, len, p + 3);
  if (b->hasher->failed) return -EIO;
  b->len += 3 + JOURNAL_HASH_BYTES;
  b->withheld++;
  return 0;
}

int ship_batch_add(struct ship_batch *b, const uint8_t *rec, size_t len, uint64_t seq, bool is_seal)
{
  if (grow(&b->raw, &b->cap, b->len + 9 + len)) return -ENOMEM;
  if (!b->count) b->first_seq = seq;
  uint64_t pseq;
  unsigned type;
  uint8_t prev[JOURNAL_HASH_BYTES];
  if (b->withhold && !is_seal && journal_record_peek(rec, len, &pseq, &type, prev) == 0 && type < 64 &&
      (b->withhold >> type & 1)) {
    int rc = add_withheld(b, rec, len);
    if (rc) return rc;
    b->last_off = b->len; /* no record bytes: a withheld record is never a seal */
    b->last_len = 0;
    b->rec_bytes += len;
    b->count++;
    b->ends_at_seal = false;
    return 0;
  }
  b->len += cbor_encode_bytestring_start(len, b->raw + b->len, 9);
  b->last_off = b->len;
  b->last_len = len;
  memcpy(b->raw + b->len, rec, len);
  b->len += len;
  b->rec_bytes += len;
  b->count++;
  b->ends_at_seal = is_seal;
  return 0;
}

bool ship_is_seal(const uint8_t *rec, size_t len)
{
  uint64_t seq;
  unsigned type;
  uint8_t prev[JOURNAL_HASH_BYTES];
  return journal_record_peek(rec, len, &seq, &type, prev) == 0 && type == JOURNAL_T_SEAL;
}

bool ship_batch_full(const struct ship_batch *b)
{
  return b->count >= SHIP_BATCH_RECORDS || b->rec_bytes >= SHIP_BATCH_BYTES;
}

/* Key 5 a sealed box of the zstd frame of b, key 6 the recipient's key id, after the n bytes
 * of e (which has room for them). The new length, or 0 when zstd fails. */
static size_t sealed_tail(const struct ship_batch *b, uint8_t *e, size_t n, size_t cap)
{
  size_t bound = ZSTD_compressBound(b->len);
  uint8_t *z = malloc(bound);
  if (!z) return 0;
  size_t zl = ZSTD_compress(z, bound, b->raw, b->len, SHIP_ZSTD_LEVEL);
  if (ZSTD_isError(zl)) { free(z); return 0; }
  n += cbor_encode_uint(5, e + n, cap - n);
  n += cbor_encode_bytestring_start(zl + crypto_box_SEALBYTES, e + n, cap - n);
  int rc = crypto_box_seal(e + n, z, zl, b->seal_to);
  sodium_memzero(z, bound);
  free(z);
  if (rc) return 0;
  n += zl + crypto_box_SEALBYTES;
  n += cbor_encode_uint(6, e + n, cap - n);
  n += cbor_encode_bytestring_start(JOURNAL_SEAL_KEYID_BYTES, e + n, cap - n);
  journal_seal_keyid(b->seal_to, e + n);
  return n + JOURNAL_SEAL_KEYID_BYTES;
}

int ship_batch_envelope(const struct ship_batch *b, const uint8_t device[SHIP_DEVICE_BYTES], enum ship_kind kind,
                        uint8_t **out, size_t *out_len)
{
  size_t bound = ZSTD_compressBound(b->len), n = 0;
  size_t cap = 64 + SHIP_DEVICE_BYTES + bound + (b->seal_to ? crypto_box_SEALBYTES + 16 : 0);
  uint8_t *e = malloc(cap);
  if (!e) return -ENOMEM;
  n += cbor_encode_map_start(b->seal_to ? 7 : 6, e + n, cap - n);
  n += cbor_encode_uint(0, e + n, cap - n);
  n += cbor_encode_uint(b->withheld ? SHIP_ENVELOPE_WITHHELD : SHIP_ENVELOPE_VERSION, e + n, cap - n);
  n += cbor_encode_uint(1, e + n, cap - n);
  n += cbor_encode_bytestring_start(SHIP_DEVICE_BYTES, e + n, cap - n);
  memcpy(e + n, device, SHIP_DEVICE_BYTES);
  n += SHIP_DEVICE_BYTES;
  n += cbor_encode_uint(2, e + n, cap - n);
  n += cbor_encode_uint(b->first_seq, e + n, cap - n);
  n += cbor_encode_uint(3, e + n, cap - n);
  n += cbor_encode_uint(b->count, e + n, cap - n);
  n += cbor_encode_uint(4, e + n, cap - n);
  n += cbor_encode_uint((uint64_t)kind, e + n, cap - n);
  if (b->seal_to) {
    if (!(n = sealed_tail(b, e, n, cap))) { free(e); return -EIO; }
    *out = e;
    *out_len = n;
    return 0;
  }
  n += cbor_encode_uint(5, e + n, cap - n);
  size_t z = ZSTD_compress(e + n + 9, bound, b->raw, b->len, SHIP_ZSTD_LEVEL);
  if (ZSTD_isError(z)) { free(e); return -EIO; }
  /* the frame was written after room for the longest head; its real head goes before it */
  size_t h = cbor_encode_bytestring_start(z, e + n, 9);
  memmove(e + n + h, e + n + 9, z);
  *out = e;
  *out_len = n + h + z;
  return 0;
}
