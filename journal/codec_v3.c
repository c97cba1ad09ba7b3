/*
 * codec_v3.c — schema v 3 bodies (journal format 3; docs/journal.md "Schema v 3 bodies").
 *
 * The same field tables as v 1 (record_types.c), encoded compactly and still as deterministic
 * CBOR (RFC 8949 §4.2) that any decoder reads:
 *   - a body is a map with unsigned integer keys (each field's ikey, 0..31: one byte below 24), in
 *     ascending order; omit_zero fields are left out when zero, as in v 1;
 *   - an enum is its uint value (the names are the CDDL's; JSON prints the names);
 *   - a target is a uint, 0 meaning the service disconnect ("service" in v 1);
 *   - a uint16 array (window "branches") is an RFC 8746 typed array;
 *   - an array of sub-structs marked JF3_COLUMNS (window "channels" and "powers") is a map from
 *     the sub-field's ikey to a typed array of that field's values, one per element (all the
 *     same length); an omit_zero sub-field whose values are all zero leaves its column out;
 *   - every typed array is the narrowest that holds its values: unsigned when none is negative
 *     (tag 64 u8, 65 u16, 66 u32, 67 u64), else signed (72 s8, 73 s16, 74 s32, 75 s64), elements
 *     big-endian; an empty array is tag 64 over an empty byte string.
 * The decoder accepts exactly that (any other tag, width or order is JOURNAL_EBADREC); keys it
 * does not know are skipped (tags allowed inside them), as v 1 skips unknown names.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include "codec_internal.h"

unsigned journal_record_schema_for_format(unsigned format)
{
  return format >= 3 ? JOURNAL_SCHEMA_V3 : JOURNAL_SCHEMA_V1;
}

/* ------------------------------------------------------------------ typed arrays */

static void ta_put(uint8_t *p, unsigned width, int64_t v)
{
  uint64_t u = (uint64_t)v;
  for (unsigned k = width; k-- > 0;) { p[k] = (uint8_t)u; u >>= 8; }
}

/* Writes vals[0..n) as the narrowest typed array. */
static void put_typed_array(struct cw *w, const int64_t *vals, unsigned n)
{
  int64_t mn = 0, mx = 0;
  for (unsigned i = 0; i < n; i++) {
    if (i == 0 || vals[i] < mn) mn = vals[i];
    if (i == 0 || vals[i] > mx) mx = vals[i];
  }
  unsigned width, tag = journal__typed_array_tag(mn, mx, &width);
  uint8_t tmp[8 * JOURNAL__TA_MAX];
  if (n > JOURNAL__TA_MAX) { w->err = JOURNAL_EBADREC; return; }
  for (unsigned i = 0; i < n; i++) ta_put(tmp + (size_t)i * width, width, vals[i]);
  journal__cw_tag(w, tag);
  journal__cw_bytes(w, tmp, (size_t)n * width);
}

/* A sub-field value of a column as int64 (kinds a column may hold), or false. */
static bool col_get(const struct jfield *f, const uint8_t *p, int64_t *v)
{
  switch (f->kind) {
  case JF_U8: case JF_U16: case JF_U32: case JF_BOOL: case JF_ENUM:
    *v = (int64_t)journal__get_unsigned(p, f->kind);
    return true;
  case JF_I32: { int32_t x; memcpy(&x, p, 4); *v = x; return true; }
  case JF_I64: memcpy(v, p, 8); return true;
  default: return false;
  }
}

static unsigned enum_count(const struct jfield *f)
{
  unsigned k = 0;
  while (f->enum_names[k]) k++;
  return k;
}

/* ------------------------------------------------------------------ encoder */

static int encode_columns(struct cw *w, const struct jfield *f, const uint8_t *b)
{
  const struct jdesc *sd = f->sub;
  uint16_t n;
  memcpy(&n, b + f->count_offset, 2);
  if (n > f->max) return JOURNAL_EBADREC;
  const uint8_t *arr = b + f->offset;
  int64_t vals[JOURNAL__TA_MAX];
  if (n > JOURNAL__TA_MAX) return JOURNAL_EBADREC;
  unsigned present = 0;
  bool keep[JF3_NKEYS] = { false };
  for (unsigned j = 0; j < sd->n; j++) {
    const struct jfield *sf = &sd->fields[j];
    bool nz = false;
    for (unsigned k = 0; k < n; k++) {
      int64_t v;
      if (!col_get(sf, arr + (size_t)k * f->stride + sf->offset, &v)) return JOURNAL_EBADREC;
      if (sf->kind == JF_ENUM && (uint64_t)v >= enum_count(sf)) return JOURNAL_EBADREC;
      nz |= v != 0;
    }
    keep[j] = !sf->omit_zero || nz;
    present += keep[j];
  }
  journal__cw_map(w, present);
  for (unsigned i = 0; i < sd->n; i++) {
    unsigned j = sd->v3->order[i];
    if (!keep[j]) continue;
    const struct jfield *sf = &sd->fields[j];
    for (unsigned k = 0; k < n; k++) col_get(sf, arr + (size_t)k * f->stride + sf->offset, &vals[k]);
    journal__cw_uint(w, sf->ikey);
    put_typed_array(w, vals, n);
  }
  return w->err;
}

int journal__encode_body3(struct cw *w, const struct jdesc *d, const void *base)
{
  const uint8_t *b = base;
  unsigned present = 0;
  for (unsigned i = 0; i < d->n; i++) present += !journal__is_omitted(&d->fields[i], b);
  journal__cw_map(w, present);
  for (unsigned i = 0; i < d->n; i++) {
    const struct jfield *f = &d->fields[d->v3->order[i]];
    const uint8_t *p = b + f->offset;
    if (journal__is_omitted(f, b)) continue;
    journal__cw_uint(w, f->ikey);
    switch (f->kind) {
    case JF_ENUM:
      if (*p >= enum_count(f)) return JOURNAL_EBADREC;
      journal__cw_uint(w, *p);
      break;
    case JF_TARGET: { uint16_t t; memcpy(&t, p, 2); journal__cw_uint(w, t); break; }
    case JF_U16ARR: {
      uint16_t n;
      memcpy(&n, b + f->count_offset, 2);
      if (n > f->max || n > JOURNAL__TA_MAX) return JOURNAL_EBADREC;
      int64_t vals[JOURNAL__TA_MAX];
      for (unsigned k = 0; k < n; k++) { uint16_t x; memcpy(&x, p + 2 * k, 2); vals[k] = x; }
      put_typed_array(w, vals, n);
      break;
    }
    case JF_ARRAY: {
      if (f->v3flags & JF3_COLUMNS) {
        int rc = encode_columns(w, f, b);
        if (rc) return rc;
        break;
      }
      uint16_t n;
      memcpy(&n, b + f->count_offset, 2);
      if (n > f->max) return JOURNAL_EBADREC;
      journal__cw_array(w, n);
      for (unsigned k = 0; k < n; k++) {
        int rc = journal__encode_body3(w, f->sub, p + (size_t)k * f->stride);
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

/* ------------------------------------------------------------------ decoder */

/* A uint16 array's elements as a column of one U16 field at offset 0 (window "branches"). */
const struct jfield journal__u16_element = { .name = "u16", .kind = JF_U16, .size = 2 };

static inline uint32_t load_be32(const uint8_t *p) { uint32_t x; memcpy(&x, p, 4); return __builtin_bswap32(x); }
static inline uint64_t load_be64(const uint8_t *p) { uint64_t x; memcpy(&x, p, 8); return __builtin_bswap64(x); }

int journal__v3_put_column(const struct jfield *sf, uint8_t *arr, size_t stride, unsigned tag,
                           const uint8_t *data, unsigned n, bool omit_col)
{
  int64_t v[JOURNAL__TA_MAX];
  if (n > JOURNAL__TA_MAX) return JOURNAL_EBADREC;
  if (n == 0) { /* no values: only the empty u8 array, and never for a column left out when zero */
    if (tag != 64 || omit_col) return JOURNAL_EBADREC;
    return 0;
  }
  int64_t mn = INT64_MAX, mx = INT64_MIN;
#define TA_LOOP(expr) for (unsigned i = 0; i < n; i++) { int64_t x_ = (expr); v[i] = x_; mn = x_ < mn ? x_ : mn; mx = x_ > mx ? x_ : mx; }
  switch (tag) {
  case 64: TA_LOOP(data[i]) break;
  case 72: TA_LOOP((int8_t)data[i]) break;
  case 65: TA_LOOP((uint16_t)(data[2 * i] << 8 | data[2 * i + 1])) break;
  case 73: TA_LOOP((int16_t)(uint16_t)(data[2 * i] << 8 | data[2 * i + 1])) break;
  case 66: TA_LOOP((int64_t)load_be32(data + 4 * i)) break;
  case 74: TA_LOOP((int32_t)load_be32(data + 4 * i)) break;
  case 67:
    for (unsigned i = 0; i < n; i++) if (data[8 * i] & 0x80) return JOURNAL_EBADREC; /* fits no field */
    /* fall through */
  default: TA_LOOP((int64_t)load_be64(data + 8 * i)) break;
  }
#undef TA_LOOP
  unsigned w;
  if (journal__typed_array_tag(mn, mx, &w) != tag) return JOURNAL_EBADREC; /* not the narrowest */
  if (omit_col && mn == 0 && mx == 0) return JOURNAL_EBADREC; /* the encoder leaves it out */
  int64_t lo, hi;
  journal__v3_field_range(sf, &lo, &hi);
  if (mn < lo || mx > hi) return JOURNAL_EBADREC;
  uint8_t *p = arr + sf->offset;
  switch (sf->kind) {
  case JF_U8: case JF_BOOL: case JF_ENUM: for (unsigned i = 0; i < n; i++) p[i * stride] = (uint8_t)v[i]; break;
  case JF_U16: for (unsigned i = 0; i < n; i++) { uint16_t x = (uint16_t)v[i]; memcpy(p + i * stride, &x, 2); } break;
  case JF_U32: for (unsigned i = 0; i < n; i++) { uint32_t x = (uint32_t)v[i]; memcpy(p + i * stride, &x, 4); } break;
  case JF_I32: for (unsigned i = 0; i < n; i++) { int32_t x = (int32_t)v[i]; memcpy(p + i * stride, &x, 4); } break;
  case JF_I64: for (unsigned i = 0; i < n; i++) memcpy(p + i * stride, &v[i], 8); break;
  default: return JOURNAL_EBADREC;
  }
  return 0;
}

/* Reads a typed array (tag then byte string): its tag, data and element count (at most max). */
static int read_typed_array(struct cr *r, cr_next_fn next, unsigned max, unsigned *tag, const uint8_t **data,
                            unsigned *n)
{
  struct ctok t, s;
  int rc;
  r->mode |= CR_ALLOW_TAG;
  rc = next(r, &t);
  r->mode &= (uint8_t)~CR_ALLOW_TAG;
  if (rc) return rc;
  if (t.kind != CT_TAG) return JOURNAL_EBADREC;
  if ((rc = next(r, &s))) return rc;
  int c = journal__v3_ta_count(t.u, s.len, max);
  if (s.kind != CT_BYTES || c < 0) return JOURNAL_EBADREC;
  *tag = (unsigned)t.u;
  *data = s.ptr;
  *n = (unsigned)c;
  return 0;
}

/* Skips the value of a key the table does not know (tags allowed: a later column). */
static int skip_unknown(struct cr *r, int depth, cr_next_fn next)
{
  r->mode |= CR_ALLOW_TAG;
  int rc = journal__cr_skip_with(r, depth, next);
  r->mode &= (uint8_t)~CR_ALLOW_TAG;
  return rc;
}

/* Reads the next map key: an unsigned integer strictly above the previous one (*prev, -1 at the
 * start). *f: the field with that key, or NULL for one the table does not know. */
static int read_key(struct cr *r, cr_next_fn next, const struct jdesc *d, int64_t *prev, const struct jfield **f)
{
  struct ctok k;
  int rc = next(r, &k);
  if (rc) return rc;
  if (k.kind != CT_UINT || (int64_t)k.u <= *prev || k.u > INT64_MAX) return JOURNAL_EBADREC;
  *prev = (int64_t)k.u;
  *f = k.u < JF3_NKEYS && d->v3->by_key[k.u] ? &d->fields[d->v3->by_key[k.u] - 1] : NULL;
  return 0;
}

static int decode_columns(struct cr *r, const struct jfield *f, uint8_t *b, int depth, cr_next_fn next)
{
  struct ctok m;
  int rc;
  if ((rc = next(r, &m))) return rc;
  if (m.kind != CT_MAP) return JOURNAL_EBADREC;
  uint8_t *arr = b + f->offset;
  int64_t prev = -1;
  bool have = false;
  unsigned count = 0;
  for (uint64_t i = 0; i < m.u; i++) {
    const struct jfield *sf;
    if ((rc = read_key(r, next, f->sub, &prev, &sf))) return rc;
    if (!sf) {
      if ((rc = skip_unknown(r, depth + 1, next))) return rc;
      continue;
    }
    unsigned tag, n;
    const uint8_t *data;
    if ((rc = read_typed_array(r, next, f->max, &tag, &data, &n))) return rc;
    if (have && n != count) return JOURNAL_EBADREC; /* every column has one value per element */
    if ((rc = journal__v3_put_column(sf, arr, f->stride, tag, data, n, sf->omit_zero))) return rc;
    count = n;
    have = true;
  }
  uint16_t c16 = (uint16_t)count;
  memcpy(b + f->count_offset, &c16, 2);
  return 0;
}

int journal__decode_body3_with(struct cr *r, const struct jdesc *d, void *base, int depth, cr_next_fn next)
{
  uint8_t *b = base;
  struct ctok t, v;
  int rc;
  if (depth > 4) return JOURNAL_EBADREC;
  if ((rc = next(r, &t))) return rc;
  if (t.kind != CT_MAP) return JOURNAL_EBADREC;
  int64_t prev = -1;
  for (uint64_t i = 0; i < t.u; i++) {
    const struct jfield *f;
    if ((rc = read_key(r, next, d, &prev, &f))) return rc;
    if (!f) {
      if ((rc = skip_unknown(r, depth + 1, next))) return rc;
      continue;
    }
    uint8_t *p = b + f->offset;
    if (f->kind == JF_U16ARR) {
      unsigned tag, n;
      const uint8_t *data;
      if ((rc = read_typed_array(r, next, f->max, &tag, &data, &n))) return rc;
      if ((rc = journal__v3_put_column(&journal__u16_element, p, 2, tag, data, n, false))) return rc;
      uint16_t c16 = (uint16_t)n;
      memcpy(b + f->count_offset, &c16, 2);
      continue;
    }
    if (f->kind == JF_ARRAY && (f->v3flags & JF3_COLUMNS)) {
      if ((rc = decode_columns(r, f, b, depth, next))) return rc;
      continue;
    }
    if (f->kind == JF_ARRAY) {
      struct ctok a;
      if ((rc = next(r, &a))) return rc;
      if (a.kind != CT_ARRAY || a.u > f->max) return JOURNAL_EBADREC;
      uint16_t cnt = (uint16_t)a.u;
      memcpy(b + f->count_offset, &cnt, 2);
      for (unsigned e = 0; e < cnt; e++)
        if ((rc = journal__decode_body3_with(r, f->sub, p + (size_t)e * f->stride, depth + 1, next))) return rc;
      continue;
    }
    if ((rc = next(r, &v))) return rc;
    switch (f->kind) {
    case JF_ENUM:
      if (v.kind != CT_UINT || v.u >= enum_count(f)) return JOURNAL_EBADREC;
      *p = (uint8_t)v.u;
      break;
    case JF_TARGET: {
      if (v.kind != CT_UINT || v.u > 0xffff) return JOURNAL_EBADREC;
      uint16_t t16 = (uint16_t)v.u;
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
