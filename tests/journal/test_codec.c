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
#include "jt_records.h"


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
  jt_records_init();
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
