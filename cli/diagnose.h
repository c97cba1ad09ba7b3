/*
 * diagnose.h — private to cli/: `hems diagnose`, the panel reference's field playbook over the
 * journal. cmd_diagnose.c reads the records (one pass, through cli_walk: a data dir, a bundle
 * checked as it is read, or the daemon), keeping what the rules need; diagnose_rules.c turns
 * that into findings.
 */
#ifndef HEMS_CLI_DIAGNOSE_H
#define HEMS_CLI_DIAGNOSE_H
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "cli.h"

#define DG_BRANCHES 256    /* branch numbers 1..255 are followed */
#define DG_EVIDENCE 8      /* seqs kept per finding */
#define DG_DEV_MAX 4096    /* voltage deviations kept per AFE and phase */

/* Per branch, from the windows: how often a load-only branch read negative power, and the
 * latest window of it (for the trip rules). */
struct dg_branch {
  bool known, load_only;
  int afe;               /* config index of the AFE that meters it */
  double breaker_a;
  char phase[8];
  /* negative power on a load-only branch (P < −50 W) */
  unsigned neg_windows;
  uint64_t neg_seqs[3];
  int64_t neg_p_mw, neg_pf_mpct; /* of the first */
  /* the latest window */
  uint64_t last_seq;
  int64_t last_ns, last_p_mw, last_i_ma;
  /* the last windows (ring), for the PQ load-drop rule */
  struct { uint64_t seq; int64_t start_ns, end_ns, p_mw; } ring[4];
  unsigned nring;
  /* the latest close command and its sense-back */
  uint64_t close_seq, close_sb_seq;
  int64_t close_ns, close_inrush_ma;
};

/* Everything the rules read: the newest config's branches, and the records of interest in
 * seq order (each a JSON object as timeline prints it). */
struct dg {
  json_t *records;   /* array of objects: faults, taps, sense-backs, commands, pq events, der,
                        boot, refusals, and the windows around pq events */
  json_t *findings;  /* array of finding objects */
  struct dg_branch br[DG_BRANCHES];
  const struct cli_names *names;
  uint16_t only_branch; /* --branch: 0 all */
  /* each AFE's phase voltages against the mains AFE's of the same second (the drift rule) */
  unsigned mains_afe;   /* as records number it (config index + 1); 0: none */
  double ref_mv[3];
  int64_t ref_ns[3];
  struct { float *dev; unsigned n; uint64_t seqs[3]; } afe_dev[64][3]; /* dev: the last DG_DEV_MAX */
  /* windows: the ones just before and after a PQ event, per AFE (for the load-drop rule) */
  json_t *pq_windows; /* object: "seq of the event" -> array of windows */
};

/* Adds one finding: kind, branch (0: the panel), evidence seqs (n), summary, first fix, and
 * the measurements it rests on (an object, taken; may be NULL). */
void dg_finding(struct dg *g, const char *kind, unsigned branch, const uint64_t *evidence, unsigned n, json_t *measured,
                const char *first_fix, const char *fmt, ...) __attribute__((format(printf, 8, 9)));

/* The rules (diagnose_rules.c): each appends its findings. */
void dg_rule_polarity(struct dg *g);
void dg_rule_sense_backs(struct dg *g);
void dg_rule_trips(struct dg *g);
void dg_rule_power_events(struct dg *g);
void dg_rule_comms(struct dg *g);
void dg_rule_transfer(struct dg *g);
void dg_rule_der(struct dg *g);
void dg_rule_pq_load(struct dg *g);
void dg_rule_load_shed(struct dg *g);
void dg_rule_afe_drift(struct dg *g);

#endif
