/*
 * test_replay.c — replay against a real journal written through the live harness:
 * - live vs offline: every seal's live state_hash equals the offline fold at that seal;
 * - replay from seq 1 equals replay from every checkpoint;
 * - a corrupted (flipped byte) and a version-mismatched checkpoint are skipped, result correct;
 * - --check catches a reducer variant (live state perturbed) and names the seq;
 * - the CLI: replay --check, replay --until N-1 = seal N's state hash, status JSON keys.
 * A simulated hour at 4 AFE windows per second plus requests, sense-backs, taps and DER updates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>
#include "replay.h"
#include "rp_util.h"

struct vclock { uint64_t mono; int64_t wall; };
static void vclock_now(void *ctx, uint64_t *mono, int64_t *wall, uint8_t *tq)
{
  struct vclock *c = ctx;
  *mono = c->mono;
  *wall = c->wall;
  *tq = JOURNAL_TQ_SYNCED;
}

struct live {
  char *dir;
  struct vclock vc;
  struct journal_options jo;
  struct replay_harness *h;
  struct journal *j;
};

static void note_rec(struct journal_record *r, const char *text)
{
  memset(r, 0, sizeof *r);
  r->type = JOURNAL_T_NOTE;
  r->source.kind = JOURNAL_SRC_OPERATOR;
  r->body.note.who = rp_lit("test");
  r->body.note.text = rp_lit(text);
}

/* A fresh scratch dir and virtual clock (the journal is made by live_open(…, true, …)). */
static void live_new(struct live *l)
{
  memset(l, 0, sizeof *l);
  l->dir = rp_mkdtemp();
  l->vc.mono = 1000000000ull;
  l->vc.wall = 1763733720ll * 1000000000ll;
}

static void live_open(struct live *l, bool create, const struct replay_harness_options *ho)
{
  memset(&l->jo, 0, sizeof l->jo);
  l->jo.dir = l->dir;
  l->jo.clock.now = vclock_now;
  l->jo.clock.ctx = &l->vc;
  memset(l->jo.boot_id, 0x11, sizeof l->jo.boot_id);
  if (create) {
    static const uint8_t seed[32] = { 1, 2, 3 };
    assert_int_equal(journal_keys_create(l->dir, seed), 0);
    assert_int_equal(journal_create(&l->jo, "{\"branches\":48}", 15, "test"), 0);
  }
  l->h = calloc(1, sizeof *l->h);
  replay_harness_init(l->h, ho, &l->jo);
  struct journal_open_info info;
  int pid;
  assert_int_equal(journal_open(&l->j, &l->jo, &info, &pid), 0);
  assert_int_equal(replay_harness_attach(l->h, l->j), 0);
}

static void live_close(struct live *l)
{
  assert_int_equal(journal_close(l->j), 0);
  free(l->h);
  l->h = NULL;
}

static uint64_t append(struct live *l, struct journal_record *r, struct replay_effects *fx, uint64_t seqs[4])
{
  uint64_t seq;
  assert_int_equal(replay_harness_append(l->h, r, &seq, fx, seqs), 0);
  return seq;
}

/* One simulated hour. perturb_at: before the request at that second, make the live state
 * believe branch 5's breaker is open (a reducer variant); returns the refusal's seq. */
static uint64_t simulate(struct live *l, unsigned seconds, int perturb_at)
{
  static const char *const ids[] = { "bar-1", "bar-2", "bar-3", "bar-4", "bar-5", "bar-6" };
  uint64_t rng = 99, injected = 0;
  struct journal_record r;
  struct replay_effects fx;
  uint64_t seqs[4];
  for (unsigned s = 0; s < seconds; s++) {
    for (unsigned afe = 1; afe <= 4; afe++) {
      l->vc.mono += 250000000ull;
      l->vc.wall += 250000000ll;
      memset(&r, 0, sizeof r);
      r.type = JOURNAL_T_WINDOW;
      r.source.kind = JOURNAL_SRC_AFE;
      r.source.index = (uint16_t)afe;
      struct journal_window *w = &r.body.window;
      w->afe = (uint16_t)afe;
      w->start_ns = l->vc.wall;
      w->duration_us = 1000000;
      w->freq_mhz = 50000;
      w->nch = 3;
      w->npow = 3;
      w->nbranches = 3;
      for (int i = 0; i < 3; i++) {
        uint16_t b = (uint16_t)((afe - 1) * 3 + i + 1);
        int32_t ma = (int32_t)rp_below(&rng, 18000);
        int64_t p = (int64_t)ma * 230 * (b == 12 ? -1 : 1); /* branch 12 exports (PV) */
        w->branches[i] = b;
        w->ch[i] = (struct journal_window_channel){ (uint8_t)(i + 3), JOURNAL_CH_CURRENT, (uint8_t)i, b, ma, -ma, ma, 0, 0, 0, false };
        w->pow[i] = (struct journal_window_power){ (uint8_t)(i + 3), (uint8_t)i, (uint8_t)i, b, p, 0, p < 0 ? -p : p, 990,
                                                   p > 0 ? p / 3600 : 0, p < 0 ? -p / 3600 : 0 };
      }
      append(l, &r, NULL, NULL);
    }
    if (s % 5 == 0) {
      memset(&r, 0, sizeof r);
      r.type = JOURNAL_T_DER;
      r.source.kind = JOURNAL_SRC_DER;
      r.body.der.source = JOURNAL_DER_PV;
      r.body.der.state = JOURNAL_DERST_GRID_TIED;
      r.body.der.interlock_ok = 1;
      r.body.der.fresh = (s % 700) != 0;
      r.body.der.grid_present = 1;
      append(l, &r, NULL, NULL);
    }
    if (s % 37 == 0) {
      memset(&r, 0, sizeof r);
      r.type = JOURNAL_T_REQUEST;
      r.source.kind = JOURNAL_SRC_OPERATOR;
      struct journal_request *q = &r.body.request;
      q->target = (uint16_t)(1 + rp_below(&rng, 12));
      q->desired = (uint8_t)rp_below(&rng, 2);
      q->role = (uint8_t)rp_below(&rng, 3);
      q->origin = JOURNAL_ORIGIN_OPERATOR;
      q->request_id = rp_lit(ids[rp_below(&rng, 6)]);
      if ((int)s == perturb_at) {
        q->target = 5;
        q->desired = 1;
        q->role = JOURNAL_ROLE_ADMIN;
        q->request_id = rp_lit("variant-1");
        l->h->state.br[4].breaker_open = 1; /* the live fold believes something replay will not */
      }
      append(l, &r, &fx, seqs);
      if ((int)s == perturb_at) {
        assert_int_equal(fx.e[0].kind, REPLAY_EFFECT_REFUSAL);
        injected = seqs[0];
        printf("variant: request -> refusal seq %llu (n=%u)\n", (unsigned long long)seqs[0], fx.n);
      }
      if (fx.n && fx.e[0].kind == REPLAY_EFFECT_COMMAND) {
        memset(&r, 0, sizeof r);
        r.type = JOURNAL_T_SENSE_BACK;
        r.source.kind = JOURNAL_SRC_BRANCH;
        r.source.index = fx.e[0].target;
        r.body.sense_back.target = fx.e[0].target;
        r.body.sense_back.commanded = fx.e[0].desired;
        r.body.sense_back.sensed = fx.e[0].desired;
        r.body.sense_back.verdict = s % 400 == 0 ? JOURNAL_VERDICT_WELDED : JOURNAL_VERDICT_CONFIRMED;
        r.body.sense_back.command_seq = seqs[0];
        append(l, &r, NULL, NULL);
      }
    }
    if (s % 901 == 450) {
      memset(&r, 0, sizeof r);
      r.type = JOURNAL_T_TRIP_TAP;
      r.source = (struct journal_source){ JOURNAL_SRC_TAP, JOURNAL_TAP_MCB, 7, "" };
      r.body.trip_tap.kind = JOURNAL_TAP_MCB;
      r.body.trip_tap.branch = 7;
      append(l, &r, NULL, NULL);
    }
  }
  return injected;
}

static struct live L;

static void load_pk(const char *dir, uint8_t pk[JOURNAL_PUBKEY_BYTES])
{
  char path[4200];
  snprintf(path, sizeof path, "%s/keys/signing.pub", dir);
  assert_int_equal(journal_pubkey_load(path, pk), 0);
}
static uint8_t full_hash[32];

static int setup(void **st)
{
  (void)st;
  L.dir = rp_mkdtemp();
  L.vc.mono = 1000000000ull;
  L.vc.wall = 1763733720ll * 1000000000ll;
  struct replay_harness_options ho = { 2000, INT64_MAX, false };
  /* the harness is not hooked into journal_create: its seals carry no state hash */
  live_open(&L, true, &ho);
  simulate(&L, 3600, -1);
  live_close(&L);
  return 0;
}

static int teardown(void **st)
{
  (void)st;
  rp_rm_rf(L.dir);
  free(L.dir);
  return 0;
}

static void test_live_equals_offline(void **st)
{
  (void)st;
  struct journal_reader *rd;
  assert_int_equal(journal_reader_open(&rd, L.dir, NULL, false), 0);
  struct replay_options o;
  memset(&o, 0, sizeof o);
  o.check = true;
  struct replay_state *s = malloc(sizeof *s);
  struct replay_result res;
  assert_int_equal(replay_dir(rd, &o, s, &res), 0);
  printf("records %llu, seals checked %llu (unhashed %llu), decisions checked %llu, divergences %llu\n",
         (unsigned long long)res.records, (unsigned long long)res.seals_checked, (unsigned long long)res.seals_unhashed,
         (unsigned long long)res.effects_checked, (unsigned long long)res.divergences);
  assert_int_equal(res.divergences, 0);
  assert_int_equal(res.seals_unhashed, 3); /* boot, config, key groups of journal_create */
  assert_true(res.seals_checked > 1000);
  assert_true(res.effects_checked > 50);
  assert_true(s->windows == 4 * 3600);
  assert_true(s->br[11].export_uwh > 0 && s->br[11].import_uwh == 0);
  assert_true(s->br[6].alarms & REPLAY_ALARM_UNEXPLAINED_TRIP || s->br[6].trips > 0);
  memcpy(full_hash, res.state_hash, 32);
  journal_reader_close(rd);
  free(s);
}

static void test_every_checkpoint(void **st)
{
  (void)st;
  struct journal_reader *rd;
  assert_int_equal(journal_reader_open(&rd, L.dir, NULL, false), 0);
  struct journal_iter *it;
  assert_int_equal(journal_iter_begin(rd, 1, &it), 0);
  uint64_t bound = UINT64_MAX, seqs[256];
  int n = 0;
  for (;;) {
    uint64_t seq;
    uint8_t *data;
    size_t len;
    if (journal_checkpoint_get(it, bound, &seq, &data, &len)) break;
    free(data);
    seqs[n++] = seq;
    bound = seq - 1;
  }
  journal_iter_end(it);
  printf("%d checkpoints\n", n);
  uint8_t pk[JOURNAL_PUBKEY_BYTES];
  load_pk(L.dir, pk);
  assert_true(n >= 5);
  struct replay_state *s = malloc(sizeof *s), *ref = malloc(sizeof *ref);
  for (int i = 0; i < n; i++) {
    assert_int_equal(journal_iter_begin(rd, 1, &it), 0);
    uint64_t cseq;
    struct replay_checkpoint_report rep;
    assert_int_equal(replay_checkpoint_load(it, seqs[i], 0, pk, s, &cseq, &rep), 0);
    journal_iter_end(it);
    assert_int_equal(cseq, seqs[i]);
    assert_int_equal(rep.skipped, 0);
    /* the checkpoint equals the fold from seq 1 up to it … */
    struct replay_options o;
    memset(&o, 0, sizeof o);
    o.until_seq = cseq;
    struct replay_result r1, r2;
    assert_int_equal(replay_dir(rd, &o, ref, &r1), 0);
    uint8_t h1[32], h2[32];
    replay_state_hash(ref, h1);
    replay_state_hash(s, h2);
    assert_memory_equal(h1, h2, 32);
    /* … and folding the tail from it ends where the fold from seq 1 ends */
    struct journal_dir_source ds;
    assert_int_equal(journal_dir_source_init(&ds, rd, cseq + 1), 0);
    memset(&r2, 0, sizeof r2);
    assert_int_equal(replay_fold(s, &ds.src, NULL, &r2), 0);
    journal_dir_source_deinit(&ds);
    assert_memory_equal(r2.state_hash, full_hash, 32);
  }
  journal_reader_close(rd);
  free(s);
  free(ref);
}

static void test_corrupt_checkpoints_skipped(void **st)
{
  (void)st;
  /* write a flipped-byte checkpoint and a wrong-version one above the newest valid one */
  struct replay_harness_options ho = { 0, 0, true };
  live_open(&L, false, &ho);
  uint64_t head = L.h->state.seq;
  uint8_t *b = malloc(REPLAY_CHECKPOINT_BYTES);
  replay_checkpoint_encode(&L.h->state, head, b);
  b[REPLAY_CHECKPOINT_HEADER + 40] ^= 0x80;
  assert_int_equal(journal_checkpoint_put(L.j, head, b, REPLAY_CHECKPOINT_BYTES), 0);
  struct replay_state *v = malloc(sizeof *v);
  memcpy(v, &L.h->state, sizeof *v);
  replay_checkpoint_encode(v, head - 1, b); /* state after head, claims head-1: seq check */
  assert_int_equal(journal_checkpoint_put(L.j, head - 1, b, REPLAY_CHECKPOINT_BYTES), 0);
  replay_checkpoint_encode(v, head - 2, b);
  b[12] = 99; /* reducer version 99, checksum recomputed: a well-formed checkpoint of another version */
  crypto_generichash(b + REPLAY_CHECKPOINT_HEADER + sizeof(struct replay_state), 32, b,
                     REPLAY_CHECKPOINT_HEADER + sizeof(struct replay_state), NULL, 0);
  assert_int_equal(journal_checkpoint_put(L.j, head - 2, b, REPLAY_CHECKPOINT_BYTES), 0);
  struct journal_record r;
  note_rec(&r, "bad checkpoints above");
  append(&L, &r, NULL, NULL);
  live_close(&L);
  free(b);
  free(v);

  struct journal_reader *rd;
  assert_int_equal(journal_reader_open(&rd, L.dir, NULL, false), 0);
  struct replay_options o;
  memset(&o, 0, sizeof o);
  struct replay_state *s = malloc(sizeof *s);
  struct replay_result from1, fromck;
  assert_int_equal(replay_dir(rd, &o, s, &from1), 0);
  o.use_checkpoints = true;
  uint8_t pk[JOURNAL_PUBKEY_BYTES];
  load_pk(L.dir, pk);
  o.trusted_pk = pk;
  assert_int_equal(replay_dir(rd, &o, s, &fromck), 0);
  assert_int_equal(fromck.checkpoints_skipped, 3);
  assert_int_equal(fromck.checkpoints_rejected, 2); /* the other version is skipped quietly */
  assert_true(fromck.start_seq > 0 && fromck.start_seq < head - 2);
  assert_memory_equal(from1.state_hash, fromck.state_hash, 32);
  journal_reader_close(rd);
  free(s);
}

/* Trust issue item 10: a checkpoint with a valid serialization but a state nothing signed (an
 * attacker's edit of the `checkpoints` database) is never used — not by replay/status, not by a
 * daemon, whose later seals would otherwise sign the forged state while `verify` passes. */
static void test_forged_checkpoint_rejected(void **st)
{
  (void)st;
  struct live f;
  live_new(&f);
  struct replay_harness_options ho = { 500, INT64_MAX, false };
  live_open(&f, true, &ho);
  simulate(&f, 600, -1);
  live_close(&f);

  /* the newest checkpoint, re-encoded around a different state (checksum and hash recomputed) */
  struct journal_reader *rd;
  assert_int_equal(journal_reader_open(&rd, f.dir, NULL, false), 0);
  struct journal_iter *it;
  assert_int_equal(journal_iter_begin(rd, 1, &it), 0);
  uint64_t cseq, inner;
  uint8_t *data;
  size_t len;
  assert_int_equal(journal_checkpoint_get(it, UINT64_MAX, &cseq, &data, &len), 0);
  journal_iter_end(it);
  journal_reader_close(rd);
  struct replay_state *forged = malloc(sizeof *forged);
  assert_int_equal(replay_checkpoint_decode(data, len, 0, forged, &inner), 0);
  assert_int_equal(inner, cseq);
  forged->br[2].import_uwh += 5000000000ll; /* 5 kWh nobody used */
  forged->br[4].breaker_open = 1;
  replay_checkpoint_encode(forged, cseq, data);
  struct journal *j;
  struct journal_options jo;
  memset(&jo, 0, sizeof jo);
  jo.dir = f.dir;
  jo.clock.now = vclock_now; /* f.jo.clock is the freed harness's wrapper */
  jo.clock.ctx = &f.vc;
  assert_int_equal(journal_open(&j, &jo, NULL, NULL), 0);
  assert_int_equal(journal_checkpoint_put(j, cseq, data, len), 0);
  struct journal_record r;
  note_rec(&r, "the checkpoint under this group is forged");
  assert_int_equal(journal_append(j, &r, NULL), 0);
  assert_int_equal(journal_close(j), 0);
  free(data);

  /* the library: the forged one is rejected (named), an older proven one is used, same state */
  uint8_t pk[JOURNAL_PUBKEY_BYTES];
  load_pk(f.dir, pk);
  assert_int_equal(journal_reader_open(&rd, f.dir, NULL, false), 0);
  struct replay_state *s = malloc(sizeof *s);
  struct replay_options o;
  memset(&o, 0, sizeof o);
  struct replay_result full, ck;
  assert_int_equal(replay_dir(rd, &o, s, &full), 0);
  o.use_checkpoints = true;
  o.trusted_pk = pk;
  assert_int_equal(replay_dir(rd, &o, s, &ck), 0);
  assert_memory_equal(ck.state_hash, full.state_hash, 32);
  assert_int_equal(ck.checkpoints_rejected, 1);
  assert_int_equal(ck.checkpoint_rejected_seq, cseq);
  assert_true(ck.start_seq > 0 && ck.start_seq < cseq);
  /* a key that signed nothing here authenticates nothing */
  uint8_t other[JOURNAL_PUBKEY_BYTES];
  memcpy(other, pk, sizeof other);
  other[0] ^= 1;
  o.trusted_pk = other;
  assert_int_equal(replay_dir(rd, &o, s, &ck), 0);
  assert_int_equal(ck.start_seq, 0);
  assert_memory_equal(ck.state_hash, full.state_hash, 32);
  journal_reader_close(rd);
  char want[65];
  journal_hex(full.state_hash, 32, want);

  /* status: the full fold's state, and a warning naming the checkpoint */
  char *out;
  assert_int_equal(rp_run(&out, "status --dir %s --format json 2>%s/status.err", f.dir, f.dir), 0);
  json_t *jo2 = json_loads(out, 0, NULL);
  assert_non_null(jo2);
  assert_string_equal(json_string_value(json_object_get(jo2, "state_hash")), want);
  json_decref(jo2);
  free(out);
  char needle[96];
  snprintf(needle, sizeof needle, "checkpoint at seq %llu rejected", (unsigned long long)cseq);
  assert_int_equal(rp_run(&out, "status --dir %s 2>&1 >/dev/null", f.dir), 0);
  assert_non_null(strstr(out, needle));
  free(out);

  /* a daemon: starts from the proven state, journals the fault, and its seals sign the truth */
  assert_int_equal(rp_run(&out, "run --dir %s --sim default --for 5s --speed max >/dev/null 2>&1", f.dir), 0);
  free(out);
  assert_int_equal(rp_run(&out, "timeline --dir %s --type fault --format jsonl", f.dir), 0);
  assert_non_null(strstr(out, "\"code\":\"checkpoint_rejected\""));
  snprintf(needle, sizeof needle, "\"value\":%llu", (unsigned long long)cseq);
  assert_non_null(strstr(out, needle));
  free(out);
  assert_int_equal(rp_run(&out, "replay --dir %s --check 2>&1", f.dir), 0);
  assert_non_null(strstr(out, " 0 divergence(s)"));
  free(out);
  assert_int_equal(rp_run(&out, "verify --dir %s >/dev/null 2>&1", f.dir), 0);
  free(out);
  free(s);
  free(forged);
  rp_rm_rf(f.dir);
  free(f.dir);
}

static void test_cli(void **st)
{
  (void)st;
  char *out;
  assert_int_equal(rp_run(&out, "replay --dir %s --check 2>&1", L.dir), 0);
  assert_non_null(strstr(out, "0 divergence(s)"));
  free(out);
  /* the last seal with a state hash, and --until its seq-1 */
  struct journal_reader *rd;
  assert_int_equal(journal_reader_open(&rd, L.dir, NULL, false), 0);
  uint64_t first, last;
  journal_reader_bounds(rd, &first, &last);
  struct journal_iter *it;
  assert_int_equal(journal_iter_begin(rd, 1, &it), 0);
  const uint8_t *b;
  size_t len;
  struct journal_record rec;
  char want[65] = "";
  uint64_t seal_seq = 0;
  for (uint64_t q = last; q > 0 && !seal_seq; q--) {
    assert_int_equal(journal_iter_get(it, q, &b, &len), 0);
    assert_int_equal(journal_record_decode(b, len, &rec), 0);
    if (rec.type == JOURNAL_T_SEAL && q < last - 50) { seal_seq = q; journal_hex(rec.body.seal.state_hash, 32, want); }
  }
  journal_iter_end(it);
  journal_reader_close(rd);
  assert_int_equal(rp_run(&out, "replay --dir %s --until %llu --format json", L.dir, (unsigned long long)(seal_seq - 1)), 0);
  json_t *o = json_loads(out, 0, NULL);
  assert_non_null(o);
  assert_string_equal(json_string_value(json_object_get(o, "state_hash")), want);
  assert_int_equal(json_integer_value(json_object_get(o, "head_seq")), (json_int_t)(seal_seq - 1));
  /* written without a daemon: no boot record declares a version, so the base rules */
  assert_int_equal(json_integer_value(json_object_get(o, "reducer_version")), REPLAY_REDUCER_BASE);
  json_decref(o);
  free(out);
  assert_int_equal(rp_run(&out, "status --dir %s --format json", L.dir), 0);
  o = json_loads(out, 0, NULL);
  assert_non_null(o);
  assert_int_equal(strlen(json_string_value(json_object_get(o, "state_hash"))), 64);
  assert_int_equal(strlen(json_string_value(json_object_get(o, "head_hash"))), 64);
  assert_int_equal(json_integer_value(json_object_get(o, "head_seq")), (json_int_t)last);
  assert_non_null(json_object_get(json_object_get(o, "state"), "branches"));
  json_decref(o);
  free(out);
  /* an incident timeline around the trip on branch 7 */
  assert_int_equal(rp_run(&out, "replay --dir %s --incident %llu --format json", L.dir, (unsigned long long)(seal_seq - 1)), 0);
  o = json_loads(out, 0, NULL);
  assert_non_null(o);
  assert_true(json_array_size(json_object_get(json_object_get(o, "incident"), "timeline")) > 0);
  json_decref(o);
  free(out);
}

struct divs { uint64_t seqs[64]; int n; };
static void collect(void *ctx, const struct replay_divergence *d)
{
  struct divs *dv = ctx;
  if (dv->n < 64) dv->seqs[dv->n++] = d->seq;
}

static void test_check_names_divergence(void **st)
{
  (void)st;
  struct live v;
  live_new(&v);
  live_open(&v, true, NULL);
  uint64_t bad = simulate(&v, 400, 37 * 5);
  live_close(&v);
  assert_true(bad > 0);
  struct journal_reader *rd;
  assert_int_equal(journal_reader_open(&rd, v.dir, NULL, false), 0);
  struct replay_options o;
  memset(&o, 0, sizeof o);
  o.check = true;
  struct divs dv = { .n = 0 };
  o.on_divergence = collect;
  o.ctx = &dv;
  struct replay_state *s = malloc(sizeof *s);
  struct replay_result res;
  assert_int_equal(replay_dir(rd, &o, s, &res), 0);
  journal_reader_close(rd);
  assert_true(res.divergences >= 1);
  /* the seal right after the request already differs (the live state was altered); the
   * refusal itself is named too */
  int named = 0;
  for (int i = 0; i < dv.n; i++) named |= dv.seqs[i] == bad;
  assert_true(named);
  assert_true(res.first_divergence_seq <= bad);
  char *out;
  assert_int_equal(rp_run(&out, "replay --dir %s --check 2>&1", v.dir), 1);
  char needle[64];
  snprintf(needle, sizeof needle, "divergence at seq %llu:", (unsigned long long)bad);
  printf("%.*s\n", 300, strstr(out, "hems: replay: divergence") ? strstr(out, "hems: replay: divergence") : out);
  assert_non_null(strstr(out, needle));
  free(out);
  free(s);
  rp_rm_rf(v.dir);
  free(v.dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_live_equals_offline),
    cmocka_unit_test(test_every_checkpoint),
    cmocka_unit_test(test_forged_checkpoint_rejected),
    cmocka_unit_test(test_cli),
    cmocka_unit_test(test_corrupt_checkpoints_skipped),
    cmocka_unit_test(test_check_names_divergence),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
