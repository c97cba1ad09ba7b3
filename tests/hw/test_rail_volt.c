/*
 * test_rail_volt.c — supply rails measured through voltage files (hw/rail_volt.c), against the
 * Linux sysfs ABIs: hwmon inN_input is millivolts; IIO in_voltageN is (raw + offset) × scale
 * millivolts. Expected values worked by hand: hwmon 1090 mV behind an 11:1 divider is 11990 mV;
 * IIO raw 4096 at scale 0.805664062 is 3299.999998 → 3300 mV, with offset -10 it is
 * 4086 × 0.805664062 = 3291.943357 → 3292 mV. Malformed text, a missing file, a symlink, a
 * directory and a FIFO are errors, never a number (and a FIFO does not block); the simulator's
 * writes read back and never replace a file that is not a number; a config names only the
 * ABI's file names.
 *
 * Analog taps (issue 17 item 8b) through the same readers, values in thousandths of the tap's
 * unit: hwmon curr1_input "27" is 27 mA = 27000 µA; IIO in_current0 raw 1234 × scale 0.025
 * mA is 30.85 mA = 30850 µA; hwmon temp1_input "45500" is 45.5 °C = 45500 m°C; IIO in_temp0
 * (raw 1520 + offset -400) × scale 62.5 m°C is 70000 m°C. Written back: 12 mA on in_current0
 * (scale 0.025) is raw 480. A tap's config names only its quantity's files (a leakage tap no
 * temp file), only leakage and temperature taps have one, each with its own unit's keys.
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

/* dir/name's first line into got. */
static void get(const char *name, char *got, int cap)
{
  char p[160];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "r");
  assert_non_null(f);
  assert_non_null(fgets(got, cap, f));
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
  char got[64] = "";
  get("in4_input", got, sizeof got);
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

/* A tap of kind read through abi at dir/name (files written first: NULL-terminated name, text
 * pairs) reads expect_milli. */
static void tap_reads(struct hw_panel_tap *t, enum hw_tap_kind kind, enum hw_analog_abi abi, const char *name,
                      const char *const *files, int32_t expect_milli)
{
  int32_t m = 0;
  memset(t, 0, sizeof *t);
  t->kind = kind;
  t->analog = (uint8_t)abi;
  snprintf(t->analog_path, sizeof t->analog_path, "%s/%s", dir, name);
  for (; files[0]; files += 2) put(files[0], files[1]);
  assert_int_equal(hw_tap_read_milli(t, &m), 0);
  assert_int_equal(m, expect_milli);
}

static void tap_files(void **st)
{
  (void)st;
  struct hw_panel_tap t;
  int32_t m = 0;
  tap_reads(&t, HW_TAP_LEAKAGE, HW_ANALOG_HWMON, "curr1_input", (const char *const[]){ "curr1_input", "27\n", NULL }, 27000);
  tap_reads(&t, HW_TAP_LEAKAGE, HW_ANALOG_IIO, "in_current0",
            (const char *const[]){ "in_current0_raw", "1234\n", "in_current0_scale", "0.025\n", NULL }, 30850);
  assert_int_equal(hw_tap_write_milli(&t, 12000), 0);
  char got[32] = "";
  get("in_current0_raw", got, sizeof got);
  assert_string_equal(got, "480\n");
  assert_int_equal(hw_tap_read_milli(&t, &m), 0);
  assert_int_equal(m, 12000);
  tap_reads(&t, HW_TAP_TEMPERATURE, HW_ANALOG_HWMON, "temp1_input", (const char *const[]){ "temp1_input", "45500\n", NULL }, 45500);
  tap_reads(&t, HW_TAP_TEMPERATURE, HW_ANALOG_IIO, "in_temp0",
            (const char *const[]){ "in_temp0_raw", "1520\n", "in_temp0_offset", "-400\n", "in_temp0_scale", "62.5\n", NULL },
            70000);
  put("in_temp0_raw", "hot\n");
  assert_int_equal(hw_tap_read_milli(&t, &m), HW_ERANGE);
}

/* A tap's "analog" in a whole panel (the fuzz corpus's), and its canonical form. */
static void tap_config(void **st)
{
  (void)st;
  static const struct { const char *kind, *analog; bool ok; } cases[] = {
    { "leakage", "{\"hwmon\": \"/sys/class/hwmon/hwmon1/curr1_input\", \"alarm_ma\": 10}", true },
    { "leakage", "{\"iio\": \"/sys/bus/iio/devices/iio:device0/in_current2\", \"alarm_ma\": 30, \"hysteresis_ma\": 5}", true },
    { "temperature", "{\"hwmon\": \"/sys/class/hwmon/hwmon1/temp2_input\", \"alarm_c\": 60, \"rise_c_per_min\": 5}", true },
    { "temperature", "{\"iio\": \"/sys/bus/iio/devices/iio:device0/in_temp0\", \"alarm_c\": 60}", true },
    { "leakage", "{\"hwmon\": \"/sys/class/hwmon/hwmon1/temp2_input\", \"alarm_ma\": 10}", false },
    { "temperature", "{\"iio\": \"/sys/bus/iio/devices/iio:device0/in_current2\", \"alarm_c\": 60}", false },
    { "leakage", "{\"hwmon\": \"/sys/class/hwmon/hwmon1/curr1_input\", \"alarm_c\": 10}", false },
    { "leakage", "{\"hwmon\": \"/sys/class/hwmon/hwmon1/curr1_input\", \"alarm_ma\": 10, \"hysteresis_ma\": 10}", false },
    { "temperature", "{\"hwmon\": \"/sys/class/hwmon/hwmon1/temp2_input\", \"alarm_c\": 60, \"rise_c_per_min\": 2}", false },
    { "temperature", "{\"hwmon\": \"/etc/passwd\", \"alarm_c\": 60}", false },
    { "leakage", "{\"hwmon\": \"/sys/class/hwmon/hwmon1/curr1_input\", \"iio\": \"/x/in_current1\", \"alarm_ma\": 10}", false },
    { "rcd", "{\"hwmon\": \"/sys/class/hwmon/hwmon1/curr1_input\", \"alarm_ma\": 10}", false },
  };
  json_t *base = json_load_file(HEMS_SOURCE_DIR "/tests/fuzz/corpus/hw_panel/rails-measured.json", 0, NULL);
  assert_non_null(base);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    static struct hw_panel pn, again;
    char err[300];
    json_t *a = json_loads(cases[i].analog, 0, NULL);
    assert_non_null(a);
    json_object_set_new(base, "taps", json_pack("[{s:s, s:s, s:o}]", "name", "t", "kind", cases[i].kind, "analog", a));
    char *cfg = json_dumps(base, 0);
    assert_non_null(cfg);
    int r = hw_panel_parse(&pn, cfg, strlen(cfg), "t", err, sizeof err);
    free(cfg);
    if (!cases[i].ok) { assert_int_equal(r, HW_ECONFIG); assert_non_null(strstr(err, "taps[0].analog")); continue; }
    assert_int_equal(r, 0);
    assert_int_not_equal(pn.tap[0].analog, HW_ANALOG_NONE);
    static char canon[65536], canon2[65536];
    size_t n, n2;
    assert_int_equal(hw_panel_canonical_json(&pn, canon, sizeof canon, &n), 0);
    assert_non_null(strstr(canon, "\"analog\":{"));
    assert_int_equal(hw_panel_parse(&again, canon, n, "c", err, sizeof err), 0);
    assert_int_equal(hw_panel_canonical_json(&again, canon2, sizeof canon2, &n2), 0);
    assert_int_equal(n, n2);
    assert_memory_equal(canon, canon2, n);
    if (i == 0) { assert_int_equal(pn.tap[0].alarm_milli, 10000); assert_int_equal(pn.tap[0].hysteresis_milli, 1000); }
    if (i == 2) { assert_int_equal(pn.tap[0].rise_milli_per_min, 5000); assert_int_equal(pn.tap[0].hysteresis_milli, 2000); }
  }
  json_decref(base);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(tap_files),
    cmocka_unit_test(tap_config),
    cmocka_unit_test(parse),
    cmocka_unit_test(read_files),
    cmocka_unit_test(write_back),
    cmocka_unit_test(no_clobber),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
