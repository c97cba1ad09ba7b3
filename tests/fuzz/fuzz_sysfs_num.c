/*
 * fuzz_sysfs_num.c — fuzz target for the sysfs attribute parser of measured supply rails
 * (hw/rail_volt.c hw_sysfs_parse_num: hwmon inN_input, IIO _raw/_scale/_offset). Properties: no
 * crash or sanitizer report; an accepted text holds only a sign, digits, at most one '.', and
 * trailing whitespace, with at least one digit; strtod on the same text (an independent,
 * correctly rounding parser) gives exactly the same value. The corpus
 * (tests/fuzz/corpus/sysfs_num/) holds one attribute per file.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "hw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
  if (!ok) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > 256) return 0;
  double v = 12345.5;
  int r = hw_sysfs_parse_num((const char *)data, size, &v);
  if (r) {
    check(r == HW_ERANGE && v == 12345.5);
    return 0;
  }
  check(isfinite(v));
  bool digit = false, dot = false, tail = false;
  for (size_t i = 0; i < size; i++) {
    char c = (char)data[i];
    if (c >= '0' && c <= '9') { check(!tail); digit = true; }
    else if (c == '.') { check(!dot && !tail); dot = true; }
    else if ((c == '-' || c == '+') && i == 0) {}
    else { check(c == '\n' || c == ' ' || c == '\t'); tail = true; }
  }
  check(digit);
  char buf[260];
  memcpy(buf, data, size);
  buf[size] = 0;
  double w = strtod(buf, NULL);
  check(v == w); /* both correctly rounded */
  return 0;
}
