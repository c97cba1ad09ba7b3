/*
 * grow_internal.h — private to journal/: the one growable-array step the bundle and verify
 * code share (capacity doubles from a first size, so appends cost amortised O(1)).
 */
#ifndef HEMS_JOURNAL_GROW_INTERNAL_H
#define HEMS_JOURNAL_GROW_INTERNAL_H

#include <stddef.h>
#include <stdlib.h>

/* Returns p grown to hold at least need elements of elem bytes (capacity *cap, doubled from
 * first when empty), updating *cap; or NULL when out of memory (p and *cap unchanged). The
 * caller bounds need; elem * capacity must not overflow. */
static inline void *journal__grow(void *p, size_t *cap, size_t need, size_t elem, size_t first)
{
  if (need <= *cap) return p;
  size_t nc = *cap ? *cap : first;
  while (nc < need) nc *= 2;
  void *q = realloc(p, nc * elem);
  if (q) *cap = nc;
  return q;
}

#endif
