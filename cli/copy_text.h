/*
 * copy_text.h — private to cli/: JSON text as one field of PostgreSQL's COPY text format, for a
 * jsonb column (collect_events.c; pure, in hems_control so tests/cli/test_copy_text.c runs it).
 */
#ifndef HEMS_CLI_COPY_TEXT_H
#define HEMS_CLI_COPY_TEXT_H

#include <stddef.h>

/* js (JSON text, as jansson writes it) as a COPY text field in out, which holds at least
 * 2 * strlen(js) + 1 bytes; returns the field's length (out is NUL-terminated). A backslash, tab,
 * newline and CR are escaped (COPY's text format); the JSON escape \u0000, which jsonb refuses
 * (it has no U+0000), becomes \ufffd. JSON escapes are read whole: "\\u0000" (an escaped
 * backslash, then "u0000") is left as it is. */
size_t cli_copy_json(const char *js, char *out);

#endif
