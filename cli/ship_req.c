/*
 * ship_req.c — the backfill request `hems ship` takes (ship_req.h says exactly what). The JSON
 * is parsed by jansson with duplicate keys refused; the numbers must be JSON integers that fit
 * a seq (jansson reads them as json_int_t: a larger one is a parse error, a negative one is
 * refused here), so no float rounding can move a range.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include "ship_req.h"

static int refuse(char *msg, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(char *msg, size_t cap, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, cap, fmt, ap);
  va_end(ap);
  for (char *p = msg; *p; p++)
    if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) *p = '?';
  return -1;
}

static int seq_of(const json_t *o, const char *key, uint64_t *out)
{
  json_t *v = json_object_get(o, key);
  if (!json_is_integer(v) || json_integer_value(v) < 1) return -1;
  *out = (uint64_t)json_integer_value(v);
  return 0;
}

int ship_req_parse(const void *payload, size_t len, uint64_t head, struct ship_req *out, char *msg, size_t msg_cap)
{
  if (len > SHIP_REQ_BYTES_MAX)
    return refuse(msg, msg_cap, "bad backfill request: %zu bytes (at most %u)", len, SHIP_REQ_BYTES_MAX);
  json_error_t e;
  json_t *o = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &e);
  if (!o) return refuse(msg, msg_cap, "bad backfill request: not JSON (%.80s)", e.text);
  int rc = -1;
  struct ship_req r;
  if (!json_is_object(o) || json_object_size(o) != 2)
    refuse(msg, msg_cap, "bad backfill request: expected exactly {\"from\": SEQ, \"to\": SEQ}");
  else if (seq_of(o, "from", &r.from) || seq_of(o, "to", &r.to))
    refuse(msg, msg_cap, "bad backfill request: \"from\" and \"to\" must be seqs (integers of 1 or more)");
  else if (r.from > r.to)
    refuse(msg, msg_cap, "bad backfill request: from %llu is after to %llu", (unsigned long long)r.from,
           (unsigned long long)r.to);
  else if (r.to > head)
    refuse(msg, msg_cap, "bad backfill request: to %llu is beyond the journal's durable head %llu",
           (unsigned long long)r.to, (unsigned long long)head);
  else if (r.to - r.from >= SHIP_BACKFILL_MAX)
    refuse(msg, msg_cap, "bad backfill request: %llu records (at most %u per request)",
           (unsigned long long)(r.to - r.from + 1), SHIP_BACKFILL_MAX);
  else {
    *out = r;
    rc = 0;
  }
  json_decref(o);
  return rc;
}
