/*
 * spidev.c — SPI transport over Linux spidev (/dev/spidevB.C).
 *
 * configure() issues SPI_IOC_WR_MODE, SPI_IOC_WR_BITS_PER_WORD and SPI_IOC_WR_MAX_SPEED_HZ;
 * transfer() maps one hw_spi message onto one SPI_IOC_MESSAGE(n) (one spi_sync, CS held across
 * the transfers because cs_change stays 0). All kernel calls go through struct hw_sys so tests
 * check the exact ioctl numbers and arguments. spidev bounds one message by its bufsiz (default
 * 4096 bytes; over it the kernel returns -EMSGSIZE, which is passed through unchanged).
 */
#include "hw.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/spi/spidev.h>
#include <string.h>

#define SPIDEV_MAX_XFERS 8

static int spidev_configure(void *ctx, const struct hw_spi_config *cfg)
{
  struct hw_spidev *d = ctx;
  uint8_t mode = cfg->mode, bits = cfg->bits_per_word;
  uint32_t speed = cfg->speed_hz;
  int r;
  if ((r = d->sys->ioctl(d->sys->user, d->fd, SPI_IOC_WR_MODE, &mode)) < 0) return r;
  if ((r = d->sys->ioctl(d->sys->user, d->fd, SPI_IOC_WR_BITS_PER_WORD, &bits)) < 0) return r;
  if ((r = d->sys->ioctl(d->sys->user, d->fd, SPI_IOC_WR_MAX_SPEED_HZ, &speed)) < 0) return r;
  d->cfg = *cfg;
  return 0;
}

static int spidev_transfer(void *ctx, const struct hw_spi_xfer *x, unsigned n)
{
  struct hw_spidev *d = ctx;
  if (n > SPIDEV_MAX_XFERS) return -EINVAL;
  struct spi_ioc_transfer t[SPIDEV_MAX_XFERS];
  memset(t, 0, sizeof t); /* the uAPI requires zeroed padding and unused fields */
  uint32_t total = 0;
  for (unsigned i = 0; i < n; i++) {
    t[i].tx_buf = (uint64_t)(uintptr_t)x[i].tx;
    t[i].rx_buf = (uint64_t)(uintptr_t)x[i].rx;
    t[i].len = x[i].len;
    t[i].speed_hz = d->cfg.speed_hz;
    t[i].bits_per_word = d->cfg.bits_per_word;
    total += x[i].len;
  }
  int r = d->sys->ioctl(d->sys->user, d->fd, SPI_IOC_MESSAGE(n), t);
  if (r < 0) return r;
  if ((uint32_t)r != total) return -EIO; /* short message: never silently accept */
  return 0;
}

static const struct hw_spi_ops spidev_ops = { spidev_configure, spidev_transfer };

int hw_spidev_open(struct hw_spidev *d, const char *path, const struct hw_sys *sys)
{
  memset(d, 0, sizeof *d);
  d->fd = -1;
  d->sys = sys ? sys : &hw_sys_linux;
  int fd = d->sys->open(d->sys->user, path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return fd;
  d->fd = fd;
  d->spi.ops = &spidev_ops;
  d->spi.ctx = d;
  d->cfg.mode = 0;
  d->cfg.bits_per_word = 8;
  d->cfg.speed_hz = 1000000;
  return 0;
}

void hw_spidev_close(struct hw_spidev *d)
{
  if (d->sys && d->fd >= 0) d->sys->close(d->sys->user, d->fd);
  memset(d, 0, sizeof *d);
  d->fd = -1;
}
