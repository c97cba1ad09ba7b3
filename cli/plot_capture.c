/*
 * plot_capture.c — the picture of an event's waveform capture (`hems plot SEQ`): the voltage
 * and current waveforms, each voltage's half-cycle RMS (IEC 61000-4-30 Urms(½): one cycle,
 * refreshed each half cycle) with the dip and swell thresholds and their hysteresis band, the
 * trigger, and the branch timeline (commands, sense-backs, taps) on the same time axis.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "ingest.h"

#define W 1100.0
#define X0 70.0
#define X1 1070.0

struct axis { double t0, t1, y0, y1, v0, v1; };

static double xs(const struct axis *a, double t) { return X0 + (t - a->t0) / (a->t1 - a->t0) * (X1 - X0); }
static double ys(const struct axis *a, double v) { return a->y1 - (v - a->v0) / (a->v1 - a->v0) * (a->y1 - a->y0); }

static void frame(FILE *f, const struct axis *a, const char *label, const char *unit)
{
  cli_svg_line(f, X0, a->y0, X0, a->y1, "axis");
  cli_svg_line(f, X0, a->y1, X1, a->y1, "axis");
  cli_svg_text(f, X0 - 6, a->y0 + 10, "end", "%.0f", a->v1);
  cli_svg_text(f, X0 - 6, a->y1, "end", "%.0f", a->v0);
  cli_svg_text(f, X0 + 4, a->y0 - 4, "start", "%s [%s]", label, unit);
}

/* One channel's samples as a polyline, min and max kept per pixel column. */
static void trace(FILE *f, const struct axis *a, const char *cls, const double *v, uint32_t n, double fs, double trig)
{
  double *px = malloc(sizeof *px * (2 * (size_t)(X1 - X0) + 4)), *py = malloc(sizeof *py * (2 * (size_t)(X1 - X0) + 4));
  if (!px || !py) { free(px); free(py); return; }
  size_t m = 0;
  int col = -1;
  double lo = 0, hi = 0;
  for (uint32_t i = 0; i <= n; i++) {
    int c = i < n ? (int)xs(a, ((double)i - trig) / fs * 1000.0) : -2;
    if (c != col && col >= 0) {
      px[m] = col; py[m++] = ys(a, hi);
      if (lo != hi) { px[m] = col; py[m++] = ys(a, lo); }
    }
    if (i == n) break;
    if (c != col) { col = c; lo = hi = v[i]; }
    if (v[i] < lo) lo = v[i];
    if (v[i] > hi) hi = v[i];
  }
  cli_svg_polyline(f, cls, px, py, m);
  free(px);
  free(py);
}

struct tl { int64_t from, to; FILE *f; const struct axis *a; double y; const struct cli_names *names; unsigned n; };

/* A record of the branch timeline: a tick and a label at its time. */
static int timeline_mark(void *ctx, const uint8_t *b, size_t len)
{
  struct tl *t = ctx;
  char *j = journal_record_to_json(b, len, JOURNAL_JSON_COMPACT);
  json_t *o = j ? json_loads(j, 0, NULL) : NULL;
  free(j);
  int64_t ns = 0;
  const char *time = json_string_value(json_object_get(o, "time"));
  if (time && cli_parse_time(time, 0, &ns) == 0 && ns >= t->from && ns <= t->to) {
    double x = xs(t->a, (double)(ns - t->from) / 1e6 + t->a->t0);
    const json_t *body = json_object_get(o, "body");
    const char *type = json_string_value(json_object_get(o, "type"));
    char label[96];
    json_int_t tg = json_integer_value(json_object_get(body, json_object_get(body, "target") ? "target" : "branch"));
    const char *name = tg > 0 ? cli_branch_name(t->names, (unsigned)tg) : NULL;
    if (!strcmp(type, "command"))
      snprintf(label, sizeof label, "command %lld%s%s %s", (long long)tg, name ? " " : "", name ? name : "",
               json_string_value(json_object_get(body, "desired")) ?: "");
    else if (!strcmp(type, "sense_back"))
      snprintf(label, sizeof label, "sense-back %lld %s", (long long)tg, json_string_value(json_object_get(body, "verdict")) ?: "");
    else
      snprintf(label, sizeof label, "%s %s %lld", type, json_string_value(json_object_get(body, "kind")) ?: "", (long long)tg);
    cli_svg_line(t->f, x, t->a->y0, x, t->y + 4, "event");
    cli_svg_text(t->f, x + 3, t->y + 14 + 13.0 * (t->n % 4), "start", "%s", label);
    t->n++;
  }
  json_decref(o);
  return 0;
}

static double pq_cfg(const json_t *cfg, const char *k, double dflt)
{
  json_t *v = json_object_get(json_object_get(cfg, "pq"), k);
  return json_is_number(v) && json_number_value(v) > 0 ? json_number_value(v) : dflt;
}

int cli_plot_capture(const struct cli_common *c, const char *pubkey, const char *fpr, uint64_t seq, FILE *f, bool standalone)
{
  static struct ingest_capture cap;
  int32_t *codes = NULL;
  double *v = NULL;
  int rc = cli_capture_load(c, pubkey, fpr, "plot", seq, &cap, &codes);
  if (rc) return rc;
  unsigned nch = cap.v.nch;
  uint32_t nf = cap.v.nframes;
  if (nf < 2 || cap.v.sample_rate_hz <= 0) {
    cli_err("plot: seq %llu: the capture is too short to draw", (unsigned long long)seq);
    free(codes);
    return CLI_FAIL;
  }
  json_t *cfg = NULL;
  struct cli_names names = { 0 };
  cli_config_load(c, pubkey, fpr, &cfg);
  if (cfg) { char *t = json_dumps(cfg, JSON_COMPACT); if (t) cli_names_from_config(t, strlen(t), &names); free(t); }
  double fs = cap.v.sample_rate_hz, trig = cap.v.trigger_frame, f0 = cap.v.nominal_hz > 0 ? cap.v.nominal_hz : 50;
  struct axis av = { -trig / fs * 1000, (nf - 1 - trig) / fs * 1000, 40, 210, 0, 0 }, ai = av, ar = av;
  ai.y0 = 250; ai.y1 = 410;
  ar.y0 = 450; ar.y1 = 610;
  /* physical values and ranges */
  v = malloc(sizeof *v * (size_t)nch * nf);
  if (!v) { free(codes); json_decref(cfg); cli_names_free(&names); return CLI_ENV; }
  double vmax = 1, imax = 0.1, rmax = 1;
  for (unsigned ch = 0; ch < nch; ch++)
    for (uint32_t i = 0; i < nf; i++) {
      double x = codes[(size_t)ch * nf + i] * cap.chan[ch].scale + cap.chan[ch].offset; /* channel-major */
      v[(size_t)ch * nf + i] = x;
      if (cap.chan[ch].kind == INGEST_KIND_VOLTAGE && fabs(x) > vmax) vmax = fabs(x);
      if (cap.chan[ch].kind != INGEST_KIND_VOLTAGE && fabs(x) > imax) imax = fabs(x);
    }
  av.v0 = -vmax * 1.05; av.v1 = vmax * 1.05;
  ai.v0 = -imax * 1.05; ai.v1 = imax * 1.05;
  double declared = 0;
  const char *mains = json_string_value(json_object_get(cfg, "mains"));
  if (mains) { const char *p = strchr(mains, '-'); if (p) declared = atof(p + 1); }
  if (declared <= 0) declared = vmax / M_SQRT2;
  double dip = pq_cfg(cfg, "dip_pct", 90), swell = pq_cfg(cfg, "swell_pct", 110), hyst = pq_cfg(cfg, "hysteresis_pct", 2);
  rmax = declared * (swell + 10) / 100;
  ar.v0 = 0; ar.v1 = rmax;
  char title[160];
  snprintf(title, sizeof title, "hems plot: capture of seq %llu", (unsigned long long)seq);
  cli_svg_begin(f, W, 760, title, standalone);
  cli_svg_text(f, X0, 20, "start", "seq %llu: %u channels, %u samples at %.0f Hz; time in ms from the trigger",
               (unsigned long long)seq, nch, nf, fs);
  frame(f, &av, "voltage", "V");
  frame(f, &ai, "current", "A");
  frame(f, &ar, "half-cycle RMS", "V");
  cli_svg_text(f, X0, ar.y1 + 14, "start", "%.0f ms", ar.t0);
  cli_svg_text(f, X1, ar.y1 + 14, "end", "%+.0f ms", ar.t1);
  size_t per = (size_t)lround(fs / f0);
  size_t half = per / 2 ? per / 2 : 1;
  for (unsigned ch = 0; ch < nch; ch++) {
    char cls[48];
    const char *ph = cap.chan[ch].phase[0] ? cap.chan[ch].phase : "N";
    bool volt = cap.chan[ch].kind == INGEST_KIND_VOLTAGE;
    snprintf(cls, sizeof cls, "wave %s %s", volt ? "v" : "i", strchr("ABCN", ph[0]) ? (char[]){ ph[0], 0 } : "N");
    trace(f, volt ? &av : &ai, cls, v + (size_t)ch * nf, nf, fs, trig);
    if (!volt || per < 2 || nf < per) continue;
    /* Urms(½): the RMS of one cycle, every half cycle, placed at the cycle's end */
    size_t nk = (nf - per) / half + 1;
    double *rx = malloc(sizeof *rx * nk), *ry = malloc(sizeof *ry * nk);
    if (!rx || !ry) { free(rx); free(ry); continue; }
    for (size_t k = 0; k < nk; k++) {
      double acc = 0;
      const double *w = v + (size_t)ch * nf + k * half;
      for (size_t i = 0; i < per; i++) acc += w[i] * w[i];
      double r = sqrt(acc / (double)per);
      rx[k] = xs(&ar, ((double)(k * half + per) - trig) / fs * 1000);
      ry[k] = ys(&ar, r > rmax ? rmax : r);
    }
    snprintf(cls, sizeof cls, "hrms %s", strchr("ABCN", ph[0]) ? (char[]){ ph[0], 0 } : "N");
    cli_svg_polyline(f, cls, rx, ry, nk);
    free(rx);
    free(ry);
  }
  /* thresholds and their hysteresis (the band an event must leave to end) */
  double dv = declared * dip / 100, sv = declared * swell / 100, hv = declared * hyst / 100;
  cli_svg_rect(f, X0, ys(&ar, dv + hv), X1 - X0, ys(&ar, dv) - ys(&ar, dv + hv), "hyst");
  cli_svg_rect(f, X0, ys(&ar, sv), X1 - X0, ys(&ar, sv - hv) - ys(&ar, sv), "hyst");
  cli_svg_line(f, X0, ys(&ar, dv), X1, ys(&ar, dv), "threshold");
  cli_svg_line(f, X0, ys(&ar, sv), X1, ys(&ar, sv), "threshold");
  cli_svg_text(f, X1, ys(&ar, dv) - 3, "end", "dip %.0f %% (%.1f V), hysteresis %.0f %%", dip, dv, hyst);
  cli_svg_text(f, X1, ys(&ar, sv) - 3, "end", "swell %.0f %% (%.1f V)", swell, sv);
  for (const struct axis *a = &av; a; a = a == &av ? &ai : a == &ai ? &ar : NULL)
    cli_svg_line(f, xs(a, 0), a->y0, xs(a, 0), a->y1, "trigger");
  cli_svg_text(f, xs(&av, 0) + 3, 36, "start", "trigger");
  /* the branch timeline over the capture's span */
  struct axis at = av;
  at.y0 = 630; at.y1 = 750;
  cli_svg_text(f, X0 + 4, 640, "start", "branch timeline");
  cli_svg_line(f, X0, 640, X1, 640, "axis");
  struct tl t = { cap.v.t0_ns, cap.v.t0_ns + (int64_t)((nf - 1) / fs * 1e9), f, &at, 640, &names, 0 };
  struct cli_filter fl;
  memset(&fl, 0, sizeof fl);
  fl.types[JOURNAL_T_COMMAND] = fl.types[JOURNAL_T_SENSE_BACK] = fl.types[JOURNAL_T_TRIP_TAP] = true;
  fl.any_type = true;
  fl.have_since_t = true;
  fl.since_t = t.from - 1000000000LL;
  fl.have_until_t = true;
  fl.until_t = t.to + 1000000000LL;
  rc = cli_walk(c, pubkey, fpr, &fl, 0, timeline_mark, &t);
  if (!t.n) cli_svg_text(f, X0 + 4, 660, "start", "no commands, sense-backs or taps in the capture's span");
  cli_svg_end(f);
  free(v);
  free(codes);
  json_decref(cfg);
  cli_names_free(&names);
  return rc;
}
