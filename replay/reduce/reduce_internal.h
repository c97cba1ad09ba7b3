/*
 * reduce_internal.h — private to replay/reduce/: what the fold's files share. The fold is split
 * by concern: reduce.c (records → derived state, the request window, apply), reduce_config.c
 * (the policy half of `config` records), reduce_policy.c (arbitration, demand response, load
 * control, the commands the fold issues, request decisions), reduce_hash.c (the canonical
 * serialisation and state hash), reduce_names.c (enum names), reduce_alarm.c (alarm acknowledgement), reduce_rollup.c (v 9 rollups), reduce_der.c (v 10 DER commands), reduce_ess.c (v 11 the battery on backup), reduce_analog.c (v 11 leakage and temperature alarms). Same rules in every file
 * (reduce.c's header): no clock, I/O, allocation or floating point.
 */
#ifndef HEMS_REDUCE_INTERNAL_H
#define HEMS_REDUCE_INTERNAL_H

#include <string.h>
#include <sodium/crypto_generichash.h>
#include "reduce.h"

static inline int64_t sat_add(int64_t a, int64_t b)
{
  if (b > 0 && a > INT64_MAX - b) return INT64_MAX;
  return a + b;
}

static inline struct replay_branch *branch_of(struct replay_state *s, uint32_t b)
{
  if (b < 1 || b > REPLAY_BRANCHES_MAX) return NULL;
  if (b > s->nbranches) s->nbranches = (uint16_t)b;
  return &s->br[b - 1];
}

/* strlen without libc's string functions (the allowlist is memory functions only). */
static inline size_t cstr_len(const char *p)
{
  size_t n = 0;
  while (p[n]) n++;
  return n;
}

static inline int slice_eq(struct journal_slice sl, const char *lit, size_t n)
{
  return sl.len == n && sl.ptr && memcmp(sl.ptr, lit, n) == 0;
}

static inline void hash128(const uint8_t *parts, size_t n, uint8_t out[16])
{
  crypto_generichash(out, 16, parts, n, NULL, 0);
}

/* now - since, saturated: record times come from outside (a checkpoint, a hostile or broken
 * clock), and a wrapped difference would be undefined and could read as "long ago". */
static inline int64_t elapsed(int64_t now, int64_t since)
{
  int64_t d;
  if (__builtin_sub_overflow(now, since, &d)) return now > since ? INT64_MAX : INT64_MIN;
  return d;
}

static inline void put_le(uint8_t *p, uint64_t v, int n)
{
  for (int i = 0; i < n; i++) { p[i] = (uint8_t)v; v >>= 8; }
}

/* What a branch holds: the last command, else what was sensed. */
static inline uint8_t held_of(const struct replay_branch *b) { return b->commanded ? b->commanded : b->sensed; }

/* A time-bounded or safety layer takes the branch: remember what to revert to. */
static inline void layer_set(struct replay_branch *b, uint8_t bit)
{
  if (!b->layers && b->want == REPLAY_UNKNOWN) b->want = held_of(b) == REPLAY_OFF ? REPLAY_OFF : REPLAY_ON;
  b->layers |= bit;
}

static inline void layer_clear(struct replay_branch *b, uint8_t bits)
{
  if ((b->layers & bits) && !(b->layers & (uint8_t)~bits)) b->restore_due = 1;
  b->layers &= (uint8_t)~bits;
}

/* The transfer switch isolates the house on backup (its interlock made). */
static inline int ats_isolating(const struct replay_state *s)
{
  const struct replay_der *a = &s->der[JOURNAL_DER_ATS];
  return a->seen && a->interlock_ok && s->transfer_state == JOURNAL_XFER_BACKUP + 1;
}

/* v 5: may the policy close what waits this hold-off class (der: a branch with DER behind it)
 * now? Not during an outage, and not until the grid has stayed present for the hold-off since
 * it last returned. */
static inline int supply_stable(const struct replay_policy *p, int der)
{
  if (p->outage) return 0;
  if (!p->holding) return 1;
  return p->stable_for_ns >= (der ? p->der_holdoff_ns : p->holdoff_ns);
}

/* reduce_config.c: the branch and policy settings of a `config` record's JSON */
void reduce__config_json(struct replay_state *s, struct journal_slice json);

/* reduce_policy.c */
/* After every input record: outage fail-safe, DR periods, the limiter, then the commands. */
void reduce__reconcile(struct replay_state *s, const struct journal_record *r, struct replay_effects *out);
void reduce__decide_switch(struct replay_state *s, const struct journal_record *r, struct replay_effect *e);
void reduce__decide_service(struct replay_state *s, const struct journal_record *r, unsigned action,
                            struct replay_effect *e);
void reduce__decide_dr(struct replay_state *s, const struct journal_record *r, struct replay_effect *e);
void reduce__emit(struct replay_effects *out, const struct replay_effect *e);

/* reduce_alarm.c (v 7): an alarm_ack request */
/* reduce_der.c (v 10) */
struct reduce_der_req { uint8_t target, action; uint16_t permille; };
bool reduce__der_request_parse(const struct journal_request *q, struct reduce_der_req *out);
void reduce__decide_der(struct replay_state *s, const struct journal_record *r, struct replay_effect *e);
void reduce__fold_der_command(struct replay_state *s, const struct journal_record *r);
void reduce__fold_der_sense(struct replay_state *s, const struct journal_record *r);
/* reduce_ess.c (v 11): the battery's permit to run and the shed to its rating on backup */
void reduce__ess(struct replay_state *s, const struct journal_record *r, struct replay_effects *out);
void reduce__decide_alarm_ack(struct replay_state *s, const struct journal_record *r, struct replay_effect *e);
/* reduce_analog.c (v 11): a fault a tap's analog source raised or ended; whether the condition
 * of an analog alarm (REPLAY_ALARM_LEAKAGE_HIGH, _OVER_TEMPERATURE, _TEMPERATURE_RISE) still
 * holds on branch (1..REPLAY_BRANCHES_MAX) or the panel (0) */
void reduce__fold_analog_fault(struct replay_state *s, const struct journal_record *r);
int reduce__analog_condition(const struct replay_state *s, uint16_t branch, uint32_t alarm);

/* reduce_rollup.c (v 9): the 15-minute rollups */
void reduce__rollup_window(struct replay_state *s, const struct journal_record *r, struct replay_effects *out);
enum { REDUCE_ROLLUP_TRIP = 1, REDUCE_ROLLUP_COMMAND = 2 };
void reduce__rollup_count(struct replay_state *s, const struct journal_record *r, uint32_t branch, unsigned what);

#endif
