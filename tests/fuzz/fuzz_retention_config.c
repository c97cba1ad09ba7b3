/*
 * fuzz_retention_config.c — fuzz target for the "retention" object of DIR/config.json
 * (cli/retention_config.c): the input is the JSON text of the object.
 * Properties: no crash or sanitizer report; either 0 with a policy inside its documented
 * ranges (high water 50..99 %, reserve at most 1 GiB, durations > 0 when given) or -EINVAL
 * with one non-empty error line naming the file and "retention.".
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "retention.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
  if (!ok) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  json_error_t je;
  json_t *r = json_loadb((const char *)data, size, JSON_DECODE_ANY, &je);
  if (!r) return 0;
  struct retention_policy p;
  char err[512];
  memset(err, 0, sizeof err);
  int rc = retention_policy_from_json(r, "config.json", &p, err, sizeof err);
  if (rc == 0) {
    check(p.high_water >= 0.5 && p.high_water <= 0.99);
    check(p.reserve <= (1ull << 30));
    check(p.windows_ns >= 0 && p.history_ns >= 0);
  } else {
    check(rc == -EINVAL);
    check(strncmp(err, "config.json: retention.", 23) == 0 && !strchr(err, '\n'));
  }
  json_decref(r);
  return 0;
}
