/*
 * read_filter.h — private to cli/: the record filter of `hems timeline` and of the daemon's
 * timeline op (read_filter.c), kept out of cli.h so the control library and its fuzz target
 * take it alone.
 */
#ifndef HEMS_CLI_READ_FILTER_H
#define HEMS_CLI_READ_FILTER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "journal.h"

struct cli_filter {
  bool types[JOURNAL_T__MAX];
  bool any_type;
  uint16_t branch;
  bool have_source;
  struct journal_source source;
  bool have_since_t, have_until_t;
  int64_t since_t, until_t;
  uint64_t since_seq, until_seq;
  bool main_only; /* a data dir's main log alone (trust decisions never read the long-horizon log) */
};
bool cli_filter_matches(const struct cli_filter *f, const uint8_t *b, size_t len, uint64_t seq);
/* Its JSON form on the control socket: {"types":[names],"branch":N,"source":"branch:7",
 * "since_seq","until_seq","since_ns","until_ns"}, each key optional. from_json: NULL, or the
 * error line ("malformed request: …"). */
json_t *cli_filter_to_json(const struct cli_filter *f);
const char *cli_filter_from_json(const json_t *o, struct cli_filter *f);

#endif
