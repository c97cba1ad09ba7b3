/*
 * bundle.c — reading export bundles: one self-describing, verifiable file (written by
 * bundle_write.c).
 *
 * Layout, format 3 and 2 (all integers big-endian; docs/journal.md has the byte-level table):
 *   "HEMSBNDL" | u32 format (3 or 2) | u32 header_len | header (deterministic CBOR map) |
 *   signature (64, Ed25519 by header.keys[0] over "hems.bundle.v1\0" || header) |
 *   frame* | end frame
 *   frame     = u32 compressed_len | zstd frame; its content is entries:
 *               u8 kind | u32 len | payload
 *               kind 1 record: u64 seq | record bytes      kind 2 blob: 32-byte hash | data
 *               kind 3 checkpoint: u64 seq | replay checkpoint bytes (only as the first entry
 *               of the first frame, seq = first_seq - 1, and only when the header names it)
 *               kind 5 witnessed (format 3, 0 to 4, after the tree entry, before any record
               or blob): a witness's cosignature of a checkpoint at or after the range's
               end, with the proof to the head (bundle_witness.c)
               kind 4 tree (format 3 only, exactly one, the first entry after the
 *               checkpoint, before any record or blob): the signed head at export, the
 *               frontier of the tree at first_seq - 1 and consistency proofs to the head
 *               (bundle_tree.c)
 *   end frame = u32 0 | u64 last_seq | u64 records | 32-byte last record hash |
 *               32-byte content hash (BLAKE2b-256 of every byte from the magic through the
 *               end frame's u32 0) |
 *               signature (64) over "hems.bundle.end.v2\0" || those 80 bytes || header hash
 * Format 2 (still read, and written when the newest seal is a v 1 seal): no tree entry.
 * Format 1 (still read): no checkpoint entries, no content hash (end frame of 48 bytes, domain
 * "hems.bundle.end.v1").
 * Each frame holds whole commit groups, so a bundle cut anywhere verifies up to the seal that
 * ends its last whole frame. Records are covered by the chain and seals, blobs by their
 * content hash, the checkpoint by the seals whose state_hash it must reproduce, and every byte
 * (header, lengths, entry kinds) by the content hash the end frame signs. The header and end
 * signatures are checked here with header.keys[0]; whether that key is trusted is decided by
 * the verifier (the source's signer_pk), against the pinned key.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <zstd.h>
#include "bundle_format.h"
#include "codec_internal.h"
#include "grow_internal.h"
#include "store_internal.h"

#define BLOB_BYTES_MAX (1ull << 30) /* all blobs of one bundle held in memory */

/* ------------------------------------------------------------------ reading */

struct blob_entry { uint8_t hash[32]; uint8_t *data; size_t len; };

struct journal_bundle {
  FILE *f;
  uint32_t format;
  char device_id[64];
  uint8_t pubkey[32];
  uint8_t first_prev[32];
  uint8_t hdr_hash[32];
  uint64_t first_seq;
  uint64_t checkpoint_seq;   /* named by the header (format 2); 0 = none */
  uint8_t *ckpt;             /* its bytes once read */
  size_t ckpt_len;
  bool ckpt_taken;
  struct bundle_tree_state *tree; /* format 3: the tree entry, once read */
  crypto_generichash_state content;
  struct journal_record_source src;
  uint8_t *frame;      /* decompressed content of the current frame */
  size_t flen, fpos, fcap;
  uint8_t *z;
  size_t zcap;
  uint64_t frames;
  struct blob_entry *blobs;
  size_t nblobs, bcap;
  uint64_t blob_bytes;
  bool ended;
  int failed;          /* the first damage, returned again by every later call */
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
  bool have_key = false, have_format = false;
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
    if (KEY("format")) { if (v.kind != CT_UINT || v.u != b->format) return JOURNAL_EBUNDLE; have_format = true; }
    else if (KEY("schema")) { if (v.kind != CT_UINT || v.u > JOURNAL_SCHEMA_VERSION) return JOURNAL_EVERSION; }
    else if (KEY("device_id")) { if (v.kind != CT_TEXT || v.len >= sizeof b->device_id) return JOURNAL_EBUNDLE; memcpy(b->device_id, v.ptr, v.len); }
    else if (KEY("first_seq")) { if (v.kind != CT_UINT || v.u == 0 || v.u == UINT64_MAX) return JOURNAL_EBUNDLE; b->first_seq = v.u; }
    else if (KEY("first_prev")) { if (v.kind != CT_BYTES || v.len != 32) return JOURNAL_EBUNDLE; memcpy(b->first_prev, v.ptr, 32); }
    else if (KEY("checkpoint_seq") && b->format >= 2) { if (v.kind != CT_UINT || v.u == 0) return JOURNAL_EBUNDLE; b->checkpoint_seq = v.u; }
#undef KEY
  }
  if (r.pos != n || !have_key || !have_format || !b->first_seq) return JOURNAL_EBUNDLE;
  if (b->checkpoint_seq && b->checkpoint_seq + 1 != b->first_seq) return JOURNAL_EBUNDLE;
  return 0;
}

static int set_why(struct journal_bundle *b, const char **why, int code, const char *text)
{
  if (!b->failed) {
    snprintf(b->why, sizeof b->why, "%s", text);
    b->failed = code;
  }
  if (why) *why = b->why;
  return b->failed;
}

static size_t read_hashed(struct journal_bundle *b, void *p, size_t n)
{
  size_t got = fread(p, 1, n, b->f);
  crypto_generichash_update(&b->content, p, got);
  return got;
}

static int end_frame(struct journal_bundle *b, const char **why)
{
  size_t body = b->format >= 2 ? BUNDLE_END_V2 : BUNDLE_END_V1;
  uint8_t end[BUNDLE_END_V2 + 64], msg[sizeof BUNDLE_END_DOMAIN_V2 + BUNDLE_END_V2 + 32];
  if (fread(end, 1, body + 64, b->f) != body + 64) return set_why(b, why, JOURNAL_ETRUNC, "end frame cut short");
  const char *domain = b->format >= 2 ? BUNDLE_END_DOMAIN_V2 : BUNDLE_END_DOMAIN_V1;
  size_t dl = strlen(domain) + 1;
  memcpy(msg, domain, dl);
  memcpy(msg + dl, end, body);
  memcpy(msg + dl + body, b->hdr_hash, 32);
  if (crypto_sign_verify_detached(end + body, msg, dl + body + 32, b->pubkey) != 0)
    return set_why(b, why, JOURNAL_EBUNDLE, "end frame signature invalid");
  if (journal__rd64(end) != b->last_seq || journal__rd64(end + 8) != b->records || memcmp(end + 16, b->last_hash, 32) != 0)
    return set_why(b, why, JOURNAL_EBUNDLE, "end frame does not match the records read");
  if (b->format >= 2) {
    uint8_t h[32];
    crypto_generichash_final(&b->content, h, 32);
    if (memcmp(h, end + 48, 32) != 0) return set_why(b, why, JOURNAL_EBUNDLE, "bundle bytes differ from the content hash the end frame signs");
  }
  uint8_t extra;
  if (fread(&extra, 1, 1, b->f) != 0) return set_why(b, why, JOURNAL_EBUNDLE, "bytes after the end frame");
  if (b->tree) bundle_tree_end(b->tree);
  b->ended = true;
  return 0;
}

/* Loads the next frame; 1 loaded, 0 clean end (signed end frame), <0 damage. */
static int next_frame(struct journal_bundle *b, const char **why)
{
  uint8_t l[4];
  size_t got = read_hashed(b, l, 4);
  if (got == 0) return set_why(b, why, JOURNAL_ETRUNC, "bundle ends without its end frame");
  if (got < 4) return set_why(b, why, JOURNAL_ETRUNC, "frame length cut short");
  uint32_t n = bundle_rd32(l);
  if (n == 0) return end_frame(b, why);
  if (n > BUNDLE_FRAME_MAX) return set_why(b, why, JOURNAL_EBUNDLE, "frame length implausible");
  if (b->zcap < n) {
    uint8_t *q = realloc(b->z, n);
    if (!q) return -ENOMEM;
    b->z = q;
    b->zcap = n;
  }
  if (read_hashed(b, b->z, n) != n) return set_why(b, why, JOURNAL_ETRUNC, "frame cut short");
  unsigned long long raw = ZSTD_getFrameContentSize(b->z, n);
  if (raw == ZSTD_CONTENTSIZE_ERROR || raw == ZSTD_CONTENTSIZE_UNKNOWN || raw > BUNDLE_FRAME_MAX)
    return set_why(b, why, JOURNAL_EBUNDLE, "frame is not a valid zstd frame");
  if (b->fcap < raw || !b->frame) {
    uint8_t *q = realloc(b->frame, raw ? raw : 1);
    if (!q) return -ENOMEM;
    b->frame = q;
    b->fcap = raw;
  }
  size_t d = ZSTD_decompress(b->frame, raw, b->z, n);
  if (ZSTD_isError(d) || d != raw) return set_why(b, why, JOURNAL_EBUNDLE, "frame does not decompress");
  b->flen = d;
  b->fpos = 0;
  b->frames++;
  return 1;
}

/* The next entry of the current or next frame: 1 with kind and payload, 0 at the end, <0. */
static int next_entry(struct journal_bundle *b, uint8_t *kind, const uint8_t **p, uint32_t *n, const char **why)
{
  while (b->fpos >= b->flen) {
    if (b->ended) return 0;
    int rc = next_frame(b, why);
    if (rc <= 0) return rc;
  }
  if (b->flen - b->fpos < 5) return set_why(b, why, JOURNAL_EBUNDLE, "entry header cut short");
  *kind = b->frame[b->fpos];
  *n = bundle_rd32(b->frame + b->fpos + 1);
  if (*n > b->flen - b->fpos - 5) return set_why(b, why, JOURNAL_EBUNDLE, "entry longer than its frame");
  *p = b->frame + b->fpos + 5;
  b->fpos += 5 + (size_t)*n;
  return 1;
}

static int keep_blob(struct journal_bundle *b, const uint8_t *p, uint32_t n, const char **why)
{
  if (n < 32) return set_why(b, why, JOURNAL_EBUNDLE, "blob entry too short");
  if (b->blob_bytes + n > BLOB_BYTES_MAX) return set_why(b, why, JOURNAL_EBUNDLE, "blobs larger than 1 GiB in all");
  struct blob_entry *q = journal__grow(b->blobs, &b->bcap, b->nblobs + 1, sizeof *q, 16);
  if (!q) return -ENOMEM;
  b->blobs = q;
  struct blob_entry *e = &b->blobs[b->nblobs];
  e->data = malloc(n - 32 ? n - 32 : 1);
  if (!e->data) return -ENOMEM;
  memcpy(e->hash, p, 32);
  memcpy(e->data, p + 32, n - 32);
  e->len = n - 32;
  b->blob_bytes += n;
  b->nblobs++;
  return 0;
}

static int keep_checkpoint(struct journal_bundle *b, const uint8_t *p, uint32_t n, const char **why)
{
  if (b->format < 2 || !b->checkpoint_seq || b->ckpt_taken || b->records || b->nblobs || b->frames != 1)
    return set_why(b, why, JOURNAL_EBUNDLE, "checkpoint entry out of place");
  if (n < 8 || journal__rd64(p) != b->checkpoint_seq) return set_why(b, why, JOURNAL_EBUNDLE, "checkpoint entry names another seq");
  b->ckpt = malloc(n - 8 ? n - 8 : 1);
  if (!b->ckpt) return -ENOMEM;
  memcpy(b->ckpt, p + 8, n - 8);
  b->ckpt_len = n - 8;
  b->ckpt_taken = true;
  return 0;
}

/* The tree entry: in format 3 the first entry after the start checkpoint (if any). */
static int keep_tree(struct journal_bundle *b, const uint8_t *p, uint32_t n, const char **why)
{
  if (b->format < 3 || b->tree || b->records || b->nblobs || b->frames != 1 || (b->checkpoint_seq && !b->ckpt_taken))
    return set_why(b, why, JOURNAL_EBUNDLE, "tree entry out of place");
  const char *w = NULL;
  int rc = bundle_tree_parse(&b->tree, b->first_seq, p, n, &w);
  return rc == -ENOMEM ? rc : rc ? set_why(b, why, rc, w) : 0;
}

static int bundle_next(void *ctx, uint64_t *seq, const uint8_t **bytes, size_t *len, const char **why)
{
  struct journal_bundle *b = ctx;
  for (;;) {
    if (b->failed) return set_why(b, why, b->failed, b->why);
    uint8_t kind;
    const uint8_t *p;
    uint32_t n;
    int rc = next_entry(b, &kind, &p, &n, why);
    if (rc <= 0) return rc;
    if (kind == BUNDLE_E_BLOB) {
      if ((rc = keep_blob(b, p, n, why))) return rc;
      continue;
    }
    if (kind == BUNDLE_E_CHECKPOINT) {
      if ((rc = keep_checkpoint(b, p, n, why))) return rc;
      continue;
    }
    if (kind == BUNDLE_E_TREE) {
      if ((rc = keep_tree(b, p, n, why))) return rc;
      continue;
    }
    if (kind == BUNDLE_E_WITNESSED) {
      const char *w = NULL;
      if (!b->tree || b->records || b->nblobs) return set_why(b, why, JOURNAL_EBUNDLE, "witnessed entry out of place");
      rc = bundle_tree_witnessed(b->tree, p, n, &w);
      if (rc) return rc == -ENOMEM ? rc : set_why(b, why, rc, w);
      continue;
    }
    if (kind != BUNDLE_E_RECORD || n < 8) return set_why(b, why, JOURNAL_EBUNDLE, "unknown entry kind");
    if (b->checkpoint_seq && !b->ckpt_taken) return set_why(b, why, JOURNAL_EBUNDLE, "the checkpoint the header names is missing");
    if (b->format >= 3 && !b->tree) return set_why(b, why, JOURNAL_EBUNDLE, "the tree entry is missing");
    *seq = journal__rd64(p);
    if (b->records == 0 && *seq != b->first_seq) return set_why(b, why, JOURNAL_EBUNDLE, "first record is not the header's first_seq");
    *bytes = p + 8;
    *len = n - 8;
    const char *tw;
    if (b->tree && (rc = bundle_tree_record(b->tree, *seq, *bytes, *len, &tw))) return set_why(b, why, rc, tw);
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

int journal_bundle_checkpoint(struct journal_bundle *b, uint64_t *seq, const uint8_t **data, size_t *len,
                              char *why, size_t why_cap)
{
  if (!b->checkpoint_seq) return JOURNAL_ENOTFOUND;
  int rc = 0;
  const char *w = NULL;
  if (!b->ckpt_taken && !b->failed) {
    uint8_t kind;
    const uint8_t *p;
    uint32_t n;
    rc = next_entry(b, &kind, &p, &n, &w);
    if (rc == 1 && kind == BUNDLE_E_CHECKPOINT) rc = keep_checkpoint(b, p, n, &w);
    else if (rc >= 0) rc = set_why(b, &w, JOURNAL_EBUNDLE, "the checkpoint the header names is missing");
  }
  if (b->failed) {
    snprintf(why, why_cap, "%s", b->why);
    return b->failed;
  }
  if (rc) return rc;
  *seq = b->checkpoint_seq;
  *data = b->ckpt;
  *len = b->ckpt_len;
  return 0;
}

int journal_bundle_tree(struct journal_bundle *b, const struct journal_bundle_tree **out, char *why, size_t why_cap)
{
  if (b->format < 3) return JOURNAL_ENOTFOUND;
  const char *w = NULL;
  int rc = 0;
  if (b->checkpoint_seq && !b->ckpt_taken && !b->failed) {
    uint64_t cs;
    const uint8_t *cd;
    size_t cl;
    rc = journal_bundle_checkpoint(b, &cs, &cd, &cl, why, why_cap);
    if (rc) return rc;
  }
  if (!b->tree && !b->failed) {
    uint8_t kind;
    const uint8_t *p;
    uint32_t n;
    rc = next_entry(b, &kind, &p, &n, &w);
    if (rc == 1 && kind == BUNDLE_E_TREE) rc = keep_tree(b, p, n, &w);
    else if (rc >= 0) rc = set_why(b, &w, JOURNAL_EBUNDLE, "the tree entry is missing");
  }
  if (b->failed) {
    snprintf(why, why_cap, "%s", b->why);
    return b->failed;
  }
  if (rc) return rc;
  *out = bundle_tree_info(b->tree);
  return 0;
}

void journal_bundle_watch(struct journal_bundle *b, uint64_t size)
{
  if (b->tree) bundle_tree_watch(b->tree, size);
}

uint32_t journal_bundle_format(const struct journal_bundle *b) { return b->format; }

int journal_bundle_open(const char *path, struct journal_bundle **out, char *why, size_t why_cap)
{
  if (sodium_init() < 0) return -EIO;
  struct journal_bundle *b = calloc(1, sizeof *b);
  if (!b) return -ENOMEM;
  crypto_generichash_init(&b->content, NULL, 0, 32);
  int rc = 0;
  uint8_t *hdr = NULL, *msg = NULL;
  b->f = fopen(path, "rb");
  if (!b->f) { rc = -errno; snprintf(why, why_cap, "%s", strerror(errno)); goto fail; }
  uint8_t pre[16];
  size_t got = read_hashed(b, pre, 16);
  if (journal_is_sealed(pre, got)) {
    rc = JOURNAL_EBUNDLE; snprintf(why, why_cap, "sealed to a recipient key (export --encrypt-to): decrypt it first with 'hems decrypt --key FILE'"); goto fail;
  }
  if (got != 16 || memcmp(pre, BUNDLE_MAGIC, 8) != 0) {
    rc = JOURNAL_EBUNDLE; snprintf(why, why_cap, "not a hems bundle (bad magic)"); goto fail;
  }
  b->format = bundle_rd32(pre + 8);
  if (b->format < 1 || b->format > BUNDLE_FORMAT) {
    rc = JOURNAL_EVERSION;
    snprintf(why, why_cap, "bundle format %u not supported (this hems reads formats 1 to %u)", b->format, BUNDLE_FORMAT);
    goto fail;
  }
  uint32_t hl = bundle_rd32(pre + 12);
  if (hl == 0 || hl > BUNDLE_HEADER_MAX) { rc = JOURNAL_EBUNDLE; snprintf(why, why_cap, "header length implausible"); goto fail; }
  hdr = malloc(hl);
  msg = malloc(sizeof BUNDLE_HEADER_DOMAIN + hl);
  uint8_t sig[64];
  if (!hdr || !msg) { rc = -ENOMEM; goto fail; }
  if (read_hashed(b, hdr, hl) != hl || read_hashed(b, sig, 64) != 64) {
    rc = JOURNAL_ETRUNC; snprintf(why, why_cap, "header cut short"); goto fail;
  }
  if ((rc = parse_header(b, hdr, hl))) { snprintf(why, why_cap, "header malformed"); goto fail; }
  memcpy(msg, BUNDLE_HEADER_DOMAIN, sizeof BUNDLE_HEADER_DOMAIN);
  memcpy(msg + sizeof BUNDLE_HEADER_DOMAIN, hdr, hl);
  if (crypto_sign_verify_detached(sig, msg, sizeof BUNDLE_HEADER_DOMAIN + hl, b->pubkey) != 0) {
    rc = JOURNAL_EBADSIG; snprintf(why, why_cap, "header signature invalid"); goto fail;
  }
  crypto_generichash(b->hdr_hash, 32, hdr, hl, NULL, 0);
  free(hdr);
  free(msg);
  b->src.next = bundle_next;
  b->src.get_blob = bundle_blob;
  b->src.ctx = b;
  b->src.signer_pk = b->pubkey;
  b->src.device_id = b->device_id[0] ? b->device_id : NULL;
  *out = b;
  return 0;
fail:
  free(hdr);
  free(msg);
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
  free(b->ckpt);
  bundle_tree_free(b->tree);
  free(b);
}

struct journal_record_source *journal_bundle_source(struct journal_bundle *b) { return &b->src; }
const uint8_t *journal_bundle_pubkey(const struct journal_bundle *b) { return b->pubkey; }
const char *journal_bundle_device_id(const struct journal_bundle *b) { return b->device_id; }
const uint8_t *journal_bundle_first_prev(const struct journal_bundle *b) { return b->first_prev; }
