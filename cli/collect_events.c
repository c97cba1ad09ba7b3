/*
 * collect_events.c — the decoded copy of every stored record that is not a window (table events,
 * schemas/fleet/002_events.sql): the record as JSON (journal_record_to_json with hash and
 * prev) as a COPY text row (cli_copy_json: a U+0000 in a text field, which jsonb cannot hold,
 * becomes U+FFFD in this copy; records.bytes keeps the record as it is). Windows, most records
 * (about eight in ten), are left out: decoding them all would triple the store and slow the
 * collector down.
 */
#include <stdlib.h>
#include <string.h>
#include "collect.h"
#include "copy_text.h"

int collect_event_line(struct collect_copy *g, const char *id, const struct journal_record *r, const uint8_t *b, size_t len)
{
  if (r->type == JOURNAL_T_WINDOW) return 0;
  char *js = journal_record_to_json(b, len, JOURNAL_JSON_WITH_HASH | JOURNAL_JSON_COMPACT);
  if (!js) return -1;
  size_t n = strlen(js);
  char *esc = malloc(2 * n + 2);
  int rc = -1;
  if (esc) {
    size_t k = cli_copy_json(js, esc);
    esc[k++] = '\n';
    rc = collect_copy_head(g, id, r) || collect_copy_put(g, esc, k) ? -1 : 0;
  }
  free(esc);
  free(js);
  return rc;
}
