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
                                    `? name`); decoding a missing field gives 0 */
  char key[24];                  /* name again, NUL-padded to 24 bytes: the fast decoder compares
                                    a key with it 8 bytes at a time (names up to 23 bytes) */
  uint8_t khead;                 /* the key's encoded head: 0x60 | namelen (text, namelen < 24) */
  uint64_t kmask[2];             /* which bytes of key[0..7] and key[8..15] are the name's, as
                                    words loaded with memcpy (JF_KMASK) */
};

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

struct jdesc {
  const struct jfield *fields;
  unsigned n;
};

/* The body table for a record type, or NULL when the type's body is kept raw. */
const struct jdesc *journal__body_desc(unsigned type);

/* Every table (for the canonical-order test): returns the count, fills up to cap. */
int journal__all_descs(const struct jdesc **out, const char **names, int cap);

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
void journal__cw_raw(struct cw *w, const void *p, size_t n);

/* ---- CBOR token reader (over libcbor's streaming decoder) */
enum ct_kind { CT_UINT, CT_NEGINT, CT_BYTES, CT_TEXT, CT_ARRAY, CT_MAP, CT_BOOL, CT_NULL, CT_OTHER };
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
  bool raw_text;   /* decoder-internal: skip UTF-8 validation of the next text (map keys) */
};
/* Reads the next item head; rejects non-canonical heads, indefinite lengths, tags, floats.
 * 0 or JOURNAL_EBADREC / JOURNAL_ETRUNC. */
int journal__cr_next(struct cr *r, struct ctok *t);
/* The same through libcbor's streaming decoder: the reference the fast path is held to. */
int journal__cr_next_libcbor(struct cr *r, struct ctok *t);
/* Skips one complete item (with nested content), depth-limited. */
int journal__cr_skip(struct cr *r, int depth);

/* The blob a record's body names (top-level "capture", 32 bytes, not all zero): 1 and
 * *out_hash (borrowing buf), or 0 when it names none. Only pq_event and trip_tap bodies have
 * a capture; callers skip other types by their envelope type. */
int journal__record_capture(const uint8_t *buf, size_t len, const uint8_t **out_hash);

/* Encodes/decodes a body by table. */
int journal__encode_body(struct cw *w, const struct jdesc *d, const void *base);
int journal__decode_body(struct cr *r, const struct jdesc *d, void *base, int depth);

/* journal_record_decode through the table walk over libcbor's tokenizer (journal__cr_next_libcbor):
 * the reference the inline fast decoder behind journal_record_decode is held to (same return code;
 * on success the same record, byte for byte) by tests/fuzz/fuzz_record.c and tests/journal. */
int journal__record_decode_ref(const uint8_t *buf, size_t len, struct journal_record *out);

#endif
