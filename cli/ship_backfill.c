/*
 * ship_backfill.c — `hems ship` answering backfill requests (ship.h; the request itself:
 * ship_req.c): one at a time, on a follow connection of its own bounded by the range ("until"),
 * in batches marked backfill that end at seals and at the range's end, at most SHIP_INFLIGHT
 * of them unacknowledged; then one reply naming what was sent and what retention had removed.
 */
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include "cli.h"
#include "ship.h"

/* Once the range is read and its last batch handed over: the reply. */
void ship_backfill_finish(struct ship *s)
{
  if (!s->bf_on || !s->bf_read_all || ship_publish(s, &s->bfb, SHIP_BACKFILL)) return;
  json_t *gaps = json_array();
  for (unsigned i = 0; i < s->n_gaps; i++) json_array_append_new(gaps, json_pack("[I,I]", (json_int_t)s->gaps[i][0], (json_int_t)s->gaps[i][1]));
  json_t *o = json_pack("{s:b, s:I, s:I, s:I, s:I}", "ok", s->n_gaps == 0, "from", (json_int_t)s->req.from, "to",
                        (json_int_t)s->req.to, "records", (json_int_t)s->bf_records, "batches", (json_int_t)s->bf_batches);
  if (s->n_gaps) {
    json_object_set_new(o, "error", json_string("records were removed by retention (archived): see \"removed\""));
    json_object_set_new(o, "removed", gaps);
  } else json_decref(gaps);
  ship_reply(s, o);
  cli_err("ship: backfill %llu..%llu answered: %llu records in %llu batches%s", (unsigned long long)s->req.from,
          (unsigned long long)s->req.to, (unsigned long long)s->bf_records, (unsigned long long)s->bf_batches,
          s->n_gaps ? ", some removed by retention" : "");
  bridge_link_close(&s->bf);
  s->bf_on = false;
}

static void bf_gap(struct ship *s, uint64_t from, uint64_t to)
{
  if (s->n_gaps < GAPS_MAX) { s->gaps[s->n_gaps][0] = from; s->gaps[s->n_gaps][1] = to; }
  s->n_gaps += s->n_gaps < GAPS_MAX;
}

static void on_bf(void *ctx, const uint8_t *rec, size_t len, uint64_t seq)
{
  struct ship *s = ctx;
  if (!s->bf_on || seq < s->bf_next || seq > s->req.to) return;
  if (s->bf_refollow) return;
  if (s->bfb.count && seq != s->bf_next && ship_publish(s, &s->bfb, SHIP_BACKFILL)) {
    s->bf_refollow = true; /* a gap, and no room to send what came before it: read on from bf_next later */
    return;
  }
  if (seq > s->bf_next) bf_gap(s, s->bf_next, seq - 1);
  bool seal = ship_is_seal(rec, len);
  if (ship_batch_add(&s->bfb, rec, len, seq, seal)) { cli_err("ship: out of memory"); ship_stop = SIGTERM; return; }
  s->bf_records++;
  s->bf_next = seq + 1;
  if (seal && ship_batch_full(&s->bfb)) ship_publish(s, &s->bfb, SHIP_BACKFILL); /* or it grows till there is room */
}

void ship_backfill_read(struct ship *s)
{
  int rc = bridge_link_read(&s->bf, s->bp, on_bf, s);
  if (!s->bf_on) return;
  if (!rc && s->bf_refollow) {
    s->bp->last_seq = s->bf_next - 1;
    rc = bridge_link_follow(&s->bf, s->bf_next, s->req.to);
  } else if (s->bp->last_seq >= s->req.to && s->bf_next <= s->req.to) { /* removed up to the range's end */
    bf_gap(s, s->bf_next, s->req.to);
    s->bf_next = s->req.to + 1;
  }
  s->bf_refollow = false;
  s->bf_read_all = s->bf_next > s->req.to;
  if (rc && !s->bf_read_all) {
    ship_reply(s, json_pack("{s:b, s:I, s:I, s:s}", "ok", 0, "from", (json_int_t)s->req.from, "to", (json_int_t)s->req.to,
                       "error", "the daemon's stream ended before the range was read; ask again"));
    bridge_link_close(&s->bf);
    s->bf_on = false;
  }
}

void ship_backfill_request(struct ship *s, const void *payload, size_t len)
{
  char why[300];
  struct ship_req q;
  json_t *st;
  if (!s->bf_on && s->daemon_up && bridge_link_status(&s->bf, 5000, &st) == 0) { /* the head now, not as of the cursor */
    uint64_t durable = (uint64_t)json_integer_value(json_object_get(st, "durable_seq"));
    if (durable > s->head) s->head = durable;
    json_decref(st);
  }
  if (ship_req_parse(payload, len, s->head, &q, why, sizeof why)) {
    cli_err("ship: %s", why);
    ship_reply(s, json_pack("{s:b, s:s}", "ok", 0, "error", why));
    return;
  }
  if (s->bf_on || !s->daemon_up) {
    const char *e = s->bf_on ? "busy: another backfill is being answered; ask again" : "the daemon does not answer; ask again";
    ship_reply(s, json_pack("{s:b, s:I, s:I, s:s}", "ok", 0, "from", (json_int_t)q.from, "to", (json_int_t)q.to, "error", e));
    return;
  }
  s->req = q;
  s->bf_next = q.from;
  s->bf_records = s->bf_batches = 0;
  s->n_gaps = 0;
  s->bf_read_all = s->bf_refollow = false;
  s->bp->last_seq = q.from - 1;
  ship_batch_reset(&s->bfb);
  int rc = bridge_link_follow(&s->bf, q.from, q.to);
  if (rc) {
    ship_reply(s, json_pack("{s:b, s:I, s:I, s:s}", "ok", 0, "from", (json_int_t)q.from, "to", (json_int_t)q.to, "error", strerror(-rc)));
    return;
  }
  s->bf_on = true;
  cli_err("ship: backfill %llu..%llu requested", (unsigned long long)q.from, (unsigned long long)q.to);
}
