/*
 * daemon_limit.c — the per-peer rate limit of the control socket (rule in daemon.h, figures in
 * docs/cli.md).
 *
 * Keyed by uid: connections and pids are free to make, a uid is not. Time is the loop's
 * monotonic milliseconds, never record time: the limit protects the storage of this panel now,
 * and under --sim --speed max virtual time races ahead. The refusals it produces are journaled
 * by the caller as one coalesced record per peer and second (cause_seq 0, so the fold and
 * `replay --check` see a refusal that answers no request and count it like any other).
 */
#include <string.h>
#include "daemon.h"

static struct daemon_peer *peer_of(struct daemon_limit *l, uint32_t uid, uint64_t now_ms)
{
  struct daemon_peer *free_slot = NULL, *idle = NULL;
  for (int i = 0; i < DAEMON_PEERS_MAX; i++) {
    struct daemon_peer *p = &l->peer[i];
    if (p->used && p->uid == uid) return p;
    if (!p->used) { if (!free_slot) free_slot = p; continue; }
    /* a full bucket with nothing pending carries no state worth keeping */
    if (!p->dropped && (!idle || p->refill_ms < idle->refill_ms)) idle = p;
  }
  struct daemon_peer *p = free_slot ? free_slot : idle;
  if (!p) return NULL; /* every slot holds uncounted refusals: the caller refuses outright */
  memset(p, 0, sizeof *p);
  p->used = true;
  p->uid = uid;
  p->tokens_milli = DAEMON_PEER_BURST * 1000u;
  p->refill_ms = now_ms;
  return p;
}

bool daemon_limit_take(struct daemon_limit *l, uint32_t uid, uint64_t now_ms, uint16_t target, uint8_t desired,
                       const char *request_id)
{
  struct daemon_peer *p = peer_of(l, uid, now_ms);
  if (!p) return false;
  if (now_ms > p->refill_ms) {
    uint64_t add = (now_ms - p->refill_ms) * DAEMON_PEER_RATE_PER_S; /* ms × 1/s = milli-tokens */
    uint64_t t = p->tokens_milli + add;
    p->tokens_milli = t > DAEMON_PEER_BURST * 1000u ? DAEMON_PEER_BURST * 1000u : (uint32_t)t;
    p->refill_ms = now_ms;
  }
  if (p->tokens_milli >= 1000) {
    p->tokens_milli -= 1000;
    return true;
  }
  if (!p->dropped) {
    p->dropped_since_ms = now_ms;
    p->target = target;
    p->desired = desired;
    size_t n = request_id ? strnlen(request_id, 64) : 0;
    memcpy(p->request_id, request_id ? request_id : "", n);
    p->request_id[n] = 0;
  }
  if (p->dropped < UINT32_MAX) p->dropped++;
  return false;
}

bool daemon_limit_due(struct daemon_limit *l, uint64_t now_ms, bool force, struct journal_refusal *out)
{
  for (int i = 0; i < DAEMON_PEERS_MAX; i++) {
    struct daemon_peer *p = &l->peer[i];
    if (!p->used || !p->dropped || (!force && now_ms - p->dropped_since_ms < 1000)) continue;
    memset(out, 0, sizeof *out);
    out->reason = JOURNAL_REF_RATE_LIMIT;
    out->target = p->target;
    out->desired = p->desired;
    out->uid = p->uid;
    out->count = p->dropped;
    out->request_id = (struct journal_slice){ (const uint8_t *)p->request_id, (uint32_t)strlen(p->request_id) };
    p->dropped = 0;
    return true;
  }
  return false;
}
