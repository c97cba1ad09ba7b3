/*
 * record_types_pq.c — the field tables of the power-quality bodies: `pq_event` (dips, swells,
 * interruptions, rapid voltage changes, frequency deviations) and `pq_aggregate` (the
 * IEC 61000-4-30 10-minute and 2-hour intervals). Canonical key order as in record_types.c.
 */
#include "record_fields.h"

static const char *const pqkind_names[] = { "dip", "swell", "interruption", "rvc", "freq", NULL };
static const char *const ieee1159_names[] = { "instantaneous", "momentary", "temporary", "sustained", "none", NULL };

static const struct jfield pq_phase_fields[] = {
  FLD(struct journal_pq_phase, "ch", JF_U8, ch, 0),
  ENUMF(struct journal_pq_phase, "phase", phase, journal__phase_names, 1),
  FLD(struct journal_pq_phase, "max_mv", JF_I32, max_mv, 2),
  FLD(struct journal_pq_phase, "min_mv", JF_I32, min_mv, 3),
};
static const struct jdesc pq_phase_desc = DESC(pq_phase_fields);

static const struct jfield pq_event_fields[] = {
  FLD(struct journal_pq_event, "afe", JF_U16, afe, 0),
  ENUMF(struct journal_pq_event, "kind", kind, pqkind_names, 1),
  FLD(struct journal_pq_event, "flags", JF_U8, flags, 2),
  FLD(struct journal_pq_event, "phases", JF_CHARS, phases, 3),
  FLD(struct journal_pq_event, "capture", JF_FIXED, capture, 4),
  ENUMF(struct journal_pq_event, "category", category, ieee1159_names, 5),
  FLDZ(struct journal_pq_event, "freq_mhz", JF_U32, freq_mhz, 14),
  FLD(struct journal_pq_event, "start_ns", JF_I64, start_ns, 6),
  FLD(struct journal_pq_event, "extreme_mv", JF_I32, extreme_mv, 7),
  FLD(struct journal_pq_event, "declared_mv", JF_I32, declared_mv, 8),
  FLD(struct journal_pq_event, "duration_us", JF_U64, duration_us, 9),
  FLD(struct journal_pq_event, "extreme_mpct", JF_I32, extreme_mpct, 10),
  ARRF(struct journal_pq_event, "phase_detail", ph, nph, struct journal_pq_phase, pq_phase_desc, 11, 0),
  FLDZ(struct journal_pq_event, "delta_uss_mpct", JF_I32, delta_uss_mpct, 13),
  FLDZ(struct journal_pq_event, "delta_umax_mpct", JF_I32, delta_umax_mpct, 12),
};
const struct jdesc journal__pq_event_desc = DESC(pq_event_fields);

#define AGG_H(name, member, count, ik) U16ARRF(struct journal_agg_channel, name, member, count, ik)
static const struct jfield agg_channel_fields[] = {
  FLD(struct journal_agg_channel, "ch", JF_U8, ch, 0),
  FLD(struct journal_agg_channel, "h1_m", JF_I32, h1_m, 1),
  ENUMF(struct journal_agg_channel, "kind", kind, journal__chkind_names, 2),
  ENUMF(struct journal_agg_channel, "phase", phase, journal__phase_names, 3),
  FLD(struct journal_agg_channel, "rms_m", JF_I32, rms_m, 6),
  AGG_H("h_cpct", h_cpct, nh, 7),
  AGG_H("hs_cpct", hs_cpct, nhs, 8),
  AGG_H("ih_cpct", ih_cpct, nih, 9),
  AGG_H("ihs_cpct", ihs_cpct, nihs, 10),
  FLD(struct journal_agg_channel, "thd_mpct", JF_I32, thd_mpct, 11),
  FLDZ(struct journal_agg_channel, "plt_milli", JF_U32, plt_milli, 4),
  FLDZ(struct journal_agg_channel, "pst_milli", JF_U32, pst_milli, 5),
};
static const struct jdesc agg_channel_desc = DESC(agg_channel_fields);

static const struct jfield pq_aggregate_fields[] = {
  FLD(struct journal_pq_aggregate, "afe", JF_U16, afe, 0),
  FLD(struct journal_pq_aggregate, "nwin", JF_U16, nwin, 1),
  FLD(struct journal_pq_aggregate, "flags", JF_U8, flags, 2),
  FLDZ(struct journal_pq_aggregate, "u0_mpct", JF_U32, u0_mpct, 3),
  FLDZ(struct journal_pq_aggregate, "u2_mpct", JF_U32, u2_mpct, 4),
  ARRF(struct journal_pq_aggregate, "channels", ch, nch, struct journal_agg_channel, agg_channel_desc, 5, 0),
  FLD(struct journal_pq_aggregate, "freq_mhz", JF_U32, freq_mhz, 6),
  FLD(struct journal_pq_aggregate, "start_ns", JF_I64, start_ns, 7),
  FLD(struct journal_pq_aggregate, "covered_ms", JF_U32, covered_ms, 8),
  FLD(struct journal_pq_aggregate, "interval_s", JF_U32, interval_s, 9),
};
const struct jdesc journal__pq_aggregate_desc = DESC(pq_aggregate_fields);
