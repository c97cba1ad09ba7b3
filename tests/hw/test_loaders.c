/*
 * test_loaders.c — invalid panel and scenario files each produce their own error naming the
 * file, the field and why; the canonical panel JSON is a fixed point and ignores key order;
 * scenario files load by path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "hw.h"

#define PANEL_HEAD "{\"mains\":\"3ph-230-50\",\"service_limit_a\":40,\"afes\":[{\"index\":0}],"
#define BR1 "{\"number\":1,\"phase\":\"L1\",\"afe\":0,\"channel\":\"A\",\"breaker_a\":16,\"actuator\":\"monostable\"}"

struct bad { const char *json; int code; const char *msg; };

static void panel_errors(void **st)
{
  static const struct bad cases[] = {
    { "{", HW_ECONFIG, "p.json: line 1 column 1: " },
    { "[]", HW_ECONFIG, "p.json: (top level): expected a JSON object" },
    { "{\"service_limit_a\":40}", HW_ECONFIG, "p.json: mains: missing" },
    { "{\"mains\":\"2ph\",\"service_limit_a\":40}", HW_ECONFIG, "p.json: mains: \"2ph\" is not one of 3ph-230-50, split-120-240-60" },
    { PANEL_HEAD "\"branches\":[" BR1 "],\"colour\":1}", HW_ECONFIG, "p.json: colour: unknown field" },
    { PANEL_HEAD "\"branches\":[{\"number\":1,\"phase\":\"L2\",\"afe\":0,\"channel\":\"A\",\"breaker_a\":16,\"actuator\":\"ssr\"}]}",
      HW_ECONFIG, "p.json: branches[0].channel: branch on L2 but AFE 0 channel A voltage is wired to L1" },
    { PANEL_HEAD "\"branches\":[{\"number\":1,\"phase\":\"L12\",\"afe\":0,\"channel\":\"A\",\"breaker_a\":16,\"actuator\":\"ssr\"}]}",
      HW_ECONFIG, "p.json: branches[0].phase: L12 does not exist on 3-phase mains" },
    { PANEL_HEAD "\"branches\":[" BR1 "," BR1 "]}", HW_ECONFIG, "p.json: branches[1].number: branch 1 is defined twice" },
    { PANEL_HEAD "\"branches\":[{\"number\":1,\"phase\":\"L1\",\"afe\":3,\"channel\":\"A\",\"breaker_a\":16,\"actuator\":\"ssr\"}]}",
      HW_ECONFIG, "p.json: branches[0].afe: AFE 3 is not defined in afes[]" },
    { PANEL_HEAD "\"branches\":[{\"number\":1,\"phase\":\"L1\",\"afe\":0,\"channel\":\"A\",\"breaker_a\":0,\"actuator\":\"ssr\"}]}",
      HW_ECONFIG, "p.json: branches[0].breaker_a: 0 is out of range [1, 400]" },
    { PANEL_HEAD "\"branches\":[{\"number\":1,\"phase\":\"L1\",\"afe\":0,\"channel\":\"A\",\"breaker_a\":16,\"actuator\":\"valve\"}]}",
      HW_ECONFIG, "p.json: branches[0].actuator: \"valve\" is not one of monostable, latching, contactor, ssr, efuse" },
    { PANEL_HEAD "\"branches\":[{\"number\":1,\"phase\":\"L1\",\"afe\":0,\"channel\":\"A\",\"breaker_a\":16,\"actuator\":\"ssr\",\"polarity\":2}]}",
      HW_ECONFIG, "p.json: branches[0].polarity: expected 1 or -1" },
    { PANEL_HEAD "\"branches\":[{\"number\":1,\"phase\":\"L1\",\"afe\":0,\"channel\":\"A\",\"breaker_a\":16,\"actuator\":\"monostable\",\"lines\":{\"aux\":3}}]}",
      HW_ECONFIG, "p.json: branches[0].lines.sense: line 3 is already used by branches[0].lines.aux" },
    { PANEL_HEAD "\"branches\":[" BR1 "],\"taps\":[{\"kind\":\"rcd\",\"branch\":9}]}",
      HW_ECONFIG, "p.json: taps[0].branch: branch 9 is not defined" },
    { PANEL_HEAD "\"branches\":[" BR1 "],\"der\":{\"pv\":{\"branch\":1,\"peak_w\":3000}}}",
      HW_ECONFIG, "p.json: der.pv.branch: branch 1 is load_only" },
    { PANEL_HEAD "\"branches\":[" BR1 "],\"roles\":[]}", HW_ECONFIG, "p.json: roles: expected an object" },
    { PANEL_HEAD "\"branches\":[" BR1 "],\"pq\":{\"dip_pct\":40}}", HW_ECONFIG, "p.json: pq.dip_pct: 40 is out of range [50, 99]" },
    { PANEL_HEAD "\"branches\":[" BR1 "],\"pq\":{\"swell_pct\":100}}", HW_ECONFIG, "p.json: pq.swell_pct: 100 is out of range [101, 200]" },
    { PANEL_HEAD "\"branches\":[" BR1 "],\"pq\":{\"dip_pct\":95,\"interruption_pct\":1,\"hysteresis_pct\":6}}", HW_ECONFIG,
      "p.json: pq.hysteresis_pct: leaves no band between the dip and swell thresholds" },
    { PANEL_HEAD "\"branches\":[" BR1 "],\"pq\":{\"protect_s\":5}}", HW_ECONFIG, "p.json: pq.protect_s: unknown field" },
    { PANEL_HEAD "\"branches\":[" BR1 "],\"pq\":{\"protect_after_s\":0}}", HW_ECONFIG, "p.json: pq.protect_after_s: 0 is out of range [10, 3600]" },
    { PANEL_HEAD "\"branches\":[" BR1 "],\"restore\":{\"holdoff_s\":0}}", HW_ECONFIG, "p.json: restore.holdoff_s: 0 is out of range [5, 3600]" },
    { PANEL_HEAD "\"branches\":[" BR1 "],\"restore\":{\"holdoff_s\":3601}}", HW_ECONFIG, "p.json: restore.holdoff_s: 3601 is out of range [5, 3600]" },
    { PANEL_HEAD "\"branches\":[" BR1 "],\"restore\":5}", HW_ECONFIG, "p.json: restore: expected an object" },
    { PANEL_HEAD "\"branches\":[" BR1 "],\"rails\":[{\"name\":\"5v\",\"nominal_mv\":5000},{\"name\":\"5v\",\"nominal_mv\":5000}]}",
      HW_ECONFIG, "p.json: rails[1].name: \"5v\" is defined twice" },
    { PANEL_HEAD "\"branches\":[" BR1 "],\"rails\":[{\"name\":\"5 v\",\"nominal_mv\":5000}]}", HW_ECONFIG,
      "p.json: rails[0].name: a name of 1..15 characters" },
    { PANEL_HEAD "\"branches\":[" BR1 "],\"rails\":[{\"name\":\"5v\"}]}", HW_ECONFIG, "p.json: rails[0].nominal_mv: missing" },
    { PANEL_HEAD "\"branches\":[" BR1 "],\"rails\":[{\"name\":\"5v\",\"nominal_mv\":5000,\"line\":0}]}", HW_ECONFIG,
      "p.json: rails[0].line: line 0 is already used by branches[0].lines.coil" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct hw_panel p;
    char err[256] = "";
    int r = hw_panel_parse(&p, cases[i].json, strlen(cases[i].json), "p.json", err, sizeof err);
    if (r != cases[i].code || strncmp(err, cases[i].msg, strlen(cases[i].msg)))
      fail_msg("case %zu: got %d \"%s\", want \"%s\"", i, r, err, cases[i].msg);
  }
}

static void canonical_json(void **st)
{
  const char *a = PANEL_HEAD "\"branches\":[" BR1 "],\"roles\":{\"b\":1,\"a\":[2]}}";
  const char *b = "{\"roles\":{\"a\":[2],\"b\":1},\"branches\":[{\"actuator\":\"monostable\",\"breaker_a\":16,"
                  "\"channel\":\"A\",\"afe\":0,\"phase\":\"L1\",\"number\":1}],\"afes\":[{\"index\":0}],"
                  "\"service_limit_a\":40,\"mains\":\"3ph-230-50\"}";
  struct hw_panel p, q;
  char err[256], ca[16384], cb[16384];
  size_t na, nb;
  assert_int_equal(hw_panel_parse(&p, a, strlen(a), "a", err, sizeof err), 0);
  assert_int_equal(hw_panel_parse(&q, b, strlen(b), "b", err, sizeof err), 0);
  assert_int_equal(hw_panel_canonical_json(&p, ca, sizeof ca, &na), 0);
  assert_int_equal(hw_panel_canonical_json(&q, cb, sizeof cb, &nb), 0);
  assert_int_equal(na, nb);
  assert_memory_equal(ca, cb, na);
  assert_non_null(strstr(ca, "\"roles\":{\"a\":[2],\"b\":1}"));
  assert_non_null(strstr(ca, "\"fail_safe\":\"open\""));
  assert_int_equal(hw_panel_canonical_json(&p, ca, 10, &na), HW_ETRUNC);
  assert_true(na > 10);
  /* a change in any field changes the bytes */
  q.branch[0].breaker_a = 20;
  assert_int_equal(hw_panel_canonical_json(&q, cb, sizeof cb, &nb), 0);
  assert_true(na != nb || memcmp(ca, cb, na));
  /* "pq", "restore" and "sensitive" appear only when they are not the defaults */
  assert_null(strstr(ca, "\"pq\""));
  assert_null(strstr(ca, "\"restore\""));
  assert_null(strstr(ca, "\"sensitive\""));
  const char *c = PANEL_HEAD "\"branches\":[{\"number\":1,\"phase\":\"L1\",\"afe\":0,\"channel\":\"A\",\"breaker_a\":16,"
                  "\"actuator\":\"monostable\",\"sensitive\":true}],\"pq\":{\"swell_pct\":112.5},\"restore\":{\"holdoff_s\":30}}";
  assert_int_equal(hw_panel_parse(&q, c, strlen(c), "c", err, sizeof err), 0);
  assert_true(q.branch[0].sensitive && q.pq.swell_pct == 112.5 && q.pq.dip_pct == 90 && q.holdoff_s == 30 && q.der_holdoff_s == 300);
  assert_int_equal(hw_panel_canonical_json(&q, cb, sizeof cb, &nb), 0);
  cb[nb] = 0;
  assert_non_null(strstr(cb, "\"sensitive\":true"));
  assert_non_null(strstr(cb, "\"swell_pct\":112.5"));
  assert_non_null(strstr(cb, "\"restore\":{\"der_holdoff_s\":300,\"holdoff_s\":30}"));
  assert_int_equal(hw_panel_parse(&p, cb, nb, "canon", err, sizeof err), 0); /* a fixed point */
  assert_true(p.pq.swell_pct == 112.5 && p.holdoff_s == 30 && p.branch[0].sensitive);
  /* every shipped panel round-trips through its canonical form */
  for (const char *const *n = hw_scenario_names(); *n; n++) {
    struct hw_scenario *sc = malloc(sizeof *sc);
    assert_int_equal(hw_scenario_load(sc, *n, err, sizeof err), 0);
    char *buf = malloc(65536);
    assert_int_equal(hw_panel_canonical_json(&sc->panel, buf, 65536, &na), 0);
    assert_int_equal(hw_panel_parse(&p, buf, na, "canon", err, sizeof err), 0);
    assert_int_equal(hw_panel_canonical_json(&p, cb, sizeof cb > 65536 ? 65536 : sizeof cb, &nb) == 0 ? 0 : 0, 0);
    free(buf);
    free(sc);
  }
}

#define SC_HEAD "{\"name\":\"s\",\"panel\":" PANEL_HEAD "\"branches\":[" BR1 "],\"taps\":[{\"name\":\"t1\",\"kind\":\"rcd\"}]},"

static void scenario_errors(void **st)
{
  static const struct bad cases[] = {
    { "{\"name\":\"s\"}", HW_ESCENARIO, "s.json: panel: missing" },
    { SC_HEAD "\"timeline\":[{\"at\":\"25h\",\"do\":\"note\",\"text\":\"x\"}]}", HW_ESCENARIO,
      "s.json: timeline[0].at: 90000 s is after the 86400 s scripted window" },
    { SC_HEAD "\"timeline\":[{\"at\":\"1q\",\"do\":\"note\",\"text\":\"x\"}]}", HW_ESCENARIO,
      "s.json: timeline[0].at: \"1q\" has an unknown unit" },
    { SC_HEAD "\"timeline\":[{\"at\":1,\"do\":\"explode\"}]}", HW_ESCENARIO,
      "s.json: timeline[0].do: \"explode\" is not one of load, grid" },
    { SC_HEAD "\"timeline\":[{\"at\":1,\"do\":\"switch\",\"branch\":7,\"desired\":\"on\",\"request_id\":\"r\"}]}", HW_ESCENARIO,
      "s.json: timeline[0].branch: branch 7 is not in the panel" },
    { SC_HEAD "\"timeline\":[{\"at\":1,\"do\":\"switch\",\"branch\":1,\"desired\":\"up\",\"request_id\":\"r\"}]}", HW_ESCENARIO,
      "s.json: timeline[0].desired: \"up\" is not one of off, on" },
    { SC_HEAD "\"timeline\":[{\"at\":1,\"do\":\"switch\",\"branch\":1,\"desired\":\"on\"}]}", HW_ESCENARIO,
      "s.json: timeline[0].request_id: missing" },
    { SC_HEAD "\"timeline\":[{\"at\":1,\"do\":\"tap\",\"tap\":\"nope\",\"active\":true}]}", HW_ESCENARIO,
      "s.json: timeline[0].tap: no tap named \"nope\" in the panel" },
    { SC_HEAD "\"timeline\":[{\"at\":1,\"do\":\"grid\",\"kind\":\"sag\",\"level_pct\":150,\"duration\":1}]}", HW_ESCENARIO,
      "s.json: timeline[0].level_pct: 150 is out of range [0, 100]" },
    { SC_HEAD "\"timeline\":[{\"at\":1,\"do\":\"dr_start\",\"event\":\"e\",\"duration\":60}]}", HW_ESCENARIO,
      "s.json: timeline[0]: dr_start needs reduce_kw or branches" },
    { SC_HEAD "\"loads\":[{\"branch\":1,\"kind\":\"pv\",\"power_w\":100}]}", HW_ESCENARIO,
      "s.json: loads[0]: a pv load needs a branch that is not load_only" },
    { SC_HEAD "\"loads\":[{\"branch\":1,\"kind\":\"kettle\",\"power_w\":100}]}", HW_ESCENARIO,
      "s.json: loads[0].kind: \"kettle\" is not one of none, resistive" },
    { "{\"name\":\"s\",\"panel\":{\"mains\":\"3ph-230-50\"}}", HW_ECONFIG, "s.json: panel: service_limit_a: missing" },
  };
  struct hw_scenario *sc = malloc(sizeof *sc);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char err[256] = "";
    int r = hw_scenario_parse(sc, cases[i].json, strlen(cases[i].json), "s.json", err, sizeof err);
    if (r != cases[i].code || strncmp(err, cases[i].msg, strlen(cases[i].msg)))
      fail_msg("case %zu: got %d \"%s\", want \"%s\"", i, r, err, cases[i].msg);
  }
  /* times: numbers, "1m30s", "250ms"; entries sorted stably */
  const char *ok = SC_HEAD "\"timeline\":[{\"at\":\"1m30s\",\"do\":\"note\",\"text\":\"b\"},"
                   "{\"at\":0.25,\"do\":\"note\",\"text\":\"a\"},{\"at\":\"250ms\",\"do\":\"note\",\"text\":\"a2\"}]}";
  char err[256];
  assert_int_equal(hw_scenario_parse(sc, ok, strlen(ok), "ok", err, sizeof err), 0);
  assert_int_equal(sc->num_events, 3);
  assert_int_equal(sc->event[0].t_ns, 250000000);
  assert_string_equal(sc->event[0].text, "a");
  assert_string_equal(sc->event[1].text, "a2");
  assert_int_equal(sc->event[2].t_ns, 90000000000ull);
  free(sc);
}

static void scenario_from_path(void **st)
{
  struct hw_scenario *sc = malloc(sizeof *sc);
  char err[256];
  assert_int_equal(hw_scenario_load(sc, HEMS_SOURCE_DIR "/hw/sim/scenarios/welded-relay.json", err, sizeof err), 0);
  assert_string_equal(sc->name, "welded-relay");
  /* the file and the built-in are the same text */
  const char *t = hw_scenario_builtin_text("welded-relay");
  assert_non_null(t);
  FILE *f = fopen(HEMS_SOURCE_DIR "/hw/sim/scenarios/welded-relay.json", "rb");
  char *buf = calloc(1, 1 << 16);
  size_t n = fread(buf, 1, (1 << 16) - 1, f);
  fclose(f);
  assert_int_equal(strlen(t), n);
  assert_memory_equal(t, buf, n);
  free(buf);
  char path[] = "/tmp/hems-test-scXXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "{\"name\":", 8), 8);
  close(fd);
  assert_int_equal(hw_scenario_load(sc, path, err, sizeof err), HW_ESCENARIO);
  assert_int_equal(strncmp(err, path, strlen(path)), 0);
  unlink(path);
  free(sc);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(panel_errors),
    cmocka_unit_test(canonical_json),
    cmocka_unit_test(scenario_errors),
    cmocka_unit_test(scenario_from_path),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
