/*
 * copy_text.c — JSON text as a COPY text field for jsonb (copy_text.h).
 */
#include <string.h>
#include "copy_text.h"

/* One character in COPY's text format: a backslash, tab, newline or CR escaped. */
static size_t put(char *out, size_t k, char c)
{
  char e = c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : c;
  if (e != c || c == '\\') out[k++] = '\\';
  out[k++] = e;
  return k;
}

size_t cli_copy_json(const char *js, char *out)
{
  size_t k = 0;
  for (const char *p = js; *p; p++) {
    if (p[0] == '\\' && p[1] == 'u' && !strncmp(p + 2, "0000", 4)) { /* 6 bytes in, 7 out */
      memcpy(out + k, "\\\\ufffd", 7);
      k += 7;
      p += 5;
      continue;
    }
    k = put(out, k, p[0]);
    if (p[0] == '\\' && p[1]) k = put(out, k, *++p); /* the escaped character, as it is */
  }
  out[k] = 0;
  return k;
}
