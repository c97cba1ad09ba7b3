/*
 * capture_blob.c — the byte format of a waveform capture (what the journal hashes, then
 * zstd-compresses) and its inverse.
 *
 * Format, version 1, all integers little-endian:
 *   0   4  magic "HCAP"
 *   4   1  version (1)
 *   5   1  flags (0)
 *   6   2  nch (1 … INGEST_CHANNELS_MAX)
 *   8   4  nframes
 *   12  4  trigger_frame (< nframes, or 0 when nframes is 0)
 *   16  4  reason (0 = pq event, else the trigger tag)
 *   20  8  capture id
 *   28  8  t0_ns (int64, time of frame 0)
 *   36  8  sample_rate_hz (IEEE 754 binary64)
 *   44  8  nominal_hz (binary64)
 *   52     per channel: kind u8, name_len u8, name, phase_len u8, phase, unit scale binary64,
 *          offset binary64, voltage_ch int16, branch u16
 *   then   per channel, nframes samples as zigzag LEB128 varints of: x[0], x[1] − x[0], then
 *          the second differences x[n] − 2x[n−1] + x[n−2]. Second differences of a sampled
 *          sine at 133 samples per cycle are ≈ 1/450 of its amplitude, so most take 1–2 bytes
 *          instead of 4, and zstd then finds the remaining structure.
 * The encoding is a pure function of the capture (deterministic). Decoding checks every
 * length, the varint bounds, that every value fits int32 and that no byte is left over.
 */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define HDR 52

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { for (int k = 0; k < 4; k++) p[k] = (uint8_t)(v >> (8 * k)); }
static void put64(uint8_t *p, uint64_t v) { for (int k = 0; k < 8; k++) p[k] = (uint8_t)(v >> (8 * k)); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v = 0; for (int k = 3; k >= 0; k--) v = v << 8 | p[k]; return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v = 0; for (int k = 7; k >= 0; k--) v = v << 8 | p[k]; return v; }
static uint64_t dbits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static double bitsd(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }

size_t ingest_capture_blob_bound(unsigned nch, uint32_t nframes)
{
  return HDR + (size_t)nch * (3 + INGEST_NAME_MAX + INGEST_PHASE_MAX + 20) +
         (size_t)nch * nframes * 10;
}

int ingest_capture_encode(const struct ingest_capture_view *c, uint8_t *buf, size_t cap,
                          size_t *out_len)
{
  if (c->nch == 0 || c->nch > INGEST_CHANNELS_MAX) return -EINVAL;
  size_t need_hdr = HDR;
  for (unsigned ch = 0; ch < c->nch; ch++)
    need_hdr += 3 + strnlen(c->ch[ch].name, INGEST_NAME_MAX - 1) +
                strnlen(c->ch[ch].phase, INGEST_PHASE_MAX - 1) + 20;
  if (cap < need_hdr) return -ENOSPC;
  memcpy(buf, "HCAP", 4);
  buf[4] = 1;
  buf[5] = 0;
  put16(buf + 6, (uint16_t)c->nch);
  put32(buf + 8, c->nframes);
  put32(buf + 12, c->trigger_frame);
  put32(buf + 16, c->reason);
  put64(buf + 20, c->id);
  put64(buf + 28, (uint64_t)c->t0_ns);
  put64(buf + 36, dbits(c->sample_rate_hz));
  put64(buf + 44, dbits(c->nominal_hz));
  size_t o = HDR;
  for (unsigned ch = 0; ch < c->nch; ch++) {
    const struct ingest_channel_cfg *cc = &c->ch[ch];
    size_t nl = strnlen(cc->name, INGEST_NAME_MAX - 1), pl = strnlen(cc->phase, INGEST_PHASE_MAX - 1);
    buf[o++] = cc->kind;
    buf[o++] = (uint8_t)nl;
    memcpy(buf + o, cc->name, nl);
    o += nl;
    buf[o++] = (uint8_t)pl;
    memcpy(buf + o, cc->phase, pl);
    o += pl;
    put64(buf + o, dbits(cc->scale));
    put64(buf + o + 8, dbits(cc->offset));
    put16(buf + o + 16, (uint16_t)cc->voltage_ch);
    put16(buf + o + 18, cc->branch);
    o += 20;
  }
  for (unsigned ch = 0; ch < c->nch; ch++) {
    const int32_t *x = c->codes + (size_t)ch * c->nframes;
    int64_t p1 = 0, p2 = 0;
    for (uint32_t n = 0; n < c->nframes; n++) {
      int64_t v = x[n], d;
      if (n == 0) d = v;
      else if (n == 1) d = v - p1;
      else d = v - 2 * p1 + p2;
      p2 = p1;
      p1 = v;
      uint64_t z = ((uint64_t)d << 1) ^ (uint64_t)(d >> 63);
      do {
        if (o >= cap) return -ENOSPC;
        uint8_t b = z & 0x7f;
        z >>= 7;
        buf[o++] = (uint8_t)(b | (z ? 0x80 : 0));
      } while (z);
    }
  }
  *out_len = o;
  return 0;
}

int ingest_capture_peek(const uint8_t *blob, size_t len, unsigned *out_nch, uint32_t *out_nframes)
{
  /* flags must be 0: a decoder that ignored them would give two blobs (two content hashes) one capture */
  if (len < HDR || memcmp(blob, "HCAP", 4) != 0 || blob[4] != 1 || blob[5] != 0) return INGEST_EBLOB;
  unsigned nch = get16(blob + 6);
  if (nch == 0 || nch > INGEST_CHANNELS_MAX) return INGEST_EBLOB;
  /* every sample is at least one varint byte after the header: a count the blob cannot hold is
   * refused here, before a caller sizes its sample buffer from it */
  uint32_t nf = get32(blob + 8);
  if ((uint64_t)nch * nf > len - HDR) return INGEST_EBLOB;
  *out_nch = nch;
  *out_nframes = nf;
  return 0;
}

int ingest_capture_decode(const uint8_t *blob, size_t len, struct ingest_capture *out,
                          int32_t *codes, size_t codes_cap)
{
  unsigned nch;
  uint32_t nf;
  int rc = ingest_capture_peek(blob, len, &nch, &nf);
  if (rc) return rc;
  memset(out, 0, sizeof *out);
  if ((uint64_t)nch * nf > codes_cap) return -ENOSPC;
  struct ingest_capture_view *v = &out->v;
  v->nch = nch;
  v->nframes = nf;
  v->trigger_frame = get32(blob + 12);
  if (nf ? v->trigger_frame >= nf : v->trigger_frame != 0) return INGEST_EBLOB;
  v->reason = get32(blob + 16);
  v->id = get64(blob + 20);
  v->t0_ns = (int64_t)get64(blob + 28);
  v->sample_rate_hz = bitsd(get64(blob + 36));
  v->nominal_hz = bitsd(get64(blob + 44));
  if (!(v->sample_rate_hz > 0 && v->sample_rate_hz < 1e7) || !(v->nominal_hz >= 0 && v->nominal_hz < 1e4))
    return INGEST_EBLOB;
  size_t o = HDR;
  for (unsigned ch = 0; ch < nch; ch++) {
    struct ingest_channel_cfg *cc = &out->chan[ch];
    if (o + 2 > len) return INGEST_EBLOB;
    cc->kind = blob[o++];
    if (cc->kind > INGEST_KIND_CURRENT) return INGEST_EBLOB;
    size_t nl = blob[o++];
    if (nl >= INGEST_NAME_MAX || o + nl + 1 > len) return INGEST_EBLOB;
    memcpy(cc->name, blob + o, nl);
    o += nl;
    size_t pl = blob[o++];
    if (pl >= INGEST_PHASE_MAX || o + pl + 20 > len) return INGEST_EBLOB;
    memcpy(cc->phase, blob + o, pl);
    o += pl;
    cc->scale = bitsd(get64(blob + o));
    cc->offset = bitsd(get64(blob + o + 8));
    cc->voltage_ch = (int16_t)get16(blob + o + 16);
    cc->branch = get16(blob + o + 18);
    if (!isfinite(cc->scale) || !isfinite(cc->offset)) return INGEST_EBLOB;
    o += 20;
  }
  for (unsigned ch = 0; ch < nch; ch++) {
    int32_t *x = codes + (size_t)ch * nf;
    int64_t p1 = 0, p2 = 0;
    for (uint32_t n = 0; n < nf; n++) {
      uint64_t z = 0;
      unsigned shift = 0;
      for (;;) {
        if (o >= len || shift > 63) return INGEST_EBLOB;
        uint8_t b = blob[o++];
        z |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) break;
      }
      int64_t d = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
      int64_t val;
      if (n == 0) val = d;
      else if (n == 1) val = p1 + d;
      else {
        /* bounded: |p1|,|p2| < 2^31 and a valid d is < 2^34, so no overflow */
        if (d > (1ll << 40) || d < -(1ll << 40)) return INGEST_EBLOB;
        val = 2 * p1 - p2 + d;
      }
      if (n < 2 && (d > (1ll << 40) || d < -(1ll << 40))) return INGEST_EBLOB;
      if (val > INT32_MAX || val < INT32_MIN) return INGEST_EBLOB;
      x[n] = (int32_t)val;
      p2 = p1;
      p1 = val;
    }
  }
  if (o != len) return INGEST_EBLOB;
  v->ch = out->chan;
  v->codes = codes;
  return 0;
}
