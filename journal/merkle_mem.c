/*
 * merkle_mem.c — an in-memory tile store: the journal_merkle_tile_cb that keeps what the
 * appender emits and the tile reader over it. For trees that live in memory (a bundle's
 * records, tests, benchmarks); the data dir keeps its tiles in LMDB instead. Tiles of one level
 * are one growable array of 256-hash slots indexed by tile number.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "journal.h"

#define TILE_BYTES ((size_t)JOURNAL_MERKLE_TILE_WIDTH * JOURNAL_HASH_BYTES)

void journal_merkle_memtiles_init(struct journal_merkle_memtiles *m) { memset(m, 0, sizeof *m); }

void journal_merkle_memtiles_deinit(struct journal_merkle_memtiles *m)
{
  for (unsigned l = 0; l < JOURNAL_MERKLE_TILE_LEVELS; l++) {
    free(m->hashes[l]);
    free(m->width[l]);
  }
  memset(m, 0, sizeof *m);
}

int journal_merkle_memtiles_put(void *ctx, unsigned level, uint64_t index, const uint8_t *hashes, unsigned width)
{
  struct journal_merkle_memtiles *m = ctx;
  if (level >= JOURNAL_MERKLE_TILE_LEVELS || width < 1 || width > JOURNAL_MERKLE_TILE_WIDTH) return -EINVAL;
  if (index >= m->cap[level]) {
    uint64_t cap = m->cap[level] ? m->cap[level] : 4;
    while (cap <= index) cap *= 2;
    if (cap > SIZE_MAX / TILE_BYTES) return -ENOMEM;
    uint8_t *h = realloc(m->hashes[level], (size_t)cap * TILE_BYTES);
    if (!h) return -ENOMEM;
    m->hashes[level] = h;
    uint16_t *w = realloc(m->width[level], (size_t)cap * sizeof *w);
    if (!w) return -ENOMEM;
    memset(w + m->cap[level], 0, (size_t)(cap - m->cap[level]) * sizeof *w);
    m->width[level] = w;
    m->cap[level] = cap;
  }
  memcpy(m->hashes[level] + (size_t)index * TILE_BYTES, hashes, (size_t)width * JOURNAL_HASH_BYTES);
  if (width > m->width[level][index]) m->width[level][index] = (uint16_t)width;
  return 0;
}

static int mem_read(void *ctx, unsigned level, uint64_t index, unsigned first, unsigned count, uint8_t *out)
{
  const struct journal_merkle_memtiles *m = ctx;
  if (level >= JOURNAL_MERKLE_TILE_LEVELS || index >= m->cap[level] || first + count > m->width[level][index])
    return JOURNAL_ENOTFOUND;
  memcpy(out, m->hashes[level] + (size_t)index * TILE_BYTES + (size_t)first * JOURNAL_HASH_BYTES,
         (size_t)count * JOURNAL_HASH_BYTES);
  return 0;
}

struct journal_merkle_tile_reader journal_merkle_memtiles_reader(struct journal_merkle_memtiles *m)
{
  return (struct journal_merkle_tile_reader){ mem_read, m };
}
