/*
 * analyze.c — `hems analyze FILE.cfg`: a COMTRADE file through the same engine as live
 * samples, printed as JSON lines (analyze_json.c), streamed block by block so memory stays
 * flat with the file's length.
 *
 * Channels whose unit is V/kV/mV or A/kA/mA take part (others, and status channels, are
 * ignored); currents pair with the voltage of the same `ph`. Integer files (BINARY, BINARY32,
 * integer ASCII) feed their raw codes with scale a (lossless); FLOAT32 and fractional ASCII
 * are quantised to 2^23 steps of the channel's largest magnitude (found by a first pass).
 * Missing samples repeat the previous value. Each sampling-rate segment runs through its own
 * engine (a window never spans a rate change); nrates 0 takes the median timestamp step of the
 * first block. Nominal frequency: lf rounded to 50 or 60 Hz. Captures are off.
 *
 * Declared voltage, when not given, in this order:
 *   1. the .cfg: the voltage channels' transformer rating — `primary` when the values are
 *      primary (PS = P), `secondary` when secondary — if a ratio is stated (both > 0, not 1:1);
 *      a rating above the channel's range (a·max + b as a peak, over √2) is a line-to-line
 *      rating of a phase channel and is divided by √3; then the nearest standard nominal when
 *      one is within 1 % (IEC 60038 rounds: 400/√3 → 230), else that value as it is (11 kV
 *      line-to-line → 6350.85 V, not the nearest low-voltage nominal 690 V);
 *   2. else the standard nominal nearest the median one-cycle RMS of the voltage channels,
 *      counting only cycles above 10 % of the largest (an outage in the recording does not
 *      drag the median down to a transformer secondary's value). The median comes from a
 *      logarithmic histogram (0.2 % bins), so the first pass holds no samples.
 * msg then says which (the CLI prints it on stderr).
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

static int cmp_i64(const void *x, const void *y)
{
  int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
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

#define HBINS 4000
#define HLOG_MIN (-2.0)
#define HLOG_SPAN 8.0

struct plan {
  struct ingest_config cfg;
  int src[INGEST_CHANNELS_MAX];
  double mult[INGEST_CHANNELS_MAX];
  double maxabs[INGEST_CHANNELS_MAX];
  bool use_raw;
  unsigned nv;
  unsigned nseg;
  double seg_fs[INGEST_CT_RATES_MAX];
  uint64_t seg_end[INGEST_CT_RATES_MAX];
  uint32_t hist[HBINS];
  uint64_t hcount;
};

/* Declared voltage from the .cfg's transformer rating; 0 when it states none. */
static double declared_from_cfg(const struct ingest_ct_file *f, const struct plan *P, char *how,
                                size_t cap)
{
  for (unsigned c = 0; c < P->cfg.nch; c++) {
    if (P->cfg.ch[c].kind != INGEST_KIND_VOLTAGE) continue;
    const struct ingest_ct_analog *an = &f->cfg.an[P->src[c]];
    if (!(an->primary > 0 && an->secondary > 0) || an->primary == an->secondary) continue;
    double rating = (an->ps == 'S' || an->ps == 's' ? an->secondary : an->primary) * P->mult[c];
    double range = fmax(fabs(an->a * an->max + an->b), fabs(an->a * an->min + an->b)) * P->mult[c];
    bool ll = range > 0 && rating > range / M_SQRT2 * 1.001;
    const double phase = ll ? rating / sqrt(3.0) : rating;
    /* IEC 60038's nominals are rounded quotients (230/400, 63.5 = 110/√3): within 1 % the
     * standard value; else (medium voltage: 11 kV/√3 is not in the low-voltage list) the
     * ratio arithmetic itself */
    const double std = ingest_nominal_voltage(phase);
    const bool snap = fabs(std - phase) <= 0.01 * phase;
    snprintf(how, cap, "from the .cfg: channel %s transformer %g:%g, %s values%s%s", an->id,
             an->primary, an->secondary, an->ps == 'S' || an->ps == 's' ? "secondary" : "primary",
             ll ? ", line-to-line rating above the channel range (÷√3)" : "",
             snap ? "" : ", no standard nominal within 1 %");
    return snap ? std : phase;
  }
  return 0.0;
}

static void hist_add(struct plan *P, double v)
{
  if (!(v > 0)) return;
  double x = (log10(v) - HLOG_MIN) / HLOG_SPAN * HBINS;
  int k = x < 0 ? 0 : x >= HBINS ? HBINS - 1 : (int)x;
  P->hist[k]++;
  P->hcount++;
}

static double hist_value(int k) { return pow(10.0, ((double)k + 0.5) / HBINS * HLOG_SPAN + HLOG_MIN); }

/* median of the cycles above 10 % of the largest */
static double hist_energised_median(const struct plan *P)
{
  int top = -1;
  for (int k = HBINS - 1; k >= 0 && top < 0; k--)
    if (P->hist[k]) top = k;
  if (top < 0) return 0.0;
  double floor_v = 0.1 * hist_value(top);
  uint64_t n = 0;
  for (int k = 0; k <= top; k++)
    if (hist_value(k) >= floor_v) n += P->hist[k];
  uint64_t half = (n + 1) / 2, seen = 0;
  for (int k = 0; k <= top; k++) {
    if (hist_value(k) < floor_v) continue;
    seen += P->hist[k];
    if (seen >= half) return hist_value(k);
  }
  return hist_value(top);
}

/* First pass: largest magnitudes (quantisation of non-integer files) and one-cycle RMS
 * histogram of the voltage channels (declared voltage). */
static int prepass(struct ingest_ct_file *f, struct plan *P, bool want_hist, char *msg, size_t cap)
{
  const unsigned na = f->cfg.na, nch = P->cfg.nch;
  uint64_t cyc = (uint64_t)llround(P->seg_fs[0] / P->cfg.nominal_hz);
  if (cyc < 1) cyc = 1;
  double acc[INGEST_CHANNELS_MAX] = {0};
  uint64_t inc = 0;
  /* integer files need no largest magnitude: then only the voltage channels are summed */
  unsigned use[INGEST_CHANNELS_MAX], nuse = 0;
  for (unsigned c = 0; c < nch; c++)
    if (!P->use_raw || P->cfg.ch[c].kind == INGEST_KIND_VOLTAGE) use[nuse++] = c;
  struct ingest_ct_block b;
  int rc;
  ingest_ct_reader_rewind(f->rd);
  while ((rc = ingest_ct_reader_next(f->rd, &b, msg, cap)) > 0) {
    for (size_t s = 0; s < b.n; s++) {
      const double *v = b.value + s * na;
      for (unsigned j = 0; j < nuse; j++) {
        const unsigned c = use[j];
        double x = fabs(v[P->src[c]]);
        if (x > P->maxabs[c]) P->maxabs[c] = x;
        acc[c] += x * x;
      }
      if (++inc == cyc) {
        for (unsigned j = 0; j < nuse; j++) {
          const unsigned c = use[j];
          if (want_hist && P->cfg.ch[c].kind == INGEST_KIND_VOLTAGE)
            hist_add(P, sqrt(acc[c] / (double)cyc) * P->mult[c]);
          acc[c] = 0;
        }
        inc = 0;
      }
    }
  }
  if (rc < 0) return rc;
  P->use_raw = ingest_ct_reader_integral(f->rd);
  ingest_ct_reader_rewind(f->rd);
  return 0;
}

/* Channels, rates and nominal frequency from the .cfg (and the first block for nrates 0). */
static int plan_channels(struct ingest_ct_file *f, struct plan *P, const char *path, char *msg,
                         size_t cap)
{
  struct ingest_config *cfg = &P->cfg;
  ingest_config_defaults(cfg);
  unsigned nch = 0;
  for (unsigned k = 0; k < f->cfg.na && nch < INGEST_CHANNELS_MAX; k++) {
    uint8_t kind;
    double mult;
    if (!unit_of(f->cfg.an[k].uu, &kind, &mult)) continue;
    struct ingest_channel_cfg *cc = &cfg->ch[nch];
    snprintf(cc->name, sizeof cc->name, "%s", f->cfg.an[k].id);
    snprintf(cc->phase, sizeof cc->phase, "%s", f->cfg.an[k].ph);
    cc->kind = kind;
    cc->voltage_ch = -1;
    P->mult[nch] = mult;
    P->src[nch] = (int)k;
    if (kind == INGEST_KIND_VOLTAGE) P->nv++;
    nch++;
  }
  if (nch == 0) {
    ingest__msg(msg, cap, "%s: no analog channel in V or A", path);
    return INGEST_ENOSIGNAL;
  }
  cfg->nch = nch;
  ingest_config_pair_by_phase(cfg);
  cfg->nominal_hz = (f->cfg.lf > 0 && fabs(f->cfg.lf - 60.0) < fabs(f->cfg.lf - 50.0)) ? 60.0 : 50.0;
  cfg->capture_post_ms = 0;
  const uint64_t ns = f->cfg.total_samples;
  if (f->cfg.nrates) {
    P->nseg = f->cfg.nrates;
    for (unsigned r = 0; r < P->nseg; r++) {
      P->seg_fs[r] = f->cfg.samp[r];
      P->seg_end[r] = f->cfg.endsamp[r] < ns ? f->cfg.endsamp[r] : ns;
    }
    return 0;
  }
  struct ingest_ct_block b;
  int rc = ingest_ct_reader_next(f->rd, &b, msg, cap);
  if (rc < 0) return rc;
  if (b.n < 2) {
    ingest__msg(msg, cap, "%s: fewer than two samples", path);
    return INGEST_ENOSIGNAL;
  }
  static int64_t steps[INGEST_CT_BLOCK];
  for (size_t k = 0; k + 1 < b.n; k++) steps[k] = b.t_us[k + 1] - b.t_us[k];
  qsort(steps, b.n - 1, sizeof steps[0], cmp_i64);
  int64_t step = steps[(b.n - 1) / 2];
  if (step <= 0) {
    ingest__msg(msg, cap, "%s: timestamps do not increase", path);
    return INGEST_ESYNTAX;
  }
  P->nseg = 1;
  P->seg_fs[0] = 1e6 / (double)step;
  P->seg_end[0] = ns;
  ingest_ct_reader_rewind(f->rd);
  return 0;
}

/* Feed every segment through its own engine. */
static int run_segments(struct ingest_ct_file *f, struct plan *P, struct ingest__actx *a,
                        int64_t start_utc_ns, const char *path, char *msg, size_t cap)
{
  struct ingest_config *cfg = &P->cfg;
  const unsigned nch = cfg->nch, na = f->cfg.na;
  struct ingest_sink sink = {.ctx = a, .window = ingest__json_window, .pq_event = ingest__json_event};
  struct ingest_sink_class_a sink_a = {.pq_event_ext = ingest__json_event, .aggregate = ingest__json_aggregate};
  double inv[INGEST_CHANNELS_MAX];
  for (unsigned c = 0; c < nch; c++) {
    const struct ingest_ct_analog *an = &f->cfg.an[P->src[c]];
    if (P->use_raw) {
      cfg->ch[c].scale = an->a * P->mult[c];
      cfg->ch[c].offset = an->b * P->mult[c];
      if (cfg->ch[c].scale == 0.0) cfg->ch[c].scale = 1e-12;
    } else {
      cfg->ch[c].scale = (P->maxabs[c] > 0 ? P->maxabs[c] / 8388608.0 : 1e-6) * P->mult[c];
      cfg->ch[c].offset = 0.0;
    }
    inv[c] = P->mult[c] / cfg->ch[c].scale;
  }
  int32_t *frames = malloc(sizeof(int32_t) * INGEST_CT_BLOCK * nch);
  if (!frames) return -ENOMEM;
  int32_t last[INGEST_CHANNELS_MAX] = {0};
  struct ingest_ct_block b = {0};
  size_t bpos = 0;
  int rc = 0;
  uint64_t first = 0;
  ingest_ct_reader_rewind(f->rd);
  for (unsigned s = 0; s < P->nseg && rc == 0; s++) {
    uint64_t end = P->seg_end[s];
    if (end <= first) continue;
    cfg->sample_rate_hz = P->seg_fs[s];
    if (bpos == b.n) {
      int r = ingest_ct_reader_next(f->rd, &b, msg, cap);
      if (r <= 0) { rc = r < 0 ? r : INGEST_ETRUNC; break; }
      bpos = 0;
    }
    /* the engine's clock starts at this segment's first sample */
    cfg->t0_ns = start_utc_ns + b.t_us[bpos] * 1000;
    struct ingest_engine e;
    rc = ingest_engine_init(&e, cfg, &sink);
    if (rc) {
      ingest__msg(msg, cap, "%s: sampling rate %g Hz not usable (segment %u)", path, P->seg_fs[s], s + 1);
      if (rc == INGEST_ECONFIG) rc = INGEST_EUNSUPPORTED;
      break;
    }
    ingest_engine_set_class_a(&e, &sink_a);
    for (uint64_t k = first; k < end && rc == 0 && a->err == 0;) {
      if (bpos == b.n) {
        int r = ingest_ct_reader_next(f->rd, &b, msg, cap);
        if (r <= 0) { rc = r < 0 ? r : INGEST_ETRUNC; break; }
        bpos = 0;
      }
      size_t nb = b.n - bpos;
      if ((uint64_t)nb > end - k) nb = (size_t)(end - k);
      for (size_t i = 0; i < nb; i++) {
        const size_t row = (bpos + i) * na;
        int32_t *fr = frames + i * nch;
        for (unsigned c = 0; c < nch; c++) {
          const size_t x = row + (size_t)P->src[c];
          int32_t code;
          if (b.missing[x]) code = last[c];
          else if (P->use_raw) code = b.raw[x];
          else code = (int32_t)lrint(b.value[x] * inv[c]);
          fr[c] = code;
          last[c] = code;
        }
      }
      ingest_engine_push(&e, frames, nb);
      bpos += nb;
      k += nb;
    }
    ingest_engine_finish(&e);
    ingest_engine_deinit(&e);
    first = end;
  }
  free(frames);
  return rc;
}

int ingest_analyze_file(const char *cfg_path, double declared_v, FILE *out, char *msg,
                        size_t msg_cap)
{
  const struct ingest_analyze_opts o = {.declared_v = declared_v, .freq_band_pct = -1};
  return ingest_analyze_file_opts(cfg_path, &o, out, msg, msg_cap);
}

int ingest_analyze_file_opts(const char *cfg_path, const struct ingest_analyze_opts *o, FILE *out,
                             char *msg, size_t msg_cap)
{
  double declared_v = o->declared_v;
  if (msg && msg_cap) msg[0] = 0;
  struct ingest_ct_file f;
  int rc = ingest_ct_file_open(cfg_path, &f, msg, msg_cap);
  if (rc) return rc;
  struct plan *P = calloc(1, sizeof *P);
  if (!P) { ingest_ct_file_close(&f); return -ENOMEM; }
  rc = plan_channels(&f, P, cfg_path, msg, msg_cap);
  if (o->freq_band_pct >= 0) P->cfg.freq_band_pct = o->freq_band_pct;
  char how[256] = "";
  if (!rc && declared_v <= 0.0 && P->nv) declared_v = declared_from_cfg(&f, P, how, sizeof how);
  bool want_hist = declared_v <= 0.0 && P->nv;
  P->use_raw = f.cfg.ft == INGEST_CT_BINARY || f.cfg.ft == INGEST_CT_BINARY32;
  if (!rc && (!P->use_raw || want_hist)) rc = prepass(&f, P, want_hist, msg, msg_cap);
  if (!rc && declared_v <= 0.0) {
    if (P->nv == 0) {
      declared_v = 230.0;
    } else {
      double med = hist_energised_median(P);
      declared_v = ingest_nominal_voltage(med);
      snprintf(how, sizeof how, "the standard nominal voltage nearest the median RMS %.1f V", med);
    }
  }
  if (!rc && how[0]) ingest__msg(msg, msg_cap, "declared voltage not given: using %g V, %s", declared_v, how);
  if (!rc) {
    P->cfg.pq.declared_v = declared_v;
    const struct ingest_ct_cfg *ct = &f.cfg;
    struct ingest__actx a = {.out = out, .cfg = &P->cfg, .offset_min = ct->utc_offset_min,
                             .has_offset = ct->rev_year == 2013 && ct->time_code[0] != 0};
    int64_t start_utc_ns = (days_from_civil(ct->start.year, ct->start.month, ct->start.day) * 86400 +
                            ct->start.hour * 3600 + ct->start.minute * 60) * 1000000000LL +
                           ct->start.sec_ns - (int64_t)ct->utc_offset_min * 60000000000LL;
    char emsg[512] = "";
    rc = run_segments(&f, P, &a, start_utc_ns, cfg_path, emsg, sizeof emsg);
    if (rc) ingest__msg(msg, msg_cap, "%s", emsg);
    if (!rc && a.err) {
      rc = a.err;
      ingest__msg(msg, msg_cap, "write error on output");
    }
  }
  free(P);
  ingest_ct_file_close(&f);
  return rc;
}
