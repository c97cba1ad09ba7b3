/*
 * codec_body.c — schema v 1 bodies: text-keyed maps encoded by field table, and the table walk
 * over a tokenizer that is the reference decode (with libcbor's tokenizer) the fast decoder in
 * codec_fast.c is held to.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <cbor.h>
#include "codec_internal.h"

/* ------------------------------------------------------------------ bodies */

uint64_t journal__get_unsigned(const void *p, unsigned kind)
{
  switch (kind) {
  case JF_U8: case JF_BOOL: case JF_ENUM: return *(const uint8_t *)p;
  case JF_U16: { uint16_t v; memcpy(&v, p, 2); return v; }
  case JF_U32: { uint32_t v; memcpy(&v, p, 4); return v; }
  default: { uint64_t v; memcpy(&v, p, 8); return v; }
  }
}

bool journal__is_omitted(const struct jfield *f, const uint8_t *base)
{
  if (!f->omit_zero) return false;
  if (f->omit_zero == JF_OMIT_ABSENT) return base[f->count_offset] == 0;
  const uint8_t *p = base + f->offset;
  switch (f->kind) {
  case JF_U8: case JF_U16: case JF_U32: case JF_U64: return journal__get_unsigned(p, f->kind) == 0;
  case JF_I32: { int32_t v; memcpy(&v, p, 4); return v == 0; }
  case JF_I64: { int64_t v; memcpy(&v, p, 8); return v == 0; }
  case JF_BOOL: case JF_ENUM: return *p == 0;
  case JF_TEXT: case JF_BYTES: { struct journal_slice v; memcpy(&v, p, sizeof v); return v.len == 0; }
  case JF_FIXED: { uint8_t acc = 0; for (size_t k = 0; k < f->size; k++) acc |= p[k]; return acc == 0; }
  default: return false;
  }
}

/* Left out of a v 1 body: omitted when zero, or a field v 1 never carries. */
static inline bool skip_v1(const struct jfield *f, const uint8_t *base)
{
  return (f->v3flags & JF3_ONLY) || journal__is_omitted(f, base);
}

/* The kinds both schema versions encode alike: integers, bools, text, byte strings. */
int journal__encode_scalar(struct cw *w, const struct jfield *f, const uint8_t *p)
{
  switch (f->kind) {
  case JF_U8: case JF_U16: case JF_U32: case JF_U64: journal__cw_uint(w, journal__get_unsigned(p, f->kind)); return 0;
  case JF_I32: { int32_t v; memcpy(&v, p, 4); journal__cw_int(w, v); return 0; }
  case JF_I64: { int64_t v; memcpy(&v, p, 8); journal__cw_int(w, v); return 0; }
  case JF_BOOL: journal__cw_bool(w, *p != 0); return 0;
  case JF_TEXT: case JF_BYTES: {
    struct journal_slice s;
    memcpy(&s, p, sizeof s);
    if (s.len && !s.ptr) return JOURNAL_EBADREC;
    if (f->kind == JF_TEXT && !journal__utf8_valid(s.ptr, s.len)) return JOURNAL_EBADREC;
    if (f->kind == JF_TEXT) journal__cw_text(w, s.ptr, s.len);
    else journal__cw_bytes(w, s.ptr, s.len);
    return 0;
  }
  case JF_FIXED: journal__cw_bytes(w, p, f->size); return 0;
  case JF_CHARS: {
    size_t n = strnlen((const char *)p, f->size);
    if (n >= f->size) return JOURNAL_EBADREC;
    journal__cw_text(w, p, n);
    return 0;
  }
  default: return 1;
  }
}

/* The same kinds decoded from a token into the field at p. */
int journal__decode_scalar(const struct jfield *f, uint8_t *p, const struct ctok *v)
{
  int rc;
  switch (f->kind) {
  case JF_U8: case JF_U16: case JF_U32: case JF_U64:
    if (v->kind != CT_UINT) return JOURNAL_EBADREC;
    return journal__put_unsigned(p, f->kind, v->u);
  case JF_I32: case JF_I64: {
    int64_t x;
    if ((rc = journal__tok_to_i64(v, &x))) return rc;
    if (f->kind == JF_I32) {
      if (x < INT32_MIN || x > INT32_MAX) return JOURNAL_EBADREC;
      int32_t y = (int32_t)x;
      memcpy(p, &y, 4);
    } else {
      memcpy(p, &x, 8);
    }
    return 0;
  }
  case JF_BOOL:
    if (v->kind != CT_BOOL) return JOURNAL_EBADREC;
    *p = (uint8_t)v->u;
    return 0;
  case JF_TEXT: case JF_BYTES:
    if (v->kind != (f->kind == JF_TEXT ? CT_TEXT : CT_BYTES) || v->len > UINT32_MAX) return JOURNAL_EBADREC;
    journal__put_slice(p, v->ptr, (uint32_t)v->len);
    return 0;
  case JF_FIXED:
    if (v->kind != CT_BYTES || v->len != f->size) return JOURNAL_EBADREC;
    memcpy(p, v->ptr, f->size);
    return 0;
  case JF_CHARS:
    if (v->kind != CT_TEXT || v->len >= f->size || memchr(v->ptr, 0, v->len)) return JOURNAL_EBADREC;
    memcpy(p, v->ptr, v->len);
    p[v->len] = 0;
    return 0;
  default: return 1;
  }
}

int journal__encode_body(struct cw *w, const struct jdesc *d, const void *base)
{
  const uint8_t *b = base;
  /* Fields marked omit_zero are left out when 0 (text: empty): a deterministic function of the
   * value, so the encoding stays canonical. */
  unsigned present = 0;
  for (unsigned i = 0; i < d->n; i++) present += !skip_v1(&d->fields[i], b);
  journal__cw_map(w, present);
  for (unsigned i = 0; i < d->n; i++) {
    const struct jfield *f = &d->fields[i];
    const uint8_t *p = b + f->offset;
    if (skip_v1(f, b)) continue;
    journal__cw_text(w, f->name, journal__fname_len(f));
    switch (f->kind) {
    case JF_ENUM: {
      unsigned v = *p, k = 0;
      while (f->enum_names[k] && k < v) k++;
      if (!f->enum_names[k]) return JOURNAL_EBADREC;
      journal__cw_text(w, f->enum_names[v], strlen(f->enum_names[v]));
      break;
    }
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
    default: {
      int rc = journal__encode_scalar(w, f, p);
      if (rc) return rc == 1 ? JOURNAL_EBADREC : rc;
    }
    }
  }
  return w->err;
}

int journal__put_unsigned(void *p, unsigned kind, uint64_t v)
{
  switch (kind) {
  case JF_U8: if (v > 0xff) return JOURNAL_EBADREC; *(uint8_t *)p = (uint8_t)v; return 0;
  case JF_U16: { if (v > 0xffff) return JOURNAL_EBADREC; uint16_t x = (uint16_t)v; memcpy(p, &x, 2); return 0; }
  case JF_U32: { if (v > 0xffffffffu) return JOURNAL_EBADREC; uint32_t x = (uint32_t)v; memcpy(p, &x, 4); return 0; }
  default: memcpy(p, &v, 8); return 0;
  }
}

int journal__tok_to_i64(const struct ctok *t, int64_t *out)
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
int journal__decode_body_with(struct cr *r, const struct jdesc *d, void *base, int depth, cr_next_fn next)
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
    r->mode |= CR_RAW_TEXT;
    rc = next(r, &k);
    r->mode &= (uint8_t)~CR_RAW_TEXT;
    if (rc) return rc;
    if (k.kind != CT_TEXT) return JOURNAL_EBADREC;
    if (prev_key && journal__key_cmp(prev_key, prev_len, k.ptr, k.len) >= 0) return JOURNAL_EBADREC;
    prev_key = k.ptr;
    prev_len = k.len;
    /* Tables are in canonical order too, so one forward scan finds the field. */
    /* Common case first: the key is the table's next field (both are in canonical order). */
    int c = 1;
    while (fi < d->n) {
      const struct jfield *ff = &d->fields[fi];
      size_t fl = journal__fname_len(ff);
      c = fl == k.len && ff->name[0] == k.ptr[0] && journal__same_bytes(ff->name, k.ptr, k.len) ? 0
        : journal__key_cmp((const uint8_t *)ff->name, fl, k.ptr, k.len);
      if (c >= 0) break;
      fi++;
    }
    if (fi >= d->n || c != 0) {
      if (!journal__utf8_valid(k.ptr, k.len)) return JOURNAL_EBADREC;
      /* A field this version does not know: a compatible addition; skip it. */
      if ((rc = journal__cr_skip_with(r, depth + 1, next))) return rc;
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
        if ((rc = journal__decode_body_with(r, f->sub, p + (size_t)e * f->stride, depth + 1, next))) return rc;
      continue;
    }
    struct ctok v;
    if ((rc = next(r, &v))) return rc;
    switch (f->kind) {
    case JF_ENUM: {
      if (v.kind != CT_TEXT) return JOURNAL_EBADREC;
      unsigned e = 0;
      while (f->enum_names[e] && !(f->enum_names[e][0] == (char)(v.len ? v.ptr[0] : 0) && strlen(f->enum_names[e]) == v.len &&
                                   journal__same_bytes(f->enum_names[e], v.ptr, v.len))) e++;
      if (!f->enum_names[e]) return JOURNAL_EBADREC;
      *p = (uint8_t)e;
      break;
    }
    case JF_TARGET: {
      uint16_t t16;
      if (v.kind == CT_TEXT && v.len == 7 && memcmp(v.ptr, "service", 7) == 0) t16 = JOURNAL_TARGET_SERVICE;
      else if (v.kind == CT_UINT && v.u >= 1 && v.u <= 0xffff) t16 = (uint16_t)v.u;
      else return JOURNAL_EBADREC;
      memcpy(p, &t16, 2);
      break;
    }
    default:
      if ((rc = journal__decode_scalar(f, p, &v))) return rc == 1 ? JOURNAL_EBADREC : rc;
      journal__mark_present(f, b);
    }
  }
  return 0;
}

int journal__decode_body(struct cr *r, const struct jdesc *d, void *base, int depth)
{
  return journal__decode_body_with(r, d, base, depth, journal__cr_next);
}
