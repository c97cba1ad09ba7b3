/*
 * test_rail_volt.c — supply rails measured through voltage files (hw/rail_volt.c), against the
 * Linux sysfs ABIs: hwmon inN_input is millivolts; IIO in_voltageN is (raw + offset) × scale
 * millivolts. Expected values worked by hand: hwmon 1090 mV behind an 11:1 divider is 11990 mV;
 * IIO raw 4096 at scale 0.805664062 is 3299.999998 → 3300 mV, with offset -10 it is
 * 4086 × 0.805664062 = 3291.943357 → 3292 mV. Malformed text, a missing file, a symlink and a
 * directory are errors, never a number; the simulator's writes read back.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "hw.h"

static char dir[64];

static int setup(void **st)
{
  (void)st;
  snprintf(dir, sizeof dir, "/tmp/hems-railvolt-XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st)
{
  (void)st;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd);
}

static void put(const char *name, const char *text)
{
  char p[160];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void parse(void **st)
{
  (void)st;
  static const struct { const char *t; double v; } good[] = {
    { "4096\n", 4096 }, { "0.805664062\n", 0.805664062 }, { "-12", -12 }, { "+7", 7 }, { "5 \n", 5 }, { "3.", 3 }, { ".5", 0.5 } };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    double v = -1;
    assert_int_equal(hw_sysfs_parse_num(good[i].t, strlen(good[i].t), &v), 0);
    assert_true(v == good[i].v);
  }
  static const char *const bad[] = { "", "\n", "12a", ".", "-", "1e3", " 5", "5\n6", "0x10", "nan", "1,5" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    double v = 42;
    assert_int_equal(hw_sysfs_parse_num(bad[i], strlen(bad[i]), &v), HW_ERANGE);
    assert_true(v == 42);
  }
}

static void read_files(void **st)
{
  (void)st;
  struct hw_panel_rail rl;
  int32_t mv = 0;
  memset(&rl, 0, sizeof rl);
  rl.volt = HW_RAIL_VOLT_HWMON;
  rl.divider = 11;
  snprintf(rl.volt_path, sizeof rl.volt_path, "%s/in2_input", dir);
  assert_int_equal(hw_rail_read_mv(&rl, &mv), -ENOENT);
  put("in2_input", "1090\n");
  assert_int_equal(hw_rail_read_mv(&rl, &mv), 0);
  assert_int_equal(mv, 11990);
  put("in2_input", "10 90\n");
  assert_int_equal(hw_rail_read_mv(&rl, &mv), HW_ERANGE);
  memset(&rl, 0, sizeof rl);
  rl.volt = HW_RAIL_VOLT_IIO;
  rl.divider = 1;
  snprintf(rl.volt_path, sizeof rl.volt_path, "%s/in_voltage3", dir);
  put("in_voltage3_raw", "4096\n");
  assert_int_equal(hw_rail_read_mv(&rl, &mv), -ENOENT); /* no scale: no voltage */
  put("in_voltage3_scale", "0.805664062\n");
  assert_int_equal(hw_rail_read_mv(&rl, &mv), 0);
  assert_int_equal(mv, 3300);
  put("in_voltage3_offset", "-10\n");
  assert_int_equal(hw_rail_read_mv(&rl, &mv), 0);
  assert_int_equal(mv, 3292);
  put("in_voltage3_scale", "bogus\n");
  assert_int_equal(hw_rail_read_mv(&rl, &mv), HW_ERANGE);
  /* not a file to follow or read */
  char p[100], q[100];
  snprintf(p, sizeof p, "%s/in9_input", dir);
  snprintf(q, sizeof q, "%s/in2_input", dir);
  assert_int_equal(symlink(q, p), 0);
  memset(&rl, 0, sizeof rl);
  rl.volt = HW_RAIL_VOLT_HWMON;
  rl.divider = 1;
  snprintf(rl.volt_path, sizeof rl.volt_path, "%s", p);
  assert_int_equal(hw_rail_read_mv(&rl, &mv), -ELOOP);
  snprintf(rl.volt_path, sizeof rl.volt_path, "%s", dir);
  assert_int_equal(hw_rail_read_mv(&rl, &mv), -EISDIR);
}

static void write_back(void **st)
{
  (void)st;
  struct hw_panel_rail rl;
  int32_t mv = 0;
  memset(&rl, 0, sizeof rl);
  rl.volt = HW_RAIL_VOLT_IIO;
  rl.divider = 2;
  snprintf(rl.volt_path, sizeof rl.volt_path, "%s/in_voltage5", dir);
  assert_int_equal(hw_rail_write_mv(&rl, 5000), 0); /* no scale yet: 1 is written, raw 2500 */
  assert_int_equal(hw_rail_read_mv(&rl, &mv), 0);
  assert_int_equal(mv, 5000);
  put("in_voltage5_scale", "0.805664062\n");
  assert_int_equal(hw_rail_write_mv(&rl, 4000), 0); /* 2000 mV at the ADC: raw round(2482.4) = 2482 */
  assert_int_equal(hw_rail_read_mv(&rl, &mv), 0);
  assert_int_equal(mv, 3999);                       /* 2482 × scale × 2 = 3999.3 → 3999 (the ADC step) */
  rl.volt = HW_RAIL_VOLT_HWMON;
  snprintf(rl.volt_path, sizeof rl.volt_path, "%s/in3_input", dir);
  assert_int_equal(hw_rail_write_mv(&rl, 11990), 0);
  assert_int_equal(hw_rail_read_mv(&rl, &mv), 0);
  assert_int_equal(mv, 11990);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(parse),
    cmocka_unit_test(read_files),
    cmocka_unit_test(write_back),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
