/*
 * errors.c — the INGEST_E* message table (ingest.h's X-macro) and ingest_strerror(), plus the
 * one helper every parser uses to write a human-readable detail into a caller buffer.
 * Invariant: every code in INGEST_ERRORS has exactly one message; unknown codes fall back to
 * strerror() for negative errno values.
 */
#include "internal.h"

#include <stdarg.h>
#include <string.h>

const char *ingest_strerror(int err)
{
  switch (err) {
#define INGEST__CASE(n, v, s) case v: return s;
    INGEST_ERRORS(INGEST__CASE)
#undef INGEST__CASE
  case 0: return "success";
  default: break;
  }
  if (err < 0 && err > -4000) return strerror(-err);
  return "unknown ingest error";
}

void ingest__msg(char *msg, size_t cap, const char *fmt, ...)
{
  if (!msg || cap == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, cap, fmt, ap);
  va_end(ap);
}
