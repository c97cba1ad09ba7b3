/*
 * bench.c — hw_bench_sim: the simulator plus the emulated SPI path at full load. The
 * `full-panel` scenario (48 branches on 16 AFEs) runs with every AFE streaming its waveform
 * buffer through the real ADE9000 driver, so the figure covers signal generation, emulation,
 * frame decoding and driver decoding. Single-threaded; the only place in hw/ that reads a clock.
 */
#include "hw.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_s(clockid_t id)
{
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int hw_bench_sim(double virtual_s, uint64_t seed, struct hw_bench_result *out)
{
  memset(out, 0, sizeof *out);
  if (!(virtual_s > 0)) return -EINVAL;
  struct hw_scenario *sc = malloc(sizeof *sc);
  struct hw_ade9000 *dev = calloc(HW_MAX_AFES, sizeof *dev);
  struct hw_ade9000_wfb_half *h = malloc(sizeof *h);
  struct hw_sim *sim = NULL;
  int r = -ENOMEM;
  if (!sc || !dev || !h) goto out;
  if ((r = hw_scenario_load(sc, "full-panel", NULL, 0)) < 0) goto out;
  if ((r = hw_sim_create(&sim, sc, seed, NULL, 0)) < 0) goto out;
  const struct hw_panel *p = hw_sim_panel(sim);
  for (unsigned a = 0; a < p->num_afes; a++) {
    struct hw_ade9000_config cfg;
    hw_panel_ade9000_config(p, a, &cfg);
    cfg.waveform = true;
    if ((r = hw_ade9000_init(&dev[a], hw_sim_afe_spi(sim, a), &cfg)) < 0) goto out;
  }
  uint64_t total_ns = (uint64_t)(virtual_s * 1e9), step_ns = HW_SIM_WFB_HALF_NS / 2;
  double w0 = clock_s(CLOCK_MONOTONIC);
  for (uint64_t t = 0; t < total_ns; t += step_ns) {
    hw_sim_advance(sim, step_ns);
    for (unsigned a = 0; a < p->num_afes; a++) {
      r = hw_ade9000_wfb_poll(&dev[a], h);
      if (r == HW_ENOTREADY) continue;
      if (r < 0) goto out;
      /* 3 voltages from AFE 0, 3 currents from every AFE */
      out->samples += HW_ADE9000_WFB_SETS_PER_HALF * (a == 0 ? 6 : 3);
    }
  }
  out->wall_s = clock_s(CLOCK_MONOTONIC) - w0;
  out->virtual_s = (double)total_ns * 1e-9;
  out->realtime_factor = out->wall_s > 0 ? out->virtual_s / out->wall_s : 0;
  out->channels = 3 + 3 * p->num_afes;
  r = 0;
out:
  hw_sim_destroy(sim);
  free(sc);
  free(dev);
  free(h);
  return r;
}
