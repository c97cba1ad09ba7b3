/*
 * bundle.c — export bundles: one self-describing, verifiable file.
 *
 * Layout (all integers big-endian; docs/journal.md has the byte-level table):
 *   "HEMSBNDL" | u32 format (1) | u32 header_len | header (deterministic CBOR map) |
 *   signature (64, Ed25519 by header.keys[0] over "hems.bundle.v1\0" || header) |
 *   frame* | end frame
 *   frame     = u32 compressed_len | zstd frame; its content is entries:
 *               u8 kind | u32 len | payload
 *               kind 1 record: u64 seq | record bytes      kind 2 blob: 32-byte hash | data
 *   end frame = u32 0 | u64 last_seq | u64 records | 32-byte last record hash |
 *               signature (64) over "hems.bundle.end.v1\0" || those 48 bytes || header hash
 * Each frame holds whole commit groups, so a bundle cut anywhere verifies up to the seal that
 * ends its last whole frame. Records are covered by the chain and seals, blobs by their
 * content hash, header and end by signatures, frame lengths by the decoder failing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include <zstd.h>
#include "codec_internal.h"
#include "store_internal.h"

#define BUNDLE_MAGIC "HEMSBNDL"
#define BUNDLE_FORMAT 1u
#define FRAME_TARGET (256u * 1024u)
#define FRAME_MAX (64u << 20)

static const uint8_t header_domain[] = "hems.bundle.v1";
static const uint8_t end_domain[] = "hems.bundle.end.v1";

static void be32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v; }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

struct buf { uint8_t *p; size_t len, cap; };

static int buf_put(struct buf *b, const void *d, size_t n)
{
  if (b->len + n > b->cap) {
    size_t nc = b->cap ? b->cap : 65536;
    while (nc < b->len + n) nc *= 2;
    uint8_t *q = realloc(b->p, nc);
    if (!q) return -ENOMEM;
    b->p = q;
    b->cap = nc;
  }
  memcpy(b->p + b->len, d, n);
  b->len += n;
  return 0;
}

static int write_all(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n ? 0 : -EIO; }

static int flush_frame(FILE *f, struct buf *content, struct buf *z, struct journal_export_info *info)
{
  if (content->len == 0) return 0;
  size_t bound = ZSTD_compressBound(content->len);
  if (z->cap < bound) {
    uint8_t *q = realloc(z->p, bound);
    if (!q) return -ENOMEM;
    z->p = q;
    z->cap = bound;
  }
  size_t c = ZSTD_compress(z->p, bound, content->p, content->len, 3);
  if (ZSTD_isError(c)) return -EIO;
  uint8_t l[4];
  be32(l, (uint32_t)c);
  int rc = write_all(f, l, 4);
  if (!rc) rc = write_all(f, z->p, c);
  info->frames++;
  info->bytes += 4 + c;
  content->len = 0;
  return rc;
}

/* Appends the blob a record names (its "capture") to the frame content, before the record. */
static int add_blobs(struct journal_iter *it, const uint8_t *bytes, size_t len, struct buf *content)
{
  const uint8_t *hash;
  if (!journal__record_capture(bytes, len, &hash)) return 0;
  uint8_t *data;
  size_t dl;
  if (journal_iter_get_blob(it, hash, &data, &dl) != 0) return 0; /* verify reports it missing */
  uint8_t h[5];
  h[0] = 2;
  be32(h + 1, (uint32_t)(32 + dl));
  int rc = buf_put(content, h, 5);
  if (!rc) rc = buf_put(content, hash, 32);
  if (!rc) rc = buf_put(content, data, dl);
  free(data);
  return rc;
}

int journal_export(struct journal_reader *rd, const struct journal_signer *signer, uint64_t since_seq,
                   uint64_t until_seq, const char *path, struct journal_export_info *info,
                   journal_progress_cb progress, void *pctx)
{
  struct journal_export_info dummy;
  if (!info) info = &dummy;
  memset(info, 0, sizeof *info);
  struct journal_iter *it;
  int rc = journal_iter_begin(rd, 1, &it);
  if (rc) return rc;
  uint64_t first, last, gl;
  MDB_cursor *c;
  MDB_val k, v;
  /* Bounds: whole groups covering [since, until]. */
  rc = mdb_cursor_open(it->txn, rd->db.records, &c);
  if (rc) { journal_iter_end(it); return journal__lmdb_err(rc); }
  first = mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0 ? journal__rd64(k.mv_data) : 0;
  last = mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 ? journal__rd64(k.mv_data) : 0;
  mdb_cursor_close(c);
  if (!first) { journal_iter_end(it); return JOURNAL_ENOTFOUND; }
  uint64_t from = since_seq > first ? since_seq : first;
  uint64_t to = until_seq && until_seq < last ? until_seq : last;
  if (from > to) { journal_iter_end(it); return JOURNAL_ENOTFOUND; }
  if (journal_group_of(it, from, &from, &gl) != 0) { journal_iter_end(it); return JOURNAL_ECORRUPT; }
  if (journal_group_of(it, to, &gl, &to) != 0) { journal_iter_end(it); return JOURNAL_ECORRUPT; }

  const uint8_t *bytes;
  size_t len;
  uint8_t first_prev[32];
  if ((rc = journal_iter_get(it, from, &bytes, &len))) { journal_iter_end(it); return rc; }
  { uint64_t s; unsigned t; if (journal_record_peek(bytes, len, &s, &t, first_prev)) { journal_iter_end(it); return JOURNAL_ECORRUPT; } }

  char device_id[40] = { 0 };
  journal__meta_get(it->txn, &rd->db, "device_id", device_id, 32);

  /* Header */
  uint8_t hdr[512];
  struct cw w = { hdr, sizeof hdr, 0, 0 };
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  journal__cw_map(&w, 6);
  journal__cw_text(&w, "keys", 4); journal__cw_array(&w, 1); journal__cw_bytes(&w, signer->pubkey, 32);
  journal__cw_text(&w, "format", 6); journal__cw_uint(&w, BUNDLE_FORMAT);
  journal__cw_text(&w, "schema", 6); journal__cw_uint(&w, JOURNAL_SCHEMA_VERSION);
  journal__cw_text(&w, "device_id", 9); journal__cw_text(&w, device_id, strlen(device_id));
  journal__cw_text(&w, "first_seq", 9); journal__cw_uint(&w, from);
  journal__cw_text(&w, "first_prev", 10); journal__cw_bytes(&w, first_prev, 32);
  if (w.err) { journal_iter_end(it); return w.err; }
  (void)now;

  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) { journal_iter_end(it); return -errno; }
  uint8_t pre[16], sig[64];
  memcpy(pre, BUNDLE_MAGIC, 8);
  be32(pre + 8, BUNDLE_FORMAT);
  be32(pre + 12, (uint32_t)w.len);
  struct buf signed_hdr = { 0 };
  buf_put(&signed_hdr, header_domain, sizeof header_domain);
  buf_put(&signed_hdr, hdr, w.len);
  rc = signer->sign(signer->ctx, signed_hdr.p, signed_hdr.len, sig);
  uint8_t hdr_hash[32];
  crypto_generichash(hdr_hash, 32, hdr, w.len, NULL, 0);
  free(signed_hdr.p);
  if (!rc) rc = write_all(f, pre, 16);
  if (!rc) rc = write_all(f, hdr, w.len);
  if (!rc) rc = write_all(f, sig, 64);
  info->bytes = 16 + w.len + 64;

  struct buf content = { 0 }, z = { 0 };
  uint64_t seq = 0;
  uint8_t last_hash[32] = { 0 };
  it->from = from;
  it->started = false;
  while (!rc) {
    int got = journal_iter_next(it, &seq, &bytes, &len);
    if (got < 0) { rc = got; break; }
    if (got == 0 || seq > to) break;
    if ((rc = add_blobs(it, bytes, len, &content))) break;
    uint8_t h[13];
    h[0] = 1;
    be32(h + 1, (uint32_t)(8 + len));
    journal__be64(h + 5, seq);
    if ((rc = buf_put(&content, h, 13)) || (rc = buf_put(&content, bytes, len))) break;
    journal_record_hash(bytes, len, last_hash);
    info->records++;
    if (!info->first_seq) info->first_seq = seq;
    info->last_seq = seq;
    uint64_t s2; unsigned type; uint8_t pv[32];
    journal_record_peek(bytes, len, &s2, &type, pv);
    if (type == JOURNAL_T_SEAL && content.len >= FRAME_TARGET) rc = flush_frame(f, &content, &z, info);
    if (progress && (info->records & 0xffff) == 0) progress(pctx, seq);
  }
  if (!rc) rc = flush_frame(f, &content, &z, info);
  if (!rc) {
    uint8_t end[4 + 48 + 64], msg[sizeof end_domain + 48 + 32];
    be32(end, 0);
    journal__be64(end + 4, info->last_seq);
    journal__be64(end + 12, info->records);
    memcpy(end + 20, last_hash, 32);
    memcpy(msg, end_domain, sizeof end_domain);
    memcpy(msg + sizeof end_domain, end + 4, 48);
    memcpy(msg + sizeof end_domain + 48, hdr_hash, 32);
    rc = signer->sign(signer->ctx, msg, sizeof msg, end + 52);
    if (!rc) rc = write_all(f, end, sizeof end);
    info->bytes += sizeof end;
  }
  free(content.p);
  free(z.p);
  journal_iter_end(it);
  if (fflush(f) != 0 || fsync(fileno(f)) != 0) rc = rc ? rc : -EIO;
  fclose(f);
  if (!rc && rename(tmp, path) != 0) rc = -errno;
  if (rc) unlink(tmp);
  return rc;
}

/* ------------------------------------------------------------------ reading */

struct blob_entry { uint8_t hash[32]; uint8_t *data; size_t len; };

struct journal_bundle {
  FILE *f;
  char device_id[64];
  uint8_t pubkey[32];
  uint8_t first_prev[32];
  uint8_t hdr_hash[32];
  uint64_t first_seq;
  struct journal_record_source src;
  uint8_t *frame;      /* decompressed content of the current frame */
  size_t flen, fpos, fcap;
  uint8_t *z;
  size_t zcap;
  struct blob_entry *blobs;
  size_t nblobs, bcap;
  bool ended;
  uint64_t records, last_seq;
  uint8_t last_hash[32];
  char why[160];
};

bool journal_is_bundle(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  char m[8];
  bool ok = fread(m, 1, 8, f) == 8 && memcmp(m, BUNDLE_MAGIC, 8) == 0;
  fclose(f);
  return ok;
}

static int parse_header(struct journal_bundle *b, const uint8_t *h, size_t n)
{
  struct cr r = { h, n, 0, false };
  struct ctok t, k, v;
  if (journal__cr_next(&r, &t) || t.kind != CT_MAP) return JOURNAL_EBUNDLE;
  bool have_key = false;
  for (uint64_t i = 0; i < t.u; i++) {
    if (journal__cr_next(&r, &k) || k.kind != CT_TEXT) return JOURNAL_EBUNDLE;
#define KEY(s) (k.len == sizeof(s) - 1 && memcmp(k.ptr, s, k.len) == 0)
    if (KEY("keys")) {
      if (journal__cr_next(&r, &v) || v.kind != CT_ARRAY || v.u == 0 || v.u > 16) return JOURNAL_EBUNDLE;
      for (uint64_t e = 0; e < v.u; e++) {
        struct ctok x;
        if (journal__cr_next(&r, &x) || x.kind != CT_BYTES || x.len != 32) return JOURNAL_EBUNDLE;
        if (e == 0) { memcpy(b->pubkey, x.ptr, 32); have_key = true; }
      }
      continue;
    }
    if (journal__cr_next(&r, &v)) return JOURNAL_EBUNDLE;
    if (KEY("format")) { if (v.kind != CT_UINT || v.u != BUNDLE_FORMAT) return JOURNAL_EVERSION; }
    else if (KEY("schema")) { if (v.kind != CT_UINT || v.u > JOURNAL_SCHEMA_VERSION) return JOURNAL_EVERSION; }
    else if (KEY("device_id")) { if (v.kind != CT_TEXT || v.len >= sizeof b->device_id) return JOURNAL_EBUNDLE; memcpy(b->device_id, v.ptr, v.len); }
    else if (KEY("first_seq")) { if (v.kind != CT_UINT || v.u == 0) return JOURNAL_EBUNDLE; b->first_seq = v.u; }
    else if (KEY("first_prev")) { if (v.kind != CT_BYTES || v.len != 32) return JOURNAL_EBUNDLE; memcpy(b->first_prev, v.ptr, 32); }
#undef KEY
  }
  if (r.pos != n || !have_key || !b->first_seq) return JOURNAL_EBUNDLE;
  return 0;
}

static int set_why(struct journal_bundle *b, const char **why, int code, const char *text)
{
  snprintf(b->why, sizeof b->why, "%s", text);
  *why = b->why;
  return code;
}

/* Loads the next frame; 1 loaded, 0 clean end (signed end frame), <0 damage. */
static int next_frame(struct journal_bundle *b, const char **why)
{
  uint8_t l[4];
  size_t got = fread(l, 1, 4, b->f);
  if (got == 0) return set_why(b, why, JOURNAL_ETRUNC, "bundle ends without its end frame");
  if (got < 4) return set_why(b, why, JOURNAL_ETRUNC, "frame length cut short");
  uint32_t n = rd32(l);
  if (n == 0) {
    uint8_t end[48 + 64], msg[sizeof end_domain + 48 + 32];
    if (fread(end, 1, sizeof end, b->f) != sizeof end) return set_why(b, why, JOURNAL_ETRUNC, "end frame cut short");
    memcpy(msg, end_domain, sizeof end_domain);
    memcpy(msg + sizeof end_domain, end, 48);
    memcpy(msg + sizeof end_domain + 48, b->hdr_hash, 32);
    if (crypto_sign_verify_detached(end + 48, msg, sizeof msg, b->pubkey) != 0)
      return set_why(b, why, JOURNAL_EBUNDLE, "end frame signature invalid");
    if (journal__rd64(end) != b->last_seq || journal__rd64(end + 8) != b->records || memcmp(end + 16, b->last_hash, 32) != 0)
      return set_why(b, why, JOURNAL_EBUNDLE, "end frame does not match the records read");
    uint8_t extra;
    if (fread(&extra, 1, 1, b->f) != 0) return set_why(b, why, JOURNAL_EBUNDLE, "bytes after the end frame");
    b->ended = true;
    return 0;
  }
  if (n > FRAME_MAX) return set_why(b, why, JOURNAL_EBUNDLE, "frame length implausible");
  if (b->zcap < n) {
    uint8_t *q = realloc(b->z, n);
    if (!q) return -ENOMEM;
    b->z = q;
    b->zcap = n;
  }
  if (fread(b->z, 1, n, b->f) != n) return set_why(b, why, JOURNAL_ETRUNC, "frame cut short");
  unsigned long long raw = ZSTD_getFrameContentSize(b->z, n);
  if (raw == ZSTD_CONTENTSIZE_ERROR || raw == ZSTD_CONTENTSIZE_UNKNOWN || raw > FRAME_MAX)
    return set_why(b, why, JOURNAL_EBUNDLE, "frame is not a valid zstd frame");
  if (b->fcap < raw) {
    uint8_t *q = realloc(b->frame, raw ? raw : 1);
    if (!q) return -ENOMEM;
    b->frame = q;
    b->fcap = raw;
  }
  size_t d = ZSTD_decompress(b->frame, raw, b->z, n);
  if (ZSTD_isError(d) || d != raw) return set_why(b, why, JOURNAL_EBUNDLE, "frame does not decompress");
  b->flen = d;
  b->fpos = 0;
  return 1;
}

static int bundle_next(void *ctx, uint64_t *seq, const uint8_t **bytes, size_t *len, const char **why)
{
  struct journal_bundle *b = ctx;
  for (;;) {
    if (b->ended) return 0;
    if (b->fpos >= b->flen) {
      int rc = next_frame(b, why);
      if (rc <= 0) return rc;
      continue;
    }
    if (b->flen - b->fpos < 5) return set_why(b, why, JOURNAL_EBUNDLE, "entry header cut short");
    uint8_t kind = b->frame[b->fpos];
    uint32_t n = rd32(b->frame + b->fpos + 1);
    if (n > b->flen - b->fpos - 5) return set_why(b, why, JOURNAL_EBUNDLE, "entry longer than its frame");
    const uint8_t *p = b->frame + b->fpos + 5;
    b->fpos += 5 + (size_t)n;
    if (kind == 2) {
      if (n < 32) return set_why(b, why, JOURNAL_EBUNDLE, "blob entry too short");
      if (b->nblobs == b->bcap) {
        size_t nc = b->bcap ? b->bcap * 2 : 16;
        struct blob_entry *q = realloc(b->blobs, nc * sizeof *q);
        if (!q) return -ENOMEM;
        b->blobs = q;
        b->bcap = nc;
      }
      struct blob_entry *e = &b->blobs[b->nblobs];
      e->data = malloc(n - 32 ? n - 32 : 1);
      if (!e->data) return -ENOMEM;
      memcpy(e->hash, p, 32);
      memcpy(e->data, p + 32, n - 32);
      e->len = n - 32;
      b->nblobs++;
      continue;
    }
    if (kind != 1 || n < 8) return set_why(b, why, JOURNAL_EBUNDLE, "unknown entry kind");
    *seq = journal__rd64(p);
    *bytes = p + 8;
    *len = n - 8;
    b->records++;
    b->last_seq = *seq;
    journal_record_hash(*bytes, *len, b->last_hash);
    return 1;
  }
}

static int bundle_blob(void *ctx, const uint8_t hash[32], uint8_t **data, size_t *len)
{
  struct journal_bundle *b = ctx;
  for (size_t i = 0; i < b->nblobs; i++) {
    if (memcmp(b->blobs[i].hash, hash, 32) == 0) {
      *data = malloc(b->blobs[i].len ? b->blobs[i].len : 1);
      if (!*data) return -ENOMEM;
      memcpy(*data, b->blobs[i].data, b->blobs[i].len);
      *len = b->blobs[i].len;
      return 0;
    }
  }
  return JOURNAL_ENOTFOUND;
}

int journal_bundle_open(const char *path, struct journal_bundle **out, char *why, size_t why_cap)
{
  if (sodium_init() < 0) return -EIO;
  struct journal_bundle *b = calloc(1, sizeof *b);
  if (!b) return -ENOMEM;
  int rc = 0;
  uint8_t *hdr = NULL;
  b->f = fopen(path, "rb");
  if (!b->f) { rc = -errno; snprintf(why, why_cap, "%s", strerror(errno)); goto fail; }
  uint8_t pre[16];
  if (fread(pre, 1, 16, b->f) != 16 || memcmp(pre, BUNDLE_MAGIC, 8) != 0) {
    rc = JOURNAL_EBUNDLE; snprintf(why, why_cap, "not a hems bundle (bad magic)"); goto fail;
  }
  if (rd32(pre + 8) != BUNDLE_FORMAT) { rc = JOURNAL_EVERSION; snprintf(why, why_cap, "bundle format %u not supported", rd32(pre + 8)); goto fail; }
  uint32_t hl = rd32(pre + 12);
  if (hl == 0 || hl > 65536) { rc = JOURNAL_EBUNDLE; snprintf(why, why_cap, "header length implausible"); goto fail; }
  hdr = malloc(hl);
  uint8_t sig[64];
  if (!hdr) { rc = -ENOMEM; goto fail; }
  if (fread(hdr, 1, hl, b->f) != hl || fread(sig, 1, 64, b->f) != 64) {
    rc = JOURNAL_ETRUNC; snprintf(why, why_cap, "header cut short"); goto fail;
  }
  if ((rc = parse_header(b, hdr, hl))) { snprintf(why, why_cap, "header malformed"); goto fail; }
  uint8_t *msg = malloc(sizeof header_domain + hl);
  if (!msg) { rc = -ENOMEM; goto fail; }
  memcpy(msg, header_domain, sizeof header_domain);
  memcpy(msg + sizeof header_domain, hdr, hl);
  int bad = crypto_sign_verify_detached(sig, msg, sizeof header_domain + hl, b->pubkey);
  free(msg);
  if (bad) { rc = JOURNAL_EBADSIG; snprintf(why, why_cap, "header signature invalid"); goto fail; }
  crypto_generichash(b->hdr_hash, 32, hdr, hl, NULL, 0);
  free(hdr);
  b->src.next = bundle_next;
  b->src.get_blob = bundle_blob;
  b->src.ctx = b;
  *out = b;
  return 0;
fail:
  free(hdr);
  journal_bundle_close(b);
  return rc;
}

void journal_bundle_close(struct journal_bundle *b)
{
  if (!b) return;
  if (b->f) fclose(b->f);
  for (size_t i = 0; i < b->nblobs; i++) free(b->blobs[i].data);
  free(b->blobs);
  free(b->frame);
  free(b->z);
  free(b);
}

struct journal_record_source *journal_bundle_source(struct journal_bundle *b) { return &b->src; }
const uint8_t *journal_bundle_pubkey(const struct journal_bundle *b) { return b->pubkey; }
const char *journal_bundle_device_id(const struct journal_bundle *b) { return b->device_id; }
const uint8_t *journal_bundle_first_prev(const struct journal_bundle *b) { return b->first_prev; }
