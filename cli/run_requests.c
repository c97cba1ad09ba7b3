/*
 * run_requests.c — requests into the journal — switch requests and policy requests (service
 * disconnect, demand response) from the socket or the scenario — and the socket clients waiting
 * on their outcome (woken by the fold's answer or by the command's sense-back).
 */
#include <string.h>
#include <sodium.h>
#include "run.h"

void run_waiters_wake(struct daemon *d, uint64_t request_seq, uint64_t command_seq, const char *json_line)
{
  for (int i = 0; i < WAITERS_MAX; i++) {
    struct waiter *w = &d->waiters[i];
    if (!w->used) continue;
    bool hit = (request_seq && w->request_seq == request_seq) || (command_seq && w->command_seq == command_seq);
    if (!hit) continue;
    if (w->c->in_use && w->c->gen == w->gen) daemon_client_send(w->c, strdup(json_line));
    w->used = false;
  }
}

/* A command decided for a waiting client: wait on its sense-back instead of the request. */
void run_waiters_follow(struct daemon *d, uint64_t request_seq, uint64_t command_seq)
{
  for (int i = 0; i < WAITERS_MAX; i++)
    if (d->waiters[i].used && d->waiters[i].request_seq == request_seq) {
      d->waiters[i].request_seq = 0;
      d->waiters[i].command_seq = command_seq;
    }
}

/* A switch request (socket or scenario) as a `request` record; the fold decides. */
int run_request_switch(struct daemon *d, uint16_t target, bool on, const char *request_id, const char *reason,
                       int64_t expiry_ns, uint8_t role, uint8_t origin, uint32_t uid, uint32_t gid, uint64_t *out_seq,
                       struct replay_effects *fx, uint64_t fx_seqs[])
{
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_REQUEST;
  r.source.kind = JOURNAL_SRC_OPERATOR;
  struct journal_request *q = &r.body.request;
  q->target = target;
  q->desired = on ? JOURNAL_DESIRED_ON : JOURNAL_DESIRED_OFF;
  q->role = role;
  q->origin = origin;
  q->uid = uid;
  q->gid = gid;
  q->expiry_ns = expiry_ns;
  q->request_id = (struct journal_slice){ (const uint8_t *)request_id, (uint32_t)strlen(request_id) };
  if (reason) q->reason = (struct journal_slice){ (const uint8_t *)reason, (uint32_t)cli_utf8_prefix(reason, REASON_MAX) };
  d->requests++;
  return run_append_fx(d, &r, out_seq, fx, fx_seqs);
}

/* A policy request (service disconnect, demand response) as a `request` record; the fold
 * decides. A DR start's randomised start is drawn here from the seed (BLAKE2b of seed, event,
 * modification and the request's seq) and written into the record, so the fold stays pure. */
int run_request_policy(struct daemon *d, struct journal_request *q, uint64_t *out_seq, struct replay_effects *fx,
                       uint64_t fx_seqs[])
{
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_REQUEST;
  r.source.kind = JOURNAL_SRC_OPERATOR;
  if (q->remote_seq && q->issuer.len && q->issuer.len < sizeof r.source.name) { /* a signed remote command (remote_accept.c) */
    r.source.kind = JOURNAL_SRC_REMOTE;
    memcpy(r.source.name, q->issuer.ptr, q->issuer.len);
  }
  if (q->kind == JOURNAL_REQ_DR_START) {
    if (!q->dtstart_ns) q->dtstart_ns = run_wall_ns(d);
    uint64_t draw = 0;
    if (q->randomize_ns) {
      uint8_t in[8 + 64 + 4 + 8], h[8];
      uint64_t next = journal_head_seq(d->j) + 1;
      size_t el = q->event.len < 64 ? q->event.len : 64;
      memset(in, 0, sizeof in);
      for (int i = 0; i < 8; i++) { in[i] = (uint8_t)(d->o.seed >> (8 * i)); in[76 + i] = (uint8_t)(next >> (8 * i)); }
      memcpy(in + 8, q->event.ptr, el);
      for (int i = 0; i < 4; i++) in[72 + i] = (uint8_t)(q->modification >> (8 * i));
      crypto_generichash(h, sizeof h, in, sizeof in, NULL, 0);
      for (int i = 0; i < 8; i++) draw |= (uint64_t)h[i] << (8 * i);
      draw %= q->randomize_ns + 1;
    }
    q->start_ns = q->dtstart_ns + (int64_t)draw;
  }
  r.body.request = *q;
  d->requests++;
  return run_append_fx(d, &r, out_seq, fx, fx_seqs);
}
