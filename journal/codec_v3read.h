/*
 * codec_v3read.h — private to journal/: the inline pieces of the schema v 3 fast decoders
 * (codec_v3fast.c, the table walk; codec_v3window.c, the window body with its layout known at
 * compile time): typed arrays, the column store, the next integer key. Shared so both apply
 * exactly the same rules.
 */
#ifndef HEMS_JOURNAL_CODEC_V3READ_H
#define HEMS_JOURNAL_CODEC_V3READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "codec_internal.h"
#include "codec_read.h"

/* A typed array: tag head, then a byte string of n elements (at most max). */
FR_INLINE bool typed_array(const uint8_t **pp, const uint8_t *e, unsigned max, unsigned *tag,
                               const uint8_t **data, unsigned *n)
{
  uint64_t t, len;
  const uint8_t *p = *pp;
  /* Every typed array a column holds: a one-byte tag (0xd8, 64..75) and a byte string of under
   * 256 bytes (0x40 | len, or 0x58 len). Read here with the general readers' rules (the shortest
   * forms only, the length within the record); anything else goes the general way. */
  if (e - p >= 4 && p[0] == 0xd8 && (p[2] == 0x58 || (p[2] >> 5 == 2 && (p[2] & 31) < 24))) {
    t = p[1];
    size_t hl = p[2] == 0x58 ? 4 : 3;
    len = p[2] == 0x58 ? p[3] : (uint64_t)(p[2] & 31);
    if (t < 24 || (hl == 4 && len < 24) || len > (uint64_t)(e - p - (ptrdiff_t)hl)) return false;
    *pp = p + hl;
  } else if (*pp >= e || **pp >> 5 != 6 || !rd_arg(pp, e, &t) || !rd_head(pp, e, 2, &len)) {
    return false;
  }
  int c = journal__v3_ta_count(t, (size_t)len, max);
  if (c < 0) return false;
  *tag = (unsigned)t;
  *data = *pp;
  *n = (unsigned)c;
  *pp += len;
  return true;
}

/* Big-endian element loads that do not depend on the host's byte order or alignment. */
FR_INLINE uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
FR_INLINE uint32_t be32(const uint8_t *p)
{
  uint32_t x;
  memcpy(&x, p, 4);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  x = __builtin_bswap32(x);
#endif
  return x;
}
FR_INLINE uint64_t be64(const uint8_t *p)
{
  uint64_t x;
  memcpy(&x, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  x = __builtin_bswap64(x);
#endif
  return x;
}

/* One pass over the elements: each value loaded (LOAD of i), its min/max kept and stored into
 * the field as the field's type (STORE of x, at q). A value the field cannot hold is stored
 * truncated and then rejected by the range check below: a rejected record's contents are
 * unspecified. */
#define COL_PASS(LOAD, STORE) \
  for (unsigned i = 0; i < n; i++) { \
    int64_t x = (LOAD); \
    uint8_t *q = p + i * stride; \
    mn = x < mn ? x : mn; \
    mx = x > mx ? x : mx; \
    STORE; \
  }
#define COL_TAGS(STORE) \
  switch (tag) { \
  case 64: COL_PASS(data[i], STORE) break; \
  case 72: COL_PASS((int8_t)data[i], STORE) break; \
  case 65: COL_PASS(be16(data + 2 * i), STORE) break; \
  case 73: COL_PASS((int16_t)be16(data + 2 * i), STORE) break; \
  case 66: COL_PASS((int64_t)be32(data + 4 * i), STORE) break; \
  case 74: COL_PASS((int32_t)be32(data + 4 * i), STORE) break; \
  case 67: \
    for (unsigned i = 0; i < n; i++) if (data[8 * i] & 0x80) return JOURNAL_EBADREC; /* fits no field */ \
    COL_PASS((int64_t)be64(data + 8 * i), STORE) break; \
  case 75: COL_PASS((int64_t)be64(data + 8 * i), STORE) break; \
  default: return JOURNAL_EBADREC; \
  }

/* Inlined where the decoder stores a column (once per column of every window: the call was a
 * measurable part of replay); journal__v3_put_column_fast is the same for the tests. */
FR_INLINE int put_column(const struct jfield *sf, uint8_t *arr, size_t stride, unsigned tag, const uint8_t *data,
                         unsigned n, bool omit_col)
{
  if (n > JOURNAL__TA_MAX) return JOURNAL_EBADREC;
  if (n == 0) return tag != 64 || omit_col ? JOURNAL_EBADREC : 0; /* only the empty u8 array */
  int64_t mn = INT64_MAX, mx = INT64_MIN;
  uint8_t *p = arr + sf->offset;
  switch (sf->kind) {
  case JF_U8: case JF_BOOL: case JF_ENUM: COL_TAGS(*q = (uint8_t)x) break;
  case JF_U16: COL_TAGS(uint16_t y = (uint16_t)x; memcpy(q, &y, 2)) break;
  case JF_U32: COL_TAGS(uint32_t y = (uint32_t)x; memcpy(q, &y, 4)) break;
  case JF_I32: COL_TAGS(int32_t y = (int32_t)x; memcpy(q, &y, 4)) break;
  case JF_I64: COL_TAGS(memcpy(q, &x, 8)) break;
  default: return JOURNAL_EBADREC;
  }
  unsigned w;
  if (journal__typed_array_tag(mn, mx, &w) != tag) return JOURNAL_EBADREC; /* not the narrowest */
  if (omit_col && mn == 0 && mx == 0) return JOURNAL_EBADREC; /* the encoder leaves it out */
  int64_t lo, hi;
  journal__v3_field_range(sf, &lo, &hi);
  return mn < lo || mx > hi ? JOURNAL_EBADREC : 0;
}
#undef COL_TAGS
#undef COL_PASS

/* The next key: a uint above *prev; *f its field or NULL. */
FR_INLINE bool key3(const uint8_t **pp, const uint8_t *e, const struct jdesc *d, int64_t *prev,
                        const struct jfield **f)
{
  uint64_t k;
  if (!rd_uint(pp, e, &k) || k > INT64_MAX || (int64_t)k <= *prev) return false;
  *prev = (int64_t)k;
  *f = k < JF3_NKEYS && d->v3->by_key[k] ? &d->fields[d->v3->by_key[k] - 1] : NULL;
  return true;
}

#endif
