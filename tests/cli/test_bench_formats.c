/*
 * test_bench_formats.c — `hems bench replay` and `hems bench verify` print format 3's figures
 * beside format 2's measured in the same run (issue 12, "Must show"): on a short journal
 * (--records), through the real binary, the JSON holds `format3` and `format2` with every rate
 * and the bytes per record a positive number, the same record count in both, their ratios in
 * `format3_over_format2`, and the top-level figures equal to format 3's. No timing is asserted
 * (benchmarks are figures, not tests); only that the figures exist and are measured.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "cli_test.h"

static json_t *bench_json(const char *which)
{
  assert_int_equal(sh("'%s' bench %s --records 3000 --dir %s/scratch --format json > %s/%s.json", bin, which, tmp, tmp,
                      which), 0);
  char path[512];
  snprintf(path, sizeof path, "%s/%s.json", tmp, which);
  json_error_t err;
  json_t *o = json_load_file(path, 0, &err);
  if (!o) fail_msg("bench %s: not JSON: %s", which, err.text);
  /* the scratch journals were removed */
  assert_int_equal(sh("test -z \"$(ls -A %s/scratch)\"", tmp), 0);
  return o;
}

static double positive(const json_t *o, const char *fmt, const char *key)
{
  const json_t *f = json_object_get(o, fmt);
  if (!json_is_object(f)) fail_msg("no object %s", fmt);
  const json_t *v = json_object_get(f, key);
  if (!json_is_number(v) || !(json_number_value(v) > 0)) fail_msg("%s.%s is not a positive number", fmt, key);
  return json_number_value(v);
}

/* Both formats hold every key, positive, the same records; the ratios are what they say. */
static void both_formats(const json_t *o, const char *const keys[], size_t nkeys)
{
  double r3 = positive(o, "format3", "records"), r2 = positive(o, "format2", "records");
  assert_true(r3 >= 3000);
  assert_true(r2 == r3);
  for (size_t i = 0; i < nkeys; i++) {
    double v3 = positive(o, "format3", keys[i]), v2 = positive(o, "format2", keys[i]);
    double q = positive(o, "format3_over_format2", keys[i]);
    if (q < v3 / v2 * 0.999 || q > v3 / v2 * 1.001) fail_msg("ratio %s: %g, not %g / %g", keys[i], q, v3, v2);
    /* the top level is format 3's */
    const json_t *top = json_object_get(o, keys[i]);
    if (top) assert_true(json_number_value(top) == v3);
  }
  /* a format-3 record is smaller on disk than the same record in format 2 */
  assert_true(positive(o, "format3", "bytes_per_record") < positive(o, "format2", "bytes_per_record"));
  assert_true(positive(o, "format2", "journal_bytes") > 0);
}

static void test_replay(void **state)
{
  (void)state;
  json_t *o = bench_json("replay");
  static const char *const keys[] = { "records_per_s", "cold_records_per_s", "bytes_per_record" };
  both_formats(o, keys, sizeof keys / sizeof keys[0]);
  positive(o, "format3", "restart_s");
  positive(o, "format2", "restart_s");
  assert_true(json_is_true(json_object_get(o, "formats_state_hash_equal")));
  assert_true(json_is_true(json_object_get(o, "restart_hash_equal")));
  json_decref(o);
}

static void test_verify(void **state)
{
  (void)state;
  json_t *o = bench_json("verify");
  static const char *const keys[] = { "records_per_s", "single_core_records_per_s", "all_seals_records_per_s",
                                      "all_seals_single_core_records_per_s", "chain_only_records_per_s",
                                      "verify_dir_records_per_s", "verify_dir_recheck_records_per_s", "bytes_per_record" };
  both_formats(o, keys, sizeof keys / sizeof keys[0]);
  positive(o, "format2", "seals");
  positive(o, "format2", "records_per_s_min");
  positive(o, "format2", "all_seals_records_per_s_max");
  json_decref(o);
}

/* The text output prints them side by side too. */
static void test_text(void **state)
{
  (void)state;
  assert_int_equal(sh("'%s' bench replay --records 2000 --dir %s/scratch > %s/r.txt", bin, tmp, tmp), 0);
  assert_int_equal(sh("grep -q 'format 3 beside format 2' %s/r.txt && grep -q 'bytes per record on disk' %s/r.txt", tmp, tmp), 0);
  assert_int_equal(sh("'%s' bench verify --records 2000 --dir %s/scratch > %s/v.txt", bin, tmp, tmp), 0);
  assert_int_equal(sh("grep -q 'format 3 beside format 2' %s/v.txt && grep -q -- '--all-seals' %s/v.txt", tmp, tmp), 0);
}

static int setup(void **state)
{
  (void)state;
  return cli_test_setup("benchfmt");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_replay),
    cmocka_unit_test(test_verify),
    cmocka_unit_test(test_text),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
