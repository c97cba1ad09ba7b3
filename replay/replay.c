/*
 * replay.c — offline replay (with --check comparison) and the live harness. Checkpoints are
 * checkpoint.c's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "replay.h"

/* ------------------------------------------------------------------ offline fold */

#define EXPECT_MAX 16

struct fold_ctx {
  const struct replay_options *o;
  struct replay_result *res;
  struct replay_effect expect[EXPECT_MAX];
  unsigned nexpect;
  uint64_t reply_seqs[EXPECT_MAX]; /* requests answered by REPLY: no record may follow */
  unsigned nreply;
  struct journal_rollup roll[REPLAY_ROLLUPS_MAX * 2]; /* closed by the fold, not yet recorded */
  unsigned nroll;
  uint64_t roll_closed_by[REPLAY_ROLLUPS_MAX * 2];
};

static void diverge(struct fold_ctx *c, uint64_t seq, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#include <stdarg.h>
#include <stdio.h>
static void diverge(struct fold_ctx *c, uint64_t seq, const char *fmt, ...)
{
  struct replay_divergence d;
  d.seq = seq;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d.what, sizeof d.what, fmt, ap);
  va_end(ap);
  c->res->divergences++;
  if (!c->res->first_divergence_seq) c->res->first_divergence_seq = seq;
  if (c->o->on_divergence) c->o->on_divergence(c->o->ctx, &d);
}

/* A recorded rollup against the oldest one the fold closed and nothing has recorded yet. */
static void check_rollup(struct fold_ctx *c, const struct journal_record *r)
{
  char what[160];
  if (!c->nroll) {
    diverge(c, r->seq, "rollup record for %lld..+%us that the reducer did not close", (long long)r->body.rollup.start,
            r->body.rollup.duration_s);
    return;
  }
  c->res->rollups_checked++;
  if (replay_rollup_differs(&c->roll[0], &r->body.rollup, what, sizeof what)) diverge(c, r->seq, "rollup %s", what);
  c->nroll--;
  memmove(c->roll, c->roll + 1, c->nroll * sizeof c->roll[0]);
  memmove(c->roll_closed_by, c->roll_closed_by + 1, c->nroll * sizeof c->roll_closed_by[0]);
}

/* Rollups the fold closed at seq: the live harness journals them right after that record's
 * command/refusal records, so any other record before them means one is missing — except a boot
 * (the daemon stopped in between: like a request left unanswered). */
static void expect_rollups(struct fold_ctx *c, const struct replay_effects *fx, uint64_t seq)
{
  for (uint32_t i = 0; i < fx->nrollup && c->nroll < REPLAY_ROLLUPS_MAX * 2; i++) {
    c->roll[c->nroll] = fx->rollup[i];
    c->roll_closed_by[c->nroll++] = seq;
  }
}

static void rollups_missing(struct fold_ctx *c, const struct journal_record *r)
{
  if (r->type == JOURNAL_T_BOOT) c->res->effects_unanswered += c->nroll;
  else
    for (unsigned i = 0; i < c->nroll; i++)
      diverge(c, c->roll_closed_by[i], "the reducer closes the rollup of %lld here, but seq %llu (%s) comes before any rollup record",
              (long long)c->roll[i].start, (unsigned long long)r->seq, journal_type_name(r->type));
  c->nroll = 0;
}

static void fmt_target(uint16_t t, char buf[16])
{
  if (t == JOURNAL_TARGET_SERVICE) snprintf(buf, 16, "service");
  else snprintf(buf, 16, "%u", t);
}

static void describe_effect(const struct replay_effect *e, char *buf, size_t cap)
{
  char t[16];
  fmt_target(e->target, t);
  if (e->kind == REPLAY_EFFECT_COMMAND)
    snprintf(buf, cap, "command %s %s (%s)", t, e->desired ? "on" : "off", replay_command_reason_name(e->reason));
  else if (e->kind == REPLAY_EFFECT_REFUSAL)
    snprintf(buf, cap, "refusal %s %s (%s)", t, e->desired ? "on" : "off", replay_refusal_reason_name(e->reason));
  else
    snprintf(buf, cap, "reply with the stored outcome of seq %llu", (unsigned long long)e->stored_seq);
}

/* Whether a command/refusal record carries the measurements behind it (records written before
 * they were added carry none, and are compared without them). */
static bool why_recorded(const struct journal_record *r)
{
  if (r->type == JOURNAL_T_REFUSAL) return r->body.refusal.ops || r->body.refusal.ops_limit;
  const struct journal_command *c = &r->body.command;
  return c->phase_ma || c->limit_ma || c->level_permille || c->allowance_ms || c->holdoff_ms || c->stagger_ms ||
         c->priority || c->rank || c->der || c->der_action || c->der_permille;
}

static bool why_equal(const struct replay_effect *e, const struct journal_record *r)
{
  if (r->type == JOURNAL_T_REFUSAL) return e->ops == r->body.refusal.ops && e->ops_limit == r->body.refusal.ops_limit;
  const struct journal_command *c = &r->body.command;
  return e->phase_ma == c->phase_ma && e->limit_ma == c->limit_ma && e->level_permille == c->level_permille &&
         e->allowance_ms == c->allowance_ms && e->holdoff_ms == c->holdoff_ms && e->stagger_ms == c->stagger_ms &&
         e->priority == c->priority && e->rank == c->rank && e->der == c->der && e->der_action == c->der_action &&
         e->der_permille == c->der_permille;
}

/* A recorded command/refusal against what the fold decided for its request. */
static void check_outcome(struct fold_ctx *c, const struct journal_record *r)
{
  bool is_cmd = r->type == JOURNAL_T_COMMAND;
  uint64_t cause = is_cmd ? r->body.command.cause_seq : r->body.refusal.cause_seq;
  if (!cause) return; /* a command not caused by a request (load shed, fail-safe: actuators issue) */
  uint16_t target = is_cmd ? r->body.command.target : r->body.refusal.target;
  uint8_t desired = is_cmd ? r->body.command.desired : r->body.refusal.desired;
  uint8_t reason = is_cmd ? r->body.command.reason : r->body.refusal.reason;
  struct journal_slice id = is_cmd ? r->body.command.request_id : r->body.refusal.request_id;
  char t[16], want[120];
  fmt_target(target, t);
  const char *got_reason = is_cmd ? replay_command_reason_name(reason) : replay_refusal_reason_name(reason);
  for (unsigned i = 0; i < c->nreply; i++)
    if (c->reply_seqs[i] == cause) {
      diverge(c, r->seq, "recorded %s %s %s (%s) for request seq %llu, which the reducer answers from the request-id window without a new record",
              is_cmd ? "command" : "refusal", t, desired ? "on" : "off", got_reason, (unsigned long long)cause);
      return;
    }
  for (unsigned i = 0; i < c->nexpect; i++) {
    struct replay_effect *e = &c->expect[i];
    if (e->cause_seq != cause) continue;
    c->res->effects_checked++;
    bool same = (e->kind == REPLAY_EFFECT_COMMAND) == is_cmd && e->target == target && e->desired == desired &&
                e->reason == reason && e->request_id_len == id.len &&
                (id.len == 0 || memcmp(e->request_id, id.ptr, id.len) == 0);
    if (same && (why_recorded(r) || e->der)) same = why_equal(e, r); /* a DER command always carries its fields */
    if (!same) {
      describe_effect(e, want, sizeof want);
      diverge(c, r->seq, "recorded %s %s %s (%s) for request seq %llu, the reducer decides %s",
              is_cmd ? "command" : "refusal", t, desired ? "on" : "off", got_reason, (unsigned long long)cause, want);
    }
    c->expect[i] = c->expect[--c->nexpect];
    return;
  }
  diverge(c, r->seq, "recorded %s %s %s (%s) names request seq %llu, for which the reducer decided nothing",
          is_cmd ? "command" : "refusal", t, desired ? "on" : "off", got_reason, (unsigned long long)cause);
}

static void flush_unanswered(struct fold_ctx *c)
{
  char want[120];
  for (unsigned i = 0; i < c->nexpect; i++) {
    describe_effect(&c->expect[i], want, sizeof want);
    diverge(c, c->expect[i].cause_seq, "request decided as %s, but no command/refusal record answers it", want);
  }
  c->nexpect = 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
  uint8_t acc = 0;
  for (size_t i = 0; i < n; i++) acc |= p[i];
  return acc == 0;
}

/* keep_last: copy each record so the last one's hash can be taken at the end (replay_dir
 * reads and hashes the head itself, so it skips the per-record copy). */
static int fold(struct replay_state *s, const struct journal_record_source *src, const struct replay_options *o,
                struct replay_result *res, bool keep_last)
{
  static const struct replay_options none;
  if (!o) o = &none;
  struct fold_ctx c;
  memset(&c, 0, sizeof c);
  c.o = o;
  c.res = res;
  uint8_t *last = keep_last ? malloc(JOURNAL_RECORD_MAX) : NULL;
  if (keep_last && !last) return -ENOMEM;
  size_t last_len = 0;
  struct journal_record rec;
  struct replay_effects fx;
  int rc = 0;
  for (;;) {
    uint64_t seq;
    const uint8_t *bytes;
    size_t len;
    const char *why = NULL;
    int n = src->next(src->ctx, &seq, &bytes, &len, &why);
    if (n == 0) break;
    if (n < 0) {
      rc = n;
      res->bad_seq = res->last_seq + 1;
      snprintf(res->why, sizeof res->why, "%s", why ? why : journal_strerror(n));
      break;
    }
    if (o->until_seq && seq > o->until_seq) break;
    if ((rc = journal_record_decode_reuse(bytes, len, &rec))) {
      res->bad_seq = seq;
      snprintf(res->why, sizeof res->why, "record does not decode: %s", journal_strerror(rc));
      break;
    }
    if (o->until_wall_ns && rec.wall_ns > o->until_wall_ns && rec.type != JOURNAL_T_SEAL) break;
    if (!res->first_seq) res->first_seq = seq;
    if (o->check && rec.type == JOURNAL_T_SEAL) {
      if (all_zero(rec.body.seal.state_hash, 32)) {
        res->seals_unhashed++;
      } else {
        uint8_t h[32];
        replay_state_hash(s, h);
        res->seals_checked++;
        if (memcmp(h, rec.body.seal.state_hash, 32) != 0) {
          char a[65], b[65];
          journal_hex(rec.body.seal.state_hash, 32, a);
          journal_hex(h, 32, b);
          diverge(&c, seq, "seal state_hash %.16s… differs from the recomputed %.16s… (state after seq %llu)", a, b,
                  (unsigned long long)rec.body.seal.sealed_seq);
        }
      }
    }
    if (o->check && rec.type == JOURNAL_T_REQUEST) { flush_unanswered(&c); c.nreply = 0; }
    if (o->check && (rec.type == JOURNAL_T_COMMAND || rec.type == JOURNAL_T_REFUSAL)) check_outcome(&c, &rec);
    if (o->check && rec.type == JOURNAL_T_ROLLUP) check_rollup(&c, &rec);
    else if (o->check && c.nroll && rec.type != JOURNAL_T_COMMAND && rec.type != JOURNAL_T_REFUSAL &&
             rec.type != JOURNAL_T_SEAL)
      rollups_missing(&c, &rec);
    replay_apply(s, &rec, &fx);
    if (o->check && fx.nrollup) expect_rollups(&c, &fx, seq);
    if (o->check)
      for (uint32_t i = 0; i < fx.n; i++) {
        if (fx.e[i].kind == REPLAY_EFFECT_REPLY) { if (c.nreply < EXPECT_MAX) c.reply_seqs[c.nreply++] = fx.e[i].cause_seq; }
        else if (fx.e[i].kind == REPLAY_EFFECT_DEFERRED) continue; /* accepted, no record (policy) */
        else if (c.nexpect < EXPECT_MAX) c.expect[c.nexpect++] = fx.e[i];
      }
    if (o->on_record) o->on_record(o->ctx, &rec, s, &fx);
    if (last) {
      memcpy(last, bytes, len);
      last_len = len;
    }
    res->last_seq = seq;
    res->records++;
    if (o->progress && (res->records & 0xffff) == 0) o->progress(o->pctx, seq);
  }
  res->effects_unanswered += c.nexpect + c.nroll; /* the journal ends between a request (or a closed
                                                    rollup) and its record */
  if (last_len) journal_record_hash(last, last_len, res->head_hash);
  free(last);
  replay_state_hash(s, res->state_hash);
  return rc;
}

int replay_fold(struct replay_state *s, const struct journal_record_source *src,
                const struct replay_options *o, struct replay_result *res)
{
  return fold(s, src, o, res, true);
}

/* The start of a fold over rd: the newest authenticated checkpoint at or before at_most that
 * is not older than the cut (records before first are gone), else the initial state at first. */
static int pick_start(struct journal_reader *rd, const struct replay_options *o, uint64_t at_most, uint64_t first,
                      struct replay_state *s, struct replay_result *res, uint64_t *from)
{
  struct journal_iter *it;
  int rc = journal_iter_begin(rd, 1, &it);
  if (rc) return rc;
  if (o->until_wall_ns) {
    uint64_t tseq = 0;
    /* a checkpoint strictly before the first group reaching the time is safe */
    if (journal_seek_time(it, o->until_wall_ns, &tseq) == 0 && tseq > 1 && tseq - 1 < at_most) at_most = tseq - 1;
  }
  uint64_t cseq = 0;
  struct replay_checkpoint_report rep;
  rc = replay_checkpoint_load(it, at_most, o->config_version, o->trusted_pk, s, &cseq, &rep);
  journal_iter_end(it);
  res->checkpoints_skipped += rep.skipped;
  res->checkpoints_rejected += rep.rejected;
  if (rep.rejected && !res->checkpoint_rejected_seq) {
    res->checkpoint_rejected_seq = rep.rejected_seq;
    memcpy(res->checkpoint_why, rep.why, sizeof res->checkpoint_why);
  }
  if (rc == 0 && cseq + 1 >= first) {
    *from = cseq + 1;
    res->start_seq = cseq;
    return 0;
  }
  replay_state_init(s);
  *from = first;
  return rc == JOURNAL_ENOTFOUND || rc == 0 ? 0 : rc;
}

int replay_dir(struct journal_reader *rd, const struct replay_options *o, struct replay_state *s,
               struct replay_result *res)
{
  memset(res, 0, sizeof *res);
  replay_state_init(s);
  uint64_t first = 1, last = 0;
  if (journal_reader_bounds(rd, &first, &last) != 0 || first == 0) first = 1;
  uint64_t from = first;
  int rc = 0;
  if (o->use_checkpoints && !o->check) {
    rc = pick_start(rd, o, o->until_seq ? o->until_seq : UINT64_MAX, first, s, res, &from);
  } else if (first > 1) {
    /* A journal cut by retention starts after seq 1: its fold starts from the checkpoint the
     * cut left at first-1 (validated and authenticated like any other), so seals can still be
     * checked. */
    rc = pick_start(rd, o, first - 1, first, s, res, &from);
  }
  if (rc) return rc;
  res->start_unproven = first > 1 && !res->start_seq;
  /* The fast path: no record is hashed on the way (a fold is not a verification); the head
   * hash is then read once, rebuilt and checked, from the last record folded. A check reads
   * every record whole, prev included: a rollup names the hash of the last record it covers
   * (the closing record's prev), which the check compares. */
  struct journal_dir_source ds;
  rc = o->check ? journal_dir_source_init(&ds, rd, from) : journal_dir_source_init_fast(&ds, rd, from);
  if (rc) return rc;
  rc = fold(s, &ds.src, o, res, false);
  journal_dir_source_deinit(&ds);
  if (res->last_seq) {
    struct journal_iter *it;
    const uint8_t *b;
    size_t len;
    int hrc = journal_iter_begin(rd, res->last_seq, &it);
    if (!hrc) {
      hrc = journal_iter_get(it, res->last_seq, &b, &len);
      if (!hrc) journal_record_hash(b, len, res->head_hash);
      journal_iter_end(it);
    }
    if (hrc && !rc) {
      rc = hrc;
      res->bad_seq = res->last_seq;
      snprintf(res->why, sizeof res->why, "%s", journal_strerror(hrc));
    }
  }
  return rc;
}

/* ------------------------------------------------------------------ live harness */

static void real_now(uint64_t *mono, int64_t *wall, uint8_t *tq)
{
  struct timespec m, w;
  clock_gettime(CLOCK_BOOTTIME, &m);
  clock_gettime(CLOCK_REALTIME, &w);
  *mono = (uint64_t)m.tv_sec * 1000000000ull + (uint64_t)m.tv_nsec;
  *wall = (int64_t)w.tv_sec * 1000000000ll + w.tv_nsec;
  *tq = JOURNAL_TQ_SYNCED;
}

static void h_clock(void *ctx, uint64_t *mono, int64_t *wall, uint8_t *tq)
{
  struct replay_harness *h = ctx;
  if (h->user_clock.now) h->user_clock.now(h->user_clock.ctx, mono, wall, tq);
  else real_now(mono, wall, tq);
  if (h->in_append && !h->pending_stamped) {
    /* The first stamp during an append is the record's own (the seal's comes after). */
    h->pending.mono_ns = *mono;
    h->pending.wall_ns = *wall;
    h->pending.time_quality = *tq;
    /* the journal stamps prev with its head right after this: the fold reads it (v 9 rollups) */
    if (h->j) journal_head_hash(h->j, h->pending.prev);
    h->pending_stamped = true;
  }
}

static void fold_pending(struct replay_harness *h, uint64_t seq)
{
  h->pending.seq = seq;
  h->pending.version = JOURNAL_SCHEMA_VERSION;
  replay_apply(&h->state, &h->pending, &h->pending_fx);
  h->pending_folded = true;
}

static int put_checkpoint(struct replay_harness *h)
{
  replay_checkpoint_encode(&h->state, h->state.seq, h->ckpt_buf);
  int rc = journal_checkpoint_put(h->j, h->state.seq, h->ckpt_buf, REPLAY_CHECKPOINT_BYTES);
  if (rc) return rc;
  h->ckpt_due = false;
  h->ckpt_last_seq = h->state.seq;
  h->ckpt_last_wall_ns = h->state.wall_ns;
  h->checkpoints_written++;
  return 0;
}

static void h_state_hash(void *ctx, uint8_t out[JOURNAL_HASH_BYTES])
{
  struct replay_harness *h = ctx;
  if (!h->j) { memset(out, 0, JOURNAL_HASH_BYTES); return; } /* not attached: "not supplied" */
  if (h->in_append && h->pending_stamped && !h->pending_folded) fold_pending(h, journal_head_seq(h->j));
  replay_state_hash(&h->state, out);
  /* A due checkpoint is taken here, at the seal boundary: the seal being built signs exactly
   * this state, which is what makes the checkpoint trustworthy later (checkpoint_auth.c). Only
   * when every record so far is folded (a record appended past the harness would break that). */
  if (h->ckpt_due && h->state.seq == journal_head_seq(h->j)) {
    int rc = put_checkpoint(h);
    if (rc && !h->ckpt_err) h->ckpt_err = rc;
  }
}

static void h_durable(void *ctx, uint64_t seq)
{
  struct replay_harness *h = ctx;
  if (h->user_durable) h->user_durable(h->user_ctx, seq);
}

void replay_harness_init(struct replay_harness *h, const struct replay_harness_options *o,
                         struct journal_options *jo)
{
  memset(h, 0, sizeof *h);
  replay_state_init(&h->state);
  if (o) h->opt = *o;
  if (!h->opt.checkpoint_every_records) h->opt.checkpoint_every_records = 1000000;
  if (!h->opt.checkpoint_every_ns) h->opt.checkpoint_every_ns = 3600ll * 1000000000ll;
  h->user_clock = jo->clock;
  h->user_durable = jo->on_durable;
  h->user_ctx = jo->ctx;
  jo->clock.now = h_clock;
  jo->clock.ctx = h;
  jo->state_hash = h_state_hash;
  jo->on_durable = h->user_durable ? h_durable : NULL;
  jo->ctx = h;
}

int replay_harness_attach(struct replay_harness *h, struct journal *j)
{
  return replay_harness_attach_trusting(h, j, journal_signer_pubkey(j));
}

int replay_harness_attach_trusting(struct replay_harness *h, struct journal *j, const uint8_t trusted_pk[JOURNAL_PUBKEY_BYTES])
{
  struct journal_reader *rd;
  int rc = journal_reader_attach(&rd, j);
  if (rc) return rc;
  struct replay_options o;
  memset(&o, 0, sizeof o);
  o.use_checkpoints = true;
  o.trusted_pk = trusted_pk;
  struct replay_result res;
  rc = replay_dir(rd, &o, &h->state, &res);
  journal_reader_close(rd);
  if (rc) return rc;
  h->attach_rejected = res.checkpoints_rejected;
  h->attach_rejected_seq = res.checkpoint_rejected_seq;
  memcpy(h->attach_why, res.checkpoint_why, sizeof h->attach_why);
  if (res.start_unproven) {
    snprintf(h->attach_why, sizeof h->attach_why,
             "the journal starts at seq %llu (cut by retention) and no checkpoint at the cut is proven by a signed seal",
             (unsigned long long)res.first_seq);
    return JOURNAL_EUNSEALED;
  }
  h->j = j;
  h->ckpt_last_seq = h->state.seq;
  h->ckpt_last_wall_ns = h->state.wall_ns;
  return 0;
}

int replay_harness_checkpoint(struct replay_harness *h)
{
  h->ckpt_due = true;
  int rc = journal_flush(h->j); /* the seal's state hash callback takes it */
  if (!rc && h->ckpt_err) { rc = h->ckpt_err; h->ckpt_err = 0; }
  /* Nothing to seal (the head is a seal): store it at the head; the next seal with a state
   * hash authenticates it by folding forward. */
  if (!rc && h->ckpt_due) rc = put_checkpoint(h);
  return rc;
}

/* The used part only (the rollups are kilobytes, and rare). */
static void fx_copy(struct replay_effects *d, const struct replay_effects *s)
{
  d->n = s->n;
  memcpy(d->e, s->e, s->n * sizeof s->e[0]);
  d->nrollup = s->nrollup;
  if (s->nrollup) memcpy(d->rollup, s->rollup, s->nrollup * sizeof s->rollup[0]);
}

static int append_one(struct replay_harness *h, const struct journal_record *r, uint64_t *out_seq,
                      struct replay_effects *fx)
{
  if (!h->j) return -EINVAL;
  h->pending = *r;
  h->pending_stamped = false;
  h->pending_folded = false;
  h->pending_fx.n = 0;
  h->pending_fx.nrollup = 0;
  h->in_append = true;
  uint64_t seq = 0;
  int rc = journal_append(h->j, r, &seq);
  h->in_append = false;
  if (rc) {
    /* A record the journal refused was never stamped, or — when the seal after it failed — is
     * stamped but may not be durable; the writer is failed then and every later append fails. */
    if (h->pending_folded) fx_copy(fx, &h->pending_fx);
    return rc;
  }
  if (!h->pending_folded) fold_pending(h, seq);
  fx_copy(fx, &h->pending_fx);
  if (out_seq) *out_seq = seq;
  return 0;
}

void replay_effect_record(const struct replay_effect *e, struct journal_record *r)
{
  memset(r, 0, sizeof *r);
  r->source.kind = JOURNAL_SRC_PANEL;
  struct journal_slice id = { (const uint8_t *)e->request_id, e->request_id_len };
  if (e->kind == REPLAY_EFFECT_COMMAND) {
    struct journal_command *c = &r->body.command;
    r->type = JOURNAL_T_COMMAND;
    c->target = e->target;
    c->desired = e->desired;
    c->reason = e->reason;
    c->cause_seq = e->cause_seq;
    c->request_id = id;
    c->phase_ma = e->phase_ma;
    c->limit_ma = e->limit_ma;
    c->level_permille = e->level_permille;
    c->allowance_ms = e->allowance_ms;
    c->holdoff_ms = e->holdoff_ms;
    c->stagger_ms = e->stagger_ms;
    c->priority = e->priority;
    c->rank = e->rank;
    c->der = e->der;
    c->der_action = e->der_action;
    c->der_permille = e->der_permille;
  } else {
    struct journal_refusal *f = &r->body.refusal;
    r->type = JOURNAL_T_REFUSAL;
    f->target = e->target;
    f->desired = e->desired;
    f->reason = e->reason;
    f->cause_seq = e->cause_seq;
    f->request_id = id;
    f->ops = e->ops;
    f->ops_limit = e->ops_limit;
  }
}

int replay_harness_append_effect(struct replay_harness *h, const struct replay_effect *e, uint64_t *out_seq)
{
  if (out_seq) *out_seq = 0;
  if (e->kind != REPLAY_EFFECT_COMMAND && e->kind != REPLAY_EFFECT_REFUSAL) return 0;
  struct journal_record r;
  replay_effect_record(e, &r);
  struct replay_effects fx;
  return append_one(h, &r, out_seq, &fx);
}

/* A due checkpoint waits for the next seal (h_state_hash), so no extra seal is forced. */
static int maybe_checkpoint(struct replay_harness *h)
{
  if (h->ckpt_err) { int rc = h->ckpt_err; h->ckpt_err = 0; return rc; }
  if (h->opt.no_checkpoints || h->ckpt_due) return 0;
  h->ckpt_due = h->state.seq - h->ckpt_last_seq >= h->opt.checkpoint_every_records ||
                (h->state.wall_ns >= h->ckpt_last_wall_ns &&
                 (uint64_t)h->state.wall_ns - (uint64_t)h->ckpt_last_wall_ns >= (uint64_t)h->opt.checkpoint_every_ns);
  return 0;
}

int replay_harness_append(struct replay_harness *h, const struct journal_record *r, uint64_t *out_seq,
                          struct replay_effects *out_fx, uint64_t out_fx_seqs[REPLAY_EFFECTS_MAX])
{
  struct replay_effects fx;
  int rc = append_one(h, r, out_seq, &fx);
  if (rc) return rc;
  for (uint32_t i = 0; i < fx.n; i++) {
    uint64_t s = 0;
    if ((rc = replay_harness_append_effect(h, &fx.e[i], &s))) return rc;
    if (out_fx_seqs) out_fx_seqs[i] = s;
  }
  /* v 9: the intervals r closed, after its decisions (a rollup record decides nothing) */
  for (uint32_t i = 0; i < fx.nrollup; i++) {
    struct journal_record rr;
    memset(&rr, 0, sizeof rr);
    rr.type = JOURNAL_T_ROLLUP;
    rr.source.kind = JOURNAL_SRC_PANEL;
    rr.body.rollup = fx.rollup[i];
    struct replay_effects rfx;
    if ((rc = append_one(h, &rr, NULL, &rfx))) return rc;
  }
  if (out_fx) fx_copy(out_fx, &fx);
  return maybe_checkpoint(h);
}
