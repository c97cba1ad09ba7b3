/*
 * fuzz_capture_blob.c — fuzz target of the capture blob decoder (blobs arrive in bundles from
 * elsewhere). A blob that decodes must re-encode to exactly the same bytes (the format is
 * canonical), so the journal's content hash of a blob is unambiguous. The sample buffer is
 * allocated from the header's counts as `hems capture` allocates it, so a header that claims more
 * samples than its bytes can hold must be refused by ingest_capture_peek.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  unsigned nch;
  uint32_t nf;
  /* sized from the header as `hems capture` sizes it: peek must refuse counts the bytes cannot hold */
  if (ingest_capture_peek(data, size, &nch, &nf) != 0) return 0;
  int32_t *codes = malloc(sizeof(int32_t) * ((size_t)nch * nf + 1));
  struct ingest_capture *c = malloc(sizeof *c);
  if (!codes || !c) abort();
  if (ingest_capture_decode(data, size, c, codes, (size_t)nch * nf) == 0) {
    size_t cap = ingest_capture_blob_bound(nch, nf), len = 0;
    uint8_t *b = malloc(cap);
    if (!b || ingest_capture_encode(&c->v, b, cap, &len) != 0) abort();
    /* canonical unless the varints were over-long: then at least the values must agree */
    if (len == size && memcmp(b, data, size) != 0) abort();
    free(b);
  }
  free(codes);
  free(c);
  return 0;
}
