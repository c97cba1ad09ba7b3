/*
 * siggen.h — analytic test signals for the ingest tests: channels that are sums of
 * sinusoids (with a per-channel amplitude envelope for PQ events) plus DC and a small
 * deterministic noise, quantised to integer codes like an AFE would deliver them.
 * Everything the tests compare against is computed from the same parameters in closed form.
 */
#ifndef HEMS_TEST_SIGGEN_H
#define HEMS_TEST_SIGGEN_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"

#define SG_HARM_MAX 8
struct sg_chan {
  double amp_rms[SG_HARM_MAX];  /* rms of each component */
  unsigned order[SG_HARM_MAX];  /* harmonic order of each component (0 = unused) */
  double phase_rad[SG_HARM_MAX];/* phase of each component at t = 0 (sin reference) */
  double dc;
  double scale;                 /* units per code */
  double noise_rms;             /* uniform noise, rms, units */
  /* envelope: fundamental amplitude multiplied by env(t) (PQ cases); NULL = 1 */
  double (*env)(const void *ctx, unsigned ch, double t);
  const void *env_ctx;
};

struct sg {
  double fs, f;
  unsigned nch;
  struct sg_chan ch[INGEST_CHANNELS_MAX];
  uint64_t n;
  uint32_t rng;
};

static inline double sg_noise(struct sg *g)
{
  g->rng = g->rng * 1664525u + 1013904223u;
  return ((double)(g->rng >> 8) / 16777216.0 - 0.5) * sqrt(12.0);
}

static inline double sg_value(struct sg *g, unsigned c, double t)
{
  const struct sg_chan *ch = &g->ch[c];
  double e = ch->env ? ch->env(ch->env_ctx, c, t) : 1.0;
  double v = ch->dc;
  for (unsigned k = 0; k < SG_HARM_MAX; k++) {
    if (!ch->order[k]) continue;
    v += e * ch->amp_rms[k] * M_SQRT2 * sin(2.0 * M_PI * g->f * ch->order[k] * t + ch->phase_rad[k]);
  }
  if (ch->noise_rms > 0) v += ch->noise_rms * sg_noise(g);
  return v;
}

/* Fill nframes interleaved frames of codes. */
static inline void sg_fill(struct sg *g, int32_t *codes, size_t nframes)
{
  for (size_t f = 0; f < nframes; f++) {
    double t = (double)(g->n + f) / g->fs;
    for (unsigned c = 0; c < g->nch; c++)
      codes[f * g->nch + c] = (int32_t)lrint(sg_value(g, c, t) / g->ch[c].scale);
  }
  g->n += nframes;
}

/* Push `seconds` of signal through an engine in chunks. */
static inline void sg_run(struct sg *g, struct ingest_engine *e, double seconds)
{
  size_t total = (size_t)llround(seconds * g->fs);
  size_t chunk = 1000;
  int32_t *buf = malloc(sizeof(int32_t) * chunk * g->nch);
  while (total) {
    size_t nb = total < chunk ? total : chunk;
    sg_fill(g, buf, nb);
    ingest_engine_push(e, buf, nb);
    total -= nb;
  }
  free(buf);
}

static inline double sg_rms(const struct sg_chan *ch)
{
  double s = ch->dc * ch->dc;
  for (unsigned k = 0; k < SG_HARM_MAX; k++)
    if (ch->order[k]) s += ch->amp_rms[k] * ch->amp_rms[k];
  return sqrt(s);
}

/* Active power between channels v and i: Σ over common orders of Vh·Ih·cos(φv − φi) + DC·DC */
static inline double sg_power(const struct sg_chan *v, const struct sg_chan *i)
{
  double p = v->dc * i->dc;
  for (unsigned a = 0; a < SG_HARM_MAX; a++)
    for (unsigned b = 0; b < SG_HARM_MAX; b++)
      if (v->order[a] && v->order[a] == i->order[b])
        p += v->amp_rms[a] * i->amp_rms[b] * cos(v->phase_rad[a] - i->phase_rad[b]);
  return p;
}

static inline double sg_thd_pct(const struct sg_chan *ch, unsigned hmax)
{
  double h1 = 0, d = 0;
  for (unsigned k = 0; k < SG_HARM_MAX; k++) {
    if (ch->order[k] == 1) h1 += ch->amp_rms[k] * ch->amp_rms[k];
    else if (ch->order[k] >= 2 && ch->order[k] <= hmax) d += ch->amp_rms[k] * ch->amp_rms[k];
  }
  return h1 > 0 ? 100.0 * sqrt(d / h1) : 0.0;
}

#endif
