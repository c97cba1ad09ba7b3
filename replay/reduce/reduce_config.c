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

/* A non-negative decimal as tenths, rounded to the nearest (90.099999999999994 → 901, as the
 * canonical config's %.17g reals come out; 5e-05 → 0), saturating at 65535; an exponent is
 * honoured. Integer arithmetic on the digits only (no floating point in the fold). */
static int j_tenths(struct jcur *c, uint32_t *out)
{
  j_ws(c);
  uint64_t m = 0; /* the digits read, at most 18 of them significant */
  int digits = 0, frac = 0, in_frac = 0, sig = 0;
  while (c->p < c->e && ((*c->p >= '0' && *c->p <= '9') || (*c->p == '.' && !in_frac))) {
    if (*c->p == '.') in_frac = 1;
    else {
      digits++;
      if (sig < 18) { m = m * 10 + (uint64_t)(*c->p - '0'); if (m) sig++; if (in_frac) frac++; }
      else if (!in_frac) frac--; /* an integer digit past the precision: scale up */
    }
    c->p++;
  }
  if (!digits) return j_skip(c) ? -1 : 1;
  int exp = 0;
  if (c->p < c->e && (*c->p == 'e' || *c->p == 'E')) {
    c->p++;
    int neg = c->p < c->e && *c->p == '-';
    if (c->p < c->e && (*c->p == '-' || *c->p == '+')) c->p++;
    while (c->p < c->e && *c->p >= '0' && *c->p <= '9') { if (exp < 1000) exp = exp * 10 + (*c->p - '0'); c->p++; }
    if (neg) exp = -exp;
  }
  /* value = m · 10^(exp − frac); tenths = value · 10, rounded */
  int shift = exp - frac + 1;
  uint64_t t;
  if (shift >= 0) {
    t = m;
    for (int i = 0; i < shift && t <= 65535; i++) t *= 10;
  } else {
    uint64_t div = 1;
    int i = 0;
    for (; i < -shift && div <= m; i++) div *= 10;
    t = i < -shift ? 0 : (m + div / 2) / div; /* stopped early: m / 10^-shift < 0.1 */
  }
  *out = t > 65535 ? 65535 : (uint32_t)t;
  return j_skip(c) < 0 ? -1 : 0;
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
  int critical = 0, load_only = 1, fail_safe = 1, sensitive = 0;
  const uint8_t *k;
  uint32_t kn;
  while (!j_peek(c, '}')) {
    if (j_key(c, &k, &kn)) return;
    if (key_is(k, kn, "number")) { if (j_uint(c, &number) < 0) return; }
    else if (key_is(k, kn, "priority")) { if (j_uint(c, &priority) < 0) return; }
    else if (key_is(k, kn, "breaker_a")) { if (j_uint(c, &breaker) < 0) return; }
    else if (key_is(k, kn, "critical") || key_is(k, kn, "load_only") || key_is(k, kn, "sensitive")) {
      j_ws(c);
      int v = c->p < c->e && *c->p == 't';
      if (key_is(k, kn, "critical")) critical = v;
      else if (key_is(k, kn, "sensitive")) sensitive = v;
      else load_only = v;
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
  if (s->reducer_version >= 8) b->sensitive = (uint8_t)sensitive;
}

/* v 8: "afes": the one marked "mains": true is the protective action's voltage source */
static void config_afes(struct replay_state *s, struct jcur *c)
{
  c->p++;
  while (!j_peek(c, ']')) {
    if (!j_peek(c, '{')) return;
    c->p++;
    uint32_t index = 0;
    int mains = 0;
    const uint8_t *k;
    uint32_t kn;
    while (!j_peek(c, '}')) {
      if (j_key(c, &k, &kn)) return;
      if (key_is(k, kn, "index")) { if (j_uint(c, &index) < 0) return; }
      else if (key_is(k, kn, "mains")) { j_ws(c); mains = c->p < c->e && *c->p == 't'; if (j_skip(c)) return; }
      else if (j_skip(c)) return;
      if (j_peek(c, ',')) c->p++;
      if (c->p >= c->e) return;
    }
    c->p++;
    if (mains && index < 255) s->pol.mains_afe = (uint8_t)(index + 1);
    if (j_peek(c, ',')) c->p++;
    if (c->p >= c->e) return;
  }
  c->p++;
}

/* v 8: "restore": {"holdoff_s", "der_holdoff_s"} (0..3600 s: the hold-offs of reducer v 5) */
static void config_restore(struct replay_state *s, struct jcur *c)
{
  if (!j_peek(c, '{')) { j_skip(c); return; }
  c->p++;
  const uint8_t *k;
  uint32_t kn, v;
  while (!j_peek(c, '}')) {
    if (j_key(c, &k, &kn)) return;
    if (key_is(k, kn, "holdoff_s") || key_is(k, kn, "der_holdoff_s")) {
      v = 0;
      int r = j_uint(c, &v);
      if (r < 0) return;
      if (r == 0) { /* a non-number leaves the default */
        int64_t ns = (int64_t)(v > 3600 ? 3600 : v) * 1000000000ll;
        if (ns < REPLAY_MIN_HOLDOFF_NS) ns = REPLAY_MIN_HOLDOFF_NS;
        if (key_is(k, kn, "holdoff_s")) s->pol.holdoff_ns = ns;
        else s->pol.der_holdoff_ns = ns;
      }
    } else if (j_skip(c)) return;
    if (j_peek(c, ',')) c->p++;
    if (c->p >= c->e) return;
  }
  c->p++;
}

/* v 8: "pq": {"dip_pct", "swell_pct", "hysteresis_pct", "protect_after_s"} (the panel parser
 * has range-checked them; a hostile record is clamped here so the band stays a band). */
static void config_pq(struct replay_state *s, struct jcur *c)
{
  if (!j_peek(c, '{')) { j_skip(c); return; }
  c->p++;
  struct replay_policy *p = &s->pol;
  const uint8_t *k;
  uint32_t kn, v;
  while (!j_peek(c, '}')) {
    if (j_key(c, &k, &kn)) return;
    int r = 1;
    v = 0;
    /* each only when a number was read (r == 0): a non-number leaves the default */
    if (key_is(k, kn, "dip_pct")) {
      if ((r = j_tenths(c, &v)) == 0) p->pq_low_permille = (uint16_t)(v < 500 ? 500 : v > 990 ? 990 : v);
    } else if (key_is(k, kn, "swell_pct")) {
      if ((r = j_tenths(c, &v)) == 0) p->pq_high_permille = (uint16_t)(v < 1010 ? 1010 : v > 2000 ? 2000 : v);
    } else if (key_is(k, kn, "hysteresis_pct")) {
      if ((r = j_tenths(c, &v)) == 0) p->pq_hyst_permille = (uint16_t)(v > 100 ? 100 : v);
    } else if (key_is(k, kn, "protect_after_s")) {
      if ((r = j_uint(c, &v)) == 0) p->protect_ns = (int64_t)(v > 3600 ? 3600 : v) * 1000000000ll;
      if (p->protect_ns < REPLAY_MIN_PROTECT_NS) p->protect_ns = REPLAY_MIN_PROTECT_NS;
    } else r = j_skip(c);
    if (r < 0) return;
    if (j_peek(c, ',')) c->p++;
    if (c->p >= c->e) break;
  }
  if (c->p < c->e) c->p++;
  if (p->pq_low_permille + p->pq_hyst_permille >= 1000 || p->pq_high_permille - p->pq_hyst_permille <= 1000)
    p->pq_hyst_permille = 0; /* a hysteresis that leaves no band: none */
}

/* v 11: "der": {"ess": {"branch", "max_w"}, "lines": {"ess_permit": N or null}} — the battery
 * whose permit to run the fold drives (reduce_ess.c) */
static void config_der(struct replay_state *s, struct jcur *c)
{
  if (!j_peek(c, '{')) { j_skip(c); return; }
  c->p++;
  struct replay_policy *p = &s->pol;
  const uint8_t *k;
  uint32_t kn, v;
  while (!j_peek(c, '}')) {
    if (j_key(c, &k, &kn)) return;
    int r = 0;
    if ((key_is(k, kn, "ess") || key_is(k, kn, "lines")) && j_peek(c, '{')) {
      int ess = key_is(k, kn, "ess");
      c->p++;
      while (!j_peek(c, '}')) {
        const uint8_t *k2;
        uint32_t kn2;
        if (j_key(c, &k2, &kn2)) return;
        v = 0;
        if (ess && key_is(k2, kn2, "branch")) {
          if ((r = j_uint(c, &v)) == 0) p->ess_branch = (uint16_t)(v <= REPLAY_BRANCHES_MAX ? v : 0);
        } else if (ess && key_is(k2, kn2, "max_w")) {
          if ((r = j_uint(c, &v)) == 0) p->ess_max_w = v; /* whole watts, up to 65535 */
        } else if (!ess && key_is(k2, kn2, "ess_permit")) {
          if ((r = j_uint(c, &v)) == 0) p->ess_permit_line = 1; /* null: none */
          else if (r > 0) r = 0;
        } else r = j_skip(c);
        if (r < 0) return;
        if (j_peek(c, ',')) c->p++;
        if (c->p >= c->e) return;
      }
      c->p++;
    } else if (j_skip(c)) return;
    if (j_peek(c, ',')) c->p++;
    if (c->p >= c->e) return;
  }
  c->p++;
}

void reduce__config_json(struct replay_state *s, struct journal_slice json)
{
  if (!json.ptr || !json.len) return;
  if (s->reducer_version >= 8) { /* a config that leaves "pq" out means the defaults */
    struct replay_policy *p = &s->pol;
    p->pq_low_permille = REPLAY_DEFAULT_PQ_LOW_PERMILLE;
    p->pq_high_permille = REPLAY_DEFAULT_PQ_HIGH_PERMILLE;
    p->pq_hyst_permille = REPLAY_DEFAULT_PQ_HYST_PERMILLE;
    p->protect_ns = REPLAY_DEFAULT_PROTECT_NS;
    p->holdoff_ns = REPLAY_DEFAULT_RESTORE_HOLDOFF_NS; /* likewise "restore" */
    p->der_holdoff_ns = REPLAY_DEFAULT_DER_HOLDOFF_NS;
    p->mains_afe = 0; /* and "afes" */
    p->nominal_mv = 0;
  }
  if (s->reducer_version >= 11) { /* and "der" (what the fold last commanded stays) */
    s->pol.ess_permit_line = 0;
    s->pol.ess_branch = 0;
    s->pol.ess_max_w = 0;
  }
  struct jcur c = { json.ptr, json.ptr + json.len };
  if (!j_peek(&c, '{')) return;
  c.p++;
  const uint8_t *k;
  uint32_t kn;
  while (!j_peek(&c, '}')) {
    if (j_key(&c, &k, &kn)) return;
    if (s->reducer_version >= 8 && key_is(k, kn, "mains")) {
      const uint8_t *v;
      uint32_t vn;
      if (j_string(&c, &v, &vn)) return;
      /* split-phase: not yet — its windows label the L1–L2 (240 V) channel as a phase, so no
       * nominal and no protective action (docs/policy.md "Protective action") */
      s->pol.nominal_mv = key_is(v, vn, "3ph-230-50") ? 230000 : 0;
    } else if (s->reducer_version >= 8 && key_is(k, kn, "afes") && j_peek(&c, '[')) {
      config_afes(s, &c);
    } else if (s->reducer_version >= 8 && key_is(k, kn, "pq")) {
      config_pq(s, &c);
    } else if (s->reducer_version >= 8 && key_is(k, kn, "restore")) {
      config_restore(s, &c);
    } else if (s->reducer_version >= 11 && key_is(k, kn, "der")) {
      config_der(s, &c);
    } else if (key_is(k, kn, "service_limit_a")) {
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
