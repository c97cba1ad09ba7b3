/*
 * test_codec3.c — record schema v 3 (journal format 3): every record type round trips and
 * re-encodes to identical bytes; the worked window example of docs/journal.md is the bytes a
 * hand encoder builds from the spec (integer keys, typed-array columns, the narrowest-width
 * rule) and what the codec writes; the strict decoder rejects every other width, tag, order or
 * column shape; the fast decoder answers as the reference decode on thousands of corruptions;
 * JSON shows the v 1 names and values; v 1 bytes do not change with the v 3-only fields; a der
 * record's optional readings (w, soc_mpct) keep 0 apart from absent; and
 * Debian's python3-cbor2, an independent decoder, reads back the values the test put in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "jt_records.h"

/* The narrowest RFC 8746 tag for [mn, mx], written from the RFC's table (not the codec's). */
static unsigned expect_tag(int64_t mn, int64_t mx)
{
  if (mn >= 0) return mx < 256 ? 64 : mx < 65536 ? 65 : (uint64_t)mx < 4294967296ull ? 66 : 67;
  if (mn >= -128 && mx <= 127) return 72;
  if (mn >= -32768 && mx <= 32767) return 73;
  if (mn >= INT32_MIN && mx <= INT32_MAX) return 74;
  return 75;
}

static void test_typed_array_rule(void **state)
{
  (void)state;
  static const struct { int64_t mn, mx; unsigned tag, width; } c[] = {
    { 0, 0, 64, 1 }, { 0, 255, 64, 1 }, { 0, 256, 65, 2 }, { 1, 65535, 65, 2 }, { 0, 65536, 66, 4 },
    { 0, 4294967295ll, 66, 4 }, { 0, 4294967296ll, 67, 8 }, { 0, INT64_MAX, 67, 8 }, { -1, 0, 72, 1 },
    { -128, 127, 72, 1 }, { -129, 0, 73, 2 }, { -1, 128, 73, 2 }, { -32768, 32767, 73, 2 },
    { -32769, 0, 74, 4 }, { -1, 32768, 74, 4 }, { INT32_MIN, INT32_MAX, 74, 4 }, { -1, 2147483648ll, 75, 8 },
    { INT64_MIN, INT64_MAX, 75, 8 },
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    unsigned w = 0;
    assert_int_equal(journal__typed_array_tag(c[i].mn, c[i].mx, &w), c[i].tag);
    assert_int_equal(w, c[i].width);
    assert_int_equal(expect_tag(c[i].mn, c[i].mx), c[i].tag);
  }
}

/* Every table: integer keys unique and one byte (0..23); the load-time lookups agree; column
 * sub-tables hold only integer-valued kinds. */
static void test_v3_tables(void **state)
{
  (void)state;
  const struct jdesc *d[64];
  int n = journal__all_descs_deep(d, 64);
  assert_true(n > 16 && n <= 64);
  for (int i = 0; i < n; i++) {
    bool seen[JF3_NKEYS] = { false };
    unsigned prev = 0;
    for (unsigned k = 0; k < d[i]->n; k++) {
      const struct jfield *f = &d[i]->fields[d[i]->v3->order[k]];
      assert_true(f->ikey < JF3_NKEYS);
      if (seen[f->ikey]) fail_msg("field %s: key %u used twice", f->name, f->ikey);
      seen[f->ikey] = true;
      assert_int_equal(d[i]->v3->by_key[f->ikey], d[i]->v3->order[k] + 1);
      if (k) assert_true(f->ikey > prev);
      prev = f->ikey;
      if (f->kind == JF_ARRAY && (f->v3flags & JF3_COLUMNS))
        for (unsigned g = 0; g < f->sub->n; g++) {
          unsigned kd = f->sub->fields[g].kind;
          if (!(kd == JF_U8 || kd == JF_U16 || kd == JF_U32 || kd == JF_I32 || kd == JF_I64 || kd == JF_BOOL || kd == JF_ENUM))
            fail_msg("%s.%s: kind %u cannot be a column", f->name, f->sub->fields[g].name, kd);
        }
    }
  }
}

static void test_v3_round_trip_every_type(void **state)
{
  (void)state;
  jt_version = JOURNAL_SCHEMA_V3;
  for (unsigned t = 1; t < JOURNAL_T__MAX; t++)
    for (uint64_t seq = 1; seq <= 40; seq += 13) {
      struct journal_record r, d, d2;
      uint8_t raw[256], buf[8192], buf2[8192], v1[8192];
      size_t rawlen = 0, len = 0, len2 = 0, len1 = 0;
      make_record(t, seq * 7919ull, &r, raw, &rawlen);
      assert_int_equal(journal_record_encode(&r, buf, sizeof buf, &len), 0);
      assert_int_equal(journal_record_decode(buf, len, &d), 0);
      assert_int_equal(d.version, 3);
      assert_records_equal(&r, &d);
      assert_int_equal(journal__record_decode_ref(buf, len, &d2), 0);
      assert_memory_equal(&d, &d2, sizeof d);
      assert_int_equal(journal_record_encode(&d, buf2, sizeof buf2, &len2), 0);
      assert_int_equal(len, len2);
      assert_memory_equal(buf, buf2, len);
      /* v 3 is never larger than v 1 of the same record */
      r.version = JOURNAL_SCHEMA_V1;
      assert_int_equal(journal_record_encode(&r, v1, sizeof v1, &len1), 0);
      assert_true(len < len1);
      uint64_t ps;
      unsigned pt;
      uint8_t prev[32];
      assert_int_equal(journal_record_peek(buf, len, &ps, &pt, prev), 0);
      assert_int_equal(pt, t);
    }
  jt_version = JOURNAL_SCHEMA_VERSION;
}

/* ---- the worked example (docs/journal.md "Worked example: a window record in v 3") */

static void doc_window(struct journal_record *r)
{
  memset(r, 0, sizeof *r);
  r->seq = 1000;
  memset(r->prev, 0x11, 32);
  r->version = JOURNAL_SCHEMA_V3;
  r->type = JOURNAL_T_WINDOW;
  r->mono_ns = 5000000000ull;
  r->wall_ns = 1764892800000000000ll; /* 2025-12-05T00:00:00Z */
  r->time_quality = JOURNAL_TQ_SYNCED;
  memset(r->boot_id, 0xb0, 16);
  r->source.kind = JOURNAL_SRC_AFE;
  r->source.index = 1;
  struct journal_window *w = &r->body.window;
  w->afe = 1;
  w->freq_mhz = 50012;
  w->start_ns = 1764892799800000000ll;
  w->duration_us = 200000;
  w->basic_windows = 10;
  w->nbranches = 2;
  w->branches[0] = 7;
  w->branches[1] = 8;
  w->nch = 3;
  w->ch[0] = (struct journal_window_channel){ 0, JOURNAL_CH_VOLTAGE, JOURNAL_PHASE_A, 0, 229870, -325000, 325100, 2100, 183900, 230400, true };
  w->ch[1] = (struct journal_window_channel){ 3, JOURNAL_CH_CURRENT, JOURNAL_PHASE_A, 7, 9990, -14000, 14100, 3500, 9900, 10050, false };
  w->ch[2] = (struct journal_window_channel){ 4, JOURNAL_CH_CURRENT, JOURNAL_PHASE_A, 8, 4995, -7000, 7050, 4100, 4950, 5020, false };
  w->npow = 2;
  w->pow[0] = (struct journal_window_power){ 3, 0, JOURNAL_PHASE_A, 7, 2296000, -41000, 2296400, 99982, 127555, 0 };
  w->pow[1] = (struct journal_window_power){ 4, 0, JOURNAL_PHASE_A, 8, 1147000, 52000, 1148200, 99895, 63722, 0 };
}

static void h_uint(struct hb *h, uint64_t v) { h_head(h, 0, v, 0); }
static void h_int(struct hb *h, int64_t v) { if (v < 0) h_head(h, 1, (uint64_t)(-1 - v), 0); else h_head(h, 0, (uint64_t)v, 0); }

/* A typed array of n values: tag, then the big-endian elements of the narrowest width. */
static void h_column(struct hb *h, const int64_t *v, unsigned n)
{
  int64_t mn = 0, mx = 0;
  for (unsigned i = 0; i < n; i++) { if (!i || v[i] < mn) mn = v[i]; if (!i || v[i] > mx) mx = v[i]; }
  unsigned tag = expect_tag(mn, mx), width = 1u << ((tag - 64) & 3);
  h_head(h, 6, tag, 0);
  h_head(h, 2, (uint64_t)n * width, 0);
  for (unsigned i = 0; i < n; i++)
    for (unsigned k = width; k-- > 0;) h->b[h->n++] = (uint8_t)((uint64_t)v[i] >> (8 * k));
}
#define COL(h, ...) do { static const int64_t v_[] = { __VA_ARGS__ }; h_column(h, v_, sizeof v_ / sizeof v_[0]); } while (0)

/* The example, byte by byte from the spec: envelope keys 0..9, then the body's integer keys. */
static void doc_window_expected(struct hb *h)
{
  uint8_t prev[32], boot[16];
  memset(prev, 0x11, 32);
  memset(boot, 0xb0, 16);
  h->n = 0;
  h_head(h, 5, 10, 0);
  h_uint(h, 0); h_bytes(h, prev, 32);
  h_uint(h, 1); h_uint(h, 1000);
  h_uint(h, 2); h_uint(h, 3);
  h_uint(h, 3); h_uint(h, 4);
  h_uint(h, 4); h_uint(h, 5000000000ull);
  h_uint(h, 5); h_int(h, 1764892800000000000ll);
  h_uint(h, 6); h_uint(h, 0);
  h_uint(h, 7); h_bytes(h, boot, 16);
  h_uint(h, 8); h_text(h, "afe:1");
  h_uint(h, 9);
  h_head(h, 5, 9, 0);                /* 9 entries (flags is 0 but not optional) */
  h_uint(h, 0); h_uint(h, 1);        /* afe */
  h_uint(h, 1); h_uint(h, 0);        /* flags */
  h_uint(h, 2); h_head(h, 5, 9, 0);  /* powers: 9 columns (export_uwh all zero: left out) */
  h_uint(h, 0); COL(h, 3, 4);                    /* ich */
  h_uint(h, 1); COL(h, 0, 0);                    /* vch */
  h_uint(h, 2); COL(h, 2296000, 1147000);        /* p_mw */
  h_uint(h, 3); COL(h, 0, 0);                    /* phase: A */
  h_uint(h, 4); COL(h, 2296400, 1148200);        /* s_mva */
  h_uint(h, 5); COL(h, 7, 8);                    /* branch */
  h_uint(h, 6); COL(h, -41000, 52000);           /* q_mvar */
  h_uint(h, 7); COL(h, 99982, 99895);            /* pf_mpct */
  h_uint(h, 9); COL(h, 127555, 63722);           /* import_uwh */
  h_uint(h, 3); COL(h, 7, 8);                    /* branches */
  h_uint(h, 4); h_head(h, 5, 11, 0); /* channels: 11 columns */
  h_uint(h, 0); COL(h, 0, 3, 4);                 /* ch */
  h_uint(h, 1); COL(h, 0, 1, 1);                 /* kind: voltage, current, current */
  h_uint(h, 2); COL(h, 325100, 14100, 7050);     /* max_m */
  h_uint(h, 3); COL(h, -325000, -14000, -7000);  /* min_m */
  h_uint(h, 4); COL(h, 0, 0, 0);                 /* phase */
  h_uint(h, 5); COL(h, 229870, 9990, 4995);      /* rms_m */
  h_uint(h, 6); COL(h, 0, 7, 8);                 /* branch */
  h_uint(h, 7); COL(h, 2100, 3500, 4100);        /* thd_mpct */
  h_uint(h, 8); COL(h, 183900, 9900, 4950);      /* hrms_min_m */
  h_uint(h, 9); COL(h, 230400, 10050, 5020);     /* hrms_max_m */
  h_uint(h, 10); COL(h, 1, 0, 0);                /* event */
  h_uint(h, 5); h_uint(h, 50012);                /* freq_mhz */
  h_uint(h, 6); h_int(h, 1764892799800000000ll); /* start_ns */
  h_uint(h, 7); h_uint(h, 200000);               /* duration_us */
  h_uint(h, 8); h_uint(h, 10);                   /* basic_windows */
}

/* The hex between the markers of docs/journal.md's worked example. */
static size_t doc_hex(uint8_t *out, size_t cap)
{
  size_t len = 0;
  char *doc = (char *)jt_read_file(HEMS_SOURCE_DIR "/docs/journal.md", &len);
  assert_non_null(doc);
  const char *a = strstr(doc, "<!-- window-v3-hex begin -->"), *e = strstr(doc, "<!-- window-v3-hex end -->");
  if (!a || !e) fail_msg("docs/journal.md: the worked example's markers are missing");
  a = strchr(a, '\n');
  size_t n = 0;
  int hi = -1;
  for (const char *p = a; p < e; p++) {
    int v = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
    if (*p == '`' || *p == '\n' || *p == ' ') continue;
    if (v < 0) fail_msg("docs/journal.md: unexpected '%c' in the example's hex", *p);
    if (hi < 0) { hi = v; continue; }
    assert_true(n < cap);
    out[n++] = (uint8_t)(hi << 4 | v);
    hi = -1;
  }
  assert_int_equal(hi, -1);
  free(doc);
  return n;
}

static void print_hex(const uint8_t *b, size_t n)
{
  for (size_t i = 0; i < n; i++) fprintf(stderr, "%02x%s", b[i], i % 32 == 31 ? "\n" : "");
  fprintf(stderr, "\n");
}

static void test_doc_window_example(void **state)
{
  (void)state;
  struct journal_record r, d;
  struct hb h;
  uint8_t buf[4096], doc[4096];
  size_t len;
  doc_window(&r);
  doc_window_expected(&h);
  assert_int_equal(journal_record_encode(&r, buf, sizeof buf, &len), 0);
  if (len != h.n || memcmp(buf, h.b, len)) {
    fprintf(stderr, "codec:\n"); print_hex(buf, len);
    fprintf(stderr, "spec:\n"); print_hex(h.b, h.n);
    fail_msg("the codec's v 3 window differs from the hand-built spec bytes");
  }
  size_t dn = doc_hex(doc, sizeof doc);
  if (dn != h.n || memcmp(doc, h.b, dn)) {
    print_hex(h.b, h.n);
    fail_msg("docs/journal.md's example hex differs from the spec bytes (%zu vs %zu bytes)", dn, h.n);
  }
  assert_int_equal(journal_record_decode(doc, dn, &d), 0);
  assert_int_equal(d.body.window.nch, 3);
  assert_int_equal(d.body.window.ch[0].hrms_min_m, 183900);
  assert_true(d.body.window.ch[0].event);
  assert_int_equal(d.body.window.pow[1].q_mvar, 52000);
  /* the same record in v 1 is larger (586 bytes, docs/journal.md) */
  r.version = JOURNAL_SCHEMA_V1;
  size_t len1;
  assert_int_equal(journal_record_encode(&r, buf, sizeof buf, &len1), 0);
  assert_true(h.n < len1);
}

/* ---- strictness: each change of the example must be refused (or, for an unknown key, skipped) */

static int decode_both(const uint8_t *b, size_t n, struct journal_record *out)
{
  static struct journal_record ref;
  int a = journal_record_decode(b, n, out), c = journal__record_decode_ref(b, n, &ref);
  assert_int_equal(a, c);
  if (a == 0) assert_memory_equal(out, &ref, sizeof ref);
  return a;
}

/* Offset of the first occurrence of pat in the example's bytes. */
static size_t find(const struct hb *h, const uint8_t *pat, size_t n)
{
  for (size_t i = 0; i + n <= h->n; i++)
    if (!memcmp(h->b + i, pat, n)) return i;
  fail_msg("pattern not found");
  return 0;
}

/* Replaces n bytes at off with the m bytes of rep (the map counts stay as they are). */
static void hb_splice(struct hb *h, size_t off, size_t n, const uint8_t *rep, size_t m)
{
  memmove(h->b + off + m, h->b + off + n, h->n - off - n);
  memcpy(h->b + off, rep, m);
  h->n = h->n - n + m;
}

static void test_v3_strict(void **state)
{
  (void)state;
  struct journal_record d;
  struct hb h;
  doc_window_expected(&h);
  assert_int_equal(decode_both(h.b, h.n, &d), 0);
  /* the "ch" column: 00 d8 40 43 00 03 04 */
  static const uint8_t ch_col[] = { 0x00, 0xd8, 0x40, 0x43, 0x00, 0x03, 0x04 };
  size_t at = find(&h, ch_col, sizeof ch_col);
  struct { const char *what; uint8_t rep[16]; size_t m; } bad[] = {
    { "u16 where u8 holds every value", { 0x00, 0xd8, 0x41, 0x46, 0, 0, 0, 3, 0, 4 }, 10 },
    { "s8 for values that are not negative", { 0x00, 0xd8, 0x48, 0x43, 0x00, 0x03, 0x04 }, 7 },
    { "little-endian u16 (tag 69)", { 0x00, 0xd8, 0x45, 0x46, 0, 0, 3, 0, 4, 0 }, 10 },
    { "clamped u8 (tag 68)", { 0x00, 0xd8, 0x44, 0x43, 0x00, 0x03, 0x04 }, 7 },
    { "float32 array (tag 81)", { 0x00, 0xd8, 0x51, 0x43, 0x00, 0x03, 0x04 }, 7 },
    { "a column of 2 beside columns of 3", { 0x00, 0xd8, 0x40, 0x42, 0x00, 0x03 }, 6 },
    { "a plain array instead of a typed one", { 0x00, 0x83, 0x00, 0x03, 0x04 }, 5 },
    { "an untagged byte string", { 0x00, 0x43, 0x00, 0x03, 0x04 }, 5 },
    { "a non-shortest tag head", { 0x00, 0xd9, 0x00, 0x40, 0x43, 0x00, 0x03, 0x04 }, 8 },
    { "a text key", { 0x62, 'c', 'h', 0xd8, 0x40, 0x43, 0x00, 0x03, 0x04 }, 9 },
    { "a width that does not divide the length", { 0x00, 0xd8, 0x41, 0x43, 0x00, 0x03, 0x04 }, 7 },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct hb m = h;
    hb_splice(&m, at, sizeof ch_col, bad[i].rep, bad[i].m);
    if (decode_both(m.b, m.n, &d) != JOURNAL_EBADREC) fail_msg("accepted: %s", bad[i].what);
  }
  /* the "kind" column with a value past the enum's names; an all-zero "event" column */
  static const uint8_t kind_col[] = { 0x01, 0xd8, 0x40, 0x43, 0x00, 0x01, 0x01 };
  struct hb m = h;
  m.b[find(&m, kind_col, sizeof kind_col) + 6] = 3;
  assert_int_equal(decode_both(m.b, m.n, &d), JOURNAL_EBADREC);
  static const uint8_t ev_col[] = { 0x0a, 0xd8, 0x40, 0x43, 0x01, 0x00, 0x00 };
  m = h;
  m.b[find(&m, ev_col, sizeof ev_col) + 4] = 0;
  assert_int_equal(decode_both(m.b, m.n, &d), JOURNAL_EBADREC);
  m.b[find(&m, ev_col, 4) + 4] = 2; /* a flag of 2 */
  assert_int_equal(decode_both(m.b, m.n, &d), JOURNAL_EBADREC);
  /* keys out of order: swap afe (0: 1) and flags (1: 0) */
  static const uint8_t afe_flags[] = { 0xa9, 0x00, 0x01, 0x01, 0x00 };
  m = h;
  size_t af = find(&m, afe_flags, sizeof afe_flags);
  static const uint8_t swapped[] = { 0xa9, 0x01, 0x00, 0x00, 0x01 };
  memcpy(m.b + af, swapped, sizeof swapped);
  assert_int_equal(decode_both(m.b, m.n, &d), JOURNAL_EBADREC);
  /* an unknown key (23) with a typed array after the known ones: skipped */
  m = h;
  m.b[af] = 0xaa;
  static const uint8_t extra[] = { 0x17, 0xd8, 0x41, 0x42, 0x01, 0x00 };
  memcpy(m.b + m.n, extra, sizeof extra);
  m.n += sizeof extra;
  assert_int_equal(decode_both(m.b, m.n, &d), 0);
  assert_int_equal(d.body.window.basic_windows, 10);
  /* …but not a tag where a scalar is expected: afe as tag 64 */
  m = h;
  static const uint8_t afe_tag[] = { 0x00, 0xd8, 0x40, 0x41, 0x01 };
  hb_splice(&m, af + 1, 2, afe_tag, sizeof afe_tag);
  assert_int_equal(decode_both(m.b, m.n, &d), JOURNAL_EBADREC);
  /* v 2 does not exist; v 4 is from the future */
  m = h;
  static const uint8_t v3[] = { 0x02, 0x03, 0x03, 0x04 };
  size_t vo = find(&m, v3, sizeof v3);
  m.b[vo + 1] = 2;
  assert_int_equal(decode_both(m.b, m.n, &d), JOURNAL_EVERSION);
  m.b[vo + 1] = 4;
  assert_int_equal(decode_both(m.b, m.n, &d), JOURNAL_EVERSION);
  /* a v 3 body read as v 1 (v changed to 1) is refused: integer keys */
  m.b[vo + 1] = 1;
  assert_int_equal(decode_both(m.b, m.n, &d), JOURNAL_EBADREC);
}

/* Every typed array of the example (window branches, channel and power columns: u8, u16, u32,
 * bool, enum, i32 and i64 fields) replaced by arrays of every tag with element bytes drawn from
 * the edges (0, 1, 0x7f, 0x80, 0xff): the fast decoder's one-pass column store must accept and
 * store exactly what the reference walk does (decode_both). */
static void test_v3_columns_every_tag(void **state)
{
  (void)state;
  struct journal_record d;
  struct hb h;
  doc_window_expected(&h);
  static const uint8_t edge[] = { 0x00, 0x01, 0x7f, 0x80, 0xff };
  static const unsigned tags[] = { 64, 65, 66, 67, 72, 73, 74, 75 };
  unsigned arrays = 0, accepted = 0, rejected = 0;
  uint32_t rng = 12345;
  for (size_t at = 0; at + 3 <= h.n; at++) {
    const uint8_t *q = h.b + at;
    if (q[0] != 0xd8 || q[1] < 64 || q[1] > 75 || q[2] >> 5 != 2 || (q[2] & 31) >= 24) continue;
    unsigned len = q[2] & 31, n = len >> ((q[1] - 64) & 3);
    arrays++;
    for (unsigned t = 0; t < sizeof tags / sizeof tags[0]; t++)
      for (unsigned round = 0; round < 200; round++) {
        unsigned w = 1u << ((tags[t] - 64) & 3);
        uint8_t rep[3 + 8 * 8];
        rep[0] = 0xd8;
        rep[1] = (uint8_t)tags[t];
        rep[2] = (uint8_t)(0x40 + n * w);
        for (unsigned k = 0; k < n * w; k++) {
          rng = rng * 1103515245u + 12345u;
          /* mostly zero high bytes, so narrow values in wide arrays come up too */
          rep[3 + k] = (rng >> 16) % 3 == 0 || k % w == w - 1 ? edge[(rng >> 20) % 5] : 0;
        }
        struct hb m = h;
        hb_splice(&m, at, 3 + len, rep, 3 + n * w);
        if (decode_both(m.b, m.n, &d) == 0) accepted++;
        else rejected++;
      }
  }
  assert_int_equal(arrays, 1 + 11 + 9); /* branches; the channel and power columns present */
  assert_true(accepted > 100);
  assert_true(rejected > 100);
}

static void test_v3_fast_matches_reference(void **state)
{
  (void)state;
  unsigned checked = 0, accepted = 0;
  jt_version = JOURNAL_SCHEMA_V3;
  for (uint64_t seq = 1; seq <= 3; seq++)
    for (unsigned t = 1; t < JOURNAL_T__MAX; t++) corruptions_agree(t, seq * 7919ull, &checked, &accepted);
  jt_version = JOURNAL_SCHEMA_VERSION;
  assert_true(checked > 10000);
  assert_true(accepted > 0);
}

/* JSON: a v 3 record shows exactly what the same record in v 1 shows (names, enum names,
 * "service"), but for "v"; the v 3-only fields appear under their names when set. */
static void test_v3_json(void **state)
{
  (void)state;
  for (unsigned t = 1; t < JOURNAL_T__MAX; t++) {
    struct journal_record r;
    uint8_t raw[256], b1[8192], b3[8192];
    size_t rawlen, n1, n3;
    jt_version = JOURNAL_SCHEMA_V1;
    make_record(t, 4242 + t, &r, raw, &rawlen);
    if (t == JOURNAL_T_WINDOW)
      for (unsigned k = 0; k < JOURNAL_WINDOW_CHANNELS; k++) { /* v 1 does not carry them */
        r.body.window.ch[k].hrms_min_m = r.body.window.ch[k].hrms_max_m = 0;
        r.body.window.ch[k].event = false;
      }
    if (t == JOURNAL_T_TRIP_TAP) r.body.trip_tap.of_seq = r.body.trip_tap.rails_low = 0; /* v 3 only */
    if (t == JOURNAL_T_SENSE_BACK) r.body.sense_back.rails_low = 0;
    if (t == JOURNAL_T_DER) r.body.der.rails_low = 0;
    if (t == JOURNAL_T_FAULT) r.body.fault.rails_low = 0;
    assert_int_equal(journal_record_encode(&r, b1, sizeof b1, &n1), 0);
    r.version = JOURNAL_SCHEMA_V3;
    assert_int_equal(journal_record_encode(&r, b3, sizeof b3, &n3), 0);
    char *j1 = journal_record_to_json(b1, n1, 0), *j3 = journal_record_to_json(b3, n3, 0);
    assert_non_null(j1);
    assert_non_null(j3);
    char *v = strstr(j3, "\"v\": 3");
    assert_non_null(v);
    v[5] = '1';
    if (strcmp(j1, j3)) fail_msg("type %u: v 3 JSON differs from v 1:\n%s\n%s", t, j1, j3);
    free(j1);
    free(j3);
  }
  jt_version = JOURNAL_SCHEMA_VERSION;
  struct journal_record r;
  uint8_t b[4096];
  size_t n;
  doc_window(&r);
  assert_int_equal(journal_record_encode(&r, b, sizeof b, &n), 0);
  char *j = journal_record_to_json(b, n, JOURNAL_JSON_COMPACT);
  assert_non_null(j);
  assert_non_null(strstr(j, "\"hrms_max_m\":230400,\"hrms_min_m\":183900}"));
  assert_non_null(strstr(j, "{\"ch\":0,\"kind\":\"voltage\",\"event\":true,\"max_m\":325100,"));
  assert_non_null(strstr(j, "\"kind\":\"current\",\"max_m\":14100,")); /* event false: left out */
  free(j);
}

/* A der record's w and soc_mpct (a SunSpec poll): a reading of 0 is encoded and decodes as
 * present, a value not given has no key and decodes as absent; in v 1 and v 3, through the
 * reference and the fast decoder, and in the JSON. */
static void test_der_optional_values(void **state)
{
  (void)state;
  const unsigned versions[2] = { JOURNAL_SCHEMA_V1, JOURNAL_SCHEMA_V3 };
  for (int k = 0; k < 2; k++)
    for (int have = 0; have < 2; have++) {
      struct journal_record r, out;
      uint8_t b[1024];
      size_t n;
      memset(&r, 0, sizeof r);
      r.seq = 9;
      r.version = versions[k];
      r.type = JOURNAL_T_DER;
      r.source.kind = JOURNAL_SRC_DER;
      r.body.der.via = JOURNAL_DERVIA_SUNSPEC;
      r.body.der.state = JOURNAL_DERST_PRODUCING;
      r.body.der.fresh = 1;
      r.body.der.have_w = r.body.der.have_soc = (uint8_t)have;
      r.body.der.w = 0;                       /* night: 0 W is a reading */
      r.body.der.soc_mpct = have ? 52300 : 0;
      assert_int_equal(journal_record_encode(&r, b, sizeof b, &n), 0);
      struct journal_record ref;
      assert_int_equal(journal__record_decode_ref(b, n, &ref), 0);
      assert_int_equal(ref.body.der.have_w, have);
      assert_int_equal(ref.body.der.have_soc, have);
      assert_int_equal(journal_record_decode(b, n, &out), 0);
      assert_int_equal(out.body.der.have_w, have);
      assert_int_equal(out.body.der.have_soc, have);
      assert_int_equal(out.body.der.w, 0);
      assert_int_equal(out.body.der.soc_mpct, have ? 52300 : 0);
      assert_int_equal(out.body.der.state, JOURNAL_DERST_PRODUCING);
      char *j = journal_record_to_json(b, n, JOURNAL_JSON_COMPACT);
      assert_non_null(j);
      if (have) {
        assert_non_null(strstr(j, "{\"w\":0,\"via\":\"sunspec\","));
        assert_non_null(strstr(j, "\"soc_mpct\":52300"));
      } else {
        assert_null(strstr(j, "\"w\":"));
        assert_null(strstr(j, "soc_mpct"));
      }
      assert_non_null(strstr(j, "\"state\":\"producing\""));
      free(j);
    }
}

/* v 1 bytes do not depend on the v 3-only fields. */
static void test_v1_unchanged_by_v3_fields(void **state)
{
  (void)state;
  struct journal_record r;
  uint8_t a[4096], b[4096];
  size_t na, nb;
  doc_window(&r);
  r.version = JOURNAL_SCHEMA_V1;
  assert_int_equal(journal_record_encode(&r, a, sizeof a, &na), 0);
  for (unsigned k = 0; k < r.body.window.nch; k++) {
    r.body.window.ch[k].hrms_min_m = r.body.window.ch[k].hrms_max_m = 0;
    r.body.window.ch[k].event = false;
  }
  assert_int_equal(journal_record_encode(&r, b, sizeof b, &nb), 0);
  assert_int_equal(na, nb);
  assert_memory_equal(a, b, na);
  assert_null(memmem(a, na, "hrms", 4));
  assert_null(memmem(a, na, "event", 5));
}

/* ---- the independent decoder: Debian's python3-cbor2 reads back what the test put in */

static const char py3_script[] =
  "import sys, os, cbor2\n"
  "sys.stdout.reconfigure(encoding='utf-8')\n"
  "def dump(o):\n"
  "    if isinstance(o, bool): return 'T' if o else 'F'\n"
  "    if isinstance(o, int): return str(o)\n"
  "    if isinstance(o, str): return '\"' + o + '\"'\n"
  "    if isinstance(o, bytes): return 'h' + o.hex()\n"
  "    if isinstance(o, list): return '[' + ','.join(dump(x) for x in o) + ']'\n"
  "    if isinstance(o, dict):\n"
  "        assert all(isinstance(k, int) and 0 <= k < 32 for k in o), 'keys'\n"
  "        return '{' + ','.join('%d:%s' % (k, dump(o[k])) for k in sorted(o)) + '}'\n"
  "    if isinstance(o, cbor2.CBORTag) and o.tag in (64, 65, 66, 67, 72, 73, 74, 75):\n"
  "        w = 1 << ((o.tag - 64) & 3)\n"
  "        v = [int.from_bytes(o.value[i:i + w], 'big', signed=o.tag >= 72) for i in range(0, len(o.value), w)]\n"
  "        return 't%d[%s]' % (o.tag, ','.join(map(str, v)))\n"
  "    raise ValueError('unexpected item %r' % (o,))\n"
  "d = sys.argv[1]\n"
  "names = sorted(os.listdir(d))\n"
  "for n in names:\n"
  "    b = open(os.path.join(d, n), 'rb').read()\n"
  "    o = cbor2.loads(b)\n"
  "    if cbor2.dumps(o, canonical=True) != b:\n"
  "        print('NONCANONICAL', n); sys.exit(3)\n"
  "    print('%s seq=%d v=%d type=%d src=%s body=%s' % (n, o[1], o[2], o[3], o[8], dump(o[9])))\n"
  "print('OK', len(names))\n";

struct sb { char s[16384]; size_t n; };
static void sb_put(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_put(struct sb *b, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(b->s + b->n, sizeof b->s - b->n, fmt, ap);
  va_end(ap);
  assert_true(k >= 0 && (size_t)k < sizeof b->s - b->n);
  b->n += (size_t)k;
}
static void sb_hex(struct sb *b, const uint8_t *p, size_t n)
{
  sb_put(b, "h");
  for (size_t i = 0; i < n; i++) sb_put(b, "%02x", p[i]);
}
static void sb_column(struct sb *b, const int64_t *v, unsigned n)
{
  int64_t mn = 0, mx = 0;
  for (unsigned i = 0; i < n; i++) { if (!i || v[i] < mn) mn = v[i]; if (!i || v[i] > mx) mx = v[i]; }
  sb_put(b, "t%u[", expect_tag(mn, mx));
  for (unsigned i = 0; i < n; i++) sb_put(b, "%s%lld", i ? "," : "", (long long)v[i]);
  sb_put(b, "]");
}

/* An integer-valued field as int64 (the struct's value, as the test put it in). */
static int64_t ival(const struct jfield *f, const uint8_t *p)
{
  switch (f->kind) {
  case JF_I32: { int32_t x; memcpy(&x, p, 4); return x; }
  case JF_I64: case JF_U64: { int64_t x; memcpy(&x, p, 8); return x; }
  case JF_U16: case JF_TARGET: { uint16_t x; memcpy(&x, p, 2); return x; }
  case JF_U32: { uint32_t x; memcpy(&x, p, 4); return x; }
  default: return *p;
  }
}

/* What the body should read as, from the struct: entries in ascending key order. */
static void expect_body(struct sb *b, const struct jdesc *d, const uint8_t *base)
{
  sb_put(b, "{");
  int first = 1;
  for (unsigned key = 0; key < JF3_NKEYS; key++)
    for (unsigned i = 0; i < d->n; i++) {
      const struct jfield *f = &d->fields[i];
      const uint8_t *p = base + f->offset;
      if (f->ikey != key || journal__is_omitted(f, base)) continue;
      sb_put(b, "%s%u:", first ? "" : ",", key);
      first = 0;
      uint16_t cnt = 0;
      if (f->kind == JF_ARRAY || f->kind == JF_U16ARR) memcpy(&cnt, base + f->count_offset, 2);
      switch (f->kind) {
      case JF_U64: { uint64_t x; memcpy(&x, p, 8); sb_put(b, "%llu", (unsigned long long)x); break; }
      case JF_BOOL: sb_put(b, "%s", *p ? "T" : "F"); break;
      case JF_TEXT: { struct journal_slice s; memcpy(&s, p, sizeof s); sb_put(b, "\"%.*s\"", (int)s.len, (const char *)s.ptr); break; }
      case JF_BYTES: { struct journal_slice s; memcpy(&s, p, sizeof s); sb_hex(b, s.ptr, s.len); break; }
      case JF_FIXED: sb_hex(b, p, f->size); break;
      case JF_CHARS: sb_put(b, "\"%s\"", (const char *)p); break;
      case JF_U16ARR: {
        int64_t v[64];
        for (unsigned k = 0; k < cnt; k++) { uint16_t x; memcpy(&x, p + 2 * k, 2); v[k] = x; }
        sb_column(b, v, cnt);
        break;
      }
      case JF_ARRAY:
        if (f->v3flags & JF3_COLUMNS) {
          sb_put(b, "{");
          int cf = 1;
          for (unsigned ck = 0; ck < JF3_NKEYS; ck++)
            for (unsigned g = 0; g < f->sub->n; g++) {
              const struct jfield *sf = &f->sub->fields[g];
              if (sf->ikey != ck) continue;
              int64_t v[64];
              bool nz = false;
              for (unsigned k = 0; k < cnt; k++) { v[k] = ival(sf, p + (size_t)k * f->stride + sf->offset); nz |= v[k] != 0; }
              if (sf->omit_zero && !nz) continue;
              sb_put(b, "%s%u:", cf ? "" : ",", ck);
              cf = 0;
              sb_column(b, v, cnt);
            }
          sb_put(b, "}");
        } else {
          sb_put(b, "[");
          for (unsigned k = 0; k < cnt; k++) {
            if (k) sb_put(b, ",");
            expect_body(b, f->sub, p + (size_t)k * f->stride);
          }
          sb_put(b, "]");
        }
        break;
      default: sb_put(b, "%lld", (long long)ival(f, p)); break;
      }
    }
  sb_put(b, "}");
}

static void test_v3_python_cbor2(void **state)
{
  (void)state;
  if (access("/usr/bin/python3", X_OK) != 0) fail_msg("/usr/bin/python3 missing (apt-get install python3-cbor2)");
  char *dir = jt_mkdtemp();
  static struct sb expect[64];
  int count = 0;
  jt_version = JOURNAL_SCHEMA_V3;
  for (unsigned t = 1; t <= JOURNAL_T__MAX; t++) {
    struct journal_record r;
    uint8_t raw[256], buf[8192];
    size_t rawlen, len;
    if (t == JOURNAL_T__MAX) doc_window(&r); /* and the worked example */
    else make_record(t, 300 + t, &r, raw, &rawlen);
    assert_int_equal(journal_record_encode(&r, buf, sizeof buf, &len), 0);
    char name[32], src[64];
    snprintf(name, sizeof name, "r%02d", count);
    assert_int_equal(jt_write_file(jt_path("%s/%s", dir, name), buf, len), 0);
    journal_source_format(&r.source, src, sizeof src);
    struct sb *e = &expect[count++];
    e->n = 0;
    sb_put(e, "%s seq=%llu v=3 type=%u src=%s body=", name, (unsigned long long)r.seq, r.type, src);
    expect_body(e, journal__body_desc(r.type), (const uint8_t *)&r.body);
    sb_put(e, "\n");
  }
  jt_version = JOURNAL_SCHEMA_VERSION;
  char *argv[] = { "/usr/bin/python3", "-c", (char *)py3_script, dir, NULL };
  struct jt_out o;
  jt_runv(argv, &o);
  if (o.status != 0) fail_msg("python3 cbor2 check failed (%d): %s %s", o.status, o.out, o.err);
  for (int i = 0; i < count; i++)
    if (!strstr(o.out, expect[i].s)) fail_msg("cbor2 read differs:\n  want %s--- got:\n%s", expect[i].s, o.out);
  char okline[32];
  snprintf(okline, sizeof okline, "OK %d\n", count);
  assert_non_null(strstr(o.out, okline));
  /* the example's columns as cbor2 reads them, against the numbers put in */
  assert_non_null(strstr(o.out, "5:t66[229870,9990,4995]"));   /* rms_m */
  assert_non_null(strstr(o.out, "3:t74[-325000,-14000,-7000]")); /* min_m */
  assert_non_null(strstr(o.out, "8:t66[183900,9900,4950]"));   /* hrms_min_m */
  assert_non_null(strstr(o.out, "6:t74[-41000,52000]"));       /* q_mvar */
  jt_out_free(&o);
  jt_rm_rf(dir);
  free(dir);
}

int main(void)
{
  jt_records_init();
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_typed_array_rule),
    cmocka_unit_test(test_v3_tables),
    cmocka_unit_test(test_v3_round_trip_every_type),
    cmocka_unit_test(test_doc_window_example),
    cmocka_unit_test(test_v3_strict),
    cmocka_unit_test(test_v3_columns_every_tag),
    cmocka_unit_test(test_v3_fast_matches_reference),
    cmocka_unit_test(test_v3_json),
    cmocka_unit_test(test_v1_unchanged_by_v3_fields),
    cmocka_unit_test(test_der_optional_values),
    cmocka_unit_test(test_v3_python_cbor2),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
