/*
 * replay_internal.h — private to `hems replay`/`hems status` (cmd_replay.c): the incident
 * timeline (replay_incident.c) and the derived state printed as JSON or text (replay_state.c).
 */
#ifndef HEMS_CLI_REPLAY_INTERNAL_H
#define HEMS_CLI_REPLAY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "cli.h"
#include "replay.h"

#define INCIDENT_BEFORE_NS (120ll * 1000000000ll)
#define INCIDENT_AFTER_NS (30ll * 1000000000ll)
#define INCIDENT_WINDOWS_BEFORE 5
#define INCIDENT_WINDOWS_AFTER 2
#define INCIDENT_LINES_MAX 2000

struct incident {
  uint64_t seq;
  bool found;
  int64_t wall_ns;
  uint16_t branches[64];
  int nbranches;
  bool all;
  /* collected lines */
  struct line { uint64_t seq; int64_t wall_ns; char type[16]; char src[48]; char text[400]; } *lines;
  int nlines;
  struct line win_ring[INCIDENT_WINDOWS_BEFORE];
  int nwin;
  int win_after;
  struct replay_state *at; /* state right after the incident record */
  struct cli_names names;  /* branch names for the lines */
};

struct run {
  int fmt_json;
  struct incident *inc;
  json_t *divs;
  uint64_t ndivs;
  struct cli_progress prog;
};

/* replay_incident.c: the fold's on_record callback (ctx: struct run) collecting the timeline
 * around inc->seq; reading the incident record (dir: by seq; bundle: a first pass, checked):
 * 0, -1 when there is no such record, -2 when a bundle is damaged before it (the damage line
 * printed). */
void cli_replay_incident_record(void *ctx, const struct journal_record *r, const struct replay_state *s,
                                const struct replay_effects *fx);
int cli_replay_incident_find(struct cli_source *s, struct incident *inc);

/* replay_state.c: the derived state as a JSON object, and as text on stdout. */
json_t *cli_replay_state_json(const struct replay_state *s);
void cli_replay_state_print(const struct replay_state *s, const struct cli_names *names);

#endif
