/*
 * json.c — renders an encoded record as a JSON object (jansson) for `hems timeline`/`show`.
 *
 * The body is rendered generically from its CBOR, so types without a field table still
 * print: text keys as names, byte strings as lowercase hex, integers as integers.
 * Envelope fields: seq, type, time (RFC 3339, ms), source, body, plus mono_ns, time_quality,
 * boot_id and v. A schema v 3 body (integer keys, enums as uints, typed-array columns) is
 * rendered from the decoded record through its field table instead, with the same names and
 * value forms as v 1 (enum names, "service" targets, one object per channel and power).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "codec_internal.h"

void journal_hex(const uint8_t *bytes, size_t n, char *out)
{
  static const char hx[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hx[bytes[i] >> 4];
    out[2 * i + 1] = hx[bytes[i] & 15];
  }
  out[2 * n] = '\0';
}

void journal_format_time(int64_t wall_ns, char buf[32])
{
  int64_t sec = wall_ns / 1000000000;
  int64_t rem = wall_ns % 1000000000;
  if (rem < 0) { rem += 1000000000; sec--; }
  time_t t = (time_t)sec;
  struct tm tm;
  gmtime_r(&t, &tm);
  size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, 32 - n, ".%03dZ", (int)(rem / 1000000));
}

static json_t *cbor_to_json(struct cr *r, int depth)
{
  struct ctok t;
  if (depth > 16 || journal__cr_next(r, &t)) return NULL;
  switch (t.kind) {
  case CT_UINT:
    return t.u > (uint64_t)INT64_MAX ? json_real((double)t.u) : json_integer((json_int_t)t.u);
  case CT_NEGINT:
    return t.u > (uint64_t)INT64_MAX ? json_real(-1.0 - (double)t.u) : json_integer(-1 - (json_int_t)t.u);
  case CT_BOOL: return json_boolean(t.u);
  case CT_NULL: return json_null();
  case CT_TEXT: return json_stringn_nocheck((const char *)t.ptr, t.len);
  case CT_BYTES: {
    char *hex = malloc(t.len * 2 + 1);
    if (!hex) return NULL;
    journal_hex(t.ptr, t.len, hex);
    json_t *s = json_string(hex);
    free(hex);
    return s;
  }
  case CT_ARRAY: {
    json_t *a = json_array();
    for (uint64_t i = 0; i < t.u; i++) {
      json_t *e = cbor_to_json(r, depth + 1);
      if (!e) { json_decref(a); return NULL; }
      json_array_append_new(a, e);
    }
    return a;
  }
  case CT_MAP: {
    json_t *o = json_object();
    for (uint64_t i = 0; i < t.u; i++) {
      struct ctok k;
      /* JSON keys are text: text keys as they are, integers in decimal, anything else (bytes,
       * simple values, nested items — valid CBOR a later schema or a foreign writer may use in
       * an unknown field) as "cbor:" and the hex of the key's encoding. */
      char kb[160];
      size_t kstart = r->pos;
      if (journal__cr_next(r, &k)) { json_decref(o); return NULL; }
      if (k.kind == CT_TEXT && k.len < sizeof kb) {
        memcpy(kb, k.ptr, k.len);
        kb[k.len] = 0;
      } else if (k.kind == CT_UINT) {
        snprintf(kb, sizeof kb, "%llu", (unsigned long long)k.u);
      } else if (k.kind == CT_NEGINT && k.u <= (uint64_t)INT64_MAX) {
        snprintf(kb, sizeof kb, "%lld", -1 - (long long)k.u);
      } else {
        if (k.kind == CT_ARRAY || k.kind == CT_MAP) {
          r->pos = kstart;
          if (journal__cr_skip(r, depth + 1)) { json_decref(o); return NULL; }
        }
        size_t kl = r->pos - kstart;
        if (kl > (sizeof kb - 6) / 2) kl = (sizeof kb - 6) / 2; /* long keys: a prefix names it */
        memcpy(kb, "cbor:", 5);
        journal_hex(r->buf + kstart, kl, kb + 5);
      }
      json_t *v = cbor_to_json(r, depth + 1);
      if (!v) { json_decref(o); return NULL; }
      json_object_set_new(o, kb, v);
    }
    return o;
  }
  default: return NULL;
  }
}

static json_t *u64_json(uint64_t v)
{
  return v > (uint64_t)INT64_MAX ? json_real((double)v) : json_integer((json_int_t)v);
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
  char *hex = malloc(n * 2 + 1);
  if (!hex) return NULL;
  journal_hex(p, n, hex);
  json_t *s = json_string(hex);
  free(hex);
  return s;
}

/* A decoded body by its table, in table order (the v 1 key order): the fields a v 1 body of the
 * same values would show, plus the v 3-only fields when not zero. */
static json_t *struct_to_json(const struct jdesc *d, const uint8_t *b)
{
  json_t *o = json_object();
  for (unsigned i = 0; i < d->n; i++) {
    const struct jfield *f = &d->fields[i];
    const uint8_t *p = b + f->offset;
    if (journal__is_omitted(f, b)) continue;
    json_t *v = NULL;
    switch (f->kind) {
    case JF_U8: case JF_U16: case JF_U32: case JF_U64: v = u64_json(journal__get_unsigned(p, f->kind)); break;
    case JF_I32: { int32_t x; memcpy(&x, p, 4); v = json_integer(x); break; }
    case JF_I64: { int64_t x; memcpy(&x, p, 8); v = json_integer((json_int_t)x); break; }
    case JF_BOOL: v = json_boolean(*p); break;
    case JF_ENUM: v = json_string(f->enum_names[*p]); break; /* the decoder checked the range */
    case JF_TEXT: { /* a text key a v 3 body left out decodes as an empty slice (ptr NULL) */
      struct journal_slice s; memcpy(&s, p, sizeof s); v = json_stringn_nocheck(s.ptr ? (const char *)s.ptr : "", s.len); break; }
    case JF_BYTES: { struct journal_slice s; memcpy(&s, p, sizeof s); v = hex_json(s.ptr, s.len); break; }
    case JF_FIXED: v = hex_json(p, f->size); break;
    case JF_TARGET: { uint16_t t; memcpy(&t, p, 2); v = t == JOURNAL_TARGET_SERVICE ? json_string("service") : json_integer(t); break; }
    case JF_CHARS: v = json_string((const char *)p); break;
    case JF_U16ARR: case JF_ARRAY: {
      uint16_t n;
      memcpy(&n, b + f->count_offset, 2);
      v = json_array();
      for (unsigned k = 0; k < n && v; k++) {
        json_t *e;
        if (f->kind == JF_U16ARR) { uint16_t x; memcpy(&x, p + 2 * k, 2); e = json_integer(x); }
        else e = struct_to_json(f->sub, p + (size_t)k * f->stride);
        if (!e) { json_decref(v); v = NULL; break; }
        json_array_append_new(v, e);
      }
      break;
    }
    default: break;
    }
    if (!v) { json_decref(o); return NULL; }
    json_object_set_new(o, f->name, v);
  }
  return o;
}

char *journal_record_to_json(const uint8_t *buf, size_t len, int flags)
{
  struct journal_record rec;
  if (journal_record_decode(buf, len, &rec)) return NULL;
  const struct jdesc *d = journal__body_desc(rec.type);
  /* Find the body's bytes: skip the envelope up to key 9 and render it generically. */
  struct cr r = { buf, len, 0, false };
  struct ctok t;
  if (journal__cr_next(&r, &t)) return NULL;
  for (int k = 0; k < 9; k++) {
    if (journal__cr_next(&r, &t) || journal__cr_skip(&r, 0)) return NULL;
  }
  if (journal__cr_next(&r, &t)) return NULL; /* key 9 */
  json_t *body = rec.version == JOURNAL_SCHEMA_V3 && d ? struct_to_json(d, (const uint8_t *)&rec.body) : cbor_to_json(&r, 0);
  if (!body) return NULL;

  char src[64], tbuf[32], boot[33];
  journal_source_format(&rec.source, src, sizeof src);
  journal_format_time(rec.wall_ns, tbuf);
  journal_hex(rec.boot_id, JOURNAL_BOOTID_BYTES, boot);
  static const char *const tq[] = { "synced", "unsynced", "stepped" };
  json_t *o = json_object();
  json_object_set_new(o, "seq", json_integer((json_int_t)rec.seq));
  json_object_set_new(o, "type", json_string(journal_type_name(rec.type)));
  json_object_set_new(o, "time", json_string(tbuf));
  json_object_set_new(o, "source", json_string(src));
  json_object_set_new(o, "body", body);
  json_object_set_new(o, "mono_ns", json_integer((json_int_t)rec.mono_ns));
  json_object_set_new(o, "time_quality", json_string(tq[rec.time_quality]));
  json_object_set_new(o, "boot_id", json_string(boot));
  json_object_set_new(o, "v", json_integer(rec.version));
  if (flags & JOURNAL_JSON_WITH_HASH) {
    uint8_t h[JOURNAL_HASH_BYTES];
    char hx[65];
    journal_record_hash(buf, len, h);
    journal_hex(h, 32, hx);
    json_object_set_new(o, "hash", json_string(hx));
    journal_hex(rec.prev, 32, hx);
    json_object_set_new(o, "prev", json_string(hx));
  }
  char *s = json_dumps(o, (flags & JOURNAL_JSON_COMPACT) ? JSON_COMPACT | JSON_PRESERVE_ORDER
                                                         : JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(o);
  return s;
}
