/*
 * pack_internal.h — private to journal/ (and the tests that damage packs): format-3 packs, one
 * LMDB value per commit holding the stored form of a run of consecutive records
 * (docs/journal.md "Packs").
 */
#ifndef HEMS_JOURNAL_PACK_INTERNAL_H
#define HEMS_JOURNAL_PACK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zstd.h>
#include "journal.h"

#define PACK_VERSION 1u
#define PACK_HEADER_BYTES 58u            /* version, flags, n, raw length, prev, boot */
#define PACK_RECORDS_MAX (1u << 20)      /* records in one pack */
#define PACK_RAW_MAX (64u << 20)         /* decompressed bytes of one pack */
#define PACK_CHECK_BYTES 4u              /* per record: the first bytes of its record hash */
#define PACK_F_PREV 0x01u                /* stored form lacks `prev` (key 0) */
#define PACK_F_BOOT 0x02u                /* stored form lacks `boot` (key 7): the one in force */
#define PACK_ZSTD_LEVEL 3                /* see docs/journal.md "Packs" for the measurement */

/* Encodes n canonical records (rec[i], len[i]) as one pack value (malloc'd *out). checks: n ×
 * PACK_CHECK_BYTES, the first bytes of each record's hash (NULL: computed here). */
int journal__pack_encode(ZSTD_CCtx *cctx, int level, const uint8_t *const *rec, const size_t *len, uint32_t n,
                         const uint8_t *checks, const uint8_t first_prev[JOURNAL_HASH_BYTES], uint8_t **out,
                         size_t *out_len);

/* A decoded pack: canonical bytes of its records, rebuilt (prev from the previous record's hash,
 * boot from the one in force). mode PACK_CHECKED hashes every record and compares its check;
 * PACK_FAST (replay) leaves prev zero and hashes nothing. */
enum pack_mode { PACK_CHECKED = 1, PACK_FAST = 2 };
struct pack_cache {
  uint64_t first;       /* seq of record 0; 0 = nothing cached */
  uint32_t n;           /* records in the pack */
  uint32_t good;        /* records 0..good-1 are intact (== n unless damaged) */
  int bad_rc;           /* why record `good` is not served (when good < n) */
  int mode;
  uint8_t *raw;         /* decompressed content */
  size_t rawcap;
  uint8_t *canon;       /* rebuilt canonical records */
  size_t ccap;
  uint32_t *off;        /* record i spans canon[off[i]..off[i+1]) */
  size_t ocap;
  uint8_t last_hash[JOURNAL_HASH_BYTES]; /* hash of record n-1 (PACK_CHECKED, good == n) */
  uint8_t *hashes;      /* PACK_CHECKED: record i's hash (journal_record_hash) at 32 * i, i < good */
  size_t hcap;
  ZSTD_DCtx *dctx;
};

/* Header fields of a pack value without decompressing (n and bounds checked). */
int journal__pack_peek(const uint8_t *v, size_t vlen, uint32_t *n, uint8_t prev[JOURNAL_HASH_BYTES]);
/* Decodes value v (the pack whose first seq is `first`) into c. A damaged pack is not an error
 * here: c->good < c->n and c->bad_rc say where it stops. <0 only for allocation failure. */
int journal__pack_load(struct pack_cache *c, uint64_t first, const uint8_t *v, size_t vlen, int mode);
/* The raw (decompressed) layout, for the tests that damage a pack's content: the raw content
 * of v into *raw (malloc'd). */
int journal__pack_raw(const uint8_t *v, size_t vlen, uint8_t **raw, size_t *raw_len);
void journal__pack_cache_free(struct pack_cache *c);

#endif
