/*
 * jt_records.h — record fixtures shared by the codec tests (test_codec.c: schema v 1,
 * test_codec3.c: schema v 3): a filled-in record of every type, field-by-field comparison, and
 * the fast-versus-reference decoder agreement over corruptions of a record.
 */
#ifndef HEMS_TESTS_JT_RECORDS_H
#define HEMS_TESTS_JT_RECORDS_H
#include <stdio.h>
#include <string.h>
#include "jt_util.h"
#include "codec_internal.h"

static uint8_t blob_a[32], blob_b[64];
/* The schema version make_record writes. */
static unsigned jt_version = JOURNAL_SCHEMA_VERSION;

static void jt_records_init(void)
{
  for (size_t i = 0; i < sizeof blob_a; i++) blob_a[i] = (uint8_t)(i * 3);
  for (size_t i = 0; i < sizeof blob_b; i++) blob_b[i] = (uint8_t)(i * 5);
}

/* Fills any table-described body with non-zero values of every kind (for tables this test
 * does not know by name: new record types are covered as soon as their table lands). */
static void fill_generic(const struct jdesc *d, uint8_t *base, uint64_t seed, int depth)
{
  static const char text[] = "generic text ✓";
  for (unsigned i = 0; i < d->n; i++) {
    const struct jfield *f = &d->fields[i];
    uint8_t *p = base + f->offset;
    uint64_t v = seed * 2654435761u + i * 977u + 1;
    switch (f->kind) {
    case JF_U8: *p = (uint8_t)v; break;
    case JF_U16: { uint16_t x = (uint16_t)(v | 1); memcpy(p, &x, 2); break; }
    case JF_U32: { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); break; }
    case JF_U64: memcpy(p, &v, 8); break;
    case JF_I32: { int32_t x = -(int32_t)(v & 0xffffff); memcpy(p, &x, 4); break; }
    case JF_I64: { int64_t x = -(int64_t)(v & 0xffffffffffll) - 1; memcpy(p, &x, 8); break; }
    case JF_BOOL: *p = 1; break;
    case JF_ENUM: { unsigned k = 0; while (f->enum_names[k]) k++; *p = (uint8_t)((seed + i) % k); break; }
    case JF_TEXT: { struct journal_slice s = { (const uint8_t *)text, (uint32_t)strlen(text) }; memcpy(p, &s, sizeof s); break; }
    case JF_BYTES: { struct journal_slice s = { blob_b, sizeof blob_b }; memcpy(p, &s, sizeof s); break; }
    case JF_FIXED: for (unsigned k = 0; k < f->size; k++) p[k] = (uint8_t)(v + k); break;
    case JF_CHARS: snprintf((char *)p, f->size, "c%u", (unsigned)(v % 1000)); break;
    case JF_TARGET: { uint16_t x = (uint16_t)(seed % 2 ? 7 : 0); memcpy(p, &x, 2); break; }
    case JF_U16ARR: {
      uint16_t n = f->max < 3 ? f->max : 3;
      memcpy(base + f->count_offset, &n, 2);
      for (uint16_t k = 0; k < n; k++) { uint16_t x = (uint16_t)(k + 1 + seed % 50); memcpy(p + 2 * k, &x, 2); }
      break;
    }
    case JF_ARRAY: {
      uint16_t n = f->max < 2 ? f->max : 2;
      if (depth > 2) n = 0;
      memcpy(base + f->count_offset, &n, 2);
      for (uint16_t k = 0; k < n; k++) fill_generic(f->sub, p + (size_t)k * f->stride, seed + k + 1, depth + 1);
      break;
    }
    default: fail_msg("field %s: unknown kind %u (extend fill_generic)", f->name, f->kind);
    }
    if (f->omit_zero == JF_OMIT_ABSENT) base[f->count_offset] = 1; /* present: its key is encoded */
  }
}

/* A filled-in record of every type (bodies point at static data). */
static void make_record(unsigned type, uint64_t seq, struct journal_record *r, uint8_t *raw, size_t *rawlen)
{
  memset(r, 0, sizeof *r);
  r->seq = seq;
  for (int i = 0; i < 32; i++) r->prev[i] = (uint8_t)(seq * 31 + (uint64_t)i);
  r->version = jt_version;
  r->type = (uint16_t)type;
  r->time_quality = (uint8_t)(seq % 3);
  r->mono_ns = 123456789ull * seq;
  r->wall_ns = seq % 2 ? 1763733720123000000ll + (int64_t)seq : -5 - (int64_t)seq; /* negative too */
  memcpy(r->boot_id, jt_boot_id, 16);
  r->source.kind = (uint8_t)(seq % JOURNAL_SRC__MAX);
  switch (r->source.kind) {
  case JOURNAL_SRC_BRANCH: case JOURNAL_SRC_AFE: r->source.index = (uint16_t)(seq % 40 + 1); break;
  case JOURNAL_SRC_DER: r->source.sub = (uint8_t)(seq % 3); break;
  case JOURNAL_SRC_TAP: r->source.sub = (uint8_t)(seq % 7); r->source.index = (uint16_t)(seq % 5); break;
  case JOURNAL_SRC_REMOTE: strcpy(r->source.name, "utility"); break;
  default: break;
  }
#define S(txt) ((struct journal_slice){ (const uint8_t *)(txt), (uint32_t)strlen(txt) })
  union journal_body *b = &r->body;
  switch (journal__body_desc(type) ? type : 0) { /* 0: a raw body */
  case JOURNAL_T_BOOT:
    memcpy(b->boot.boot_id, jt_boot_id, 16);
    b->boot.reset_reason = S("watchdog");
    b->boot.previous_shutdown = JOURNAL_SHUTDOWN_UNCLEAN;
    b->boot.firmware_version = S("hems 0.1.0");
    b->boot.rail_status = S("3v3_low");
    b->boot.config_version = 70000;
    break;
  case JOURNAL_T_CONFIG:
    b->config.config_version = 3;
    memset(b->config.config_hash, 0xc5, 32);
    b->config.json = S("{\"branches\":[{\"n\":1,\"name\":\"kitchen\"}]}");
    break;
  case JOURNAL_T_NOTE:
    b->note.uid = 1000;
    b->note.gid = 1000;
    b->note.who = S("alice");
    b->note.text = S("replaced CT on branch 7 — ünïcödé");
    b->note.claimed_who = S("root");
    break;
  case JOURNAL_T_FAULT:
    b->fault.code = S("spi_crc");
    b->fault.detail = S("3 CRC errors in 1 s");
    b->fault.value = -4294967297ll;
    b->fault.branch = 7;
    break;
  case JOURNAL_T_SEAL:
    b->seal.sealed_seq = seq - 1;
    memcpy(b->seal.head_hash, r->prev, 32);
    memset(b->seal.state_hash, 0x5a, 32);
    memset(b->seal.key_id, 0x11, 16);
    b->seal.group_records = 1000;
    memset(b->seal.sig, 0x99, 64);
    break;
  case JOURNAL_T_KEY:
    memset(b->key.key_id, 0x22, 16);
    memset(b->key.pubkey, 0x33, 32);
    memset(b->key.prev_key_id, 0, 16);
    memset(b->key.cert, 0x44, 64);
    b->key.algorithm = S("ed25519");
    break;
  case JOURNAL_T_RETENTION:
    b->retention.cut_seq = 0x1234567890ull;
    memset(b->retention.cut_hash, 0x66, 32);
    b->retention.archive = S("00000000000000000001-00000000000000001000.hems");
    memset(b->retention.archive_hash, 0x77, 32);
    break;
  default:
    if (journal__body_desc(type)) { fill_generic(journal__body_desc(type), (uint8_t *)b, seq, 0); break; }
    {
    /* Raw CBOR map body with canonical keys: {"a": type, "bb": "x", "blob": h'…', "neg": -300} */
    struct cw w = { raw, 256, 0, 0 };
    journal__cw_map(&w, 4);
    journal__cw_text(&w, "a", 1); journal__cw_uint(&w, type);
    journal__cw_text(&w, "bb", 2); journal__cw_text(&w, "x", 1);
    journal__cw_text(&w, "neg", 3); journal__cw_int(&w, -300);
    journal__cw_text(&w, "blob", 4); journal__cw_bytes(&w, blob_a, sizeof blob_a);
    assert_int_equal(w.err, 0);
    *rawlen = w.len;
    b->raw.cbor = (struct journal_slice){ raw, (uint32_t)w.len };
  }
  }
#undef S
}

static void assert_slice_eq(struct journal_slice a, struct journal_slice b)
{
  assert_int_equal(a.len, b.len);
  if (a.len) assert_memory_equal(a.ptr, b.ptr, a.len);
}

static void assert_records_equal(const struct journal_record *a, const struct journal_record *b)
{
  assert_int_equal(a->seq, b->seq);
  assert_memory_equal(a->prev, b->prev, 32);
  assert_int_equal(a->version, b->version);
  assert_int_equal(a->type, b->type);
  assert_int_equal(a->time_quality, b->time_quality);
  assert_int_equal(a->mono_ns, b->mono_ns);
  assert_true(a->wall_ns == b->wall_ns);
  assert_memory_equal(a->boot_id, b->boot_id, 16);
  assert_int_equal(a->source.kind, b->source.kind);
  assert_int_equal(a->source.sub, b->source.sub);
  assert_int_equal(a->source.index, b->source.index);
  assert_string_equal(a->source.name, b->source.name);
  const union journal_body *x = &a->body, *y = &b->body;
  switch (journal__body_desc(a->type) ? a->type : 0) {
  case JOURNAL_T_BOOT:
    assert_memory_equal(x->boot.boot_id, y->boot.boot_id, 16);
    assert_slice_eq(x->boot.reset_reason, y->boot.reset_reason);
    assert_int_equal(x->boot.previous_shutdown, y->boot.previous_shutdown);
    assert_slice_eq(x->boot.firmware_version, y->boot.firmware_version);
    assert_slice_eq(x->boot.rail_status, y->boot.rail_status);
    assert_int_equal(x->boot.config_version, y->boot.config_version);
    break;
  case JOURNAL_T_CONFIG:
    assert_int_equal(x->config.config_version, y->config.config_version);
    assert_memory_equal(x->config.config_hash, y->config.config_hash, 32);
    assert_slice_eq(x->config.json, y->config.json);
    break;
  case JOURNAL_T_NOTE:
    assert_int_equal(x->note.uid, y->note.uid);
    assert_int_equal(x->note.gid, y->note.gid);
    assert_slice_eq(x->note.who, y->note.who);
    assert_slice_eq(x->note.text, y->note.text);
    assert_slice_eq(x->note.claimed_who, y->note.claimed_who);
    break;
  case JOURNAL_T_FAULT:
    assert_slice_eq(x->fault.code, y->fault.code);
    assert_slice_eq(x->fault.detail, y->fault.detail);
    assert_true(x->fault.value == y->fault.value);
    assert_int_equal(x->fault.branch, y->fault.branch);
    break;
  case JOURNAL_T_SEAL:
    assert_memory_equal(&x->seal, &y->seal, sizeof x->seal);
    break;
  case JOURNAL_T_KEY:
    assert_memory_equal(x->key.key_id, y->key.key_id, 16);
    assert_memory_equal(x->key.pubkey, y->key.pubkey, 32);
    assert_memory_equal(x->key.prev_key_id, y->key.prev_key_id, 16);
    assert_memory_equal(x->key.cert, y->key.cert, 64);
    assert_slice_eq(x->key.algorithm, y->key.algorithm);
    break;
  case JOURNAL_T_RETENTION:
    assert_int_equal(x->retention.cut_seq, y->retention.cut_seq);
    assert_memory_equal(x->retention.cut_hash, y->retention.cut_hash, 32);
    assert_slice_eq(x->retention.archive, y->retention.archive);
    assert_memory_equal(x->retention.archive_hash, y->retention.archive_hash, 32);
    break;
  default:
    /* other tables: the byte-identical re-encoding (checked by the caller) covers them */
    if (!journal__body_desc(a->type)) assert_slice_eq(x->raw.cbor, y->raw.cbor);
  }
}

/* The fast decoder behind journal_record_decode (inline heads, keys matched by table) answers
 * exactly as the reference decode (the table walk over libcbor's tokenizer): the same return
 * code, and on success the same record byte for byte. Every record type, then every prefix,
 * every single-byte change from a set of values that flip major types, lengths and key bytes,
 * and every single-byte deletion (tests/fuzz/fuzz_record.c does the same, coverage-guided). */
static int decodes_agree(const uint8_t *buf, size_t len)
{
  static struct journal_record a, b;
  int ra = journal_record_decode(buf, len, &a), rb = journal__record_decode_ref(buf, len, &b);
  if (ra != rb) return 0;
  return ra != 0 || memcmp(&a, &b, sizeof a) == 0;
}

/* A record of type t: both decoders agree on it, every prefix, every single-byte change from
 * a set of values that flip major types, lengths and key bytes, and every single-byte deletion. */
static void corruptions_agree(unsigned t, uint64_t seq, unsigned *checked, unsigned *accepted)
{
  static const uint8_t vals[] = { 0x00, 0x01, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1f, 0x20, 0x40, 0x41, 0x58, 0x5f,
                                  0x60, 0x61, 0x78, 0x7f, 0x80, 0x81, 0x9f, 0xa0, 0xa1, 0xbf, 0xc0, 0xf4, 0xf5,
                                  0xf6, 0xf7, 0xf9, 0xff, 'a', 'z', '_' };
  struct journal_record r;
  uint8_t raw[256], buf[4096], m[4096];
  size_t rawlen = 0, len = 0;
  make_record(t, seq, &r, raw, &rawlen);
  assert_int_equal(journal_record_encode(&r, buf, sizeof buf, &len), 0);
  if (!decodes_agree(buf, len)) fail_msg("type %u: fast and reference decodes differ", t);
  for (size_t cut = 0; cut < len; cut++)
    if (!decodes_agree(buf, cut)) fail_msg("type %u: prefix %zu: decodes differ", t, cut);
  for (size_t i = 0; i < len; i++) {
    memcpy(m, buf, len);
    for (size_t k = 0; k < sizeof vals; k++) {
      if (buf[i] == vals[k]) continue;
      m[i] = vals[k];
      (*checked)++;
      if (!decodes_agree(m, len)) fail_msg("type %u: byte %zu = 0x%02x: decodes differ", t, i, vals[k]);
      if (journal_record_decode(m, len, &r) == 0) (*accepted)++;
    }
    m[i] = (uint8_t)(buf[i] + 1);
    if (!decodes_agree(m, len)) fail_msg("type %u: byte %zu + 1: decodes differ", t, i);
    m[i] = buf[i];
    memmove(m + i, m + i + 1, len - i - 1); /* byte i deleted */
    if (!decodes_agree(m, len - 1)) fail_msg("type %u: byte %zu deleted: decodes differ", t, i);
  }
}

/* A hand encoder for expected bytes (independent of the codec's writer). */
struct hb { uint8_t b[4096]; size_t n; };
static void h_head(struct hb *h, unsigned major, uint64_t v, int force) /* force: 0 shortest, else bytes */
{
  int bytes = force ? force : v < 24 ? 0 : v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffffu ? 4 : 8;
  int ai = bytes == 0 ? (int)v : bytes == 1 ? 24 : bytes == 2 ? 25 : bytes == 4 ? 26 : 27;
  h->b[h->n++] = (uint8_t)(major << 5 | (unsigned)ai);
  for (int i = bytes - 1; i >= 0; i--) h->b[h->n++] = (uint8_t)(v >> (8 * i));
}
static void h_text(struct hb *h, const char *s) { h_head(h, 3, strlen(s), 0); memcpy(h->b + h->n, s, strlen(s)); h->n += strlen(s); }
static void h_bytes(struct hb *h, const uint8_t *p, size_t n) { h_head(h, 2, n, 0); memcpy(h->b + h->n, p, n); h->n += n; }

#endif
