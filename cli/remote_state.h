/*
 * remote_state.h — private to cli/: the daemon's state for signed remote commands (remote.h):
 * the issuers of the panel config's "remote" section, each one's last accepted seq (recovered
 * from the journal at first use), the ctis seen, the disconnect held for a second signature and
 * the refusal rate limits. remote_config.c parses and recovers it; remote_accept.c decides.
 */
#ifndef HEMS_CLI_REMOTE_STATE_H
#define HEMS_CLI_REMOTE_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include "control_req.h"
#include "remote.h"

#define REMOTE_ISSUERS_MAX 32
#define REMOTE_CTIS 256
#define REMOTE_SKEW_S 60 /* iat and exp are judged with this much clock skew allowed */

struct remote_bucket { double tokens; uint64_t last_ms; uint32_t suppressed; };

struct remote_issuer {
  char name[32];             /* [a-z0-9][a-z0-9_.-]{0,30}: the journal's source remote:<name> */
  uint8_t pk[32], kid[REMOTE_KID_BYTES];
  int role;                  /* ROLE_UTILITY or ROLE_INSTALLER */
  uint64_t last_seq;
  struct remote_bucket bucket; /* its authenticated refusals' rate limit: a replay flood of one
                                  issuer's messages mutes no other's */
};
/* A cti accepted: the issuer's own (by kid: a reload may reorder or rename the issuers), or, read
 * back from the journal (whose records name the issuer, not its key), any issuer's (any). */
struct remote_cti { uint8_t cti[REMOTE_CTI_MAX]; uint8_t len; bool any; uint8_t kid[REMOTE_KID_BYTES]; int64_t until_s; };
/* the held first signature of a two-person disconnect: good until the window ends or its own
 * exp (+ skew) passes, whichever is first */
struct remote_pending { bool used; unsigned issuer; uint64_t record_seq; int64_t at_s, exp_s; };

struct remote_state {
  struct remote_issuer iss[REMOTE_ISSUERS_MAX];
  unsigned n;
  bool two_person_disconnect;
  int64_t window_s;
  struct remote_cti ctis[REMOTE_CTIS];
  unsigned cti_next;
  struct remote_pending pending;
  bool seqs_unknown;       /* the issuers' last seqs could not be recovered: refuse everything */
  int64_t floor_s;         /* retention cut records: the wall time (s) of the oldest one kept; a
                              message issued before it may have been accepted in what was cut */
  struct remote_bucket unauth_bucket;
};

/* Parses a "remote" section (JSON text; "" = none): 0, or -1 with one line in err. Keeps
 * the seqs of issuers of the same name already in st. */
int remote_config_parse(struct remote_state *st, const char *json, char *err, size_t err_cap);
/* The same parse on a scratch state: 0 when json would be taken, else -1 and err. */
int remote_config_check(const char *json, char *err, size_t err_cap);
int remote_issuer_by_kid(const struct remote_state *st, const uint8_t kid[REMOTE_KID_BYTES]);
struct daemon;
/* The daemon's state, made at first use from the panel config and the journal; NULL: no memory. */
struct remote_state *run_remote_state(struct daemon *d);

#endif
