/*
 * fuzz_collect_envelope.c — fuzz target for the batch envelope as `hems collect` decodes it from
 * the broker (cli/collect_envelope.c), the input being the whole message payload.
 * Properties: no crash or sanitizer report, nothing allocated beyond the limits; an accepted
 * envelope has version 1 or 2, first ≥ 1, 1 ≤ count ≤ COLLECT_RECORDS_MAX, kind 0 or 1, and its
 * records tile the decompressed bytes exactly (each behind its own CBOR byte-string head, in
 * order, non-empty, the last one ending at the end; a withheld one, version 2 only, exactly 32
 * bytes); a refused one names why. A sealed envelope is opened with the fixed recipient key
 * pair below (crypto_box_seed_keypair of 32 bytes 0x11; the corpus's sealed payloads are sealed
 * to it) and must then hold the same properties. An accepted envelope decodes the same in the
 * collector's two steps (collect_envelope_decode_head, then _records).
 * The corpus (tests/fuzz/corpus/collect_envelope/) holds one payload per file.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
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
  check(e.version == 1 || e.version == 2);
  if (e.sealed) {
    static uint8_t pk[32], sk[32];
    static bool keyed;
    if (!keyed) {
      uint8_t seed[32];
      memset(seed, 0x11, sizeof seed);
      check(sodium_init() >= 0 && crypto_box_seed_keypair(pk, sk, seed) == 0);
      keyed = true;
    }
    check(e.box != NULL && e.raw == NULL && e.box_len >= crypto_box_SEALBYTES);
    if (collect_envelope_open(&e, pk, sk, &why) != 0) {
      check(why != NULL && e.raw == NULL && e.sealed);
      collect_envelope_free(&e);
      return 0;
    }
    check(!e.sealed);
  }
  check(e.raw_len <= COLLECT_RAW_MAX);
  size_t at = 0;
  for (uint64_t i = 0; i < e.count; i++) {
    check(e.off[i] > at && e.len[i] > 0 && e.off[i] + e.len[i] <= e.raw_len);
    check(!e.held[i] || (e.version == 2 && e.len[i] == 32));
    at = e.off[i] + e.len[i];
  }
  check(at == e.raw_len);
  /* the collector's two steps (the map, then the frame once the batch is due) decode the same */
  struct collect_envelope h;
  const char *hwhy = NULL;
  check(collect_envelope_decode_head(data, size, &h, &hwhy) == 0 && h.first == e.first && h.count == e.count &&
        h.raw == NULL && h.box != NULL);
  if (!h.sealed) {
    check(collect_envelope_decode_records(&h, &hwhy) == 0 && h.raw_len == e.raw_len &&
          memcmp(h.raw, e.raw, e.raw_len) == 0 && memcmp(h.off, e.off, e.count * sizeof *e.off) == 0);
    check(collect_envelope_decode_records(&h, &hwhy) != 0 && hwhy != NULL); /* not twice */
  } else {
    check(collect_envelope_decode_records(&h, &hwhy) != 0 && hwhy != NULL); /* sealed: opened first */
  }
  collect_envelope_free(&h);
  collect_envelope_free(&e);
  return 0;
}
