/*
 * test_bundle_trust.c — bundles as an attacker and an auditor meet them (trust issue items 6–9
 * and the export half of 16), through the `hems` binary:
 * - a bundle whose header and end frame are re-signed by another key (tail cut, device_id
 *   changed) is refused against the pinned key; a stored format-1 bundle still verifies and
 *   its re-signed copy is refused too;
 * - a fingerprint pin is the full 32 hex digits; a prefix or garbage is a usage error;
 * - verify, show, timeline and replay (--check) all stop at a flipped byte, print only what a
 *   seal proved before it and say "bundle damaged after seq N";
 * - a mid-journal bundle carries a start checkpoint that a seal confirms, so `replay --check`
 *   compares its seals and passes; a checkpoint of another state is refused;
 * - export bounds a record length a damaged store claims.
 * The journal is written through the replay harness, so its seals carry state hashes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sodium.h>
#include <zstd.h>
#include "jt_util.h"
#include "replay.h"

static char *g_base, *g_dir, *g_pub, *g_full, *g_mid;
static uint64_t g_last;
static char g_fp[33];

#define RECORDS 400

static int setup(void **state)
{
  (void)state;
  g_base = jt_mkdtemp();
  g_dir = strdup(jt_path("%s/d", g_base));
  g_pub = strdup(jt_path("%s/keys/signing.pub", g_dir));
  g_full = strdup(jt_path("%s/full.hems", g_base));
  g_mid = strdup(jt_path("%s/mid.hems", g_base));
  struct jt_clock clk;
  jt_clock_init(&clk, 20 * 1000 * 1000);
  struct journal_options o;
  jt_opts(&o, g_dir, &clk);
  static const char cfg[] = "{\"branches\":12}";
  if (journal_create(&o, cfg, sizeof cfg - 1, "test")) return -1;
  o.group_records_max = 20;
  struct replay_harness *h = calloc(1, sizeof *h);
  replay_harness_init(h, NULL, &o);
  struct journal *j;
  if (journal_open(&j, &o, NULL, NULL) || replay_harness_attach(h, j)) return -1;
  struct journal_record r;
  struct replay_effects fx;
  uint64_t seqs[REPLAY_EFFECTS_MAX], seq = 0;
  static char pad[1000];
  for (int i = 0; i < RECORDS; i++) {
    if (i % 37 == 36) jt_note_rec(&r, "shift change");
    else jt_big_rec(&r, pad, (uint64_t)i, sizeof pad); /* > 256 KiB in all: several frames */
    if (replay_harness_append(h, &r, &seq, &fx, seqs)) return -1;
  }
  if (journal_close(j)) return -1;
  free(h);
  g_last = seq + 1; /* the seal close adds */
  uint8_t pk[32];
  if (jt_pubkey(g_dir, pk)) return -1;
  journal_fingerprint_hex(pk, g_fp);
  struct jt_out out;
  if (jt_hems(&out, "export", "--dir", g_dir, "--out", g_full, NULL) != 0) return -1;
  jt_out_free(&out);
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  jt_rm_rf(g_base);
  free(g_base); free(g_dir); free(g_pub); free(g_full); free(g_mid);
  return 0;
}

/* ------------------------------------------------------------------ bundle surgery */

struct frame_info { size_t off, len; uint64_t records, last_seq; uint8_t last_hash[32]; };

struct layout {
  uint8_t *b;
  size_t n;
  uint32_t format, hl;
  struct frame_info fr[256];
  int nframes;
  size_t end_off, end_body;
};

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint64_t be64(const uint8_t *p) { uint64_t v = 0; for (int i = 0; i < 8; i++) v = v << 8 | p[i]; return v; }
static void put32(uint8_t *p, uint32_t v) { for (int i = 3; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; } }
static void put64(uint8_t *p, uint64_t v) { for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; } }

/* Reads a bundle of format 1 or 2 and the records each frame holds. */
static void layout_read(struct layout *L, const char *path)
{
  memset(L, 0, sizeof *L);
  L->b = jt_read_file(path, &L->n);
  assert_non_null(L->b);
  assert_memory_equal(L->b, "HEMSBNDL", 8);
  L->format = be32(L->b + 8);
  L->hl = be32(L->b + 12);
  L->end_body = L->format >= 2 ? 80 : 48;
  size_t off = 16 + L->hl + 64;
  for (;;) {
    uint32_t fl = be32(L->b + off);
    if (fl == 0) { L->end_off = off; break; }
    struct frame_info *f = &L->fr[L->nframes++];
    f->off = off;
    f->len = 4 + fl;
    unsigned long long raw = ZSTD_getFrameContentSize(L->b + off + 4, fl);
    uint8_t *c = malloc(raw);
    assert_int_equal(ZSTD_decompress(c, raw, L->b + off + 4, fl), raw);
    for (size_t p = 0; p < raw;) {
      uint32_t el = be32(c + p + 1);
      if (c[p] == 1) {
        f->records++;
        f->last_seq = be64(c + p + 5);
        journal_record_hash(c + p + 13, el - 8, f->last_hash);
      }
      p += 5 + el;
    }
    free(c);
    off += 4 + fl;
  }
  assert_int_equal(L->end_off + 4 + L->end_body + 64, L->n);
}

static const uint8_t *find(const uint8_t *h, size_t n, const char *pat, size_t plen)
{
  for (size_t i = 0; i + plen <= n; i++)
    if (memcmp(h + i, pat, plen) == 0) return h + i;
  return NULL;
}

/* What an attacker without the device key can do: keep the first `keep` frames, put their own
 * key in the header (optionally with another device_id), sign header and end with it. */
static void forge(const struct layout *L, int keep, bool other_device, const uint8_t apk[32], const uint8_t ask[64],
                  const char *path)
{
  uint8_t *o = malloc(L->n);
  size_t hdr = 16, k = 0;
  memcpy(o, L->b, 16 + L->hl);
  uint8_t *keys = (uint8_t *)find(o + hdr, L->hl, "\x64keys\x81\x58\x20", 8);
  assert_non_null(keys);
  memcpy(keys + 8, apk, 32);
  if (other_device) {
    uint8_t *d = (uint8_t *)find(o + hdr, L->hl, "\x69" "device_id\x78\x20", 12);
    assert_non_null(d);
    d[12] = d[12] == '0' ? '1' : '0';
  }
  uint8_t msg[4096];
  memcpy(msg, "hems.bundle.v1", 15);
  memcpy(msg + 15, o + hdr, L->hl);
  crypto_sign_detached(o + 16 + L->hl, NULL, msg, 15 + L->hl, ask);
  k = 16 + L->hl + 64;
  uint64_t records = 0, last_seq = 0;
  uint8_t last_hash[32] = { 0 };
  for (int i = 0; i < keep; i++) {
    memcpy(o + k, L->b + L->fr[i].off, L->fr[i].len);
    k += L->fr[i].len;
    records += L->fr[i].records;
    last_seq = L->fr[i].last_seq;
    memcpy(last_hash, L->fr[i].last_hash, 32);
  }
  put32(o + k, 0);
  k += 4;
  uint8_t *body = o + k;
  put64(body, last_seq);
  put64(body + 8, records);
  memcpy(body + 16, last_hash, 32);
  if (L->format >= 2) crypto_generichash(body + 48, 32, o, k, NULL, 0);
  const char *domain = L->format >= 2 ? "hems.bundle.end.v2" : "hems.bundle.end.v1";
  size_t dl = strlen(domain) + 1;
  memcpy(msg, domain, dl);
  memcpy(msg + dl, body, L->end_body);
  crypto_generichash(msg + dl + L->end_body, 32, o + hdr, L->hl, NULL, 0);
  crypto_sign_detached(body + L->end_body, NULL, msg, dl + L->end_body + 32, ask);
  k += L->end_body + 64;
  assert_int_equal(jt_write_file(path, o, k), 0);
  free(o);
}

static void expect(struct jt_out *out, int status, const char *in_err)
{
  if (out->status != status || (in_err && !strstr(out->err, in_err)))
    fail_msg("exit %d (want %d), stderr lacks '%s':\n%s\nstdout:\n%.2000s", out->status, status, in_err ? in_err : "",
             out->err, out->out);
}

/* ------------------------------------------------------------------ item 6 */

static void resigned_refused(const char *bundle, const char *pubfile, const char *fp, const char *tag)
{
  struct layout L;
  layout_read(&L, bundle);
  assert_true(L.nframes >= 2);
  uint8_t apk[32], ask[64];
  crypto_sign_keypair(apk, ask);
  char *cut = strdup(jt_path("%s/%s-cut.hems", g_base, tag)), *dev = strdup(jt_path("%s/%s-dev.hems", g_base, tag));
  forge(&L, L.nframes - 1, false, apk, ask, cut);
  forge(&L, L.nframes, true, apk, ask, dev);
  struct jt_out out;
  const char *files[] = { cut, dev };
  for (int i = 0; i < 2; i++) {
    jt_hems(&out, "verify", files[i], "--pubkey", pubfile, NULL);
    /* a changed device id fails earlier when the seals are v 3: their checkpoints are signed
     * under the device id (origin hems/<device id>) */
    if (!(i == 1 && out.status == 1 && strstr(out.err, "seal signature invalid")))
      expect(&out, 1, "which the trusted key does not certify");
    assert_null(strstr(out.out, "ok:"));
    jt_out_free(&out);
    jt_hems(&out, "verify", files[i], "--fingerprint", fp, NULL);
    expect(&out, 1, NULL);
    jt_out_free(&out);
  }
  free(cut);
  free(dev);
  free(L.b);
}

static void test_resigned_framing(void **state)
{
  (void)state;
  struct jt_out out;
  jt_hems(&out, "verify", g_full, "--pubkey", g_pub, NULL);
  expect(&out, 0, NULL);
  jt_out_free(&out);
  resigned_refused(g_full, g_pub, g_fp, "v2");
}

/* A format-1 bundle written before format 2 (tests/data/bundle-v1.hems, with its key) still
 * verifies and reads; re-signed by another key it is refused like a format-2 one. */
static void test_format1_bundle(void **state)
{
  (void)state;
  const char *v1 = HEMS_SOURCE_DIR "/tests/data/bundle-v1.hems", *pub = HEMS_SOURCE_DIR "/tests/data/bundle-v1.pub";
  uint8_t pk[32];
  char fp[33];
  assert_int_equal(journal_pubkey_load(pub, pk), 0);
  journal_fingerprint_hex(pk, fp);
  struct jt_out out;
  jt_hems(&out, "verify", v1, "--pubkey", pub, NULL);
  expect(&out, 0, NULL);
  jt_out_free(&out);
  jt_hems(&out, "timeline", v1, "--format", "jsonl", NULL);
  expect(&out, 0, NULL);
  assert_true(jt_lines(out.out) > 50);
  jt_out_free(&out);
  resigned_refused(v1, pub, fp, "v1");
}

/* ------------------------------------------------------------------ item 7 */

static void test_fingerprint_pin(void **state)
{
  (void)state;
  char prefix[9], upper[33], wrong[33];
  memcpy(prefix, g_fp, 8);
  prefix[8] = 0;
  for (int i = 0; i < 33; i++) upper[i] = (char)(g_fp[i] >= 'a' && g_fp[i] <= 'f' ? g_fp[i] - 32 : g_fp[i]);
  memcpy(wrong, g_fp, 33);
  wrong[31] = wrong[31] == '0' ? '1' : '0';
  const char *usage[] = { prefix, "", "zz", "0123456789abcdef0123456789abcdefa", "0123456789abcdef0123456789abcdeg" };
  struct jt_out out;
  for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
    jt_hems(&out, "verify", g_full, "--fingerprint", usage[i], NULL);
    expect(&out, 2, "not a key fingerprint");
    jt_out_free(&out);
  }
  jt_hems(&out, "verify", "--dir", g_dir, "--fingerprint", prefix, NULL);
  expect(&out, 2, "not a key fingerprint");
  jt_out_free(&out);
  jt_hems(&out, "verify", g_full, "--fingerprint", g_fp, NULL);
  expect(&out, 0, NULL);
  jt_out_free(&out);
  jt_hems(&out, "verify", g_full, "--fingerprint", upper, NULL);
  expect(&out, 0, NULL);
  jt_out_free(&out);
  jt_hems(&out, "verify", g_full, "--fingerprint", wrong, NULL);
  expect(&out, 1, "key fingerprint mismatch");
  jt_out_free(&out);
}

/* ------------------------------------------------------------------ item 8 */

/* "hems: bundle damaged after seq N: " on stderr: N, or 0 when absent. */
static uint64_t damaged_after(const char *err)
{
  const char *p = strstr(err, "hems: bundle damaged after seq ");
  return p ? strtoull(p + 31, NULL, 10) : 0;
}

/* The largest "seq": N in a jsonl listing. */
static uint64_t last_listed(const char *out)
{
  uint64_t last = 0;
  for (const char *p = out; (p = strstr(p, "\"seq\":")); p += 6) {
    uint64_t s = strtoull(p + 6, NULL, 10);
    if (s > last) last = s;
  }
  return last;
}

static void check_damaged(const char *path, uint64_t first_seq, const char *what)
{
  struct jt_out out;
  jt_hems(&out, "replay", path, "--check", NULL);
  if (out.status != 1 || !strstr(out.err, "hems: bundle damaged after seq ")) fail_msg("%s: replay --check exit %d: %s", what, out.status, out.err);
  uint64_t n = damaged_after(out.err);
  jt_out_free(&out);
  jt_hems(&out, "replay", path, NULL);
  if (out.status != 1 || damaged_after(out.err) != n) fail_msg("%s: replay exit %d: %s", what, out.status, out.err);
  jt_out_free(&out);
  /* a fold that stops early still reads (and checks) the bundle to its end */
  jt_hems(&out, "replay", path, "--until", "3", NULL);
  if (out.status != 1 || damaged_after(out.err) != n) fail_msg("%s: replay --until exit %d: %s", what, out.status, out.err);
  jt_out_free(&out);
  jt_hems(&out, "verify", path, "--pubkey", g_pub, NULL);
  if (out.status != 1 || !strstr(out.err, "hems: bundle damaged after seq ")) fail_msg("%s: verify exit %d: %s", what, out.status, out.err);
  jt_out_free(&out);
  /* timeline: every proven record, nothing after N, then the damage line */
  jt_hems(&out, "timeline", path, "--format", "jsonl", NULL);
  if (out.status != 1 || damaged_after(out.err) != n) fail_msg("%s: timeline exit %d after %llu: %s", what, out.status, (unsigned long long)n, out.err);
  if (n >= first_seq) {
    assert_int_equal(last_listed(out.out), n);
    assert_int_equal(jt_lines(out.out), (int)(n - first_seq + 1));
  } else {
    assert_int_equal(jt_lines(out.out), 0);
  }
  jt_out_free(&out);
  /* show: a record before the damage is shown, and the damage is still reported */
  char seq[24];
  snprintf(seq, sizeof seq, "%llu", (unsigned long long)(n >= first_seq ? n : first_seq));
  jt_hems(&out, "show", path, seq, "--format", "json", NULL);
  if (out.status != 1 || damaged_after(out.err) != n) fail_msg("%s: show exit %d: %s", what, out.status, out.err);
  if (n >= first_seq && !strstr(out.out, "\"seq\"")) fail_msg("%s: show printed nothing before the damage", what);
  jt_out_free(&out);
}

/* Decompresses frame k, flips one byte of its record at position `at` (fraction of the frame
 * content), recompresses it: the zstd frame is valid, only a record byte differs. */
static void flip_record_byte(const struct layout *L, int k, double at, const char *path)
{
  const struct frame_info *f = &L->fr[k];
  uint32_t fl = (uint32_t)(f->len - 4);
  unsigned long long raw = ZSTD_getFrameContentSize(L->b + f->off + 4, fl);
  uint8_t *c = malloc(raw);
  assert_int_equal(ZSTD_decompress(c, raw, L->b + f->off + 4, fl), raw);
  size_t want = (size_t)(at * (double)raw), p = 0;
  while (p < raw) {
    uint32_t el = be32(c + p + 1);
    if (c[p] == 1 && p + 5 + el > want) break;
    p += 5 + el;
  }
  assert_true(p < raw);
  uint32_t el = be32(c + p + 1);
  c[p + 13 + (el - 8) * 3 / 4] ^= 0x01; /* inside the record body */
  size_t bound = ZSTD_compressBound(raw);
  uint8_t *z = malloc(bound);
  size_t zl = ZSTD_compress(z, bound, c, raw, 3);
  assert_false(ZSTD_isError(zl));
  uint8_t *o = malloc(L->n + bound);
  size_t k0 = f->off;
  memcpy(o, L->b, k0);
  put32(o + k0, (uint32_t)zl);
  memcpy(o + k0 + 4, z, zl);
  size_t rest = L->n - (f->off + f->len);
  memcpy(o + k0 + 4 + zl, L->b + f->off + f->len, rest);
  assert_int_equal(jt_write_file(path, o, k0 + 4 + zl + rest), 0);
  free(o);
  free(z);
  free(c);
}

static void test_flipped_bytes(void **state)
{
  (void)state;
  struct layout L;
  layout_read(&L, g_full);
  assert_true(L.nframes >= 1);
  char *t = strdup(jt_path("%s/flip.hems", g_base));
  char what[64];
  /* one record byte, the frames still decompress: start, middle and end of the bundle */
  double at[] = { 0.02, 0.5, 0.97 };
  for (int k = 0; k < L.nframes; k += L.nframes > 1 ? L.nframes - 1 : 1) {
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
      flip_record_byte(&L, k, at[i], t);
      snprintf(what, sizeof what, "record byte, frame %d at %.2f", k, at[i]);
      check_damaged(t, 1, what);
    }
  }
  /* raw bytes: the header, the compressed frames, the end frame */
  size_t offs[] = { 20, 16 + L.hl + 10, L.fr[0].off + 2, L.fr[0].off + L.fr[0].len / 2, L.end_off - 1,
                    L.end_off + 6, L.end_off + 4 + 60, L.n - 1 };
  for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
    L.b[offs[i]] ^= 0x20;
    assert_int_equal(jt_write_file(t, L.b, L.n), 0);
    L.b[offs[i]] ^= 0x20;
    snprintf(what, sizeof what, "byte %zu of %zu", offs[i], L.n);
    check_damaged(t, 1, what);
  }
  free(t);
  free(L.b);
}

/* ------------------------------------------------------------------ item 9 */

/* A seq in the middle of the journal that starts a group: export --since rounds to one. */
static void test_mid_journal_replay(void **state)
{
  (void)state;
  struct jt_out out;
  jt_hems(&out, "export", "--dir", g_dir, "--out", g_mid, "--since", "200", NULL);
  expect(&out, 0, NULL);
  assert_non_null(strstr(out.out, "with the replay checkpoint of the state after seq"));
  jt_out_free(&out);
  struct layout L;
  layout_read(&L, g_mid);
  assert_int_equal(L.format, 3); /* the journal's seals sign checkpoints: with the tree entry */
  free(L.b);

  jt_hems(&out, "replay", g_mid, "--check", "--format", "json", NULL);
  expect(&out, 0, NULL);
  const char *sc = strstr(out.out, "\"seals_checked\": ");
  assert_non_null(sc);
  uint64_t seals = strtoull(sc + 17, NULL, 10);
  assert_true(seals > 0);
  assert_null(strstr(out.out, "\"checkpoint_confirmed_by_seal\": null"));
  jt_out_free(&out);
  jt_hems(&out, "replay", g_mid, "--check", NULL);
  expect(&out, 0, NULL);
  assert_null(strstr(out.err, "divergence"));
  jt_out_free(&out);
  /* the state at the head equals a replay of the whole journal */
  jt_hems(&out, "replay", g_mid, "--format", "json", NULL);
  expect(&out, 0, NULL);
  const char *h = strstr(out.out, "\"state_hash\": ");
  assert_non_null(h);
  char mid_hash[96];
  snprintf(mid_hash, sizeof mid_hash, "%.80s", h);
  jt_out_free(&out);
  jt_hems(&out, "replay", "--dir", g_dir, "--format", "json", NULL);
  expect(&out, 0, NULL);
  assert_non_null(strstr(out.out, mid_hash));
  jt_out_free(&out);
}

/* The exporter's checkpoint callback hands out a state that differs in one count (as a forged
 * checkpoint in the data dir would make it): the bundle is signed by the right key, yet its
 * checkpoint is refused by the first seal that carries a state hash. */
static int forged_checkpoint(void *ctx, struct journal_reader *r, uint64_t seq, uint8_t **data, size_t *len)
{
  (void)ctx;
  struct replay_state *st = malloc(sizeof *st);
  struct replay_options o;
  struct replay_result res;
  memset(&o, 0, sizeof o);
  o.until_seq = seq;
  int rc = replay_dir(r, &o, st, &res);
  if (rc) { free(st); return rc; }
  st->faults += 1;
  *data = malloc(REPLAY_CHECKPOINT_BYTES);
  replay_checkpoint_encode(st, seq, *data);
  *len = REPLAY_CHECKPOINT_BYTES;
  free(st);
  return 0;
}

static void test_forged_checkpoint(void **state)
{
  (void)state;
  char *f = strdup(jt_path("%s/forged-ckpt.hems", g_base));
  struct journal_reader *rd;
  assert_int_equal(journal_reader_open(&rd, g_dir, NULL, false), 0);
  struct journal_file_signer fs;
  assert_int_equal(journal_file_signer_load(&fs, g_dir), 0);
  struct journal_export_options eo = { .since_seq = 200, .checkpoint = forged_checkpoint };
  struct journal_export_info info;
  assert_int_equal(journal_export(rd, &fs.signer, &eo, f, &info), 0);
  journal_file_signer_wipe(&fs);
  journal_reader_close(rd);
  assert_int_equal(info.checkpoint_seq + 1, info.first_seq);
  struct jt_out out;
  jt_hems(&out, "verify", f, "--pubkey", g_pub, NULL); /* chain, seals, signatures: all fine */
  expect(&out, 0, NULL);
  jt_out_free(&out);
  char want[96];
  snprintf(want, sizeof want, "hems: bundle damaged after seq %llu: its checkpoint", (unsigned long long)info.checkpoint_seq);
  jt_hems(&out, "replay", f, "--check", NULL);
  expect(&out, 1, want);
  assert_null(strstr(out.out, "state hash"));
  jt_out_free(&out);
  jt_hems(&out, "replay", f, NULL);
  expect(&out, 1, want);
  jt_out_free(&out);
  free(f);
}

/* ------------------------------------------------------------------ item 16 (export) */

/* A record whose LMDB node claims ~2 GiB (one 2-byte field of data.mdb changed): export stops
 * with an error naming the damage, never reads past the record. */
static void test_export_bounds(void **state)
{
  (void)state;
  char *d = strdup(jt_path("%s/dmg", g_base));
  assert_int_equal(jt_sh("cp -a %s %s", g_dir, d), 0);
  size_t n;
  char *mdb = strdup(jt_path("%s/journal/data.mdb", d));
  uint8_t *b = jt_read_file(mdb, &n);
  assert_non_null(b);
  /* Every copy of every pack's node (LMDB keeps older page copies in the file too): a leaf
   * node header u16 lo size, u16 hi size, u16 flags, u16 key size 8, the 8-byte key (a seq,
   * its high bytes zero), then the pack: version 1, flags 0, n (u32 BE, < 2^16 here). */
  int damaged = 0;
  for (size_t off = 0; off + 16 + 8 < n; off++) {
    uint8_t *node = b + off;
    const uint8_t *key = node + 8, *val = node + 16;
    if (node[6] != 8 || node[7] || node[2] || node[3] || node[4] > 1 || node[5]) continue;
    if ((node[0] | node[1] << 8) < 58 || memcmp(key, "\0\0\0\0\0", 5) != 0) continue;
    if (node[4] == 1) {
      /* F_BIGDATA: the value is on overflow pages, val holds their page number (LE); the data
       * starts after the 16-byte page header */
      uint64_t pg = 0;
      for (int i = 7; i >= 0; i--) pg = pg << 8 | val[i];
      if (pg == 0 || pg > n / 4096 || pg * 4096 + 16 + 4 > n) continue;
      val = b + pg * 4096 + 16;
    }
    if (memcmp(val, "\x01\x00\x00\x00", 4) != 0) continue;
    node[2] = 0xff;
    node[3] = 0x7f;
    damaged++;
  }
  assert_true(damaged > 0);
  assert_int_equal(jt_write_file(mdb, b, n), 0);
  free(b);
  struct jt_out out;
  jt_hems(&out, "export", "--dir", d, "--out", jt_path("%s/dmg.hems", g_base), "--accept-rollback", NULL);
  char want[4300];
  snprintf(want, sizeof want, "hems: %s/journal/data.mdb: damaged (", d);
  if (out.status != 3 || !strstr(out.err, want)) fail_msg("export of a damaged store: exit %d: %s", out.status, out.err);
  jt_out_free(&out);
  free(mdb);
  free(d);
}

int main(void)
{
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_fingerprint_pin),
    cmocka_unit_test(test_resigned_framing),
    cmocka_unit_test(test_format1_bundle),
    cmocka_unit_test(test_flipped_bytes),
    cmocka_unit_test(test_mid_journal_replay),
    cmocka_unit_test(test_forged_checkpoint),
    cmocka_unit_test(test_export_bounds),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
