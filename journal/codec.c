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
#include "blake2b_internal.h"

/* ------------------------------------------------------------------ envelope */


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
    int rc = r->version == JOURNAL_SCHEMA_V3 ? journal__encode_body3(&w, d, &r->body)
                                              : journal__encode_body(&w, d, &r->body);
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
        rc = out->version == JOURNAL_SCHEMA_V3 ? journal__decode_body3_with(&r, d, &out->body, 0, next)
                                                : journal__decode_body_with(&r, d, &out->body, 0, next);
        if (rc) goto bad;
      } else {
        struct cr peek = r;
        if ((rc = next(&peek, &v))) goto bad;
        if (v.kind != CT_MAP) return JOURNAL_EBADREC;
        if ((rc = journal__cr_skip_with(&r, 0, next))) goto bad;
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
      if (!journal_schema_known(v.u)) return JOURNAL_EVERSION;
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
      if ((rc = journal__tok_to_i64(&v, &out->wall_ns))) return rc;
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
  if (!journal_schema_known(v.u)) return JOURNAL_EVERSION;
  if (journal__cr_next(&r, &k) || k.kind != CT_UINT || k.u != K_TYPE) return JOURNAL_EBADREC;
  if (journal__cr_next(&r, &v) || v.kind != CT_UINT || v.u == 0 || v.u >= JOURNAL_T__MAX) return JOURNAL_EBADREC;
  *out_type = (unsigned)v.u;
  return 0;
}

static const uint8_t record_domain[] = "hems.record.v1"; /* hashed with its NUL */

void journal_record_hash(const uint8_t *buf, size_t len, uint8_t out[JOURNAL_HASH_BYTES])
{
  struct journal__b2b st; /* BLAKE2b-256, as crypto_generichash (blake2b.c says why not it) */
  journal__b2b_init(&st, JOURNAL_HASH_BYTES);
  journal__b2b_update(&st, record_domain, sizeof record_domain);
  journal__b2b_update(&st, buf, len);
  journal__b2b_final(&st, out);
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
  /* The body is envelope key 9; a top-level "capture" of 32 bytes, not all zero, names a blob
   * (v 3: under the integer key of the type's "capture" field). */
  struct cr r = { buf, len, 0, 0 };
  struct ctok t;
  uint64_t version = 0, type = 0;
  *out_hash = NULL;
  if (journal__cr_next(&r, &t)) return 0;
  for (int k = 0; k < 9; k++) {
    if (journal__cr_next(&r, &t)) return 0;
    if (k == K_V || k == K_TYPE) {
      if (journal__cr_next(&r, &t) || t.kind != CT_UINT) return 0;
      *(k == K_V ? &version : &type) = t.u;
    } else if (journal__cr_skip(&r, 0)) {
      return 0;
    }
  }
  int64_t ikey = -1; /* v 3: the capture field's key */
  if (version == JOURNAL_SCHEMA_V3) {
    const struct jdesc *d = type < JOURNAL_T__MAX ? journal__body_desc((unsigned)type) : NULL;
    for (unsigned i = 0; d && i < d->n; i++)
      if (strcmp(d->fields[i].name, "capture") == 0) ikey = d->fields[i].ikey;
    if (ikey < 0) return 0;
  }
  if (journal__cr_next(&r, &t) || journal__cr_next(&r, &t) || t.kind != CT_MAP) return 0;
  for (uint64_t i = 0; i < t.u; i++) {
    struct ctok key, val;
    if (journal__cr_next(&r, &key)) return 0;
    size_t save = r.pos;
    bool is_capture = ikey >= 0 ? key.kind == CT_UINT && key.u == (uint64_t)ikey
                                : key.kind == CT_TEXT && key.len == 7 && memcmp(key.ptr, "capture", 7) == 0;
    if (is_capture &&
        journal__cr_next(&r, &val) == 0 && val.kind == CT_BYTES && val.len == 32 &&
        !sodium_is_zero(val.ptr, 32)) {
      *out_hash = val.ptr;
      return 1;
    }
    r.pos = save;
    r.mode = CR_ALLOW_TAG; /* v 3 columns */
    if (journal__cr_skip(&r, 0)) return 0;
    r.mode = 0;
  }
  return 0;
}
