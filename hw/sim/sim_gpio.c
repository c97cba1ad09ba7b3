/*
 * sim_gpio.c — the simulator's gpiochip: line requests, levels read and driven, edge events
 * with per-line debounce into a bounded buffer per request (the oldest dropped on overflow,
 * per-request and per-line seqnos, an eventfd for readiness), and level changes scheduled in
 * time order.
 */
#include "hw.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "sim_internal.h"

static uint64_t ts_of(const struct hw_sim *s, const struct sim_req *r, uint64_t t)
{
  return r->realtime ? (uint64_t)((int64_t)(SIM_EPOCH_NS + t) + s->wall_offset_ns) : t;
}

static void emit(struct hw_sim *s, struct sim_line *l, unsigned offset, uint8_t logical, uint64_t t)
{
  l->reported = logical;
  if (!(l->edges & (logical ? HW_GPIO_EDGE_RISING : HW_GPIO_EDGE_FALLING))) return;
  struct sim_req *r = &s->req[l->req];
  struct hw_gpio_event ev = { .timestamp_ns = ts_of(s, r, t), .offset = offset, .rising = logical,
                              .seqno = ++r->seqno, .line_seqno = ++l->line_seqno };
  if (r->count == r->cap) { r->head = (r->head + 1) % r->cap; r->count--; } /* drop the oldest */
  r->ring[(r->head + r->count) % r->cap] = ev;
  if (r->count++ == 0 && r->efd >= 0) {
    uint64_t one = 1;
    ssize_t w = write(r->efd, &one, sizeof one);
    (void)w;
  }
}

void hw__sim_line_set(struct hw_sim *s, unsigned line, uint8_t phys, uint64_t t)
{
  if (line >= NLINES) return;
  struct sim_line *l = &s->line[line];
  if (l->phys == phys) return;
  l->phys = phys;
  if (l->req < 0 || l->output || !l->edges) return;
  uint8_t logical = phys ^ l->active_low;
  if (l->debounce_us) {
    l->deb_due = t + (uint64_t)l->debounce_us * 1000;
    if (!s->next_deb_ns || l->deb_due < s->next_deb_ns) s->next_deb_ns = l->deb_due;
  } else {
    emit(s, l, line, logical, t);
  }
}

void hw__sim_run_debounce(struct hw_sim *s, uint64_t now)
{
  if (!s->next_deb_ns || s->next_deb_ns > now) return;
  uint64_t next = 0;
  /* fire in time order so events of different lines stay ordered */
  for (;;) {
    int best = -1;
    for (unsigned i = 0; i < NLINES; i++)
      if (s->line[i].deb_due && s->line[i].deb_due <= now &&
          (best < 0 || s->line[i].deb_due < s->line[best].deb_due))
        best = (int)i;
    if (best < 0) break;
    struct sim_line *l = &s->line[best];
    uint64_t due = l->deb_due;
    l->deb_due = 0;
    uint8_t logical = l->phys ^ l->active_low;
    if (l->req >= 0 && logical != l->reported) emit(s, l, (unsigned)best, logical, due);
  }
  for (unsigned i = 0; i < NLINES; i++)
    if (s->line[i].deb_due && (!next || s->line[i].deb_due < next)) next = s->line[i].deb_due;
  s->next_deb_ns = next;
}

void hw__sim_sched_add(struct hw_sim *s, uint64_t t, unsigned line, uint8_t level)
{
  if (line >= NLINES) return;
  if (s->nsched == SCHED) { s->sched_dropped++; return; }
  unsigned i = s->nsched++;
  while (i > 0 && s->sched[i - 1].t_ns > t) { s->sched[i] = s->sched[i - 1]; i--; }
  s->sched[i] = (struct sched){ t, (uint16_t)line, level };
}

void hw__sim_run_sched(struct hw_sim *s, uint64_t now)
{
  unsigned k = 0;
  while (k < s->nsched && s->sched[k].t_ns <= now) {
    hw__sim_line_set(s, s->sched[k].line, s->sched[k].level, s->sched[k].t_ns);
    k++;
  }
  if (k) {
    memmove(s->sched, s->sched + k, (s->nsched - k) * sizeof s->sched[0]);
    s->nsched -= k;
  }
}

static int chip_info(void *ctx, struct hw_gpio_chip_info *out)
{
  memset(out, 0, sizeof *out);
  strcpy(out->name, "gpiochip-sim");
  strcpy(out->label, "hems simulated panel");
  out->num_lines = NLINES;
  return 0;
}

static int lines_get(struct hw_gpio_lines *gl, uint64_t mask, uint64_t *out)
{
  struct sim_req *r = gl->ctx;
  uint64_t bits = 0;
  bool all_dead = mask != 0;
  for (unsigned i = 0; i < gl->num_lines; i++)
    if (mask & (1ull << i)) {
      const struct sim_line *l = &r->sim->line[gl->offsets[i]];
      all_dead = all_dead && l->dead;
      if (l->phys ^ l->active_low) bits |= 1ull << i;
    }
  /* a read of only a silent source's lines fails (the taps read each source on its own); one
   * that also covers live lines answers, as a GPIO chip cannot fail line by line */
  if (all_dead) return -EIO;
  *out = bits;
  return 0;
}

static int lines_set(struct hw_gpio_lines *gl, uint64_t mask, uint64_t bits)
{
  struct sim_req *r = gl->ctx;
  for (unsigned i = 0; i < gl->num_lines; i++)
    if ((mask & (1ull << i)) && !r->sim->line[gl->offsets[i]].output) return -EPERM;
  for (unsigned i = 0; i < gl->num_lines; i++)
    if (mask & (1ull << i)) {
      unsigned off = gl->offsets[i];
      struct sim_line *l = &r->sim->line[off];
      uint8_t phys = (uint8_t)(((bits >> i) & 1) ^ l->active_low);
      if (phys != l->phys) {
        l->phys = phys;
        hw__sim_on_output(r->sim, off, r->sim->now_ns);
      }
    }
  return 0;
}

static int lines_read(struct hw_gpio_lines *gl, struct hw_gpio_event *ev, unsigned max, unsigned *n)
{
  struct sim_req *r = gl->ctx;
  unsigned k = 0;
  while (k < max && r->count) {
    ev[k++] = r->ring[r->head];
    r->head = (r->head + 1) % r->cap;
    r->count--;
  }
  if (r->count == 0 && r->efd >= 0) {
    uint64_t v;
    ssize_t rd = read(r->efd, &v, sizeof v); /* non-blocking: resets readiness */
    (void)rd;
  }
  *n = k;
  return 0;
}

static void lines_release(struct hw_gpio_lines *gl)
{
  struct sim_req *r = gl->ctx;
  struct hw_sim *s = r->sim;
  for (unsigned i = 0; i < gl->num_lines; i++) {
    unsigned off = gl->offsets[i];
    struct sim_line *l = &s->line[off];
    bool out = l->output;
    l->req = -1;
    l->output = false;
    l->edges = 0;
    l->deb_due = 0;
    if (out && l->phys) { /* the kernel stops driving: the line falls to its pull-down */
      l->phys = 0;
      hw__sim_on_output(s, off, s->now_ns);
    }
    l->active_low = false;
  }
  if (r->efd >= 0) close(r->efd);
  r->efd = -1;
  r->used = false;
}

static const struct hw_gpio_lines_ops sim_lines_ops = { lines_get, lines_set, lines_read, lines_release };

static bool is_sim_input(const struct hw_sim *s, unsigned off)
{
  return s->line[off].role == R_NONE;
}

static int chip_request(void *ctx, const struct hw_gpio_request_config *cfg, struct hw_gpio_lines *out)
{
  struct hw_sim *s = ctx;
  for (unsigned i = 0; i < cfg->num_lines; i++) {
    unsigned off = cfg->lines[i].offset;
    if (off >= NLINES) return -EINVAL;
    if (s->line[off].req >= 0) return -EBUSY;
    /* a line the panel drives (aux, sense, tap, irq) cannot be an output and vice versa */
    if (cfg->lines[i].output == is_sim_input(s, off)) return -EINVAL;
  }
  int ri = -1;
  for (int i = 0; i < NREQ; i++) if (!s->req[i].used) { ri = i; break; }
  if (ri < 0) return -ENOSPC;
  struct sim_req *r = &s->req[ri];
  memset(r, 0, sizeof *r);
  r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (r->efd < 0) return -errno;
  r->used = true;
  r->sim = s;
  r->realtime = cfg->event_clock_realtime;
  r->num = cfg->num_lines;
  unsigned cap = cfg->event_buffer_size ? cfg->event_buffer_size : 16 * cfg->num_lines;
  r->cap = cap > RING ? RING : cap;
  for (unsigned i = 0; i < cfg->num_lines; i++) {
    const struct hw_gpio_line_config *lc = &cfg->lines[i];
    struct sim_line *l = &s->line[lc->offset];
    l->req = (int8_t)ri;
    l->index = (uint8_t)i;
    l->output = lc->output;
    l->active_low = lc->active_low;
    l->edges = lc->edges;
    l->debounce_us = lc->debounce_us;
    l->deb_due = 0;
    l->line_seqno = 0;
    if (lc->output) {
      uint8_t phys = (uint8_t)(lc->initial_value ^ lc->active_low);
      if (phys != l->phys) { l->phys = phys; hw__sim_on_output(s, lc->offset, s->now_ns); }
    } else {
      l->reported = l->phys ^ l->active_low;
    }
  }
  out->ops = &sim_lines_ops;
  out->ctx = r;
  out->fd = r->efd;
  return 0;
}

const struct hw_gpio_chip_ops hw__sim_chip_ops = { chip_info, chip_request };
