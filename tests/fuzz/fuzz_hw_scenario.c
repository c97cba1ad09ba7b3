/*
 * fuzz_hw_scenario.c — fuzz target for the scenario loader (which includes the panel loader):
 * any bytes must yield 0 or HW_ESCENARIO/HW_ECONFIG with a NUL-terminated message naming a
 * field, never a crash; a scenario that parses must also build a simulator and run briefly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static struct hw_scenario sc;
  char err[256];
  memset(err, 'x', sizeof err);
  int r = hw_scenario_parse(&sc, (const char *)data, size, "fuzz.json", err, sizeof err);
  if (r != 0) {
    if (r != HW_ESCENARIO && r != HW_ECONFIG) abort();
    if (!memchr(err, 0, sizeof err) || strncmp(err, "fuzz.json: ", 11)) abort();
    return 0;
  }
  struct hw_sim *s;
  if (hw_sim_create(&s, &sc, 1, err, sizeof err) == 0) {
    hw_sim_advance(s, 20000000);
    hw_sim_destroy(s);
  }
  return 0;
}
