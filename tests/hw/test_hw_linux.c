/*
 * test_hw_linux.c — the spidev and GPIO v2 backends checked through the kernel seam: every
 * ioctl number and argument the backends would hand the kernel is captured by a fake struct
 * hw_sys and compared with what the uAPI requires. No hardware is touched.
 */
#include <errno.h>
#include <linux/gpio.h>
#include <linux/spi/spidev.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hw.h"

struct call { unsigned long req; unsigned char arg[sizeof(struct gpio_v2_line_request)]; };
struct fake {
  struct call calls[16];
  unsigned ncalls;
  int open_err;
  int message_ret;          /* return of SPI_IOC_MESSAGE, -1 = total */
  struct spi_ioc_transfer xfers[4];
  struct gpio_v2_line_event queue[8];
  unsigned nq, qpos;
  unsigned reads, closes;
  uint64_t values;          /* what GET_VALUES returns */
};

static int f_open(void *u, const char *p, int fl)
{
  struct fake *f = u;
  return f->open_err ? f->open_err : 7;
}
static int f_ioctl(void *u, int fd, unsigned long req, void *arg)
{
  struct fake *f = u;
  struct call *c = &f->calls[f->ncalls++ % 16];
  c->req = req;
  size_t sz = _IOC_SIZE(req);
  memcpy(c->arg, arg, sz < sizeof c->arg ? sz : sizeof c->arg);
  if (_IOC_TYPE(req) == SPI_IOC_MAGIC && _IOC_NR(req) == 0) {
    unsigned n = sz / sizeof(struct spi_ioc_transfer);
    memcpy(f->xfers, arg, n * sizeof(struct spi_ioc_transfer));
    if (f->message_ret != -1) return f->message_ret;
    int total = 0;
    for (unsigned i = 0; i < n; i++) total += f->xfers[i].len;
    return total;
  }
  if (req == GPIO_GET_CHIPINFO_IOCTL) {
    struct gpiochip_info *ci = arg;
    strcpy(ci->name, "gpiochip3");
    strcpy(ci->label, "fake");
    ci->lines = 32;
  }
  if (req == GPIO_V2_GET_LINE_IOCTL) ((struct gpio_v2_line_request *)arg)->fd = 42;
  if (req == GPIO_V2_LINE_GET_VALUES_IOCTL) {
    struct gpio_v2_line_values *v = arg;
    v->bits = f->values & v->mask;
  }
  return 0;
}
static ssize_t f_read(void *u, int fd, void *buf, size_t len)
{
  struct fake *f = u;
  f->reads++;
  size_t n = 0;
  while (f->qpos < f->nq && (n + 1) * sizeof(struct gpio_v2_line_event) <= len) {
    memcpy((char *)buf + n * sizeof(struct gpio_v2_line_event), &f->queue[f->qpos++],
           sizeof(struct gpio_v2_line_event));
    n++;
  }
  return (ssize_t)(n * sizeof(struct gpio_v2_line_event));
}
static int f_poll(void *u, struct pollfd *p, unsigned n, int t)
{
  struct fake *f = u;
  p[0].revents = f->qpos < f->nq ? POLLIN : 0;
  return f->qpos < f->nq;
}
static int f_close(void *u, int fd) { ((struct fake *)u)->closes++; return 0; }

static struct fake F;
static struct hw_sys S = { f_open, f_ioctl, f_read, f_poll, f_close, &F };

static int setup(void **st) { memset(&F, 0, sizeof F); F.message_ret = -1; return 0; }

static void spidev_configure_ioctls(void **st)
{
  struct hw_spidev d;
  assert_int_equal(hw_spidev_open(&d, "/dev/spidev0.0", &S), 0);
  struct hw_spi_config cfg = { .mode = 3, .bits_per_word = 8, .speed_hz = 10000000 };
  assert_int_equal(hw_spi_configure(&d.spi, &cfg), 0);
  assert_int_equal(F.ncalls, 3);
  assert_int_equal(F.calls[0].req, SPI_IOC_WR_MODE);
  assert_int_equal(F.calls[0].arg[0], 3);
  assert_int_equal(F.calls[1].req, SPI_IOC_WR_BITS_PER_WORD);
  assert_int_equal(F.calls[1].arg[0], 8);
  assert_int_equal(F.calls[2].req, SPI_IOC_WR_MAX_SPEED_HZ);
  uint32_t hz;
  memcpy(&hz, F.calls[2].arg, 4);
  assert_int_equal(hz, 10000000);
  hw_spidev_close(&d);
  assert_int_equal(F.closes, 1);
  hw_spidev_close(&d); /* idempotent */
  assert_int_equal(F.closes, 1);
}

static void spidev_message_holds_cs(void **st)
{
  struct hw_spidev d;
  assert_int_equal(hw_spidev_open(&d, "/dev/spidev0.0", &S), 0);
  struct hw_spi_config cfg = { .mode = 0, .bits_per_word = 8, .speed_hz = 20000000 };
  assert_int_equal(hw_spi_configure(&d.spi, &cfg), 0);
  uint8_t hdr[2] = { 0x80, 0x08 }, rx[4096];
  struct hw_spi_xfer x[2] = { { hdr, NULL, 2 }, { NULL, rx, 4096 } };
  assert_int_equal(hw_spi_transfer(&d.spi, x, 2), 0);
  assert_int_equal(F.calls[3].req, SPI_IOC_MESSAGE(2));
  assert_int_equal(F.xfers[0].tx_buf, (uint64_t)(uintptr_t)hdr);
  assert_int_equal(F.xfers[0].rx_buf, 0);
  assert_int_equal(F.xfers[0].len, 2);
  assert_int_equal(F.xfers[1].tx_buf, 0);
  assert_int_equal(F.xfers[1].rx_buf, (uint64_t)(uintptr_t)rx);
  assert_int_equal(F.xfers[1].len, 4096);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(F.xfers[i].cs_change, 0); /* CS held for the whole message */
    assert_int_equal(F.xfers[i].speed_hz, 20000000);
    assert_int_equal(F.xfers[i].bits_per_word, 8);
    assert_int_equal(F.xfers[i].delay_usecs, 0);
  }
  assert_int_equal(d.spi.messages, 1);
  assert_int_equal(d.spi.bytes, 4098);
  F.message_ret = 100; /* short message */
  assert_int_equal(hw_spi_transfer(&d.spi, x, 2), -EIO);
  F.message_ret = -EMSGSIZE;
  assert_int_equal(hw_spi_transfer(&d.spi, x, 2), -EMSGSIZE);
  hw_spidev_close(&d);
}

static void spidev_open_error(void **st)
{
  struct hw_spidev d;
  F.open_err = -ENOENT;
  assert_int_equal(hw_spidev_open(&d, "/dev/spidev9.9", &S), -ENOENT);
  hw_spidev_close(&d);
  assert_int_equal(F.closes, 0);
}

static void gpio_request_arguments(void **st)
{
  struct hw_gpiochip gc;
  assert_int_equal(hw_gpiochip_open(&gc, "/dev/gpiochip3", &S), 0);
  assert_int_equal(F.calls[0].req, GPIO_GET_CHIPINFO_IOCTL);
  assert_string_equal(gc.info.name, "gpiochip3");
  assert_int_equal(gc.info.num_lines, 32);
  struct hw_gpio_request_config cfg = { .consumer = "hems-coils", .num_lines = 4 };
  cfg.lines[0] = (struct hw_gpio_line_config){ .offset = 5, .output = true, .active_low = true,
                                               .initial_value = true };
  cfg.lines[1] = (struct hw_gpio_line_config){ .offset = 6, .output = true };
  cfg.lines[2] = (struct hw_gpio_line_config){ .offset = 9, .edges = HW_GPIO_EDGE_BOTH,
                                               .debounce_us = 5000, .bias = HW_GPIO_BIAS_PULL_UP };
  cfg.lines[3] = (struct hw_gpio_line_config){ .offset = 11, .output = true, .active_low = true };
  struct hw_gpio_lines l;
  assert_int_equal(hw_gpio_request(&gc.chip, &cfg, &l), 0);
  assert_int_equal(l.fd, 42);
  struct call *c = &F.calls[1];
  assert_int_equal(c->req, GPIO_V2_GET_LINE_IOCTL);
  struct gpio_v2_line_request req;
  memcpy(&req, c->arg, sizeof req);
  assert_int_equal(req.num_lines, 4);
  assert_int_equal(req.offsets[0], 5);
  assert_int_equal(req.offsets[1], 6);
  assert_int_equal(req.offsets[2], 9);
  assert_int_equal(req.offsets[3], 11);
  assert_string_equal(req.consumer, "hems-coils");
  assert_int_equal(req.event_buffer_size, 0);
  assert_int_equal(req.config.flags, GPIO_V2_LINE_FLAG_OUTPUT | GPIO_V2_LINE_FLAG_ACTIVE_LOW);
  assert_int_equal(req.config.num_attrs, 4);
  struct gpio_v2_line_config_attribute *a = req.config.attrs;
  assert_int_equal(a[0].attr.id, GPIO_V2_LINE_ATTR_ID_FLAGS);
  assert_int_equal(a[0].attr.flags, GPIO_V2_LINE_FLAG_OUTPUT);
  assert_int_equal(a[0].mask, 0x2);
  assert_int_equal(a[1].attr.id, GPIO_V2_LINE_ATTR_ID_FLAGS);
  assert_int_equal(a[1].attr.flags, GPIO_V2_LINE_FLAG_INPUT | GPIO_V2_LINE_FLAG_EDGE_RISING |
                                    GPIO_V2_LINE_FLAG_EDGE_FALLING | GPIO_V2_LINE_FLAG_BIAS_PULL_UP);
  assert_int_equal(a[1].mask, 0x4);
  /* outputs come up with the caller's values, in the same ioctl (no glitch) */
  assert_int_equal(a[2].attr.id, GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES);
  assert_int_equal(a[2].mask, 0xB);
  assert_int_equal(a[2].attr.values, 0x1);
  assert_int_equal(a[3].attr.id, GPIO_V2_LINE_ATTR_ID_DEBOUNCE);
  assert_int_equal(a[3].mask, 0x4);
  assert_int_equal(a[3].attr.debounce_period_us, 5000);

  assert_int_equal(hw_gpio_set(&l, 0x3, 0x2), 0);
  assert_int_equal(F.calls[2].req, GPIO_V2_LINE_SET_VALUES_IOCTL);
  struct gpio_v2_line_values v;
  memcpy(&v, F.calls[2].arg, sizeof v);
  assert_int_equal(v.mask, 0x3);
  assert_int_equal(v.bits, 0x2);
  F.values = 0x4;
  uint64_t bits = 99;
  assert_int_equal(hw_gpio_get(&l, 0x4, &bits), 0);
  assert_int_equal(F.calls[3].req, GPIO_V2_LINE_GET_VALUES_IOCTL);
  assert_int_equal(bits, 0x4);
  assert_int_equal(hw_gpio_set(&l, 0x10, 0x10), -EINVAL); /* beyond the request */
  unsigned closes = F.closes;
  hw_gpio_release(&l);
  assert_int_equal(F.closes, closes + 1);
  hw_gpiochip_close(&gc);
}

static void gpio_realtime_clock_and_buffer(void **st)
{
  struct hw_gpiochip gc;
  assert_int_equal(hw_gpiochip_open(&gc, "/dev/gpiochip3", &S), 0);
  struct hw_gpio_request_config cfg = { .consumer = "taps", .num_lines = 1,
                                        .event_buffer_size = 64, .event_clock_realtime = true };
  cfg.lines[0] = (struct hw_gpio_line_config){ .offset = 1, .edges = HW_GPIO_EDGE_FALLING };
  struct hw_gpio_lines l;
  assert_int_equal(hw_gpio_request(&gc.chip, &cfg, &l), 0);
  struct gpio_v2_line_request req;
  memcpy(&req, F.calls[1].arg, sizeof req);
  assert_int_equal(req.event_buffer_size, 64);
  assert_int_equal(req.config.flags, GPIO_V2_LINE_FLAG_INPUT | GPIO_V2_LINE_FLAG_EDGE_FALLING |
                                     GPIO_V2_LINE_FLAG_EVENT_CLOCK_REALTIME);
  assert_int_equal(req.config.num_attrs, 0);
  hw_gpio_release(&l);
  hw_gpiochip_close(&gc);
}

static void gpio_bad_requests(void **st)
{
  struct hw_gpiochip gc;
  assert_int_equal(hw_gpiochip_open(&gc, "/dev/gpiochip3", &S), 0);
  struct hw_gpio_request_config cfg = { .num_lines = 11 };
  /* 11 distinct debounce periods: more than 10 attributes */
  for (unsigned i = 0; i < 11; i++)
    cfg.lines[i] = (struct hw_gpio_line_config){ .offset = i, .edges = 1, .debounce_us = 100 + i };
  struct hw_gpio_lines l;
  assert_int_equal(hw_gpio_request(&gc.chip, &cfg, &l), HW_ETOOMANY);
  cfg.num_lines = 1;
  cfg.lines[0].offset = 40; /* beyond the chip */
  assert_int_equal(hw_gpio_request(&gc.chip, &cfg, &l), -EINVAL);
  cfg.lines[0] = (struct hw_gpio_line_config){ .offset = 1, .output = true, .edges = 1 };
  assert_int_equal(hw_gpio_request(&gc.chip, &cfg, &l), -EINVAL);
  cfg.num_lines = 2;
  cfg.lines[0] = (struct hw_gpio_line_config){ .offset = 1 };
  cfg.lines[1] = (struct hw_gpio_line_config){ .offset = 1 };
  assert_int_equal(hw_gpio_request(&gc.chip, &cfg, &l), -EINVAL); /* duplicate offset */
  hw_gpio_release(&l); /* zeroed by the failure: harmless */
  hw_gpiochip_close(&gc);
}

static void gpio_events_and_seqno_gap(void **st)
{
  struct hw_gpiochip gc;
  assert_int_equal(hw_gpiochip_open(&gc, "/dev/gpiochip3", &S), 0);
  struct hw_gpio_request_config cfg = { .num_lines = 2 };
  cfg.lines[0] = (struct hw_gpio_line_config){ .offset = 3, .edges = HW_GPIO_EDGE_BOTH };
  cfg.lines[1] = (struct hw_gpio_line_config){ .offset = 4, .edges = HW_GPIO_EDGE_BOTH };
  struct hw_gpio_lines l;
  assert_int_equal(hw_gpio_request(&gc.chip, &cfg, &l), 0);
  struct hw_gpio_event ev[8];
  unsigned n = 99;
  assert_int_equal(hw_gpio_read_events(&l, ev, 8, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(F.reads, 0); /* nothing pending: never a blocking read */
  F.queue[0] = (struct gpio_v2_line_event){ .timestamp_ns = 100, .id = 1, .offset = 3, .seqno = 1, .line_seqno = 1 };
  F.queue[1] = (struct gpio_v2_line_event){ .timestamp_ns = 200, .id = 2, .offset = 4, .seqno = 2, .line_seqno = 1 };
  F.queue[2] = (struct gpio_v2_line_event){ .timestamp_ns = 900, .id = 2, .offset = 3, .seqno = 5, .line_seqno = 4 };
  F.nq = 3;
  assert_int_equal(hw_gpio_read_events(&l, ev, 8, &n), 0);
  assert_int_equal(n, 3);
  assert_true(ev[0].rising);
  assert_false(ev[1].rising);
  assert_int_equal(ev[1].index, 1);
  assert_int_equal(ev[0].dropped_before, 0);
  assert_int_equal(ev[1].dropped_before, 0);
  assert_int_equal(ev[2].dropped_before, 2);
  assert_int_equal(ev[2].timestamp_ns, 900);
  assert_int_equal(l.events_dropped, 2);
  assert_int_equal(l.events_read, 3);
  hw_gpio_release(&l);
  hw_gpiochip_close(&gc);
}

static void strerror_covers_codes(void **st)
{
  assert_string_equal(hw_strerror(HW_ECRC), "SPI CRC mismatch persisted after bounded retries");
  assert_string_equal(hw_strerror(-EBUSY), strerror(EBUSY));
  assert_string_equal(hw_strerror(0), "success");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup(spidev_configure_ioctls, setup),
    cmocka_unit_test_setup(spidev_message_holds_cs, setup),
    cmocka_unit_test_setup(spidev_open_error, setup),
    cmocka_unit_test_setup(gpio_request_arguments, setup),
    cmocka_unit_test_setup(gpio_realtime_clock_and_buffer, setup),
    cmocka_unit_test_setup(gpio_bad_requests, setup),
    cmocka_unit_test_setup(gpio_events_and_seqno_gap, setup),
    cmocka_unit_test(strerror_covers_codes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
