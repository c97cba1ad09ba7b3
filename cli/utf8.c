/* utf8.c — cutting text on a character boundary (cli.h). */
#include <string.h>
#include "cli.h"

size_t cli_utf8_prefix(const char *s, size_t max)
{
  size_t n = strnlen(s, max + 1);
  if (n <= max) return n;
  n = max;
  /* back over continuation bytes (10xxxxxx) to the lead byte of the character cut at max */
  while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) n--;
  return n;
}
