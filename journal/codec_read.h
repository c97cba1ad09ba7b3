/*
 * codec_read.h — private to journal/: the inline CBOR head readers of the fast decoders
 * (codec_fast.c for the envelope and v 1 bodies, codec_v3fast.c for v 3 bodies). Shortest-form
 * heads only, the same acceptance rules as journal__cr_next.
 */
#ifndef HEMS_JOURNAL_CODEC_READ_H
#define HEMS_JOURNAL_CODEC_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

#endif
