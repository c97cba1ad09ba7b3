/*
 * bundle_format.h — private to journal/: the export bundle's constants and byte helpers,
 * shared by the writer (bundle_write.c) and the reader (bundle.c). The format itself is
 * specified byte by byte at the top of bundle.c and in docs/journal.md.
 */
#ifndef HEMS_JOURNAL_BUNDLE_FORMAT_H
#define HEMS_JOURNAL_BUNDLE_FORMAT_H

#include <stdint.h>

#define BUNDLE_MAGIC "HEMSBNDL"
#define BUNDLE_FORMAT 2u          /* written; 1 is still read (no content hash, no checkpoint) */
#define BUNDLE_FRAME_TARGET (256u * 1024u)
#define BUNDLE_FRAME_MAX (64u << 20) /* compressed and decompressed bytes of one frame */
#define BUNDLE_HEADER_MAX 65536u

enum { BUNDLE_E_RECORD = 1, BUNDLE_E_BLOB = 2, BUNDLE_E_CHECKPOINT = 3 };

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

#endif
