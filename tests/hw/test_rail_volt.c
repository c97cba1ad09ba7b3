/*
 * test_rail_volt.c — supply rails measured through voltage files (hw/rail_volt.c), against the
 * Linux sysfs ABIs: hwmon inN_input is millivolts; IIO in_voltageN is (raw + offset) × scale
 * millivolts. Expected values worked by hand: hwmon 1090 mV behind an 11:1 divider is 11990 mV;
 * IIO raw 4096 at scale 0.805664062 is 3299.999998 → 3300 mV, with offset -10 it is
 * 4086 × 0.805664062 = 3291.943357 → 3292 mV. Malformed text, a missing file, a symlink, a
 * directory and a FIFO are errors, never a number (and a FIFO does not block); the simulator's
 * writes read back and never replace a file that is not a number; a config names only the
 * ABI's file names.
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
#include <jansson.h>
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
  assert_int_equal(hw_rail_read_mv(&rl, &mv), HW_ENOTREG);
  char fifo[100];
  snprintf(fifo, sizeof fifo, "%s/in8_input", dir);
  assert_int_equal(mkfifo(fifo, 0600), 0);
  snprintf(rl.volt_path, sizeof rl.volt_path, "%s", fifo);
  assert_int_equal(hw_rail_read_mv(&rl, &mv), HW_ENOTREG); /* and did not block */
}

/* The simulator never writes over a file that is not a number; a config names only the ABI's
 * file names. */
static void no_clobber(void **st)
{
  (void)st;
  struct hw_panel_rail rl;
  memset(&rl, 0, sizeof rl);
  rl.volt = HW_RAIL_VOLT_HWMON;
  rl.divider = 1;
  snprintf(rl.volt_path, sizeof rl.volt_path, "%s/in4_input", dir);
  put("in4_input", "root:x:0:0:root:/root:/bin/bash\n");
  assert_int_equal(hw_rail_write_mv(&rl, 5000), HW_ENOTREG);
  char p[160], got[64] = "";
  snprintf(p, sizeof p, "%s/in4_input", dir);
  FILE *f = fopen(p, "r");
  assert_non_null(f);
  assert_non_null(fgets(got, sizeof got, f));
  fclose(f);
  assert_string_equal(got, "root:x:0:0:root:/root:/bin/bash\n");
  static const struct { const char *key, *path; bool ok; } cases[] = {
    { "hwmon", "/sys/class/hwmon/hwmon2/in1_input", true }, { "iio", "/sys/bus/iio/devices/iio:device0/in_voltage3", true },
    { "hwmon", "/etc/passwd", false }, { "hwmon", "/sys/class/hwmon/hwmon2/in_input", false },
    { "hwmon", "/sys/class/hwmon/hwmon2/in1_input.bak", false }, { "iio", "/sys/bus/iio/devices/iio:device0/in_voltage", false },
    { "iio", "/tmp/in_voltage3x", false }, { "hwmon", "in1_input", false } };
  /* a whole panel (the fuzz corpus's) with only its rails replaced */
  json_t *base = json_load_file(HEMS_SOURCE_DIR "/tests/fuzz/corpus/hw_panel/rails-measured.json", 0, NULL);
  assert_non_null(base);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    static struct hw_panel pn;
    char err[300];
    json_object_set_new(base, "rails", json_pack("[{s:s, s:i, s:s}]", "name", "r", "nominal_mv", 5000, cases[i].key, cases[i].path));
    char *cfg = json_dumps(base, 0);
    assert_non_null(cfg);
    int r = hw_panel_parse(&pn, cfg, strlen(cfg), "t", err, sizeof err);
    free(cfg);
    if (cases[i].ok) assert_int_equal(r, 0);
    else { assert_int_equal(r, HW_ECONFIG); assert_non_null(strstr(err, "rails[0].")); }
  }
  json_decref(base);
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
    cmocka_unit_test(no_clobber),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
