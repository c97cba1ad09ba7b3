/*
 * diagnose_rules.c — the panel reference's field playbook (H2-10: symptom, two measurements, a
 * discriminator, the first fix) as rules over what cmd_diagnose.c kept of the journal. Each rule
 * says which measurements decided and names the records (evidence seqs).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "diagnose.h"

#define SEC 1000000000LL

static const char *str(const json_t *o, const char *k)
{
  const char *s = json_string_value(json_object_get(o, k));
  return s ? s : "";
}

static json_int_t num(const json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

static const json_t *body(const json_t *rec) { return json_object_get(rec, "body"); }

static uint64_t seq_of(const json_t *rec) { return (uint64_t)num(rec, "seq"); }

/* The record's wall time in ns (its RFC 3339 time, millisecond resolution). */
static int64_t t_of(const json_t *rec)
{
  int64_t t = 0;
  cli_parse_time(str(rec, "time"), 0, &t);
  return t;
}

static bool is(const json_t *rec, const char *type) { return !strcmp(str(rec, "type"), type); }

static unsigned target_of(const json_t *b)
{
  json_t *t = json_object_get(b, "target");
  return json_is_integer(t) && json_integer_value(t) > 0 && json_integer_value(t) < DG_BRANCHES ? (unsigned)json_integer_value(t) : 0;
}

static unsigned branch_of(const json_t *b)
{
  json_t *t = json_object_get(b, "branch");
  return json_is_integer(t) && json_integer_value(t) > 0 && json_integer_value(t) < DG_BRANCHES ? (unsigned)json_integer_value(t) : 0;
}

static void amps(char *buf, size_t n, int64_t ma) { cli_unit_text("i_ma", ma, buf, n); }
static void watts(char *buf, size_t n, int64_t mw) { cli_unit_text("p_mw", mw, buf, n); }

/* ------------------------------------------------------------------ CT polarity, phase map */

void dg_rule_polarity(struct dg *g)
{
  bool said[DG_BRANCHES] = { false };
  size_t i;
  json_t *r;
  json_array_foreach(g->records, i, r) {
    if (!is(r, "fault")) continue;
    const json_t *b = body(r);
    const char *code = str(b, "code");
    unsigned n = branch_of(b);
    bool pol = !strcmp(code, "suspected_ct_polarity"), map = !strcmp(code, "phase_map_mismatch");
    if ((!pol && !map) || !n || said[n]) continue;
    said[n] = true;
    uint64_t ev[DG_EVIDENCE];
    unsigned ne = 0;
    ev[ne++] = seq_of(r);
    for (unsigned k = 0; k < g->br[n].neg_windows && k < 3; k++) ev[ne++] = g->br[n].neg_seqs[k];
    json_t *m = json_pack("{s:I, s:s}", "value", num(b, "value"), "detector", str(b, "detail"));
    if (pol)
      dg_finding(g, "ct_polarity", n, ev, ne, m,
                 "turn the CT round (or set the branch's polarity to -1 in the panel config), then confirm with `hems commission`",
                 "negative power on a load-only branch; the discriminator: the sign follows the CT's channel and |PF| is normal, "
                 "so the CT is mounted backwards (not a phase-mapping error). Detector: %s", str(b, "detail"));
    else
      dg_finding(g, "phase_map", n, ev, ne, m,
                 "correct the branch's phase in the panel config (or the CT's phase), then confirm with `hems commission`",
                 "the branch is measured against another phase than it is mapped to; the discriminator: the error follows the "
                 "phase label, not the CT. Detector: %s", str(b, "detail"));
  }
  /* the windows alone, where no detector spoke */
  for (unsigned n = 1; n < DG_BRANCHES; n++) {
    const struct dg_branch *x = &g->br[n];
    if (said[n] || !x->load_only || x->neg_windows < 5) continue;
    char p[32];
    watts(p, sizeof p, x->neg_p_mw);
    double pf = (double)x->neg_pf_mpct / 100000.0, apf = pf < 0 ? -pf : pf;
    json_t *m = json_pack("{s:I, s:f, s:I}", "p_mw", (json_int_t)x->neg_p_mw, "pf", pf, "windows", (json_int_t)x->neg_windows);
    if (apf >= 0.85)
      dg_finding(g, "ct_polarity", n, x->neg_seqs, x->neg_windows < 3 ? x->neg_windows : 3, m,
                 "turn the CT round (or set polarity -1), then confirm with `hems commission`",
                 "load-only branch reads %s in %u windows with |PF| %.2f: the sign is inverted with a normal angle, so the CT "
                 "is backwards", p, x->neg_windows, apf);
    else if (apf >= 0.3 && apf <= 0.7)
      dg_finding(g, "phase_map", n, x->neg_seqs, x->neg_windows < 3 ? x->neg_windows : 3, m,
                 "correct the branch's phase mapping, then confirm with `hems commission`",
                 "load-only branch reads %s in %u windows with |PF| %.2f (about cos 120°): it is measured against another "
                 "phase's voltage", p, x->neg_windows, apf);
    else
      json_decref(m);
  }
}

/* ------------------------------------------------------------------ sense-back verdicts */

void dg_rule_sense_backs(struct dg *g)
{
  static const struct { const char *verdict, *fix, *what; } v[] = {
    { "welded", "the contacts are welded: isolate the branch at its breaker and replace the relay/contactor",
      "commanded open, the branch still carries current and load voltage" },
    { "stuck_open", "check the coil drive, its supply and the relay; the branch does not close",
      "commanded closed, no load voltage or current followed" },
    { "chatter", "check the aux contact and its wiring (and the debounce); the contact bounces",
      "the aux contact changed state repeatedly after the command" },
    { "leakage", "an SSR leaks when off: check residual voltage and heat, derate it or add a series relay",
      "commanded off, a residual current flows" },
    { "no_feedback", "the sense/aux line does not answer: check its wiring",
      "no sense-back signal followed the command" },
  };
  for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
    uint64_t ev[DG_BRANCHES][DG_EVIDENCE];
    unsigned ne[DG_BRANCHES] = { 0 }, count[DG_BRANCHES] = { 0 };
    int64_t cur[DG_BRANCHES] = { 0 };
    size_t i;
    json_t *r;
    json_array_foreach(g->records, i, r) {
      if (!is(r, "sense_back") || strcmp(str(body(r), "verdict"), v[k].verdict)) continue;
      if (!strcmp(str(body(r), "actuator"), "sunspec") || !strcmp(str(body(r), "actuator"), "permit"))
        continue; /* a DER command's proof, not the branch's relay */
      unsigned n = target_of(body(r));
      if (!n) continue;
      count[n]++;
      cur[n] = num(body(r), "current_ma");
      if (ne[n] + 2 <= DG_EVIDENCE) { ev[n][ne[n]++] = (uint64_t)num(body(r), "command_seq"); ev[n][ne[n]++] = seq_of(r); }
    }
    for (unsigned n = 1; n < DG_BRANCHES; n++) {
      if (!count[n]) continue;
      char a[32];
      amps(a, sizeof a, cur[n]);
      dg_finding(g, v[k].verdict, n, ev[n], ne[n], json_pack("{s:I, s:I}", "sense_backs", (json_int_t)count[n], "current_ma", (json_int_t)cur[n]),
                 v[k].fix, "%s (%u sense-back%s; the last measured %s)", v[k].what, count[n], count[n] == 1 ? "" : "s", a);
    }
  }
}

/* ------------------------------------------------------------------ trips */

/* A trip: inrush (right after a close, the peak far above the steady current), steady
 * overcurrent (the windows before it above the breaker's rating), leakage (an RCD or leakage
 * tap), else unexplained (no measurement explains it: a nuisance trip or a real arc). */
void dg_rule_trips(struct dg *g)
{
  struct acc { uint64_t ev[DG_EVIDENCE]; unsigned ne, count; char why[320]; json_t *m; } acc[4][DG_BRANCHES];
  memset(acc, 0, sizeof acc);
  static const char *const kind_name[4] = { "inrush_trip", "overcurrent_trip", "leakage_trip", "unexplained_trip" };
  static const char *const fix[4] = {
    "stage the turn-on (or limit the inrush), widen the trip blanking, and keep requiring the sense-back after the close",
    "the load exceeds the breaker: split the circuit or reduce the load (the limiter sheds only whole branches)",
    "earth leakage: insulation-test the circuit and its appliances one by one",
    "no measurement explains the trip: inspect the circuit for an arc (AFCI) or a nuisance trip, and watch for a repeat",
  };
  size_t i;
  json_t *r;
  json_array_foreach(g->records, i, r) {
    if (!is(r, "trip_tap")) continue;
    const json_t *b = body(r);
    unsigned n = branch_of(b);
    if (strcmp(str(b, "edge"), "rising") || json_object_get(b, "of_seq")) continue; /* one per trip */
    const char *tap = str(b, "kind");
    if (!n && strcmp(tap, "rcd") && strcmp(tap, "leakage")) continue; /* a panel-wide tap: leakage only */
    if (!strcmp(tap, "power_fail") || !strcmp(tap, "tamper") || !strcmp(tap, "temperature")) continue;
    const struct dg_branch *br = &g->br[n];
    /* the branch as it was when the tap fired (kept by the pass) */
    const json_t *at = json_object_get(r, "_at");
    struct { uint64_t close_seq, last_seq; int64_t close_ns, close_inrush_ma, last_ns, last_i_ma; } snap = {
      (uint64_t)num(at, "close_seq"), (uint64_t)num(at, "window_seq"), num(at, "close_ns"), num(at, "close_inrush_ma"),
      num(at, "window_ns"), num(at, "window_ma") }, *x = &snap;
    int64_t t = t_of(r), peak = num(b, "peak_ma"), rms = num(b, "rms_ma");
    int64_t limit_ma = (int64_t)(br->breaker_a * 1000.0);
    int k;
    char a1[32], a2[32], a3[32], line[320];
    amps(a1, sizeof a1, rms);
    amps(a2, sizeof a2, peak);
    amps(a3, sizeof a3, limit_ma);
    int64_t since_close = x->close_ns && t >= x->close_ns ? t - x->close_ns : -1;
    /* the current when it tripped: the tap's own reading, else the window before it */
    int64_t before_ma = x->last_ns && t - x->last_ns <= 10 * SEC ? x->last_i_ma : 0;
    int64_t load_ma = rms > before_ma ? rms : before_ma;
    char a4[32];
    amps(a4, sizeof a4, load_ma);
    if (!strcmp(tap, "rcd") || !strcmp(tap, "leakage")) {
      k = 2;
      snprintf(line, sizeof line, "%s tap: an earth-leakage trip (%s flowing when it tripped)", tap, a4);
    } else if (since_close >= 0 && since_close <= 2 * SEC && (x->close_inrush_ma > limit_ma || peak > 2 * (rms > 0 ? rms : 1))) {
      k = 0;
      char a5[32];
      amps(a5, sizeof a5, x->close_inrush_ma > peak ? x->close_inrush_ma : peak);
      snprintf(line, sizeof line, "%s tripped %lld ms after the close (command seq %llu) with an inrush peak of %s against the %s "
               "breaker and %s steady: it aligns with the switching transient, not a steady overload",
               tap, (long long)(since_close / 1000000), (unsigned long long)x->close_seq, a5, a3, a4);
    } else if (limit_ma > 0 && load_ma > limit_ma) {
      k = 1;
      snprintf(line, sizeof line, "%s tripped with %s flowing (peak %s), above the %s breaker, no close in the 2 s before it: "
               "a steady overload", tap, a4, a2, a3);
    } else {
      k = 3;
      snprintf(line, sizeof line, "%s tripped with %s flowing (peak %s; breaker %s): no overload, no close in the 2 s before it, "
               "no leakage tap", tap, a4, a2, a3);
    }
    (void)a1;
    struct acc *a = &acc[k][n];
    a->count++;
    if (a->ne < DG_EVIDENCE) a->ev[a->ne++] = seq_of(r);
    if (k == 0 && a->ne < DG_EVIDENCE && x->close_seq) a->ev[a->ne++] = x->close_seq;
    if (k == 1 && a->ne < DG_EVIDENCE && x->last_seq) a->ev[a->ne++] = x->last_seq;
    if (!a->why[0]) snprintf(a->why, sizeof a->why, "%s", line);
    if (!a->m) a->m = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "tap", tap, "rms_ma", (json_int_t)rms, "peak_ma", (json_int_t)peak,
                                "breaker_ma", (json_int_t)limit_ma, "window_before_ma", (json_int_t)x->last_i_ma,
                                "close_inrush_ma", (json_int_t)x->close_inrush_ma);
  }
  for (int k = 0; k < 4; k++)
    for (unsigned n = 1; n < DG_BRANCHES; n++) {
      struct acc *a = &acc[k][n];
      if (!a->count) continue;
      dg_finding(g, kind_name[k], n, a->ev, a->ne, a->m, fix[k], "%s%s", a->why,
                 a->count > 1 ? " (and the same again: see the evidence)" : "");
    }
}

/* ------------------------------------------------------------------ power events and the log */

void dg_rule_power_events(struct dg *g)
{
  size_t i;
  json_t *r, *prev = NULL;
  json_array_foreach(g->records, i, r) {
    if (is(r, "boot")) {
      const json_t *b = body(r);
      const char *shut = str(b, "previous_shutdown"), *reset = str(b, "reset_reason"), *rail = str(b, "rail_status");
      bool unclean = !strcmp(shut, "unclean");
      int64_t gap = prev ? t_of(r) - t_of(prev) : 0;
      if (unclean) {
        uint64_t ev[2] = { prev ? seq_of(prev) : 0, seq_of(r) };
        dg_finding(g, "log_gap", 0, prev ? ev : ev + 1, prev ? 2 : 1,
                   json_pack("{s:s, s:s, s:s, s:I}", "previous_shutdown", shut, "reset_reason", reset, "rail_status", rail,
                             "gap_ms", (json_int_t)(gap / 1000000)),
                   "check the hold-up supply and the power-fail input; the seq and the hash chain continue (`hems verify` "
                   "proves no record is missing or altered)",
                   "the panel stopped without a clean shutdown: %.1f s without records before this boot; reset reason %s, "
                   "rail %s. The discriminator: a gap aligned with the reset and rail records is a power event, not a lost write",
                   (double)gap / 1e9, reset[0] ? reset : "unknown", rail[0] ? rail : "unknown");
      }
    }
    prev = r;
  }
}

/* ------------------------------------------------------------------ comms around switching */

void dg_rule_comms(struct dg *g)
{
  static const char *const codes[] = { "spi_crc", "afe_missing", "late_window", "gpio_overflow", NULL };
  uint64_t ev[DG_EVIDENCE];
  unsigned ne = 0, near = 0, total = 0, with_rail = 0;
  int64_t last_cmd = 0, last_rail = 0;
  uint64_t last_cmd_seq = 0;
  size_t i;
  json_t *r;
  json_array_foreach(g->records, i, r) {
    if (is(r, "command")) {
      if (!json_object_get(body(r), "der")) { last_cmd = t_of(r); last_cmd_seq = seq_of(r); } /* a DER command switches nothing here */
      continue;
    }
    if (!is(r, "fault")) continue;
    const char *code = str(body(r), "code");
    if (!strcmp(code, "rail_low")) { last_rail = t_of(r); continue; }
    bool c = false;
    for (int k = 0; codes[k]; k++) c |= !strcmp(code, codes[k]);
    if (!c) continue;
    /* a fault record may stand for several errors (its value: the count, summed once a minute) */
    unsigned errs = num(body(r), "value") > 0 ? (unsigned)num(body(r), "value") : 1;
    total += errs;
    int64_t t = t_of(r);
    if (last_cmd && t - last_cmd <= 2 * SEC) {
      near += errs;
      if (last_rail && (t - last_rail <= 2 * SEC && last_rail - t <= 2 * SEC)) with_rail++;
      if (ne + 2 <= DG_EVIDENCE) { ev[ne++] = last_cmd_seq; ev[ne++] = seq_of(r); }
    }
  }
  if (near >= 2)
    dg_finding(g, "comms_on_switching", 0, ev, ne,
               json_pack("{s:I, s:I, s:I}", "errors_near_switching", (json_int_t)near, "errors", (json_int_t)total,
                         "with_rail_dip", (json_int_t)with_rail),
               with_rail ? "separate the actuation supply from the logic/comms rail (hold-up, return paths)"
                         : "EMI at the interface: shield or route the SPI/comms away from the switching, check the returns",
               "%u of %u bus errors came within 2 s of a switching command; %s", near, total,
               with_rail ? "with rail dips: the switching couples through the panel's supply"
                         : "the rails stayed up: the switching couples into the interface itself");
}

/* ------------------------------------------------------------------ transfer chatter */

void dg_rule_transfer(struct dg *g)
{
  char last[32] = "";
  int64_t times[64];
  uint64_t seqs[64];
  unsigned n = 0;
  size_t i;
  json_t *r;
  json_array_foreach(g->records, i, r) {
    if (!is(r, "der") || strcmp(str(body(r), "source"), "ats")) continue;
    const char *st = str(body(r), "state");
    if (last[0] && strcmp(last, st) && n < 64) { times[n] = t_of(r); seqs[n] = seq_of(r); n++; }
    snprintf(last, sizeof last, "%s", st);
  }
  for (unsigned a = 0; a + 3 < n + 1 && n >= 3; a++) {
    unsigned b = a;
    while (b + 1 < n && times[b + 1] - times[a] <= 60 * SEC) b++;
    if (b - a + 1 < 3) continue;
    /* rail dips or resets in that span? */
    unsigned dips = 0;
    json_array_foreach(g->records, i, r) {
      int64_t t = t_of(r);
      if (t < times[a] - 2 * SEC || t > times[b] + 2 * SEC) continue;
      if ((is(r, "fault") && !strcmp(str(body(r), "code"), "rail_low")) || is(r, "boot")) dips++;
    }
    unsigned ne = b - a + 1 < DG_EVIDENCE ? b - a + 1 : DG_EVIDENCE;
    dg_finding(g, "transfer_chatter", 0, seqs + a, ne, json_pack("{s:I, s:I}", "transitions", (json_int_t)(b - a + 1), "rail_dips_or_resets", (json_int_t)dips),
               dips ? "the panel's own supply dips with the transfer: check its hold-up and where it is fed from"
                    : "the rails were stable: debounce the transfer inputs and check the interlock mapping",
               "the transfer switch changed state %u times within 60 s; %s", b - a + 1,
               dips ? "with rail dips or resets: panel power" : "with stable rails: the external input or the interlock logic");
    break; /* one finding: the first burst */
  }
}

/* ------------------------------------------------------------------ DER */

void dg_rule_der(struct dg *g)
{
  static const char *const src[] = { "pv", "ess", "ats" };
  for (int s = 0; s < 3; s++) {
    uint64_t ev[DG_EVIDENCE];
    unsigned ne = 0, count = 0;
    size_t i;
    json_t *r;
    unsigned branch = 0;
    json_array_foreach(g->records, i, r) {
      if (!is(r, "der") || strcmp(str(body(r), "source"), src[s]) || !json_is_false(json_object_get(body(r), "fresh"))) continue;
      count++;
      branch = branch_of(body(r));
      if (ne < DG_EVIDENCE) ev[ne++] = seq_of(r);
    }
    if (count)
      dg_finding(g, "stale_der", branch, ev, ne, json_pack("{s:s, s:I}", "source", src[s], "stale_records", (json_int_t)count),
                 "check the DER's status lines or its link (the source stopped answering); decisions that need it wait",
                 "the %s source went stale %u time%s: its read path failed or it stopped answering", src[s], count,
                 count == 1 ? "" : "s");
  }
  size_t i;
  json_t *r;
  bool said[DG_BRANCHES] = { false };
  json_array_foreach(g->records, i, r) {
    if (!is(r, "fault") || strcmp(str(body(r), "code"), "der_mismatch")) continue;
    unsigned n = branch_of(body(r));
    if (said[n]) continue;
    said[n] = true;
    uint64_t ev[1] = { seq_of(r) };
    dg_finding(g, "der_mismatch", n, ev, 1, json_pack("{s:s}", "detail", str(body(r), "detail")),
               "check the DER's status wiring against its branch: the state it reports contradicts the metering",
               "the DER's reported state contradicts its branch's metering: %s", str(body(r), "detail"));
  }
}

/* ------------------------------------------------------------------ PQ events and load */

void dg_rule_pq_load(struct dg *g)
{
  const char *k;
  json_t *arr;
  json_object_foreach(g->pq_windows, k, arr) {
    /* arr: {"event": rec, "before": {branch: [seq, p_mw]}, "after": {branch: [seq, p_mw]}} */
    json_t *ev = json_object_get(arr, "event"), *before = json_object_get(arr, "before"), *after = json_object_get(arr, "after");
    const char *bk;
    json_t *bv;
    json_object_foreach(before, bk, bv) {
      json_t *av = json_object_get(after, bk);
      if (!av) continue;
      int64_t pb = json_integer_value(json_array_get(bv, 1)), pa = json_integer_value(json_array_get(av, 1));
      if (pb < 100000 || pa * 2 > pb) continue; /* ≥ 100 W that fell below half */
      unsigned n = (unsigned)atoi(bk);
      uint64_t e3[3] = { seq_of(ev), (uint64_t)json_integer_value(json_array_get(bv, 0)), (uint64_t)json_integer_value(json_array_get(av, 0)) };
      char w1[32], w2[32];
      watts(w1, sizeof w1, pb);
      watts(w2, sizeof w2, pa);
      dg_finding(g, "pq_load_drop", n, e3, 3, json_pack("{s:s, s:I, s:I}", "event", str(body(ev), "kind"), "p_before_mw", (json_int_t)pb, "p_after_mw", (json_int_t)pa),
                 "a load that drops out on a sag (contactor, drive, electronics): check its ride-through or add a restart",
                 "the branch fell from %s to %s with the %s of seq %llu (%.1f %% of the declared voltage, %.0f ms) and stayed down",
                 w1, w2, str(body(ev), "kind"), (unsigned long long)seq_of(ev), (double)num(body(ev), "extreme_mpct") / 1000.0,
                 (double)num(body(ev), "duration_us") / 1000.0);
    }
  }
}

/* ------------------------------------------------------------------ load shed */

void dg_rule_load_shed(struct dg *g)
{
  size_t i;
  json_t *r;
  json_array_foreach(g->records, i, r) {
    if (!is(r, "command") || strcmp(str(body(r), "reason"), "load_shed")) continue;
    const json_t *b = body(r);
    unsigned n = target_of(b);
    if (!n) continue;
    uint64_t ev[2] = { seq_of(r), (uint64_t)num(b, "cause_seq") };
    char ph[32], lim[32];
    amps(ph, sizeof ph, num(b, "phase_ma"));
    amps(lim, sizeof lim, num(b, "limit_ma"));
    json_t *m = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "phase_ma", num(b, "phase_ma"), "limit_ma", num(b, "limit_ma"),
                          "level_permille", num(b, "level_permille"), "allowance_ms", num(b, "allowance_ms"),
                          "priority", num(b, "priority"), "rank", num(b, "rank"));
    if (num(b, "phase_ma"))
      dg_finding(g, "load_shed", n, ev, 2, m, "move loads off the phase or stagger them; raise the branch's priority if it must stay on",
                 "shed: its phase measured %s against the %s limit, over the %.0f %% level for its %.0f s allowance; priority %lld, "
                 "shed %lld%s in the order (lowest priority first)", ph, lim, (double)num(b, "level_permille") / 10.0,
                 (double)num(b, "allowance_ms") / 1000.0, (long long)num(b, "priority"), (long long)num(b, "rank"),
                 num(b, "rank") == 1 ? "st" : num(b, "rank") == 2 ? "nd" : num(b, "rank") == 3 ? "rd" : "th");
    else
      dg_finding(g, "load_shed", n, ev, 2, m, "move loads off the phase or stagger them",
                 "shed by the limiter (this record predates the measurements in shed commands: see the window of seq %llu)",
                 (unsigned long long)num(b, "cause_seq"));
  }
}

/* ------------------------------------------------------------------ drift by AFE */

static int cmp_float(const void *a, const void *b)
{
  float x = *(const float *)a, y = *(const float *)b;
  return x < y ? -1 : x > y;
}

/* An AFE whose phase voltages read consistently off the mains AFE's (the same grid, the same
 * second): the error is the AFE's front end or reference — its isolation group —, so every
 * branch it meters carries it. The median deviation (events and switching transients do not
 * move it) beyond 0.5 % over ≥ 20 windows. */
void dg_rule_afe_drift(struct dg *g)
{
  for (unsigned a = 1; a < 64; a++) {
    double worst = 0;
    unsigned n = 0;
    int wk = -1;
    for (int k = 0; k < 3; k++) {
      unsigned m = g->afe_dev[a][k].n < DG_DEV_MAX ? g->afe_dev[a][k].n : DG_DEV_MAX;
      if (m < 20) continue;
      qsort(g->afe_dev[a][k].dev, m, sizeof(float), cmp_float);
      double med = g->afe_dev[a][k].dev[m / 2];
      if (wk < 0 || (med < 0 ? -med : med) > (worst < 0 ? -worst : worst)) { worst = med; wk = k; n = g->afe_dev[a][k].n; }
    }
    if (wk < 0 || (worst < 0 ? -worst : worst) <= 0.005) continue;
    char branches[256] = "";
    size_t used = 0;
    for (unsigned b = 1; b < DG_BRANCHES && used + 8 < sizeof branches; b++)
      if (g->br[b].known && g->br[b].afe == (int)a - 1) used += (size_t)snprintf(branches + used, sizeof branches - used, "%s%u", used ? ", " : "", b);
    dg_finding(g, "afe_drift", 0, g->afe_dev[a][wk].seqs, g->afe_dev[a][wk].n < 3 ? g->afe_dev[a][wk].n : 3,
               json_pack("{s:I, s:f, s:I}", "afe", (json_int_t)a, "median_deviation_pct", worst * 100.0, "windows", (json_int_t)n),
               "check the AFE's voltage reference and its divider/protection parts, then re-run a known-load check",
               "AFE %u reads phase %c %+.2f %% off the mains AFE (median of %u windows): the error clusters on this AFE's front "
               "end, not on single branches — its branches (%s) carry it", a, 'A' + wk, worst * 100.0, n, branches[0] ? branches : "none");
  }
}
