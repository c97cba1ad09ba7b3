/*
 * actuators.h — the proof loop's hardware half: actuator drivers over GPIO lines, sense-back
 * verdicts from independent evidence, trip taps and DER status lines, and a harness that
 * drives the whole loop on the simulated panel. The only public header of actuators/.
 *
 * Design overview
 * ---------------
 * - A driver only *executes*: policy (arbitration, interlocks, load shed, DR, service
 *   disconnect modes) lives in the reducers (replay/reduce/). A decision reaches this library as
 *   a `command` record the caller has appended; actuator_execute() refuses to touch a line
 *   unless it is told that record's seq AND a durable seq covering it (DESIGN.md invariant 7:
 *   no actuation without a durable command first). It returns the `actuation` body to journal.
 * - Every executed command opens a sense window on its actuator. actuator_poll() closes it with
 *   a `sense_back` body — confirmed early once the evidence is consistent and quiet for
 *   settle_ms, otherwise at the per-type deadline with the verdict the evidence gives (welded,
 *   stuck_open, leakage, chatter, no_feedback). So every command gets exactly one sense-back.
 * - Evidence is independent of the output line: the aux contact (power-good for an eFuse), read
 *   from GPIO edge events and debounced here in software on the kernel timestamps; the branch
 *   current from metering, fed by the caller (actuator_feed_current: a fast RMS path such as
 *   struct actuator_rms over waveform samples, or AFE register reads); the load-side voltage
 *   sense line where wired. Thresholds: struct actuator_thresholds (defaults documented there
 *   and in docs/actuators.md).
 * - A command to the state already held performs no line change (no coil energy, no pulse) and
 *   still gets a sense window and a confirmation (or whatever the evidence says).
 * - Outputs are requested once, at actuator_set_init, with the initial logical values the caller
 *   rebuilt (the kernel reverts outputs when the request fd closes). Latching relays rest with
 *   both coils off; their held position is the caller's rebuilt state.
 * - Errors: 0 or a negative code: a negated errno, an HW_E* code passed up from hw/, or one of
 *   the ACTUATOR_E* codes below; actuator_strerror() names each. Library code never prints.
 * - Memory: caller-owned structs with init/deinit (deinit accepts a zeroed struct), bounded
 *   arrays sized by HW_MAX_BRANCHES / HW_MAX_TAPS; no allocation per event or per sample.
 *   The harness allocates once at init (simulator, journal).
 * - Time: every function takes now_ns on the caller's monotonic clock (the simulator's virtual
 *   clock under --sim); GPIO event timestamps must be on the same clock (the default
 *   CLOCK_MONOTONIC event clock). The library never reads a clock.
 * - Threads: one struct must not be used from two threads at once.
 *
 * Daemon order (one loop iteration): actuator_taps_poll + actuator_poll (read inputs) →
 * append the trip_tap/der/sense_back bodies they return → feed current samples → when the
 * reducer decides: append the command, and once durable, actuator_execute → append the
 * actuation body. Arm a timer for actuator_next_due_ns().
 */
#ifndef HEMS_ACTUATORS_H
#define HEMS_ACTUATORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw.h"
#include "journal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/* X(name, value, message). Values are below -4095 (never a -errno) and apart from hw/journal. */
#define ACTUATOR_ERRORS(X)                                                                    \
  X(ACTUATOR_ENOTDURABLE, -31001, "command record is not durable (no actuation without it)")  \
  X(ACTUATOR_ESTALE,      -31002, "command seq not newer than the last one executed here")    \
  X(ACTUATOR_EBUSY,       -31003, "a sense window is still open on this actuator")            \
  X(ACTUATOR_ENOTARGET,   -31004, "no such branch or no service disconnect in the panel")     \
  X(ACTUATOR_ENOLINE,     -31005, "actuator has no output line configured")                   \
  X(ACTUATOR_EINVAL,      -31006, "invalid argument")                                         \
  X(ACTUATOR_ETOOMANY,    -31007, "too many lines for the bounded line requests")             \
  X(ACTUATOR_EHARNESS,    -31008, "harness: simulator or journal step failed")

enum actuator_error {
#define ACTUATOR__ENUM(n, v, m) n = v,
  ACTUATOR_ERRORS(ACTUATOR__ENUM)
#undef ACTUATOR__ENUM
};

/* Message for 0, a negative errno, an ACTUATOR_E*, HW_E* or JOURNAL_E* code. Static, never NULL. */
const char *actuator_strerror(int err);

/* ------------------------------------------------------------------------------------------ */
/* Thresholds                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/* Index of per-type tables: enum hw_actuator_type, then the service disconnect. */
#define ACTUATOR_TYPES 6
#define ACTUATOR_TYPE_SERVICE 5

struct actuator_thresholds {
  uint32_t current_on_ma;      /* rms at or above: current flows (closed). Default 250 mA */
  uint32_t current_zero_ma;    /* rms at or below: no current. Between the two with the switch
                                  commanded open: residual current = leakage. Default 20 mA */
  uint32_t aux_debounce_us;    /* aux / sense inputs: a level counts once stable this long.
                                  Default 10000 (contact bounce is a few ms) */
  uint32_t chatter_edges;      /* debounced aux transitions beyond the one a move expects that
                                  make the window `chatter`. Default 2 */
  uint32_t settle_ms;          /* early confirmation: all evidence agrees and nothing changed for
                                  this long (and a current sample newer than that). Default 80 */
  uint32_t sample_max_age_ms;  /* a current sample older than this is not evidence. Default 250 */
  uint32_t pulse_ms;           /* latching coil pulse width. Default 50 (>= 3 x 15 ms operate) */
  uint32_t deadline_ms[ACTUATOR_TYPES]; /* verdict at the latest this long after actuation.
                                  Defaults: monostable 250, latching 300, contactor 300,
                                  ssr 150, efuse 150, service 400 */
};

/* Fills the defaults above. */
void actuator_thresholds_default(struct actuator_thresholds *t);

/* ------------------------------------------------------------------------------------------ */
/* Fast RMS path (optional helper)                                                             */
/* ------------------------------------------------------------------------------------------ */

/* Integer per-cycle RMS and peak of instantaneous branch currents (mA), e.g. from the waveform
 * path at 8 kSPS. Feed one sample per branch per sample instant; every samples_per_cycle
 * samples a branch's rms/peak of that cycle is ready. Bounded, no allocation. */
struct actuator_rms {
  unsigned samples_per_cycle;  /* e.g. 160 at 8 kSPS and 50 Hz, 133 at 60 Hz */
  unsigned n[HW_MAX_BRANCHES];
  uint64_t sum_sq[HW_MAX_BRANCHES];
  int32_t peak[HW_MAX_BRANCHES];
  int32_t rms_ma[HW_MAX_BRANCHES];   /* last completed cycle */
  int32_t peak_ma[HW_MAX_BRANCHES];  /* last completed cycle */
};
void actuator_rms_init(struct actuator_rms *r, unsigned samples_per_cycle);
/* Adds one sample of branch slot k (panel.branch[k]); returns true when a cycle completed and
 * rms_ma[k]/peak_ma[k] hold it. */
bool actuator_rms_push(struct actuator_rms *r, unsigned k, int32_t sample_ma);
/* Integer square root (floor), exposed for tests. */
uint32_t actuator_isqrt64(uint64_t v);

/* ------------------------------------------------------------------------------------------ */
/* Actuator set: drivers + sense-back                                                          */
/* ------------------------------------------------------------------------------------------ */

/* The initial state per actuator, as rebuilt by the caller (journal replay) or the fail-safe
 * default at first boot. Outputs are requested with these values. */
struct actuator_initial {
  bool branch_on[HW_MAX_BRANCHES]; /* indexed like panel.branch[] (not by number) */
  bool service_connected;          /* the service disconnect contactor closed */
};

/* Debounced view of one input line, from its edge events. */
struct actuator__input {
  uint32_t line;          /* HW_LINE_NONE = not wired */
  bool raw, level;        /* last raw level seen, debounced level */
  uint64_t raw_since_ns;  /* time raw last changed */
  uint16_t edges;         /* debounced transitions since the window opened */
  uint64_t changed_ns;    /* time the debounced level last changed */
};

struct actuator__unit {
  uint16_t target;        /* branch number, or 0 = service */
  uint8_t type;           /* enum journal_actuator */
  bool active_low;        /* coil line logical value inverted */
  bool held;              /* commanded state the driver holds (true = on/closed/connected) */
  uint32_t line_out, line_out2;   /* coil / gate / enable; latching reset coil */
  int out_req, out_idx, out2_idx; /* request slot and bit of the output line(s) */
  struct actuator__input aux, sense;
  /* the latest current sample */
  bool have_sample;
  uint64_t sample_ns;
  int32_t sample_rms_ma, sample_peak_ma;
  int32_t supply_mv;
  /* the open sense window */
  bool window;
  bool moved;
  uint8_t desired;
  uint64_t command_seq, last_command_seq;
  char request_id[65];
  uint64_t start_ns, deadline_ns, pulse_end_ns, quiet_since_ns;
  int pulse_line_idx;     /* which output bit is pulsing; -1 none */
  int32_t inrush_peak_ma;
  uint8_t cur_class;      /* 0 zero, 1 residual, 2 flowing: for change detection */
};

#define ACTUATOR__MAX_UNITS (HW_MAX_BRANCHES + 1)
#define ACTUATOR__MAX_REQ 6

struct actuator_set {
  const struct hw_panel *panel;  /* borrowed: must outlive the set */
  struct actuator_thresholds th;
  unsigned num_units;
  struct actuator__unit unit[ACTUATOR__MAX_UNITS]; /* branches in panel order, then service */
  unsigned num_out_req, num_in_req;
  struct hw_gpio_lines out_req[ACTUATOR__MAX_REQ];
  struct hw_gpio_lines in_req[ACTUATOR__MAX_REQ];
  uint64_t gpio_overflow;        /* input events lost (seqno gaps): journal fault{gpio_overflow} */
  uint64_t resyncs;              /* inputs re-read after a gap */
};

/* Requests every actuator output (with the initial values in init; NULL = all off and the
 * service connected) and every aux/sense input (both edges, events on the monotonic clock).
 * th NULL = defaults. panel is borrowed. On failure nothing stays requested. */
int actuator_set_init(struct actuator_set *s, struct hw_gpio_chip *chip, const struct hw_panel *panel,
                      const struct actuator_initial *init, const struct actuator_thresholds *th,
                      uint64_t now_ns);
/* Releases every line (outputs revert as when the process dies). Accepts a zeroed struct. */
void actuator_set_deinit(struct actuator_set *s);

/* A decided command, as carried by its `command` record. */
struct actuator_command {
  uint16_t target;         /* branch number, or 0 = service disconnect (JOURNAL_TARGET_SERVICE) */
  bool on;                 /* desired: on / closed / connected */
  const char *request_id;  /* copied (up to 64 bytes); may be NULL */
};

/* Executes a command whose record has seq command_seq, given durable_seq, the highest seq known
 * durable. Refuses with ACTUATOR_ENOTDURABLE when command_seq is 0 or above durable_seq — the
 * line is not touched; ACTUATOR_ESTALE when command_seq is not newer than the last command
 * executed on that actuator (no double execution); ACTUATOR_EBUSY while the actuator's sense
 * window is open (the caller keeps the command pending); ACTUATOR_ENOTARGET.
 * On success fills *out (request_id borrows s until the next call on this actuator) and opens
 * the sense window: out->result "no_op" when the state was already held (no line changed),
 * "failed" with out->error when the GPIO write failed (the window still opens: the sense-back
 * says what the hardware did). */
int actuator_execute(struct actuator_set *s, const struct actuator_command *cmd, uint64_t command_seq,
                     uint64_t durable_seq, uint64_t now_ns, struct journal_actuation *out);
/* Same, with durable_seq taken from the journal (journal_durable_seq). */
int actuator_execute_journaled(struct actuator_set *s, struct journal *j, const struct actuator_command *cmd,
                               uint64_t command_seq, uint64_t now_ns, struct journal_actuation *out);

/* Feeds one metering sample for a branch (number): rms and peak current over a cycle or window
 * ending at t_ns; supply_mv the supply-side rms voltage if known (0 = unknown). */
int actuator_feed_current(struct actuator_set *s, unsigned branch, uint64_t t_ns, int32_t rms_ma,
                          int32_t peak_ma, int32_t supply_mv);

/* A completed sense-back. body.request_id borrows s until the actuator's next execute. */
struct actuator_sense_result {
  struct journal_source source;   /* branch:N or panel (service) */
  struct journal_sense_back body;
};

/* Reads pending input events, ends latching pulses that are due, and closes sense windows whose
 * evidence is conclusive or whose deadline passed: up to max results into out (*out_n). Call
 * whenever an input fd is readable and at actuator_next_due_ns(). */
int actuator_poll(struct actuator_set *s, uint64_t now_ns, struct actuator_sense_result *out,
                  unsigned max, unsigned *out_n);
/* Earliest time poll has work (pulse end, debounce settle, early confirm, deadline); UINT64_MAX
 * if none. */
uint64_t actuator_next_due_ns(const struct actuator_set *s);
/* Pollable fds of the input requests (for the event loop); returns the count (<= cap). */
unsigned actuator_fds(const struct actuator_set *s, int *fds, unsigned cap);

/* Introspection for status and tests. */
struct actuator_status {
  uint16_t target;
  uint8_t type;          /* enum journal_actuator */
  bool held;             /* commanded state held by the driver */
  bool window_open;
  bool aux_wired, aux_closed, sense_wired, sense_present;
};
int actuator_status(const struct actuator_set *s, uint16_t target, struct actuator_status *out);
/* Reads the output line(s) of an actuator back through the GPIO layer (logical values). */
int actuator_output_get(struct actuator_set *s, uint16_t target, bool *out_main, bool *out_reset);

/* ------------------------------------------------------------------------------------------ */
/* Trip taps and DER status lines                                                              */
/* ------------------------------------------------------------------------------------------ */

/* Source of a pre-trigger signature for a branch at a time (e.g. the last cycles of the ingest
 * capture ring, or struct actuator_rms). Returns false when none. */
typedef bool (*actuator_signature_fn)(void *ctx, unsigned branch, uint64_t t_ns, int32_t *rms_ma,
                                      int32_t *peak_ma);

/* One output of the taps module: a trip_tap or der body with its record source. */
struct actuator_tap_record {
  uint16_t type;                  /* JOURNAL_T_TRIP_TAP or JOURNAL_T_DER */
  struct journal_source source;   /* tap:<kind>[:branch] or der:<source> */
  union { struct journal_trip_tap trip_tap; struct journal_der der; } body;
};

struct actuator__tap {
  uint32_t line;
  uint32_t debounce_ns;
  bool raw, level, pending;
  uint64_t raw_since_ns;
  uint32_t line_seqno, dropped;
};

#define ACTUATOR__DER_LINES 8

struct actuator_taps {
  const struct hw_panel *panel;   /* borrowed */
  unsigned num_taps;
  struct actuator__tap tap[HW_MAX_TAPS];
  uint32_t der_line[ACTUATOR__DER_LINES]; /* pv_grid_tied, pv_fault, ess_charging, ess_discharging,
                                             ess_alarm, ats_grid_present, ats_on_backup,
                                             ats_interlock_ok; HW_LINE_NONE if absent */
  bool der_level[ACTUATOR__DER_LINES];
  uint8_t der_last_state[3];      /* last reported state per source; 0xff none */
  bool der_dirty;
  uint8_t der_reason;
  uint64_t der_ns;
  bool der_fresh[3];              /* the source's lines answered the last read */
  uint64_t der_check_ns;          /* next read of every DER source's lines (the heartbeat) */
  uint32_t pending_dropped;
  unsigned num_req;
  struct hw_gpio_lines req[2];
  actuator_signature_fn signature;
  void *signature_ctx;
  uint64_t gpio_overflow;         /* events lost (seqno gaps): journal fault{gpio_overflow} */
  uint64_t events;                /* events consumed */
  uint64_t unknown_events;        /* events for lines that are not taps/DER (ignored) */
};

/* Requests every tap line and DER status line of the panel as inputs (both edges). Taps are
 * debounced here with their configured debounce_us on the kernel timestamps; DER lines are
 * levels. signature may be NULL. */
int actuator_taps_init(struct actuator_taps *t, struct hw_gpio_chip *chip, const struct hw_panel *panel,
                       actuator_signature_fn signature, void *signature_ctx, uint64_t now_ns);
void actuator_taps_deinit(struct actuator_taps *t);

/* Every ACTUATOR_DER_CHECK_NS each DER source's lines are read (GPIO get values): a der record
 * per source says what they read (reason "resync", fresh) or that the read failed (reason
 * "stale", fresh false, the last levels known). Freshness thus means "being read", not
 * "changed" — half the reducers' 10 s freshness limit (docs/actuators.md). */
#define ACTUATOR_DER_CHECK_NS 5000000000ull

/* Reads pending events and returns records: the initial DER state on the first poll, a
 * trip_tap per debounced tap edge, a der record per source whose state changed (or resynced
 * after lost events), and every source's state at each DER check. Up to max per call
 * (*out_n); call again while it returns max. */
int actuator_taps_poll(struct actuator_taps *t, uint64_t now_ns, struct actuator_tap_record *out,
                       unsigned max, unsigned *out_n);

/* The pure decoder behind actuator_taps_poll: consumes a burst of events (any order, any
 * offsets, any seqnos — outside input) and appends records to out. Exposed for the fuzz target.
 * Events for unknown lines are counted and ignored; timestamps going backwards are clamped. */
int actuator_taps_feed(struct actuator_taps *t, const struct hw_gpio_event *ev, unsigned n,
                       uint64_t now_ns, struct actuator_tap_record *out, unsigned max, unsigned *out_n);
/* Earliest debounce settle time pending (UINT64_MAX none). */
uint64_t actuator_taps_next_due_ns(const struct actuator_taps *t);

/* ------------------------------------------------------------------------------------------ */
/* Harness: the proof loop on the simulated panel, without the daemon                          */
/* ------------------------------------------------------------------------------------------ */

/* Per-type sense-back latency samples collected by the harness (virtual µs), bounded. */
#define ACTUATOR_HARNESS_LAT_MAX 256

struct actuator_harness_step {
  uint64_t command_seq, actuation_seq, sense_back_seq;
  struct journal_actuation actuation;
  struct journal_sense_back sense_back;
  char request_id[65];
};

struct actuator_harness {
  struct hw_sim *sim;            /* owned */
  struct journal *journal;       /* owned */
  struct actuator_set set;
  struct actuator_taps taps;
  struct actuator_rms rms;
  struct hw_gpio_chip *chip;     /* the chip the set uses (sim's, or a caller's wrapper) */
  uint64_t step_ns;              /* simulator step between polls (default 1 ms) */
  uint64_t records;              /* records appended by the harness */
  uint64_t tap_records;
  unsigned lat_n[ACTUATOR_TYPES];
  uint32_t lat_us[ACTUATOR_TYPES][ACTUATOR_HARNESS_LAT_MAX];
  int32_t last_sample_ma[HW_MAX_BRANCHES];
};

struct actuator_harness_options {
  const struct hw_scenario *scenario; /* required; copied by the simulator */
  uint64_t seed;
  const char *dir;               /* data dir: created (journal_create) if it holds no journal */
  const struct actuator_initial *initial; /* NULL: what the scenario's contacts are */
  const struct actuator_thresholds *th;   /* NULL: defaults */
  /* Optional wrapper around the simulated chip (tests spy on line requests and writes). It is
   * called with the simulator's chip and returns the chip to use. */
  struct hw_gpio_chip *(*wrap_chip)(void *ctx, struct hw_gpio_chip *sim_chip);
  void *wrap_ctx;
};

/* Creates the simulator and the journal (virtual clock from the simulator), requests the
 * lines. h must stay at one address until deinit. */
int actuator_harness_init(struct actuator_harness *h, const struct actuator_harness_options *o);
/* Closes the journal (clean shutdown), releases lines, destroys the simulator. Zeroed ok. */
void actuator_harness_deinit(struct actuator_harness *h);

/* Advances the simulator by ns in step_ns steps, feeding metering and polling taps and the
 * set; tap/der records and any sense-backs are appended. */
int actuator_harness_run(struct actuator_harness *h, uint64_t ns);

/* One decided command through the loop: append `command` (critical: ends its group), wait until
 * durable (journal_sync), execute, append `actuation`, advance the simulator until the
 * sense-back, append `sense_back`. *out (optional) gets the seqs and bodies (request_id copied
 * into out->request_id). The command body's reason is enum journal_command_reason. */
int actuator_harness_command(struct actuator_harness *h, uint16_t target, bool on, const char *request_id,
                             uint8_t reason, uint64_t cause_seq, struct actuator_harness_step *out);

#ifdef __cplusplus
}
#endif
#endif
