/*
 * hw.c — the transport-independent parts of the hardware boundary: the error table, the real
 * kernel seam (hw_sys_linux), and the SPI/GPIO front functions every backend shares.
 *
 * Invariants: the GPIO front end is the one place that checks event sequence numbers, so the
 * Linux backend and the simulated gpiochip report dropped events identically (a gap in seqno
 * sets dropped_before on the next event and is added to events_dropped).
 */
#include "hw.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

const char *hw_strerror(int err)
{
  switch (err) {
  case 0: return "success";
#define HW__MSG(n, v, m) case n: return m;
    HW_ERRORS(HW__MSG)
#undef HW__MSG
  default: break;
  }
  if (err < 0 && err > -4096) return strerror(-err);
  return "unknown error";
}

/* ---- real syscalls ---- */
static int sys_open(void *u, const char *path, int flags)
{
  int fd = open(path, flags);
  return fd < 0 ? -errno : fd;
}
static int sys_ioctl(void *u, int fd, unsigned long req, void *arg)
{
  int r;
  do r = ioctl(fd, req, arg); while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}
static ssize_t sys_read(void *u, int fd, void *buf, size_t len)
{
  ssize_t r;
  do r = read(fd, buf, len); while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}
static int sys_poll(void *u, struct pollfd *fds, unsigned n, int timeout_ms)
{
  int r = poll(fds, n, timeout_ms);
  return r < 0 ? -errno : r;
}
static int sys_close(void *u, int fd) { return close(fd) < 0 ? -errno : 0; }

const struct hw_sys hw_sys_linux = { sys_open, sys_ioctl, sys_read, sys_poll, sys_close, NULL };

/* ---- SPI front ---- */
int hw_spi_configure(struct hw_spi *spi, const struct hw_spi_config *cfg)
{
  if (cfg->mode > 3 || cfg->bits_per_word == 0 || cfg->speed_hz == 0) return -EINVAL;
  return spi->ops->configure(spi->ctx, cfg);
}

int hw_spi_transfer(struct hw_spi *spi, const struct hw_spi_xfer *xfers, unsigned n)
{
  if (n == 0) return -EINVAL;
  int r = spi->ops->transfer(spi->ctx, xfers, n);
  if (r < 0) return r;
  spi->messages++;
  for (unsigned i = 0; i < n; i++) spi->bytes += xfers[i].len;
  return 0;
}

/* ---- GPIO front ---- */
int hw_gpio_chip_info(struct hw_gpio_chip *chip, struct hw_gpio_chip_info *out)
{
  return chip->ops->info(chip->ctx, out);
}

int hw_gpio_request(struct hw_gpio_chip *chip, const struct hw_gpio_request_config *cfg,
                    struct hw_gpio_lines *out)
{
  if (cfg->num_lines == 0) return -EINVAL;
  if (cfg->num_lines > HW_GPIO_MAX_LINES) return HW_ETOOMANY;
  for (unsigned i = 0; i < cfg->num_lines; i++) {
    const struct hw_gpio_line_config *lc = &cfg->lines[i];
    if (lc->output && (lc->edges || lc->debounce_us)) return -EINVAL;
    if (!lc->output && lc->open_drain) return -EINVAL;
    if (lc->edges > HW_GPIO_EDGE_BOTH || lc->bias > HW_GPIO_BIAS_DISABLED) return -EINVAL;
    for (unsigned j = 0; j < i; j++)
      if (cfg->lines[j].offset == lc->offset) return -EINVAL;
  }
  memset(out, 0, sizeof *out);
  out->fd = -1;
  int r = chip->ops->request(chip->ctx, cfg, out);
  if (r < 0) { memset(out, 0, sizeof *out); out->fd = -1; return r; }
  out->num_lines = cfg->num_lines;
  for (unsigned i = 0; i < cfg->num_lines; i++) {
    out->offsets[i] = cfg->lines[i].offset;
    out->expect_line_seqno[i] = 1;
  }
  out->expect_seqno = 1;
  return 0;
}

static uint64_t lines_mask(const struct hw_gpio_lines *l)
{
  return l->num_lines >= 64 ? UINT64_MAX : ((uint64_t)1 << l->num_lines) - 1;
}

int hw_gpio_get(struct hw_gpio_lines *l, uint64_t mask, uint64_t *out_bits)
{
  if (!l->ops || (mask & ~lines_mask(l))) return -EINVAL;
  return l->ops->get(l, mask, out_bits);
}

int hw_gpio_set(struct hw_gpio_lines *l, uint64_t mask, uint64_t bits)
{
  if (!l->ops || (mask & ~lines_mask(l))) return -EINVAL;
  return l->ops->set(l, mask, bits & mask);
}

int hw_gpio_read_events(struct hw_gpio_lines *l, struct hw_gpio_event *ev, unsigned max,
                        unsigned *out_n)
{
  *out_n = 0;
  if (!l->ops) return -EINVAL;
  unsigned n = 0;
  int r = l->ops->read_events(l, ev, max, &n);
  if (r < 0) return r;
  for (unsigned k = 0; k < n; k++) {
    struct hw_gpio_event *e = &ev[k];
    e->index = UINT32_MAX;
    for (unsigned i = 0; i < l->num_lines; i++)
      if (l->offsets[i] == e->offset) { e->index = i; break; }
    /* seqno counts every event of the request, so a gap is exactly the number dropped. */
    uint32_t gap = e->seqno - l->expect_seqno;
    if (e->seqno < l->expect_seqno) gap = 0; /* reordered/duplicated: not a loss */
    e->dropped_before = gap;
    l->events_dropped += gap;
    l->expect_seqno = e->seqno + 1;
    if (e->index != UINT32_MAX) l->expect_line_seqno[e->index] = e->line_seqno + 1;
  }
  l->events_read += n;
  *out_n = n;
  return 0;
}

void hw_gpio_release(struct hw_gpio_lines *l)
{
  if (l->ops && l->ops->release) l->ops->release(l);
  memset(l, 0, sizeof *l);
  l->fd = -1;
}
