/*
 * rollup_check.c — replay --check's comparison of a recorded `rollup` with the one the fold
 * closed (reducer v 9, replay/reduce/reduce_rollup.c): every field, the first difference named.
 */
#include <stdio.h>
#include <string.h>
#include "replay.h"

#define DIFF(field, fmt, a, b)                                                                   \
  do {                                                                                           \
    if ((a) != (b)) {                                                                            \
      snprintf(what, cap, "%s: recorded " fmt ", the reducer makes " fmt, field, (b), (a));      \
      return true;                                                                               \
    }                                                                                            \
  } while (0)

bool replay_rollup_differs(const struct journal_rollup *want, const struct journal_rollup *got, char *what, size_t cap)
{
  DIFF("start", "%lld", (long long)want->start, (long long)got->start);
  DIFF("duration_s", "%u", want->duration_s, got->duration_s);
  DIFF("first_seq", "%llu", (unsigned long long)want->first_seq, (unsigned long long)got->first_seq);
  DIFF("last_seq", "%llu", (unsigned long long)want->last_seq, (unsigned long long)got->last_seq);
  if (memcmp(want->last_hash, got->last_hash, JOURNAL_HASH_BYTES) != 0) {
    snprintf(what, cap, "last_hash differs from the hash of record %llu", (unsigned long long)want->last_seq);
    return true;
  }
  DIFF("late_windows", "%u", want->late_windows, got->late_windows);
  DIFF("branch count", "%u", want->nbr, got->nbr);
  for (unsigned i = 0; i < want->nbr && i < JOURNAL_ROLLUP_BRANCHES; i++) {
    const struct journal_rollup_branch *a = &want->br[i], *b = &got->br[i];
    char f[48];
    snprintf(f, sizeof f, "branches[%u].branch", i);
    DIFF(f, "%u", a->branch, b->branch);
#define BR(name, fmt, cast)                                                                      \
    snprintf(f, sizeof f, "branch %u " #name, a->branch);                                        \
    DIFF(f, fmt, (cast)a->name, (cast)b->name)
    BR(windows, "%u", unsigned);
    BR(import_uwh, "%lld", long long);
    BR(export_uwh, "%lld", long long);
    BR(p_min_mw, "%lld", long long);
    BR(p_mean_mw, "%lld", long long);
    BR(p_max_mw, "%lld", long long);
    BR(events, "%u", unsigned);
    BR(trips, "%u", unsigned);
    BR(commands, "%u", unsigned);
#undef BR
  }
  DIFF("phase count", "%u", want->nph, got->nph);
  for (unsigned i = 0; i < want->nph && i < JOURNAL_ROLLUP_PHASES; i++) {
    const struct journal_rollup_phase *a = &want->ph[i], *b = &got->ph[i];
    char f[48];
    snprintf(f, sizeof f, "phases[%u].phase", i);
    DIFF(f, "%u", a->phase, b->phase);
#define PH(name)                                                                                 \
    snprintf(f, sizeof f, "phase %c " #name, "ABCN"[a->phase & 3]);                              \
    DIFF(f, "%lld", (long long)a->name, (long long)b->name)
    PH(windows);
    PH(v_min_mv);
    PH(v_mean_mv);
    PH(v_max_mv);
#undef PH
  }
  return false;
}
