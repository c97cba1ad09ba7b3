/*
 * reduce_rollup.c — v 9: the 15-minute rollups (journal.h `struct journal_rollup`; docs/replay.md
 * "Rollups"), folded from the records like every other derived state.
 *
 * Intervals are clock aligned (start a multiple of REPLAY_ROLLUP_NS of wall time). A window counts
 * in the interval its start_ns falls in: energy (the same clamped deltas the totals add), power
 * min/sum/max, the voltage source's phase voltages, and the event flag of each branch's channel.
 * Two intervals are open at once, because AFEs report in turn: one AFE's first window of the next
 * interval may come before another's last window of this one. The older closes when a window
 * starts REPLAY_ROLLUP_GRACE_NS past its end, or both when one starts two intervals past the
 * older's start. A window that starts before the older open interval (its own interval already
 * closed: a very late window, or a clock stepped back) counts in the older one as a late window.
 * Commands and trips count in the open interval their record time falls in, else the newest.
 *
 * A closed interval becomes an effect (replay_effects.rollup), journaled by the harness as a
 * `rollup` record; replay --check compares it with the recorded one.
 */
#include "reduce_internal.h"

/* a + b saturated at either end (power sums may be negative: export) */
static inline int64_t sat_add_signed(int64_t a, int64_t b)
{
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}

static int64_t interval_of(int64_t t)
{
  int64_t q = t / REPLAY_ROLLUP_NS;
  if (t % REPLAY_ROLLUP_NS < 0) q--;
  int64_t start;
  if (__builtin_mul_overflow(q, REPLAY_ROLLUP_NS, &start)) return t; /* at the very end of time */
  return start;
}

static void open_slot(struct replay_rollup_slot *sl, int64_t start, uint64_t seq)
{
  memset(sl, 0, sizeof *sl);
  sl->open = 1;
  sl->start_ns = start;
  sl->first_seq = seq;
}

/* The interval as a rollup body; last_seq is the record before the closing one (r), whose prev
 * is its hash. */
static void close_slot(struct replay_rollup_slot *sl, const struct journal_record *r, struct replay_effects *out)
{
  if (out->nrollup < REPLAY_ROLLUPS_MAX) {
    struct journal_rollup *o = &out->rollup[out->nrollup++];
    memset(o, 0, sizeof *o);
    o->start = sl->start_ns;
    o->duration_s = (uint32_t)(REPLAY_ROLLUP_NS / 1000000000ll);
    o->first_seq = sl->first_seq;
    o->last_seq = r->seq - 1;
    memcpy(o->last_hash, r->prev, JOURNAL_HASH_BYTES);
    o->late_windows = sl->late_windows;
    for (int i = 0; i < REPLAY_BRANCHES_MAX; i++) {
      const struct replay_rollup_branch *b = &sl->br[i];
      if (!b->windows && !b->trips && !b->commands) continue;
      struct journal_rollup_branch *ob = &o->br[o->nbr++];
      ob->branch = (uint16_t)(i + 1);
      ob->windows = b->windows;
      ob->import_uwh = b->import_uwh;
      ob->export_uwh = b->export_uwh;
      if (b->windows) {
        ob->p_min_mw = b->p_min_mw;
        ob->p_max_mw = b->p_max_mw;
        ob->p_mean_mw = b->p_sum_mw / (int64_t)b->windows;
      }
      ob->events = b->events;
      ob->trips = b->trips;
      ob->commands = b->commands;
    }
    for (int k = 0; k < REPLAY_ROLLUP_PHASES; k++) {
      const struct replay_rollup_phase *p = &sl->ph[k];
      if (!p->windows) continue;
      struct journal_rollup_phase *op = &o->ph[o->nph++];
      op->phase = (uint8_t)k;
      op->windows = p->windows;
      op->v_min_mv = p->v_min_mv;
      op->v_max_mv = p->v_max_mv;
      op->v_mean_mv = (int32_t)(p->v_sum_mv / (int64_t)p->windows);
    }
  }
  memset(sl, 0, sizeof *sl);
}

/* The slot a window starting at t counts in, closing what it ends. */
static struct replay_rollup_slot *window_slot(struct replay_state *s, const struct journal_record *r, int64_t t,
                                              struct replay_effects *out)
{
  struct replay_rollup_slot *a = &s->roll[0], *b = &s->roll[1];
  if (!a->open) { open_slot(a, interval_of(t), r->seq); return a; }
  int64_t d = elapsed(t, a->start_ns);
  if (d >= 2 * REPLAY_ROLLUP_NS) { /* past both: close them, start afresh */
    close_slot(a, r, out);
    if (b->open) close_slot(b, r, out);
    open_slot(a, interval_of(t), r->seq);
    return a;
  }
  if (d >= REPLAY_ROLLUP_NS + REPLAY_ROLLUP_GRACE_NS) { /* the older is done: the next becomes the older */
    close_slot(a, r, out);
    if (b->open) { *a = *b; memset(b, 0, sizeof *b); }
    else open_slot(a, interval_of(t), r->seq);
    return a;
  }
  if (d >= REPLAY_ROLLUP_NS) {
    if (!b->open) open_slot(b, a->start_ns + REPLAY_ROLLUP_NS, r->seq);
    return b;
  }
  if (d < 0) a->late_windows++;
  return a;
}

void reduce__rollup_window(struct replay_state *s, const struct journal_record *r, struct replay_effects *out)
{
  const struct journal_window *w = &r->body.window;
  struct replay_rollup_slot *sl = window_slot(s, r, w->start_ns, out);
  unsigned npow = w->npow < JOURNAL_WINDOW_CHANNELS ? w->npow : JOURNAL_WINDOW_CHANNELS;
  for (unsigned i = 0; i < npow; i++) {
    const struct journal_window_power *p = &w->pow[i];
    if (p->branch < 1 || p->branch > REPLAY_BRANCHES_MAX) continue;
    struct replay_rollup_branch *b = &sl->br[p->branch - 1];
    b->import_uwh = sat_add(b->import_uwh, p->import_uwh > 0 ? p->import_uwh : 0);
    b->export_uwh = sat_add(b->export_uwh, p->export_uwh > 0 ? p->export_uwh : 0);
    if (!b->windows || p->p_mw < b->p_min_mw) b->p_min_mw = p->p_mw;
    if (!b->windows || p->p_mw > b->p_max_mw) b->p_max_mw = p->p_mw;
    b->p_sum_mw = sat_add_signed(b->p_sum_mw, p->p_mw);
    b->windows++;
  }
  unsigned nch = w->nch < JOURNAL_WINDOW_CHANNELS ? w->nch : JOURNAL_WINDOW_CHANNELS;
  unsigned vsrc = s->pol.mains_afe ? s->pol.mains_afe : 1;
  for (unsigned i = 0; i < nch; i++) {
    const struct journal_window_channel *c = &w->ch[i];
    if (c->kind == JOURNAL_CH_CURRENT) {
      if (c->event && c->branch >= 1 && c->branch <= REPLAY_BRANCHES_MAX) sl->br[c->branch - 1].events++;
      continue;
    }
    if (c->kind != JOURNAL_CH_VOLTAGE || w->afe != vsrc || c->phase >= REPLAY_ROLLUP_PHASES) continue;
    struct replay_rollup_phase *p = &sl->ph[c->phase];
    int measured = c->hrms_max_m > 0; /* half-cycle extremes (schema v 3); else the window's rms */
    int32_t lo = measured ? c->hrms_min_m : c->rms_m, hi = measured ? c->hrms_max_m : c->rms_m;
    if (!p->windows || lo < p->v_min_mv) p->v_min_mv = lo;
    if (!p->windows || hi > p->v_max_mv) p->v_max_mv = hi;
    p->v_sum_mv = sat_add_signed(p->v_sum_mv, c->rms_m);
    p->windows++;
  }
}

void reduce__rollup_count(struct replay_state *s, const struct journal_record *r, uint32_t branch, unsigned what)
{
  if (branch < 1 || branch > REPLAY_BRANCHES_MAX) return;
  struct replay_rollup_slot *a = &s->roll[0], *b = &s->roll[1];
  struct replay_rollup_slot *sl = a;
  if (!a->open) open_slot(a, interval_of(r->wall_ns), r->seq);
  else if (b->open && elapsed(r->wall_ns, b->start_ns) >= 0) sl = b;
  struct replay_rollup_branch *x = &sl->br[branch - 1];
  if (what == REDUCE_ROLLUP_TRIP) x->trips++;
  else x->commands++;
}
