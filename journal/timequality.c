/*
 * timequality.c — is the system clock disciplined? The live clock (store_writer.c) stamps every
 * record with JOURNAL_TQ_SYNCED or JOURNAL_TQ_UNSYNCED from this. A failed query must never
 * read as synced: under a syscall filter adjtimex() fails with EPERM and leaves the caller's
 * zeroed struct timex as it was, and a zero status has STA_UNSYNC clear.
 */
#include <string.h>
#include "journal.h"
#include "store_internal.h"
#include "timequality_internal.h"

uint8_t journal__time_quality(int rc, const struct timex *tx)
{
  if (rc < 0 || rc == TIME_ERROR || !tx || (tx->status & STA_UNSYNC)) return JOURNAL_TQ_UNSYNCED;
  return JOURNAL_TQ_SYNCED;
}

int64_t journal__sync_offset_ns(int rc, const struct timex *tx)
{
  if (journal__time_quality(rc, tx) != JOURNAL_TQ_SYNCED) return 0;
  return (tx->status & STA_NANO) ? (int64_t)tx->offset : (int64_t)tx->offset * 1000;
}

uint8_t journal_clock_sync(int64_t *offset_ns)
{
  struct timex tx;
  memset(&tx, 0, sizeof tx);
  int rc = adjtimex(&tx);
  *offset_ns = journal__sync_offset_ns(rc, &tx);
  return journal__time_quality(rc, &tx);
}

uint8_t journal__time_quality_now(void)
{
  struct timex tx;
  memset(&tx, 0, sizeof tx); /* modes 0: read the state, change nothing */
  int rc = adjtimex(&tx);
  return journal__time_quality(rc, &tx);
}

void journal_real_clock(void *ctx, uint64_t *mono_ns, int64_t *wall_ns, uint8_t *time_quality)
{
  journal__real_clock(ctx, mono_ns, wall_ns, time_quality);
}
