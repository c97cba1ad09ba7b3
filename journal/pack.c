/*
 * pack.c — format-3 packs (docs/journal.md "Packs"): the stored form of a record (canonical
 * bytes without `prev`, and without `boot` when it is the one in force) and one zstd frame per
 * pack. Everything read from a pack is bounded before use; damage is reported as the first
 * record that cannot be rebuilt exactly (its 4-byte hash check differs), never trusted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "pack_internal.h"

static void be32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static int grow(void *pp, size_t *cap, size_t need, size_t elem)
{
  void **p = pp;
  if (need <= *cap) return 0;
  size_t nc = *cap ? *cap : 4096;
  while (nc < need) nc *= 2;
  void *q = realloc(*p, nc * elem);
  if (!q) return -ENOMEM;
  *p = q;
  *cap = nc;
  return 0;
}

/* Length of the CBOR uint/negint item at p (keys 1..6 of the envelope), 0 if not one. */
static size_t int_item_len(const uint8_t *p, size_t avail)
{
  if (avail < 1 || (p[0] >> 5) > 1) return 0;
  unsigned ai = p[0] & 31;
  size_t n = ai < 24 ? 1 : ai == 24 ? 2 : ai == 25 ? 3 : ai == 26 ? 5 : ai == 27 ? 9 : 0;
  return n <= avail ? n : 0;
}

/* Offset just past the entries for keys 1..6 that start at `pos` in b, 0 if not as expected. */
static size_t skip_keys_1_6(const uint8_t *b, size_t len, size_t pos)
{
  for (uint8_t key = 1; key <= 6; key++) {
    if (pos >= len || b[pos] != key) return 0;
    size_t n = int_item_len(b + pos + 1, len - pos - 1);
    if (!n) return 0;
    pos += 1 + n;
  }
  return pos;
}

/* The envelope's fixed parts: map(10), key 0 bstr(32) at 1..35, keys 1..6, key 7 bstr(16). */
static size_t boot_at(const uint8_t *c, size_t len)
{
  if (len < 36 + 18 || c[0] != 0xAA || c[1] != 0x00 || c[2] != 0x58 || c[3] != 0x20) return 0;
  size_t pos = skip_keys_1_6(c, len, 36);
  if (!pos || pos + 18 > len || c[pos] != 0x07 || c[pos + 1] != 0x50) return 0;
  return pos;
}

int journal__pack_encode(ZSTD_CCtx *cctx, int level, const uint8_t *const *rec, const size_t *len, uint32_t n,
                         const uint8_t *checks, const uint8_t first_prev[JOURNAL_HASH_BYTES], uint8_t **out,
                         size_t *out_len)
{
  if (n == 0 || n > PACK_RECORDS_MAX) return JOURNAL_ETOOBIG;
  size_t total = (size_t)n * (4 + PACK_CHECK_BYTES);
  for (uint32_t i = 0; i < n; i++) {
    if (len[i] > JOURNAL_RECORD_MAX) return JOURNAL_ETOOBIG;
    total += len[i];
  }
  if (total > PACK_RAW_MAX) return JOURNAL_ETOOBIG;
  uint8_t *raw = malloc(total ? total : 1);
  if (!raw) return -ENOMEM;
  uint8_t boot[JOURNAL_BOOTID_BYTES] = { 0 };
  size_t bpos0 = boot_at(rec[0], len[0]);
  if (bpos0) memcpy(boot, rec[0] + bpos0 + 2, JOURNAL_BOOTID_BYTES);
  uint8_t *lens = raw, *chk = raw + (size_t)n * 4, *d = raw + (size_t)n * (4 + PACK_CHECK_BYTES);
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t *c = rec[i];
    size_t l = len[i], bpos = boot_at(c, l), s = 0;
    unsigned flags = 0;
    if (bpos && memcmp(c + bpos + 2, boot, JOURNAL_BOOTID_BYTES) == 0) {
      flags = PACK_F_PREV | PACK_F_BOOT;
      d[s++] = 0xA8;
      memcpy(d + s, c + 36, bpos - 36); s += bpos - 36;
      memcpy(d + s, c + bpos + 18, l - bpos - 18); s += l - bpos - 18;
    } else if (bpos) {
      flags = PACK_F_PREV; /* a new boot id: kept, and in force from here on */
      memcpy(boot, c + bpos + 2, JOURNAL_BOOTID_BYTES);
      d[s++] = 0xA9;
      memcpy(d + s, c + 36, l - 36); s += l - 36;
    } else {
      memcpy(d, c, l); s = l; /* not the expected envelope: stored as it is */
    }
    be32(lens + 4 * (size_t)i, (uint32_t)flags << 24 | (uint32_t)s);
    if (checks) memcpy(chk + (size_t)i * PACK_CHECK_BYTES, checks + (size_t)i * PACK_CHECK_BYTES, PACK_CHECK_BYTES);
    else {
      uint8_t h[JOURNAL_HASH_BYTES];
      journal_record_hash(c, l, h);
      memcpy(chk + (size_t)i * PACK_CHECK_BYTES, h, PACK_CHECK_BYTES);
    }
    d += s;
  }
  size_t raw_len = (size_t)(d - raw);
  size_t bound = ZSTD_compressBound(raw_len);
  uint8_t *v = malloc(PACK_HEADER_BYTES + bound);
  if (!v) { free(raw); return -ENOMEM; }
  v[0] = PACK_VERSION;
  v[1] = 0;
  be32(v + 2, n);
  be32(v + 6, (uint32_t)raw_len);
  memcpy(v + 10, first_prev, JOURNAL_HASH_BYTES);
  memcpy(v + 42, bpos0 ? rec[0] + bpos0 + 2 : boot, JOURNAL_BOOTID_BYTES);
  size_t z;
  if (cctx) {
    ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0); /* the per-record checks locate damage */
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
    z = ZSTD_compress2(cctx, v + PACK_HEADER_BYTES, bound, raw, raw_len);
  } else {
    z = ZSTD_compress(v + PACK_HEADER_BYTES, bound, raw, raw_len, level);
  }
  free(raw);
  if (ZSTD_isError(z)) { free(v); return -EIO; }
  *out = v;
  *out_len = PACK_HEADER_BYTES + z;
  return 0;
}

int journal__pack_peek(const uint8_t *v, size_t vlen, uint32_t *n, uint8_t prev[JOURNAL_HASH_BYTES])
{
  if (vlen < PACK_HEADER_BYTES || v[0] != PACK_VERSION || v[1] != 0) return JOURNAL_EPACK;
  uint32_t cnt = rd32(v + 2), raw = rd32(v + 6);
  if (cnt == 0 || cnt > PACK_RECORDS_MAX || raw > PACK_RAW_MAX || raw < (uint64_t)cnt * (4 + PACK_CHECK_BYTES))
    return JOURNAL_EPACK;
  *n = cnt;
  if (prev) memcpy(prev, v + 10, JOURNAL_HASH_BYTES);
  return 0;
}

int journal__pack_raw(const uint8_t *v, size_t vlen, uint8_t **raw, size_t *raw_len)
{
  uint32_t n;
  int rc = journal__pack_peek(v, vlen, &n, NULL);
  if (rc) return rc;
  uint32_t rl = rd32(v + 6);
  uint8_t *b = malloc(rl ? rl : 1);
  if (!b) return -ENOMEM;
  size_t got = ZSTD_decompress(b, rl, v + PACK_HEADER_BYTES, vlen - PACK_HEADER_BYTES);
  if (ZSTD_isError(got) || got != rl) { free(b); return JOURNAL_EPACK; }
  *raw = b;
  *raw_len = rl;
  return 0;
}

static void stop_at(struct pack_cache *c, uint32_t i, int rc)
{
  c->good = i;
  c->bad_rc = rc;
}

int journal__pack_load(struct pack_cache *c, uint64_t first, const uint8_t *v, size_t vlen, int mode)
{
  c->first = first;
  c->mode = mode;
  c->n = 1;
  c->good = 0;
  c->bad_rc = JOURNAL_EPACK;
  uint32_t n;
  if (journal__pack_peek(v, vlen, &n, NULL) != 0) return 0; /* served as damaged at `first` */
  c->n = n;
  uint32_t rl = rd32(v + 6);
  if (!c->dctx && !(c->dctx = ZSTD_createDCtx())) return -ENOMEM;
  if (grow(&c->raw, &c->rawcap, rl ? rl : 1, 1) || grow(&c->off, &c->ocap, (size_t)n + 1, sizeof *c->off)) return -ENOMEM;
  unsigned long long fcs = ZSTD_getFrameContentSize(v + PACK_HEADER_BYTES, vlen - PACK_HEADER_BYTES);
  if (fcs != rl) return 0;
  /* A context reused across frames can decode a damaged frame differently from a fresh one
   * (state of the previous frame): reset it, so damage reads the same as to any decoder. */
  ZSTD_DCtx_reset(c->dctx, ZSTD_reset_session_and_parameters);
  size_t got = ZSTD_decompressDCtx(c->dctx, c->raw, rl, v + PACK_HEADER_BYTES, vlen - PACK_HEADER_BYTES);
  if (ZSTD_isError(got) || got != rl) return 0;
  /* The records served take at most data_len stored bytes in all (each one is checked to fit
   * in what is left), and each is rebuilt at most 36 + 18 - 1 bytes longer. The length words
   * themselves are outside bytes: summing them would let a pack ask for terabytes. */
  const uint8_t *lens = c->raw, *chk = c->raw + (size_t)n * 4, *d = chk + (size_t)n * PACK_CHECK_BYTES;
  size_t data_len = rl - (size_t)n * (4 + PACK_CHECK_BYTES);
  if (grow(&c->canon, &c->ccap, data_len + (size_t)n * 53 + 1, 1)) return -ENOMEM;
  if (mode != PACK_FAST && grow(&c->hashes, &c->hcap, (size_t)n * JOURNAL_HASH_BYTES, 1)) return -ENOMEM;
  uint8_t prev[JOURNAL_HASH_BYTES], boot[JOURNAL_BOOTID_BYTES], h[JOURNAL_HASH_BYTES];
  if (mode == PACK_FAST) memset(prev, 0, sizeof prev);
  else memcpy(prev, v + 10, JOURNAL_HASH_BYTES);
  memcpy(boot, v + 42, JOURNAL_BOOTID_BYTES);
  size_t dp = 0, cp = 0;
  c->off[0] = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t w = rd32(lens + 4 * (size_t)i), flags = w >> 24, s = w & 0xffffffu;
    if (s > JOURNAL_RECORD_MAX || s > data_len - dp || (flags & ~3u) || flags == PACK_F_BOOT) { stop_at(c, i, JOURNAL_EPACK); return 0; }
    const uint8_t *src = d + dp;
    uint8_t *o = c->canon + cp;
    size_t ol = 0;
    if (flags == 0) {
      memcpy(o, src, s); ol = s;
    } else {
      if (s < 1 || src[0] != (flags & PACK_F_BOOT ? 0xA8 : 0xA9)) { stop_at(c, i, JOURNAL_EPACK); return 0; }
      o[0] = 0xAA; o[1] = 0x00; o[2] = 0x58; o[3] = 0x20;
      memcpy(o + 4, prev, JOURNAL_HASH_BYTES);
      size_t end6 = skip_keys_1_6(src, s, 1);
      if (!end6) { stop_at(c, i, JOURNAL_EPACK); return 0; }
      memcpy(o + 36, src + 1, end6 - 1);
      ol = 36 + end6 - 1;
      if (flags & PACK_F_BOOT) {
        o[ol] = 0x07; o[ol + 1] = 0x50;
        memcpy(o + ol + 2, boot, JOURNAL_BOOTID_BYTES);
        ol += 18;
      } else {
        if (end6 + 18 > s || src[end6] != 0x07 || src[end6 + 1] != 0x50) { stop_at(c, i, JOURNAL_EPACK); return 0; }
        memcpy(boot, src + end6 + 2, JOURNAL_BOOTID_BYTES);
      }
      memcpy(o + ol, src + end6, s - end6);
      ol += s - end6;
      if (ol > JOURNAL_RECORD_MAX) { stop_at(c, i, JOURNAL_EPACK); return 0; }
    }
    if (mode != PACK_FAST) {
      journal_record_hash(o, ol, h);
      if (memcmp(h, chk + (size_t)i * PACK_CHECK_BYTES, PACK_CHECK_BYTES) != 0) { stop_at(c, i, JOURNAL_EPACK); return 0; }
      memcpy(prev, h, JOURNAL_HASH_BYTES);
      memcpy(c->hashes + (size_t)i * JOURNAL_HASH_BYTES, h, JOURNAL_HASH_BYTES);
    }
    dp += s;
    cp += ol;
    c->off[i + 1] = (uint32_t)cp;
  }
  c->good = n;
  c->bad_rc = 0;
  if (mode != PACK_FAST) memcpy(c->last_hash, prev, JOURNAL_HASH_BYTES);
  return 0;
}

void journal__pack_cache_free(struct pack_cache *c)
{
  free(c->raw);
  free(c->canon);
  free(c->off);
  free(c->hashes);
  ZSTD_freeDCtx(c->dctx);
  memset(c, 0, sizeof *c);
}
