/*
 * collect_envelope.c — the head-end's decoder of the batch envelope (collect_envelope.h). The
 * CBOR is read head by head with a bounds check before every byte, in the one canonical form the
 * shipper writes (shortest heads, keys 0..5 in order), so there is exactly one accepted encoding
 * of a batch; zstd decompresses into a buffer of the frame's declared size only, after that size
 * has been checked against the limit.
 */
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include "collect_envelope.h"

/* One CBOR head at *p: major type and argument, shortest form only. 0 or -1. */
static int head(const uint8_t *b, size_t len, size_t *p, unsigned *major, uint64_t *arg)
{
  if (*p >= len) return -1;
  uint8_t ib = b[(*p)++];
  unsigned ai = ib & 31;
  *major = ib >> 5;
  if (ai < 24) { *arg = ai; return 0; }
  if (ai > 27) return -1; /* indefinite lengths and reserved values */
  size_t n = (size_t)1 << (ai - 24);
  if (len - *p < n) return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v = v << 8 | b[(*p)++];
  uint64_t min = ai == 24 ? 24 : ai == 25 ? 0x100 : ai == 26 ? 0x10000 : 0x100000000ull;
  if (v < min) return -1; /* not the shortest form */
  *arg = v;
  return 0;
}

static int uint_at(const uint8_t *b, size_t len, size_t *p, uint64_t *v)
{
  unsigned major;
  return head(b, len, p, &major, v) || major != 0 ? -1 : 0;
}

void collect_envelope_free(struct collect_envelope *e)
{
  free(e->raw);
  free(e->off);
  free(e->len);
  memset(e, 0, sizeof *e);
}

int collect_envelope_decode(const uint8_t *b, size_t len, struct collect_envelope *out, const char **why)
{
  memset(out, 0, sizeof *out);
  size_t p = 0;
  unsigned major;
  uint64_t v, k, frame_len = 0;
  *why = "too large";
  if (len > COLLECT_ENVELOPE_MAX) return -1;
  *why = "not a map of 6 entries";
  if (head(b, len, &p, &major, &v) || major != 5 || v != 6) {
    if (major == 5 && v == 7) *why = "sealed to a recipient key (ship --encrypt-to): this collector does not open sealed batches";
    return -1;
  }
  *why = "keys not 0..5 in order with unsigned values (1: 16 bytes, 5: bytes)";
  for (k = 0; k < 6; k++) {
    uint64_t key;
    if (uint_at(b, len, &p, &key) || key != k) return -1;
    if (k == 1 || k == 5) {
      if (head(b, len, &p, &major, &v) || major != 2 || v > len - p) return -1;
      if (k == 1) {
        if (v != sizeof out->device) return -1;
        memcpy(out->device, b + p, sizeof out->device);
        p += v;
      } else {
        frame_len = v;
        if (p + v != len) { *why = "bytes after the envelope"; return -1; }
      }
      continue;
    }
    if (uint_at(b, len, &p, &v)) return -1;
    if (k == 0 && v != 1) {
      *why = v == 2 ? "envelope version 2 (ship --withhold): this collector does not take withheld records" : "envelope version not 1";
      return -1;
    }
    if (k == 2) out->first = v;
    if (k == 3) out->count = v;
    if (k == 4) out->kind = (unsigned)(v > 1 ? 2 : v);
  }
  if (out->first < 1 || out->first > (UINT64_C(1) << 62)) { *why = "first seq out of range"; return -1; }
  if (out->count < 1 || out->count > COLLECT_RECORDS_MAX) { *why = "count out of range"; return -1; }
  if (out->kind > 1) { *why = "kind neither 0 (live) nor 1 (backfill)"; return -1; }

  const uint8_t *frame = b + p;
  unsigned long long size = ZSTD_getFrameContentSize(frame, frame_len);
  if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR) { *why = "records: not a zstd frame with its content size"; return -1; }
  if (size > COLLECT_RAW_MAX || size < out->count) { *why = "records: content size out of range"; return -1; }
  size_t fsz = ZSTD_findFrameCompressedSize(frame, frame_len);
  if (ZSTD_isError(fsz) || fsz != frame_len) { *why = "records: not exactly one zstd frame"; return -1; }
  out->raw = malloc(size ? size : 1);
  out->off = calloc(out->count, sizeof *out->off);
  out->len = calloc(out->count, sizeof *out->len);
  if (!out->raw || !out->off || !out->len) { collect_envelope_free(out); *why = "out of memory"; return -1; }
  size_t got = ZSTD_decompress(out->raw, size, frame, frame_len);
  if (ZSTD_isError(got) || got != size) { collect_envelope_free(out); *why = "records: the zstd frame does not decompress"; return -1; }
  out->raw_len = size;

  size_t q = 0;
  for (uint64_t i = 0; i < out->count; i++) {
    if (head(out->raw, out->raw_len, &q, &major, &v) || major != 2 || v > out->raw_len - q || v == 0 ||
        v > COLLECT_RECORD_MAX) {
      collect_envelope_free(out);
      *why = "records: not a sequence of count byte strings";
      return -1;
    }
    out->off[i] = q;
    out->len[i] = (size_t)v;
    q += v;
  }
  if (q != out->raw_len) { collect_envelope_free(out); *why = "records: bytes after the last of count records"; return -1; }
  *why = NULL;
  return 0;
}
