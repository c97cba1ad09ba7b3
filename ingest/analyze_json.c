/*
 * analyze_json.c — the JSON lines `hems analyze` prints (CLI.md "hems analyze objects" and
 * "Power quality (Class A additions)"): one `window` object per basic window, one `pq_event`
 * per event (dip, swell, interruption; rvc with delta_umax_pct / delta_uss_pct; frequency with
 * freq_extreme_hz), one `aggregate` per clock-aligned 10 minutes (and per complete 2 hours).
 * Times in RFC 3339 on the file's clock (its 2013 time_code offset, else Z). Sink callbacks of
 * the engine; an output error is kept in the context and reported by the caller.
 */
#include "internal.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


static void rfc3339(const struct ingest__actx *a, int64_t ns_utc, char *buf, size_t cap)
{
  int64_t ns = ns_utc + (int64_t)a->offset_min * 60000000000LL;
  int64_t s = ns >= 0 ? ns / 1000000000 : -((-ns + 999999999) / 1000000000);
  int64_t ms = (ns - s * 1000000000) / 1000000;
  int64_t days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
  int64_t sod = s - days * 86400;
  /* civil from days */
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int d = (int)(doy - (153 * mp + 2) / 5 + 1);
  int m = (int)(mp < 10 ? mp + 3 : mp - 9);
  int y = (int)(yoe + era * 400 + (m <= 2));
  char tz[16];
  if (!a->has_offset || a->offset_min == 0) snprintf(tz, sizeof tz, "Z");
  else {
    int o = a->offset_min < 0 ? -a->offset_min : a->offset_min;
    snprintf(tz, sizeof tz, "%c%02d:%02d", a->offset_min < 0 ? '-' : '+', o / 60, o % 60);
  }
  snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03d%s", y, m, d, (int)(sod / 3600),
           (int)(sod / 60 % 60), (int)(sod % 60), (int)ms, tz);
}

static double r4(double x) { return round(x * 1e4) / 1e4; }

static void emit(struct ingest__actx *a, json_t *o)
{
  if (!o) { a->err = -ENOMEM; return; }
  if (json_dumpf(o, a->out, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12)) != 0 ||
      fputc('\n', a->out) == EOF)
    a->err = -EIO;
  json_decref(o);
}

void ingest__json_window(void *ctx, const struct ingest_window *w)
{
  struct ingest__actx *a = ctx;
  char t[64];
  rfc3339(a, w->start_ns, t, sizeof t);
  json_t *o = json_object();
  json_object_set_new(o, "type", json_string("window"));
  json_object_set_new(o, "start", json_string(t));
  json_object_set_new(o, "duration_ms", json_real(r4(w->duration_s * 1000.0)));
  json_t *chs = json_array();
  for (unsigned c = 0; c < w->nch; c++) {
    const struct ingest_channel_cfg *cc = &a->cfg->ch[c];
    const struct ingest_channel_metrics *m = &w->ch[c];
    json_t *x = json_object();
    json_object_set_new(x, "name", json_string(cc->name));
    json_object_set_new(x, "phase", json_string(cc->phase));
    json_object_set_new(x, "unit", json_string(cc->kind == INGEST_KIND_VOLTAGE ? "V" : "A"));
    json_object_set_new(x, "rms", json_real(r4(m->rms)));
    json_object_set_new(x, "thd_pct", json_real(round(m->thd_pct * 1000) / 1000));
    json_object_set_new(x, "min", json_real(r4(m->min)));
    json_object_set_new(x, "max", json_real(r4(m->max)));
    json_array_append_new(chs, x);
  }
  json_object_set_new(o, "channels", chs);
  json_t *pw = json_array();
  for (unsigned k = 0; k < w->npow; k++) {
    const struct ingest_power_metrics *p = &w->pow[k];
    json_t *x = json_object();
    json_object_set_new(x, "current", json_string(a->cfg->ch[p->ich].name));
    json_object_set_new(x, "voltage", json_string(a->cfg->ch[p->vch].name));
    json_object_set_new(x, "p_w", json_real(r4(p->p_w)));
    json_object_set_new(x, "q_var", json_real(r4(p->q_var)));
    json_object_set_new(x, "s_va", json_real(r4(p->s_va)));
    json_object_set_new(x, "pf", json_real(round(p->pf * 1e5) / 1e5));
    json_array_append_new(pw, x);
  }
  json_object_set_new(o, "powers", pw);
  json_object_set_new(o, "freq_hz", json_real(round(w->freq_hz * 1e4) / 1e4));
  if (w->flags & INGEST_WF_EVENT) json_object_set_new(o, "flagged", json_true());
  emit(a, o);
}

void ingest__json_event(void *ctx, const struct ingest_pq_event *e)
{
  struct ingest__actx *a = ctx;
  char t[64];
  rfc3339(a, e->start_ns, t, sizeof t);
  static const char *kinds[] = {"", "dip", "swell", "interruption", "rvc", "frequency"};
  json_t *o = json_object();
  json_object_set_new(o, "type", json_string("pq_event"));
  json_object_set_new(o, "kind", json_string(e->kind >= 1 && e->kind <= 5 ? kinds[e->kind] : "?"));
  json_object_set_new(o, "phases", json_string(e->phases));
  json_object_set_new(o, "start", json_string(t));
  json_object_set_new(o, "duration_ms", json_real(r4(e->duration_s * 1000.0)));
  if (e->kind == INGEST_PQ_FREQ) {
    json_object_set_new(o, "freq_extreme_hz", json_real(round(e->freq_extreme_hz * 1e4) / 1e4));
  } else {
    json_object_set_new(o, "extreme_pct", json_real(round(e->extreme_pct * 1000) / 1000));
    json_object_set_new(o, "extreme_v", json_real(r4(e->extreme_v)));
  }
  if (e->kind == INGEST_PQ_RVC) {
    json_object_set_new(o, "delta_umax_pct", json_real(round(e->delta_umax_pct * 1000) / 1000));
    json_object_set_new(o, "delta_uss_pct", json_real(round(e->delta_uss_pct * 1000) / 1000));
  }
  json_object_set_new(o, "declared_v", json_real(e->declared_v));
  if (e->kind <= INGEST_PQ_INTERRUPTION)
    json_object_set_new(o, "category", json_string(ingest_ieee1159_name(e->category)));
  if (e->flags & INGEST_PQF_AT_START) json_object_set_new(o, "in_progress_at_start", json_true());
  if (e->flags & INGEST_PQF_AT_END) json_object_set_new(o, "in_progress_at_end", json_true());
  emit(a, o);
}

/* key of voltage channel c in the per-phase objects: its phase label, or its name when the
 * label is empty or another voltage channel has it too */
static const char *vkey(const struct ingest_config *cfg, int c)
{
  const char *ph = cfg->ch[c].phase;
  if (!ph[0]) return cfg->ch[c].name;
  for (unsigned k = 0; k < cfg->nch; k++)
    if ((int)k != c && cfg->ch[k].kind == INGEST_KIND_VOLTAGE && strcasecmp(cfg->ch[k].phase, ph) == 0)
      return cfg->ch[c].name;
  return ph;
}

void ingest__json_aggregate(void *ctx, const struct ingest_pq_aggregate *g)
{
  struct ingest__actx *a = ctx;
  if (g->kind != INGEST_AGG_10MIN && !(g->kind == INGEST_AGG_2H && !g->partial)) return;
  char t[64];
  rfc3339(a, g->start_ns, t, sizeof t);
  json_t *o = json_object();
  json_object_set_new(o, "type", json_string("aggregate"));
  json_object_set_new(o, "interval_s", json_integer(g->kind == INGEST_AGG_2H ? 7200 : 600));
  json_object_set_new(o, "start", json_string(t));
  json_object_set_new(o, "partial", json_boolean(g->partial));
  json_object_set_new(o, "flagged", json_boolean(g->flagged));
  if (g->has_pst || g->has_plt) {
    json_t *p = json_object();
    for (unsigned i = 0; i < g->nv; i++)
      json_object_set_new(p, vkey(a->cfg, g->vch[i]), json_real(round((g->has_plt ? g->plt[i] : g->pst[i]) * 1e4) / 1e4));
    json_object_set_new(o, g->has_plt ? "plt" : "pst", p);
  }
  if (g->has_unbalance) {
    json_object_set_new(o, "u2_pct", json_real(round(g->u2_pct * 1e4) / 1e4));
    json_object_set_new(o, "u0_pct", json_real(round(g->u0_pct * 1e4) / 1e4));
  }
  json_t *u = json_object(), *d = json_object();
  for (unsigned i = 0; i < g->nv; i++) {
    json_object_set_new(u, vkey(a->cfg, g->vch[i]), json_real(r4(g->rms[g->vch[i]])));
    json_object_set_new(d, vkey(a->cfg, g->vch[i]), json_real(round(g->thd_pct[g->vch[i]] * 1000) / 1000));
  }
  json_object_set_new(o, "urms", u);
  json_object_set_new(o, "thd_pct", d);
  json_object_set_new(o, "freq_hz", json_real(round(g->freq_hz * 1e4) / 1e4));
  json_object_set_new(o, "windows", json_integer(g->nwin));
  emit(a, o);
}

