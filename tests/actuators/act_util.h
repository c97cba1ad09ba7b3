/*
 * act_util.h — helpers shared by the actuator tests (header-only, static): a mixed test panel
 * (every actuator type, taps, ATS) as scenario JSON, inserting scripted events, temp dirs, a
 * spy gpiochip that wraps the simulated one and logs every line request and every output write
 * with its virtual time, and reading records back from the journal.
 *
 * The spy sits at the GPIO layer (struct hw_gpio_chip / hw_gpio_lines_ops), below the library
 * under test, so what it logs is what the hardware would have seen.
 */
#ifndef HEMS_TESTS_ACT_UTIL_H
#define HEMS_TESTS_ACT_UTIL_H

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actuators.h"

/* Branches: 1 monostable (NO), 2 latching, 3 contactor (motor), 4 SSR, 5 eFuse, 6 monostable
 * (NC, coil_active_low). Default line layout: coil 4(n-1), reset +1, aux +2, sense +3. */
static const char act_panel_json[] =
  "{\"name\":\"act-mix\",\"description\":\"every actuator type\",\"panel\":{\"name\":\"act-mix\","
  "\"mains\":\"3ph-230-50\",\"service_limit_a\":63,"
  "\"afes\":[{\"index\":0,\"mains\":true,\"mains_ct_ratio\":4000,\"v_ratio\":1001,\"burden_ohm\":10},"
  "{\"index\":1,\"v_ratio\":1001,\"burden_ohm\":10},{\"index\":2,\"v_ratio\":1001,\"burden_ohm\":10}],"
  "\"branches\":["
  "{\"number\":1,\"name\":\"mono\",\"phase\":\"L1\",\"afe\":1,\"channel\":\"A\",\"ct_ratio\":2000,\"polarity\":1,\"breaker_a\":16,\"actuator\":\"monostable\",\"priority\":1,\"critical\":false,\"fail_safe\":\"open\",\"load_only\":true,\"coil_active_low\":false},"
  "{\"number\":2,\"name\":\"latch\",\"phase\":\"L2\",\"afe\":1,\"channel\":\"B\",\"ct_ratio\":2000,\"polarity\":1,\"breaker_a\":16,\"actuator\":\"latching\",\"priority\":2,\"critical\":false,\"fail_safe\":\"last_proven\",\"load_only\":true,\"coil_active_low\":false},"
  "{\"number\":3,\"name\":\"contactor\",\"phase\":\"L3\",\"afe\":1,\"channel\":\"C\",\"ct_ratio\":2000,\"polarity\":1,\"breaker_a\":20,\"actuator\":\"contactor\",\"priority\":3,\"critical\":false,\"fail_safe\":\"open\",\"load_only\":true,\"coil_active_low\":false},"
  "{\"number\":4,\"name\":\"ssr\",\"phase\":\"L1\",\"afe\":2,\"channel\":\"A\",\"ct_ratio\":2000,\"polarity\":1,\"breaker_a\":16,\"actuator\":\"ssr\",\"priority\":4,\"critical\":false,\"fail_safe\":\"open\",\"load_only\":true,\"coil_active_low\":false},"
  "{\"number\":5,\"name\":\"efuse\",\"phase\":\"L2\",\"afe\":2,\"channel\":\"B\",\"ct_ratio\":2000,\"polarity\":1,\"breaker_a\":10,\"actuator\":\"efuse\",\"priority\":5,\"critical\":false,\"fail_safe\":\"open\",\"load_only\":true,\"coil_active_low\":false},"
  "{\"number\":6,\"name\":\"mono-nc\",\"phase\":\"L3\",\"afe\":2,\"channel\":\"C\",\"ct_ratio\":2000,\"polarity\":1,\"breaker_a\":16,\"actuator\":\"monostable\",\"priority\":6,\"critical\":true,\"fail_safe\":\"closed\",\"load_only\":true,\"coil_active_low\":true}],"
  "\"taps\":[{\"name\":\"rcd-1\",\"kind\":\"rcd\",\"branch\":1,\"debounce_us\":5000},"
  "{\"name\":\"power-fail\",\"kind\":\"power_fail\",\"debounce_us\":0}],"
  "\"der\":{\"ats\":true}},"
  "\"loads\":["
  "{\"branch\":1,\"kind\":\"resistive\",\"power_w\":1000,\"on\":true,\"closed\":true},"
  "{\"branch\":2,\"kind\":\"resistive\",\"power_w\":2000,\"on\":true,\"closed\":true},"
  "{\"branch\":3,\"kind\":\"motor\",\"power_w\":1500,\"pf\":0.8,\"on\":true,\"closed\":false},"
  "{\"branch\":4,\"kind\":\"resistive\",\"power_w\":2000,\"on\":true,\"closed\":true},"
  "{\"branch\":5,\"kind\":\"resistive\",\"power_w\":500,\"on\":true,\"closed\":true},"
  "{\"branch\":6,\"kind\":\"resistive\",\"power_w\":800,\"on\":true,\"closed\":true}],"
  "\"timeline\":[]}";

static inline struct hw_scenario *act_scenario(const char *json)
{
  struct hw_scenario *sc = calloc(1, sizeof *sc);
  char err[256];
  int r = hw_scenario_parse(sc, json, strlen(json), "act-mix", err, sizeof err);
  if (r < 0) { fprintf(stderr, "scenario: %s\n", err); abort(); }
  return sc;
}

static inline struct hw_scenario *act_scenario_named(const char *name)
{
  struct hw_scenario *sc = calloc(1, sizeof *sc);
  char err[256];
  if (hw_scenario_load(sc, name, err, sizeof err) < 0) { fprintf(stderr, "scenario: %s\n", err); abort(); }
  return sc;
}

/* Inserts a hardware event keeping the timeline sorted (stable). */
static inline void act_add_event(struct hw_scenario *sc, uint64_t t_ns, enum hw_event_kind kind, unsigned sub,
                                 unsigned branch)
{
  if (sc->num_events >= HW_SCENARIO_MAX_EVENTS) abort();
  unsigned i = sc->num_events++;
  while (i > 0 && sc->event[i - 1].t_ns > t_ns) { sc->event[i] = sc->event[i - 1]; i--; }
  memset(&sc->event[i], 0, sizeof sc->event[i]);
  sc->event[i].t_ns = t_ns;
  sc->event[i].kind = kind;
  sc->event[i].sub = sub;
  sc->event[i].branch = branch;
  sc->event[i].value = 0.0 / 0.0;
}

static inline int act_rm_cb(const char *p, const struct stat *st, int f, struct FTW *w)
{
  (void)st; (void)f; (void)w;
  return remove(p);
}

static inline char *act_tmpdir(void)
{
  const char *base = getenv("TMPDIR");
  char *p = malloc(4096);
  snprintf(p, 4096, "%s/hems-act-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(p)) abort();
  return p;
}

static inline void act_rmdir(char *p)
{
  nftw(p, act_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  free(p);
}

/* ------------------------------------------------------------------ spy chip */

#define SPY_MAX_REQ 16
#define SPY_MAX_WRITES 4096

struct spy_write { uint64_t t_ns; uint32_t offset; bool value; };

struct spy {
  struct hw_gpio_chip chip;
  struct hw_gpio_chip *inner;
  struct actuator_harness *h;      /* for the virtual time of writes */
  unsigned nreq;
  struct hw_gpio_request_config req[SPY_MAX_REQ];
  struct { struct hw_gpio_lines *l; const struct hw_gpio_lines_ops *ops; } map[SPY_MAX_REQ];
  unsigned nwrites;
  struct spy_write w[SPY_MAX_WRITES];
};

static struct spy *g_spy;

static const struct hw_gpio_lines_ops *spy_inner_ops(struct hw_gpio_lines *l)
{
  for (unsigned i = 0; i < g_spy->nreq; i++) if (g_spy->map[i].l == l) return g_spy->map[i].ops;
  abort();
}

static int spy_get(struct hw_gpio_lines *l, uint64_t mask, uint64_t *out)
{
  return spy_inner_ops(l)->get(l, mask, out);
}

static int spy_set(struct hw_gpio_lines *l, uint64_t mask, uint64_t bits)
{
  uint64_t now = g_spy->h && g_spy->h->sim ? hw_sim_now_ns(g_spy->h->sim) : 0;
  for (unsigned i = 0; i < l->num_lines; i++)
    if ((mask >> i) & 1 && g_spy->nwrites < SPY_MAX_WRITES)
      g_spy->w[g_spy->nwrites++] = (struct spy_write){ now, l->offsets[i], (bits >> i) & 1 };
  return spy_inner_ops(l)->set(l, mask, bits);
}

static int spy_read(struct hw_gpio_lines *l, struct hw_gpio_event *ev, unsigned max, unsigned *n)
{
  return spy_inner_ops(l)->read_events(l, ev, max, n);
}

static void spy_release(struct hw_gpio_lines *l)
{
  spy_inner_ops(l)->release(l);
}

static const struct hw_gpio_lines_ops spy_lines_ops = { spy_get, spy_set, spy_read, spy_release };

static int spy_info(void *ctx, struct hw_gpio_chip_info *out)
{
  struct spy *s = ctx;
  return s->inner->ops->info(s->inner->ctx, out);
}

static int spy_request(void *ctx, const struct hw_gpio_request_config *cfg, struct hw_gpio_lines *out)
{
  struct spy *s = ctx;
  int r = s->inner->ops->request(s->inner->ctx, cfg, out);
  if (r < 0 || s->nreq == SPY_MAX_REQ) return r;
  s->req[s->nreq] = *cfg;
  s->map[s->nreq].l = out;
  s->map[s->nreq].ops = out->ops;
  s->nreq++;
  out->ops = &spy_lines_ops;
  return 0;
}

static const struct hw_gpio_chip_ops spy_chip_ops = { spy_info, spy_request };

static inline struct hw_gpio_chip *spy_wrap(void *ctx, struct hw_gpio_chip *inner)
{
  struct spy *s = ctx;
  s->inner = inner;
  s->chip.ops = &spy_chip_ops;
  s->chip.ctx = s;
  g_spy = s;
  return &s->chip;
}

/* Writes to one line offset since index `from`. */
static inline unsigned spy_writes_to(const struct spy *s, unsigned from, uint32_t offset)
{
  unsigned n = 0;
  for (unsigned i = from; i < s->nwrites; i++) n += s->w[i].offset == offset;
  return n;
}

/* The initial value an output line was requested with; -1 if never requested as an output. */
static inline int spy_initial(const struct spy *s, uint32_t offset, bool *active_low)
{
  for (unsigned q = 0; q < s->nreq; q++)
    for (unsigned i = 0; i < s->req[q].num_lines; i++)
      if (s->req[q].lines[i].offset == offset && s->req[q].lines[i].output) {
        if (active_low) *active_low = s->req[q].lines[i].active_low;
        return s->req[q].lines[i].initial_value;
      }
  return -1;
}

/* ------------------------------------------------------------------ journal */

/* Decodes record seq of the harness's journal into *out (buf must outlive out's slices). */
static inline int act_read_record(struct actuator_harness *h, uint64_t seq, struct journal_record *out,
                                  uint8_t *buf, size_t cap)
{
  struct journal_reader *rd = NULL;
  int r = journal_reader_attach(&rd, h->journal);
  if (r < 0) return r;
  struct journal_iter *it = NULL;
  if ((r = journal_iter_begin(rd, 1, &it)) == 0) {
    const uint8_t *b;
    size_t len;
    if ((r = journal_iter_get(it, seq, &b, &len)) == 0) {
      if (len > cap) r = -ENOSPC;
      else { memcpy(buf, b, len); r = journal_record_decode(buf, len, out); }
    }
    journal_iter_end(it);
  }
  journal_reader_close(rd);
  return r;
}

#endif
