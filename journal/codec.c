/*
 * codec.c — the record codec: deterministic CBOR (RFC 8949 §4.2) through libcbor's
 * allocation-free encoders and its streaming decoder.
 *
 * Envelope (a map with integer keys, in canonical order):
 *   0 prev (bstr 32)  1 seq (uint)  2 v (uint)  3 type (uint)  4 mono_ns (uint)
 *   5 wall_ns (int)   6 tq (uint)   7 boot (bstr 16)  8 source (tstr)  9 body (map)
 * Key 0 first means `prev` always sits at byte offset 4 (0xAA 0x00 0x58 0x20 …) — the
 * verifier's fast path relies on it.
 *
 * Decoding is strict: shortest-form heads only, definite lengths only, no tags or floats,
 * strictly ascending keys, nothing after the envelope. Anything else is JOURNAL_EBADREC, so
 * exactly one byte string encodes a given record (the hash chain depends on it).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <cbor.h>
#include <sodium.h>
#include "codec_internal.h"

/* Stores a slice into a decoded record field member by member: the record was zeroed, so its
 * padding stays zero and two decodes of the same bytes compare equal byte for byte (a local
 * struct copied whole would carry indeterminate padding). */
static inline void put_slice(void *field, const uint8_t *ptr, uint32_t len)
{
  memcpy((uint8_t *)field + offsetof(struct journal_slice, ptr), &ptr, sizeof ptr);
  memcpy((uint8_t *)field + offsetof(struct journal_slice, len), &len, sizeof len);
}

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
static void t_badu64(void *c, uint64_t v) { (void)v; t_bad(c); }
static void t_badf(void *c, float v) { (void)v; t_bad(c); }
static void t_badd(void *c, double v) { (void)v; t_bad(c); }

static const struct cbor_callbacks tok_callbacks = {
  .uint8 = t_uint8, .uint16 = t_uint16, .uint32 = t_uint32, .uint64 = t_uint64,
  .negint8 = t_neg8, .negint16 = t_neg16, .negint32 = t_neg32, .negint64 = t_neg64,
  .byte_string_start = t_bad, .byte_string = t_bytes,
  .string_start = t_bad, .string = t_text,
  .indef_array_start = t_bad, .array_start = t_array,
  .indef_map_start = t_bad, .map_start = t_map,
  .tag = t_badu64, .float2 = t_badf, .float4 = t_badf, .float8 = t_badd,
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
static int utf8_valid(const uint8_t *p, size_t n)
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
  struct tokctx x = { t, 0 };
  struct cbor_decoder_result res = cbor_stream_decode(r->buf + r->pos, r->len - r->pos, &tok_callbacks, &x);
  if (res.status == CBOR_DECODER_NEDATA) return JOURNAL_ETRUNC;
  if (res.status != CBOR_DECODER_FINISHED || x.bad || t->kind == CT_OTHER) return JOURNAL_EBADREC;
  /* Canonical form: the head must be the shortest for its argument. */
  size_t want = head_len(t->u);
  if (t->kind == CT_BYTES || t->kind == CT_TEXT) want += t->len;
  if (t->kind == CT_BOOL || t->kind == CT_NULL) want = 1;
  if (res.read != want) return JOURNAL_EBADREC;
  if (t->kind == CT_TEXT && !utf8_valid(t->ptr, t->len)) return JOURNAL_EBADREC;
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
  default: return JOURNAL_EBADREC; /* 6: tags */
  }
  if (v < minv) return JOURNAL_EBADREC; /* not the shortest head */
  if (mt == 3 && !r->raw_text && !utf8_valid(t->ptr, t->len)) return JOURNAL_EBADREC;
  if (mt == 2 || mt == 3) hl += (size_t)v;
  t->start = r->pos;
  r->pos += hl;
  t->end = r->pos;
  return 0;
}

typedef int (*cr_next_fn)(struct cr *, struct ctok *);

/* Skips one item with the given tokenizer (the hot one, or libcbor for the reference decode). */
static int cr_skip_with(struct cr *r, int depth, cr_next_fn next)
{
  if (depth > 16) return JOURNAL_EBADREC;
  struct ctok t;
  int rc = next(r, &t);
  if (rc) return rc;
  if (t.kind == CT_ARRAY) {
    if (t.u > r->len) return JOURNAL_EBADREC;
    for (uint64_t i = 0; i < t.u; i++)
      if ((rc = cr_skip_with(r, depth + 1, next))) return rc;
  } else if (t.kind == CT_MAP) {
    /* Deterministic CBOR (RFC 8949 §4.2.1): keys strictly ascending in the bytewise order of
     * their encodings, so no duplicates either. Raw bodies are only canonical with this. */
    if (t.u > r->len) return JOURNAL_EBADREC;
    size_t pk = 0, pklen = 0;
    for (uint64_t i = 0; i < t.u; i++) {
      size_t ks = r->pos;
      if ((rc = cr_skip_with(r, depth + 1, next))) return rc;
      size_t kl = r->pos - ks;
      if (i > 0) {
        size_t m = pklen < kl ? pklen : kl;
        int c = memcmp(r->buf + pk, r->buf + ks, m);
        if (c > 0 || (c == 0 && pklen >= kl)) return JOURNAL_EBADREC;
      }
      pk = ks;
      pklen = kl;
      if ((rc = cr_skip_with(r, depth + 1, next))) return rc;
    }
  }
  return 0;
}

int journal__cr_skip(struct cr *r, int depth) { return cr_skip_with(r, depth, journal__cr_next); }

/* ------------------------------------------------------------------ bodies */

static uint64_t get_unsigned(const void *p, unsigned kind)
{
  switch (kind) {
  case JF_U8: case JF_BOOL: case JF_ENUM: return *(const uint8_t *)p;
  case JF_U16: { uint16_t v; memcpy(&v, p, 2); return v; }
  case JF_U32: { uint32_t v; memcpy(&v, p, 4); return v; }
  default: { uint64_t v; memcpy(&v, p, 8); return v; }
  }
}

static bool is_omitted(const struct jfield *f, const uint8_t *base)
{
  if (!f->omit_zero) return false;
  const uint8_t *p = base + f->offset;
  switch (f->kind) {
  case JF_U8: case JF_U16: case JF_U32: case JF_U64: return get_unsigned(p, f->kind) == 0;
  case JF_I32: { int32_t v; memcpy(&v, p, 4); return v == 0; }
  case JF_I64: { int64_t v; memcpy(&v, p, 8); return v == 0; }
  case JF_TEXT: { struct journal_slice v; memcpy(&v, p, sizeof v); return v.len == 0; }
  case JF_FIXED: { uint8_t acc = 0; for (size_t k = 0; k < f->size; k++) acc |= p[k]; return acc == 0; }
  default: return false;
  }
}

int journal__encode_body(struct cw *w, const struct jdesc *d, const void *base)
{
  const uint8_t *b = base;
  /* Fields marked omit_zero are left out when 0 (text: empty): a deterministic function of the
   * value, so the encoding stays canonical. */
  unsigned present = 0;
  for (unsigned i = 0; i < d->n; i++) present += !is_omitted(&d->fields[i], b);
  journal__cw_map(w, present);
  for (unsigned i = 0; i < d->n; i++) {
    const struct jfield *f = &d->fields[i];
    const uint8_t *p = b + f->offset;
    if (is_omitted(f, b)) continue;
    journal__cw_text(w, f->name, journal__fname_len(f));
    switch (f->kind) {
    case JF_U8: case JF_U16: case JF_U32: case JF_U64:
      journal__cw_uint(w, get_unsigned(p, f->kind));
      break;
    case JF_I32: { int32_t v; memcpy(&v, p, 4); journal__cw_int(w, v); break; }
    case JF_I64: { int64_t v; memcpy(&v, p, 8); journal__cw_int(w, v); break; }
    case JF_BOOL: journal__cw_bool(w, *p != 0); break;
    case JF_ENUM: {
      unsigned v = *p, k = 0;
      while (f->enum_names[k] && k < v) k++;
      if (!f->enum_names[k]) return JOURNAL_EBADREC;
      journal__cw_text(w, f->enum_names[v], strlen(f->enum_names[v]));
      break;
    }
    case JF_TEXT: case JF_BYTES: {
      struct journal_slice s;
      memcpy(&s, p, sizeof s);
      if (s.len && !s.ptr) return JOURNAL_EBADREC;
      if (f->kind == JF_TEXT && !utf8_valid(s.ptr, s.len)) return JOURNAL_EBADREC;
      if (f->kind == JF_TEXT) journal__cw_text(w, s.ptr, s.len);
      else journal__cw_bytes(w, s.ptr, s.len);
      break;
    }
    case JF_FIXED: journal__cw_bytes(w, p, f->size); break;
    case JF_TARGET: {
      uint16_t t;
      memcpy(&t, p, 2);
      if (t == JOURNAL_TARGET_SERVICE) journal__cw_text(w, "service", 7);
      else journal__cw_uint(w, t);
      break;
    }
    case JF_U16ARR: {
      uint16_t n;
      memcpy(&n, b + f->count_offset, 2);
      if (n > f->max) return JOURNAL_EBADREC;
      journal__cw_array(w, n);
      for (unsigned k = 0; k < n; k++) { uint16_t x; memcpy(&x, p + 2 * k, 2); journal__cw_uint(w, x); }
      break;
    }
    case JF_CHARS: {
      size_t n = strnlen((const char *)p, f->size);
      if (n >= f->size) return JOURNAL_EBADREC;
      journal__cw_text(w, p, n);
      break;
    }
    case JF_ARRAY: {
      uint16_t n;
      memcpy(&n, b + f->count_offset, 2);
      if (n > f->max) return JOURNAL_EBADREC;
      journal__cw_array(w, n);
      for (unsigned k = 0; k < n; k++) {
        int rc = journal__encode_body(w, f->sub, p + (size_t)k * f->stride);
        if (rc) return rc;
      }
      break;
    }
    default: return JOURNAL_EBADREC;
    }
  }
  return w->err;
}

/* Short field names: an inline loop beats a memcmp call. */
static inline bool same_bytes(const char *a, const uint8_t *b, size_t n)
{
  for (size_t i = 0; i < n; i++) if ((uint8_t)a[i] != b[i]) return false;
  return true;
}

/* Canonical key order: shorter first, then bytewise. */
static int key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
  if (an != bn) return an < bn ? -1 : 1;
  for (size_t i = 0; i < an; i++)
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

static int put_unsigned(void *p, unsigned kind, uint64_t v)
{
  switch (kind) {
  case JF_U8: if (v > 0xff) return JOURNAL_EBADREC; *(uint8_t *)p = (uint8_t)v; return 0;
  case JF_U16: { if (v > 0xffff) return JOURNAL_EBADREC; uint16_t x = (uint16_t)v; memcpy(p, &x, 2); return 0; }
  case JF_U32: { if (v > 0xffffffffu) return JOURNAL_EBADREC; uint32_t x = (uint32_t)v; memcpy(p, &x, 4); return 0; }
  default: memcpy(p, &v, 8); return 0;
  }
}

static int tok_to_i64(const struct ctok *t, int64_t *out)
{
  if (t->kind == CT_UINT) {
    if (t->u > (uint64_t)INT64_MAX) return JOURNAL_EBADREC;
    *out = (int64_t)t->u;
    return 0;
  }
  if (t->kind == CT_NEGINT) {
    if (t->u > (uint64_t)INT64_MAX) return JOURNAL_EBADREC;
    *out = -1 - (int64_t)t->u;
    return 0;
  }
  return JOURNAL_EBADREC;
}

/* The table walk over a tokenizer: the reference decode (with libcbor's tokenizer) that the fast
 * decoder below is held to. */
static int decode_body_with(struct cr *r, const struct jdesc *d, void *base, int depth, cr_next_fn next)
{
  uint8_t *b = base;
  struct ctok t;
  int rc;
  if (depth > 4) return JOURNAL_EBADREC;
  if ((rc = next(r, &t))) return rc;
  if (t.kind != CT_MAP) return JOURNAL_EBADREC;
  uint64_t n = t.u;
  const uint8_t *prev_key = NULL;
  size_t prev_len = 0;
  unsigned fi = 0;
  for (uint64_t i = 0; i < n; i++) {
    struct ctok k;
    /* Keys are read unvalidated: one equal to a field name is ASCII by construction, any other
     * is validated below before it is skipped. */
    r->raw_text = true;
    rc = next(r, &k);
    r->raw_text = false;
    if (rc) return rc;
    if (k.kind != CT_TEXT) return JOURNAL_EBADREC;
    if (prev_key && key_cmp(prev_key, prev_len, k.ptr, k.len) >= 0) return JOURNAL_EBADREC;
    prev_key = k.ptr;
    prev_len = k.len;
    /* Tables are in canonical order too, so one forward scan finds the field. */
    /* Common case first: the key is the table's next field (both are in canonical order). */
    int c = 1;
    while (fi < d->n) {
      const struct jfield *ff = &d->fields[fi];
      size_t fl = journal__fname_len(ff);
      c = fl == k.len && ff->name[0] == k.ptr[0] && same_bytes(ff->name, k.ptr, k.len) ? 0
        : key_cmp((const uint8_t *)ff->name, fl, k.ptr, k.len);
      if (c >= 0) break;
      fi++;
    }
    if (fi >= d->n || c != 0) {
      if (!utf8_valid(k.ptr, k.len)) return JOURNAL_EBADREC;
      /* A field this version does not know: a compatible addition; skip it. */
      if ((rc = cr_skip_with(r, depth + 1, next))) return rc;
      continue;
    }
    const struct jfield *f = &d->fields[fi];
    uint8_t *p = b + f->offset;
    if (f->kind == JF_U16ARR) {
      struct ctok a;
      if ((rc = next(r, &a))) return rc;
      if (a.kind != CT_ARRAY || a.u > f->max) return JOURNAL_EBADREC;
      uint16_t cnt = (uint16_t)a.u;
      memcpy(b + f->count_offset, &cnt, 2);
      for (unsigned e = 0; e < cnt; e++) {
        struct ctok x;
        if ((rc = next(r, &x))) return rc;
        if (x.kind != CT_UINT || x.u > 0xffff) return JOURNAL_EBADREC;
        uint16_t v16 = (uint16_t)x.u;
        memcpy(p + 2 * e, &v16, 2);
      }
      continue;
    }
    if (f->kind == JF_ARRAY) {
      struct ctok a;
      if ((rc = next(r, &a))) return rc;
      if (a.kind != CT_ARRAY || a.u > f->max) return JOURNAL_EBADREC;
      uint16_t cnt = (uint16_t)a.u;
      memcpy(b + f->count_offset, &cnt, 2);
      for (unsigned e = 0; e < cnt; e++)
        if ((rc = decode_body_with(r, f->sub, p + (size_t)e * f->stride, depth + 1, next))) return rc;
      continue;
    }
    struct ctok v;
    if ((rc = next(r, &v))) return rc;
    switch (f->kind) {
    case JF_U8: case JF_U16: case JF_U32: case JF_U64:
      if (v.kind != CT_UINT) return JOURNAL_EBADREC;
      if ((rc = put_unsigned(p, f->kind, v.u))) return rc;
      break;
    case JF_I32: case JF_I64: {
      int64_t x;
      if ((rc = tok_to_i64(&v, &x))) return rc;
      if (f->kind == JF_I32) {
        if (x < INT32_MIN || x > INT32_MAX) return JOURNAL_EBADREC;
        int32_t y = (int32_t)x;
        memcpy(p, &y, 4);
      } else {
        memcpy(p, &x, 8);
      }
      break;
    }
    case JF_BOOL:
      if (v.kind != CT_BOOL) return JOURNAL_EBADREC;
      *p = (uint8_t)v.u;
      break;
    case JF_ENUM: {
      if (v.kind != CT_TEXT) return JOURNAL_EBADREC;
      unsigned e = 0;
      while (f->enum_names[e] && !(f->enum_names[e][0] == (char)(v.len ? v.ptr[0] : 0) && strlen(f->enum_names[e]) == v.len &&
                                   same_bytes(f->enum_names[e], v.ptr, v.len))) e++;
      if (!f->enum_names[e]) return JOURNAL_EBADREC;
      *p = (uint8_t)e;
      break;
    }
    case JF_TEXT: case JF_BYTES: {
      if (v.kind != (f->kind == JF_TEXT ? CT_TEXT : CT_BYTES)) return JOURNAL_EBADREC;
      if (v.len > UINT32_MAX) return JOURNAL_EBADREC;
      put_slice(p, v.ptr, (uint32_t)v.len);
      break;
    }
    case JF_FIXED:
      if (v.kind != CT_BYTES || v.len != f->size) return JOURNAL_EBADREC;
      memcpy(p, v.ptr, f->size);
      break;
    case JF_TARGET: {
      uint16_t t16;
      if (v.kind == CT_TEXT && v.len == 7 && memcmp(v.ptr, "service", 7) == 0) t16 = JOURNAL_TARGET_SERVICE;
      else if (v.kind == CT_UINT && v.u >= 1 && v.u <= 0xffff) t16 = (uint16_t)v.u;
      else return JOURNAL_EBADREC;
      memcpy(p, &t16, 2);
      break;
    }
    case JF_CHARS:
      if (v.kind != CT_TEXT || v.len >= f->size || memchr(v.ptr, 0, v.len)) return JOURNAL_EBADREC;
      memcpy(p, v.ptr, v.len);
      p[v.len] = 0;
      break;
    default: return JOURNAL_EBADREC;
    }
  }
  return 0;
}

int journal__decode_body(struct cr *r, const struct jdesc *d, void *base, int depth)
{
  return decode_body_with(r, d, base, depth, journal__cr_next);
}

/* ------------------------------------------------------------------ fast decoder
 *
 * journal_record_decode's own walk: the same tables and the same acceptance rules as the
 * reference walk above (decode_body_with / record_decode_with over libcbor's tokenizer), but
 * reading item heads inline from a byte pointer instead of one tokenizer call and one struct
 * ctok per item, and matching a key against the next table field by its length and bytes
 * (a key equal to a field at or after the scan position is strictly above the previous key,
 * so the order check is only needed for keys the table does not know). Every failure inside a
 * body is JOURNAL_EBADREC at the record level, so the walk only says accept or reject.
 * tests/fuzz/fuzz_record.c holds it to journal__record_decode_ref on every input: the same
 * return code, and on success the same decoded record byte for byte. */

struct fr {
  const uint8_t *p, *e; /* next byte, end */
  const uint8_t *buf;   /* the record (for the struct cr of the rare paths) */
};

/* The argument of a head with additional information ai >= 24, shortest form only: 1, 2, 4 or 8
 * big-endian bytes, at least 24, 0x100, 0x10000 or 2^32 respectively. The head's length, or 0. */
static inline size_t head_long(const uint8_t *p, size_t left, unsigned ai, uint64_t *v)
{
  if (ai > 27) return 0; /* 28..30 reserved, 31 indefinite */
  size_t nb = (size_t)1 << (ai - 24);
  uint64_t x;
  if (left < 1 + nb) return 0;
  if (left >= 9) {
    memcpy(&x, p + 1, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    x >>= 64 - 8 * nb;
  } else {
    x = 0;
    for (size_t k = 1; k <= nb; k++) x = x << 8 | p[k];
  }
  if (x < (nb == 1 ? 24 : (uint64_t)1 << (4 * nb))) return 0;
  *v = x;
  return 1 + nb;
}

/* The readers are always inlined, so the position they advance stays in a register. */
#define FR_INLINE static inline __attribute__((always_inline))

/* The argument of the head at *pp (at least one byte left), whatever its major type. */
FR_INLINE bool rd_arg(const uint8_t **pp, const uint8_t *e, uint64_t *v)
{
  const uint8_t *p = *pp;
  unsigned ai = *p & 31;
  if (ai < 24) {
    *v = ai;
    *pp = p + 1;
    return true;
  }
  size_t left = (size_t)(e - p), n;
  if (ai <= 27 && left >= 9) {
    /* 1, 2, 4 or 8 argument bytes: the top ones of the next 8, big-endian; the length comes
     * from ai by a shift (not a table load), so the next item's position is ready sooner */
    size_t nb = (size_t)1 << (ai - 24);
    uint64_t w;
    memcpy(&w, p + 1, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    uint64_t x = w >> (64 - 8 * nb);
    if (x < (nb == 1 ? 24 : (uint64_t)1 << (4 * nb))) return false;
    *v = x;
    n = 1 + nb;
  } else if (!(n = head_long(p, left, ai, v))) {
    return false;
  }
  *pp = p + n;
  return true;
}

/* Reads the head of an item of major type mt (0..5); false when the next item is anything else
 * or not a well-formed shortest head. Strings: *v is the length, checked against the bytes left.
 * With 9 bytes left (nearly always) a longer argument is extracted without branching on its size. */
FR_INLINE bool rd_head(const uint8_t **pp, const uint8_t *e, unsigned mt, uint64_t *v)
{
  if (*pp >= e || (unsigned)(**pp >> 5) != mt || !rd_arg(pp, e, v)) return false;
  if ((mt == 2 || mt == 3) && *v > (uint64_t)(e - *pp)) return false;
  return true;
}

/* The shortest-form minimum of a 1, 2, 4 or 8 byte argument (ai 24..27). */
static const uint64_t arg_min[4] = { 24, 0x100, 0x10000, 0x100000000ull };

/* An unsigned integer (major type 0): one compare for 0..23, one more for the long forms. */
FR_INLINE bool rd_uint(const uint8_t **pp, const uint8_t *e, uint64_t *v)
{
  const uint8_t *p = *pp;
  if (e - p < 9) return rd_head(pp, e, 0, v);
  unsigned b = *p;
  if (b < 24) {
    *v = b;
    *pp = p + 1;
    return true;
  }
  if (b > 27) return false;
  size_t nb = (size_t)1 << (b - 24);
  uint64_t w;
  memcpy(&w, p + 1, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  w = __builtin_bswap64(w);
#endif
  uint64_t x = w >> (64 - 8 * nb);
  if (x < arg_min[b - 24]) return false;
  *v = x;
  *pp = p + 1 + nb;
  return true;
}

static inline bool fr_head(struct fr *r, unsigned mt, uint64_t *v) { return rd_head(&r->p, r->e, mt, v); }

/* An integer (major type 0 or 1) within int64_t. */
FR_INLINE bool rd_int(const uint8_t **pp, const uint8_t *e, int64_t *out)
{
  if (*pp >= e) return false;
  unsigned mt = **pp >> 5;
  uint64_t v;
  if (mt > 1) return false;
  if (e - *pp >= 9) {
    /* major type 1 shares type 0's argument forms: read it as one */
    const uint8_t *p = *pp;
    unsigned b = *p & 31;
    if (b < 24) {
      v = b;
      *pp = p + 1;
    } else {
      if (b > 27) return false;
      size_t nb = (size_t)1 << (b - 24);
      uint64_t w;
      memcpy(&w, p + 1, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      w = __builtin_bswap64(w);
#endif
      v = w >> (64 - 8 * nb);
      if (v < arg_min[b - 24]) return false;
      *pp = p + 1 + nb;
    }
  } else if (!rd_arg(pp, e, &v)) {
    return false;
  }
  if (v > (uint64_t)INT64_MAX) return false;
  *out = mt ? -1 - (int64_t)v : (int64_t)v;
  return true;
}

static inline bool fr_int(struct fr *r, int64_t *out) { return rd_int(&r->p, r->e, out); }

/* The skip of an unknown field's value (rare): the shared skipper on the same bytes. */
static bool fr_skip(struct fr *r, int depth)
{
  struct cr c = { r->buf, (size_t)(r->e - r->buf), (size_t)(r->p - r->buf), false };
  if (journal__cr_skip(&c, depth)) return false;
  r->p = r->buf + c.pos;
  return true;
}

/* The first n (0..8) bytes of a word loaded with memcpy. */
static inline uint64_t first_bytes(size_t n)
{
  uint64_t m = n >= 8 ? ~0ull : ((uint64_t)1 << (8 * n)) - 1;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return m;
#else
  return n >= 8 ? ~0ull : ~(~0ull >> (8 * n));
#endif
}

/* Whether the key [kp, kp+kl) is field f's name (kl == its length); avail: bytes from kp to the
 * end of the record. Names of up to 16 bytes: two 8-byte compares against the padded copy. */
static inline bool key_eq(const struct jfield *f, const uint8_t *kp, size_t kl, size_t avail)
{
  if (kl <= 16 && avail >= 16) {
    uint64_t a0, a1, b0, b1;
    memcpy(&a0, kp, 8);
    memcpy(&a1, kp + 8, 8);
    memcpy(&b0, f->key, 8);
    memcpy(&b1, f->key + 8, 8);
    return ((a0 ^ b0) & first_bytes(kl < 8 ? kl : 8)) == 0 && ((a1 ^ b1) & first_bytes(kl > 8 ? kl - 8 : 0)) == 0;
  }
  return memcmp(f->name, kp, kl) == 0;
}

/* Whether text [p, p+n) is exactly the NUL-terminated name. */
static inline bool name_is(const char *name, const uint8_t *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if ((uint8_t)name[i] != p[i] || !name[i]) return false;
  return name[n] == 0;
}

/* The previous key of a map, when it was one the table does not know (rare): kept out of the
 * hot loop. A known previous key is the field just before the scan position. */
struct funk {
  const uint8_t *key;
  size_t len;
  uint64_t left; /* the loop's count of keys still to read when it was read */
};

/* A key that is not simply the table's next field: read in full and looked up by a forward
 * scan from *next (canonical order). left: keys still to read, this one included; n: the map's
 * count. Returns the field, or NULL with r->p left after the value of an unknown field that was
 * skipped, or NULL with r->p == NULL when the map is to be rejected. */
static const struct jfield *fast_key(struct fr *r, const struct jfield **next, const struct jfield *fields,
                                     const struct jfield *end, uint64_t left, uint64_t n, struct funk *u, int depth)
{
  uint64_t kl64;
  if (!fr_head(r, 3, &kl64)) { r->p = NULL; return NULL; }
  const uint8_t *kp = r->p;
  size_t kl = (size_t)kl64;
  r->p += kl;
  const struct jfield *ff = *next;
  for (; ff < end; ff++) {
    size_t fl = journal__fname_len(ff);
    if (fl < kl) continue;
    if (fl > kl) break;
    if (key_eq(ff, kp, kl, (size_t)(r->e - kp))) {
      *next = ff + 1;
      return ff;
    }
    if (memcmp(ff->name, kp, kl) > 0) break;
  }
  /* Unknown: strictly above the previous key, valid UTF-8, and its value skipped. */
  bool above;
  if (left == n) above = true; /* the first key */
  else if (u->key && u->left == left + 1) above = key_cmp(u->key, u->len, kp, kl) < 0; /* after an unknown */
  else above = key_cmp((const uint8_t *)(*next)[-1].name, journal__fname_len(&(*next)[-1]), kp, kl) < 0;
  if (!above || !utf8_valid(kp, kl)) { r->p = NULL; return NULL; }
  u->key = kp;
  u->len = kl;
  u->left = left;
  *next = ff;
  if (!fr_skip(r, depth + 1)) r->p = NULL;
  return NULL;
}

static bool fast_body(struct fr *r, const struct jdesc *d, uint8_t *b, int depth)
{
  /* The position lives in a register: r->p is read here and written back only around calls. */
  const uint8_t *p = r->p, *const e = r->e;
  uint64_t n;
  if (depth > 4 || !rd_head(&p, e, 5, &n)) return false;
  const struct jfield *const fields = d->fields, *const end = fields + d->n;
  const struct jfield *next = fields; /* the scan position: every field from here on is above the
                                         previous key */
  struct funk u = { NULL, 0, 0 };
  for (uint64_t left = n; left; left--) {
    const struct jfield *f = NULL;
    /* Common case first: the key is the table's next field, compared as encoded bytes (head,
     * then the name 16 bytes at a time under its mask). A key equal to it is strictly above the
     * previous key, as every field from the scan position on is. */
    if (next < end && e - p >= 17) {
      uint64_t a0, a1, b0, b1;
      memcpy(&a0, p + 1, 8);
      memcpy(&a1, p + 9, 8);
      memcpy(&b0, next->key, 8);
      memcpy(&b1, next->key + 8, 8);
      if (p[0] == next->khead && next->namelen <= 16 && (((a0 ^ b0) & next->kmask[0]) | ((a1 ^ b1) & next->kmask[1])) == 0) {
        f = next++;
        p += 1 + f->namelen;
      }
    } else if (next < end && p < e && p[0] == next->khead && next->namelen < 24 && next->namelen < e - p &&
               same_bytes(next->key, p + 1, next->namelen)) {
      /* the same near the end of the record, byte by byte */
      f = next++;
      p += 1 + f->namelen;
    }
    if (!f) {
      r->p = p;
      f = fast_key(r, &next, fields, end, left, n, &u, depth);
      p = r->p;
      if (!p) return false;
      if (!f) continue; /* an unknown field, skipped */
    }
    uint8_t *o = b + f->offset;
    uint64_t v;
    switch (f->kind) {
    case JF_U8:
      if (!rd_uint(&p, e, &v) || v > 0xff) return false;
      *o = (uint8_t)v;
      break;
    case JF_U16: {
      if (!rd_uint(&p, e, &v) || v > 0xffff) return false;
      uint16_t x = (uint16_t)v;
      memcpy(o, &x, 2);
      break;
    }
    case JF_U32: {
      if (!rd_uint(&p, e, &v) || v > 0xffffffffu) return false;
      uint32_t x = (uint32_t)v;
      memcpy(o, &x, 4);
      break;
    }
    case JF_U64:
      if (!rd_uint(&p, e, &v)) return false;
      memcpy(o, &v, 8);
      break;
    case JF_I32: {
      int64_t x;
      if (!rd_int(&p, e, &x) || x < INT32_MIN || x > INT32_MAX) return false;
      int32_t y = (int32_t)x;
      memcpy(o, &y, 4);
      break;
    }
    case JF_I64: {
      int64_t x;
      if (!rd_int(&p, e, &x)) return false;
      memcpy(o, &x, 8);
      break;
    }
    case JF_BOOL:
      if (p >= e || (*p != 0xf4 && *p != 0xf5)) return false;
      *o = *p == 0xf5;
      p++;
      break;
    case JF_ENUM: {
      /* A match is ASCII, so no UTF-8 check is needed: anything else is rejected either way. */
      if (!rd_head(&p, e, 3, &v)) return false;
      const uint8_t *s = p;
      p += v;
      unsigned k = 0;
      while (f->enum_names[k] && !name_is(f->enum_names[k], s, (size_t)v)) k++;
      if (!f->enum_names[k]) return false;
      *o = (uint8_t)k;
      break;
    }
    case JF_TEXT: case JF_BYTES: {
      if (!rd_head(&p, e, f->kind == JF_TEXT ? 3 : 2, &v) || v > UINT32_MAX) return false;
      if (f->kind == JF_TEXT && !utf8_valid(p, (size_t)v)) return false;
      put_slice(o, p, (uint32_t)v);
      p += v;
      break;
    }
    case JF_FIXED:
      if (!rd_head(&p, e, 2, &v) || v != f->size) return false;
      memcpy(o, p, f->size);
      p += v;
      break;
    case JF_TARGET: {
      uint16_t t16;
      if (p < e && *p >> 5 == 3) {
        if (!rd_head(&p, e, 3, &v) || v != 7 || memcmp(p, "service", 7) != 0) return false;
        p += 7;
        t16 = JOURNAL_TARGET_SERVICE;
      } else {
        if (!rd_head(&p, e, 0, &v) || v < 1 || v > 0xffff) return false;
        t16 = (uint16_t)v;
      }
      memcpy(o, &t16, 2);
      break;
    }
    case JF_CHARS:
      if (!rd_head(&p, e, 3, &v) || v >= f->size || memchr(p, 0, (size_t)v) || !utf8_valid(p, (size_t)v)) return false;
      memcpy(o, p, (size_t)v);
      o[v] = 0;
      p += v;
      break;
    case JF_U16ARR: {
      if (!rd_head(&p, e, 4, &v) || v > f->max) return false;
      uint16_t cnt = (uint16_t)v;
      memcpy(b + f->count_offset, &cnt, 2);
      for (unsigned k = 0; k < cnt; k++) {
        uint64_t x;
        if (!rd_uint(&p, e, &x) || x > 0xffff) return false;
        uint16_t x16 = (uint16_t)x;
        memcpy(o + 2 * k, &x16, 2);
      }
      break;
    }
    case JF_ARRAY: {
      if (!rd_head(&p, e, 4, &v) || v > f->max) return false;
      uint16_t cnt = (uint16_t)v;
      memcpy(b + f->count_offset, &cnt, 2);
      for (unsigned k = 0; k < cnt; k++) {
        r->p = p;
        if (!fast_body(r, f->sub, o + (size_t)k * f->stride, depth + 1)) return false;
        p = r->p;
      }
      break;
    }
    default: return false;
    }
  }
  r->p = p;
  return true;
}

/* ------------------------------------------------------------------ envelope */

enum { K_PREV = 0, K_SEQ, K_V, K_TYPE, K_MONO, K_WALL, K_TQ, K_BOOT, K_SOURCE, K_BODY, K__N };

int journal_record_encode(const struct journal_record *r, uint8_t *buf, size_t cap, size_t *out_len)
{
  struct cw w = { buf, cap, 0, 0 };
  char src[64];
  int n = journal_source_format(&r->source, src, sizeof src);
  if (n < 0) return JOURNAL_EBADREC;
  if (r->type == 0 || r->type >= JOURNAL_T__MAX || r->time_quality > JOURNAL_TQ_STEPPED) return JOURNAL_EBADREC;
  journal__cw_map(&w, K__N);
  journal__cw_uint(&w, K_PREV); journal__cw_bytes(&w, r->prev, JOURNAL_HASH_BYTES);
  journal__cw_uint(&w, K_SEQ); journal__cw_uint(&w, r->seq);
  journal__cw_uint(&w, K_V); journal__cw_uint(&w, r->version);
  journal__cw_uint(&w, K_TYPE); journal__cw_uint(&w, r->type);
  journal__cw_uint(&w, K_MONO); journal__cw_uint(&w, r->mono_ns);
  journal__cw_uint(&w, K_WALL); journal__cw_int(&w, r->wall_ns);
  journal__cw_uint(&w, K_TQ); journal__cw_uint(&w, r->time_quality);
  journal__cw_uint(&w, K_BOOT); journal__cw_bytes(&w, r->boot_id, JOURNAL_BOOTID_BYTES);
  journal__cw_uint(&w, K_SOURCE); journal__cw_text(&w, src, (size_t)n);
  journal__cw_uint(&w, K_BODY);
  const struct jdesc *d = journal__body_desc(r->type);
  if (d) {
    int rc = journal__encode_body(&w, d, &r->body);
    if (rc) return rc == -ENOSPC ? -ENOSPC : rc;
  } else {
    /* Raw body: must itself be one canonical CBOR map. */
    struct cr chk = { r->body.raw.cbor.ptr, r->body.raw.cbor.len, 0, false };
    struct ctok t;
    if (!r->body.raw.cbor.ptr || journal__cr_next(&chk, &t) || t.kind != CT_MAP) return JOURNAL_EBADREC;
    chk.pos = 0;
    if (journal__cr_skip(&chk, 0) || chk.pos != chk.len) return JOURNAL_EBADREC;
    journal__cw_raw(&w, r->body.raw.cbor.ptr, r->body.raw.cbor.len);
  }
  if (w.err) return w.err;
  if (w.len > JOURNAL_RECORD_MAX) return JOURNAL_ETOOBIG;
  *out_len = w.len;
  return 0;
}

static int record_decode_with(const uint8_t *buf, size_t len, struct journal_record *out, cr_next_fn next)
{
  struct cr r = { buf, len, 0, false };
  struct ctok t;
  int rc;
  memset(out, 0, sizeof *out);
  if (len > JOURNAL_RECORD_MAX) return JOURNAL_ETOOBIG;
  if ((rc = next(&r, &t))) return rc == JOURNAL_ETRUNC ? JOURNAL_EBADREC : rc;
  if (t.kind != CT_MAP || t.u != K__N) return JOURNAL_EBADREC;
  for (unsigned k = 0; k < K__N; k++) {
    struct ctok key, v;
    if ((rc = next(&r, &key))) goto bad;
    if (key.kind != CT_UINT || key.u != k) return JOURNAL_EBADREC;
    if (k == K_BODY) {
      size_t start = r.pos;
      const struct jdesc *d = out->type < JOURNAL_T__MAX ? journal__body_desc(out->type) : NULL;
      if (d) {
        if ((rc = decode_body_with(&r, d, &out->body, 0, next))) goto bad;
      } else {
        struct cr peek = r;
        if ((rc = next(&peek, &v))) goto bad;
        if (v.kind != CT_MAP) return JOURNAL_EBADREC;
        if ((rc = cr_skip_with(&r, 0, next))) goto bad;
        out->body.raw.cbor.ptr = buf + start;
        out->body.raw.cbor.len = (uint32_t)(r.pos - start);
      }
      continue;
    }
    if ((rc = next(&r, &v))) goto bad;
    switch (k) {
    case K_PREV:
      if (v.kind != CT_BYTES || v.len != JOURNAL_HASH_BYTES) return JOURNAL_EBADREC;
      memcpy(out->prev, v.ptr, JOURNAL_HASH_BYTES);
      break;
    case K_SEQ:
      if (v.kind != CT_UINT || v.u == 0) return JOURNAL_EBADREC;
      out->seq = v.u;
      break;
    case K_V:
      if (v.kind != CT_UINT) return JOURNAL_EBADREC;
      if (v.u == 0 || v.u > JOURNAL_SCHEMA_VERSION) return JOURNAL_EVERSION;
      out->version = (uint32_t)v.u;
      break;
    case K_TYPE:
      if (v.kind != CT_UINT || v.u == 0 || v.u >= JOURNAL_T__MAX) return JOURNAL_EBADREC;
      out->type = (uint16_t)v.u;
      break;
    case K_MONO:
      if (v.kind != CT_UINT) return JOURNAL_EBADREC;
      out->mono_ns = v.u;
      break;
    case K_WALL:
      if ((rc = tok_to_i64(&v, &out->wall_ns))) return rc;
      break;
    case K_TQ:
      if (v.kind != CT_UINT || v.u > JOURNAL_TQ_STEPPED) return JOURNAL_EBADREC;
      out->time_quality = (uint8_t)v.u;
      break;
    case K_BOOT:
      if (v.kind != CT_BYTES || v.len != JOURNAL_BOOTID_BYTES) return JOURNAL_EBADREC;
      memcpy(out->boot_id, v.ptr, JOURNAL_BOOTID_BYTES);
      break;
    case K_SOURCE:
      if (v.kind != CT_TEXT) return JOURNAL_EBADREC;
      if ((rc = journal_source_parse((const char *)v.ptr, v.len, &out->source))) return rc;
      break;
    }
  }
  if (r.pos != len) return JOURNAL_EBADREC;
  return 0;
bad:
  return rc == JOURNAL_ETRUNC ? JOURNAL_EBADREC : rc;
}

int journal__record_decode_ref(const uint8_t *buf, size_t len, struct journal_record *out)
{
  return record_decode_with(buf, len, out, journal__cr_next_libcbor);
}

/* The envelope for the fast decoder: the same checks as record_decode_with, in the same order
 * (so the same one of JOURNAL_EBADREC / JOURNAL_EVERSION / JOURNAL_ETOOBIG comes out). */
int journal_record_decode(const uint8_t *buf, size_t len, struct journal_record *out)
{
  struct fr r = { buf, buf + len, buf };
  uint64_t v;
  memset(out, 0, sizeof *out);
  if (len > JOURNAL_RECORD_MAX) return JOURNAL_ETOOBIG;
  if (!fr_head(&r, 5, &v) || v != K__N) return JOURNAL_EBADREC;
  /* keys 0..8 are one byte each (0x00..0x08) */
#define KEY(k) do { if (r.p >= r.e || *r.p != (k)) return JOURNAL_EBADREC; r.p++; } while (0)
  KEY(K_PREV);
  if (!fr_head(&r, 2, &v) || v != JOURNAL_HASH_BYTES) return JOURNAL_EBADREC;
  memcpy(out->prev, r.p, JOURNAL_HASH_BYTES);
  r.p += JOURNAL_HASH_BYTES;
  KEY(K_SEQ);
  if (!fr_head(&r, 0, &v) || v == 0) return JOURNAL_EBADREC;
  out->seq = v;
  KEY(K_V);
  if (!fr_head(&r, 0, &v)) return JOURNAL_EBADREC;
  if (v == 0 || v > JOURNAL_SCHEMA_VERSION) return JOURNAL_EVERSION;
  out->version = (uint32_t)v;
  KEY(K_TYPE);
  if (!fr_head(&r, 0, &v) || v == 0 || v >= JOURNAL_T__MAX) return JOURNAL_EBADREC;
  out->type = (uint16_t)v;
  KEY(K_MONO);
  if (!fr_head(&r, 0, &v)) return JOURNAL_EBADREC;
  out->mono_ns = v;
  KEY(K_WALL);
  if (!fr_int(&r, &out->wall_ns)) return JOURNAL_EBADREC;
  KEY(K_TQ);
  if (!fr_head(&r, 0, &v) || v > JOURNAL_TQ_STEPPED) return JOURNAL_EBADREC;
  out->time_quality = (uint8_t)v;
  KEY(K_BOOT);
  if (!fr_head(&r, 2, &v) || v != JOURNAL_BOOTID_BYTES) return JOURNAL_EBADREC;
  memcpy(out->boot_id, r.p, JOURNAL_BOOTID_BYTES);
  r.p += JOURNAL_BOOTID_BYTES;
  KEY(K_SOURCE);
  if (!fr_head(&r, 3, &v) || !utf8_valid(r.p, (size_t)v)) return JOURNAL_EBADREC;
  int rc = journal_source_parse((const char *)r.p, (size_t)v, &out->source);
  if (rc) return rc;
  r.p += v;
  KEY(K_BODY);
#undef KEY
  const struct jdesc *d = journal__body_desc(out->type);
  if (d) {
    if (!fast_body(&r, d, (uint8_t *)&out->body, 0)) return JOURNAL_EBADREC;
  } else {
    const uint8_t *start = r.p;
    if (r.p >= r.e || *r.p >> 5 != 5 || !fr_skip(&r, 0)) return JOURNAL_EBADREC;
    out->body.raw.cbor.ptr = start;
    out->body.raw.cbor.len = (uint32_t)(r.p - start);
  }
  if (r.p != r.e) return JOURNAL_EBADREC;
  return 0;
}

int journal_record_peek(const uint8_t *buf, size_t len, uint64_t *out_seq, unsigned *out_type,
                        uint8_t out_prev[JOURNAL_HASH_BYTES])
{
  /* Fixed prefix: map(10), key 0, bstr(32) → prev at offset 4. */
  if (len < 40 || buf[0] != 0xaa || buf[1] != 0x00 || buf[2] != 0x58 || buf[3] != 0x20) return JOURNAL_EBADREC;
  memcpy(out_prev, buf + 4, JOURNAL_HASH_BYTES);
  struct cr r = { buf, len, 36, false };
  struct ctok k, v;
  if (journal__cr_next(&r, &k) || k.kind != CT_UINT || k.u != K_SEQ) return JOURNAL_EBADREC;
  if (journal__cr_next(&r, &v) || v.kind != CT_UINT) return JOURNAL_EBADREC;
  *out_seq = v.u;
  if (journal__cr_next(&r, &k) || k.kind != CT_UINT || k.u != K_V) return JOURNAL_EBADREC;
  if (journal__cr_next(&r, &v) || v.kind != CT_UINT) return JOURNAL_EBADREC;
  if (v.u == 0 || v.u > JOURNAL_SCHEMA_VERSION) return JOURNAL_EVERSION;
  if (journal__cr_next(&r, &k) || k.kind != CT_UINT || k.u != K_TYPE) return JOURNAL_EBADREC;
  if (journal__cr_next(&r, &v) || v.kind != CT_UINT || v.u == 0 || v.u >= JOURNAL_T__MAX) return JOURNAL_EBADREC;
  *out_type = (unsigned)v.u;
  return 0;
}

static const uint8_t record_domain[] = "hems.record.v1"; /* hashed with its NUL */

void journal_record_hash(const uint8_t *buf, size_t len, uint8_t out[JOURNAL_HASH_BYTES])
{
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, JOURNAL_HASH_BYTES);
  crypto_generichash_update(&st, record_domain, sizeof record_domain);
  crypto_generichash_update(&st, buf, len);
  crypto_generichash_final(&st, out, JOURNAL_HASH_BYTES);
}

int journal_seal_message(const struct journal_record *seal, uint8_t msg[JOURNAL_SEAL_MESSAGE_BYTES])
{
  static const char dom[16] = "hems.seal.v1";
  if (seal->type != JOURNAL_T_SEAL) return JOURNAL_EBADREC;
  struct journal_record z = *seal;
  memset(z.body.seal.sig, 0, JOURNAL_SIG_BYTES);
  uint8_t buf[1024];
  size_t len;
  int rc = journal_record_encode(&z, buf, sizeof buf, &len);
  if (rc) return rc;
  memcpy(msg, dom, 16);
  crypto_generichash(msg + 16, 32, buf, len, NULL, 0);
  return 0;
}

int journal__record_capture(const uint8_t *buf, size_t len, const uint8_t **out_hash)
{
  /* The body is envelope key 9; a top-level "capture" of 32 bytes, not all zero, names a blob. */
  struct cr r = { buf, len, 0, false };
  struct ctok t;
  *out_hash = NULL;
  if (journal__cr_next(&r, &t)) return 0;
  for (int k = 0; k < 9; k++) if (journal__cr_next(&r, &t) || journal__cr_skip(&r, 0)) return 0;
  if (journal__cr_next(&r, &t) || journal__cr_next(&r, &t) || t.kind != CT_MAP) return 0;
  for (uint64_t i = 0; i < t.u; i++) {
    struct ctok key, val;
    if (journal__cr_next(&r, &key)) return 0;
    size_t save = r.pos;
    if (key.kind == CT_TEXT && key.len == 7 && memcmp(key.ptr, "capture", 7) == 0 &&
        journal__cr_next(&r, &val) == 0 && val.kind == CT_BYTES && val.len == 32 &&
        !sodium_is_zero(val.ptr, 32)) {
      *out_hash = val.ptr;
      return 1;
    }
    r.pos = save;
    if (journal__cr_skip(&r, 0)) return 0;
  }
  return 0;
}
