/*
 * run_rails.c — supply rails (issue 17 item 4; the panel config's "rails", docs/hardware.md),
 * watched through power-good inputs or measured through a voltage file (hwmon or IIO, read
 * every RUN_RAILS_READ_NS of panel time: hw/rail_volt.c). A rail whose line reads not-good, or
 * whose voltage is below min_pct of its nominal, is low (a measured one is good again only at
 * min_pct + hysteresis_pct, so a voltage at the threshold cannot make faults chatter): the daemon
 * journals fault{rail_low} (value: the measured mV, or the nominal mV of a line rail; the detail
 * naming it) when it goes low and fault{rail_ok} (value: ms it was low) when it returns; while
 * any rail is low, trip_tap, sense_back, der and fault records carry the set (rails_low, bit i =
 * rails[i]), the snapshot the reference's field playbook reads next to each event ("transfer
 * chatter with vs without rail dips"); the boot record's rail_status names the rails low (or
 * unreadable: "name:unknown") at start. A voltage file that does not read is one
 * fault{rail_read_failed} until it reads again; the rail keeps its last state meanwhile.
 */
#include <stdio.h>
#include <string.h>
#include "run.h"

#define RUN_RAILS_READ_NS 100000000ull

/* A measured rail against its thresholds: 1 low, 0 good, -1 between (keeps its state). */
static int judge(const struct hw_panel_rail *rl, int32_t mv)
{
  int64_t low = (int64_t)rl->nominal_mv * rl->min_pct, back = (int64_t)rl->nominal_mv * (rl->min_pct + rl->hysteresis_pct);
  if ((int64_t)mv * 100 < low) return 1;
  if ((int64_t)mv * 100 >= back) return 0;
  return -1;
}

static void rail_fault(struct daemon *d, unsigned i, bool low, uint64_t now)
{
  const struct hw_panel_rail *rl = &d->panel->rail[i];
  char detail[200];
  if (low) {
    d->rails_low |= (uint8_t)(1u << i);
    d->rails_low_since_ns[i] = now;
    if (rl->volt)
      snprintf(detail, sizeof detail, "rail %s (%u mV) measured %d mV: below %u %% (%s)", rl->name, rl->nominal_mv,
               d->rails_mv[i], rl->min_pct, rl->volt_path);
    else
      snprintf(detail, sizeof detail, "rail %s (%u mV) power-good lost: below %u %%", rl->name, rl->nominal_mv, rl->min_pct);
    run_fault(d, "rail_low", rl->volt ? d->rails_mv[i] : (int64_t)rl->nominal_mv, 0, detail);
  } else {
    uint64_t ms = (now - d->rails_low_since_ns[i]) / 1000000u;
    d->rails_low &= (uint8_t)~(1u << i);
    if (rl->volt)
      snprintf(detail, sizeof detail, "rail %s (%u mV) measured %d mV again after %llu ms", rl->name, rl->nominal_mv,
               d->rails_mv[i], (unsigned long long)ms);
    else
      snprintf(detail, sizeof detail, "rail %s (%u mV) power-good again after %llu ms", rl->name, rl->nominal_mv,
               (unsigned long long)ms);
    run_fault(d, "rail_ok", (int64_t)ms, 0, detail);
  }
}

/* Reads the measured rails. Before the boot record (journal false) it only sets the state; after
 * it, each change is journaled. */
static void read_measured(struct daemon *d, bool journal, uint64_t now)
{
  const struct hw_panel *p = d->panel;
  for (unsigned i = 0; i < p->num_rails; i++) {
    const struct hw_panel_rail *rl = &p->rail[i];
    if (!rl->volt) continue;
    int32_t mv = 0;
    int r = hw_rail_read_mv(rl, &mv);
    uint8_t bit = (uint8_t)(1u << i);
    if (r) {
      if (journal && !(d->rails_unread & bit)) {
        char detail[200];
        snprintf(detail, sizeof detail, "rail %s: %s: %s", rl->name, rl->volt_path, hw_strerror(r));
        run_fault(d, "rail_read_failed", r, 0, detail);
      }
      d->rails_unread |= bit;
      continue;
    }
    d->rails_unread &= (uint8_t)~bit;
    d->rails_mv[i] = mv;
    int j = judge(rl, mv);
    bool was = d->rails_low & bit;
    if (j < 0 || (j == 1) == was) continue;
    if (journal) rail_fault(d, i, j == 1, now);
    else if (j == 1) { d->rails_low |= bit; d->rails_low_since_ns[i] = now; }
  }
}

void run_rails_open(struct daemon *d)
{
  const struct hw_panel *p = d->panel;
  if (!p->num_rails) return;
  uint64_t now = run_now_ns(d);
  read_measured(d, false, now);
  d->rails_next_read_ns = now + RUN_RAILS_READ_NS;
  struct hw_gpio_chip *chip = run_gpio_chip(d);
  struct hw_gpio_request_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.consumer = "hems-rails";
  for (unsigned i = 0; i < p->num_rails; i++) {
    if (p->rail[i].volt) continue;
    d->rails_req_rail[cfg.num_lines] = (uint8_t)i;
    struct hw_gpio_line_config *lc = &cfg.lines[cfg.num_lines++];
    lc->offset = p->rail[i].line;
    lc->active_low = p->rail[i].active_low;
    lc->edges = HW_GPIO_EDGE_BOTH;
  }
  if (!cfg.num_lines) { d->rails_ok = true; return; }
  if (!chip) return;
  int r = hw_gpio_request(chip, &cfg, &d->rails_req);
  uint64_t bits = 0;
  if (r == 0 && (r = hw_gpio_get(&d->rails_req, (1ull << cfg.num_lines) - 1, &bits)) < 0) hw_gpio_release(&d->rails_req);
  if (r < 0) { d->rails_err = r; return; }
  d->rails_ok = true;
  d->rails_lines = true;
  for (unsigned k = 0; k < cfg.num_lines; k++)
    if (!((bits >> k) & 1)) {
      unsigned i = d->rails_req_rail[k];
      d->rails_low |= (uint8_t)(1u << i);
      d->rails_low_since_ns[i] = now;
    }
}

void run_rails_after_boot(struct daemon *d)
{
  if (d->rails_err) {
    char detail[128];
    snprintf(detail, sizeof detail, "rail power-good inputs: %s", hw_strerror(d->rails_err));
    run_fault(d, "gpio_request", d->rails_err, 0, detail);
  }
  uint8_t low = d->rails_low, unread = d->rails_unread;
  d->rails_low = 0; /* each journaled as it is found */
  d->rails_unread = 0;
  for (unsigned i = 0; i < d->panel->num_rails; i++) {
    if ((low >> i) & 1) rail_fault(d, i, true, d->rails_low_since_ns[i]);
    if ((unread >> i) & 1) {
      const struct hw_panel_rail *rl = &d->panel->rail[i];
      int32_t mv;
      int r = hw_rail_read_mv(rl, &mv);
      char detail[200];
      snprintf(detail, sizeof detail, "rail %s: %s: %s", rl->name, rl->volt_path, hw_strerror(r ? r : HW_ERANGE));
      run_fault(d, "rail_read_failed", r ? r : HW_ERANGE, 0, detail);
      d->rails_unread |= (uint8_t)(1u << i);
    }
  }
}

void run_rails_tick(struct daemon *d)
{
  const struct hw_panel *p = d->panel;
  uint64_t now = run_now_ns(d);
  if (p->num_rails && now >= d->rails_next_read_ns) {
    d->rails_next_read_ns = now + RUN_RAILS_READ_NS;
    read_measured(d, true, now);
  }
  if (!d->rails_lines) return;
  struct hw_gpio_event ev[16];
  unsigned n = 0;
  if (hw_gpio_read_events(&d->rails_req, ev, 16, &n) < 0) return;
  for (unsigned k = 0; k < n; k++) {
    if (ev[k].index >= HW_MAX_RAILS) continue;
    unsigned i = d->rails_req_rail[ev[k].index];
    if (i >= p->num_rails || p->rail[i].volt) continue;
    bool low = !ev[k].rising, was = (d->rails_low >> i) & 1;
    if (low != was) rail_fault(d, i, low, now);
  }
}

const char *run_rails_status(const struct daemon *d, char *buf, size_t cap)
{
  const struct hw_panel *p = d->panel;
  if (!p->num_rails) return "none";
  if (!d->rails_ok) return "unknown";
  if (!d->rails_low && !d->rails_unread) return "ok";
  size_t len = 0;
  buf[0] = 0;
  for (unsigned i = 0; i < p->num_rails && len + 1 < cap; i++) {
    bool low = (d->rails_low >> i) & 1, unread = (d->rails_unread >> i) & 1;
    if (!low && !unread) continue;
    int w = snprintf(buf + len, cap - len, "%s%s:%s", len ? "," : "", p->rail[i].name, low ? "low" : "unknown");
    if (w < 0 || (size_t)w >= cap - len) break;
    len += (size_t)w;
  }
  return buf;
}
