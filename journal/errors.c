/*
 * errors.c — the journal's error table: one X-macro list in journal.h gives both the codes
 * and their text, so a code can never lack a message.
 */
#include <string.h>
#include "journal.h"

const char *journal_strerror(int err)
{
  switch (err) {
#define JOURNAL__ERR_CASE(name, code, text) case code: return text;
    JOURNAL_ERRNO_MAP(JOURNAL__ERR_CASE)
#undef JOURNAL__ERR_CASE
  default: break;
  }
  if (err < 0 && err > -4096) return strerror(-err);
  return "unknown error";
}

bool journal_is_store_damage(int err)
{
  return err == JOURNAL_ECORRUPT || err == JOURNAL_EMDBSHORT || err == JOURNAL_EMDBMETA || err == JOURNAL_EMDBPAGE || err == JOURNAL_EPACK;
}
