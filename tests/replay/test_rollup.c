/*
 * test_rollup.c — reducer v 9's 15-minute rollups (replay/reduce/reduce_rollup.c).
 *
 * - The rules, on a hand-built stream whose expected rollups the test adds up itself from the
 *   values it put into the windows: clock-aligned intervals; a window counts by its start_ns,
 *   also when it arrives after another AFE's first window of the next interval; the older
 *   interval closes only a grace after its end; a late window after the close counts in the next
 *   one and is counted as late; a jump past both open intervals closes them; negative energy
 *   deltas count 0; half-cycle extremes for V min/max when measured; commands and trips by
 *   record time; last_seq/last_hash name the record before the closing one.
 * - A fold split by a checkpoint (encode/decode) closes the same rollups.
 * - replay --check against a journal written through the live harness: every rollup compared,
 *   none differs; a rollup whose energy was changed, and one left out, are divergences named
 *   at their seq.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "replay.h"
#include "rp_util.h"

#define S 1000000000ll
#define T0 (1796589000ll * S) /* a multiple of 900 s */

struct stream {
  struct journal_record r[4096];
  unsigned n;
};

static struct journal_record *add(struct stream *st, unsigned type, int64_t wall)
{
  assert_true(st->n < 4096);
  struct journal_record *r = &st->r[st->n++];
  memset(r, 0, sizeof *r);
  r->type = (uint16_t)type;
  r->seq = st->n;
  r->wall_ns = wall;
  r->version = JOURNAL_SCHEMA_V3;
  /* a prev the test can tell apart: seq - 1 in the first bytes */
  memset(r->prev, 0xAB, sizeof r->prev);
  for (int i = 0; i < 8; i++) r->prev[i] = (uint8_t)((r->seq - 1) >> (8 * i));
  return r;
}

/* What the test expects of one interval, added up from the inputs. */
struct want_branch { int64_t imp, exp, pmin, pmax, psum; uint32_t n, events, trips, commands; };
struct want_phase { int32_t vmin, vmax; int64_t vsum; uint32_t n; };
struct want { struct want_branch b[4]; struct want_phase ph[3]; uint32_t late; };

static void want_window_power(struct want *w, unsigned branch, int64_t p, int64_t imp, int64_t exp)
{
  struct want_branch *b = &w->b[branch];
  if (!b->n || p < b->pmin) b->pmin = p;
  if (!b->n || p > b->pmax) b->pmax = p;
  b->psum += p;
  b->imp += imp > 0 ? imp : 0;
  b->exp += exp > 0 ? exp : 0;
  b->n++;
}

/* AFE 1: branches 1 and 2 and the three phase voltages; AFE 2: branch 3. k: seconds after T0. */
static void window(struct stream *st, struct want *w, unsigned afe, int k, int64_t wall)
{
  struct journal_record *r = add(st, JOURNAL_T_WINDOW, wall);
  r->source.kind = JOURNAL_SRC_AFE;
  r->source.index = (uint16_t)afe;
  struct journal_window *win = &r->body.window;
  win->afe = (uint16_t)afe;
  win->start_ns = T0 + (int64_t)k * S;
  win->duration_us = 1000000;
  if (afe == 1) {
    for (int ph = 0; ph < 3; ph++) {
      struct journal_window_channel *c = &win->ch[win->nch++];
      c->kind = JOURNAL_CH_VOLTAGE;
      c->phase = (uint8_t)ph;
      c->rms_m = 230000 + (k % 7) * 10 + ph;
      c->hrms_min_m = k == 600 ? 0 : c->rms_m - 500 - (k % 3);
      c->hrms_max_m = k == 600 ? 0 : c->rms_m + 400 + (k % 5) + (k == 777 ? 20000 : 0); /* a swell */
      struct want_phase *q = &w->ph[ph];
      int32_t lo = k == 600 ? c->rms_m : c->hrms_min_m, hi = k == 600 ? c->rms_m : c->hrms_max_m;
      if (!q->n || lo < q->vmin) q->vmin = lo;
      if (!q->n || hi > q->vmax) q->vmax = hi;
      q->vsum += c->rms_m;
      q->n++;
    }
    for (unsigned b = 1; b <= 2; b++) {
      struct journal_window_channel *c = &win->ch[win->nch++];
      c->kind = JOURNAL_CH_CURRENT;
      c->branch = (uint16_t)b;
      c->rms_m = 1000;
      c->event = b == 2 && k == 300;
      if (c->event) w->b[2].events++;
      struct journal_window_power *p = &win->pow[win->npow++];
      p->branch = (uint16_t)b;
      p->p_mw = b == 1 ? 100000 + 37 * k : -(2000 + 3 * k);
      p->import_uwh = b == 1 ? (k == 50 ? -5 : p->p_mw / 4) : 0; /* k 50: a sign error counts 0 */
      p->export_uwh = b == 2 ? 7 : 0;
      want_window_power(w, b, p->p_mw, p->import_uwh, p->export_uwh);
    }
  } else {
    struct journal_window_channel *c = &win->ch[win->nch++];
    c->kind = JOURNAL_CH_CURRENT;
    c->branch = 3;
    c->rms_m = 500;
    struct journal_window_power *p = &win->pow[win->npow++];
    p->branch = 3;
    p->p_mw = k % 2 ? 500 : -100;
    p->import_uwh = p->p_mw > 0 ? 3 : 0;
    p->export_uwh = p->p_mw < 0 ? 2 : 0;
    want_window_power(w, 3, p->p_mw, p->import_uwh, p->export_uwh);
  }
}

static void check(const struct journal_rollup *got, const struct want *w, int64_t start, uint64_t first_seq,
                  const struct journal_record *closer)
{
  assert_int_equal(got->start, start);
  assert_int_equal(got->duration_s, 900);
  assert_int_equal(got->first_seq, first_seq);
  assert_int_equal(got->last_seq, closer->seq - 1);
  assert_memory_equal(got->last_hash, closer->prev, 32);
  assert_int_equal(got->late_windows, w->late);
  unsigned nb = 0;
  for (unsigned b = 1; b <= 3; b++) {
    const struct want_branch *x = &w->b[b];
    if (!x->n && !x->trips && !x->commands) continue;
    const struct journal_rollup_branch *g = &got->br[nb++];
    assert_int_equal(g->branch, b);
    assert_int_equal(g->windows, x->n);
    assert_int_equal(g->import_uwh, x->imp);
    assert_int_equal(g->export_uwh, x->exp);
    assert_int_equal(g->p_min_mw, x->pmin);
    assert_int_equal(g->p_max_mw, x->pmax);
    assert_int_equal(g->p_mean_mw, x->psum / (int64_t)x->n);
    assert_int_equal(g->events, x->events);
    assert_int_equal(g->trips, x->trips);
    assert_int_equal(g->commands, x->commands);
  }
  assert_int_equal(got->nbr, nb);
  assert_int_equal(got->nph, 3);
  for (unsigned ph = 0; ph < 3; ph++) {
    assert_int_equal(got->ph[ph].phase, ph);
    assert_int_equal(got->ph[ph].windows, w->ph[ph].n);
    assert_int_equal(got->ph[ph].v_min_mv, w->ph[ph].vmin);
    assert_int_equal(got->ph[ph].v_max_mv, w->ph[ph].vmax);
    assert_int_equal(got->ph[ph].v_mean_mv, (int32_t)(w->ph[ph].vsum / (int64_t)w->ph[ph].n));
  }
}

/* The stream: I0 = [T0, T0+900 s), I1 = [T0+900 s, T0+1800 s), then a jump to T0+3000 s. */
static struct stream ST;
static struct want W0, W1;
static unsigned close0, close1; /* indexes of the records that close I0 and I1 */

static void build(void)
{
  memset(&ST, 0, sizeof ST);
  memset(&W0, 0, sizeof W0);
  memset(&W1, 0, sizeof W1);
  struct journal_record *r = add(&ST, JOURNAL_T_BOOT, T0 - 5 * S);
  r->body.boot.reducer_version = 9;
  for (int k = 0; k < 920; k++) {
    struct want *w = k < 900 ? &W0 : &W1;
    window(&ST, w, 1, k, T0 + (int64_t)k * S + S / 2);
    if (k == 910) close0 = ST.n - 1; /* a grace (10 s) past I0's end: it closes */
    if (k == 900) window(&ST, &W0, 2, 899, T0 + 900 * S + S / 2 + 1); /* AFE 2's last of I0, after AFE 1's first of I1 */
    if (k != 899) window(&ST, w, 2, k, T0 + (int64_t)k * S + S / 2 + 2);
    if (k == 100) { /* a trip of branch 3 (rising rcd) */
      r = add(&ST, JOURNAL_T_TRIP_TAP, T0 + 100 * S + S / 2 + 3);
      r->body.trip_tap.kind = JOURNAL_TAP_RCD;
      r->body.trip_tap.edge = JOURNAL_EDGE_RISING;
      r->body.trip_tap.branch = 3;
      W0.b[3].trips++;
    }
    if (k == 200 || k == 905) { /* commands for branch 1: I0, and I1 while I0 is still open */
      r = add(&ST, JOURNAL_T_COMMAND, T0 + (int64_t)k * S + S / 2 + 3);
      r->body.command.target = 1;
      r->body.command.desired = JOURNAL_DESIRED_OFF;
      (k < 900 ? &W0 : &W1)->b[1].commands++;
    }
  }
  window(&ST, &W1, 2, 500, T0 + 920 * S); /* very late: I0 is closed, it counts in I1 as late */
  W1.late++;
  window(&ST, &W1, 2, 901, T0 + 920 * S + 1);
  close1 = ST.n;
  struct want scratch;
  memset(&scratch, 0, sizeof scratch);
  window(&ST, &scratch, 1, 3000, T0 + 3000 * S); /* two intervals past I1's start: closes it */
}

static void fold(struct replay_state *s, unsigned from, unsigned to, struct journal_rollup out[4], unsigned at[4],
                 unsigned *nout)
{
  struct replay_effects *fx = malloc(sizeof *fx);
  for (unsigned i = from; i < to; i++) {
    replay_apply(s, &ST.r[i], fx);
    for (unsigned k = 0; k < fx->nrollup; k++) {
      assert_true(*nout < 4);
      out[*nout] = fx->rollup[k];
      at[(*nout)++] = i;
    }
  }
  free(fx);
}

/* I1's first record is AFE 1's window at k 900. */
static uint64_t first_of_i1(void)
{
  for (unsigned i = 0; i < ST.n; i++)
    if (ST.r[i].type == JOURNAL_T_WINDOW && ST.r[i].body.window.start_ns == T0 + 900 * S) return ST.r[i].seq;
  fail_msg("no window at T0+900 s");
  return 0;
}

static void test_rules(void **st)
{
  (void)st;
  build();
  struct replay_state *s = malloc(sizeof *s);
  replay_state_init(s);
  static struct journal_rollup got[4];
  unsigned at[4], n = 0;
  fold(s, 0, ST.n, got, at, &n);
  assert_int_equal(s->reducer_version, 9);
  assert_int_equal(n, 2);
  assert_int_equal(at[0], close0);
  assert_int_equal(at[1], close1);
  check(&got[0], &W0, T0, 2 /* the first window after the boot */, &ST.r[close0]);
  check(&got[1], &W1, T0 + 900 * S, first_of_i1(), &ST.r[close1]);
  /* AFE 2's k 899 went to I0 though it came after I1 began; the late one and k 901 twice to I1 */
  assert_int_equal(W0.b[3].n, 900);
  assert_int_equal(W1.b[3].n, 22);
  free(s);
}

/* Folding up to any point, checkpointing (encode/decode) and folding on closes the same rollups. */
static void test_checkpoint_split(void **st)
{
  (void)st;
  build();
  struct replay_state *a = malloc(sizeof *a), *b = malloc(sizeof *b);
  static struct journal_rollup ra[4], rb[4];
  unsigned at_a[4], at_b[4], na = 0;
  replay_state_init(a);
  fold(a, 0, ST.n, ra, at_a, &na);
  static uint8_t buf[REPLAY_CHECKPOINT_BYTES];
  static const unsigned cuts[] = { 1, 700, 1799, 1802, 1830, 1845 };
  for (unsigned c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
    unsigned cut = cuts[c] < ST.n ? cuts[c] : ST.n - 1, nb = 0;
    replay_state_init(b);
    fold(b, 0, cut, rb, at_b, &nb);
    replay_checkpoint_encode(b, ST.r[cut - 1].seq, buf);
    memset(b, 0x5A, sizeof *b);
    uint64_t cseq;
    assert_int_equal(replay_checkpoint_decode(buf, sizeof buf, 0, b, &cseq), 0);
    fold(b, cut, ST.n, rb, at_b, &nb);
    assert_int_equal(nb, na);
    for (unsigned i = 0; i < na; i++) {
      assert_int_equal(at_b[i], at_a[i]);
      assert_memory_equal(&rb[i], &ra[i], sizeof ra[i]);
    }
    uint8_t ha[32], hb[32];
    replay_state_hash(a, ha);
    replay_state_hash(b, hb);
    assert_memory_equal(ha, hb, 32);
  }
  free(a);
  free(b);
}

/* ---- replay --check against a journal written through the live harness */

struct vclock { uint64_t mono; int64_t wall; };
static void vclock_now(void *ctx, uint64_t *mono, int64_t *wall, uint8_t *tq)
{
  struct vclock *c = ctx;
  *mono = c->mono;
  *wall = c->wall;
  *tq = JOURNAL_TQ_SYNCED;
}

static char *write_journal(void)
{
  char *dir = rp_mkdtemp();
  struct vclock vc = { 1000000000ull, T0 + 700 * S };
  struct journal_options jo;
  memset(&jo, 0, sizeof jo);
  jo.dir = dir;
  jo.clock.now = vclock_now;
  jo.clock.ctx = &vc;
  memset(jo.boot_id, 0x22, sizeof jo.boot_id);
  static const uint8_t seed[32] = { 9, 8, 7 };
  assert_int_equal(journal_keys_create(dir, seed), 0);
  assert_int_equal(journal_create(&jo, "{\"branches\":4}", 15, "test"), 0);
  struct replay_harness *h = calloc(1, sizeof *h);
  struct replay_harness_options ho = { 1000, INT64_MAX, false };
  replay_harness_init(h, &ho, &jo);
  struct journal *j;
  struct journal_open_info info;
  int pid;
  assert_int_equal(journal_open(&j, &jo, &info, &pid), 0);
  assert_int_equal(replay_harness_attach(h, j), 0);
  struct journal_record *r = calloc(1, sizeof *r);
  r->type = JOURNAL_T_BOOT;
  r->body.boot.reducer_version = REPLAY_REDUCER_VERSION;
  r->body.boot.rail_status = rp_lit("ok");
  r->body.boot.reset_reason = rp_lit("test");
  r->body.boot.firmware_version = rp_lit("test");
  assert_int_equal(replay_harness_append(h, r, NULL, NULL, NULL), 0);
  /* 40 minutes of two AFEs: rollups close at T0+910 s and T0+1810 s */
  struct want scratch;
  for (int k = 700; k < 2500; k++) {
    for (unsigned afe = 1; afe <= 2; afe++) {
      vc.mono += 500000000ull;
      vc.wall = T0 + (int64_t)k * S + (int64_t)afe * 100000000ll;
      memset(&scratch, 0, sizeof scratch);
      memset(&ST, 0, sizeof ST.r[0]);
      ST.n = 0;
      window(&ST, &scratch, afe, k, vc.wall);
      *r = ST.r[0];
      assert_int_equal(replay_harness_append(h, r, NULL, NULL, NULL), 0);
    }
  }
  assert_int_equal(journal_close(j), 0);
  free(r);
  free(h);
  return dir;
}

struct mem_src { uint8_t **rec; size_t *len; uint64_t *seq; unsigned n, i; };
static int mem_next(void *ctx, uint64_t *seq, const uint8_t **bytes, size_t *len, const char **why)
{
  (void)why;
  struct mem_src *m = ctx;
  if (m->i == m->n) return 0;
  *seq = m->seq[m->i];
  *bytes = m->rec[m->i];
  *len = m->len[m->i];
  m->i++;
  return 1;
}

struct divs { uint64_t seq[16]; char what[16][200]; int n; };
static void on_div(void *ctx, const struct replay_divergence *d)
{
  struct divs *v = ctx;
  if (v->n < 16) { v->seq[v->n] = d->seq; snprintf(v->what[v->n], 200, "%s", d->what); v->n++; }
}

/* Folds the journal's records through a memory source: tamper 1 changes the first rollup's
 * energy, tamper 2 leaves it out. */
static void check_mem(const char *dir, int tamper, struct replay_result *res, struct divs *dv, uint64_t *rollup_seq,
                      uint64_t *closer_seq)
{
  struct journal_reader *rd;
  assert_int_equal(journal_reader_open(&rd, dir, NULL, false), 0);
  struct journal_iter *it;
  assert_int_equal(journal_iter_begin(rd, 1, &it), 0);
  struct mem_src m = { calloc(20000, sizeof(uint8_t *)), calloc(20000, sizeof(size_t)), calloc(20000, 8), 0, 0 };
  struct journal_record *rec = malloc(sizeof *rec);
  uint64_t seq;
  const uint8_t *b;
  size_t len;
  *rollup_seq = 0;
  int rc;
  while ((rc = journal_iter_next(it, &seq, &b, &len)) > 0) {
    assert_true(m.n < 20000);
    assert_int_equal(journal_record_decode(b, len, rec), 0);
    if (!*rollup_seq && rec->type != JOURNAL_T_SEAL && rec->type != JOURNAL_T_ROLLUP) *closer_seq = seq;
    if (rec->type == JOURNAL_T_ROLLUP && !*rollup_seq) {
      *rollup_seq = seq;
      if (tamper == 2) continue;
      if (tamper == 1) rec->body.rollup.br[0].import_uwh += 1;
    }
    uint8_t *copy = malloc(JOURNAL_RECORD_MAX);
    assert_int_equal(journal_record_encode(rec, copy, JOURNAL_RECORD_MAX, &m.len[m.n]), 0);
    m.rec[m.n] = copy;
    m.seq[m.n++] = seq;
  }
  assert_int_equal(rc, 0);
  journal_iter_end(it);
  journal_reader_close(rd);
  struct journal_record_source src;
  memset(&src, 0, sizeof src);
  src.next = mem_next;
  src.ctx = &m;
  struct replay_options o;
  memset(&o, 0, sizeof o);
  o.check = true;
  o.on_divergence = on_div;
  o.ctx = dv;
  struct replay_state *s = malloc(sizeof *s);
  replay_state_init(s);
  memset(res, 0, sizeof *res);
  assert_int_equal(replay_fold(s, &src, &o, res), 0);
  for (unsigned i = 0; i < m.n; i++) free(m.rec[i]);
  free(m.rec);
  free(m.len);
  free(m.seq);
  free(rec);
  free(s);
}

static void test_check(void **st)
{
  (void)st;
  char *dir = write_journal();
  /* the journal itself: every rollup compared, none differs */
  struct journal_reader *rd;
  assert_int_equal(journal_reader_open(&rd, dir, NULL, false), 0);
  struct replay_options o;
  memset(&o, 0, sizeof o);
  o.check = true;
  struct replay_state *s = malloc(sizeof *s);
  struct replay_result res;
  assert_int_equal(replay_dir(rd, &o, s, &res), 0);
  journal_reader_close(rd);
  assert_int_equal(res.divergences, 0);
  assert_int_equal(res.rollups_checked, 2);
  assert_true(res.seals_checked > 10);
  free(s);
  char *out;
  assert_int_equal(rp_run(&out, "replay --dir %s --check 2>&1", dir), 0);
  assert_non_null(strstr(out, "2 rollups compared, 0 divergence(s)"));
  free(out);
  assert_int_equal(rp_run(&out, "verify --dir %s 2>&1", dir), 0);
  free(out);

  struct divs dv;
  uint64_t rseq, closer;
  memset(&dv, 0, sizeof dv);
  check_mem(dir, 0, &res, &dv, &rseq, &closer);
  assert_int_equal(res.divergences, 0);
  assert_int_equal(res.rollups_checked, 2);

  memset(&dv, 0, sizeof dv);
  check_mem(dir, 1, &res, &dv, &rseq, &closer);
  assert_int_equal(res.divergences, 1);
  assert_int_equal(dv.seq[0], rseq);
  printf("changed: seq %llu: %s\n", (unsigned long long)dv.seq[0], dv.what[0]);
  assert_non_null(strstr(dv.what[0], "import_uwh"));

  memset(&dv, 0, sizeof dv);
  check_mem(dir, 2, &res, &dv, &rseq, &closer);
  assert_true(res.divergences >= 1); /* and every later seal: the record count in the state differs */
  assert_int_equal(res.first_divergence_seq, closer);
  assert_int_equal(dv.seq[0], closer); /* the window that closed it */
  printf("left out: seq %llu: %s\n", (unsigned long long)dv.seq[0], dv.what[0]);
  assert_non_null(strstr(dv.what[0], "before any rollup record"));
  rp_rm_rf(dir);
  free(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rules),
    cmocka_unit_test(test_checkpoint_split),
    cmocka_unit_test(test_check),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
