/*
 * timequality_internal.h — private to journal/: the live clock's quality flag (timequality.c).
 */
#ifndef HEMS_JOURNAL_TIMEQUALITY_INTERNAL_H
#define HEMS_JOURNAL_TIMEQUALITY_INTERNAL_H

#include <stdint.h>
#include <sys/timex.h>

/* The judgement, a pure function of what adjtimex(2) answered: rc is its return value (the
 * clock state, or -1 on failure), tx what it filled in. JOURNAL_TQ_SYNCED only when the call
 * succeeded, the state is not TIME_ERROR and STA_UNSYNC is clear; everything else — a refused
 * call above all (seccomp, ProtectClock=), whose untouched zeroed timex would otherwise read
 * as synced — is JOURNAL_TQ_UNSYNCED. */
uint8_t journal__time_quality(int rc, const struct timex *tx);

/* The offset adjtimex reported (ns: tx.offset scaled by STA_NANO), or 0 when the call failed or
 * the clock is not synced (journal__time_quality). */
int64_t journal__sync_offset_ns(int rc, const struct timex *tx);

/* Asks the kernel (adjtimex with modes 0: read only, no privilege needed) and judges. */
uint8_t journal__time_quality_now(void);

#endif
