/*
 * fuzz_actuator_taps.c — fuzz target for the trip-tap / DER decoder (actuators/taps.c) fed with
 * GPIO event bursts as the kernel delivers them: the input is a sequence of 48-byte
 * struct gpio_v2_line_event images (u64 timestamp_ns, u32 id, u32 offset, u32 seqno,
 * u32 line_seqno, u32 padding[6], little endian) read through a fake line request, so
 * hw_gpio_read_events' seqno-gap accounting and actuator_taps_poll/feed run on hostile input:
 * any offsets, edges, timestamps (backwards, huge), seqnos (gaps, wraps, repeats).
 * Checks: no crash, output never beyond the array, every record is encodable by the journal.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "actuators.h"

struct feed { const uint8_t *d; size_t n, pos; uint8_t levels; };

static uint64_t le(const uint8_t *p, int n)
{
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

static int l_get(struct hw_gpio_lines *l, uint64_t mask, uint64_t *out)
{
  struct feed *f = l->ctx;
  *out = (f->levels * 0x0101010101010101ull) & mask;
  return 0;
}
static int l_set(struct hw_gpio_lines *l, uint64_t mask, uint64_t bits) { return -1; }
static int l_read(struct hw_gpio_lines *l, struct hw_gpio_event *ev, unsigned max, unsigned *n)
{
  struct feed *f = l->ctx;
  unsigned k = 0;
  while (k < max && f->pos + 48 <= f->n) {
    const uint8_t *p = f->d + f->pos;
    f->pos += 48;
    memset(&ev[k], 0, sizeof ev[k]);
    ev[k].timestamp_ns = le(p, 8);
    uint32_t id = (uint32_t)le(p + 8, 4);
    ev[k].rising = id == 1 ? true : id == 2 ? false : (id & 1);
    ev[k].offset = (uint32_t)le(p + 12, 4);
    ev[k].seqno = (uint32_t)le(p + 16, 4);
    ev[k].line_seqno = (uint32_t)le(p + 20, 4);
    k++;
  }
  *n = k;
  return 0;
}
static void l_release(struct hw_gpio_lines *l) { (void)l; }
static const struct hw_gpio_lines_ops lops = { l_get, l_set, l_read, l_release };

static struct feed g_feed;
static int c_info(void *ctx, struct hw_gpio_chip_info *out) { memset(out, 0, sizeof *out); return 0; }
static int c_request(void *ctx, const struct hw_gpio_request_config *cfg, struct hw_gpio_lines *out)
{
  out->ops = &lops;
  out->ctx = &g_feed;
  return 0;
}
static const struct hw_gpio_chip_ops cops = { c_info, c_request };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static struct hw_panel panel;
  memset(&panel, 0, sizeof panel);
  panel.num_taps = 4;
  const uint32_t deb[4] = { 0, 5000, 20000, 1 };
  for (unsigned i = 0; i < 4; i++) {
    panel.tap[i].kind = (enum hw_tap_kind)(i * 2 % 7);
    panel.tap[i].branch = i;
    panel.tap[i].line = 10 + i;
    panel.tap[i].active_low = i & 1;
    panel.tap[i].debounce_us = deb[i];
  }
  panel.der.pv = panel.der.ess = panel.der.ats = true;
  panel.der.pv_branch = 3;
  uint32_t *dl[] = { &panel.der.line_pv_grid_tied, &panel.der.line_pv_fault, &panel.der.line_ess_charging,
                     &panel.der.line_ess_discharging, &panel.der.line_ess_alarm, &panel.der.line_ats_grid_present,
                     &panel.der.line_ats_on_backup, &panel.der.line_ats_interlock_ok };
  for (unsigned i = 0; i < 8; i++) *dl[i] = 20 + i;
  panel.der.line_ess_permit = HW_LINE_NONE;

  g_feed = (struct feed){ data, size, size ? 1 : 0, size ? data[0] : 0 };
  struct hw_gpio_chip chip = { &cops, NULL };
  struct actuator_taps t;
  if (actuator_taps_init(&t, &chip, &panel, NULL, NULL, 0) < 0) abort();
  struct actuator_tap_record out[9];
  uint64_t now = 0;
  for (int round = 0; round < 10000; round++) {
    unsigned n = 0;
    if (actuator_taps_poll(&t, now, out, 9, &n) < 0) abort();
    if (n > 9) abort();
    for (unsigned i = 0; i < n; i++) {
      struct journal_record r;
      memset(&r, 0, sizeof r);
      r.seq = 1;
      r.version = JOURNAL_SCHEMA_VERSION;
      r.type = out[i].type;
      r.source = out[i].source;
      memcpy(&r.body, &out[i].body, sizeof out[i].body);
      uint8_t buf[512];
      size_t len;
      if (journal_record_encode(&r, buf, sizeof buf, &len) != 0) abort();
    }
    now += 1000000;
    if (g_feed.pos + 48 > g_feed.n && n == 0 && actuator_taps_next_due_ns(&t) == UINT64_MAX) break;
  }
  actuator_taps_deinit(&t);
  return 0;
}
