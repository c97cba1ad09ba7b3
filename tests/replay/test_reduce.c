/*
 * test_reduce.c — the pure reducers: golden state hash, seal indifference, split folds through
 * checkpoint encode/decode (property test over random valid record streams), request
 * decisions (role, idempotency, conflict, expiry, window bounds, breaker state), energy signs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "replay.h"
#include "rp_util.h"

/* Golden values: seed 42, 20000 records, folded into 0xA5-poisoned memory, under each reducer
 * version (a boot record declaring it first; none for the base). A reducer change that alters
 * one adds a version (reduce.h) gated on it and a golden line here; the old lines never change,
 * so journals sealed under an old version still verify. */
static const struct { uint32_t version; const char *hash; } golden[] = {
  { 4, "11fbce6fab4104b4383773af5ac333ab5d0b21eb792cd91055f462dc956b2ac2" },
  { 5, "ad96732d899400476741abe5ae5965c8a39958699304397f3358cfc3011215e3" },
  { 6, "d51e2bf284d17ff5269da0cc492fa9b64466423fdfcb0552944bd4c7d8c0e390" },
  { 7, "a47445605180f491e7977ff7f24f972aaa7bb0786fee8e18699f5fafe313fcc6" },
  { 8, "00f3208caeaa4d5f9aa5e544fb6d69eebd3b3798f7281ad14352cac4c8ce8242" },
  { 9, "bb2aa261abcc8ba6fff0c764d209f39fb1d82ebf719991d119da64ce84149a9b" },
  { 10, "0a9b29f5ed7e51dce0ee2ea0db3e4a61b1749cb848e2fa72bfe9a0961d1a9834" },
  { 11, "a591c5bbc8e3ba3de1ce7671bf92b2f1594845b62096f415bf8ca06a5d65b23b" },
};

static struct replay_state *poisoned(int byte)
{
  struct replay_state *s = malloc(sizeof *s);
  memset(s, byte, sizeof *s);
  replay_state_init(s);
  return s;
}

static void fold_stream(struct replay_state *s, uint64_t seed, unsigned n, unsigned from, unsigned to)
{
  struct rp_gen *g = malloc(sizeof *g);
  rp_gen_init(g, seed);
  struct journal_record r;
  struct replay_effects fx;
  for (unsigned i = 0; i < n; i++) {
    rp_gen_next(g, &r);
    if (i >= from && i < to) replay_apply(s, &r, &fx);
  }
  free(g);
}

static void hex(const uint8_t *h, char out[65]) { journal_hex(h, 32, out); }

static void declare(struct replay_state *s, uint32_t version)
{
  struct journal_record r;
  struct replay_effects fx;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_BOOT;
  r.body.boot.reducer_version = version;
  replay_apply(s, &r, &fx);
}

static void test_golden_hash(void **st)
{
  (void)st;
  assert_int_equal(sizeof golden / sizeof golden[0], REPLAY_REDUCER_VERSION - REPLAY_REDUCER_BASE + 1);
  for (size_t k = 0; k < sizeof golden / sizeof golden[0]; k++) {
    struct replay_state *a = poisoned(0xA5), *b = poisoned(0x00);
    if (golden[k].version != REPLAY_REDUCER_BASE) { declare(a, golden[k].version); declare(b, golden[k].version); }
    assert_int_equal(a->reducer_version, golden[k].version);
    fold_stream(a, 42, 20000, 0, 20000);
    fold_stream(b, 42, 20000, 0, 20000);
    uint8_t ha[32], hb[32];
    char hx[65];
    replay_state_hash(a, ha);
    replay_state_hash(b, hb);
    hex(ha, hx);
    printf("golden state hash (reducer v%u): %s\n", golden[k].version, hx);
    assert_memory_equal(ha, hb, 32);
    assert_string_equal(hx, golden[k].hash);
    /* the fold did real work */
    assert_true(a->windows > 10000 && a->requests > 1000 && a->commands + a->refusals > 100);
    free(a);
    free(b);
  }
}

/* Record times from outside (a hostile checkpoint, a broken clock): the random stream folded
 * with times at and around the int64 extremes and DR durations up to UINT64_MAX, under every
 * version. The ASan+UBSan build aborts on any signed overflow; a DR event's end is saturated,
 * never before its start. */
static void test_hostile_times(void **st)
{
  (void)st;
  static const int64_t t[] = { INT64_MIN, INT64_MIN + 1, -1, 0, 1, INT64_MAX - 1, INT64_MAX,
                               1800000000000000000ll };
  for (uint32_t v = REPLAY_REDUCER_BASE; v <= REPLAY_REDUCER_VERSION; v++) {
    struct replay_state *s = poisoned(0);
    if (v != REPLAY_REDUCER_BASE) declare(s, v);
    struct rp_gen *g = malloc(sizeof *g);
    rp_gen_init(g, 7);
    struct journal_record r;
    struct replay_effects fx;
    for (unsigned i = 0; i < 20000; i++) {
      rp_gen_next(g, &r);
      r.wall_ns = t[(i * 7 + i / 13) % (sizeof t / sizeof t[0])];
      if (r.type == JOURNAL_T_REQUEST && (i & 1)) {
        r.body.request.duration_ns = UINT64_MAX - i;
        r.body.request.start_ns = t[i % (sizeof t / sizeof t[0])];
        r.body.request.expiry_ns = t[(i / 3) % (sizeof t / sizeof t[0])];
      }
      replay_apply(s, &r, &fx);
      for (unsigned k = 0; k < REPLAY_DR_EVENTS; k++)
        if (s->pol.dr[k].request_seq) assert_true(s->pol.dr[k].end_ns >= s->pol.dr[k].start_ns);
    }
    uint8_t h[32];
    replay_state_hash(s, h);
    assert_int_equal(s->reducer_version, v);
    assert_true(s->records > 10000 && s->windows > 5000); /* the fold did real work */
    free(g);
    free(s);
  }
}

/* A version is never lowered, and one this code does not know folds as its newest. */
static void test_version_declared(void **st)
{
  (void)st;
  struct replay_state *s = poisoned(0);
  assert_int_equal(s->reducer_version, REPLAY_REDUCER_BASE);
  declare(s, 0);
  assert_int_equal(s->reducer_version, REPLAY_REDUCER_BASE);
  declare(s, 5);
  assert_int_equal(s->reducer_version, 5);
  declare(s, 4);
  assert_int_equal(s->reducer_version, 5);
  declare(s, 99);
  assert_int_equal(s->reducer_version, REPLAY_REDUCER_VERSION);
  free(s);
}

static void test_seals_ignored(void **st)
{
  (void)st;
  struct replay_state *a = poisoned(0), *b = poisoned(0);
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_SEAL;
  r.seq = 99;
  r.wall_ns = 12345;
  memset(r.body.seal.state_hash, 7, 32);
  struct replay_effects fx;
  replay_apply(a, &r, &fx);
  assert_int_equal(fx.n, 0);
  uint8_t ha[32], hb[32];
  replay_state_hash(a, ha);
  replay_state_hash(b, hb);
  assert_memory_equal(ha, hb, 32);
  free(a);
  free(b);
}

/* Property: for random streams and random split points, fold(0..k) → checkpoint → decode into
 * poisoned memory → fold(k..n) equals fold(0..n). */
static void test_split_fold_property(void **st)
{
  (void)st;
  uint64_t rs = 7;
  uint8_t *buf = malloc(REPLAY_CHECKPOINT_BYTES);
  for (int round = 0; round < 25; round++) {
    uint64_t seed = rp_rand(&rs);
    unsigned n = 500 + rp_below(&rs, 4000);
    unsigned k = rp_below(&rs, n + 1);
    struct replay_state *full = poisoned(0x33), *part = poisoned(0x5c), *resumed = malloc(sizeof *resumed);
    fold_stream(full, seed, n, 0, n);
    fold_stream(part, seed, n, 0, k);
    replay_checkpoint_encode(part, part->seq, buf);
    memset(resumed, 0xEE, sizeof *resumed);
    uint64_t cseq;
    assert_int_equal(replay_checkpoint_decode(buf, REPLAY_CHECKPOINT_BYTES, 0, resumed, &cseq), 0);
    assert_int_equal(cseq, part->seq);
    fold_stream(resumed, seed, n, k, n);
    uint8_t h1[32], h2[32];
    replay_state_hash(full, h1);
    replay_state_hash(resumed, h2);
    assert_memory_equal(h1, h2, 32);
    free(full);
    free(part);
    free(resumed);
  }
  free(buf);
}

static void test_checkpoint_rejects(void **st)
{
  (void)st;
  struct replay_state *s = poisoned(0), *out = malloc(sizeof *out);
  fold_stream(s, 5, 2000, 0, 2000);
  uint8_t *buf = malloc(REPLAY_CHECKPOINT_BYTES);
  uint64_t seq;
  replay_checkpoint_encode(s, s->seq, buf);
  assert_int_equal(replay_checkpoint_decode(buf, REPLAY_CHECKPOINT_BYTES, 0, out, &seq), 0);
  assert_int_equal(replay_checkpoint_decode(buf, REPLAY_CHECKPOINT_BYTES - 1, 0, out, &seq), JOURNAL_ECORRUPT);
  assert_int_equal(replay_checkpoint_decode(buf, REPLAY_CHECKPOINT_BYTES, s->config_version + 1, out, &seq), JOURNAL_EVERSION);
  buf[REPLAY_CHECKPOINT_HEADER + 100] ^= 0x01; /* flipped byte in the state */
  assert_int_equal(replay_checkpoint_decode(buf, REPLAY_CHECKPOINT_BYTES, 0, out, &seq), JOURNAL_ECORRUPT);
  /* hashes recomputed, as a forger can: fields the fold indexes or copies by must be in range
   * (phases A, B, C, N; the 8-entry command ring; the 64-byte request id) */
  for (int k = 0; k < 3; k++) {
    struct replay_state *bad = poisoned(0);
    memcpy(bad, s, sizeof *bad);
    if (k == 0) bad->br[2].phase = REPLAY_PHASES + 1;
    if (k == 1) bad->br[0].ops_head = REPLAY_OPS_RING;
    if (k == 2) bad->br[47].want_id_len = REPLAY_REQUEST_ID_MAX + 1;
    replay_checkpoint_encode(bad, bad->seq, buf);
    assert_int_equal(replay_checkpoint_decode(buf, REPLAY_CHECKPOINT_BYTES, 0, out, &seq), JOURNAL_ECORRUPT);
    free(bad);
  }
  free(buf);
  free(s);
  free(out);
}

/* ---- decisions */

static struct journal_record req(uint64_t seq, int64_t wall, uint16_t target, uint8_t desired, uint8_t role,
                                 const char *id)
{
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_REQUEST;
  r.seq = seq;
  r.wall_ns = wall;
  r.source.kind = JOURNAL_SRC_OPERATOR;
  r.body.request.target = target;
  r.body.request.desired = desired;
  r.body.request.role = role;
  r.body.request.origin = JOURNAL_ORIGIN_OPERATOR;
  r.body.request.request_id = rp_lit(id);
  return r;
}

static struct replay_effect decide(struct replay_state *s, struct journal_record r)
{
  struct replay_effects fx;
  replay_apply(s, &r, &fx);
  assert_int_equal(fx.n, 1);
  return fx.e[0];
}

static void answer(struct replay_state *s, uint64_t seq, const struct replay_effect *e)
{
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.seq = seq;
  r.wall_ns = s->wall_ns;
  r.type = e->kind == REPLAY_EFFECT_COMMAND ? JOURNAL_T_COMMAND : JOURNAL_T_REFUSAL;
  r.body.command.target = e->target; /* command and refusal share the leading layout */
  r.body.command.desired = e->desired;
  r.body.command.reason = e->reason;
  r.body.command.cause_seq = e->cause_seq;
  if (r.type == JOURNAL_T_REFUSAL) {
    memset(&r.body, 0, sizeof r.body);
    r.body.refusal.target = e->target;
    r.body.refusal.desired = e->desired;
    r.body.refusal.reason = e->reason;
    r.body.refusal.cause_seq = e->cause_seq;
  }
  replay_apply(s, &r, NULL);
}

static void test_requests(void **st)
{
  (void)st;
  struct replay_state *s = poisoned(0xA5);
  int64_t t = 1000000000000ll;
  /* a viewer may not switch */
  struct replay_effect e = decide(s, req(1, t, 7, 1, JOURNAL_ROLE_VIEWER, "v-1"));
  assert_int_equal(e.kind, REPLAY_EFFECT_REFUSAL);
  assert_int_equal(e.reason, JOURNAL_REF_ROLE);
  answer(s, 2, &e);
  /* an operator may; the command names the request */
  e = decide(s, req(3, t + 1, 7, 1, JOURNAL_ROLE_OPERATOR, "bar-1"));
  assert_int_equal(e.kind, REPLAY_EFFECT_COMMAND);
  assert_int_equal(e.reason, JOURNAL_CMD_OPERATOR);
  assert_int_equal(e.target, 7);
  assert_int_equal(e.cause_seq, 3);
  assert_int_equal(e.request_id_len, 5);
  assert_memory_equal(e.request_id, "bar-1", 5);
  answer(s, 4, &e);
  assert_int_equal(s->br[6].commanded, REPLAY_ON);
  uint64_t commands = s->commands;
  /* the same id and body again: the stored outcome, no second command */
  e = decide(s, req(5, t + 2, 7, 1, JOURNAL_ROLE_OPERATOR, "bar-1"));
  assert_int_equal(e.kind, REPLAY_EFFECT_REPLY);
  assert_int_equal(e.stored_kind, REPLAY_EFFECT_COMMAND);
  assert_int_equal(e.stored_seq, 3);
  assert_int_equal(e.stored_outcome_seq, 4);
  assert_int_equal(s->commands, commands);
  /* the viewer's id repeated gets its stored refusal */
  e = decide(s, req(6, t + 3, 7, 1, JOURNAL_ROLE_VIEWER, "v-1"));
  assert_int_equal(e.kind, REPLAY_EFFECT_REPLY);
  assert_int_equal(e.stored_kind, REPLAY_EFFECT_REFUSAL);
  assert_int_equal(e.reason, JOURNAL_REF_ROLE);
  /* the same id with another body: conflict */
  e = decide(s, req(7, t + 4, 7, 0, JOURNAL_ROLE_OPERATOR, "bar-1"));
  assert_int_equal(e.kind, REPLAY_EFFECT_REFUSAL);
  assert_int_equal(e.reason, JOURNAL_REF_CONFLICT);
  /* expired */
  struct journal_record x = req(8, t + 5, 8, 1, JOURNAL_ROLE_OPERATOR, "exp-1");
  x.body.request.expiry_ns = t + 4;
  e = decide(s, x);
  assert_int_equal(e.kind, REPLAY_EFFECT_REFUSAL);
  assert_int_equal(e.reason, JOURNAL_REF_EXPIRED);
  /* service needs admin or utility */
  e = decide(s, req(9, t + 6, JOURNAL_TARGET_SERVICE, 0, JOURNAL_ROLE_OPERATOR, "svc-1"));
  assert_int_equal(e.reason, JOURNAL_REF_ROLE);
  e = decide(s, req(10, t + 7, JOURNAL_TARGET_SERVICE, 0, JOURNAL_ROLE_UTILITY, "svc-2"));
  assert_int_equal(e.kind, REPLAY_EFFECT_COMMAND);
  /* unknown branch */
  e = decide(s, req(11, t + 8, 49, 1, JOURNAL_ROLE_ADMIN, "x-49"));
  assert_int_equal(e.reason, JOURNAL_REF_UNKNOWN_TARGET);
  free(s);
}

static void test_request_window_bounds(void **st)
{
  (void)st;
  struct replay_state *s = poisoned(0);
  int64_t t = 5000000000000ll;
  uint64_t seq = 1;
  struct replay_effect e = decide(s, req(seq++, t, 3, 1, JOURNAL_ROLE_OPERATOR, "old"));
  assert_int_equal(e.kind, REPLAY_EFFECT_COMMAND);
  /* 4096 other ids push "old" out: it is unknown again (a new decision, not a reply) */
  char id[32];
  for (int i = 0; i < REPLAY_REQ_WINDOW_IDS; i++) {
    snprintf(id, sizeof id, "fill-%d", i);
    decide(s, req(seq++, t + 1, 4, 1, JOURNAL_ROLE_OPERATOR, id));
  }
  assert_int_equal(s->req_count, REPLAY_REQ_WINDOW_IDS);
  e = decide(s, req(seq++, t + 2, 3, 0, JOURNAL_ROLE_OPERATOR, "old"));
  assert_int_equal(e.kind, REPLAY_EFFECT_COMMAND); /* not conflict: the id left the window */
  /* and by age: 24 h later every id is unknown again */
  e = decide(s, req(seq++, t + 3, 3, 1, JOURNAL_ROLE_OPERATOR, "fill-4095"));
  assert_int_equal(e.kind, REPLAY_EFFECT_REFUSAL); /* still known: other body → conflict */
  e = decide(s, req(seq++, t + 3 + REPLAY_REQ_WINDOW_NS + 10, 3, 1, JOURNAL_ROLE_OPERATOR, "fill-4095"));
  assert_int_equal(e.kind, REPLAY_EFFECT_COMMAND);
  assert_int_equal(s->req_count, 1);
  free(s);
}

static void test_breaker_and_alarms(void **st)
{
  (void)st;
  struct replay_state *s = poisoned(0);
  int64_t t = 9000000000000ll;
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.seq = 1;
  r.wall_ns = t;
  r.type = JOURNAL_T_TRIP_TAP;
  r.source = (struct journal_source){ JOURNAL_SRC_TAP, JOURNAL_TAP_MCB, 5, "" };
  r.body.trip_tap.kind = JOURNAL_TAP_MCB;
  r.body.trip_tap.edge = JOURNAL_EDGE_RISING;
  r.body.trip_tap.branch = 5;
  replay_apply(s, &r, NULL);
  assert_int_equal(s->br[4].breaker_open, 1);
  assert_true(s->br[4].alarms & REPLAY_ALARM_UNEXPLAINED_TRIP); /* no evidence before it */
  struct replay_effect e = decide(s, req(2, t + 1, 5, 1, JOURNAL_ROLE_OPERATOR, "b5"));
  assert_int_equal(e.kind, REPLAY_EFFECT_REFUSAL);
  assert_int_equal(e.reason, JOURNAL_REF_BREAKER_OPEN);
  /* an overload window before a trip explains it */
  struct journal_record ov;
  memset(&ov, 0, sizeof ov);
  ov.type = JOURNAL_T_WINDOW;
  ov.seq = 3;
  ov.wall_ns = t + 2;
  ov.body.window.nch = 1;
  ov.body.window.ch[0] = (struct journal_window_channel){ 3, JOURNAL_CH_CURRENT, 0, 6, 25000, -36000, 36000, 0, 0, 0, false };
  replay_apply(s, &ov, NULL);
  r.seq = 4;
  r.wall_ns = t + 3;
  r.body.trip_tap.branch = 6;
  replay_apply(s, &r, NULL);
  assert_int_equal(s->br[5].breaker_open, 1);
  assert_false(s->br[5].alarms & REPLAY_ALARM_UNEXPLAINED_TRIP);
  /* welded sense-back */
  memset(&r, 0, sizeof r);
  r.seq = 5;
  r.wall_ns = t + 4;
  r.type = JOURNAL_T_SENSE_BACK;
  r.source = (struct journal_source){ JOURNAL_SRC_BRANCH, 0, 9, "" };
  r.body.sense_back.target = 9;
  r.body.sense_back.verdict = JOURNAL_VERDICT_WELDED;
  r.body.sense_back.sensed = JOURNAL_SENSED_ON;
  replay_apply(s, &r, NULL);
  assert_int_equal(s->br[8].fault, REPLAY_V_WELDED);
  assert_true(s->br[8].alarms & REPLAY_ALARM_WELDED);
  /* stale DER: a pv update, then a window 11 s later */
  memset(&r, 0, sizeof r);
  r.seq = 6;
  r.wall_ns = t + 3;
  r.type = JOURNAL_T_DER;
  r.source = (struct journal_source){ JOURNAL_SRC_DER, JOURNAL_DER_PV, 0, "" };
  r.body.der.source = JOURNAL_DER_PV;
  r.body.der.fresh = 1;
  r.body.der.interlock_ok = 1;
  replay_apply(s, &r, NULL);
  assert_false(s->alarms & REPLAY_ALARM_STALE_DER);
  struct journal_record win;
  memset(&win, 0, sizeof win);
  win.type = JOURNAL_T_WINDOW;
  win.seq = 7;
  win.wall_ns = t + 3 + 11000000000ll;
  win.body.window.npow = 1;
  win.body.window.pow[0].branch = 2;
  win.body.window.pow[0].import_uwh = -40; /* sign error: never reduces the total */
  win.body.window.pow[0].export_uwh = 10;
  replay_apply(s, &win, NULL);
  assert_true(s->alarms & REPLAY_ALARM_STALE_DER);
  assert_int_equal(s->br[1].import_uwh, 0);
  assert_int_equal(s->br[1].export_uwh, 10);
  assert_true(s->br[1].alarms & REPLAY_ALARM_CT_POLARITY);
  free(s);
}

/* Reducer v 6 against v 5, record by record: a trip_tap naming an earlier one (of_seq: the
 * capture of an edge already journaled) is no edge under v 6 — no trip counted, no breaker state
 * touched — while v 5 (whose journals never hold one) takes every trip_tap as an edge; and a
 * fault{phase_map_mismatch} raises the branch's phase_map alarm under v 6 only. */
static void test_v6_rules(void **st)
{
  (void)st;
  for (uint32_t v = 5; v <= 6; v++) {
    struct replay_state *s = poisoned(0);
    declare(s, v);
    struct journal_record r;
    memset(&r, 0, sizeof r);
    r.seq = 10;
    r.wall_ns = 9000000000000ll;
    r.type = JOURNAL_T_TRIP_TAP;
    r.source = (struct journal_source){ JOURNAL_SRC_TAP, JOURNAL_TAP_AFCI, 7, "" };
    r.body.trip_tap.kind = JOURNAL_TAP_AFCI;
    r.body.trip_tap.edge = JOURNAL_EDGE_FALLING; /* the edge: a reset breaker, nothing open */
    r.body.trip_tap.branch = 7;
    replay_apply(s, &r, NULL);
    assert_int_equal(s->trip_taps, 1);
    /* the capture record of that edge, journaled when the capture completed: a rising edge's
     * fields would open the breaker if it were taken as an edge */
    r.seq = 12;
    r.body.trip_tap.edge = JOURNAL_EDGE_RISING;
    r.body.trip_tap.of_seq = 10;
    memset(r.body.trip_tap.capture, 0xC4, 32);
    replay_apply(s, &r, NULL);
    assert_int_equal(s->trip_taps, v >= 6 ? 1 : 2);
    assert_int_equal(s->br[6].breaker_open, v >= 6 ? 0 : 1);
    assert_int_equal(s->br[6].trips, v >= 6 ? 0 : 1);
    /* the daemon's phase-map check */
    memset(&r, 0, sizeof r);
    r.seq = 13;
    r.wall_ns = 9000000001000ll;
    r.type = JOURNAL_T_FAULT;
    r.body.fault.code = (struct journal_slice){ (const uint8_t *)"phase_map_mismatch", 18 };
    r.body.fault.branch = 3;
    replay_apply(s, &r, NULL);
    assert_int_equal(!!(s->br[2].alarms & REPLAY_ALARM_PHASE_MAP), v >= 6);
    assert_int_equal(s->br[3].alarms & REPLAY_ALARM_PHASE_MAP, 0);
    free(s);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_golden_hash),
    cmocka_unit_test(test_version_declared),
    cmocka_unit_test(test_hostile_times),
    cmocka_unit_test(test_seals_ignored),
    cmocka_unit_test(test_split_fold_property),
    cmocka_unit_test(test_checkpoint_rejects),
    cmocka_unit_test(test_requests),
    cmocka_unit_test(test_request_window_bounds),
    cmocka_unit_test(test_breaker_and_alarms),
    cmocka_unit_test(test_v6_rules),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
