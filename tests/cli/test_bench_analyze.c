/*
 * test_bench_analyze.c — `hems bench analyze` through the real binary on a short generated file
 * (--seconds 2 --runs 1): the hems side is measured (positive wall and CPU seconds, max RSS)
 * and the reference side is never skipped silently — with no reference given, and with a
 * reference directory that holds no pqopen package, the bench exits 0, says on stderr that the
 * reference side was skipped and why, and its JSON `reference` reads "skipped: …" with no
 * speedup figures. No timing is asserted (benchmarks are figures, not tests). The comparison
 * itself needs pqopen-lib's sources and numpy/scipy (docs/ingest.md says how it was run).
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

static json_t *run_bench(const char *env, const char *tag)
{
  assert_int_equal(sh("%s '%s' bench analyze --seconds 2 --runs 1 --format json > %s/%s.json 2> %s/%s.err", env, bin,
                      tmp, tag, tmp, tag), 0);
  char path[512];
  snprintf(path, sizeof path, "%s/%s.json", tmp, tag);
  json_error_t err;
  json_t *o = json_load_file(path, 0, &err);
  if (!o) fail_msg("bench analyze: not JSON: %s", err.text);
  assert_string_equal(json_string_value(json_object_get(o, "bench")), "analyze");
  assert_int_equal(json_integer_value(json_object_get(o, "seconds_recorded")), 2);
  assert_true(json_real_value(json_object_get(o, "hems_process_wall_s")) > 0);
  assert_true(json_real_value(json_object_get(o, "hems_process_cpu_s")) > 0);
  assert_true(json_integer_value(json_object_get(o, "hems_max_rss_kb")) > 0);
  return o;
}

static void skipped(const json_t *o, const char *tag, const char *why)
{
  const char *ref = json_string_value(json_object_get(o, "reference"));
  assert_non_null(ref);
  if (strncmp(ref, "skipped: ", 9) != 0 || !strstr(ref, why)) fail_msg("reference: %s (want skipped: …%s…)", ref, why);
  assert_null(json_object_get(o, "speedup_cpu"));
  assert_int_equal(sh("grep -q 'reference side skipped: .*%s' %s/%s.err", why, tmp, tag), 0);
}

static void no_reference(void **st)
{
  (void)st;
  json_t *o = run_bench("env -u HEMS_PQOPEN_PATH", "none");
  skipped(o, "none", "no reference");
  json_decref(o);
}

static void reference_without_package(void **st)
{
  (void)st;
  assert_int_equal(sh("mkdir -p %s/empty", tmp), 0);
  char env[400];
  snprintf(env, sizeof env, "HEMS_PQOPEN_PATH=%s/empty", tmp);
  json_t *o = run_bench(env, "empty");
  skipped(o, "empty", "failed");
  json_decref(o);
}

static int setup(void **state)
{
  (void)state;
  return cli_test_setup("benchanalyze");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(no_reference),
    cmocka_unit_test(reference_without_package),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
