/*
 * codec_cbor.c — the CBOR layer under the record codec: the writer (libcbor's allocation-free
 * encoders), the reference tokenizer (libcbor's streaming decoder), the hot-path tokenizer that
 * is held to it, and the skipper that checks nested maps for canonical key order.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <cbor.h>
#include "codec_internal.h"

/* ------------------------------------------------------------------ writer */

static void cw_put(struct cw *w, size_t (*enc)(uint64_t, unsigned char *, size_t), uint64_t v)
{
  if (w->err) return;
  size_t n = enc(v, w->buf + w->len, w->cap - w->len);
  if (n == 0) { w->err = -ENOSPC; return; }
  w->len += n;
}

static size_t enc_uint(uint64_t v, unsigned char *b, size_t c) { return cbor_encode_uint(v, b, c); }
static size_t enc_negint(uint64_t v, unsigned char *b, size_t c) { return cbor_encode_negint(v, b, c); }
static size_t enc_map(uint64_t v, unsigned char *b, size_t c) { return cbor_encode_map_start((size_t)v, b, c); }
static size_t enc_array(uint64_t v, unsigned char *b, size_t c) { return cbor_encode_array_start((size_t)v, b, c); }
static size_t enc_text(uint64_t v, unsigned char *b, size_t c) { return cbor_encode_string_start((size_t)v, b, c); }
static size_t enc_bytes(uint64_t v, unsigned char *b, size_t c) { return cbor_encode_bytestring_start((size_t)v, b, c); }
static size_t enc_tag(uint64_t v, unsigned char *b, size_t c) { return cbor_encode_tag(v, b, c); }
static size_t enc_bool(uint64_t v, unsigned char *b, size_t c) { return cbor_encode_bool(v != 0, b, c); }

void journal__cw_uint(struct cw *w, uint64_t v) { cw_put(w, enc_uint, v); }
void journal__cw_int(struct cw *w, int64_t v)
{
  if (v >= 0) cw_put(w, enc_uint, (uint64_t)v);
  else cw_put(w, enc_negint, (uint64_t)(-(v + 1)));
}
void journal__cw_map(struct cw *w, size_t n) { cw_put(w, enc_map, n); }
void journal__cw_array(struct cw *w, size_t n) { cw_put(w, enc_array, n); }
void journal__cw_bool(struct cw *w, int v) { cw_put(w, enc_bool, (uint64_t)v); }
void journal__cw_tag(struct cw *w, uint64_t tag) { cw_put(w, enc_tag, tag); }

void journal__cw_raw(struct cw *w, const void *p, size_t n)
{
  if (w->err) return;
  if (w->cap - w->len < n) { w->err = -ENOSPC; return; }
  if (n) memcpy(w->buf + w->len, p, n);
  w->len += n;
}
void journal__cw_text(struct cw *w, const void *p, size_t n) { cw_put(w, enc_text, n); journal__cw_raw(w, p, n); }
void journal__cw_bytes(struct cw *w, const void *p, size_t n) { cw_put(w, enc_bytes, n); journal__cw_raw(w, p, n); }

/* ------------------------------------------------------------------ reader */

struct tokctx {
  struct ctok *t;
  int bad;
  bool allow_tag; /* a tag head is a token (CT_TAG) rather than an error */
};

static void t_uint8(void *c, uint8_t v) { struct tokctx *x = c; x->t->kind = CT_UINT; x->t->u = v; }
static void t_uint16(void *c, uint16_t v) { struct tokctx *x = c; x->t->kind = CT_UINT; x->t->u = v; }
static void t_uint32(void *c, uint32_t v) { struct tokctx *x = c; x->t->kind = CT_UINT; x->t->u = v; }
static void t_uint64(void *c, uint64_t v) { struct tokctx *x = c; x->t->kind = CT_UINT; x->t->u = v; }
static void t_neg8(void *c, uint8_t v) { struct tokctx *x = c; x->t->kind = CT_NEGINT; x->t->u = v; }
static void t_neg16(void *c, uint16_t v) { struct tokctx *x = c; x->t->kind = CT_NEGINT; x->t->u = v; }
static void t_neg32(void *c, uint32_t v) { struct tokctx *x = c; x->t->kind = CT_NEGINT; x->t->u = v; }
static void t_neg64(void *c, uint64_t v) { struct tokctx *x = c; x->t->kind = CT_NEGINT; x->t->u = v; }
static void t_bytes(void *c, cbor_data d, size_t n)
{ struct tokctx *x = c; x->t->kind = CT_BYTES; x->t->ptr = d; x->t->len = n; x->t->u = n; }
static void t_text(void *c, cbor_data d, size_t n)
{ struct tokctx *x = c; x->t->kind = CT_TEXT; x->t->ptr = d; x->t->len = n; x->t->u = n; }
static void t_array(void *c, size_t n) { struct tokctx *x = c; x->t->kind = CT_ARRAY; x->t->u = n; }
static void t_map(void *c, size_t n) { struct tokctx *x = c; x->t->kind = CT_MAP; x->t->u = n; }
static void t_bool(void *c, bool v) { struct tokctx *x = c; x->t->kind = CT_BOOL; x->t->u = v; }
static void t_null(void *c) { struct tokctx *x = c; x->t->kind = CT_NULL; }
static void t_bad(void *c) { struct tokctx *x = c; x->bad = 1; }
static void t_tag(void *c, uint64_t v)
{
  struct tokctx *x = c;
  if (!x->allow_tag) { x->bad = 1; return; }
  x->t->kind = CT_TAG;
  x->t->u = v;
}
static void t_badf(void *c, float v) { (void)v; t_bad(c); }
static void t_badd(void *c, double v) { (void)v; t_bad(c); }

static const struct cbor_callbacks tok_callbacks = {
  .uint8 = t_uint8, .uint16 = t_uint16, .uint32 = t_uint32, .uint64 = t_uint64,
  .negint8 = t_neg8, .negint16 = t_neg16, .negint32 = t_neg32, .negint64 = t_neg64,
  .byte_string_start = t_bad, .byte_string = t_bytes,
  .string_start = t_bad, .string = t_text,
  .indef_array_start = t_bad, .array_start = t_array,
  .indef_map_start = t_bad, .map_start = t_map,
  .tag = t_tag, .float2 = t_badf, .float4 = t_badf, .float8 = t_badd,
  .undefined = t_bad, .null = t_null, .boolean = t_bool, .indef_break = t_bad,
};

/* Length of the shortest head for argument v. */
static size_t head_len(uint64_t v)
{
  if (v < 24) return 1;
  if (v <= 0xff) return 2;
  if (v <= 0xffff) return 3;
  if (v <= 0xffffffffu) return 5;
  return 9;
}

/* RFC 3629 UTF-8 (no overlongs, no surrogates, <= U+10FFFF): CBOR text strings must be. */
int journal__utf8_valid(const uint8_t *p, size_t n)
{
  size_t i = 0;
  while (i < n) {
    /* ASCII fast path, 8 bytes at a time */
    if (n - i >= 8) {
      uint64_t w8;
      memcpy(&w8, p + i, 8);
      if (!(w8 & 0x8080808080808080ull)) { i += 8; continue; }
    }
    uint8_t c = p[i];
    if (c < 0x80) { i++; continue; }
    size_t k;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) { k = 1; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { k = 2; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { k = 3; cp = c & 0x07; }
    else return 0;
    if (n - i <= k) return 0;
    for (size_t m = 1; m <= k; m++) {
      if ((p[i + m] & 0xc0) != 0x80) return 0;
      cp = cp << 6 | (p[i + m] & 0x3f);
    }
    if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    i += k + 1;
  }
  return 1;
}

/* The reference tokenizer: libcbor's streaming decoder, one item per call through its callback
 * table. It defines what a valid item is; journal__cr_next below must agree with it on every
 * input (tests/fuzz/fuzz_record.c compares the two on each input of its corpus). */
int journal__cr_next_libcbor(struct cr *r, struct ctok *t)
{
  if (r->pos >= r->len) return JOURNAL_ETRUNC;
  memset(t, 0, sizeof *t);
  t->kind = CT_OTHER;
  struct tokctx x = { t, 0, (r->mode & CR_ALLOW_TAG) != 0 };
  struct cbor_decoder_result res = cbor_stream_decode(r->buf + r->pos, r->len - r->pos, &tok_callbacks, &x);
  if (res.status == CBOR_DECODER_NEDATA) return JOURNAL_ETRUNC;
  if (res.status != CBOR_DECODER_FINISHED || x.bad || t->kind == CT_OTHER) return JOURNAL_EBADREC;
  /* Canonical form: the head must be the shortest for its argument. */
  size_t want = head_len(t->u);
  if (t->kind == CT_BYTES || t->kind == CT_TEXT) want += t->len;
  if (t->kind == CT_BOOL || t->kind == CT_NULL) want = 1;
  if (res.read != want) return JOURNAL_EBADREC;
  if (t->kind == CT_TEXT && !journal__utf8_valid(t->ptr, t->len)) return JOURNAL_EBADREC;
  t->start = r->pos;
  r->pos += res.read;
  t->end = r->pos;
  return 0;
}

/* The hot-path tokenizer. Replay must decode and fold ≥ 2 M records/s on one core; through
 * libcbor's callback-per-item API a window record (≈ 250 items) costs ≈ 25 ns per item, most of
 * it dispatch. This reads the RFC 8949 head directly (≈ 3 ns per item) with exactly the same
 * acceptance rules as journal__cr_next_libcbor above — definite lengths, no tags, no floats or
 * simple values other than false/true/null, shortest-form heads, valid UTF-8 text — and the
 * fuzz target holds the two to the same answers. Encoding stays with libcbor. */
int journal__cr_next(struct cr *r, struct ctok *t)
{
  size_t left = r->len - r->pos;
  if (r->pos >= r->len) return JOURNAL_ETRUNC;
  const uint8_t *p = r->buf + r->pos;
  uint8_t mt = p[0] >> 5, ai = p[0] & 31;
  uint64_t v;
  size_t hl;
  t->ptr = NULL;
  t->len = 0;
  if (mt == 7) {
    /* simple values and floats: only false (20), true (21), null (22) */
    if (ai == 20 || ai == 21) { t->kind = CT_BOOL; t->u = ai == 21; }
    else if (ai == 22) { t->kind = CT_NULL; t->u = 0; }
    else if (ai >= 25 && ai <= 27 && left < (size_t)1 + (1u << (ai - 24))) return JOURNAL_ETRUNC;
    else return JOURNAL_EBADREC;
    t->start = r->pos;
    r->pos += 1;
    t->end = r->pos;
    return 0;
  }
  uint64_t minv; /* the smallest argument this head length may carry (shortest form) */
  if (ai < 24) { v = ai; hl = 1; minv = 0; }
  else if (ai == 24) { if (left < 2) return JOURNAL_ETRUNC; v = p[1]; hl = 2; minv = 24; }
  else if (ai == 25) { if (left < 3) return JOURNAL_ETRUNC; v = (uint64_t)p[1] << 8 | p[2]; hl = 3; minv = 0x100; }
  else if (ai == 26) {
    if (left < 5) return JOURNAL_ETRUNC;
    v = (uint64_t)p[1] << 24 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 8 | p[4];
    hl = 5;
    minv = 0x10000;
  } else if (ai == 27) {
    if (left < 9) return JOURNAL_ETRUNC;
    v = 0;
    for (int k = 1; k <= 8; k++) v = v << 8 | p[k];
    hl = 9;
    minv = 0x100000000ull;
  } else {
    return JOURNAL_EBADREC; /* 28..30 reserved, 31 indefinite */
  }
  t->u = v;
  switch (mt) {
  case 0: t->kind = CT_UINT; break;
  case 1: t->kind = CT_NEGINT; break;
  case 2: case 3:
    /* as libcbor: missing string bytes are "need more data" before any other judgement */
    if (v > left - hl) return JOURNAL_ETRUNC;
    t->kind = mt == 2 ? CT_BYTES : CT_TEXT;
    t->ptr = p + hl;
    t->len = (size_t)v;
    break;
  case 4: t->kind = CT_ARRAY; break;
  case 5: t->kind = CT_MAP; break;
  case 6:
    if (!(r->mode & CR_ALLOW_TAG)) return JOURNAL_EBADREC; /* tags: only where a v 3 column is read */
    /* as libcbor: the one-byte tags 6..20 (unassigned when RFC 7049 was written) are errors */
    if (ai >= 6 && ai <= 20) return JOURNAL_EBADREC;
    t->kind = CT_TAG;
    break;
  default: return JOURNAL_EBADREC;
  }
  if (v < minv) return JOURNAL_EBADREC; /* not the shortest head */
  if (mt == 3 && !(r->mode & CR_RAW_TEXT) && !journal__utf8_valid(t->ptr, t->len)) return JOURNAL_EBADREC;
  if (mt == 2 || mt == 3) hl += (size_t)v;
  t->start = r->pos;
  r->pos += hl;
  t->end = r->pos;
  return 0;
}

/* Skips one item with the given tokenizer (the hot one, or libcbor for the reference decode). */
int journal__cr_skip_with(struct cr *r, int depth, cr_next_fn next)
{
  if (depth > 16) return JOURNAL_EBADREC;
  struct ctok t;
  int rc = next(r, &t);
  if (rc) return rc;
  if (t.kind == CT_TAG) return journal__cr_skip_with(r, depth + 1, next); /* its content */
  if (t.kind == CT_ARRAY) {
    if (t.u > r->len) return JOURNAL_EBADREC;
    for (uint64_t i = 0; i < t.u; i++)
      if ((rc = journal__cr_skip_with(r, depth + 1, next))) return rc;
  } else if (t.kind == CT_MAP) {
    /* Deterministic CBOR (RFC 8949 §4.2.1): keys strictly ascending in the bytewise order of
     * their encodings, so no duplicates either. Raw bodies are only canonical with this. */
    if (t.u > r->len) return JOURNAL_EBADREC;
    size_t pk = 0, pklen = 0;
    for (uint64_t i = 0; i < t.u; i++) {
      size_t ks = r->pos;
      if ((rc = journal__cr_skip_with(r, depth + 1, next))) return rc;
      size_t kl = r->pos - ks;
      if (i > 0) {
        size_t m = pklen < kl ? pklen : kl;
        int c = memcmp(r->buf + pk, r->buf + ks, m);
        if (c > 0 || (c == 0 && pklen >= kl)) return JOURNAL_EBADREC;
      }
      pk = ks;
      pklen = kl;
      if ((rc = journal__cr_skip_with(r, depth + 1, next))) return rc;
    }
  }
  return 0;
}

int journal__cr_skip(struct cr *r, int depth) { return journal__cr_skip_with(r, depth, journal__cr_next); }
