/*
 * reduce.h — the pure reducers: state' = reduce(state, record), plus the effects a record asks
 * for. Everything the panel believes (energy, branch states, interlocks, DER freshness, alarms,
 * the request-id window) and everything it decides (a `request` becomes a command or a refusal)
 * is a deterministic fold over journal records.
 *
 * Invariants (DESIGN.md 6, STYLE.md "Reducers"):
 * - No clock, file, socket, allocator, logging or floating point; time comes from the record
 *   (`wall_ns`). The library links nothing but libc memory functions and BLAKE2b (libsodium's
 *   crypto_generichash_*); tests/replay/test_reduce_symbols checks `nm -u`.
 * - struct replay_state is fixed size and holds no pointers: memcpy it to checkpoint it.
 * - The state hash is BLAKE2b-256 over a canonical, explicitly little-endian serialisation of
 *   the state (never raw struct bytes); same records ⇒ same hash on any architecture.
 * - `seal` records are ignored entirely (the live daemon never folds its own seals), so a
 *   seal's state_hash equals replay_state_hash() after folding every record before it.
 * - Reducer versions: a journal folds under REPLAY_REDUCER_BASE until a `boot` record declares a
 *   newer version (`reducer_version`), and under that one from then on (never back). Each
 *   version's rules stay in the code, gated on s->reducer_version, so a journal sealed under an
 *   older version still verifies: a change that alters any state or hash for the same records
 *   adds a version, gates the change on it, and adds its golden hash in
 *   tests/replay/test_reduce.c; the daemon declares REPLAY_REDUCER_VERSION in its boot records.
 *
 * Threads: none; a state is used by one thread at a time.
 */
#ifndef HEMS_REDUCE_H
#define HEMS_REDUCE_H

#include <stddef.h>
#include <stdint.h>
#include "journal.h"

#ifdef __cplusplus
extern "C" {
#endif

#define REPLAY_REDUCER_VERSION 11u /* the newest rules this code knows */
#define REPLAY_REDUCER_BASE 4u    /* the rules of a journal whose boot records declare none */
/* What each version added (replay.md "Reducer versions"):
 *   5  closes after the grid returns wait for a hold-off (no relay chatter from a bouncing
 *      power-fail input), and a policy close waits while the branch is at its operations
 *      limit; the grid is present only when no source (power-fail input, transfer switch)
 *      says it is absent; the state serialisation gains REPLAY_SER_V5_TAIL bytes at its end
 *   6  a trip_tap with of_seq is the capture of an edge already folded (the daemon journals an
 *      edge at once and its capture when complete): not an edge, ignored; a
 *      fault{phase_map_mismatch} raises the branch's phase_map alarm as
 *      fault{suspected_ct_polarity} raises ct_polarity
 *   7  sensed state follows metering: a window that starts after the branch's last trip and
 *      whose smallest half-cycle current is at or above REPLAY_METERED_ON_MA says it is on (a breaker reset by hand clears breaker_open and
 *      rcd_tripped; a commanded-on branch whose sense-back was confirmed is proven again);
 *      fault{der_mismatch} raises the branch's der_mismatch alarm (held until
 *      fault{der_consistent}); alarm_ack requests clear an alarm whose condition no longer holds (reduce_alarm.c), else
 *      refuse it alarm_active / alarm_not_raised; the serialisation gains REPLAY_SER_V7_TAIL
 *   8  the protective action: a phase voltage outside the panel config's "pq" band (dip_pct,
 *      swell_pct of the nominal, from "mains") for protect_after_s opens the branches marked
 *      sensitive (layer PROTECT, command reason protect); they close once every phase has been
 *      back inside the band, narrowed by hysteresis_pct, for the restore hold-off; the
 *      serialisation gains REPLAY_SER_V8_TAIL
 *   9  rollups: every clock-aligned 15 minutes per branch and phase (reduce_rollup.c), closed
 *      into a REPLAY_EFFECT rollup the harness journals as a `rollup` record (replay --check
 *      compares them); rollup records are outputs of the fold, like commands (no policy pass
 *      after them); the serialisation gains the rollup accumulators (replay_ser_tail)
 *  10  DER commands (reduce_der.c): a `der` request (source, connect / disconnect / limit /
 *      charge_limit / discharge_limit, permille) becomes a command whose target is the source's
 *      branch, or a refusal (role, expired, unknown_target: no der record via SunSpec from the
 *      source yet, stale: not being read, rate_limit: within 10 s of the source's last command,
 *      backfeed / interlock: connect with the grid absent, a backfeed risk, the source's or the
 *      transfer switch's interlock open);
 *      the command changes no branch; a sense_back with actuator sunspec naming it proves it or
 *      not; the serialisation gains each source's command state (REPLAY_SER_V10_TAIL)
 *  11  a policy close that waits at the branch's operations limit is journaled once per wait as a
 *      refusal with reason deferred (cause_seq: the record it waited at; ops, ops_limit); the
 *      battery (reduce_ess.c): with an ESS and its permit line in the config, the fold drives the
 *      permit to run as a DER command (der ess, connect / disconnect, reason backup / interlock):
 *      on when the transfer switch isolates the house on backup and the battery reports no alarm,
 *      off (emergency disconnect) on a battery alarm or an outage nothing isolates, on again
 *      after the DER hold-off once the grid is back; on backup the loads are shed (layer BACKUP,
 *      reason backup) lowest priority first to the battery's rated power (der.ess.max_w); the
 *      serialisation gains REPLAY_SER_V11_TAIL;
 *      and measured leakage and temperature (reduce_analog.c): fault{leakage_high},
 *      fault{over_temperature} and fault{temperature_rise} (a tap's analog source past its
 *      threshold or rise rate) raise the tap's branch's alarm of that name (the panel's for a
 *      panel-wide tap), held until fault{leakage_ok} / {temperature_ok} / {temperature_rise_ok}
 *      (alarm_ack's condition); leakage_high on a branch is leakage evidence for a trip;
 *      alarm_ack may name the three (an older version refuses them invalid); the serialisation
 *      gains the held conditions (REPLAY_SER_V11_ANALOG) */
#define REPLAY_GRID_BY_POWER_FAIL 1u /* grid_absent bits */
#define REPLAY_GRID_BY_ATS 2u

#define REPLAY_BRANCHES_MAX 48        /* the full-panel configuration */
#define REPLAY_PHASES 4               /* A, B, C, N */
#define REPLAY_DER_SOURCES 3          /* pv, ess, ats */
#define REPLAY_REQUEST_ID_MAX 64      /* bytes; a longer id is refused `invalid` */
#define REPLAY_REQ_WINDOW_IDS 4096    /* request-id window: at most this many ids … */
#define REPLAY_REQ_WINDOW_NS (24ll * 3600 * 1000000000ll) /* … and none older than this */
#define REPLAY_EFFECTS_MAX 4
#define REPLAY_DER_MAX_AGE_NS (10ll * 1000000000ll)       /* default DER freshness limit */
#define REPLAY_TRIP_EVIDENCE_NS (10ll * 1000000000ll)     /* evidence must precede a trip by ≤ this */
#define REPLAY_OVERLOAD_MA 16000      /* rms above this in a window is overload evidence */
#define REPLAY_METERED_ON_MA 250      /* v 7: rms at or above this in a window: the branch is on
                                         (the sense-back's current_on default, actuators.h) */
#define REPLAY_CT_NOISE_MW 5000       /* v 7: power below -5 W on a branch nothing feeds: CT polarity */

/* Policy (docs/policy.md): defaults; the per-branch fields come from `config` records. */
#define REPLAY_DR_EVENTS 8                /* DR events held at once */
#define REPLAY_OPS_RING 8                 /* command times kept per branch for the rate limit */
#define REPLAY_DEFAULT_OPS_PER_MIN 6      /* rated operations per minute (rate_limit above) */
#define REPLAY_DEFAULT_STAGGER_NS (2ll * 1000000000ll)   /* between two closes of a rolling restore */
#define REPLAY_DEFAULT_RESTORE_PERMILLE 900              /* restore only while load + branch <= 90 % */
#define REPLAY_DEFAULT_MIN_UNDER_NS (10ll * 1000000000ll) /* … for this long (class 71 min_under) */
/* v 5: closes after the grid returns wait until it has stayed present this long (a bouncing
 * power-fail input must never chatter a relay): loads 10 s; a branch with DER behind it IEEE
 * 1547-2018's reconnection delay, 300 s. Opens are never delayed. */
#define REPLAY_DEFAULT_RESTORE_HOLDOFF_NS (10ll * 1000000000ll)
#define REPLAY_DEFAULT_DER_HOLDOFF_NS (300ll * 1000000000ll)
#define REPLAY_HOLDOFF_STEP_MAX_NS (2ll * 1000000000ll) /* windows come every ≤ 1 s */
#define REPLAY_DEFAULT_PQ_LOW_PERMILLE 900   /* v 8: IEC 61000-4-30's dip threshold, 90 % */
#define REPLAY_DEFAULT_PQ_HIGH_PERMILLE 1100 /* … and swell threshold, 110 % */
#define REPLAY_DEFAULT_PQ_HYST_PERMILLE 20   /* … and hysteresis, 2 % */
#define REPLAY_DEFAULT_PROTECT_NS (60ll * 1000000000ll) /* IEEE 1159: sustained after 1 min */
#define REPLAY_MIN_PROTECT_NS (10ll * 1000000000ll)     /* floors a config cannot go below: no relay */
#define REPLAY_MIN_HOLDOFF_NS (5ll * 1000000000ll)      /* … chatters on a hostile or careless one */
#define REPLAY_PROTECT_BACKOFF_MAX 6  /* the restore wait doubles per trip within an hour, up to 64x */
#define REPLAY_DEFAULT_SERVICE_MODE 1     /* COSEM class 70 control_mode */
#define REPLAY_ALLOWANCE_LEVELS 4

/* Arbitration layers that demand OFF (a set bit). The operator / automation layer is the
 * branch's `want`; the service disconnect is its own target with its own state machine. */
enum replay_layer {
  REPLAY_LAYER_FAIL_SAFE = 1u << 0,  /* safety: grid lost, fail-open branch held open until restore */
  REPLAY_LAYER_DR = 1u << 1,         /* demand response (time-bounded, auto-revert) */
  REPLAY_LAYER_SHED = 1u << 2,       /* service-limit load shedding (auto-revert with hysteresis) */
  REPLAY_LAYER_PROTECT = 1u << 3,    /* v 8: a sustained over/under-voltage holds sensitive branches open */
  REPLAY_LAYER_BACKUP = 1u << 4      /* v 11: on backup, shed to the battery's rated power */
};

/* COSEM class 70 control_state. */
enum replay_service_state { REPLAY_SVC_DISCONNECTED = 0, REPLAY_SVC_CONNECTED = 1, REPLAY_SVC_READY = 2 };

/* DR event status (IEEE 2030.5 EndDeviceControl words). */
enum replay_dr_status { REPLAY_DR_FREE = 0, REPLAY_DR_SCHEDULED, REPLAY_DR_ACTIVE, REPLAY_DR_COMPLETED,
                        REPLAY_DR_CANCELLED, REPLAY_DR_OPTED_OUT };

/* Why a DEFERRED effect holds a request without a command now. */
enum replay_defer_reason { REPLAY_DEFER_ACCEPTED = 0, REPLAY_DEFER_OVERRIDDEN, REPLAY_DEFER_SUPPLY_LOW,
                           REPLAY_DEFER_ARMED };

/* Branch / service state values. */
enum replay_onoff { REPLAY_UNKNOWN = 0, REPLAY_OFF = 1, REPLAY_ON = 2 };

/* Sense-back verdicts (CLI.md `sense_back.body.verdict`); also the branch `fault`. */
enum replay_verdict {
  REPLAY_V_NONE = 0, REPLAY_V_CONFIRMED, REPLAY_V_WELDED, REPLAY_V_STUCK_OPEN, REPLAY_V_LEAKAGE,
  REPLAY_V_NO_FEEDBACK, REPLAY_V_CHATTER
};

/* Alarm bits (branch alarms and panel alarms share the numbering). */
enum replay_alarm {
  REPLAY_ALARM_WELDED = 1u << 0,
  REPLAY_ALARM_CT_POLARITY = 1u << 1,   /* fault{suspected_ct_polarity} or a negative energy delta */
  REPLAY_ALARM_PHASE_MAP = 1u << 2,     /* a branch measured on another phase than first seen */
  REPLAY_ALARM_UNEXPLAINED_TRIP = 1u << 3,
  REPLAY_ALARM_STALE_DER = 1u << 4,
  REPLAY_ALARM_BACKFEED_RISK = 1u << 5,
  REPLAY_ALARM_DER_MISMATCH = 1u << 6,  /* v 7: fault{der_mismatch}: a DER's state contradicts its branch's metering */
  REPLAY_ALARM_LEAKAGE_HIGH = 1u << 7,  /* v 11: fault{leakage_high}: a leakage tap's measured current */
  REPLAY_ALARM_OVER_TEMPERATURE = 1u << 8, /* v 11: fault{over_temperature}: a temperature tap's value */
  REPLAY_ALARM_TEMPERATURE_RISE = 1u << 9, /* v 11: fault{temperature_rise}: its rise over a minute */
  REPLAY_ALARMS = 10,                   /* how many (bits 0 .. REPLAY_ALARMS-1) */
  /* the ones a branch carries (the others are the panel's; the analog ones are either: a tap
   * names a branch or none) */
  REPLAY_ALARMS_BRANCH = REPLAY_ALARM_WELDED | REPLAY_ALARM_CT_POLARITY | REPLAY_ALARM_PHASE_MAP |
                         REPLAY_ALARM_UNEXPLAINED_TRIP | REPLAY_ALARM_DER_MISMATCH | REPLAY_ALARM_LEAKAGE_HIGH |
                         REPLAY_ALARM_OVER_TEMPERATURE | REPLAY_ALARM_TEMPERATURE_RISE
};

/* v 11: analog_held bits (a branch's and the panel's): the fault that raised the alarm has not
 * been ended by its `…_ok` fault. */
enum replay_held { REPLAY_HELD_LEAKAGE = 1u << 0, REPLAY_HELD_OVER_TEMPERATURE = 1u << 1,
                   REPLAY_HELD_TEMPERATURE_RISE = 1u << 2 };

/* One branch: what was commanded, what was sensed, whether the last command is proven. */
struct replay_branch {
  uint8_t commanded;      /* enum replay_onoff */
  uint8_t sensed;         /* enum replay_onoff */
  uint8_t proven;         /* 1: the last sense-back confirmed the commanded state */
  uint8_t fault;          /* enum replay_verdict of the last non-confirmed sense-back, else NONE */
  uint8_t breaker_open;   /* an mcb/afci trip tap, cleared by a sense-back that reads on */
  uint8_t rcd_tripped;    /* an rcd/leakage trip tap, cleared likewise */
  uint8_t phase;          /* enum journal_phase + 1; 0 = not yet measured */
  uint8_t phase_now;      /* v 7: the last window's phase + 1 (0 none): phase_map's condition */
  uint32_t alarms;        /* enum replay_alarm bits */
  uint32_t trips;
  int64_t import_uwh;     /* never decreases */
  int64_t export_uwh;     /* never decreases */
  int64_t p_mw;           /* last window's active power */
  int32_t irms_ma;        /* last window's current */
  uint64_t pending_seq;   /* command seq still awaiting its sense-back; 0 none */
  uint64_t last_command_seq;
  int64_t evidence_wall_ns; /* last overload / inrush / leakage evidence; 0 none */
  int64_t open_wall_ns;   /* v 7: record time of the trip tap that opened it: only a window that
                             starts after it is metering of the branch since (one journaled after
                             the tap may hold samples from before the trip) */
  /* policy */
  uint8_t want;           /* operator / automation layer: enum replay_onoff (UNKNOWN: none yet) */
  uint8_t layers;         /* enum replay_layer bits demanding OFF */
  uint8_t priority;       /* config: 0 = shed first */
  uint8_t critical;       /* config: never shed, never DR */
  uint8_t fail_safe;      /* config: 0 open, 1 closed, 2 last_proven */
  uint8_t exports;        /* config (!load_only) or a DER feeds it: closing it with the grid absent backfeeds */
  uint8_t deferred;       /* the operator's `want` waits (supply low): its command cites want_seq */
  uint8_t load_v;         /* last sense-back saw load-side voltage while the branch was open */
  uint8_t restore_due;    /* the last layer let go: revert to `want` (rolling restore) */
  uint8_t der_mismatch;   /* v 7: fault{der_mismatch} not yet followed by fault{der_consistent} */
  uint8_t sensitive;      /* v 8, config: opened by the protective action */
  uint8_t analog_held;    /* v 11: REPLAY_HELD_* bits: the daemon's fault not yet ended
                             (reduce_analog.c) */
  uint8_t suspect;        /* v 7: REPLAY_ALARM_CT_POLARITY / PHASE_MAP raised by the daemon's detector
                             or a window; held until a boot or config record (the detector then
                             runs afresh): their acknowledgement's condition */
  uint8_t defer_noted;    /* v 11: this wait at the operations limit is journaled (refusal deferred) */
  uint16_t breaker_a;     /* config */
  uint8_t want_id_len;
  uint8_t ops_head;       /* ring index of the oldest entry of ops_ns */
  int32_t shed_ma;        /* its current when shed (restore predicts with it) */
  uint64_t want_seq;      /* the request that set `want` */
  char want_id[REPLAY_REQUEST_ID_MAX];
  int64_t ops_ns[REPLAY_OPS_RING]; /* wall times of its last commands (rate limit) */
};

/* v 9: a 15-minute interval being summarised (reduce_rollup.c). Windows count in the interval
 * their start_ns falls in; two intervals are open at once so a window of one AFE may still
 * arrive after another AFE's first window of the next interval; the older one closes when a window
 * starts REPLAY_ROLLUP_GRACE_NS past its end (or two intervals past it). */
#define REPLAY_ROLLUP_NS (900ll * 1000000000ll)
#define REPLAY_ROLLUP_GRACE_NS (10ll * 1000000000ll)
#define REPLAY_ROLLUP_PHASES 3 /* A, B, C */
struct replay_rollup_branch {
  int64_t import_uwh, export_uwh;
  int64_t p_min_mw, p_max_mw, p_sum_mw;
  uint32_t windows, events, trips, commands;
};
struct replay_rollup_phase {
  int32_t v_min_mv, v_max_mv;
  int64_t v_sum_mv;
  uint32_t windows;
  uint32_t reserved;
};
struct replay_rollup_slot {
  uint8_t open;
  uint8_t reserved[3];
  uint32_t late_windows;
  int64_t start_ns;
  uint64_t first_seq;
  struct replay_rollup_branch br[REPLAY_BRANCHES_MAX];
  struct replay_rollup_phase ph[REPLAY_ROLLUP_PHASES];
};

/* One demand-response event (OpenADR event id + modification number). */
struct replay_dr_event {
  uint8_t id_hash[16];
  uint8_t status;         /* enum replay_dr_status */
  uint8_t mandatory;
  uint8_t reserved[2];
  uint32_t modification;
  uint32_t reduce_w;
  int64_t start_ns, end_ns;
  uint64_t branch_mask;   /* as requested */
  uint64_t applied_mask;  /* branches it holds open while active */
  uint64_t request_seq;   /* the dr_start that set it (an equal modification replies with it) */
};

/* Panel-wide policy state: service disconnect, supply, outage, limiter, rolling restore, DR. */
struct replay_policy {
  uint8_t svc_state;      /* enum replay_service_state */
  uint8_t svc_mode;       /* control_mode 0..6 */
  uint8_t supply_low;     /* actuation impossible: commands wait */
  uint8_t outage;         /* grid lost: fail-open branches held open */
  uint8_t shedding;       /* the allowance ran out: shed until < 100 % */
  uint8_t ops_per_min;
  uint16_t service_limit_a; /* main breaker rating (config) */
  int32_t load_ma;        /* highest phase: sum of its branch currents */
  uint32_t load_permille; /* load_ma / service limit */
  int64_t over_since_ns[REPLAY_ALLOWANCE_LEVELS]; /* load >= level since (0: below) */
  uint32_t level_permille[REPLAY_ALLOWANCE_LEVELS];
  int64_t allowance_ns[REPLAY_ALLOWANCE_LEVELS];
  int64_t under_since_ns; /* a shed branch fits back since (0: not) */
  int64_t last_close_ns;  /* the last policy close (stagger) */
  int64_t stagger_ns, min_under_ns;
  int64_t stable_last_ns; /* v 5: record time of the last record folded during a hold-off */
  int64_t stable_for_ns;  /* v 5: how long the grid has stayed present since it returned, summed
                             over record-time steps of at most REPLAY_HOLDOFF_STEP_MAX_NS (a
                             clock that jumps forward, or back and forth, does not end it) */
  uint8_t holding;        /* v 5: a hold-off runs (the grid returned; not yet past both) */
  int64_t holdoff_ns, der_holdoff_ns; /* v 5: closes wait this long after it (loads, DER branches) */
  uint32_t restore_permille;
  uint64_t sheds, restores;
  /* v 8: the protective action (config "pq" and "mains"; docs/policy.md "Protective action") */
  int32_t nominal_mv;     /* 0: no config yet, no protection */
  uint16_t pq_low_permille, pq_high_permille, pq_hyst_permille;
  uint8_t protecting;     /* sensitive branches are held open */
  uint8_t mains_afe;      /* the AFE (journal number) whose windows are the voltage source: the
                             config's mains AFE, else 1 (one source per phase: no alternation) */
  uint8_t pq_out[3];      /* per phase A..C: out of the band (set out, cleared back inside) */
  uint8_t protect_trips;  /* protective trips within an hour of the one before */
  int64_t protect_ns;     /* how long a phase stays out of the band before they open */
  int64_t pq_out_for_ns[3]; /* per phase: how long out, summed over record-time steps of at most
                               REPLAY_HOLDOFF_STEP_MAX_NS (a clock step neither fires nor delays it) */
  int64_t pq_ok_for_ns;   /* protecting: how long every phase has been back, likewise summed */
  int64_t pq_last_ns;     /* the record time pq_protect last saw */
  int64_t protect_trip_ns;/* record time of the last protective trip */
  /* v 11: the battery (reduce_ess.c; config "der": "ess" and "lines"."ess_permit") */
  uint8_t ess_permit_line; /* the config names an ESS with a permit-to-run line */
  uint8_t permit;          /* enum replay_onoff: the permit the fold last commanded */
  uint16_t ess_branch;     /* the battery's branch (config der.ess.branch; 0 none) */
  uint32_t ess_max_w;      /* its rated power (config der.ess.max_w) */
  uint8_t permit_ops_head; /* ring index of the oldest entry of permit_ops_ns */
  int64_t permit_ops_ns[REPLAY_OPS_RING]; /* record times of the last permit commands: an on waits
                                             at ops_per_min in 60 s, as a branch's close does */
  struct replay_dr_event dr[REPLAY_DR_EVENTS];
};

/* A DER source (pv, ess, ats) as last reported, with freshness judged on record time. */
struct replay_der {
  uint8_t seen;
  uint8_t interlock_ok;
  uint8_t fresh;          /* the source's own flag AND not older than max_age */
  uint8_t stale;          /* judged by the reducer from record time */
  uint32_t state_code;    /* enum journal_der_state */
  uint64_t last_seq;
  int64_t last_wall_ns;
  int64_t max_age_ns;
  /* v 10: DER commands (reduce_der.c). A source is commandable once a `der` record via SunSpec
   * came from it (a bridge reads it, so a bridge can write it); its last command and whether a
   * sense_back (actuator sunspec) proved it. */
  uint8_t sunspec;        /* a der record via sunspec was folded */
  uint8_t cmd_state;      /* enum replay_der_cmd_state */
  uint8_t cmd_action;     /* enum journal_der_action of the last command */
  uint8_t reserved;
  uint16_t branch;        /* the branch its der records name (the command's target) */
  uint16_t cmd_permille;
  uint64_t cmd_seq;       /* the last DER command's seq; 0 none */
  int64_t cmd_wall_ns;    /* its record time: the next waits REPLAY_DER_CMD_MIN_NS */
};
#define REPLAY_DER_CMD_MIN_NS (10ll * 1000000000ll) /* v 10: DER commands to one source at most one per 10 s */
enum replay_der_cmd_state { REPLAY_DERCMD_NONE = 0, REPLAY_DERCMD_PENDING, REPLAY_DERCMD_CONFIRMED, REPLAY_DERCMD_FAILED };

/* One request id in the bounded window: the outcome a repeat gets. */
struct replay_req_entry {
  uint8_t id_hash[16];    /* BLAKE2b-128 of the request id text */
  uint8_t body_hash[16];  /* BLAKE2b-128 of the decision-relevant body (target, desired, expiry) */
  uint64_t request_seq;
  uint64_t outcome_seq;   /* the command/refusal record that answered it; 0 not yet folded */
  int64_t wall_ns;
  uint8_t outcome;        /* enum replay_effect_kind: COMMAND or REFUSAL */
  uint8_t reason;         /* journal_command_reason or journal_refusal_reason */
  uint8_t reserved[6];
};

struct replay_state {
  uint32_t reducer_version;     /* REPLAY_REDUCER_BASE at init; raised by `boot` records */
  uint32_t config_version;      /* from the last boot/config record */
  uint64_t seq;                 /* last non-seal record folded */
  int64_t wall_ns;              /* its wall time */
  uint64_t records, windows, requests, commands, refusals, faults, sense_backs, trip_taps, der_updates;
  uint16_t nbranches;           /* highest branch number seen (<= REPLAY_BRANCHES_MAX) */
  uint8_t service_commanded;    /* enum replay_onoff of the service disconnect */
  uint8_t grid_present;         /* 0 unknown, 1 absent, 2 present (power-fail input, ats der) */
  uint8_t grid_absent;          /* v 5: the sources saying the grid is absent (REPLAY_GRID_BY_*):
                                   present only when none does; v 4: the last report wins */
  uint8_t transfer_state;       /* enum journal_transfer + 1 (0 unknown) */
  uint8_t backfeed_risk;        /* a DER is on without interlock_ok */
  uint8_t analog_held;          /* v 11: as replay_branch's, for panel-wide taps */
  uint8_t reserved[1];
  uint32_t alarms;              /* panel alarms (enum replay_alarm) */
  uint64_t service_pending_seq;
  int64_t phase_import_uwh[REPLAY_PHASES];
  int64_t phase_export_uwh[REPLAY_PHASES];
  struct replay_branch br[REPLAY_BRANCHES_MAX]; /* br[n-1] is branch n */
  struct replay_der der[REPLAY_DER_SOURCES];
  struct replay_policy pol;
  uint32_t req_head;            /* ring index of the oldest entry */
  uint32_t req_count;
  struct replay_req_entry req[REPLAY_REQ_WINDOW_IDS];
  struct replay_rollup_slot roll[2]; /* v 9: roll[0] the older open interval, roll[1] the next */
};

/* Effects: what the fold asks the I/O shell to do (live) or what replay compares (offline). */
enum replay_effect_kind {
  REPLAY_EFFECT_COMMAND = 1, /* append a command record, then actuate */
  REPLAY_EFFECT_REFUSAL = 2, /* append a refusal record */
  REPLAY_EFFECT_REPLY = 3,   /* a repeat of a known request: answer the stored outcome, nothing new */
  REPLAY_EFFECT_DEFERRED = 4 /* a request accepted without a command now (reason: enum
                                replay_defer_reason); no record is appended for it — a later
                                record's command carries the request's seq as cause_seq */
};
struct replay_effect {
  uint8_t kind;              /* enum replay_effect_kind */
  uint8_t reason;            /* command or refusal reason (REPLY: the stored one) */
  uint8_t desired;           /* enum journal_desired */
  uint8_t stored_kind;       /* REPLY: the stored outcome's kind */
  uint16_t target;           /* branch or JOURNAL_TARGET_SERVICE */
  uint64_t cause_seq;        /* the request's seq */
  uint64_t stored_seq;       /* REPLY: the original request's seq; its outcome record's seq if known */
  uint64_t stored_outcome_seq;
  uint8_t request_id_len;
  char request_id[REPLAY_REQUEST_ID_MAX];
  /* The measurements behind the decision (journal_command's and journal_refusal's "why"
   * fields, 0: none): the command record carries them, replay --check compares them. */
  int64_t phase_ma, limit_ma;
  uint32_t level_permille, allowance_ms, holdoff_ms, stagger_ms, ops, ops_limit;
  uint8_t priority, rank;
  uint8_t der, der_action;   /* v 10: a DER command's (journal_command's der fields) */
  uint16_t der_permille;
};
/* v 9: the rollups a record closed (at most the two open intervals), journaled after its
 * command/refusal records as `rollup` records. */
#define REPLAY_ROLLUPS_MAX 2
struct replay_effects {
  uint32_t n;
  struct replay_effect e[REPLAY_EFFECTS_MAX];
  uint32_t nrollup;
  struct journal_rollup rollup[REPLAY_ROLLUPS_MAX];
};

/* Fills *s with the initial state (every byte defined, padding included, so two states that
 * compare equal by replay_state_hash also memcmp equal). */
void replay_state_init(struct replay_state *s);

/* Folds one decoded record into s and fills *out (out->n = 0 when nothing is asked).
 * Records must be folded in seq order; seals are ignored (out->n = 0, s unchanged). Unknown
 * or malformed bodies are counted and otherwise ignored — the fold never fails. out may be NULL. */
void replay_apply(struct replay_state *s, const struct journal_record *r, struct replay_effects *out);

/* BLAKE2b-256 over the canonical little-endian serialisation of s. */
void replay_state_hash(const struct replay_state *s, uint8_t out[32]);

/* Bytes of the canonical serialisation (for the state-memory report and tests). */
size_t replay_state_serialised_len(const struct replay_state *s);

/* The canonical serialisation itself (what replay_state_hash hashes) into out: returns its
 * length; out holds it only when that is <= cap. A statement carries states this way
 * (docs/replay.md "Canonical state"): portable, and its BLAKE2b-256 is the seal's state_hash. */
size_t replay_state_serialise(const struct replay_state *s, uint8_t *out, size_t cap);
/* Offsets into it (little-endian): the tag "hems.state.v3" (16 bytes, NUL padded), reducer
 * version u32, seq u64, wall_ns i64, nbranches u16; branch n's (1-based) import_uwh and
 * export_uwh (i64) at BRANCH_OFF + (n-1)·BRANCH_BYTES + IMPORT / + EXPORT; the request-window
 * count u32 at FIXED, followed by that many entries of REQ_BYTES, then (reducer v 5 and later)
 * V5_TAIL bytes and (v 7 and later) V7_TAIL bytes: the length is exactly FIXED + 4 + count·REQ_BYTES + replay_ser_tail(s).
 * tests/cli/test_statement.c checks these against the serialiser. */
#define REPLAY_SER_TAG "hems.state.v3"
#define REPLAY_SER_REDUCER_OFF 16
#define REPLAY_SER_SEQ_OFF 24
#define REPLAY_SER_WALL_OFF 32
#define REPLAY_SER_NBRANCHES_OFF 112
#define REPLAY_SER_BRANCH_OFF 194
#define REPLAY_SER_BRANCH_BYTES 67
#define REPLAY_SER_BRANCH_IMPORT 15
#define REPLAY_SER_BRANCH_EXPORT 23
#define REPLAY_SER_FIXED 11526u
#define REPLAY_SER_REQ_BYTES 58u
#define REPLAY_SER_V5_TAIL 34u /* stable_last_ns, stable_for_ns, holdoff_ns, der_holdoff_ns (i64),
                                  grid_absent, holding (u8) */
#define REPLAY_SER_V7_TAIL (11u * REPLAY_BRANCHES_MAX) /* after the v 5 tail: each branch's phase_now
                                                       (u8), open_wall_ns (i64), der_mismatch, suspect (u8) */
#define REPLAY_SER_V8_TAIL (4u + 3 * 2u + 1u + 1u + 3u + 1u + 8u + 3 * 8u + 8u + 8u + 8u + REPLAY_BRANCHES_MAX) /* nominal_mv,
  the three permilles, protecting, mains_afe, pq_out[3], protect_trips, protect_ns, pq_out_for_ns[3],
  pq_ok_for_ns, pq_last_ns, protect_trip_ns, each branch's sensitive */
/* v 9: after the v 8 tail, each of the two rollup slots: open (u8), and when open start_ns (i64),
 * first_seq (u64), late_windows (u32), each branch's import, export, p_min, p_max, p_sum (i64) and
 * windows, events, trips, commands (u32), each phase's v_min, v_max (i32), v_sum (i64), windows
 * (u32). A closed slot is one byte, so the tail's length depends on the state. */
#define REPLAY_SER_V9_SLOT (8u + 8u + 4u + 56u * REPLAY_BRANCHES_MAX + 20u * REPLAY_ROLLUP_PHASES)
/* v 10: after the v 9 tail, each DER source's (pv, ess, ats) sunspec, cmd_state, cmd_action (u8),
 * branch, cmd_permille (u16), cmd_seq (u64), cmd_wall_ns (i64). */
#define REPLAY_SER_V10_TAIL (23u * REPLAY_DER_SOURCES)
/* v 11: after the v 10 tail, each branch's defer_noted (u8), then ess_permit_line, permit (u8),
 * ess_branch (u16), ess_max_w (u32), permit_ops_head (u8), permit_ops_ns (8 × i64); then
 * REPLAY_SER_V11_ANALOG: the panel's analog_held, then each branch's (u8). */
#define REPLAY_SER_V11_TAIL (REPLAY_BRANCHES_MAX + 9u + 8u * REPLAY_OPS_RING)
#define REPLAY_SER_V11_ANALOG (1u + REPLAY_BRANCHES_MAX)
#define REPLAY_SER_MAX (REPLAY_SER_FIXED + 4u + REPLAY_REQ_WINDOW_IDS * REPLAY_SER_REQ_BYTES + REPLAY_SER_V5_TAIL + \
                        REPLAY_SER_V7_TAIL + REPLAY_SER_V8_TAIL + 2u * (1u + REPLAY_SER_V9_SLOT) + REPLAY_SER_V10_TAIL + \
                        REPLAY_SER_V11_TAIL + REPLAY_SER_V11_ANALOG)
static inline size_t replay_ser_tail_of(uint32_t reducer_version, unsigned open_slots)
{
  return (reducer_version >= 5 ? REPLAY_SER_V5_TAIL : 0) + (reducer_version >= 7 ? REPLAY_SER_V7_TAIL : 0) +
         (reducer_version >= 8 ? REPLAY_SER_V8_TAIL : 0) +
         (reducer_version >= 9 ? 2u + open_slots * REPLAY_SER_V9_SLOT : 0) + (reducer_version >= 10 ? REPLAY_SER_V10_TAIL : 0) +
         (reducer_version >= 11 ? REPLAY_SER_V11_TAIL + REPLAY_SER_V11_ANALOG : 0);
}
static inline size_t replay_ser_tail(const struct replay_state *s)
{
  return replay_ser_tail_of(s->reducer_version, (unsigned)s->roll[0].open + s->roll[1].open);
}

/* Names for printing (static strings). */
const char *replay_onoff_name(unsigned v);
const char *replay_verdict_name(unsigned v);
const char *replay_command_reason_name(unsigned v);
const char *replay_refusal_reason_name(unsigned v);
const char *replay_defer_reason_name(unsigned v);
const char *replay_service_state_name(unsigned v);
const char *replay_dr_status_name(unsigned v);
/* Writes alarm names ("welded,ct_polarity") into buf; returns buf. */
const char *replay_alarm_names(uint32_t bits, char *buf, size_t cap);
/* The name of alarm bit `bit` (REPLAY_ALARM_* = 1 << bit), NULL past the last. */
const char *replay_alarm_name(unsigned bit);

#ifdef __cplusplus
}
#endif
#endif
