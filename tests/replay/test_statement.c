/*
 * test_statement.c — `hems statement` and `hems verify STATEMENT` against a real journal written
 * through the live harness (every seal carries the live state hash), with a virtual clock from
 * 2026-10-31T00:00Z to 2026-12-01T12:00Z: one AFE window every 10 minutes, each sealed at its own
 * time. Branch 1 is a 3600 W resistive load all along, branch 2 a 1800 W PV export, branch 3 a
 * 1200 W heater on from 2026-11-16 to 2026-11-20 only. The expected energies are power × time
 * (the month's hours, from the calendar: timegm), never read back from our own output:
 * - November: 3600 W × 720 h import, 1800 W × 720 h export, 1200 W × 96 h;
 * - October: the journal starts inside it: from the first seal that signs a state (found here by
 *   scanning the records) to 2026-11-01T00:00Z, and the output says so;
 * - December: the journal ends on 12-01 at 12:00: 12 h;
 * - --branch 3 prints branch 3 only; a month with no data and a month before the journal: exit 1;
 * - one byte changed anywhere (sampled over the whole file) → exit 1; a state changed with the
 *   digest recomputed (the attack, not damage) → exit 1 naming the state; the wrong key → exit 1;
 * - the canonical-state offsets the verifier reads are the serialiser's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>
#include <cmocka.h>
#include <sodium.h>
#include "replay.h"
#include "rp_util.h"

#define NS 1000000000ll

struct vclock { uint64_t mono; int64_t wall; };
static void vclock_now(void *ctx, uint64_t *mono, int64_t *wall, uint8_t *tq)
{
  struct vclock *c = ctx;
  *mono = c->mono;
  *wall = c->wall;
  *tq = JOURNAL_TQ_SYNCED;
}

static char *dir;
static char fp[33];

static int64_t utc(int y, int mo, int d, int h)
{
  struct tm tm = { 0 };
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  return (int64_t)timegm(&tm) * NS;
}

static int64_t t_first, t_end; /* the first window's time, the last's */

static int setup(void **st)
{
  (void)st;
  dir = rp_mkdtemp();
  struct vclock vc = { 1000000000ull, utc(2026, 10, 31, 0) };
  struct journal_options jo;
  memset(&jo, 0, sizeof jo);
  jo.dir = dir;
  jo.clock.now = vclock_now;
  jo.clock.ctx = &vc;
  jo.commit_hold_ns = 3600 * NS; /* fewer commits: the groups hold no critical record */
  memset(jo.boot_id, 0x22, sizeof jo.boot_id);
  static const uint8_t seed[32] = { 7, 7, 7 };
  assert_int_equal(journal_keys_create(dir, seed), 0);
  assert_int_equal(journal_create(&jo, "{\"branches\":3}", 14, "test"), 0);
  struct replay_harness *h = calloc(1, sizeof *h);
  struct replay_harness_options ho = { UINT64_MAX, 7 * 24 * 3600 * NS, false };
  replay_harness_init(h, &ho, &jo);
  struct journal *j;
  struct journal_open_info info;
  int pid;
  assert_int_equal(journal_open(&j, &jo, &info, &pid), 0);
  assert_int_equal(replay_harness_attach(h, j), 0);
  int64_t heat_on = utc(2026, 11, 16, 0), heat_off = utc(2026, 11, 20, 0);
  t_end = utc(2026, 12, 1, 12);
  struct journal_record r;
  struct replay_effects fx;
  uint64_t seq, seqs[4];
  for (int64_t t = vc.wall + 600 * NS; t <= t_end; t += 600 * NS) {
    if (!t_first) t_first = t;
    vc.wall = t;
    vc.mono += 600ull * NS;
    memset(&r, 0, sizeof r);
    r.type = JOURNAL_T_WINDOW;
    r.source.kind = JOURNAL_SRC_AFE;
    r.source.index = 1;
    struct journal_window *w = &r.body.window;
    w->afe = 1;
    w->start_ns = t - 600 * NS; /* the window is the 10 minutes ending at t */
    w->duration_us = 600000000u;
    w->freq_mhz = 50000;
    w->nch = w->npow = w->nbranches = 3;
    /* W → mW; energy of 600 s in µWh = W × 600 / 3600 × 10^6 */
    int64_t pw[3] = { 3600, -1800, t > heat_on && t <= heat_off ? 1200 : 0 };
    for (int i = 0; i < 3; i++) {
      uint16_t b = (uint16_t)(i + 1);
      int64_t e = (pw[i] < 0 ? -pw[i] : pw[i]) * 600 / 3600 * 1000000;
      w->branches[i] = b;
      w->pow[i] = (struct journal_window_power){ (uint8_t)(i + 3), (uint8_t)i, (uint8_t)i, b, pw[i] * 1000, 0,
                                                 (pw[i] < 0 ? -pw[i] : pw[i]) * 1000, 100000, pw[i] > 0 ? e : 0, pw[i] < 0 ? e : 0 };
    }
    assert_int_equal(replay_harness_append(h, &r, &seq, &fx, seqs), 0);
    assert_int_equal(journal_flush(j), 0); /* sealed at its own time */
  }
  assert_int_equal(journal_close(j), 0);
  free(h);
  uint8_t pk[JOURNAL_PUBKEY_BYTES];
  char path[4200];
  snprintf(path, sizeof path, "%s/keys/signing.pub", dir);
  assert_int_equal(journal_pubkey_load(path, pk), 0);
  journal_fingerprint_hex(pk, fp);
  return 0;
}

static int teardown(void **st)
{
  (void)st;
  rp_rm_rf(dir);
  free(dir);
  return 0;
}

/* The energy line of branch b in out: import and export in µWh (parsed "W.uuuuuu"). */
static bool branch_line(const char *out, unsigned b, int64_t *imp, int64_t *exp)
{
  for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    unsigned n;
    long long iw, iu, ew, eu;
    if (sscanf(p, "%u %lld.%6lld %lld.%6lld", &n, &iw, &iu, &ew, &eu) == 5 && n == b) {
      *imp = iw * 1000000 + iu;
      *exp = ew * 1000000 + eu;
      return true;
    }
  }
  return false;
}

static void expect_branch(const char *out, unsigned b, int64_t imp_w_s, int64_t exp_w_s)
{
  int64_t imp, exp;
  assert_true(branch_line(out, b, &imp, &exp));
  /* W·s → µWh: × 10^6 / 3600 */
  assert_int_equal(imp, imp_w_s * 1000000 / 3600);
  assert_int_equal(exp, exp_w_s * 1000000 / 3600);
}

static char *statement(const char *month, const char *extra, const char *file, int want_rc)
{
  char *out;
  int rc = rp_run(&out, "statement --dir %s --month %s %s --out %s/%s 2>&1", dir, month, extra, dir, file);
  if (rc != want_rc) fprintf(stderr, "statement %s: exit %d:\n%s", month, rc, out);
  assert_int_equal(rc, want_rc);
  return out;
}

static char *verify(const char *file, int want_rc)
{
  char *out;
  int rc = rp_run(&out, "verify %s/%s --fingerprint %s 2>&1", dir, file, fp);
  if (rc != want_rc) fprintf(stderr, "verify %s: exit %d:\n%s", file, rc, out);
  assert_int_equal(rc, want_rc);
  return out;
}

static void test_november(void **st)
{
  (void)st;
  free(statement("2026-11", "", "nov.st", 0));
  char *out = verify("nov.st", 0);
  int64_t h720 = (utc(2026, 12, 1, 0) - utc(2026, 11, 1, 0)) / NS; /* seconds in November */
  expect_branch(out, 1, 3600 * h720, 0);
  expect_branch(out, 2, 0, 1800 * h720);
  expect_branch(out, 3, 1200 * ((utc(2026, 11, 20, 0) - utc(2026, 11, 16, 0)) / NS), 0);
  assert_non_null(strstr(out, "statement: ok: month 2026-11, UTC"));
  assert_null(strstr(out, "starts inside the month"));
  free(out);
}

/* The first seal that signs a state, by scanning the records (not through the statement code). */
static int64_t first_signed_time(void)
{
  struct journal_reader *rd;
  struct journal_iter *it;
  uint64_t first, last;
  assert_int_equal(journal_reader_open(&rd, dir, NULL, false), 0);
  assert_int_equal(journal_reader_bounds(rd, &first, &last), 0);
  assert_int_equal(journal_iter_begin(rd, first, &it), 0);
  static const uint8_t zero[32];
  int64_t t = 0;
  for (uint64_t q = first; q <= last && !t; q++) {
    const uint8_t *b;
    size_t len;
    struct journal_record r;
    assert_int_equal(journal_iter_get(it, q, &b, &len), 0);
    assert_int_equal(journal_record_decode(b, len, &r), 0);
    if (r.type == JOURNAL_T_SEAL && memcmp(r.body.seal.state_hash, zero, 32) != 0) t = r.wall_ns;
  }
  journal_iter_end(it);
  journal_reader_close(rd);
  return t;
}

static void test_october_starts_inside(void **st)
{
  (void)st;
  char *out = statement("2026-10", "", "oct.st", 0);
  assert_non_null(strstr(out, "starts inside the month"));
  free(out);
  out = verify("oct.st", 0);
  assert_non_null(strstr(out, "starts inside the month"));
  int64_t t0 = first_signed_time();
  assert_true(t0 >= utc(2026, 10, 31, 0) && t0 <= t_first);
  int64_t s = (utc(2026, 11, 1, 0) - t0) / NS;
  expect_branch(out, 1, 3600 * s, 0);
  expect_branch(out, 2, 0, 1800 * s);
  expect_branch(out, 3, 0, 0);
  free(out);
}

static void test_december_ends_early(void **st)
{
  (void)st;
  free(statement("2026-12", "", "dec.st", 0));
  char *out = verify("dec.st", 0);
  int64_t s = (t_end - utc(2026, 12, 1, 0)) / NS;
  expect_branch(out, 1, 3600 * s, 0);
  expect_branch(out, 2, 0, 1800 * s);
  assert_non_null(strstr(out, "the period ends at the end seal"));
  free(out);
}

static void test_branch_filter(void **st)
{
  (void)st;
  free(statement("2026-11", "--branch 3", "b3.st", 0));
  char *out = verify("b3.st", 0);
  int64_t imp, exp;
  assert_false(branch_line(out, 1, &imp, &exp));
  assert_false(branch_line(out, 2, &imp, &exp));
  expect_branch(out, 3, 1200 * ((utc(2026, 11, 20, 0) - utc(2026, 11, 16, 0)) / NS), 0);
  free(out);
  out = statement("2026-11", "--branch 9", "b9.st", 2); /* the panel has 3 */
  assert_non_null(strstr(out, "--branch 9"));
  free(out);
}

static void test_no_data(void **st)
{
  (void)st;
  char *out = statement("2027-01", "", "jan.st", 1);
  assert_non_null(strstr(out, "no data in month 2027-01"));
  free(out);
  out = statement("2026-09", "", "sep.st", 1);
  assert_non_null(strstr(out, "before the journal"));
  free(out);
  out = statement("2026-13", "", "bad.st", 2);
  free(out);
  char path[4200];
  snprintf(path, sizeof path, "%s/jan.st", dir);
  assert_int_not_equal(access(path, F_OK), 0); /* nothing written */
}

static uint8_t *slurp(const char *name, size_t *len)
{
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  rewind(f);
  uint8_t *b = malloc(*len);
  assert_int_equal(fread(b, 1, *len, f), *len);
  fclose(f);
  return b;
}

static void spit(const char *name, const uint8_t *b, size_t len)
{
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(b, 1, len, f), len);
  fclose(f);
}

static void test_tampered(void **st)
{
  (void)st;
  free(statement("2026-11", "", "t.st", 0));
  size_t len;
  uint8_t *b = slurp("t.st", &len);
  uint8_t *c = malloc(len);
  unsigned runs = 0;
  /* every byte of the head (magic, month, key, note lengths), then every 101st, then the tail */
  for (size_t i = 0; i < len; i = i < 96 ? i + 1 : i + 101 < len - 40 ? i + 101 : i < len - 40 ? len - 40 : i + 1) {
    memcpy(c, b, len);
    c[i] ^= 0x01;
    spit("x.st", c, len);
    char *out;
    int rc = rp_run(&out, "verify %s/x.st --fingerprint %s 2>&1", dir, fp);
    if (rc != 1) fprintf(stderr, "byte %zu changed: exit %d: %s", i, rc, out);
    assert_int_equal(rc, 1);
    free(out);
    runs++;
  }
  assert_true(runs > 150);
  /* cut short */
  spit("x.st", b, len - 1);
  free(verify("x.st", 1));
  /* the end state's branch 1 import raised, digest recomputed: the state is not the signed one */
  struct replay_statement s;
  char why[160];
  assert_int_equal(replay_statement_decode(b, len, &s, why, sizeof why), 0);
  memcpy(c, b, len);
  size_t off = (size_t)(s.state[1] - b) + REPLAY_SER_BRANCH_OFF + REPLAY_SER_BRANCH_IMPORT;
  c[off + 3] ^= 0x10;
  crypto_generichash(c + len - 32, 32, c, len - 32, NULL, 0);
  spit("x.st", c, len);
  char *out = verify("x.st", 1);
  assert_non_null(strstr(out, "end state's hash is not the state its checkpoint"));
  free(out);
  /* a proof hash changed, digest recomputed */
  if (s.nproof) {
    memcpy(c, b, len);
    c[(size_t)(s.proof - b)] ^= 0x80;
    crypto_generichash(c + len - 32, 32, c, len - 32, NULL, 0);
    spit("x.st", c, len);
    out = verify("x.st", 1);
    assert_non_null(strstr(out, "consistency proof"));
    free(out);
  }
  free(b);
  free(c);
}

static void test_wrong_key(void **st)
{
  (void)st;
  free(statement("2026-11", "", "k.st", 0));
  char *out, other[4200];
  int rc = rp_run(&out, "verify %s/k.st --fingerprint 0123456789abcdef0123456789abcdef 2>&1", dir);
  assert_int_equal(rc, 1);
  assert_non_null(strstr(out, "fingerprint mismatch"));
  free(out);
  /* another key as a file */
  char *odir = rp_mkdtemp();
  static const uint8_t seed2[32] = { 9 };
  assert_int_equal(journal_keys_create(odir, seed2), 0);
  snprintf(other, sizeof other, "%s/keys/signing.pub", odir);
  rc = rp_run(&out, "verify %s/k.st --pubkey %s 2>&1", dir, other);
  assert_int_equal(rc, 1);
  assert_non_null(strstr(out, "not the pinned key"));
  free(out);
  rp_rm_rf(odir);
  free(odir);
  /* the journal's own key file pins it too */
  rc = rp_run(&out, "verify %s/k.st --pubkey %s/keys/signing.pub 2>&1", dir, dir);
  assert_int_equal(rc, 0);
  free(out);
  /* no pin: usage */
  rc = rp_run(&out, "verify %s/k.st 2>&1", dir);
  assert_int_equal(rc, 2);
  free(out);
}

/* The offsets replay_state_energy_parse reads are where the serialiser writes, and the bytes
 * hash to replay_state_hash. */
static void test_canonical_offsets(void **st)
{
  (void)st;
  struct replay_state *s = malloc(sizeof *s);
  replay_state_init(s);
  assert_int_equal(replay_state_serialised_len(s), REPLAY_SER_FIXED + 4);
  s->seq = 0x0102030405060708ull;
  s->wall_ns = -5;
  s->nbranches = 48;
  for (int i = 0; i < 48; i++) {
    s->br[i].import_uwh = 1000 + i;
    s->br[i].export_uwh = (int64_t)1 << (i + 8);
    s->br[i].trips = 0xffffffffu; /* the fields around them */
    s->br[i].p_mw = -1;
  }
  s->req_count = 3;
  s->roll[0].open = 1; /* v 9: an open rollup slot is serialised whole, a closed one is one byte */
  /* every reducer version this code folds under: v 5 and v 7 add tails after the request window */
  for (uint32_t v = REPLAY_REDUCER_BASE; v <= REPLAY_REDUCER_VERSION; v++) {
  s->reducer_version = v;
  size_t n = replay_state_serialised_len(s);
  assert_int_equal(n, REPLAY_SER_FIXED + 4 + 3 * REPLAY_SER_REQ_BYTES + (v >= 5 ? 4 * 8 + 2 : 0) /* v 5: four i64, two u8 */
                       + (v >= 7 ? 48 * (1 + 8 + 1 + 1) : 0)  /* v 7: per branch a u8, an i64, two u8 */
                       + (v >= 8 ? 4 + 3 * 2 + 1 + 1 + 3 + 1 + 8 + 3 * 8 + 8 + 8 + 8 + 48 : 0) /* v 8: the band, the
                                                                 source, the action, per branch a u8 */
                       + (v >= 9 ? 1 + (8 + 8 + 4 + 48 * (5 * 8 + 4 * 4) + 3 * (4 + 4 + 8 + 4)) + 1 : 0) /* v 9: two
                                                  slots' open bytes, the open one's start, first seq, late count,
                                                  per branch five i64 and four u32, per phase two i32, an i64, a u32 */
                       + (v >= 10 ? 3 * (1 + 1 + 1 + 2 + 2 + 8 + 8) : 0) /* v 10: per DER source three u8, two u16, two 64-bit */
                       + (v >= 11 ? 48 + 1 + 1 + 2 + 4 + 1 + 8 * 8 : 0) /* v 11: per branch a u8; two u8, a u16,
                                                  a u32, a u8 and eight i64 of the battery's permit */
                       + (v >= 11 ? 1 + 48 : 0)); /* v 11: the panel's held analog conditions (u8), then each branch's */
  uint8_t *b = malloc(n);
  assert_int_equal(replay_state_serialise(s, b, n), n);
  uint8_t h1[32], h2[32];
  replay_state_hash(s, h1);
  crypto_generichash(h2, 32, b, n, NULL, 0);
  assert_memory_equal(h1, h2, 32);
  struct replay_state_energy e;
  assert_int_equal(replay_state_energy_parse(b, n, &e), 0);
  assert_int_equal(e.seq, s->seq);
  assert_int_equal(e.wall_ns, -5);
  assert_int_equal(e.nbranches, 48);
  assert_int_equal(e.reducer_version, v);
  for (int i = 0; i < 48; i++) {
    assert_int_equal(e.import_uwh[i], 1000 + i);
    assert_int_equal(e.export_uwh[i], (int64_t)1 << (i + 8));
  }
  assert_int_not_equal(replay_state_energy_parse(b, n - 1, &e), 0);
  /* a version outside what this code knows is refused */
  uint8_t keep = b[REPLAY_SER_REDUCER_OFF];
  b[REPLAY_SER_REDUCER_OFF] = (uint8_t)(REPLAY_REDUCER_VERSION + 1);
  assert_int_not_equal(replay_state_energy_parse(b, n, &e), 0);
  b[REPLAY_SER_REDUCER_OFF] = keep;
  free(b);
  }
  free(s);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_canonical_offsets),
    cmocka_unit_test(test_november),
    cmocka_unit_test(test_october_starts_inside),
    cmocka_unit_test(test_december_ends_early),
    cmocka_unit_test(test_branch_filter),
    cmocka_unit_test(test_no_data),
    cmocka_unit_test(test_tampered),
    cmocka_unit_test(test_wrong_key),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
