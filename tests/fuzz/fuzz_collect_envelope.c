/*
 * fuzz_collect_envelope.c — fuzz target for the batch envelope as `hems collect` decodes it from
 * the broker (cli/collect_envelope.c), the input being the whole message payload.
 * Properties: no crash or sanitizer report, nothing allocated beyond the limits; an accepted
 * envelope has version 1, first ≥ 1, 1 ≤ count ≤ COLLECT_RECORDS_MAX, kind 0 or 1, and its
 * records tile the decompressed bytes exactly (each behind its own CBOR byte-string head, in
 * order, non-empty, the last one ending at the end); a refused one names why.
 * The corpus (tests/fuzz/corpus/collect_envelope/) holds one payload per file.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include "collect_envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
  if (!ok) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct collect_envelope e;
  const char *why = NULL;
  if (collect_envelope_decode(data, size, &e, &why) != 0) {
    check(why != NULL && e.raw == NULL);
    return 0;
  }
  check(e.first >= 1 && e.count >= 1 && e.count <= COLLECT_RECORDS_MAX && e.kind <= 1);
  check(e.raw_len <= COLLECT_RAW_MAX);
  size_t at = 0;
  for (uint64_t i = 0; i < e.count; i++) {
    check(e.off[i] > at && e.len[i] > 0 && e.off[i] + e.len[i] <= e.raw_len);
    at = e.off[i] + e.len[i];
  }
  check(at == e.raw_len);
  collect_envelope_free(&e);
  return 0;
}
