/*
 * record_types_rollup.c — the field table of the `rollup` body (15-minute summaries made by the
 * reducers, journal.h). Canonical key order as in record_types.c (shorter names first, then
 * bytewise); in schema v 3 the branch array is typed-array columns like a window's.
 */
#include "record_fields.h"

static const struct jfield rollup_branch_fields[] = {
  FLD(struct journal_rollup_branch, "trips", JF_U32, trips, 0),
  FLD(struct journal_rollup_branch, "branch", JF_U16, branch, 1),
  FLD(struct journal_rollup_branch, "events", JF_U32, events, 2),
  FLD(struct journal_rollup_branch, "windows", JF_U32, windows, 3),
  FLD(struct journal_rollup_branch, "commands", JF_U32, commands, 4),
  FLD(struct journal_rollup_branch, "p_max_mw", JF_I64, p_max_mw, 5),
  FLD(struct journal_rollup_branch, "p_min_mw", JF_I64, p_min_mw, 6),
  FLD(struct journal_rollup_branch, "p_mean_mw", JF_I64, p_mean_mw, 7),
  FLD(struct journal_rollup_branch, "export_uwh", JF_I64, export_uwh, 8),
  FLD(struct journal_rollup_branch, "import_uwh", JF_I64, import_uwh, 9),
};
static const struct jdesc rollup_branch_desc = DESC(rollup_branch_fields);

static const struct jfield rollup_phase_fields[] = {
  ENUMF(struct journal_rollup_phase, "phase", phase, journal__phase_names, 0),
  FLD(struct journal_rollup_phase, "windows", JF_U32, windows, 1),
  FLD(struct journal_rollup_phase, "v_max_mv", JF_I32, v_max_mv, 2),
  FLD(struct journal_rollup_phase, "v_min_mv", JF_I32, v_min_mv, 3),
  FLD(struct journal_rollup_phase, "v_mean_mv", JF_I32, v_mean_mv, 4),
};
static const struct jdesc rollup_phase_desc = DESC(rollup_phase_fields);

static const struct jfield rollup_fields[] = {
  FLD(struct journal_rollup, "start", JF_I64, start, 0),
  ARRF(struct journal_rollup, "phases", ph, nph, struct journal_rollup_phase, rollup_phase_desc, 1, 0),
  ARRF(struct journal_rollup, "branches", br, nbr, struct journal_rollup_branch, rollup_branch_desc, 2, JF3_COLUMNS),
  FLD(struct journal_rollup, "last_seq", JF_U64, last_seq, 3),
  FLD(struct journal_rollup, "first_seq", JF_U64, first_seq, 4),
  FLD(struct journal_rollup, "last_hash", JF_FIXED, last_hash, 5),
  FLD(struct journal_rollup, "duration_s", JF_U32, duration_s, 6),
  FLDZ(struct journal_rollup, "late_windows", JF_U32, late_windows, 7),
};
const struct jdesc journal__rollup_desc = DESC(rollup_fields);
