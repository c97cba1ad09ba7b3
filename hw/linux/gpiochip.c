/*
 * gpiochip.c — GPIO lines over the Linux GPIO character device, uAPI v2 (Linux >= 5.10).
 *
 * A hw_gpio_request_config becomes one GPIO_V2_GET_LINE_IOCTL: the flags of line 0 are the
 * request's default flags; every other distinct flag set, the initial output values and each
 * distinct debounce period become line-config attributes masked over the request's offsets[]
 * index (at most GPIO_V2_LINE_NUM_ATTRS_MAX = 10, else HW_ETOOMANY). Events are read only after a
 * zero-timeout poll says they are pending, so reads never block the caller's loop. Sequence
 * numbers are checked by the shared front end (hw.c). All kernel calls go through struct hw_sys.
 */
#include "hw.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/gpio.h>
#include <poll.h>
#include <string.h>

static uint64_t line_flags(const struct hw_gpio_line_config *lc, bool realtime)
{
  uint64_t f = 0;
  if (lc->active_low) f |= GPIO_V2_LINE_FLAG_ACTIVE_LOW;
  if (lc->output) {
    f |= GPIO_V2_LINE_FLAG_OUTPUT;
    if (lc->open_drain) f |= GPIO_V2_LINE_FLAG_OPEN_DRAIN;
  } else {
    f |= GPIO_V2_LINE_FLAG_INPUT;
    if (lc->edges & HW_GPIO_EDGE_RISING) f |= GPIO_V2_LINE_FLAG_EDGE_RISING;
    if (lc->edges & HW_GPIO_EDGE_FALLING) f |= GPIO_V2_LINE_FLAG_EDGE_FALLING;
    if (lc->edges && realtime) f |= GPIO_V2_LINE_FLAG_EVENT_CLOCK_REALTIME;
  }
  switch (lc->bias) {
  case HW_GPIO_BIAS_PULL_UP: f |= GPIO_V2_LINE_FLAG_BIAS_PULL_UP; break;
  case HW_GPIO_BIAS_PULL_DOWN: f |= GPIO_V2_LINE_FLAG_BIAS_PULL_DOWN; break;
  case HW_GPIO_BIAS_DISABLED: f |= GPIO_V2_LINE_FLAG_BIAS_DISABLED; break;
  default: break;
  }
  return f;
}

static int add_attr(struct gpio_v2_line_config *c, uint32_t id, uint64_t mask, uint64_t val)
{
  if (c->num_attrs >= GPIO_V2_LINE_NUM_ATTRS_MAX) return HW_ETOOMANY;
  struct gpio_v2_line_config_attribute *a = &c->attrs[c->num_attrs++];
  a->attr.id = id;
  if (id == GPIO_V2_LINE_ATTR_ID_FLAGS) a->attr.flags = val;
  else if (id == GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES) a->attr.values = val;
  else a->attr.debounce_period_us = (uint32_t)val;
  a->mask = mask;
  return 0;
}

/* Builds the v2 request; exposed to tests through the ioctl seam only. */
static int build_request(const struct hw_gpio_request_config *cfg, struct gpio_v2_line_request *req)
{
  memset(req, 0, sizeof *req);
  unsigned n = cfg->num_lines;
  for (unsigned i = 0; i < n; i++) req->offsets[i] = cfg->lines[i].offset;
  if (cfg->consumer) {
    strncpy(req->consumer, cfg->consumer, sizeof req->consumer - 1);
  }
  req->num_lines = n;
  req->event_buffer_size = cfg->event_buffer_size;
  struct gpio_v2_line_config *c = &req->config;
  uint64_t flags[HW_GPIO_MAX_LINES] = { 0 };
  for (unsigned i = 0; i < n; i++) flags[i] = line_flags(&cfg->lines[i], cfg->event_clock_realtime);
  c->flags = flags[0];
  uint64_t done = 0;
  for (unsigned i = 1; i < n; i++) {
    if (flags[i] == c->flags || (done & ((uint64_t)1 << i))) continue;
    uint64_t mask = 0;
    for (unsigned j = i; j < n; j++)
      if (flags[j] == flags[i]) mask |= (uint64_t)1 << j;
    done |= mask;
    int r = add_attr(c, GPIO_V2_LINE_ATTR_ID_FLAGS, mask, flags[i]);
    if (r < 0) return r;
  }
  uint64_t out_mask = 0, out_vals = 0;
  for (unsigned i = 0; i < n; i++)
    if (cfg->lines[i].output) {
      out_mask |= (uint64_t)1 << i;
      if (cfg->lines[i].initial_value) out_vals |= (uint64_t)1 << i;
    }
  if (out_mask) {
    int r = add_attr(c, GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES, out_mask, out_vals);
    if (r < 0) return r;
  }
  uint64_t deb_done = 0;
  for (unsigned i = 0; i < n; i++) {
    uint32_t us = cfg->lines[i].debounce_us;
    if (!us || (deb_done & ((uint64_t)1 << i))) continue;
    uint64_t mask = 0;
    for (unsigned j = i; j < n; j++)
      if (cfg->lines[j].debounce_us == us) mask |= (uint64_t)1 << j;
    deb_done |= mask;
    int r = add_attr(c, GPIO_V2_LINE_ATTR_ID_DEBOUNCE, mask, us);
    if (r < 0) return r;
  }
  return 0;
}

static int lines_get(struct hw_gpio_lines *l, uint64_t mask, uint64_t *out)
{
  const struct hw_sys *sys = l->ctx;
  struct gpio_v2_line_values v = { .bits = 0, .mask = mask };
  int r = sys->ioctl(sys->user, l->fd, GPIO_V2_LINE_GET_VALUES_IOCTL, &v);
  if (r < 0) return r;
  *out = v.bits & mask;
  return 0;
}

static int lines_set(struct hw_gpio_lines *l, uint64_t mask, uint64_t bits)
{
  const struct hw_sys *sys = l->ctx;
  struct gpio_v2_line_values v = { .bits = bits, .mask = mask };
  int r = sys->ioctl(sys->user, l->fd, GPIO_V2_LINE_SET_VALUES_IOCTL, &v);
  return r < 0 ? r : 0;
}

static int lines_read_events(struct hw_gpio_lines *l, struct hw_gpio_event *ev, unsigned max,
                             unsigned *out_n)
{
  const struct hw_sys *sys = l->ctx;
  unsigned got = 0;
  while (got < max) {
    struct pollfd p = { .fd = l->fd, .events = POLLIN };
    int r = sys->poll(sys->user, &p, 1, 0);
    if (r < 0) return r;
    if (r == 0 || !(p.revents & POLLIN)) break;
    struct gpio_v2_line_event buf[16];
    unsigned want = max - got < 16 ? max - got : 16;
    ssize_t n = sys->read(sys->user, l->fd, buf, want * sizeof buf[0]);
    if (n == -EAGAIN) break;
    if (n < 0) return (int)n;
    if (n == 0 || n % (ssize_t)sizeof buf[0]) return -EIO; /* the kernel returns whole events */
    for (unsigned k = 0; k < (unsigned)n / sizeof buf[0]; k++) {
      struct hw_gpio_event *e = &ev[got++];
      memset(e, 0, sizeof *e);
      e->timestamp_ns = buf[k].timestamp_ns;
      e->offset = buf[k].offset;
      e->rising = buf[k].id == GPIO_V2_LINE_EVENT_RISING_EDGE;
      e->seqno = buf[k].seqno;
      e->line_seqno = buf[k].line_seqno;
    }
  }
  *out_n = got;
  return 0;
}

static void lines_release(struct hw_gpio_lines *l)
{
  const struct hw_sys *sys = l->ctx;
  if (sys && l->fd >= 0) sys->close(sys->user, l->fd);
}

static const struct hw_gpio_lines_ops chardev_lines_ops = {
  lines_get, lines_set, lines_read_events, lines_release
};

static int chip_info(void *ctx, struct hw_gpio_chip_info *out)
{
  struct hw_gpiochip *gc = ctx;
  *out = gc->info;
  return 0;
}

static int chip_request(void *ctx, const struct hw_gpio_request_config *cfg,
                        struct hw_gpio_lines *out)
{
  struct hw_gpiochip *gc = ctx;
  for (unsigned i = 0; i < cfg->num_lines; i++)
    if (cfg->lines[i].offset >= gc->info.num_lines) return -EINVAL;
  struct gpio_v2_line_request req;
  int r = build_request(cfg, &req);
  if (r < 0) return r;
  r = gc->sys->ioctl(gc->sys->user, gc->fd, GPIO_V2_GET_LINE_IOCTL, &req);
  if (r < 0) return r;
  if (req.fd < 0) return -EIO;
  out->ops = &chardev_lines_ops;
  out->ctx = (void *)gc->sys;
  out->fd = req.fd;
  return 0;
}

static const struct hw_gpio_chip_ops chardev_chip_ops = { chip_info, chip_request };

int hw_gpiochip_open(struct hw_gpiochip *gc, const char *path, const struct hw_sys *sys)
{
  memset(gc, 0, sizeof *gc);
  gc->fd = -1;
  gc->sys = sys ? sys : &hw_sys_linux;
  int fd = gc->sys->open(gc->sys->user, path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return fd;
  struct gpiochip_info ci;
  memset(&ci, 0, sizeof ci);
  int r = gc->sys->ioctl(gc->sys->user, fd, GPIO_GET_CHIPINFO_IOCTL, &ci);
  if (r < 0) { gc->sys->close(gc->sys->user, fd); return r; }
  gc->fd = fd;
  memcpy(gc->info.name, ci.name, sizeof gc->info.name - 1);
  memcpy(gc->info.label, ci.label, sizeof gc->info.label - 1);
  gc->info.num_lines = ci.lines;
  gc->chip.ops = &chardev_chip_ops;
  gc->chip.ctx = gc;
  return 0;
}

void hw_gpiochip_close(struct hw_gpiochip *gc)
{
  if (gc->sys && gc->fd >= 0) gc->sys->close(gc->sys->user, gc->fd);
  memset(gc, 0, sizeof *gc);
  gc->fd = -1;
}
