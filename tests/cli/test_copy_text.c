/*
 * test_copy_text.c — JSON text as a field of PostgreSQL's COPY text format for a jsonb column
 * (cli/copy_text.c, the collector's events rows). Expected values from PostgreSQL's COPY text
 * format (a backslash, tab, newline and CR written as \\, \t, \n, \r) and its jsonb type, which
 * refuses the escape \u0000: it becomes \ufffd. The JSON is written by jansson, as the collector's
 * is (journal_record_to_json), from a string holding a real U+0000.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include "copy_text.h"

static char *field(const char *js)
{
  char *out = malloc(2 * strlen(js) + 1);
  assert_non_null(out);
  size_t n = cli_copy_json(js, out);
  assert_int_equal(n, strlen(out));
  assert_true(n <= 2 * strlen(js));
  return out;
}

static void plain(void **state)
{
  (void)state;
  char *f = field("{\"a\":\"b c\",\"n\":1}");
  assert_string_equal(f, "{\"a\":\"b c\",\"n\":1}");
  free(f);
  /* JSON's own escapes are backslashes: doubled for COPY; raw control characters never reach
   * here from jansson, but a tab, newline or CR is still escaped */
  f = field("\"x\\\"y\\\\z\\n\"\t\n\r");
  assert_string_equal(f, "\"x\\\\\"y\\\\\\\\z\\\\n\"\\t\\n\\r");
  free(f);
}

static void nul(void **state)
{
  (void)state;
  /* a text with a real U+0000, as jansson writes it */
  json_t *o = json_pack("{s:s%}", "reason", "a\0b", (size_t)3);
  assert_non_null(o);
  char *js = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  assert_string_equal(js, "{\"reason\":\"a\\u0000b\"}");
  char *f = field(js);
  assert_string_equal(f, "{\"reason\":\"a\\\\ufffdb\"}");
  /* COPY reads the field back to {"reason":"a\ufffdb"}: U+FFFD where the U+0000 was */
  json_error_t e;
  json_t *back = json_loads("{\"reason\":\"a\\ufffdb\"}", 0, &e);
  assert_non_null(back);
  assert_string_equal(json_string_value(json_object_get(back, "reason")), "a\xef\xbf\xbd" "b");
  json_decref(back);
  free(f);
  free(js);
  /* an escaped backslash followed by "u0000" is text, not U+0000: left as it is */
  f = field("\"\\\\u0000\"");
  assert_string_equal(f, "\"\\\\\\\\u0000\"");
  free(f);
  /* other \u escapes, and \u0000 at the very end of the text */
  f = field("\"\\u0001\\u0000\"");
  assert_string_equal(f, "\"\\\\u0001\\\\ufffd\"");
  free(f);
  f = field("\\u0000");
  assert_string_equal(f, "\\\\ufffd");
  free(f);
  f = field("\\u000"); /* cut short: not the escape */
  assert_string_equal(f, "\\\\u000");
  free(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(plain),
    cmocka_unit_test(nul),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
