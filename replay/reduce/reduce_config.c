/*
 * reduce_config.c — the branch and policy settings a `config` record's JSON gives the fold (reduce_internal.h says how the fold is split).
 */
#include "reduce_internal.h"

/* ------------------------------------------------------------------ policy: config */

/* A minimal scanner for the panel config's JSON (the `config` record): the fold reads the
 * per-branch policy fields from it. Any malformed input just stops the scan. */
struct jcur { const uint8_t *p, *e; };

static int j_isws(uint8_t c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
static void j_ws(struct jcur *c) { while (c->p < c->e && j_isws(*c->p)) c->p++; }
static int j_peek(struct jcur *c, uint8_t ch) { j_ws(c); return c->p < c->e && *c->p == ch; }

static int j_string(struct jcur *c, const uint8_t **s, uint32_t *n)
{
  j_ws(c);
  if (c->p >= c->e || *c->p != '"') return -1;
  const uint8_t *start = ++c->p;
  while (c->p < c->e && *c->p != '"') c->p += *c->p == '\\' ? 2 : 1;
  if (c->p >= c->e) return -1;
  *s = start;
  *n = (uint32_t)(c->p - start);
  c->p++;
  return 0;
}

static int j_skip(struct jcur *c)
{
  j_ws(c);
  if (c->p >= c->e) return -1;
  const uint8_t *s;
  uint32_t n;
  if (*c->p == '"') return j_string(c, &s, &n);
  if (*c->p == '{' || *c->p == '[') {
    int depth = 0;
    while (c->p < c->e) {
      uint8_t ch = *c->p;
      if (ch == '"') { if (j_string(c, &s, &n)) return -1; continue; }
      if (ch == '{' || ch == '[') depth++;
      else if (ch == '}' || ch == ']') { if (--depth == 0) { c->p++; return 0; } }
      c->p++;
    }
    return -1;
  }
  while (c->p < c->e && *c->p != ',' && *c->p != '}' && *c->p != ']' && !j_isws(*c->p)) c->p++;
  return 0;
}

/* A non-negative integer (a fraction is cut), saturating at 65535. */
static int j_uint(struct jcur *c, uint32_t *out)
{
  j_ws(c);
  uint32_t v = 0;
  int digits = 0;
  while (c->p < c->e && *c->p >= '0' && *c->p <= '9') {
    if (v < 65535) v = v * 10 + (uint32_t)(*c->p - '0');
    c->p++;
    digits++;
  }
  if (!digits) return j_skip(c) ? -1 : 1;
  if (v > 65535) v = 65535;
  *out = v;
  return j_skip(c) < 0 ? -1 : 0; /* the rest of the number */
}

static int j_key(struct jcur *c, const uint8_t **k, uint32_t *kn)
{
  if (j_string(c, k, kn)) return -1;
  if (!j_peek(c, ':')) return -1;
  c->p++;
  return 0;
}

static int key_is(const uint8_t *k, uint32_t kn, const char *lit)
{
  size_t n = cstr_len(lit);
  return kn == n && memcmp(k, lit, n) == 0;
}

static void config_branch(struct replay_state *s, struct jcur *c)
{
  if (!j_peek(c, '{')) { j_skip(c); return; }
  c->p++;
  uint32_t number = 0, priority = 0, breaker = 0;
  int critical = 0, load_only = 1, fail_safe = 1;
  const uint8_t *k;
  uint32_t kn;
  while (!j_peek(c, '}')) {
    if (j_key(c, &k, &kn)) return;
    if (key_is(k, kn, "number")) { if (j_uint(c, &number) < 0) return; }
    else if (key_is(k, kn, "priority")) { if (j_uint(c, &priority) < 0) return; }
    else if (key_is(k, kn, "breaker_a")) { if (j_uint(c, &breaker) < 0) return; }
    else if (key_is(k, kn, "critical") || key_is(k, kn, "load_only")) {
      j_ws(c);
      int v = c->p < c->e && *c->p == 't';
      if (key_is(k, kn, "critical")) critical = v; else load_only = v;
      if (j_skip(c)) return;
    } else if (key_is(k, kn, "fail_safe")) {
      const uint8_t *v;
      uint32_t vn;
      if (j_string(c, &v, &vn)) return;
      fail_safe = key_is(v, vn, "open") ? 0 : key_is(v, vn, "last_proven") ? 2 : 1;
    } else if (j_skip(c)) return;
    if (j_peek(c, ',')) c->p++;
  }
  c->p++;
  struct replay_branch *b = number ? branch_of(s, number) : NULL;
  if (!b) return;
  b->priority = (uint8_t)(priority > 255 ? 255 : priority);
  b->critical = (uint8_t)critical;
  b->fail_safe = (uint8_t)fail_safe;
  b->breaker_a = (uint16_t)breaker;
  if (!load_only) b->exports = 1;
}

void reduce__config_json(struct replay_state *s, struct journal_slice json)
{
  if (!json.ptr || !json.len) return;
  struct jcur c = { json.ptr, json.ptr + json.len };
  if (!j_peek(&c, '{')) return;
  c.p++;
  const uint8_t *k;
  uint32_t kn;
  while (!j_peek(&c, '}')) {
    if (j_key(&c, &k, &kn)) return;
    if (key_is(k, kn, "service_limit_a")) {
      uint32_t v = 0;
      if (j_uint(&c, &v) < 0) return;
      s->pol.service_limit_a = (uint16_t)v;
    } else if (key_is(k, kn, "branches") && j_peek(&c, '[')) {
      c.p++;
      while (!j_peek(&c, ']')) {
        const uint8_t *before = c.p;
        config_branch(s, &c);
        if (j_peek(&c, ',')) c.p++;
        if (c.p == before || c.p >= c.e) return;
      }
      c.p++;
    } else if (j_skip(&c)) return;
    if (j_peek(&c, ',')) c.p++;
    if (c.p >= c.e) return;
  }
}
