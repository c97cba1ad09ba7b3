/*
 * fuzz_hw_panel.c — fuzz target for the panel config loader and its canonical form: any bytes
 * give 0 or HW_ECONFIG with a message; a config that parses has a canonical JSON that parses
 * again to the same canonical bytes (a fixed point).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static struct hw_panel p, q;
  static char a[65536], b[65536];
  char err[256];
  int r = hw_panel_parse(&p, (const char *)data, size, "fuzz.json", err, sizeof err);
  if (r != 0) {
    if (r != HW_ECONFIG || !memchr(err, 0, sizeof err)) abort();
    return 0;
  }
  size_t na, nb;
  if (hw_panel_canonical_json(&p, a, sizeof a, &na) != 0) abort();
  if (hw_panel_parse(&q, a, na, "canonical", err, sizeof err) != 0) abort();
  if (hw_panel_canonical_json(&q, b, sizeof b, &nb) != 0) abort();
  if (na != nb || memcmp(a, b, na)) abort();
  return 0;
}
