/*
 * codec_internal.h — private to journal/: the field tables that describe record bodies and
 * the CBOR token reader/writer shared by the codec, the JSON renderer and the store.
 *
 * Invariant: every field table lists its fields in RFC 8949 §4.2.1 canonical key order
 * (shorter key first, then bytewise), so encoding in table order is deterministic CBOR.
 * tests/journal/test_codec.c checks every table.
 */
#ifndef HEMS_JOURNAL_CODEC_INTERNAL_H
#define HEMS_JOURNAL_CODEC_INTERNAL_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include "journal.h"

enum jf_kind {
  JF_U8, JF_U16, JF_U32, JF_U64, JF_I32, JF_I64, JF_BOOL,
  JF_ENUM,  /* uint8_t, encoded as one of enum_names (text) */
  JF_TEXT,  /* struct journal_slice, text string */
  JF_BYTES, /* struct journal_slice, byte string */
  JF_FIXED, /* uint8_t[size], byte string of exactly size bytes */
  JF_ARRAY, /* array of sub-structs: count (uint16_t at count_offset), up to max, stride */
  JF_U16ARR,/* uint16_t[max] with its count (uint16_t at count_offset): array of uints */
  JF_CHARS, /* char[size], NUL-terminated, encoded as text */
  JF_TARGET /* uint16_t: 1..65535 encodes as a uint (a branch), 0 as the text "service" */
};

struct jdesc;

struct jfield {
  const char *name;
  uint8_t kind;
  uint16_t offset;
  uint16_t size;
  const char *const *enum_names; /* JF_ENUM: NULL-terminated */
  const struct jdesc *sub;       /* JF_ARRAY */
  uint16_t count_offset;         /* JF_ARRAY */
  uint16_t max;                  /* JF_ARRAY */
  uint16_t stride;               /* JF_ARRAY */
  uint8_t namelen;               /* strlen(name); 0 = not given (then computed) */
  uint8_t omit_zero;             /* integer, text and fixed fields: left out of the encoding when 0 or empty (CDDL
                                    `? name`); decoding a missing field gives 0. JF_OMIT_ABSENT: left out
                                    unless the presence byte at count_offset is set; decoding sets it */
  char key[24];                  /* name again, NUL-padded to 24 bytes: the fast decoder compares
                                    a key with it 8 bytes at a time (names up to 23 bytes) */
  uint8_t khead;                 /* the key's encoded head: 0x60 | namelen (text, namelen < 24) */
  uint64_t kmask[2];             /* which bytes of key[0..7] and key[8..15] are the name's, as
                                    words loaded with memcpy (JF_KMASK) */
  uint8_t ikey;                  /* schema v 3: the field's integer map key (0..31; one byte below 24) */
  uint8_t v3flags;               /* JF3_* */
};

/* The most values one v 3 typed array holds (a window's columns; a pq_aggregate's 51-value
 * harmonic spectra). Callers also bound a count by the field's own max. */
#define JOURNAL__TA_MAX 64

#define JF_OMIT_ABSENT 2 /* omit_zero: an optional scalar with a presence byte (see above) */
/* A decoded scalar field: its presence byte set (JF_OMIT_ABSENT). */
static inline void journal__mark_present(const struct jfield *f, uint8_t *base)
{
  if (f->omit_zero == JF_OMIT_ABSENT) base[f->count_offset] = 1;
}

/* v3flags */
#define JF3_ONLY 1    /* encoded in v 3 only (v 1 records never carry it; v 1 bytes stay as they were) */
#define JF3_COLUMNS 2 /* JF_ARRAY: in v 3 a map of columns (sub-field key → RFC 8746 typed array) */

/* The mask of the first n (0..8) bytes of a word loaded with memcpy: a constant expression. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define JF_MASK8(n) ((n) >= 8 ? ~0ull : ((1ull << (8 * ((n) & 7))) - 1))
#else
#define JF_MASK8(n) ((n) >= 8 ? ~0ull : (n) == 0 ? 0ull : ~(~0ull >> (8 * ((n) & 7))))
#endif
/* khead and kmask for a name of n bytes. */
#define JF_KEYENC(n) (uint8_t)(0x60 | ((n) & 31)), { JF_MASK8(n), (n) > 8 ? JF_MASK8((n) - 8) : 0ull }

static inline size_t journal__fname_len(const struct jfield *f)
{
  return f->namelen ? f->namelen : __builtin_strlen(f->name);
}

/* Schema v 3 lookups of a table, filled once at load (codec_v3.c): the field index of each
 * integer key, and the fields in ascending key order. */
#define JF3_NKEYS 32 /* keys 0..23 take one byte; 24..31 (fields added later) two */
struct jv3 {
  uint8_t by_key[JF3_NKEYS]; /* field index + 1; 0 = no field has this key */
  uint8_t order[JF3_NKEYS];  /* field indexes in ascending ikey order */
};

struct jdesc {
  const struct jfield *fields;
  unsigned n;
  struct jv3 *v3;
};

/* The body table for a record type, or NULL when the type's body is kept raw. */
const struct jdesc *journal__body_desc(unsigned type);

/* Every table (for the canonical-order test): returns the count, fills up to cap. */
int journal__all_descs(const struct jdesc **out, const char **names, int cap);

/* Every table, sub-tables (array elements) included: returns the count, fills up to cap. */
int journal__all_descs_deep(const struct jdesc **out, int cap);

/* The envelope's integer keys (docs/journal.md "Record envelope"). */
enum { K_PREV = 0, K_SEQ, K_V, K_TYPE, K_MONO, K_WALL, K_TQ, K_BOOT, K_SOURCE, K_BODY, K__N };

/* ---- CBOR writer (thin layer over libcbor's allocation-free encoders) */
struct cw {
  uint8_t *buf;
  size_t cap, len;
  int err; /* sticky: -ENOSPC */
};
void journal__cw_uint(struct cw *w, uint64_t v);
void journal__cw_int(struct cw *w, int64_t v);
void journal__cw_map(struct cw *w, size_t n);
void journal__cw_array(struct cw *w, size_t n);
void journal__cw_text(struct cw *w, const void *p, size_t n);
void journal__cw_bytes(struct cw *w, const void *p, size_t n);
void journal__cw_bool(struct cw *w, int v);
void journal__cw_tag(struct cw *w, uint64_t tag);
void journal__cw_raw(struct cw *w, const void *p, size_t n);

/* ---- CBOR token reader (over libcbor's streaming decoder) */
enum ct_kind { CT_UINT, CT_NEGINT, CT_BYTES, CT_TEXT, CT_ARRAY, CT_MAP, CT_BOOL, CT_NULL, CT_OTHER,
               CT_TAG /* only with CR_ALLOW_TAG: u is the tag number */ };
struct ctok {
  uint8_t kind;
  uint64_t u;          /* value, or the count for arrays/maps; NEGINT: value is -1 - u */
  const uint8_t *ptr;  /* strings */
  size_t len;          /* strings */
  size_t start, end;   /* byte range of this item's head (and string data) */
};
struct cr {
  const uint8_t *buf;
  size_t len, pos;
  uint8_t mode;    /* decoder-internal, CR_*: 0 normally */
};
#define CR_RAW_TEXT 1  /* skip UTF-8 validation of the next text (map keys) */
#define CR_ALLOW_TAG 2 /* a tag head is returned as CT_TAG (v 3 typed arrays) */
/* Reads the next item head; rejects non-canonical heads, indefinite lengths, floats, and tags
 * unless mode has CR_ALLOW_TAG.
 * 0 or JOURNAL_EBADREC / JOURNAL_ETRUNC. */
int journal__cr_next(struct cr *r, struct ctok *t);
/* The same through libcbor's streaming decoder: the reference the fast path is held to. */
int journal__cr_next_libcbor(struct cr *r, struct ctok *t);
/* Skips one complete item (with nested content), depth-limited. */
int journal__cr_skip(struct cr *r, int depth);
typedef int (*cr_next_fn)(struct cr *, struct ctok *);
/* The same with a given tokenizer (the hot one, or libcbor's for the reference decode). */
int journal__cr_skip_with(struct cr *r, int depth, cr_next_fn next);
/* RFC 3629 UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int journal__utf8_valid(const uint8_t *p, size_t n);

/* Stores a slice into a decoded record field member by member: the record was zeroed, so its
 * padding stays zero and two decodes of the same bytes compare equal byte for byte (a local
 * struct copied whole would carry indeterminate padding). */
static inline void journal__put_slice(void *field, const uint8_t *ptr, uint32_t len)
{
  __builtin_memcpy((uint8_t *)field + offsetof(struct journal_slice, ptr), &ptr, sizeof ptr);
  __builtin_memcpy((uint8_t *)field + offsetof(struct journal_slice, len), &len, sizeof len);
}

/* Short field names: an inline loop beats a memcmp call. */
static inline bool journal__same_bytes(const char *a, const uint8_t *b, size_t n)
{
  for (size_t i = 0; i < n; i++) if ((uint8_t)a[i] != b[i]) return false;
  return true;
}

/* Canonical key order: shorter first, then bytewise. */
static inline int journal__key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
  if (an != bn) return an < bn ? -1 : 1;
  for (size_t i = 0; i < an; i++)
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

/* Field values in a body struct (codec_body.c): the unsigned value of a U8/U16/U32/U64/BOOL/ENUM
 * field; whether an omit_zero field is left out; storing an unsigned (JOURNAL_EBADREC when it
 * does not fit); a CBOR integer token as int64_t. */
uint64_t journal__get_unsigned(const void *p, unsigned kind);
bool journal__is_omitted(const struct jfield *f, const uint8_t *base);
int journal__put_unsigned(void *p, unsigned kind, uint64_t v);
int journal__tok_to_i64(const struct ctok *t, int64_t *out);

/* The blob a record's body names (top-level "capture", 32 bytes, not all zero): 1 and
 * *out_hash (borrowing buf), or 0 when it names none. Only pq_event and trip_tap bodies have
 * a capture; callers skip other types by their envelope type. */
int journal__record_capture(const uint8_t *buf, size_t len, const uint8_t **out_hash);

/* The field kinds both schema versions encode alike (integers, bools, text, byte strings):
 * 0, JOURNAL_EBADREC / -ENOSPC, or 1 for a kind the caller's version encodes itself. */
int journal__encode_scalar(struct cw *w, const struct jfield *f, const uint8_t *p);
int journal__decode_scalar(const struct jfield *f, uint8_t *p, const struct ctok *v);

/* Encodes/decodes a schema v 1 body by table. */
int journal__encode_body(struct cw *w, const struct jdesc *d, const void *base);
int journal__decode_body(struct cr *r, const struct jdesc *d, void *base, int depth);
int journal__decode_body_with(struct cr *r, const struct jdesc *d, void *base, int depth, cr_next_fn next);

/* Schema v 3 bodies (codec_v3.c): integer keys, enums as uints, columns as RFC 8746 typed arrays.
 * The decoder with journal__cr_next backs journal_record_decode, with journal__cr_next_libcbor
 * the reference decode. */
int journal__encode_body3(struct cw *w, const struct jdesc *d, const void *base);
int journal__decode_body3_with(struct cr *r, const struct jdesc *d, void *base, int depth, cr_next_fn next);
/* The RFC 8746 tag of the narrowest typed array that holds every value in [min, max] (64 u8 …
 * 67 u64 when min >= 0, else 72 s8 … 75 s64), and its element width in bytes. Inline: the
 * decoder's column store calls it (and journal__v3_ta_count) once per column. */
static inline unsigned journal__typed_array_tag(int64_t min, int64_t max, unsigned *width)
{
  if (min >= 0) {
    uint64_t m = (uint64_t)max;
    *width = m <= 0xff ? 1 : m <= 0xffff ? 2 : m <= 0xffffffffu ? 4 : 8;
  } else {
    int64_t a = -1 - min > max ? -1 - min : max; /* the larger magnitude, as a non-negative bound */
    *width = a <= 0x7f ? 1 : a <= 0x7fff ? 2 : a <= 0x7fffffff ? 4 : 8;
  }
  unsigned lg = *width == 1 ? 0 : *width == 2 ? 1 : *width == 4 ? 2 : 3;
  return (min >= 0 ? 64u : 72u) + lg;
}
/* A typed array's element count when tag is one of those and len a whole number of at most max
 * elements, else -1. */
static inline int journal__v3_ta_count(uint64_t tag, size_t len, unsigned max)
{
  if (!((tag >= 64 && tag <= 67) || (tag >= 72 && tag <= 75))) return -1;
  unsigned lg = (unsigned)(tag - 64) & 3; /* elements of 1 << lg bytes */
  if ((len & ((1u << lg) - 1)) || (len >> lg) > max) return -1;
  return (int)(len >> lg);
}
/* Stores a typed array's n elements into sub-field sf of the structs arr[0..n) (stride bytes
 * apart). JOURNAL_EBADREC unless every value fits the field, the tag is the narrowest for the
 * values, and (omit_col) they are not all zero. */
int journal__v3_put_column(const struct jfield *sf, uint8_t *arr, size_t stride, unsigned tag,
                           const uint8_t *data, unsigned n, bool omit_col);
extern const struct jfield journal__u16_element;
/* The range of values a column's field holds (inline: on the decode path per column). */
static inline void journal__v3_field_range(const struct jfield *f, int64_t *lo, int64_t *hi)
{
  unsigned k = 0;
  switch (f->kind) {
  case JF_U8: *lo = 0; *hi = 0xff; return;
  case JF_U16: *lo = 0; *hi = 0xffff; return;
  case JF_U32: *lo = 0; *hi = 0xffffffffll; return;
  case JF_BOOL: *lo = 0; *hi = 1; return;
  case JF_ENUM: while (f->enum_names[k]) k++; *lo = 0; *hi = (int64_t)k - 1; return;
  case JF_I32: *lo = INT32_MIN; *hi = INT32_MAX; return;
  default: *lo = INT64_MIN; *hi = INT64_MAX; return;
  }
}
/* journal__v3_put_column in one pass per (field kind, tag), for journal_record_decode
 * (codec_v3fast.c): the same return code, and on success the same stored values. */
int journal__v3_put_column_fast(const struct jfield *sf, uint8_t *arr, size_t stride, unsigned tag,
                                const uint8_t *data, unsigned n, bool omit_col);
/* journal_record_decode's v 3 body walk (codec_v3fast.c): inline heads from *pp (buf: the
 * record, e: its end); true and *pp after the body, or false for JOURNAL_EBADREC. */
bool journal__fast_body3(const uint8_t **pp, const uint8_t *buf, const uint8_t *e, const struct jdesc *d,
                         uint8_t *b, int depth);

/* The window body (schema v 3) with its layout known at compile time (codec_v3window.c): true,
 * *w filled and *pp after the body, only when journal__fast_body3 would accept it with the same
 * result; false means "not decided here" (*w may be partly written: the caller clears it and
 * runs journal__fast_body3). */
bool journal__fast_window3(const uint8_t **pp, const uint8_t *e, const struct jdesc *d, struct journal_window *w);

/* journal_record_decode through the table walk over libcbor's tokenizer (journal__cr_next_libcbor):
 * the reference the inline fast decoder behind journal_record_decode is held to (same return code;
 * on success the same record, byte for byte) by tests/fuzz/fuzz_record.c and tests/journal. */
int journal__record_decode_ref(const uint8_t *buf, size_t len, struct journal_record *out);

#endif
