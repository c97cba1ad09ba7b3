/*
 * bundle_write.c — writing export bundles (format 3, or 2 when the newest seal is a v 1 seal; the layout is specified in bundle.c and
 * docs/journal.md).
 *
 * Invariants: frames hold whole commit groups; a bundle that starts after seq 1 carries the
 * checkpoint of the state before its first record (when one can be had) as the first entry of
 * its first frame; every byte from the magic to the end frame's zero length goes into the
 * content hash the end frame signs. Nothing read from the store is trusted for its size: a
 * record longer than JOURNAL_RECORD_MAX or a frame beyond BUNDLE_FRAME_MAX stops the export
 * with JOURNAL_ECORRUPT / JOURNAL_ETOOBIG before anything is copied.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include <zstd.h>
#include "bundle_format.h"
#include "codec_internal.h"
#include "grow_internal.h"
#include "store_internal.h"

struct buf { uint8_t *p; size_t len, cap; };

static int buf_put(struct buf *b, const void *d, size_t n)
{
  if (n > BUNDLE_FRAME_MAX || b->len + n > BUNDLE_FRAME_MAX) return JOURNAL_ETOOBIG;
  uint8_t *q = journal__grow(b->p, &b->cap, b->len + n, 1, 65536);
  if (!q) return -ENOMEM;
  b->p = q;
  memcpy(b->p + b->len, d, n);
  b->len += n;
  return 0;
}

/* Entry header: kind u8 | len u32 (payload bytes). */
static int put_entry_head(struct buf *b, uint8_t kind, size_t len)
{
  if (len > BUNDLE_FRAME_MAX) return JOURNAL_ETOOBIG;
  uint8_t h[5];
  h[0] = kind;
  bundle_be32(h + 1, (uint32_t)len);
  return buf_put(b, h, 5);
}

struct out {
  FILE *f;
  crypto_generichash_state content; /* every byte written before the end frame */
  struct journal_export_info *info;
};

static int out_write(struct out *o, const void *p, size_t n)
{
  crypto_generichash_update(&o->content, p, n);
  o->info->bytes += n;
  return fwrite(p, 1, n, o->f) == n ? 0 : -EIO;
}

static int flush_frame(struct out *o, struct buf *content, struct buf *z)
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
  if (c > BUNDLE_FRAME_MAX) return JOURNAL_ETOOBIG;
  uint8_t l[4];
  bundle_be32(l, (uint32_t)c);
  int rc = out_write(o, l, 4);
  if (!rc) rc = out_write(o, z->p, c);
  o->info->frames++;
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
  int rc = dl > BUNDLE_FRAME_MAX - 32 ? JOURNAL_ETOOBIG : put_entry_head(content, BUNDLE_E_BLOB, 32 + dl);
  if (!rc) rc = buf_put(content, hash, 32);
  if (!rc) rc = buf_put(content, data, dl);
  free(data);
  return rc;
}

/* The checkpoint of the state after seq (the seal before the first exported record). */
static int add_checkpoint(struct journal_reader *rd, struct journal_iter *it, const struct journal_export_options *o,
                          uint64_t seq, struct buf *content, uint64_t *out_seq)
{
  uint8_t *data = NULL;
  size_t len = 0;
  int rc;
  if (o->checkpoint) {
    rc = o->checkpoint(o->checkpoint_ctx, rd, seq, &data, &len);
  } else {
    uint64_t at = 0;
    rc = journal_checkpoint_get(it, seq, &at, &data, &len);
    if (rc == 0 && at != seq) { free(data); data = NULL; rc = JOURNAL_ENOTFOUND; }
  }
  if (rc == JOURNAL_ENOTFOUND) return 0;
  if (rc) return rc;
  uint8_t s[8];
  journal__be64(s, seq);
  rc = len > BUNDLE_FRAME_MAX - 8 ? JOURNAL_ETOOBIG : put_entry_head(content, BUNDLE_E_CHECKPOINT, 8 + len);
  if (!rc) rc = buf_put(content, s, 8);
  if (!rc) rc = buf_put(content, data, len);
  free(data);
  if (!rc) *out_seq = seq;
  return rc;
}

/* Whole groups covering [since, until]: *from is the first seq of the first group, *to the seal
 * of the last. */
static int export_bounds(struct journal_reader *rd, struct journal_iter *it, const struct journal_export_options *o,
                         uint64_t *from, uint64_t *to, uint64_t *newest)
{
  uint64_t first, last;
  int rc = journal__rec_bounds(it->txn, &rd->db, &first, &last);
  if (rc) return rc;
  if (!first || !last) return JOURNAL_ENOTFOUND;
  *newest = last;
  uint64_t f = o->since_seq > first ? o->since_seq : first;
  uint64_t t = o->until_seq && o->until_seq < last ? o->until_seq : last;
  if (f > t) return JOURNAL_ENOTFOUND;
  uint64_t gl;
  if (journal_group_of(it, f, &f, &gl) != 0 || journal_group_of(it, t, &gl, &t) != 0) return JOURNAL_ECORRUPT;
  *from = f;
  *to = t;
  return 0;
}

/* Header: deterministic CBOR map, keys in canonical order (shorter first, then bytewise). */
static int write_header(struct out *o, uint32_t format, const struct journal_signer *signer, const char *device_id, uint64_t from,
                        const uint8_t first_prev[32], uint64_t checkpoint_seq, uint8_t hdr_hash[32])
{
  uint8_t hdr[512];
  struct cw w = { hdr, sizeof hdr, 0, 0 };
  journal__cw_map(&w, checkpoint_seq ? 7 : 6);
  journal__cw_text(&w, "keys", 4); journal__cw_array(&w, 1); journal__cw_bytes(&w, signer->pubkey, 32);
  journal__cw_text(&w, "format", 6); journal__cw_uint(&w, format);
  journal__cw_text(&w, "schema", 6); journal__cw_uint(&w, JOURNAL_SCHEMA_VERSION);
  journal__cw_text(&w, "device_id", 9); journal__cw_text(&w, device_id, strlen(device_id));
  journal__cw_text(&w, "first_seq", 9); journal__cw_uint(&w, from);
  journal__cw_text(&w, "first_prev", 10); journal__cw_bytes(&w, first_prev, 32);
  if (checkpoint_seq) { journal__cw_text(&w, "checkpoint_seq", 14); journal__cw_uint(&w, checkpoint_seq); }
  if (w.err) return w.err;
  uint8_t msg[sizeof BUNDLE_HEADER_DOMAIN + sizeof hdr], sig[64], pre[16];
  memcpy(msg, BUNDLE_HEADER_DOMAIN, sizeof BUNDLE_HEADER_DOMAIN);
  memcpy(msg + sizeof BUNDLE_HEADER_DOMAIN, hdr, w.len);
  int rc = signer->sign(signer->ctx, msg, sizeof BUNDLE_HEADER_DOMAIN + w.len, sig);
  crypto_generichash(hdr_hash, 32, hdr, w.len, NULL, 0);
  memcpy(pre, BUNDLE_MAGIC, 8);
  bundle_be32(pre + 8, format);
  bundle_be32(pre + 12, (uint32_t)w.len);
  if (!rc) rc = out_write(o, pre, 16);
  if (!rc) rc = out_write(o, hdr, w.len);
  if (!rc) rc = out_write(o, sig, 64);
  return rc;
}

static int write_end(struct out *o, const struct journal_signer *signer, const uint8_t last_hash[32],
                     const uint8_t hdr_hash[32])
{
  uint8_t end[4 + BUNDLE_END_V2 + 64], msg[sizeof BUNDLE_END_DOMAIN_V2 + BUNDLE_END_V2 + 32];
  bundle_be32(end, 0);
  crypto_generichash_update(&o->content, end, 4);
  journal__be64(end + 4, o->info->last_seq);
  journal__be64(end + 12, o->info->records);
  memcpy(end + 20, last_hash, 32);
  crypto_generichash_final(&o->content, end + 52, 32);
  memcpy(msg, BUNDLE_END_DOMAIN_V2, sizeof BUNDLE_END_DOMAIN_V2);
  memcpy(msg + sizeof BUNDLE_END_DOMAIN_V2, end + 4, BUNDLE_END_V2);
  memcpy(msg + sizeof BUNDLE_END_DOMAIN_V2 + BUNDLE_END_V2, hdr_hash, 32);
  int rc = signer->sign(signer->ctx, msg, sizeof msg, end + 4 + BUNDLE_END_V2);
  o->info->bytes += sizeof end;
  return rc ? rc : fwrite(end, 1, sizeof end, o->f) == sizeof end ? 0 : -EIO;
}

static int write_records(struct out *o, struct journal_iter *it, const struct journal_export_options *opt, uint64_t to,
                         struct buf *content, struct buf *z, uint8_t last_hash[32])
{
  struct journal_export_info *info = o->info;
  const uint8_t *bytes;
  size_t len;
  uint64_t seq = 0;
  int rc = 0;
  while (!rc) {
    int got = journal_iter_next(it, &seq, &bytes, &len);
    if (got < 0) return got;
    if (got == 0 || seq > to) break;
    /* The store's claim about a record's size is not trusted. */
    if (len > JOURNAL_RECORD_MAX || len < 8) return JOURNAL_ECORRUPT;
    uint64_t s2;
    unsigned type;
    uint8_t pv[32];
    if (journal_record_peek(bytes, len, &s2, &type, pv) || s2 != seq) return JOURNAL_ECORRUPT;
    if ((rc = add_blobs(it, bytes, len, content))) break;
    uint8_t sq[8];
    journal__be64(sq, seq);
    if ((rc = put_entry_head(content, BUNDLE_E_RECORD, 8 + len)) || (rc = buf_put(content, sq, 8)) ||
        (rc = buf_put(content, bytes, len)))
      break;
    journal_record_hash(bytes, len, last_hash);
    info->records++;
    if (!info->first_seq) info->first_seq = seq;
    info->last_seq = seq;
    if (type == JOURNAL_T_SEAL && content->len >= BUNDLE_FRAME_TARGET) rc = flush_frame(o, content, z);
    if (opt->progress && (info->records & 0xffff) == 0) opt->progress(opt->pctx, seq);
  }
  return rc ? rc : flush_frame(o, content, z);
}

int journal_export(struct journal_reader *rd, const struct journal_signer *signer, const struct journal_export_options *opt,
                   const char *path, struct journal_export_info *info)
{
  static const struct journal_export_options none;
  struct journal_export_info dummy;
  if (!opt) opt = &none;
  if (!info) info = &dummy;
  memset(info, 0, sizeof *info);
  if (sodium_init() < 0) return -EIO;
  struct journal_iter *it;
  int rc = journal_iter_begin(rd, 1, &it);
  if (rc) return rc;
  uint64_t from = 0, to = 0, newest = 0;
  const uint8_t *bytes;
  size_t len;
  uint8_t first_prev[32];
  if ((rc = export_bounds(rd, it, opt, &from, &to, &newest)) || (rc = journal_iter_get(it, from, &bytes, &len))) {
    journal_iter_end(it);
    return rc;
  }
  uint64_t s;
  unsigned t;
  if (len > JOURNAL_RECORD_MAX || journal_record_peek(bytes, len, &s, &t, first_prev)) { journal_iter_end(it); return JOURNAL_ECORRUPT; }
  char device_id[40] = { 0 };
  journal__meta_get(it->txn, &rd->db, "device_id", device_id, 32);

  struct buf content = { 0 }, z = { 0 };
  uint64_t ckpt_seq = 0;
  if (from > 1) rc = add_checkpoint(rd, it, opt, from - 1, &content, &ckpt_seq);
  /* format 3: the tree entry (the signed head, the frontier, proofs to the head) */
  uint8_t *tree = NULL, *wit = NULL;
  size_t tree_len = 0, wit_len = 0;
  if (!rc) rc = bundle_tree_build(it, signer->pubkey, device_id, from, to, newest, opt->proof_sizes, opt->n_proof_sizes,
                                  &tree, &tree_len, &info->head_size, &wit, &wit_len);
  if (!rc && tree) rc = put_entry_head(&content, BUNDLE_E_TREE, tree_len);
  if (!rc && tree) rc = buf_put(&content, tree, tree_len);
  if (!rc && wit) rc = buf_put(&content, wit, wit_len); /* whole kind-5 entries */
  free(wit);
  uint32_t format = tree ? BUNDLE_FORMAT : BUNDLE_FORMAT_NOTREE;
  info->format = format;
  free(tree);
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  struct out o;
  memset(&o, 0, sizeof o);
  o.info = info;
  crypto_generichash_init(&o.content, NULL, 0, 32);
  if (!rc && !(o.f = opt->stream ? opt->stream : fopen(tmp, "wb"))) rc = -errno;
  uint8_t hdr_hash[32], last_hash[32] = { 0 };
  if (!rc) rc = write_header(&o, format, signer, device_id, from, first_prev, ckpt_seq, hdr_hash);
  info->checkpoint_seq = ckpt_seq;
  if (!rc) rc = journal__iter_restart(it, from, PACK_CHECKED);
  if (!rc) rc = write_records(&o, it, opt, to, &content, &z, last_hash);
  if (!rc) rc = write_end(&o, signer, last_hash, hdr_hash);
  free(content.p);
  free(z.p);
  journal_iter_end(it);
  if (!o.f) return rc;
  if (opt->stream) return rc ? rc : fflush(o.f) != 0 ? -EIO : 0;
  if (fflush(o.f) != 0 || fsync(fileno(o.f)) != 0) rc = rc ? rc : -EIO;
  fclose(o.f);
  if (!rc && rename(tmp, path) != 0) rc = -errno;
  if (rc) unlink(tmp);
  return rc;
}
