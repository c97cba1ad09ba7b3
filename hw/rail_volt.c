/*
 * rail_volt.c — analog channels read through the kernel's sysfs files (hw.h "Analog channels"):
 * the Linux hwmon sysfs ABI (one attribute holding the value in the ABI's unit: inN_input mV,
 * tempN_input m°C, currN_input mA) and the IIO ABI (a channel prefix: _raw, _scale per count,
 * _offset in counts; value = (raw + offset) × scale in the ABI's unit: in_voltageN mV, in_tempN
 * m°C, in_currentN mA), each read as one short text attribute. Supply rails (measured in mV) and
 * analog taps (leakage mA, temperature °C) read through it; the simulator writes the same files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "hw.h"

int hw_sysfs_parse_num(const char *t, size_t len, double *out)
{
  /* digits into an exact integer mantissa (< 2^53) and a power of ten (<= 22, exact): their
   * quotient is then the correctly rounded value of the text, as strtod's */
  size_t i = 0;
  bool neg = false, digits = false;
  uint64_t mant = 0;
  unsigned frac = 0;
  if (i < len && (t[i] == '-' || t[i] == '+')) neg = t[i++] == '-';
  for (bool dot = false; i < len; i++) {
    if (t[i] == '.' && !dot) { dot = true; continue; }
    if (t[i] < '0' || t[i] > '9') break;
    mant = mant * 10 + (uint64_t)(t[i] - '0');
    digits = true;
    if (dot) frac++;
    if (mant >= (1ull << 53) || frac > 22) return HW_ERANGE;
  }
  for (; i < len && (t[i] == '\n' || t[i] == ' ' || t[i] == '\t'); i++) {}
  if (!digits || i != len) return HW_ERANGE;
  double p10 = 1;
  for (unsigned k = 0; k < frac; k++) p10 *= 10;
  double v = (double)mant / p10;
  *out = neg ? -v : v;
  return 0;
}

/* One attribute: 0 and *v, -ENOENT when absent (and optional), or an error. */
static int read_attr(const char *path, double *v)
{
  /* non-blocking, and only a regular file (as sysfs attributes are): a FIFO or a device the
   * config points at must not stall the daemon's loop */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) || !S_ISREG(st.st_mode)) { close(fd); return HW_ENOTREG; }
  char buf[64];
  ssize_t n = read(fd, buf, sizeof buf);
  int e = errno;
  close(fd);
  if (n < 0) return -e;
  if ((size_t)n == sizeof buf) return HW_ERANGE; /* no attribute of a number is this long */
  return hw_sysfs_parse_num(buf, (size_t)n, v);
}

static int iio_path(const char *prefix, const char *suffix, char *out, size_t cap)
{
  int w = snprintf(out, cap, "%s_%s", prefix, suffix);
  return w < 0 || (size_t)w >= cap ? -ENAMETOOLONG : 0;
}

int hw_analog_read(unsigned abi, const char *path, double *out)
{
  double v;
  int r;
  if (abi == HW_ANALOG_HWMON) {
    if ((r = read_attr(path, &v))) return r;
  } else if (abi == HW_ANALOG_IIO) {
    char p[200];
    double raw, scale, offset = 0;
    if ((r = iio_path(path, "raw", p, sizeof p)) || (r = read_attr(p, &raw))) return r;
    if ((r = iio_path(path, "scale", p, sizeof p)) || (r = read_attr(p, &scale))) return r;
    if ((r = iio_path(path, "offset", p, sizeof p))) return r;
    if ((r = read_attr(p, &offset)) && r != -ENOENT) return r;
    v = (raw + offset) * scale;
  } else {
    return -EINVAL;
  }
  if (!isfinite(v)) return HW_ERANGE;
  *out = v;
  return 0;
}

int hw_rail_read_mv(const struct hw_panel_rail *rl, int32_t *mv)
{
  double v;
  int r = hw_analog_read(rl->volt, rl->volt_path, &v);
  if (r) return r;
  v *= rl->divider > 0 ? rl->divider : 1;
  if (fabs(v) > 1e6) return HW_ERANGE;
  *mv = (int32_t)lround(v);
  return 0;
}

int hw_tap_read_milli(const struct hw_panel_tap *t, int32_t *milli)
{
  double v;
  int r = hw_analog_read(t->analog, t->analog_path, &v);
  if (r) return r;
  if (t->kind == HW_TAP_LEAKAGE) v *= 1000; /* mA → µA; a temperature is m°C already */
  if (fabs(v) > 1e9) return HW_ERANGE;
  *milli = (int32_t)lround(v);
  return 0;
}

static int write_attr(const char *path, const char *text)
{
  /* the simulator writes where the panel config says: never over a file that is not already a
   * number (the config's path names are checked too: panel_rails.c) */
  double v;
  int r = read_attr(path, &v);
  if (r && r != -ENOENT) return r == HW_ERANGE ? HW_ENOTREG : r;
  /* a new file renamed over the old: a reader sees the old value or the new, never half */
  char tmp[220];
  int w = snprintf(tmp, sizeof tmp, "%s.tmp", path);
  if (w < 0 || (size_t)w >= sizeof tmp) return -ENAMETOOLONG;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return -errno;
  size_t n = strlen(text);
  ssize_t k = write(fd, text, n);
  int e = errno;
  close(fd);
  if (k != (ssize_t)n) { unlink(tmp); return k < 0 ? -e : -EIO; }
  if (rename(tmp, path)) { e = errno; unlink(tmp); return -e; }
  return 0;
}

int hw_analog_write(unsigned abi, const char *path, double v)
{
  char text[48];
  if (abi == HW_ANALOG_HWMON) {
    snprintf(text, sizeof text, "%ld\n", lround(v));
    return write_attr(path, text);
  }
  if (abi != HW_ANALOG_IIO) return -EINVAL;
  char p[200];
  double scale = 1, offset = 0;
  int r;
  if ((r = iio_path(path, "scale", p, sizeof p))) return r;
  if ((r = read_attr(p, &scale)) == -ENOENT) { if ((r = write_attr(p, "1\n"))) return r; scale = 1; }
  else if (r) return r;
  if (!(scale > 0)) return HW_ERANGE;
  if ((r = iio_path(path, "offset", p, sizeof p))) return r;
  if ((r = read_attr(p, &offset)) && r != -ENOENT) return r;
  snprintf(text, sizeof text, "%ld\n", lround(v / scale - offset));
  if ((r = iio_path(path, "raw", p, sizeof p))) return r;
  return write_attr(p, text);
}

int hw_rail_write_mv(const struct hw_panel_rail *rl, int32_t mv)
{
  return hw_analog_write(rl->volt, rl->volt_path, mv / (rl->divider > 0 ? rl->divider : 1));
}

int hw_tap_write_milli(const struct hw_panel_tap *t, int32_t milli)
{
  return hw_analog_write(t->analog, t->analog_path, t->kind == HW_TAP_LEAKAGE ? milli / 1000.0 : (double)milli);
}
