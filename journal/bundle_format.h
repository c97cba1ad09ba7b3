/*
 * bundle_format.h — private to journal/: the export bundle's constants and byte helpers,
 * shared by the writer (bundle_write.c) and the reader (bundle.c). The format itself is
 * specified byte by byte at the top of bundle.c and in docs/journal.md.
 */
#ifndef HEMS_JOURNAL_BUNDLE_FORMAT_H
#define HEMS_JOURNAL_BUNDLE_FORMAT_H

#include <stdint.h>
#include "journal.h"

#define BUNDLE_MAGIC "HEMSBNDL"
#define BUNDLE_FORMAT 3u          /* written (journals with v 3 seals); 2 and 1 are still read */
#define BUNDLE_FORMAT_NOTREE 2u   /* written when the newest seal signs no checkpoint (v 1) */
#define BUNDLE_FRAME_TARGET (256u * 1024u)
#define BUNDLE_FRAME_MAX (64u << 20) /* compressed and decompressed bytes of one frame */
#define BUNDLE_HEADER_MAX 65536u

enum { BUNDLE_E_RECORD = 1, BUNDLE_E_BLOB = 2, BUNDLE_E_CHECKPOINT = 3, BUNDLE_E_TREE = 4, BUNDLE_E_WITNESSED = 5 };

#define BUNDLE_END_V1 48u  /* last_seq 8 | records 8 | last hash 32 */
#define BUNDLE_END_V2 80u  /* ... | content hash 32 */

/* Signature domains, each signed with its terminating zero byte (sizeof counts it). */
#define BUNDLE_HEADER_DOMAIN "hems.bundle.v1"   /* the header, both formats */
#define BUNDLE_END_DOMAIN_V1 "hems.bundle.end.v1"
#define BUNDLE_END_DOMAIN_V2 "hems.bundle.end.v2"

static inline void bundle_be32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static inline uint32_t bundle_rd32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The tree entry (format 3; docs/journal.md "Bundles"): the signed head at export and RFC 9162
 * consistency proofs to it (bundle_tree.c reads it, bundle_tree_write.c writes it). */
struct journal_bundle;
struct bundle_tree_state;
int bundle_tree_parse(struct bundle_tree_state **out, uint64_t first_seq, const uint8_t *p, uint32_t n, const char **why);
/* Every record in seq order: checks each v 3 seal's tree_root against the tree of the frontier
 * and the records before it, keeps the roots asked for. 0 or JOURNAL_EPROOF (why set). */
int bundle_tree_record(struct bundle_tree_state *t, uint64_t seq, const uint8_t *bytes, size_t len, const char **why);
/* After the end frame: keeps the roots of the size after the last record. */
void bundle_tree_end(struct bundle_tree_state *t);
void bundle_tree_free(struct bundle_tree_state *t);
const struct journal_bundle_tree *bundle_tree_info(struct bundle_tree_state *t);
void bundle_tree_watch(struct bundle_tree_state *t, uint64_t size);
/* The tree entry's payload for an export of seqs from … to (to: a seal) of a journal whose
 * newest record is last, signed under pubkey: 0 with *out malloc'd, or *out NULL when the
 * newest seal is a v 1 seal (no checkpoint: a format-2 bundle); -ERANGE for an extra size
 * beyond the head; JOURNAL_EPROOF when the tiles cannot prove it. */
int bundle_tree_build(struct journal_iter *it, const uint8_t pubkey[32], const char *device_id, uint64_t from, uint64_t to,
                      uint64_t last, const uint64_t *extra, unsigned nextra, uint8_t **out, size_t *out_len,
                      uint64_t *head_size_out, uint8_t **wit, size_t *wit_len);
/* bundle_witness.c: the witnessed entries (whole entries, headers included) for the export, or
 * *out NULL when the journal holds no cosignature at or after close_size; the reader's parser
 * (the note is malloc'd into w->note). */
int bundle_witnessed_build(struct journal_iter *it, struct journal_merkle_hasher *h, const struct journal_merkle_tile_reader *rd,
                           const uint8_t pubkey[32], const char *device_id, uint64_t to, uint64_t close_size,
                           uint64_t head_size, const uint8_t head_root[32], uint8_t **out, size_t *out_len);
int bundle_witnessed_parse(struct journal_bundle_witnessed *w, const uint8_t *p, uint32_t n, const char **why);
int bundle_tree_witnessed(struct bundle_tree_state *t, const uint8_t *p, uint32_t n, const char **why);

#endif
