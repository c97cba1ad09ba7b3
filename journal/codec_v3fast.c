/*
 * codec_v3fast.c — schema v 3 bodies for journal_record_decode, read inline from a byte pointer
 * (codec_read.h) instead of one tokenizer call per item. The same rules as the reference walk
 * (journal__decode_body3_with in codec_v3.c, run over libcbor's tokenizer) — integer keys
 * strictly ascending, unknown keys skipped, typed arrays only where a column is expected and
 * the narrowest for their values — and the same column store (journal__v3_put_column). Every
 * failure is JOURNAL_EBADREC at the record level, so the walk only says accept or reject;
 * tests/fuzz/fuzz_record.c and tests/journal/test_codec3.c hold it to the reference.
 */
#include <stddef.h>
#include <string.h>
#include "codec_v3read.h"

/* The value of a key the table does not know (tags allowed): the shared skipper. */
static bool skip3(const uint8_t **pp, const uint8_t *buf, const uint8_t *e, int depth)
{
  struct cr c = { buf, (size_t)(e - buf), (size_t)(*pp - buf), CR_ALLOW_TAG };
  if (journal__cr_skip_with(&c, depth, journal__cr_next)) return false;
  *pp = buf + c.pos;
  return true;
}

int journal__v3_put_column_fast(const struct jfield *sf, uint8_t *arr, size_t stride, unsigned tag,
                                const uint8_t *data, unsigned n, bool omit_col)
{
  return put_column(sf, arr, stride, tag, data, n, omit_col);
}

static bool columns3(const uint8_t **pp, const uint8_t *buf, const uint8_t *e, const struct jfield *f, uint8_t *b,
                     int depth)
{
  uint64_t m;
  if (!rd_head(pp, e, 5, &m)) return false;
  int64_t prev = -1;
  bool have = false;
  unsigned count = 0;
  for (uint64_t i = 0; i < m; i++) {
    const struct jfield *sf;
    if (!key3(pp, e, f->sub, &prev, &sf)) return false;
    if (!sf) {
      if (!skip3(pp, buf, e, depth + 1)) return false;
      continue;
    }
    unsigned tag, n;
    const uint8_t *data;
    if (!typed_array(pp, e, f->max, &tag, &data, &n) || (have && n != count) ||
        put_column(sf, b + f->offset, f->stride, tag, data, n, sf->omit_zero))
      return false;
    count = n;
    have = true;
  }
  uint16_t c16 = (uint16_t)count;
  memcpy(b + f->count_offset, &c16, 2);
  return true;
}

bool journal__fast_body3(const uint8_t **pp, const uint8_t *buf, const uint8_t *e, const struct jdesc *d,
                         uint8_t *b, int depth)
{
  const uint8_t *p = *pp;
  uint64_t n, v;
  if (depth > 4 || !rd_head(&p, e, 5, &n)) return false;
  int64_t prev = -1;
  for (uint64_t i = 0; i < n; i++) {
    const struct jfield *f;
    if (!key3(&p, e, d, &prev, &f)) return false;
    if (!f) {
      if (!skip3(&p, buf, e, depth + 1)) return false;
      continue;
    }
    uint8_t *o = b + f->offset;
    switch (f->kind) {
    case JF_U8: case JF_U16: case JF_U32: case JF_U64:
      if (!rd_uint(&p, e, &v) || journal__put_unsigned(o, f->kind, v)) return false;
      break;
    case JF_I32: case JF_I64: {
      int64_t x;
      if (!rd_int(&p, e, &x)) return false;
      if (f->kind == JF_I64) { memcpy(o, &x, 8); break; }
      if (x < INT32_MIN || x > INT32_MAX) return false;
      int32_t y = (int32_t)x;
      memcpy(o, &y, 4);
      journal__mark_present(f, b);
      break;
    }
    case JF_BOOL:
      if (p >= e || (*p != 0xf4 && *p != 0xf5)) return false;
      *o = *p++ == 0xf5;
      break;
    case JF_ENUM: {
      unsigned k = 0;
      while (f->enum_names[k]) k++;
      if (!rd_uint(&p, e, &v) || v >= k) return false;
      *o = (uint8_t)v;
      break;
    }
    case JF_TARGET: {
      if (!rd_uint(&p, e, &v) || v > 0xffff) return false;
      uint16_t t16 = (uint16_t)v;
      memcpy(o, &t16, 2);
      break;
    }
    case JF_TEXT: case JF_BYTES:
      if (!rd_head(&p, e, f->kind == JF_TEXT ? 3 : 2, &v) || v > UINT32_MAX) return false;
      if (f->kind == JF_TEXT && !journal__utf8_valid(p, (size_t)v)) return false;
      journal__put_slice(o, p, (uint32_t)v);
      p += v;
      break;
    case JF_FIXED:
      if (!rd_head(&p, e, 2, &v) || v != f->size) return false;
      memcpy(o, p, f->size);
      p += v;
      break;
    case JF_CHARS:
      if (!rd_head(&p, e, 3, &v) || v >= f->size || memchr(p, 0, (size_t)v) || !journal__utf8_valid(p, (size_t)v)) return false;
      memcpy(o, p, (size_t)v);
      o[v] = 0;
      p += v;
      break;
    case JF_U16ARR: {
      unsigned tag, cnt;
      const uint8_t *data;
      if (!typed_array(&p, e, f->max, &tag, &data, &cnt) ||
          put_column(&journal__u16_element, o, 2, tag, data, cnt, false))
        return false;
      uint16_t c16 = (uint16_t)cnt;
      memcpy(b + f->count_offset, &c16, 2);
      break;
    }
    case JF_ARRAY:
      if (f->v3flags & JF3_COLUMNS) {
        if (!columns3(&p, buf, e, f, b, depth)) return false;
        break;
      }
      if (!rd_head(&p, e, 4, &v) || v > f->max) return false;
      {
        uint16_t cnt = (uint16_t)v;
        memcpy(b + f->count_offset, &cnt, 2);
        for (unsigned k = 0; k < cnt; k++)
          if (!journal__fast_body3(&p, buf, e, f->sub, o + (size_t)k * f->stride, depth + 1)) return false;
      }
      break;
    default: return false;
    }
  }
  *pp = p;
  return true;
}
