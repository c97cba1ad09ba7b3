/*
 * test_codec.c — the record codec: every record type round trips through encode/decode and
 * re-encodes to identical bytes; the strict decoder rejects every non-canonical form; source
 * text round trips; the field tables are in canonical key order; the fast decoder answers as the
 * reference decode on every record and thousands of corruptions of it; raw bodies (a type
 * without a table, made so at link time) are held to the same rules; and Debian's python3-cbor2,
 * an independent decoder, decodes every record and re-encodes it canonically to the same bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "jt_util.h"
#include "codec_internal.h"

static uint8_t blob_a[32], blob_b[64];


/* Every record type has a body table today, so codec.c's raw-body paths (a type without a
 * table: the body is kept as one canonical CBOR map) would never run. This test is linked with
 * -Wl,--wrap=journal__body_desc (tests/journal/CMakeLists.txt): while raw_as is set, that type
 * has no table for the codec, the JSON renderer and this file alike. */
#define RAW_AS JOURNAL_T_CONFIG
static unsigned raw_as;
const struct jdesc *__real_journal__body_desc(unsigned type);
const struct jdesc *__wrap_journal__body_desc(unsigned type);
const struct jdesc *__wrap_journal__body_desc(unsigned type)
{
  return raw_as && type == raw_as ? NULL : __real_journal__body_desc(type);
}
static int raw_on(void **state) { (void)state; raw_as = RAW_AS; return journal__body_desc(RAW_AS) != NULL; }
static int raw_off(void **state) { (void)state; raw_as = 0; return 0; }

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
  }
}

/* A filled-in record of every type (bodies point at static data). */
static void make_record(unsigned type, uint64_t seq, struct journal_record *r, uint8_t *raw, size_t *rawlen)
{
  memset(r, 0, sizeof *r);
  r->seq = seq;
  for (int i = 0; i < 32; i++) r->prev[i] = (uint8_t)(seq * 31 + (uint64_t)i);
  r->version = JOURNAL_SCHEMA_VERSION;
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

static void test_round_trip_every_type(void **state)
{
  (void)state;
  for (uint64_t seq = 1; seq <= 40; seq++) {
    for (unsigned t = 1; t < JOURNAL_T__MAX; t++) {
      struct journal_record r, d, d2;
      uint8_t raw[256], buf[4096], buf2[4096];
      size_t rawlen = 0, len = 0, len2 = 0;
      make_record(t, seq * 1000003ull, &r, raw, &rawlen);
      assert_int_equal(journal_record_encode(&r, buf, sizeof buf, &len), 0);
      assert_int_equal(journal_record_decode(buf, len, &d), 0);
      assert_records_equal(&r, &d);
      assert_int_equal(journal_record_encode(&d, buf2, sizeof buf2, &len2), 0);
      assert_int_equal(len, len2);
      assert_memory_equal(buf, buf2, len);
      assert_int_equal(journal_record_decode(buf2, len2, &d2), 0);
      /* The verifier's fast path agrees with the full decoder. */
      uint64_t ps; unsigned pt; uint8_t pp[32];
      assert_int_equal(journal_record_peek(buf, len, &ps, &pt, pp), 0);
      assert_int_equal(ps, r.seq);
      assert_int_equal(pt, t);
      assert_memory_equal(pp, r.prev, 32);
      /* Too small a buffer is -ENOSPC, never an overrun. */
      assert_int_equal(journal_record_encode(&r, buf2, len - 1, &len2), -ENOSPC);
      /* Every proper prefix is rejected. */
      for (size_t cut = 0; cut < len; cut += (len / 37) + 1) assert_true(journal_record_decode(buf, cut, &d2) < 0);
      char *json = journal_record_to_json(buf, len, JOURNAL_JSON_WITH_HASH);
      assert_non_null(json);
      assert_non_null(strstr(json, journal_type_name(t)));
      free(json);
    }
  }
}

static void test_encode_rejects_bad_records(void **state)
{
  (void)state;
  struct journal_record r;
  uint8_t raw[256], buf[4096];
  size_t rawlen, len;
  make_record(JOURNAL_T_NOTE, 5, &r, raw, &rawlen);
  r.type = 0;
  assert_int_equal(journal_record_encode(&r, buf, sizeof buf, &len), JOURNAL_EBADREC);
  r.type = JOURNAL_T__MAX;
  assert_int_equal(journal_record_encode(&r, buf, sizeof buf, &len), JOURNAL_EBADREC);
  make_record(JOURNAL_T_NOTE, 5, &r, raw, &rawlen);
  r.time_quality = 3;
  assert_int_equal(journal_record_encode(&r, buf, sizeof buf, &len), JOURNAL_EBADREC);
  make_record(JOURNAL_T_BOOT, 5, &r, raw, &rawlen);
  r.body.boot.previous_shutdown = 9;
  assert_int_equal(journal_record_encode(&r, buf, sizeof buf, &len), JOURNAL_EBADREC);
  /* Text must be UTF-8: encoder and decoder refuse anything else (cbor2 and JSON would). */
  make_record(JOURNAL_T_NOTE, 5, &r, raw, &rawlen);
  static const char *bad_utf8[] = { "\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82" };
  for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
    r.body.note.text = (struct journal_slice){ (const uint8_t *)bad_utf8[i], (uint32_t)strlen(bad_utf8[i]) };
    assert_int_equal(journal_record_encode(&r, buf, sizeof buf, &len), JOURNAL_EBADREC);
  }
  r.body.note.text = (struct journal_slice){ (const uint8_t *)"\xff\xfe", 2 };
  r.body.note.who = (struct journal_slice){ (const uint8_t *)"ok", 2 };
  {
    /* Hand-patch valid bytes into invalid ones of the same length: the decoder refuses. */
    r.body.note.text = (struct journal_slice){ (const uint8_t *)"zz", 2 };
    assert_int_equal(journal_record_encode(&r, buf, sizeof buf, &len), 0);
    uint8_t *zz = memmem(buf, len, "\x62zz", 3); /* text(2) "zz": not necessarily the body's last field */
    assert_non_null(zz);
    zz[1] = 0xff;
    zz[2] = 0xfe;
    struct journal_record d;
    assert_int_equal(journal_record_decode(buf, len, &d), JOURNAL_EBADREC);
  }
  /* Oversized record. */
  make_record(JOURNAL_T_NOTE, 5, &r, raw, &rawlen);
  static uint8_t big[JOURNAL_RECORD_MAX + 16];
  make_record(JOURNAL_T_NOTE, 5, &r, raw, &rawlen);
  memset(big, 'x', sizeof big);
  r.body.note.text = (struct journal_slice){ big, sizeof big - 8 };
  static uint8_t out[2 * JOURNAL_RECORD_MAX];
  assert_int_equal(journal_record_encode(&r, out, sizeof out, &len), JOURNAL_ETOOBIG);
}

/* ---- an independent, hand-written envelope builder for the rejection tests */

struct hb { uint8_t b[1024]; size_t n; };
static void h_head(struct hb *h, unsigned major, uint64_t v, int force) /* force: 0 shortest, else bytes */
{
  int bytes = force ? force : v < 24 ? 0 : v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffffu ? 4 : 8;
  int ai = bytes == 0 ? (int)v : bytes == 1 ? 24 : bytes == 2 ? 25 : bytes == 4 ? 26 : 27;
  h->b[h->n++] = (uint8_t)(major << 5 | (unsigned)ai);
  for (int i = bytes - 1; i >= 0; i--) h->b[h->n++] = (uint8_t)(v >> (8 * i));
}
static void h_text(struct hb *h, const char *s) { h_head(h, 3, strlen(s), 0); memcpy(h->b + h->n, s, strlen(s)); h->n += strlen(s); }
static void h_bytes(struct hb *h, const uint8_t *p, size_t n) { h_head(h, 2, n, 0); memcpy(h->b + h->n, p, n); h->n += n; }

enum variant {
  V_OK, V_SEQ_LONG, V_TYPE_LONG, V_VERSION2, V_ENV_UNSORTED, V_BODY_UNSORTED, V_BODY_DUP, V_TRAILING,
  V_INDEF_MAP, V_INDEF_TEXT, V_TAG, V_FLOAT, V_LEN_LONG, V_EXTRA_ENV_KEY, V_SEQ_ZERO, V_MISSING_BODY,
  V_IDS /* canonical, with the appender's gid/uid, as notes are written now */
};

/* A note record, hand-encoded, optionally non-canonical in one way. */
static void build_note(struct hb *h, enum variant v)
{
  uint8_t prev[32], boot[16];
  memset(prev, 0xab, 32);
  memcpy(boot, jt_boot_id, 16);
  h->n = 0;
  h_head(h, 5, v == V_EXTRA_ENV_KEY ? 11 : v == V_MISSING_BODY ? 9 : 10, 0);
  h_head(h, 0, 0, 0); h_bytes(h, prev, 32);
  h_head(h, 0, 1, 0); h_head(h, 0, v == V_SEQ_ZERO ? 0 : 5, v == V_SEQ_LONG ? 1 : 0);
  h_head(h, 0, 2, 0); h_head(h, 0, v == V_VERSION2 ? 2 : 1, 0);
  if (v == V_ENV_UNSORTED) { h_head(h, 0, 4, 0); h_head(h, 0, 1000, 0); h_head(h, 0, 3, 0); h_head(h, 0, 3, 0); }
  else { h_head(h, 0, 3, 0); h_head(h, 0, 3, v == V_TYPE_LONG ? 2 : 0); h_head(h, 0, 4, 0); h_head(h, 0, 1000, 0); }
  h_head(h, 0, 5, 0);
  if (v == V_TAG) { h_head(h, 6, 1, 0); }
  h_head(h, 0, 1763733720000000000ull, 0);
  h_head(h, 0, 6, 0);
  if (v == V_FLOAT) { h->b[h->n++] = 0xf9; h->b[h->n++] = 0; h->b[h->n++] = 0; } else h_head(h, 0, 0, 0);
  h_head(h, 0, 7, 0); h_bytes(h, boot, 16);
  h_head(h, 0, 8, 0);
  if (v == V_INDEF_TEXT) { h->b[h->n++] = 0x7f; h_text(h, "oper"); h_text(h, "ator"); h->b[h->n++] = 0xff; }
  else if (v == V_LEN_LONG) { h_head(h, 3, 8, 1); memcpy(h->b + h->n, "operator", 8); h->n += 8; }
  else h_text(h, "operator");
  if (v != V_MISSING_BODY) {
    h_head(h, 0, 9, 0);
    if (v == V_INDEF_MAP) h->b[h->n++] = 0xbf; else h_head(h, 5, v == V_BODY_DUP ? 3 : v == V_IDS ? 4 : 2, 0);
    if (v == V_IDS) { h_text(h, "gid"); h_head(h, 0, 100, 0); h_text(h, "uid"); h_head(h, 0, 1000, 0); }
    if (v == V_BODY_UNSORTED) { h_text(h, "text"); h_text(h, "hello"); h_text(h, "who"); h_text(h, "bob"); }
    else {
      h_text(h, "who"); h_text(h, "bob");
      if (v == V_BODY_DUP) { h_text(h, "who"); h_text(h, "eve"); }
      h_text(h, "text"); h_text(h, "hello");
    }
    if (v == V_INDEF_MAP) h->b[h->n++] = 0xff;
  }
  if (v == V_EXTRA_ENV_KEY) { h_head(h, 0, 10, 0); h_head(h, 0, 0, 0); }
  if (v == V_TRAILING) h->b[h->n++] = 0x00;
}

/* Keys the table does not know, at every place in a body: accepted exactly when all keys are
 * strictly ascending (RFC 8949 §4.2.1) and valid UTF-8, by the fast decoder and the reference
 * alike. Bodies are notes (who, text), every value the text "v". */
static void test_unknown_keys(void **state)
{
  (void)state;
  static const char long_key[] = "an_unknown_key_of_thirty_bytes";
  static const struct { const char *keys[5]; int ok; } cases[] = {
    { { "a", "who", "text" }, 1 },            /* unknown first */
    { { "who", "wz", "text" }, 0 },           /* shorter after longer */
    { { "who", "wzz", "text" }, 1 },          /* between two known */
    { { "who", "wzz", "wzz", "text" }, 0 },   /* duplicate unknown */
    { { "who", "wzz", "wza", "text" }, 0 },   /* descending unknowns */
    { { "who", "text", "zzzzz" }, 1 },        /* unknown last */
    { { "who", "text", "tex" }, 0 },          /* unknown below the previous known */
    { { "a", "b", "who" }, 1 },               /* two unknowns, then known */
    { { "b", "a", "who" }, 0 },
    { { "who", "aaa", "text" }, 0 },
    { { "wzz", "who" }, 0 },                  /* known below the previous unknown */
    { { "text" }, 1 },                        /* a field left out */
    { { "who", "who" }, 0 },
    { { "text", "who" }, 0 },
    { { "who", "text", long_key }, 1 },       /* a key with a long head */
    { { "who", "text", "\xff" }, 0 },         /* not UTF-8 */
    { { "\xc3\xa9", "who" }, 1 },             /* UTF-8, unknown */
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    struct hb h;
    build_note(&h, V_OK);
    /* the V_OK body is the last thing: map(2) "who" "bob" "text" "hello" (20 bytes) */
    h.n -= 1 + 4 + 4 + 5 + 6;
    unsigned nk = 0;
    while (nk < 5 && cases[c].keys[nk]) nk++;
    h_head(&h, 5, nk, 0);
    for (unsigned k = 0; k < nk; k++) { h_text(&h, cases[c].keys[k]); h_text(&h, "v"); }
    struct journal_record a, b;
    int ra = journal_record_decode(h.b, h.n, &a), rb = journal__record_decode_ref(h.b, h.n, &b);
    if (ra != rb) fail_msg("case %zu: fast %d, reference %d", c, ra, rb);
    if (cases[c].ok) {
      if (ra != 0) fail_msg("case %zu: rejected (%d)", c, ra);
      assert_memory_equal(&a, &b, sizeof a);
    } else if (ra != JOURNAL_EBADREC) {
      fail_msg("case %zu: accepted", c);
    }
  }
}

static void test_hand_encoding_matches(void **state)
{
  (void)state;
  struct hb h;
  build_note(&h, V_IDS);
  struct journal_record r;
  assert_int_equal(journal_record_decode(h.b, h.n, &r), 0);
  assert_int_equal(r.body.note.gid, 100);
  assert_int_equal(r.body.note.uid, 1000);
  assert_int_equal(r.body.note.claimed_who.len, 0); /* empty: left out */
  assert_int_equal(r.seq, 5);
  assert_int_equal(r.type, JOURNAL_T_NOTE);
  assert_int_equal(r.source.kind, JOURNAL_SRC_OPERATOR);
  assert_int_equal(r.body.note.who.len, 3);
  assert_memory_equal(r.body.note.who.ptr, "bob", 3);
  uint8_t buf[1024];
  size_t len;
  assert_int_equal(journal_record_encode(&r, buf, sizeof buf, &len), 0);
  assert_int_equal(len, h.n);
  assert_memory_equal(buf, h.b, len); /* the library writes exactly the canonical form */
}

static void test_strict_decoder(void **state)
{
  (void)state;
  static const struct { enum variant v; int want; const char *what; } cases[] = {
    { V_SEQ_LONG, JOURNAL_EBADREC, "non-shortest seq" },
    { V_TYPE_LONG, JOURNAL_EBADREC, "non-shortest type" },
    { V_LEN_LONG, JOURNAL_EBADREC, "non-shortest string length" },
    { V_VERSION2, JOURNAL_EVERSION, "schema version 2" },
    { V_ENV_UNSORTED, JOURNAL_EBADREC, "envelope keys unsorted" },
    { V_BODY_UNSORTED, JOURNAL_EBADREC, "body keys unsorted" },
    { V_BODY_DUP, JOURNAL_EBADREC, "duplicate body key" },
    { V_TRAILING, JOURNAL_EBADREC, "trailing byte" },
    { V_INDEF_MAP, JOURNAL_EBADREC, "indefinite map" },
    { V_INDEF_TEXT, JOURNAL_EBADREC, "indefinite text" },
    { V_TAG, JOURNAL_EBADREC, "tag" },
    { V_FLOAT, JOURNAL_EBADREC, "float" },
    { V_EXTRA_ENV_KEY, JOURNAL_EBADREC, "unknown envelope key" },
    { V_SEQ_ZERO, JOURNAL_EBADREC, "seq 0" },
    { V_MISSING_BODY, JOURNAL_EBADREC, "no body" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct hb h;
    struct journal_record r;
    build_note(&h, cases[i].v);
    int rc = journal_record_decode(h.b, h.n, &r);
    if (rc != cases[i].want) fail_msg("%s: decode returned %d (%s), want %d", cases[i].what, rc, journal_strerror(rc), cases[i].want);
  }
  /* Schema version above ours via the fast path too. */
  struct hb h;
  build_note(&h, V_VERSION2);
  uint64_t s; unsigned t; uint8_t p[32];
  assert_int_equal(journal_record_peek(h.b, h.n, &s, &t, p), JOURNAL_EVERSION);
}

/* Raw bodies (types without a table) must be canonical too: the hash chain relies on exactly
 * one encoding per record. */
static void test_strict_raw_body(void **state)
{
  (void)state;
  struct journal_record r;
  uint8_t raw[256], buf[4096];
  size_t rawlen, len;
  /* The encoder refuses a raw body that is not exactly one canonical map. */
  make_record(RAW_AS, 5, &r, raw, &rawlen);
  static const uint8_t not_map[] = { 0x83, 1, 2, 3 };
  static const uint8_t map_trailing[] = { 0xa1, 0x61, 'a', 1, 0 };
  static const uint8_t map_unsorted[] = { 0xa2, 0x62, 'b', 'b', 1, 0x61, 'a', 2 };
  static const uint8_t map_truncated[] = { 0xa2, 0x61, 'a', 1, 0x61, 'b' };
  const struct journal_slice bad[] = { { not_map, sizeof not_map }, { map_trailing, sizeof map_trailing },
                                       { map_unsorted, sizeof map_unsorted }, { map_truncated, sizeof map_truncated } };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    r.body.raw.cbor = bad[i];
    assert_int_equal(journal_record_encode(&r, buf, sizeof buf, &len), JOURNAL_EBADREC);
  }
  r.body.raw.cbor = (struct journal_slice){ NULL, 0 };
  assert_int_equal(journal_record_encode(&r, buf, sizeof buf, &len), JOURNAL_EBADREC);

  make_record(RAW_AS, 7, &r, raw, &rawlen);
  assert_int_equal(journal_record_encode(&r, buf, sizeof buf, &len), 0);
  /* Swap the raw body for non-canonical variants in place (same length). */
  size_t off = len - rawlen;
  assert_memory_equal(buf + off, raw, rawlen);
  static const uint8_t ok[] = { 0xa2, 0x61, 'a', 1, 0x61, 'b', 2 };
  static const uint8_t unsorted[] = { 0xa2, 0x61, 'b', 1, 0x61, 'a', 2 };
  static const uint8_t dup[] = { 0xa2, 0x61, 'a', 1, 0x61, 'a', 2 };
  static const uint8_t longint[] = { 0xa1, 0x61, 'a', 0x18, 1, 0x60, 0x60 }; /* + trailing: caught too */
  static const uint8_t nested_unsorted[] = { 0xa1, 0x61, 'a', 0xa2, 0x61, 'y', 1, 0x61, 'x', 2 };
  uint8_t rec[4096];
  struct journal_record d;
  memcpy(rec, buf, off);
  static const uint8_t not_map_body[] = { 0x82, 1, 2 };
  const struct { const uint8_t *b; size_t n; int want; } v[] = {
    { ok, sizeof ok, 0 }, { unsorted, sizeof unsorted, JOURNAL_EBADREC }, { dup, sizeof dup, JOURNAL_EBADREC },
    { longint, sizeof longint, JOURNAL_EBADREC }, { nested_unsorted, sizeof nested_unsorted, JOURNAL_EBADREC },
    { not_map_body, sizeof not_map_body, JOURNAL_EBADREC },
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    memcpy(rec, buf, off);
    memcpy(rec + off, v[i].b, v[i].n);
    assert_int_equal(journal_record_decode(rec, off + v[i].n, &d), v[i].want);           /* fast */
    assert_int_equal(journal__record_decode_ref(rec, off + v[i].n, &d), v[i].want);     /* reference */
  }
  /* The accepted one is the raw body, byte for byte, in both decoders. */
  memcpy(rec + off, ok, sizeof ok);
  assert_int_equal(journal_record_decode(rec, off + sizeof ok, &d), 0);
  assert_int_equal(d.body.raw.cbor.len, sizeof ok);
  assert_memory_equal(d.body.raw.cbor.ptr, ok, sizeof ok);
  assert_int_equal(journal__record_decode_ref(rec, off + sizeof ok, &d), 0);
  assert_int_equal(d.body.raw.cbor.len, sizeof ok);
  assert_memory_equal(d.body.raw.cbor.ptr, ok, sizeof ok);
}

static void test_sources(void **state)
{
  (void)state;
  static const char *good[] = { "panel", "branch:7", "afe:2", "der:pv", "der:ess", "der:ats", "tap:rcd:3",
                                "tap:power_fail", "tap:mcb:65535", "operator", "remote:utility", "branch:1" };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    struct journal_source s;
    char buf[64];
    if (journal_source_parse(good[i], strlen(good[i]), &s) != 0) fail_msg("rejected %s", good[i]);
    int n = journal_source_format(&s, buf, sizeof buf);
    assert_int_equal(n, (int)strlen(good[i]));
    assert_string_equal(buf, good[i]);
  }
  struct journal_source s;
  assert_int_equal(journal_source_parse("branch:7", 8, &s), 0);
  assert_int_equal(s.kind, JOURNAL_SRC_BRANCH);
  assert_int_equal(s.index, 7);
  assert_int_equal(journal_source_parse("tap:rcd:3", 9, &s), 0);
  assert_int_equal(s.kind, JOURNAL_SRC_TAP);
  assert_int_equal(s.sub, JOURNAL_TAP_RCD);
  assert_int_equal(s.index, 3);
  assert_int_equal(journal_source_parse("remote:utility", 14, &s), 0);
  assert_string_equal(s.name, "utility");
  static const char *bad[] = { "", "Panel", "panel:1", "branch", "branch:", "branch:0", "branch:07", "branch:65536",
                               "branch:7x", "branch:-1", "afe:", "der:", "der:wind", "tap:", "tap:foo:1", "tap:rcd:",
                               "tap:rcd:0", "operator:x", "remote:", "remote:0123456789012345678901234567890123",
                               "branch:99999999", ":", "x:1" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (journal_source_parse(bad[i], strlen(bad[i]), &s) != JOURNAL_EBADREC) fail_msg("accepted bad source '%s'", bad[i]);
  assert_int_equal(journal_source_parse("panel\0x", 7, &s), JOURNAL_EBADREC);
  char small[4];
  assert_int_equal(journal_source_parse("branch:7", 8, &s), 0);
  assert_int_equal(journal_source_format(&s, small, sizeof small), -ENOSPC);
}

static int canon_cmp(const char *a, const char *b)
{
  size_t an = strlen(a), bn = strlen(b);
  if (an != bn) return an < bn ? -1 : 1;
  return memcmp(a, b, an);
}

static void test_tables_canonical(void **state)
{
  (void)state;
  const struct jdesc *d[32];
  const char *names[32];
  int n = journal__all_descs(d, names, 32);
  assert_true(n >= 7); /* boot config note fault seal key retention, and every table added since */
  for (int i = 0; i < n; i++) for (unsigned f = 0; f < d[i]->n; f++)
    if (d[i]->fields[f].kind == JF_ARRAY) {
      const struct jdesc *sub = d[i]->fields[f].sub;
      for (unsigned g = 1; g < sub->n; g++)
        if (canon_cmp(sub->fields[g - 1].name, sub->fields[g].name) >= 0)
          fail_msg("%s.%s: field %s must come after %s", names[i], d[i]->fields[f].name, sub->fields[g - 1].name, sub->fields[g].name);
    }
  /* The fast decoder's padded copy of every name (and its precomputed length) agree with it. */
  for (int i = 0; i < n; i++) for (unsigned f = 0; f < d[i]->n; f++) {
    const struct jfield *jf = &d[i]->fields[f];
    size_t nl = strlen(jf->name);
    assert_int_equal(journal__fname_len(jf), nl);
    assert_true(nl < sizeof jf->key);
    assert_string_equal(jf->key, jf->name);
    for (size_t k = nl; k < sizeof jf->key; k++) assert_int_equal(jf->key[k], 0);
    assert_int_equal(jf->khead, 0x60 | nl);
    /* kmask selects exactly the name's bytes of key[0..15] */
    uint8_t m[16];
    memcpy(m, &jf->kmask[0], 8);
    memcpy(m + 8, &jf->kmask[1], 8);
    for (size_t k = 0; k < 16; k++) assert_int_equal(m[k], k < nl ? 0xff : 0);
    if (jf->kind == JF_ARRAY) for (unsigned g = 0; g < jf->sub->n; g++) {
      const struct jfield *sf = &jf->sub->fields[g];
      assert_int_equal(journal__fname_len(sf), strlen(sf->name));
      assert_true(strlen(sf->name) < sizeof sf->key);
      assert_string_equal(sf->key, sf->name);
      assert_int_equal(sf->khead, 0x60 | strlen(sf->name));
      uint8_t sm[16];
      memcpy(sm, &sf->kmask[0], 8);
      memcpy(sm + 8, &sf->kmask[1], 8);
      for (size_t k = 0; k < 16; k++) assert_int_equal(sm[k], k < strlen(sf->name) ? 0xff : 0);
    }
  }
  for (int i = 0; i < n; i++) {
    for (unsigned f = 1; f < d[i]->n; f++) {
      const char *a = d[i]->fields[f - 1].name, *b = d[i]->fields[f].name;
      if (canon_cmp(a, b) >= 0) fail_msg("%s: field %s must come after %s", names[i], a, b);
      /* RFC 8949 §4.2.1: bytewise order of the encoded keys agrees. */
      uint8_t ea[64], eb[64];
      struct cw wa = { ea, sizeof ea, 0, 0 }, wb = { eb, sizeof eb, 0, 0 };
      journal__cw_text(&wa, a, strlen(a));
      journal__cw_text(&wb, b, strlen(b));
      size_t m = wa.len < wb.len ? wa.len : wb.len;
      int c = memcmp(ea, eb, m);
      assert_true(c < 0 || (c == 0 && wa.len < wb.len));
    }
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

static void test_fast_decode_matches_reference(void **state)
{
  (void)state;
  unsigned checked = 0, accepted = 0;
  for (uint64_t seq = 1; seq <= 3; seq++)
    for (unsigned t = 1; t < JOURNAL_T__MAX; t++) corruptions_agree(t, seq * 7919ull, &checked, &accepted);
  assert_true(checked > 10000);
  assert_true(accepted > 0); /* some changes are still valid records (values, unknown keys) */
}

/* Raw bodies round trip through both decoders, re-encode to the same bytes, render as JSON,
 * and the two decoders agree on every prefix and single-byte change of such records. */
static void test_raw_body_round_trip(void **state)
{
  (void)state;
  assert_null(journal__body_desc(RAW_AS));
  for (uint64_t seq = 1; seq <= 40; seq++) {
    struct journal_record r, d, d2;
    uint8_t raw[256], buf[4096], buf2[4096];
    size_t rawlen = 0, len = 0, len2 = 0;
    make_record(RAW_AS, seq * 1000003ull, &r, raw, &rawlen);
    assert_int_equal(journal_record_encode(&r, buf, sizeof buf, &len), 0);
    assert_memory_equal(buf + len - rawlen, raw, rawlen); /* the body is the raw map itself */
    assert_int_equal(journal_record_decode(buf, len, &d), 0);
    assert_records_equal(&r, &d);
    assert_int_equal(journal__record_decode_ref(buf, len, &d2), 0);
    assert_memory_equal(&d, &d2, sizeof d);
    assert_int_equal(journal_record_encode(&d, buf2, sizeof buf2, &len2), 0);
    assert_int_equal(len, len2);
    assert_memory_equal(buf, buf2, len);
    char *json = journal_record_to_json(buf, len, JOURNAL_JSON_WITH_HASH);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"neg\": -300"));
    assert_non_null(strstr(json, "\"bb\": \"x\""));
    free(json);
  }
  unsigned checked = 0, accepted = 0;
  for (uint64_t seq = 1; seq <= 3; seq++) corruptions_agree(RAW_AS, seq * 7919ull, &checked, &accepted);
  assert_true(checked > 1000);
  assert_true(accepted > 0);
}

/* ---- the independent decoder: Debian's python3-cbor2 */

static const char py_script[] =
  "import sys, os, cbor2\n"
  "d = sys.argv[1]\n"
  "names = sorted(os.listdir(d))\n"
  "for n in names:\n"
  "    b = open(os.path.join(d, n), 'rb').read()\n"
  "    o = cbor2.loads(b)\n"
  "    if cbor2.dumps(o, canonical=True) != b:\n"
  "        print('NONCANONICAL', n); sys.exit(3)\n"
  "    if not isinstance(o, dict) or sorted(o.keys()) != list(range(10)):\n"
  "        print('BADKEYS', n); sys.exit(4)\n"
  "    body = o[9]\n"
  "    extra = ''\n"
  "    if o[3] == 3: extra = body['who'] + '|' + body['text']\n"
  "    if o[3] == 13: extra = body['code'] + '|' + str(body['value'])\n"
  "    if o[3] == 14: extra = str(body['sealed_seq']) + '|' + body['head_hash'].hex()[:8]\n"
  "    print('%s seq=%d type=%d wall=%d src=%s prev=%s %s' % (n, o[1], o[3], o[5], o[8], o[0].hex()[:8], extra))\n"
  "print('OK', len(names))\n";

static void test_python_cbor2(void **state)
{
  (void)state;
  if (access("/usr/bin/python3", X_OK) != 0) fail_msg("/usr/bin/python3 missing (apt-get install python3-cbor2)");
  char *dir = jt_mkdtemp();
  int count = 0;
  static char expect[64][256];
  for (unsigned t = 1; t < JOURNAL_T__MAX; t++) {
    for (uint64_t k = 0; k < 3; k++) {
      struct journal_record r;
      uint8_t raw[256], buf[4096];
      size_t rawlen, len;
      uint64_t seq = k == 0 ? t : k == 1 ? 300 + t : 5000000000ull + t;
      make_record(t, seq, &r, raw, &rawlen);
      assert_int_equal(journal_record_encode(&r, buf, sizeof buf, &len), 0);
      char name[32];
      snprintf(name, sizeof name, "r%02d", count);
      assert_int_equal(jt_write_file(jt_path("%s/%s", dir, name), buf, len), 0);
      char src[64], prevhex[65];
      journal_source_format(&r.source, src, sizeof src);
      journal_hex(r.prev, 4, prevhex);
      snprintf(expect[count], sizeof expect[count], "%s seq=%llu type=%u wall=%lld src=%s prev=%s ", name,
               (unsigned long long)seq, t, (long long)r.wall_ns, src, prevhex);
      if (t == JOURNAL_T_NOTE) strcat(expect[count], "alice|replaced CT on branch 7 — ünïcödé");
      if (t == JOURNAL_T_FAULT) strcat(expect[count], "spi_crc|-4294967297");
      if (t == JOURNAL_T_SEAL) {
        char hh[16];
        journal_hex(r.body.seal.head_hash, 4, hh);
        snprintf(expect[count] + strlen(expect[count]), 64, "%llu|%s", (unsigned long long)(seq - 1), hh);
      }
      count++;
    }
  }
  char *argv[] = { "/usr/bin/python3", "-c", (char *)py_script, dir, NULL };
  struct jt_out o;
  jt_runv(argv, &o);
  if (o.status != 0) fail_msg("python3 cbor2 check failed (%d): %s %s", o.status, o.out, o.err);
  for (int i = 0; i < count; i++) {
    char line[300];
    size_t el = strlen(expect[i]);
    memcpy(line, expect[i], el);
    line[el] = '\n';
    line[el + 1] = 0;
    if (!strstr(o.out, line)) fail_msg("cbor2 output lacks '%s'\n--- got:\n%s", expect[i], o.out);
  }
  char okline[32];
  snprintf(okline, sizeof okline, "OK %d\n", count);
  assert_non_null(strstr(o.out, okline));
  jt_out_free(&o);

  /* And it is the independent decoder that notices a non-canonical encoding. */
  struct hb h;
  build_note(&h, V_SEQ_LONG);
  jt_rm_rf(dir);
  mkdir(dir, 0700);
  assert_int_equal(jt_write_file(jt_path("%s/bad", dir), h.b, h.n), 0);
  jt_runv(argv, &o);
  assert_int_equal(o.status, 3);
  assert_non_null(strstr(o.out, "NONCANONICAL"));
  jt_out_free(&o);
  jt_rm_rf(dir);
  free(dir);
}

int main(void)
{
  for (size_t i = 0; i < sizeof blob_a; i++) blob_a[i] = (uint8_t)(i * 3);
  for (size_t i = 0; i < sizeof blob_b; i++) blob_b[i] = (uint8_t)(i * 5);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_round_trip_every_type),
    cmocka_unit_test(test_encode_rejects_bad_records),
    cmocka_unit_test(test_hand_encoding_matches),
    cmocka_unit_test(test_strict_decoder),
    cmocka_unit_test_setup_teardown(test_strict_raw_body, raw_on, raw_off),
    cmocka_unit_test_setup_teardown(test_raw_body_round_trip, raw_on, raw_off),
    cmocka_unit_test(test_sources),
    cmocka_unit_test(test_tables_canonical),
    cmocka_unit_test(test_fast_decode_matches_reference),
    cmocka_unit_test(test_unknown_keys),
    cmocka_unit_test(test_python_cbor2),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
