/*
 * rp_util.h — helpers for the replay tests (header-only): a seeded PRNG, a generator of random
 * valid records of every type the reducers fold (bodies point at static or generator-owned
 * memory that lives as long as the generator), temp dirs and running the hems binary.
 */
#ifndef HEMS_TESTS_RP_UTIL_H
#define HEMS_TESTS_RP_UTIL_H

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "journal.h"
#include "reduce.h"

static inline uint64_t rp_rand(uint64_t *s)
{
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static inline uint32_t rp_below(uint64_t *s, uint32_t n) { return (uint32_t)(rp_rand(s) % n); }

/* ---- random record generator */
struct rp_gen {
  uint64_t seed;
  int64_t wall_ns;
  uint64_t seq;
  char ids[32][16];
};

static inline void rp_gen_init(struct rp_gen *g, uint64_t seed)
{
  memset(g, 0, sizeof *g);
  g->seed = seed;
  g->wall_ns = 1763733720ll * 1000000000ll;
  for (int i = 0; i < 32; i++) snprintf(g->ids[i], sizeof g->ids[i], "req-%d", i);
}

/* r cleared to a record of type at seq, record time t0 + seq seconds (the rule tests' clock). */
static inline void rp_rec_at(struct journal_record *r, unsigned type, uint64_t seq, int64_t t0)
{
  memset(r, 0, sizeof *r);
  r->type = (uint16_t)type;
  r->seq = seq;
  r->wall_ns = t0 + (int64_t)seq * 1000000000ll;
}

/* A fresh state (malloc'd) whose seq-1 boot at record time t0 declared reducer version v (NULL
 * when memory ran out). */
static inline struct replay_state *rp_state_at(uint32_t v, int64_t t0)
{
  struct replay_state *s = malloc(sizeof *s);
  if (!s) return NULL;
  replay_state_init(s);
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.seq = 1;
  r.wall_ns = t0;
  r.type = JOURNAL_T_BOOT;
  r.body.boot.reducer_version = v;
  replay_apply(s, &r, NULL);
  return s;
}

static inline struct journal_slice rp_lit(const char *s) { return (struct journal_slice){ (const uint8_t *)s, (uint32_t)strlen(s) }; }

/* Folds an operator's alarm_ack request (seq, record time t0 + seq s) for alarm on target
 * (a branch, 0 the panel) under role into s; *fx gets its effects. */
static inline void rp_alarm_ack(struct replay_state *s, uint64_t seq, int64_t t0, uint16_t target, uint8_t alarm, uint8_t role,
                                const char *id, struct replay_effects *fx)
{
  struct journal_record r;
  rp_rec_at(&r, JOURNAL_T_REQUEST, seq, t0);
  r.source.kind = JOURNAL_SRC_OPERATOR;
  r.body.request.kind = JOURNAL_REQ_ALARM_ACK;
  r.body.request.target = target;
  r.body.request.alarm = alarm;
  r.body.request.role = role;
  r.body.request.request_id = rp_lit(id);
  replay_apply(s, &r, fx);
}

/* Fills *r with the next random valid record (no seq/prev: the caller or the journal sets them;
 * r->seq is set to the generator's count for pure-reducer tests). */
static inline void rp_gen_next(struct rp_gen *g, struct journal_record *r)
{
  memset(r, 0, sizeof *r);
  uint64_t *s = &g->seed;
  g->wall_ns += 1000000 * (int64_t)(1 + rp_below(s, 200));
  r->wall_ns = g->wall_ns;
  r->mono_ns = (uint64_t)g->wall_ns / 7;
  r->version = JOURNAL_SCHEMA_VERSION;
  r->seq = ++g->seq;
  unsigned pick = rp_below(s, 100);
  if (pick < 60) {
    r->type = JOURNAL_T_WINDOW;
    r->source.kind = JOURNAL_SRC_AFE;
    r->source.index = (uint16_t)(1 + rp_below(s, 16));
    struct journal_window *w = &r->body.window;
    w->afe = r->source.index;
    w->start_ns = r->wall_ns;
    w->duration_us = 1000000;
    w->freq_mhz = 50000;
    w->basic_windows = 5;
    w->nch = 3;
    w->npow = 3;
    w->nbranches = 3;
    for (int i = 0; i < 3; i++) {
      uint16_t b = (uint16_t)((w->afe - 1) * 3 + i + 1);
      w->branches[i] = b;
      w->ch[i] = (struct journal_window_channel){ (uint8_t)(i + 3), JOURNAL_CH_CURRENT, (uint8_t)i, b,
                                                  (int32_t)rp_below(s, 20000), -30000, 30000, 1200, 0, 0, false };
      int64_t p = (int64_t)rp_below(s, 3000000) - 500000;
      uint8_t ph = (uint8_t)(rp_below(s, 50) == 0 ? (i + 1) % 3 : i);
      w->pow[i] = (struct journal_window_power){ (uint8_t)(i + 3), (uint8_t)i, ph, b, p, p / 10, p < 0 ? -p : p, 990,
                                                 p > 0 ? p / 3600 : 0, p < 0 ? -p / 3600 : 0 };
      if (rp_below(s, 500) == 0) w->pow[i].import_uwh = -5; /* a sign error upstream */
    }
  } else if (pick < 70) {
    r->type = JOURNAL_T_REQUEST;
    r->source.kind = rp_below(s, 4) ? JOURNAL_SRC_OPERATOR : JOURNAL_SRC_REMOTE;
    if (r->source.kind == JOURNAL_SRC_REMOTE) strcpy(r->source.name, "utility");
    struct journal_request *q = &r->body.request;
    q->target = (uint16_t)(rp_below(s, 10) == 0 ? 0 : 1 + rp_below(s, 50));
    q->desired = (uint8_t)rp_below(s, 2);
    q->role = (uint8_t)rp_below(s, 4);
    q->origin = r->source.kind == JOURNAL_SRC_REMOTE ? JOURNAL_ORIGIN_REMOTE : JOURNAL_ORIGIN_OPERATOR;
    q->uid = 1000;
    q->request_id = rp_lit(g->ids[rp_below(s, 32)]);
    if (rp_below(s, 5) == 0) q->request_id = rp_lit("");
    q->reason = rp_lit("test");
    if (rp_below(s, 8) == 0) q->expiry_ns = r->wall_ns - (int64_t)rp_below(s, 2) * 2000000000ll + 1000000000ll;
  } else if (pick < 74) {
    r->type = rp_below(s, 2) ? JOURNAL_T_COMMAND : JOURNAL_T_REFUSAL;
    r->source.kind = JOURNAL_SRC_PANEL;
    if (r->type == JOURNAL_T_COMMAND) {
      r->body.command.target = (uint16_t)(1 + rp_below(s, 48));
      r->body.command.desired = (uint8_t)rp_below(s, 2);
      r->body.command.reason = (uint8_t)rp_below(s, 7);
      r->body.command.cause_seq = rp_below(s, 3) ? 0 : r->seq - 1;
    } else {
      r->body.refusal.target = (uint16_t)(1 + rp_below(s, 48));
      r->body.refusal.reason = (uint8_t)rp_below(s, 10);
      r->body.refusal.cause_seq = r->seq - 1;
    }
  } else if (pick < 84) {
    unsigned k = rp_below(s, 3);
    if (k == 0) {
      r->type = JOURNAL_T_SENSE_BACK;
      r->source.kind = JOURNAL_SRC_BRANCH;
      r->source.index = (uint16_t)(1 + rp_below(s, 48));
      struct journal_sense_back *b = &r->body.sense_back;
      b->target = r->source.index;
      b->commanded = (uint8_t)rp_below(s, 2);
      b->sensed = (uint8_t)rp_below(s, 3);
      unsigned v = rp_below(s, 8);
      b->verdict = (uint8_t)(v < 3 ? JOURNAL_VERDICT_CONFIRMED : v - 2);
      b->inrush_peak_ma = b->commanded ? (int32_t)rp_below(s, 40000) : 0;
      b->command_seq = r->seq - 1;
    } else if (k == 1) {
      r->type = JOURNAL_T_TRIP_TAP;
      unsigned kk = rp_below(s, 5);
      struct journal_trip_tap *t = &r->body.trip_tap;
      t->kind = (uint8_t)(kk == 4 ? JOURNAL_TAP_POWER_FAIL : kk);
      t->edge = (uint8_t)(rp_below(s, 4) ? JOURNAL_EDGE_RISING : JOURNAL_EDGE_FALLING);
      t->branch = (uint16_t)(kk == 4 ? 0 : 1 + rp_below(s, 48));
      t->rms_ma = (int32_t)rp_below(s, 30000);
      t->peak_ma = t->rms_ma * 14 / 10;
      r->source.kind = JOURNAL_SRC_TAP;
      r->source.sub = t->kind;
      r->source.index = t->branch;
    } else {
      r->type = JOURNAL_T_DER;
      struct journal_der *d = &r->body.der;
      d->source = (uint8_t)rp_below(s, 3);
      d->state = (uint8_t)rp_below(s, 10);
      d->fresh = rp_below(s, 6) != 0;
      d->interlock_ok = rp_below(s, 5) != 0;
      d->transfer = (uint8_t)rp_below(s, 3);
      d->grid_present = rp_below(s, 4) != 0;
      r->source.kind = JOURNAL_SRC_DER;
      r->source.sub = d->source;
    }
  } else if (pick < 88) {
    r->type = JOURNAL_T_FAULT;
    r->source.kind = JOURNAL_SRC_PANEL;
    r->body.fault.code = rp_below(s, 2) ? rp_lit("suspected_ct_polarity") : rp_lit("late_window");
    r->body.fault.branch = (uint16_t)rp_below(s, 49);
    r->body.fault.detail = rp_lit("generated");
  } else if (pick < 92) {
    r->type = JOURNAL_T_SEAL; /* must be ignored by the reducers */
    r->source.kind = JOURNAL_SRC_PANEL;
    r->body.seal.sealed_seq = r->seq - 1;
    memset(r->body.seal.state_hash, (int)rp_below(s, 256), 32);
  } else {
    r->type = JOURNAL_T_NOTE;
    r->source.kind = JOURNAL_SRC_OPERATOR;
    r->body.note.who = rp_lit("tester");
    r->body.note.text = rp_lit("note");
  }
}

/* ---- files and processes */
static inline char *rp_mkdtemp(void)
{
  const char *base = getenv("TMPDIR");
  char *p = malloc(4096);
  snprintf(p, 4096, "%s/hems-rp-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(p)) { perror("mkdtemp"); abort(); }
  return p;
}
static inline int rp_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *f)
{
  (void)st; (void)flag; (void)f;
  return remove(path);
}
static inline void rp_rm_rf(const char *path) { nftw(path, rp_rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

/* Runs `$HEMS_BIN args` capturing stdout into *out (malloc'd); returns the exit status. */
static inline int rp_run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline int rp_run(char **out, const char *fmt, ...)
{
  const char *bin = getenv("HEMS_BIN");
  if (!bin) bin = HEMS_BINARY_DIR "/hems";
  char args[4096], cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(cmd, sizeof cmd, "%s %s", bin, args);
  FILE *p = popen(cmd, "r");
  if (!p) return 127;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  size_t k;
  while ((k = fread(buf + n, 1, cap - n - 1, p)) > 0) {
    n += k;
    if (cap - n < 1024) buf = realloc(buf, cap *= 2);
  }
  buf[n] = 0;
  int st = pclose(p);
  if (out) *out = buf; else free(buf);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

#endif
