/*
 * run_rails.c — supply rails watched through power-good inputs (issue 17 item 4; the panel
 * config's "rails", docs/hardware.md). A rail whose line reads not-good is low: the daemon
 * journals fault{rail_low} (value: the rail's nominal mV, detail naming it) when it goes low and
 * fault{rail_ok} (value: ms it was low) when it returns; while any rail is low, trip_tap,
 * sense_back, der and fault records carry the set (rails_low, bit i = rails[i]), the snapshot
 * the reference's field playbook reads next to each event ("transfer chatter with vs without
 * rail dips"); the boot record's rail_status names the rails low at start.
 */
#include <stdio.h>
#include <string.h>
#include "run.h"

void run_rails_open(struct daemon *d)
{
  const struct hw_panel *p = d->panel;
  struct hw_gpio_chip *chip = run_gpio_chip(d);
  if (!p->num_rails || !chip) return;
  struct hw_gpio_request_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.consumer = "hems-rails";
  for (unsigned i = 0; i < p->num_rails; i++) {
    struct hw_gpio_line_config *lc = &cfg.lines[cfg.num_lines++];
    lc->offset = p->rail[i].line;
    lc->active_low = p->rail[i].active_low;
    lc->edges = HW_GPIO_EDGE_BOTH;
  }
  int r = hw_gpio_request(chip, &cfg, &d->rails_req);
  uint64_t bits = 0;
  if (r == 0 && (r = hw_gpio_get(&d->rails_req, (1ull << p->num_rails) - 1, &bits)) < 0) hw_gpio_release(&d->rails_req);
  if (r < 0) { d->rails_err = r; return; }
  d->rails_ok = true;
  uint64_t now = run_now_ns(d);
  for (unsigned i = 0; i < p->num_rails; i++)
    if (!((bits >> i) & 1)) { d->rails_low |= (uint8_t)(1u << i); d->rails_low_since_ns[i] = now; }
}

static void rail_fault(struct daemon *d, unsigned i, bool low, uint64_t now)
{
  const struct hw_panel_rail *rl = &d->panel->rail[i];
  char detail[128];
  if (low) {
    d->rails_low |= (uint8_t)(1u << i);
    d->rails_low_since_ns[i] = now;
    snprintf(detail, sizeof detail, "rail %s (%u mV) power-good lost: below %u %%", rl->name, rl->nominal_mv, rl->min_pct);
    run_fault(d, "rail_low", rl->nominal_mv, 0, detail);
  } else {
    uint64_t ms = (now - d->rails_low_since_ns[i]) / 1000000u;
    d->rails_low &= (uint8_t)~(1u << i);
    snprintf(detail, sizeof detail, "rail %s (%u mV) power-good again after %llu ms", rl->name, rl->nominal_mv,
             (unsigned long long)ms);
    run_fault(d, "rail_ok", (int64_t)ms, 0, detail);
  }
}

void run_rails_after_boot(struct daemon *d)
{
  if (d->rails_err) {
    char detail[128];
    snprintf(detail, sizeof detail, "rail power-good inputs: %s", hw_strerror(d->rails_err));
    run_fault(d, "gpio_request", d->rails_err, 0, detail);
    return;
  }
  uint8_t low = d->rails_low;
  d->rails_low = 0; /* each journaled as it is found */
  for (unsigned i = 0; i < d->panel->num_rails; i++)
    if ((low >> i) & 1) rail_fault(d, i, true, d->rails_low_since_ns[i]);
}

void run_rails_tick(struct daemon *d)
{
  if (!d->rails_ok) return;
  struct hw_gpio_event ev[16];
  unsigned n = 0;
  if (hw_gpio_read_events(&d->rails_req, ev, 16, &n) < 0) return;
  for (unsigned k = 0; k < n; k++) {
    unsigned i = ev[k].index;
    if (i >= d->panel->num_rails) continue;
    bool low = !ev[k].rising, was = (d->rails_low >> i) & 1;
    if (low != was) rail_fault(d, i, low, run_now_ns(d));
  }
}

const char *run_rails_status(const struct daemon *d, char *buf, size_t cap)
{
  const struct hw_panel *p = d->panel;
  if (!p->num_rails) return "none";
  if (!d->rails_ok) return "unknown";
  if (!d->rails_low) return "ok";
  size_t len = 0;
  buf[0] = 0;
  for (unsigned i = 0; i < p->num_rails && len + 1 < cap; i++)
    if ((d->rails_low >> i) & 1) {
      int w = snprintf(buf + len, cap - len, "%s%s:low", len ? "," : "", p->rail[i].name);
      if (w < 0 || (size_t)w >= cap - len) break;
      len += (size_t)w;
    }
  return buf;
}
