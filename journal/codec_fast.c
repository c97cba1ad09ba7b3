/*
 * codec_fast.c — journal_record_decode: the envelope and schema v 1 bodies read inline from a
 * byte pointer (v 3 bodies: codec_v3fast.c).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <cbor.h>
#include "codec_internal.h"
#include "codec_read.h"

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
  else if (u->key && u->left == left + 1) above = journal__key_cmp(u->key, u->len, kp, kl) < 0; /* after an unknown */
  else above = journal__key_cmp((const uint8_t *)(*next)[-1].name, journal__fname_len(&(*next)[-1]), kp, kl) < 0;
  if (!above || !journal__utf8_valid(kp, kl)) { r->p = NULL; return NULL; }
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
               journal__same_bytes(next->key, p + 1, next->namelen)) {
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
      journal__mark_present(f, b);
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
      if (f->kind == JF_TEXT && !journal__utf8_valid(p, (size_t)v)) return false;
      journal__put_slice(o, p, (uint32_t)v);
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
      if (!rd_head(&p, e, 3, &v) || v >= f->size || memchr(p, 0, (size_t)v) || !journal__utf8_valid(p, (size_t)v)) return false;
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

/* The envelope for the fast decoder: the same checks as record_decode_with, in the same order
 * (so the same one of JOURNAL_EBADREC / JOURNAL_EVERSION / JOURNAL_ETOOBIG comes out). reuse:
 * the body is cleared once the type is known, a window's only as far as the window goes. */
static inline __attribute__((always_inline)) int decode(const uint8_t *buf, size_t len, struct journal_record *out,
                                                        bool reuse)
{
  struct fr r = { buf, buf + len, buf };
  uint64_t v;
  if (reuse) memset(out, 0, offsetof(struct journal_record, body));
  else memset(out, 0, sizeof *out);
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
  if (!journal_schema_known(v)) return JOURNAL_EVERSION;
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
  if (!fr_head(&r, 3, &v) || !journal__utf8_valid(r.p, (size_t)v)) return JOURNAL_EBADREC;
  int rc = journal_source_parse((const char *)r.p, (size_t)v, &out->source);
  if (rc) return rc;
  r.p += v;
  KEY(K_BODY);
#undef KEY
  if (reuse) {
    if (out->type == JOURNAL_T_WINDOW) memset(&out->body.window, 0, sizeof out->body.window);
    else memset(&out->body, 0, sizeof out->body);
  }
  const struct jdesc *d = journal__body_desc(out->type);
  if (d && out->version == JOURNAL_SCHEMA_V3) {
    const uint8_t *q = r.p;
    if (out->type == JOURNAL_T_WINDOW && journal__fast_window3(&q, r.e, d, &out->body.window)) {
      r.p = q;
    } else {
      if (out->type == JOURNAL_T_WINDOW) memset(&out->body.window, 0, sizeof out->body.window); /* not decided there */
      if (!journal__fast_body3(&r.p, buf, r.e, d, (uint8_t *)&out->body, 0)) return JOURNAL_EBADREC;
    }
  } else if (d) {
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

int journal_record_decode(const uint8_t *buf, size_t len, struct journal_record *out)
{
  return decode(buf, len, out, false);
}

int journal_record_decode_reuse(const uint8_t *buf, size_t len, struct journal_record *out)
{
  return decode(buf, len, out, true);
}
