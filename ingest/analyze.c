/*
 * analyze.c — `hems analyze FILE.cfg`: a COMTRADE file through the same engine as live
 * samples, printed as JSON lines (CLI.md "hems analyze objects").
 *
 * Channels whose unit is V/kV/mV or A/kA/mA take part (others, and status channels, are
 * ignored); currents pair with the voltage of the same `ph`. Integer files feed their raw
 * codes with scale a (lossless); FLOAT32 and fractional ASCII are quantised to 2^23 steps of
 * the channel's largest magnitude. Missing samples repeat the previous value. Each sampling-
 * rate segment runs through its own engine (a window never spans a rate change); nrates 0
 * takes the median timestamp step. Nominal frequency: lf rounded to 50 or 60 Hz. Declared
 * voltage, when not given: the standard nominal voltage nearest the median one-cycle RMS of
 * all voltage channels. Times: the file's clock; 2013 files with a time_code print that
 * offset, others print Z. Captures are off (nothing to store).
 */
#include "internal.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

double ingest_nominal_voltage(double v)
{
  static const double std_v[] = {57.7, 63.5, 100, 110, 115, 120, 127, 200, 208, 220, 230,
                                 240, 277, 347, 380, 400, 415, 440, 480, 600, 690};
  double best = std_v[0];
  for (size_t k = 0; k < sizeof std_v / sizeof std_v[0]; k++)
    if (fabs(std_v[k] - v) < fabs(best - v)) best = std_v[k];
  return best;
}

static int64_t days_from_civil(int y, int m, int d)
{
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

struct actx {
  FILE *out;
  const struct ingest_config *cfg;
  int offset_min;
  bool has_offset;
  int err;
};

static void rfc3339(const struct actx *a, int64_t ns_utc, char *buf, size_t cap)
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

static void emit(struct actx *a, json_t *o)
{
  if (!o) { a->err = -ENOMEM; return; }
  if (json_dumpf(o, a->out, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12)) != 0 ||
      fputc('\n', a->out) == EOF)
    a->err = -EIO;
  json_decref(o);
}

static void on_window(void *ctx, const struct ingest_window *w)
{
  struct actx *a = ctx;
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

static void on_event(void *ctx, const struct ingest_pq_event *e)
{
  struct actx *a = ctx;
  char t[64];
  rfc3339(a, e->start_ns, t, sizeof t);
  static const char *kinds[] = {"", "dip", "swell", "interruption"};
  json_t *o = json_object();
  json_object_set_new(o, "type", json_string("pq_event"));
  json_object_set_new(o, "kind", json_string(kinds[e->kind & 3]));
  json_object_set_new(o, "phases", json_string(e->phases));
  json_object_set_new(o, "start", json_string(t));
  json_object_set_new(o, "duration_ms", json_real(r4(e->duration_s * 1000.0)));
  json_object_set_new(o, "extreme_pct", json_real(round(e->extreme_pct * 1000) / 1000));
  json_object_set_new(o, "extreme_v", json_real(r4(e->extreme_v)));
  json_object_set_new(o, "declared_v", json_real(e->declared_v));
  json_object_set_new(o, "category", json_string(ingest_ieee1159_name(e->category)));
  if (e->flags & INGEST_PQF_AT_START) json_object_set_new(o, "in_progress_at_start", json_true());
  if (e->flags & INGEST_PQF_AT_END) json_object_set_new(o, "in_progress_at_end", json_true());
  emit(a, o);
}

static int cmp_double(const void *x, const void *y)
{
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}

static bool unit_of(const char *uu, uint8_t *kind, double *mult)
{
  static const struct { const char *u; uint8_t k; double m; } t[] = {
    {"V", INGEST_KIND_VOLTAGE, 1}, {"kV", INGEST_KIND_VOLTAGE, 1e3}, {"mV", INGEST_KIND_VOLTAGE, 1e-3},
    {"A", INGEST_KIND_CURRENT, 1}, {"kA", INGEST_KIND_CURRENT, 1e3}, {"mA", INGEST_KIND_CURRENT, 1e-3},
  };
  for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
    if (strcmp(uu, t[k].u) == 0 || (strlen(uu) == 1 && strcasecmp(uu, t[k].u) == 0)) {
      *kind = t[k].k;
      *mult = t[k].m;
      return true;
    }
  return false;
}

int ingest_analyze_file(const char *cfg_path, double declared_v, FILE *out, char *msg,
                        size_t msg_cap)
{
  struct ingest_ct_cfg ct;
  struct ingest_ct_data dat;
  if (msg && msg_cap) msg[0] = 0;
  int rc = ingest_ct_read(cfg_path, &ct, &dat, msg, msg_cap);
  if (rc) return rc;
  struct ingest_config *cfg = malloc(sizeof *cfg);
  int *src = malloc(sizeof(int) * INGEST_CHANNELS_MAX);
  double *qscale = malloc(sizeof(double) * INGEST_CHANNELS_MAX);
  double *cyc_rms = NULL;
  int32_t *frames = NULL;
  if (!cfg || !src || !qscale) { rc = -ENOMEM; goto done; }
  ingest_config_defaults(cfg);
  unsigned nch = 0, nv = 0;
  for (unsigned k = 0; k < ct.na && nch < INGEST_CHANNELS_MAX; k++) {
    uint8_t kind;
    double mult;
    if (!unit_of(ct.an[k].uu, &kind, &mult)) continue;
    struct ingest_channel_cfg *cc = &cfg->ch[nch];
    snprintf(cc->name, sizeof cc->name, "%s", ct.an[k].id);
    snprintf(cc->phase, sizeof cc->phase, "%s", ct.an[k].ph);
    cc->kind = kind;
    cc->voltage_ch = -1;
    if (dat.raw) {
      cc->scale = ct.an[k].a * mult;
      cc->offset = ct.an[k].b * mult;
      if (cc->scale == 0.0) cc->scale = 1e-12;
    } else {
      double mx = 0;
      for (uint64_t n = 0; n < dat.nsamples; n++) {
        double v = fabs(dat.value[(size_t)k * dat.nsamples + n]);
        if (v > mx) mx = v;
      }
      cc->scale = (mx > 0 ? mx / 8388608.0 : 1e-6) * mult;
      cc->offset = 0.0;
    }
    qscale[nch] = mult;
    src[nch] = (int)k;
    if (kind == INGEST_KIND_VOLTAGE) nv++;
    nch++;
  }
  if (nch == 0) {
    ingest__msg(msg, msg_cap, "%s: no analog channel in V or A", cfg_path);
    rc = INGEST_ENOSIGNAL;
    goto done;
  }
  cfg->nch = nch;
  ingest_config_pair_by_phase(cfg);
  cfg->nominal_hz = (ct.lf > 0 && fabs(ct.lf - 60.0) < fabs(ct.lf - 50.0)) ? 60.0 : 50.0;
  cfg->capture_post_ms = 0;

  /* sampling rate(s) */
  unsigned nseg = ct.nrates ? ct.nrates : 1;
  double seg_fs[INGEST_CT_RATES_MAX];
  uint64_t seg_end[INGEST_CT_RATES_MAX];
  if (ct.nrates) {
    for (unsigned r = 0; r < nseg; r++) {
      seg_fs[r] = ct.samp[r];
      seg_end[r] = ct.endsamp[r] < dat.nsamples ? ct.endsamp[r] : dat.nsamples;
    }
  } else {
    uint64_t nd = dat.nsamples > 1 ? dat.nsamples - 1 : 0;
    if (nd == 0) {
      ingest__msg(msg, msg_cap, "%s: fewer than two samples", cfg_path);
      rc = INGEST_ENOSIGNAL;
      goto done;
    }
    cyc_rms = malloc(sizeof(double) * nd);
    if (!cyc_rms) { rc = -ENOMEM; goto done; }
    for (uint64_t n = 0; n < nd; n++) cyc_rms[n] = (double)(dat.t_us[n + 1] - dat.t_us[n]);
    qsort(cyc_rms, nd, sizeof(double), cmp_double);
    double step = cyc_rms[nd / 2];
    free(cyc_rms);
    cyc_rms = NULL;
    if (!(step > 0)) {
      ingest__msg(msg, msg_cap, "%s: timestamps do not increase", cfg_path);
      rc = INGEST_ESYNTAX;
      goto done;
    }
    seg_fs[0] = 1e6 / step;
    seg_end[0] = dat.nsamples;
  }

  /* declared voltage */
  if (declared_v <= 0.0) {
    if (nv == 0) {
      declared_v = 230.0;
    } else {
      uint64_t cyc = (uint64_t)llround(seg_fs[0] / cfg->nominal_hz);
      if (cyc < 1) cyc = 1;
      uint64_t ncyc = dat.nsamples / cyc;
      size_t cnt = 0;
      cyc_rms = malloc(sizeof(double) * (size_t)(ncyc * nv + 1));
      if (!cyc_rms) { rc = -ENOMEM; goto done; }
      for (unsigned c = 0; c < nch; c++) {
        if (cfg->ch[c].kind != INGEST_KIND_VOLTAGE) continue;
        const double *v = dat.value + (size_t)src[c] * dat.nsamples;
        for (uint64_t k = 0; k < ncyc; k++) {
          double s = 0;
          for (uint64_t n = k * cyc; n < (k + 1) * cyc; n++) s += v[n] * v[n];
          cyc_rms[cnt++] = sqrt(s / cyc) * qscale[c];
        }
      }
      double med = 0;
      if (cnt) {
        qsort(cyc_rms, cnt, sizeof(double), cmp_double);
        med = cyc_rms[cnt / 2];
      }
      declared_v = ingest_nominal_voltage(med);
      ingest__msg(msg, msg_cap,
                  "declared voltage not given: using %g V, the standard nominal voltage nearest "
                  "the median RMS %.1f V", declared_v, med);
    }
  }
  cfg->pq.declared_v = declared_v;

  struct actx a = {.out = out, .cfg = cfg, .offset_min = ct.utc_offset_min,
                   .has_offset = ct.rev_year == 2013 && ct.time_code[0] != 0};
  int64_t start_utc_ns = (days_from_civil(ct.start.year, ct.start.month, ct.start.day) * 86400 +
                          ct.start.hour * 3600 + ct.start.minute * 60) * 1000000000LL +
                         ct.start.sec_ns - (int64_t)ct.utc_offset_min * 60000000000LL;
  struct ingest_sink sink = {.ctx = &a, .window = on_window, .pq_event = on_event};
  const size_t chunk = 1024;
  frames = malloc(sizeof(int32_t) * chunk * nch);
  if (!frames) { rc = -ENOMEM; goto done; }
  int32_t last[INGEST_CHANNELS_MAX] = {0};
  uint64_t first = 0;
  for (unsigned s = 0; s < nseg && rc == 0; s++) {
    uint64_t end = seg_end[s];
    if (end <= first) continue;
    cfg->sample_rate_hz = seg_fs[s];
    cfg->t0_ns = start_utc_ns + dat.t_us[first] * 1000;
    struct ingest_engine e;
    rc = ingest_engine_init(&e, cfg, &sink);
    if (rc) {
      ingest__msg(msg, msg_cap, "%s: sampling rate %g Hz not usable (segment %u)", cfg_path,
                  seg_fs[s], s + 1);
      if (rc == INGEST_ECONFIG) rc = INGEST_EUNSUPPORTED;
      break;
    }
    for (uint64_t n0 = first; n0 < end && a.err == 0; n0 += chunk) {
      size_t nb = (size_t)((end - n0) < chunk ? (end - n0) : chunk);
      for (unsigned c = 0; c < nch; c++) {
        size_t base = (size_t)src[c] * dat.nsamples;
        for (size_t f = 0; f < nb; f++) {
          size_t idx = base + n0 + f;
          int32_t code;
          if (dat.missing[idx]) code = last[c];
          else if (dat.raw) code = dat.raw[idx];
          else code = (int32_t)lrint(dat.value[idx] * qscale[c] / cfg->ch[c].scale);
          frames[f * nch + c] = code;
          last[c] = code;
        }
      }
      ingest_engine_push(&e, frames, nb);
    }
    ingest_engine_finish(&e);
    ingest_engine_deinit(&e);
    first = end;
  }
  if (!rc && a.err) {
    rc = a.err;
    ingest__msg(msg, msg_cap, "write error on output");
  }
done:
  free(frames);
  free(cyc_rms);
  free(cfg);
  free(src);
  free(qscale);
  ingest_ct_cfg_free(&ct);
  ingest_ct_data_free(&dat);
  return rc;
}
