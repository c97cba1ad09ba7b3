/*
 * collect_envelope.c — the head-end's decoder of the batch envelope (collect_envelope.h). The
 * CBOR is read head by head with a bounds check before every byte, in the one canonical form the
 * shipper writes (shortest heads, keys 0..5 in order), so there is exactly one accepted encoding
 * of a batch (version 2: a withheld record is exactly 0x81 0x58 0x20 and its leaf; sealed: a
 * crypto_box_seal of the frame, opened only after the key id is the recipient's); zstd
 * decompresses into a buffer of the frame's declared size only, after that size
 * has been checked against the limit.
 */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <zstd.h>
#include "journal.h"
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
  free(e->held);
  memset(e, 0, sizeof *e);
}

/* The zstd frame: decompressed and split into out->count elements. 0, or -1 with why. */
static int records(struct collect_envelope *out, const uint8_t *frame, size_t frame_len, const char **why)
{
  unsigned major;
  uint64_t v;
  unsigned long long size = ZSTD_getFrameContentSize(frame, frame_len);
  if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR) { *why = "records: not a zstd frame with its content size"; return -1; }
  if (size > COLLECT_RAW_MAX || size < out->count) { *why = "records: content size out of range"; return -1; }
  size_t fsz = ZSTD_findFrameCompressedSize(frame, frame_len);
  if (ZSTD_isError(fsz) || fsz != frame_len) { *why = "records: not exactly one zstd frame"; return -1; }
  out->raw = malloc(size ? size : 1);
  out->off = calloc(out->count, sizeof *out->off);
  out->len = calloc(out->count, sizeof *out->len);
  out->held = calloc(out->count, sizeof *out->held);
  if (!out->raw || !out->off || !out->len || !out->held) { *why = "out of memory"; return -1; }
  size_t got = ZSTD_decompress(out->raw, size, frame, frame_len);
  if (ZSTD_isError(got) || got != size) { *why = "records: the zstd frame does not decompress"; return -1; }
  out->raw_len = size;

  size_t q = 0;
  uint64_t held = 0;
  for (uint64_t i = 0; i < out->count; i++) {
    bool withheld = false;
    if (out->version == 2 && q < out->raw_len && out->raw[q] == 0x81) { /* [h'leaf'] */
      q++;
      withheld = true;
    }
    if (head(out->raw, out->raw_len, &q, &major, &v) || major != 2 || v > out->raw_len - q || v == 0 ||
        v > COLLECT_RECORD_MAX || (withheld && v != 32)) {
      *why = withheld ? "records: a withheld record is not [bstr(32)]" : "records: not a sequence of count byte strings";
      return -1;
    }
    out->off[i] = q;
    out->len[i] = (size_t)v;
    out->held[i] = withheld;
    held += withheld;
    q += v;
  }
  if (q != out->raw_len) { *why = "records: bytes after the last of count records"; return -1; }
  if (out->version == 2 && !held) { *why = "envelope version 2 without a withheld record"; return -1; }
  return 0;
}

int collect_envelope_decode_head(const uint8_t *b, size_t len, struct collect_envelope *out, const char **why)
{
  memset(out, 0, sizeof *out);
  size_t p = 0;
  unsigned major;
  uint64_t v, k, frame_len = 0, entries;
  *why = "too large";
  if (len > COLLECT_ENVELOPE_MAX) return -1;
  *why = "not a map of 6 entries (7: sealed)";
  if (head(b, len, &p, &major, &entries) || major != 5 || (entries != 6 && entries != 7)) return -1;
  out->sealed = entries == 7;
  *why = "keys not 0..5 (sealed: 0..6) in order with unsigned values (1: 16 bytes, 5: bytes, 6: 8 bytes)";
  for (k = 0; k < entries; k++) {
    uint64_t key;
    if (uint_at(b, len, &p, &key) || key != k) return -1;
    if (k == 1 || k == 5 || k == 6) {
      if (head(b, len, &p, &major, &v) || major != 2 || v > len - p) return -1;
      if (k == 1) {
        if (v != sizeof out->device) return -1;
        memcpy(out->device, b + p, sizeof out->device);
      } else if (k == 6) {
        if (v != sizeof out->key_id) return -1;
        memcpy(out->key_id, b + p, sizeof out->key_id);
      } else {
        frame_len = v;
        out->box = b + p;
      }
      p += v;
      if (k + 1 == entries && p != len) { *why = "bytes after the envelope"; return -1; }
      continue;
    }
    if (uint_at(b, len, &p, &v)) return -1;
    if (k == 0 && v != 1 && v != 2) { *why = "envelope version neither 1 nor 2"; return -1; }
    if (k == 0) out->version = (unsigned)v;
    if (k == 2) out->first = v;
    if (k == 3) out->count = v;
    if (k == 4) out->kind = (unsigned)(v > 1 ? 2 : v);
  }
  if (out->first < 1 || out->first > (UINT64_C(1) << 62)) { *why = "first seq out of range"; return -1; }
  if (out->count < 1 || out->count > COLLECT_RECORDS_MAX) { *why = "count out of range"; return -1; }
  if (out->kind > 1) { *why = "kind neither 0 (live) nor 1 (backfill)"; return -1; }
  out->box_len = frame_len;
  if (out->sealed && frame_len < crypto_box_SEALBYTES) { *why = "sealed: the box is shorter than its overhead"; return -1; }
  *why = NULL;
  return 0;
}

/* The frame's records into e, then e holds no box: 0; or -1 with why, e's records freed. */
static int frame_records(struct collect_envelope *e, const uint8_t *frame, size_t frame_len, const char **why)
{
  if (records(e, frame, frame_len, why)) {
    free(e->raw); free(e->off); free(e->len); free(e->held);
    e->raw = NULL; e->off = e->len = NULL; e->held = NULL;
    e->raw_len = 0;
    return -1;
  }
  e->sealed = false;
  e->box = NULL;
  e->box_len = 0;
  *why = NULL;
  return 0;
}

int collect_envelope_decode_records(struct collect_envelope *e, const char **why)
{
  if (e->sealed || !e->box || e->raw) { *why = e->sealed ? "sealed: not opened" : "records decoded already"; return -1; }
  return frame_records(e, e->box, e->box_len, why);
}

int collect_envelope_decode(const uint8_t *b, size_t len, struct collect_envelope *out, const char **why)
{
  if (collect_envelope_decode_head(b, len, out, why)) return -1;
  if (!out->sealed && collect_envelope_decode_records(out, why)) { collect_envelope_free(out); return -1; }
  return 0;
}

int collect_envelope_open(struct collect_envelope *e, const uint8_t pk[COLLECT_BOX_KEY_BYTES],
                          const uint8_t sk[COLLECT_BOX_KEY_BYTES], const char **why)
{
  uint8_t id[COLLECT_BOX_KEYID_BYTES];
  journal_seal_keyid(pk, id);
  if (!e->sealed || !e->box) { *why = "not a sealed envelope"; return -1; }
  if (memcmp(id, e->key_id, sizeof id)) { *why = "sealed to another recipient key"; return -1; }
  size_t fl = e->box_len - crypto_box_SEALBYTES;
  uint8_t *frame = malloc(fl ? fl : 1);
  if (!frame) { *why = "out of memory"; return -1; }
  int rc = -1;
  if (crypto_box_seal_open(frame, e->box, e->box_len, pk, sk) != 0) *why = "sealed: the box does not open with the recipient key";
  else rc = frame_records(e, frame, fl, why);
  sodium_memzero(frame, fl);
  free(frame);
  return rc;
}
