/*
 * run.h — private to cli/: the state of `hems run` and the entry points of its parts.
 *
 * The daemon is one libuv loop (run_loop.c) that only wires handles to the parts below; each
 * part owns one concern and touches the state fields named in docs/architecture.md:
 *
 *   run.c              the command: options, start, loop, orderly stop, summary line
 *   run_start.c        start-up: panel or simulation, journal and fold, boot/config records, AFEs
 *   run_clock.c        panel time, record wall time, the simulated journal clock
 *   run_records.c      the one door to the journal: append → fold → route the effects
 *   run_meter.c        metering, register path: branch AFE windows, one-cycle rms
 *   run_mains.c        metering, waveform path: the mains AFE's buffer → ingest → windows, captures
 *   run_pq.c           power-quality events (both paths)
 *   run_actuate.c      actuation: durable commands → drivers → sense windows → sense-backs
 *   run_taps.c         trip taps and DER inputs (GPIO edges → records)
 *   run_requests.c     requests into the journal and the clients waiting on their outcome
 *   run_control.c      the control protocol: request line → role/limit checks → reply
 *   run_viewer.c       the read ops of every role: show, follow (exact record bytes as they become durable)
 *   run_export.c       the read op export: the bundle `hems export` writes, streamed in bounded chunks
 *   run_status.c       status JSON, terminal status line, systemd STATUS=
 *   run_config.c       roles and retention settings, SIGHUP reload, DIR/config.json rewrite
 *   run_calib.c        calibrate requests: AFE gain registers, note + config record
 *   run_housekeeping.c idle flush, hourly retention
 *   run_disk.c         disk pressure: free space, the reserve file, shedding metering windows
 *   run_stimuli.c      the simulator's scripted stimuli
 *   run_loop.c         libuv handles and the tick order
 *
 * The socket server, its client, roles, rate limit and systemd notify are daemon_*.c (daemon.h,
 * daemon_notify.h).
 */
#ifndef HEMS_CLI_RUN_H
#define HEMS_CLI_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>
#include <jansson.h>
#include "cli.h"
#include "daemon.h"
#include "daemon_notify.h"
#include "actuators.h"
#include "hw.h"
#include "ingest.h"
#include "retention.h"
#include "journal.h"
#include "replay.h"

#define TICK_NS (HW_SIM_WFB_HALF_NS)          /* 16 ms */
#define FLUSH_IDLE_NS 1000000000ull           /* the flush timer: 1 s with no new record */
#define RUN_GPIO_POLL_MAX (ACTUATOR__MAX_REQ + 3) /* sense-input requests + tap/DER requests + the mains IRQ */

struct run_opts {
  struct cli_common c;
  const char *sim;       /* scenario name or path */
  const char *hw;        /* panel config for real hardware */
  const char *socket;
  int64_t for_ns;        /* 0 = until stopped */
  double speed;          /* 0 = max */
  uint64_t seed;
  uint32_t window_ms;
};

struct capture_slot { uint64_t id; uint8_t hash[32]; };

/* One AFE's one-cycle rms readings: this tick's (fresh) and the extremes of the n since its
 * last window, V | A per channel A, B, C. */
struct rms_one_track { bool fresh; unsigned n; double i[3], v[3], imin[3], imax[3], vmin[3], vmax[3]; };

/* A journaled trip tap whose waveform capture is not complete yet (≤ 2 s). */
struct pending_tap { bool used; uint64_t capture_id, deadline_ns, tap_seq; struct actuator_tap_record rec; };
#define PENDING_TAPS 8
#define RUN_ANALOG_HIST 61 /* one-second readings: a minute's rise is the newest minus the oldest */

/* A decided command waiting for its record to be durable (write-ahead) and its actuator free. */
struct pending_cmd { uint64_t seq; uint16_t target; bool on; char request_id[65]; };
#define PENDING_MAX 128

/* A socket client waiting for the outcome of its switch request. */
struct waiter { struct daemon_client *c; unsigned gen; uint64_t request_seq, command_seq; bool used; };
#define WAITERS_MAX 32

/* The records' clock watched for steps (run_clock.c): the wall clock's offset from the
 * monotonic one at the last read, whether records are `stepped` (a step was seen and the clock
 * has not said synced since), and the steps still to journal as `time_step` faults. */
struct run_clockwatch {
  bool have;                 /* offset_ns holds a reading */
  bool stepped;
  int64_t offset_ns;         /* wall - mono at the last read */
  uint64_t step_mono_ns;     /* mono of the last step */
  int64_t pending_ns[4];     /* steps seen, not yet journaled (signed: the wall clock's jump) */
  unsigned npending;
  uint64_t steps, dropped;   /* steps seen; those that found pending_ns full (counted in the next fault) */
  int64_t max_offset_ns;     /* DIR/config.json "time": {"max_offset_ms": 500}: a larger sync offset is a fault */
  bool offset_over;          /* the last check found the offset over the limit (journaled once) */
  uint64_t next_offset_check_ns;
};

/* A branch AFE's bus conditions (run_afe_health.c). */
struct afe_health {
  bool missing;              /* no chip answers: not read, probed every 5 s */
  uint64_t since_ns, reported_ns, next_probe_ns, unanswered; /* panel times; probes unanswered since reported */
  uint64_t flaps;            /* drop-outs within a minute of the last record, not yet journaled */
  uint64_t crc_seen;         /* the driver's crc_faults already accounted */
  uint64_t crc_pending, crc_reported_ns; /* CRC failures not yet journaled; when the last record was */
};

/* Energy totals as of a seal: the fold runs ahead of durability (a metering group commits up to
 * 15 s after it was folded), so `status` reports per-branch energy from the newest seal that is
 * durable — totals a kill -9 or power cut can never take back (run_energy.c). */
#define RUN_ENERGY_RING 64 /* seals in flight before their commit (one per second, 15 s hold) */
struct run_energy {
  uint64_t seq; /* the last record folded into these totals */
  int64_t import_uwh[REPLAY_BRANCHES_MAX], export_uwh[REPLAY_BRANCHES_MAX];
};
struct run_energy_log {
  struct run_energy durable;                /* the newest at or before journal_durable_seq */
  struct run_energy ring[RUN_ENERGY_RING];  /* taken at seals, not yet durable (oldest first) */
  unsigned first, n;
  void (*harness_state_hash)(void *ctx, uint8_t out[JOURNAL_HASH_BYTES]); /* wrapped (journal_options) */
};

/* Disk pressure (run_disk.c). reserve_held and nospace are shared with the journal's writer
 * thread (its on_nospace hook): atomics. */
struct run_disk {
  char reserve_path[4200];
  uint64_t reserve_bytes;   /* the reserve file's size (the policy's, at most 1/8 of the fs) */
  int reserve_held;         /* atomic: DIR/reserve is allocated */
  int nospace;              /* atomic: a commit met a full filesystem since the last check */
  bool pressure;            /* in a high-water episode (one disk_pressure fault each) */
  bool shedding;            /* the reserve is in use: metering windows are dropped */
  uint64_t dropped, dropped_total; /* windows dropped: this shedding episode, since start */
  uint64_t episodes, next_check_ns;
  uint64_t fs_bytes, avail_bytes;
  double used_frac;
};

struct daemon {
  struct run_opts o;
  uint64_t io_write_bytes0; /* the process's write_bytes at start: reaped children of whoever exec'd us are in it */
  struct hw_scenario *sc;
  struct hw_sim *sim;
  const struct hw_panel *panel;
  struct journal *j;
  struct journal_open_info info;
  uint8_t boot_id[16];
  int64_t wall_base_ns;      /* wall time of virtual t = 0 */
  uint64_t sim_wall0;        /* hw_sim_wall_ns at t = 0 (so injected clock steps show) */
  struct run_clockwatch clk; /* steps of the records' clock (run_clock.c) */
  /* real hardware (--hw): spidev per AFE, one gpiochip, real clocks */
  bool hw;
  struct hw_panel hwpanel;
  struct hw_spidev spidev[HW_MAX_AFES];
  struct hw_gpiochip gpiochip;
  uint64_t hw_t0_boottime;
  const char *name;          /* scenario or panel name */
  char device_id[33];        /* meta device_id (checkpoint origins, fleet topics); "" if unread */

  /* AFEs */
  struct hw_ade9000 afe[HW_MAX_AFES];
  bool afe_ok[HW_MAX_AFES];
  int64_t energy_prev_nj[HW_MAX_AFES][3];
  struct ingest_energy energy[HW_MAX_BRANCHES + 1];
  struct ingest_polarity polarity[HW_MAX_BRANCHES + 1];
  /* register-path power quality (panels without a streaming mains AFE): the reference AFE's
   * latched dip/swell registers, window by window */
  int pq_afe;
  struct { bool active; int kind; unsigned phases; int64_t start_ns; double extreme_v; double min_v[3], max_v[3]; } rpq;
  int mains;                 /* AFE index streaming the waveform path, or -1 */
  struct ingest_config icfg;
  struct ingest_engine eng;
  bool eng_ok;
  struct ingest_aggregator agg;
  struct hw_ade9000_wfb_half half;
  int32_t frames[HW_ADE9000_WFB_SETS_PER_HALF * 6];
  /* the mains AFE's IRQ0 (page full) on live runs: its assertions wake the loop to drain */
  struct hw_gpio_lines irq;
  bool irq_ok;
  uint64_t irq_edges, irq_drains;
  struct capture_slot caps[8];
  unsigned ncaps;
  uint64_t next_window_ns;

  /* what the status shows (derived from the records this run made) */
  int64_t phase_p_mw[4];
  int64_t branch_p_mw[HW_MAX_BRANCHES + 1];
  bool branch_tapped[HW_MAX_BRANCHES + 1]; /* a trip tap since the branch's last window (its `event`) */
  uint64_t windows, pq_events, pq_aggregates, notes, requests, faults, stimuli;
  uint64_t last_append_mono;
  struct afe_health afe_health[HW_MAX_AFES]; /* run_afe_health.c */
  struct der_watch { uint64_t since_ns; bool raised; } der_watch[2]; /* run_der_check.c: pv, ess */
  struct der_obs_last { bool seen; struct journal_der b; uint64_t at_ns; } der_obs[2]; /* run_der_obs.c: pv, ess */
  /* run_der_cmd.c: each source's DER command awaiting the SunSpec bridge (pv, ess) */
  struct der_cmd {
    bool live, written, on, fetched, superseded;
    uint8_t source, action;
    uint32_t fetched_uid;        /* the peer that took it (der_command): the only one that may report */
    uint16_t permille, branch;
    uint64_t seq, at_ns, written_ns;
    char request_id[65];
  } der_cmd[2], der_cmd_old[2]; /* der_cmd_old: superseded, taken, not reported written */
  bool der_cmd_resumed;
  /* run_permit.c: the battery's permit-to-run line and the command on it (reducer v 11) */
  struct hw_gpio_lines permit_req;
  bool permit_lines;             /* permit_req holds the line */
  struct permit_cmd {
    bool live, driven, on;
    uint16_t branch;
    uint64_t seq, at_ns, driven_ns;
  } permit;
  /* run_analog.c: taps with an analog source (leakage, temperature) */
  struct run_analog {
    uint8_t state;               /* AN_HIGH, AN_RISE (a fault journaled, not yet ended), AN_UNREAD */
    bool have;
    uint8_t hist_n, hist_at;     /* the last RUN_ANALOG_HIST one-second readings (rise rate) */
    int32_t milli;               /* the last reading (µA, m°C) */
    int32_t hist[RUN_ANALOG_HIST];
  } analog[HW_MAX_TAPS];
  uint64_t analog_next_read_ns;
  /* run_rails.c: the supply rails' power-good inputs */
  struct hw_gpio_lines rails_req;
  bool rails_ok;
  bool rails_lines;              /* rails_req holds the power-good lines (some rail has one) */
  int rails_err;                 /* the request's error (journaled after the boot record) */
  uint8_t rails_low;             /* bit i: rails[i] low now (on trip_tap, sense_back, der, fault) */
  uint64_t rails_low_since_ns[HW_MAX_RAILS];
  uint8_t rails_req_rail[HW_MAX_RAILS]; /* the request's line k watches rails[rails_req_rail[k]] */
  uint8_t rails_unread;          /* bit i: a measured rails[i] whose file does not read (said once) */
  int32_t rails_mv[HW_MAX_RAILS];/* a measured rail's last reading */
  uint64_t rails_next_read_ns;   /* measured rails are read every RUN_RAILS_READ_NS */
  /* register path: each branch AFE's one-cycle rms (xIRMSONE/xVRMSONE) read once per tick —
   * the last reading (for sense-backs) and its min/max since the window started (hrms_*_m) */
  struct rms_one_track rms1[HW_MAX_AFES];

  /* the fold and the proof loop */
  struct replay_harness h;
  struct run_energy_log sealed; /* energy totals as of durable seals (run_energy.c) */
  struct actuator_set act;
  bool act_ok;
  struct actuator_taps taps;
  bool taps_ok;
  struct pending_tap ptaps[PENDING_TAPS];
  struct pending_cmd pending[PENDING_MAX];
  unsigned npending;
  struct waiter waiters[WAITERS_MAX];
  uint64_t gpio_overflow_seen;
  uint64_t commands, refusals, sense_backs, taps_seen, der_seen, actuations;

  /* loop */
  uv_loop_t loop;
  uv_signal_t sig_int, sig_term, sig_hup;
  uv_timer_t tick_timer, status_timer;
  uv_idle_t idle;
  /* the journal's writer thread says "durable" through durable_async (run_loop.c): the loop then
   * executes the commands it covers at once instead of at the next tick */
  uv_async_t durable_async;
  uv_mutex_t durable_mu;     /* guards durable_live against the handle's close */
  bool durable_live;         /* durable_async is open and may be sent to */
  /* GPIO input fds the loop watches (not at --speed max): tap/DER and actuator sense inputs */
  uv_poll_t gpio_poll[RUN_GPIO_POLL_MAX];
  unsigned ngpio_poll;
  struct daemon_socket sock;
  bool stopping;
  int exit_code;
  bool tty;
  double t_start_real;
  int append_err;
  json_t *roles;
  json_t *local; /* DIR/config.json as read at start or at the last SIGHUP (NULL: none, or not JSON) */
  struct remote_state *remote; /* signed remote commands' issuers and sequence (remote_accept.c) */
  struct daemon_limit limit; /* per-peer rate limit of the control socket */
  double last_watchdog_s;
  uint8_t cfg_hash[32];
  uint32_t cfg_version;
  bool watchdog;             /* live only: off under --sim (DESIGN.md) */
  bool reload;               /* SIGHUP seen; handled between ticks */
  uint64_t supply_low_until; /* scenario: the actuator supply is low until then (run_stimuli.c) */
  struct retention_policy ret; /* DIR/config.json "retention" (retention.h); windows_ns 0 = no age cut */
  struct run_disk disk;
  uint64_t next_retention_ns;
  uint64_t next_counter_bump_ns; /* --counter tpm:…: the next hourly bump (panel time) */
  uint64_t counter_bumps;        /* bumps done since start (run_counter_bump) */
  struct daemon_notify notify; /* systemd's notify socket (daemon_notify.c) */
  struct journal_history *hist;      /* DIR/history (run_history.c); NULL: none or failed */
  struct journal_reader *hist_main;  /* the main log, read for the copies */
  int hist_rc;                       /* why it did not open (a fault once the loop runs) */
  bool hist_reported;
  bool hist_synced;                  /* copies durable up to the head: a retention record may anchor it */
  uint64_t next_history_ns, hist_copies;
};

/* The outputs' start: initial states from the rebuilt state, and the fail-safe commands of the
 * branches the journal knows nothing of (run_actuate.c). */
struct run_boot_outputs {
  struct actuator_initial init;
  struct pending_cmd cmd[HW_MAX_BRANCHES + 1];
  unsigned n;
};

/* What the journal's tail says before the writer opens (run_start.c). */
struct run_tail {
  uint64_t head;
  int64_t last_wall;
  uint8_t cfg_hash[32];
  uint32_t cfg_version;
  bool have_cfg;
};

/* ---- run_start.c: each step says its own error */
int run_start_panel(struct daemon *d);                        /* 0 or the exit code */
int run_start_journal(struct daemon *d, struct run_tail *t);  /* 0 or the exit code */
int run_start_boot(struct daemon *d, const struct run_tail *t); /* 0 or a journal error */
int run_start_afes(struct daemon *d);                         /* 0 or the ingest error */
int run_start_outputs(struct daemon *d);                      /* 0 or a journal error */
/* The GPIO chip of the panel: the simulator's, the configured gpiochip on --hw, or NULL. */
struct hw_gpio_chip *run_gpio_chip(struct daemon *d);

/* ---- run_loop.c */
void run_loop_open(struct daemon *d);
void run_loop_run(struct daemon *d);
void run_loop_close(struct daemon *d);
void run_loop_on_durable(void *ctx, uint64_t durable_seq); /* the journal's on_durable (writer thread) */

/* ---- run_clock.c */
double run_real_s(void);                         /* CLOCK_MONOTONIC, seconds */
uint64_t run_boottime_ns(void);                  /* CLOCK_BOOTTIME */
uint64_t run_now_ns(const struct daemon *d);     /* panel time since start */
/* --counter tpm:…: increments the TPM counter (journal_counter_bump; at boot, at each retention
 * cut, and hourly from run_housekeeping_tick) and restarts the hour; a failure is a fault
 * record (counter_bump_failed). Nothing without a hardware counter. */
void run_counter_bump(struct daemon *d);
int64_t run_wall_ns(const struct daemon *d);     /* wall time of "now" on the records' clock */
void run_record_clock(void *ctx, uint64_t *mono, int64_t *wall, uint8_t *tq); /* the journal's clock */
void run_clock_watch(struct run_clockwatch *w, uint64_t mono, int64_t wall, uint8_t *tq);
void run_clock_tick(struct daemon *d);           /* reads the clock; journals the steps seen */
int64_t run_clock_sync_offset_ns(const struct daemon *d); /* from the time source; 0 unknown or unsynced */
void run_sleep_ns(void *user, uint64_t ns);      /* the AFE driver's delay on hardware */

/* ---- run_afe_health.c */
void run_afe_start_failed(struct daemon *d, unsigned a, int rc); /* hw_ade9000_init failed at start */
void run_afe_after_read(struct daemon *d, unsigned a, int rc);   /* after a window's read of AFE a */
void run_afe_probe(struct daemon *d, unsigned a);                /* each window period, AFEs not ok */

/* ---- run_records.c */
int run_append_fx(struct daemon *d, struct journal_record *r, uint64_t *out_seq, struct replay_effects *out_fx,
                  uint64_t fx_seqs[REPLAY_EFFECTS_MAX]);
int run_append(struct daemon *d, struct journal_record *r);
void run_fault(struct daemon *d, const char *code, int64_t value, uint16_t branch, const char *detail);
/* run_der_check.c: after each window period, a DER source's reported state against its
 * branch's metering (fault der_mismatch / der_consistent) */
void run_der_check(struct daemon *d, uint64_t now);
/* run_der_obs.c: a bridge's DER poll (der_observe). The `der` record it would journal into *r,
 * and true when it is due (a change, or the heartbeat that keeps the fold's freshness); then
 * run_der_obs_append journals it. */
struct control_der_obs;
/* run_der_cmd.c: a DER command the fold decided (queued for the bridge), the bridge's ops on it
 * (der_command, der_report) and the timeouts that end one nobody executes. */
struct control_der_bridge;
void run_der_cmd_queue(struct daemon *d, const struct replay_effect *e, uint64_t seq);
char *run_der_cmd_op(struct daemon *d, uint32_t uid, const struct control_der_bridge *b);
void run_der_cmd_tick(struct daemon *d);
/* run_permit.c: the battery's permit line — opened at start at the folded level, a permit
 * command executed once durable and proven from the battery's state (reducer v 11) */
void run_permit_open(struct daemon *d);
bool run_permit_owns(const struct daemon *d, uint64_t command_seq);
bool run_permit_is_cmd(const struct replay_effect *e);
void run_permit_close(struct daemon *d);
void run_permit_queue(struct daemon *d, const struct replay_effect *e, uint64_t seq);
void run_permit_tick(struct daemon *d);
bool run_der_obs_due(struct daemon *d, const struct control_der_obs *o, struct journal_record *r);
int run_der_obs_append(struct daemon *d, struct journal_record *r, uint64_t *seq);
/* run_rails.c: requests the rails' power-good lines and reads them (before the boot record, so
 * it can carry them); after it, the faults of what was found; each tick the edges. */
void run_rails_open(struct daemon *d);
/* run_analog.c: reads the analog taps (once a second) and journals their threshold faults;
 * run_analog_value reads one now (false: not analog, or not readable) for its edge's record. */
void run_analog_tick(struct daemon *d);
bool run_analog_value(struct daemon *d, unsigned tap, int32_t *milli);
void run_rails_after_boot(struct daemon *d);
void run_rails_tick(struct daemon *d);
/* "ok", "none" (no rails configured), "unknown" (not readable) or "5v:low,3v3:low". */
const char *run_rails_status(const struct daemon *d, char *buf, size_t cap);
/* run_start.c: why the board last reset — the watchdog's bootstatus flags when the panel names
 * the file (on --hw by default), else the previous shutdown: power_on, restart, unclean. */
const char *run_reset_reason(const struct daemon *d, char *buf, size_t cap);
void run_source_for_target(struct journal_source *src, uint16_t target);

/* ---- run_meter.c */
void run_meter_poll_rms(struct daemon *d);
void run_meter_tick(struct daemon *d, uint64_t now);

/* ---- run_mains.c */
int run_mains_init(struct daemon *d);
void run_mains_drain(struct daemon *d);
void run_mains_irq_open(struct daemon *d, struct hw_gpio_chip *chip); /* live runs only */
void run_mains_irq(struct daemon *d);       /* the IRQ fd is readable: count its edges, drain */
void run_mains_irq_close(struct daemon *d);

/* ---- run_pq.c */
void run_pq_register(struct daemon *d, const struct hw_ade9000_metrics *m, int64_t window_end_ns);
void run_pq_mains(void *ctx, const struct ingest_pq_event *e); /* the ingest engine's pq sink (also rvc, freq) */
/* run_pq_agg.c: the engine's Class A aggregate sink (10-minute and 2-hour `pq_aggregate` records) */
void run_pq_aggregate(void *ctx, const struct ingest_pq_aggregate *a);

/* ---- run_actuate.c */
void run_actuate_pending(struct daemon *d);
void run_actuate_feed_sense(struct daemon *d);
void run_actuate_poll(struct daemon *d);
int run_actuate_boot(struct daemon *d, struct run_boot_outputs *b);
void run_actuate_open(struct daemon *d, struct hw_gpio_chip *chip, const struct run_boot_outputs *b);
void run_actuate_queue_boot(struct daemon *d, const struct run_boot_outputs *b);
/* The command record at seq, decoded (its request id copied): 0, or -1 when there is none. */
struct run_command_rec { uint16_t target; bool on; uint8_t reason, der; char request_id[65]; };
int run_read_command(struct daemon *d, uint64_t seq, struct run_command_rec *out);

/* ---- run_taps.c */
void run_taps_poll(struct daemon *d);
void run_taps_flush(struct daemon *d, bool all);
void run_taps_capture_done(struct daemon *d, uint64_t id, const uint8_t hash[32]);
void run_taps_open(struct daemon *d, struct hw_gpio_chip *chip);

/* ---- run_requests.c */
/* A request's free-text reason is kept to its first REASON_MAX bytes (whole characters): a
 * client's text must never make a record the journal refuses (the daemon stops on a failed append). */
#define REASON_MAX CONTROL_REASON_MAX
void run_waiters_wake(struct daemon *d, uint64_t request_seq, uint64_t command_seq, const char *json_line);
void run_waiters_follow(struct daemon *d, uint64_t request_seq, uint64_t command_seq);
int run_request_switch(struct daemon *d, uint16_t target, bool on, const char *request_id, const char *reason,
                       int64_t expiry_ns, uint8_t role, uint8_t origin, uint32_t uid, uint32_t gid, uint64_t *out_seq,
                       struct replay_effects *fx, uint64_t fx_seqs[]);
int run_request_policy(struct daemon *d, struct journal_request *q, uint64_t *out_seq, struct replay_effects *fx,
                       uint64_t fx_seqs[]);

/* ---- run_control.c (daemon_handle_request is declared in daemon.h) */
void run_control_flush_limited(struct daemon *d, bool force);

/* ---- run_viewer.c: the read API (appends nothing) */
/* An op control_req.c leaves to the daemon (CONTROL_OTHER): its reply line, or NULL when the
 * answer went out already (follow). */
char *run_viewer_op(struct daemon *d, struct daemon_client *c, const char *op, const json_t *req);
/* Sends the followers what became durable, within each one's queue cap (run_loop.c calls it). */
void run_viewer_pump(struct daemon *d);
/* an answer line (malloc'd, o consumed; NULL without memory) and {"ok":false,"error":msg} */
char *run_reply_line(json_t *o);
char *run_reply_error(const char *msg);
/* {"op": "witness", …}: a cosignature of the journal's own checkpoint, journaled (run_witness.c). */
char *run_witness_op(struct daemon *d, int role, const json_t *req);
/* A policy request journaled with a waiter on it (run_control.c): NULL when the fold's answer
 * or the command's sense-back will reply, else the reply line. */
char *run_control_policy_op(struct daemon *d, struct daemon_client *c, struct journal_request *q);
/* A signed remote command, base64 of its COSE_Sign1 (remote_accept.c, docs/fleet.md): the reply
 * line, or NULL when the fold's answer will reply. */
char *run_remote_op(struct daemon *d, struct daemon_client *c, const char *cose_b64);
/* The remote section in force (DIR/config.json's, else the panel config's; JSON text, "" none):
 * parsed, the state made at the first call (the issuers' seqs recovered from the journal); a bad
 * section is a config_invalid fault and the one in force stays. */
void run_remote_configure(struct daemon *d, const char *remote_json);
void run_remote_free(struct daemon *d);
/* ---- run_export.c: the read API's export op (a bundle streamed in chunks) and its pump */
char *run_export_op(struct daemon *d, struct daemon_client *c, const json_t *req);
void run_export_pump(struct daemon *d);

/* ---- run_status.c */
json_t *run_status_json(struct daemon *d);
/* run_energy.c: hooks the seal boundary after replay_harness_init (jo->state_hash); takes the
 * state after attach as durable; moves what became durable forward (the loop, on durability). */
void run_energy_hook(struct daemon *d, struct journal_options *jo);
void run_energy_attached(struct daemon *d);
void run_energy_promote(struct daemon *d);
void run_status_line(struct daemon *d);
void run_status_notify(struct daemon *d, double lag_s);

/* ---- run_config.c */
/* DIR/config.json read once into d->local: at start everything local comes from this one read
 * (the remote section journaled is the one enforced); SIGHUP reads it again, once. */
void run_config_read_local(struct daemon *d);
/* The local settings of d->local (roles, retention, time) and the issuers of remote_json — the
 * "remote" of the panel config journaled last, so the journal says which keys are trusted. */
void run_config_load_local(struct daemon *d, const char *remote_json);
/* d->local's "remote" section into the panel config in use (a copy in d->hwpanel), so the boot's
 * config record journals the issuers trusted with signed commands; one that is not a valid
 * object trusts none (an error line says why). */
void run_config_local_remote(struct daemon *d);
void run_config_reload(struct daemon *d);
void run_config_follow_panel(struct daemon *d, const char *cjson, size_t clen);
/* A `config` record of canonical JSON cj (hash h), version + 1; the daemon's version and hash
 * follow it. 0 or the append error (seq: may be NULL). */
int run_config_append(struct daemon *d, const char *cj, size_t cl, const uint8_t h[32], uint64_t *seq);
/* run_calib.c: a checked calibrate request → registers, note + config record, panel in use; the reply line */
char *run_calib_op(struct daemon *d, struct daemon_client *c, const struct control_calib *k);
void run_calib_reload(struct daemon *d, const struct hw_panel *np); /* SIGHUP: a calibration-only change applied live */

/* ---- run_disk.c */
void run_disk_open(struct daemon *d);               /* the reserve file */
void run_disk_hook(struct daemon *d, struct journal_options *jo); /* jo->on_nospace (ctx: the harness) */
void run_disk_tick(struct daemon *d, uint64_t now);  /* free space, pressure, shedding */
bool run_disk_drop(struct daemon *d);               /* a metering window to drop (counted)? */

/* ---- run_housekeeping.c */
int run_retention_append(void *ctx, struct journal *j, const struct journal_record *rec);
void run_housekeeping_tick(struct daemon *d, uint64_t now);

/* run_history.c: the long-horizon log beside the main journal. */
void run_history_open(struct daemon *d, const struct journal_options *jo);
void run_history_tick(struct daemon *d, uint64_t now);
int run_history_sync(struct daemon *d, uint64_t max); /* copies what is durable (max 0: all, and waits
                                                          until the copies are durable) */
void run_history_close(struct daemon *d);
bool run_history_behind(struct daemon *d);        /* a first catch-up is still far behind */
void run_history_before_cut(struct daemon *d);    /* copies made durable: the cut may name the head */
void run_history_after_cut(struct daemon *d, uint64_t cut_seq); /* history_gap fault when it could not */
void run_housekeeping_late(struct daemon *d, double lag_ms, double now_real);

/* ---- run_stimuli.c */
void run_stimuli_tick(struct daemon *d);

#endif
