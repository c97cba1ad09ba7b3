/*
 * journal.h — the hems system of record.
 *
 * Design overview
 * ---------------
 * Every record is one deterministic-CBOR envelope (RFC 8949 §4.2) carrying a schema version,
 * a gapless `seq` (from 1, +1 per record, forever), the BLAKE2b-256 hash of its predecessor,
 * monotonic and wall time, a time-quality flag, the boot id, a record type, a source and a
 * typed body. Records are committed to LMDB in groups; every group ends with a `seal` record
 * in the same LMDB transaction that signs (seq, head hash, time, key id, reducer state hash)
 * with Ed25519. A record is durable when its group's transaction commits.
 *
 * The on-disk and bundle formats are specified byte by byte in docs/journal.md; the record
 * schema in schemas/hems.cddl. Bodies are described by field tables (record_types.c) so one
 * generic codec encodes, decodes and renders every record type.
 *
 * Errors: every function that can fail returns 0 or a negative code — a negated errno or one
 * of JOURNAL_E* below; journal_strerror() names it. The library never prints or logs.
 *
 * Threads: a struct journal (the writer) is used from one thread; it owns a writer thread
 * that commits sealed groups to LMDB and runs the durable callback there. Readers
 * (struct journal_reader) may be opened by any number of processes while a writer runs.
 * Never fork() while a journal or reader is open (LMDB forbids it).
 */
#ifndef HEMS_JOURNAL_H
#define HEMS_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

#define JOURNAL_ERRNO_MAP(X)                                                              \
  X(ECORRUPT, -30900, "record or store is corrupt")                                        \
  X(EBADSIG, -30901, "bad signature")                                                      \
  X(EBADCHAIN, -30902, "hash chain broken")                                                \
  X(EGAP, -30903, "sequence gap or reorder")                                               \
  X(EROLLBACK, -30904, "journal rollback")                                                 \
  X(EVERSION, -30905, "unsupported schema or format version")                              \
  X(EINUSE, -30906, "data dir in use by another writer")                                   \
  X(EKEYPERM, -30907, "signing key readable by group or others")                           \
  X(ENOKEY, -30908, "signing key missing")                                                 \
  X(ETRUNC, -30909, "truncated")                                                           \
  X(ENOTFOUND, -30910, "no such record")                                                   \
  X(EFULL, -30911, "storage full")                                                         \
  X(ETOOBIG, -30912, "record too large")                                                   \
  X(EBADREC, -30913, "malformed record")                                                   \
  X(EUNSEALED, -30914, "records not covered by a seal")                                    \
  X(ENOJOURNAL, -30915, "no journal in data dir")                                          \
  X(EEXIST, -30916, "journal already exists")                                              \
  X(EBADKEY, -30917, "malformed key file")                                                 \
  X(EBUNDLE, -30918, "malformed bundle")                                                   \
  X(EPROOF, -30919, "Merkle proof does not verify")                                        \
  X(ENOTE, -30920, "malformed checkpoint or signed note")                                  \
  X(ECTRSIG, -30921, "no counter slot with a valid signature by the journal's key")        \
  X(ECTRFORMAT, -30922, "unsigned counter file (format 1)")                                \
  X(ECTRKEY, -30923, "no public key to check the counter's signatures")                    \
  X(ELOCKFILE, -30924, "lock file is a link or not a plain file")                          \
  X(EMDBSHORT, -30925, "file shorter than its LMDB meta pages say")                        \
  X(EMDBMETA, -30926, "LMDB meta page invalid")                                            \
  X(EMDBPAGE, -30927, "LMDB page or value damaged")                                       \
  X(EURI, -30930, "malformed PKCS#11 URI")                                                 \
  X(ESIGNER, -30931, "the signing token refused")                                          \
  X(EPACK, -30940, "stored record does not match its hash check (pack damaged)")          \
  X(EFORMAT2, -30941, "journal format 2; run 'hems migrate'")                              \
  X(ECTRFILE, -30942, "counter file is a link, has other names or is not a plain file")    \
  X(ECTRKIND, -30950, "journal initialised with another kind of counter")                  \
  X(EHWBEHIND, -30951, "counter's hardware count behind the hardware counter (rollback)")   \
  X(EHWAHEAD, -30952, "counter's hardware count ahead of the hardware counter")            \
  X(EHWCOUNT, -30953, "hardware counter unavailable")

enum {
#define JOURNAL__ERR_ENUM(name, code, text) JOURNAL_##name = code,
  JOURNAL_ERRNO_MAP(JOURNAL__ERR_ENUM)
#undef JOURNAL__ERR_ENUM
};

/* Returns a static string for a code from this header or a negated errno. */
const char *journal_strerror(int err);
/* True for the codes that mean DIR/journal/data.mdb itself is damaged (JOURNAL_ECORRUPT,
 * JOURNAL_EMDBSHORT, JOURNAL_EMDBMETA, JOURNAL_EMDBPAGE): the message names that file. */
bool journal_is_store_damage(int err);

/* ---------------------------------------------------------------- constants */

/* Record schema versions (envelope key 2 `v`): 1 has text-keyed bodies; 3 (journal format 3)
 * has integer-keyed bodies with enums as uints and the window's columns as RFC 8746 typed
 * arrays. There is no 2. The codec reads both and encodes by the record's `version`.
 * JOURNAL_SCHEMA_VERSION is the one written by a format-2 journal. */
#define JOURNAL_SCHEMA_VERSION 1u
#define JOURNAL_SCHEMA_V1 1u
#define JOURNAL_SCHEMA_V3 3u
#define JOURNAL_HASH_BYTES 32
#define JOURNAL_SIG_BYTES 64
#define JOURNAL_PUBKEY_BYTES 32
#define JOURNAL_KEYID_BYTES 16     /* fingerprint: first 16 bytes of BLAKE2b-256(pubkey) */
#define JOURNAL_BOOTID_BYTES 16
#define JOURNAL_RECORD_MAX 65536   /* one encoded record, bytes */
#define JOURNAL_GROUP_RECORDS_MAX 1000
#define JOURNAL_GROUP_SPAN_NS 1000000000ull

/* Record types; numbers are part of the on-disk format (schemas/hems.cddl). */
enum journal_type {
  JOURNAL_T_BOOT = 1,
  JOURNAL_T_CONFIG = 2,
  JOURNAL_T_NOTE = 3,
  JOURNAL_T_WINDOW = 4,
  JOURNAL_T_PQ_EVENT = 5,
  JOURNAL_T_REQUEST = 6,
  JOURNAL_T_COMMAND = 7,
  JOURNAL_T_REFUSAL = 8,
  JOURNAL_T_ACTUATION = 9,
  JOURNAL_T_SENSE_BACK = 10,
  JOURNAL_T_TRIP_TAP = 11,
  JOURNAL_T_DER = 12,
  JOURNAL_T_FAULT = 13,
  JOURNAL_T_SEAL = 14,
  JOURNAL_T_KEY = 15,
  JOURNAL_T_RETENTION = 16,
  JOURNAL_T_WITNESS = 17, /* journals of format 3 (their seals sign the checkpoints it cosigns) */
  JOURNAL_T_PQ_AGGREGATE = 18, /* IEC 61000-4-30 10-minute and 2-hour aggregates */
  JOURNAL_T_ROLLUP = 19,       /* 15 minutes per branch and phase, made by the reducers (reducer v 9) */
  JOURNAL_T_COPY = 20,         /* the long-horizon log's copy of a main-log record (journal_history) */
  JOURNAL_T__MAX = 21
};

/* "boot", "config", … ; NULL for an unknown number. */
const char *journal_type_name(unsigned type);
/* Inverse of journal_type_name; returns 0 for an unknown name. */
unsigned journal_type_from_name(const char *name);
/* Critical records end a commit group (DESIGN.md invariant 3). */
bool journal_type_is_critical(unsigned type);
/* The i-th field name of a type's body (the JSON names of `hems timeline`, in canonical key
 * order), NULL past the last (or for a type whose body is kept raw); *is_list (may be NULL):
 * the field is an array. */
const char *journal_body_field(unsigned type, unsigned i, bool *is_list);

enum journal_time_quality { JOURNAL_TQ_SYNCED = 0, JOURNAL_TQ_UNSYNCED = 1, JOURNAL_TQ_STEPPED = 2 };

/* ---------------------------------------------------------------- sources */

enum journal_source_kind {
  JOURNAL_SRC_PANEL = 0, /* "panel" */
  JOURNAL_SRC_BRANCH,    /* "branch:7"   index = branch number */
  JOURNAL_SRC_AFE,       /* "afe:2"      index = AFE number */
  JOURNAL_SRC_DER,       /* "der:pv"     sub = journal_der_source */
  JOURNAL_SRC_TAP,       /* "tap:rcd:3"  sub = journal_tap_kind, index = branch (0 = panel) */
  JOURNAL_SRC_OPERATOR,  /* "operator" */
  JOURNAL_SRC_REMOTE,    /* "remote:<issuer>" name = issuer */
  JOURNAL_SRC__MAX
};
enum journal_der_source { JOURNAL_DER_PV = 0, JOURNAL_DER_ESS = 1, JOURNAL_DER_ATS = 2 };
enum journal_tap_kind {
  JOURNAL_TAP_RCD = 0, JOURNAL_TAP_MCB, JOURNAL_TAP_AFCI, JOURNAL_TAP_LEAKAGE,
  JOURNAL_TAP_TEMPERATURE, JOURNAL_TAP_TAMPER, JOURNAL_TAP_POWER_FAIL
};

struct journal_source {
  uint8_t kind;   /* enum journal_source_kind */
  uint8_t sub;    /* DER source or tap kind */
  uint16_t index; /* branch / AFE number; 0 where none */
  char name[32];  /* remote issuer, NUL-terminated */
};

/* Formats "branch:7" etc. into buf (NUL-terminated); returns the length or -ENOSPC. */
int journal_source_format(const struct journal_source *s, char *buf, size_t cap);
/* Parses the text form; 0 or JOURNAL_EBADREC. */
int journal_source_parse(const char *text, size_t len, struct journal_source *out);

/* ---------------------------------------------------------------- bodies */

/* A borrowed byte range. In a decoded record it points into the buffer that was decoded and
 * is valid exactly as long as that buffer; in a record to encode, the caller owns it. */
struct journal_slice {
  const uint8_t *ptr;
  uint32_t len;
};

enum journal_shutdown { JOURNAL_SHUTDOWN_CLEAN = 0, JOURNAL_SHUTDOWN_UNCLEAN = 1, JOURNAL_SHUTDOWN_FIRST = 2 };

struct journal_boot {
  uint8_t boot_id[JOURNAL_BOOTID_BYTES];
  struct journal_slice reset_reason;     /* text: "power_on", "watchdog", "sim", … */
  uint8_t previous_shutdown;             /* enum journal_shutdown: clean|unclean|first */
  struct journal_slice firmware_version; /* text */
  struct journal_slice rail_status;      /* text, e.g. "ok" or "3v3_low" */
  uint32_t config_version;
  uint32_t reducer_version;              /* the fold's rules from this boot on (replay.md "Reducer
                                            versions"); 0 = not declared (left out, schema v 3 only) */
  int64_t sync_offset_ns;                /* the clock's offset from its time source as the kernel's
                                            NTP state reports it (adjtimex), ns; 0 = not known or
                                            not synced (left out, schema v 3 only) */
};

struct journal_config {
  uint32_t config_version;
  uint8_t config_hash[JOURNAL_HASH_BYTES]; /* BLAKE2b-256 of json */
  struct journal_slice json;               /* the panel config, raw JSON text (UTF-8) */
};

struct journal_note {
  uint32_t gid, uid;                 /* the appender's gid/uid: SO_PEERCRED of the socket peer, or
                                        the process that appended directly; absent in older notes */
  struct journal_slice who;          /* text: the user name of uid (or "uid:N"); scenario notes:
                                        the scenario's author */
  struct journal_slice text;         /* text */
  struct journal_slice claimed_who;  /* text: a name the client gave, kept apart and unchecked;
                                        left out when empty */
};

struct journal_fault {
  struct journal_slice code;   /* text: spi_crc, gpio_overflow, late_window, rollback_accepted,
                                  time_step, suspected_ct_polarity, disk_pressure, … */
  struct journal_slice detail; /* text, human readable */
  int64_t value;               /* code-specific number (lag in ms, count, seq, …) */
  uint16_t branch;             /* 0 = not branch specific */
  uint8_t rails_low;           /* as trip_tap's */
};

struct journal_seal {
  uint64_t sealed_seq;                      /* last record covered = this seal's seq - 1 */
  uint8_t head_hash[JOURNAL_HASH_BYTES];    /* hash of record sealed_seq (== envelope prev) */
  uint8_t state_hash[JOURNAL_HASH_BYTES];   /* live reducer state after folding 1..sealed_seq */
  uint8_t key_id[JOURNAL_KEYID_BYTES];
  uint32_t group_records;                   /* records in the group, this seal excluded */
  uint8_t tree_root[JOURNAL_HASH_BYTES];    /* RFC 9162 root of records 1..sealed_seq (leaves
                                               0..sealed_seq-1); all zero = none (left out of the
                                               encoding: seals written before the tree) */
  uint8_t sig[JOURNAL_SIG_BYTES];           /* Ed25519 (journal_seal_sign): v 1 over
                                               journal_seal_message(), v 3 over the checkpoint */
  uint64_t hw_count;                        /* the hardware counter's count after an increment
                                               since the previous seal (v 3 only); 0 = none
                                               (left out of the encoding) */
};

struct journal_key {
  uint8_t key_id[JOURNAL_KEYID_BYTES];
  uint8_t pubkey[JOURNAL_PUBKEY_BYTES];
  uint8_t prev_key_id[JOURNAL_KEYID_BYTES]; /* all zero for the first key (self-certified) */
  uint8_t cert[JOURNAL_SIG_BYTES];          /* by the previous key (or itself, first key) over
                                               "hems-key-v1" || pubkey || key_id || prev_key_id */
  struct journal_slice algorithm;           /* "ed25519" */
  /* A revocation (hems key revoke): key_id/pubkey name the revoked key, prev_key_id the key in
   * force that revokes it, cert is that key's signature over "hems-key-revoke-v1" || pubkey ||
   * key_id || prev_key_id || reason. Seals by the revoked key after this record are refused. */
  bool revoked;
  struct journal_slice reason;
};


struct journal_retention {
  uint64_t cut_seq;                        /* records 1..cut_seq were archived and removed */
  uint8_t cut_hash[JOURNAL_HASH_BYTES];    /* hash of record cut_seq */
  struct journal_slice archive;            /* archive file name under DIR/archive/ */
  uint8_t archive_hash[JOURNAL_HASH_BYTES];/* BLAKE2b-256 of the archive file */
  uint64_t history_seq;                    /* the long-horizon log's head when the cut was made, */
  uint8_t history_hash[JOURNAL_HASH_BYTES];/* holding a durable copy of every kept record cut, and
                                              that head's hash: the main log's signed anchor of
                                              the history (0 / zero: made without one) */
};

/* A witness's C2SP tlog-cosignature/v1 of the checkpoint of the seal at seq tree_size + 1
 * (`hems witness add`): Ed25519 by pubkey over "cosignature/v1\ntime <timestamp>\n" || that
 * checkpoint's body; the witness's key hash is SHA-256(name || '\n' || 0x04 || pubkey)[:4]. */
struct journal_witness {
  struct journal_slice name;          /* text: the witness's key name */
  uint8_t pubkey[JOURNAL_PUBKEY_BYTES];
  uint64_t timestamp;                 /* the cosignature's time, POSIX seconds */
  uint64_t tree_size;                 /* the cosigned checkpoint's size */
  uint8_t sig[JOURNAL_SIG_BYTES];
};

/* actuation / sense_back / trip_tap / der (actuators issue; schemas/actuators.cddl). Integer
 * units: mA, mV, ns, µs, milli-units. `target` is a branch number or 0 = the service
 * disconnect (encoded "service"). */
enum journal_actuator { JOURNAL_ACTR_MONOSTABLE = 0, JOURNAL_ACTR_LATCHING, JOURNAL_ACTR_CONTACTOR,
                        JOURNAL_ACTR_SSR, JOURNAL_ACTR_EFUSE, JOURNAL_ACTR_SERVICE,
                        JOURNAL_ACTR_SUNSPEC, /* a DER command written to a SunSpec device by `hems bridge sunspec` */
                        JOURNAL_ACTR_PERMIT   /* reducer v 11: the battery's permit-to-run line */ };
enum journal_act_action { JOURNAL_ACTION_NONE = 0, JOURNAL_ACTION_COIL_ON, JOURNAL_ACTION_COIL_OFF,
                          JOURNAL_ACTION_PULSE_SET, JOURNAL_ACTION_PULSE_RESET, JOURNAL_ACTION_GATE_ON,
                          JOURNAL_ACTION_GATE_OFF, JOURNAL_ACTION_ENABLE_ON, JOURNAL_ACTION_ENABLE_OFF };
enum journal_act_result { JOURNAL_ACTRES_OK = 0, JOURNAL_ACTRES_NO_OP, JOURNAL_ACTRES_FAILED };
struct journal_actuation {
  uint16_t target;                 /* branch, or 0 = "service" */
  uint8_t actuator;                /* enum journal_actuator */
  uint8_t action;                  /* enum journal_act_action: physical line action; "none" = held */
  uint8_t desired;                 /* "off" | "on" */
  uint8_t result;                  /* enum journal_act_result: "ok" | "no_op" | "failed" */
  int32_t error;                   /* driver error code when failed, else 0 */
  uint32_t line;                   /* GPIO line offset driven; 0xffffffff none */
  uint32_t pulse_us;               /* latching coil pulse width; 0 otherwise */
  uint64_t t_ns;                   /* monotonic time the output changed (or was found held) */
  uint64_t command_seq;            /* the durable command record executed */
  struct journal_slice request_id; /* text, copied from the command */
};
enum journal_verdict { JOURNAL_VERDICT_CONFIRMED = 0, JOURNAL_VERDICT_WELDED, JOURNAL_VERDICT_STUCK_OPEN,
                       JOURNAL_VERDICT_LEAKAGE, JOURNAL_VERDICT_NO_FEEDBACK, JOURNAL_VERDICT_CHATTER };
enum journal_sensed { JOURNAL_SENSED_OFF = 0, JOURNAL_SENSED_ON, JOURNAL_SENSED_UNKNOWN };
enum journal_aux { JOURNAL_AUX_OPEN = 0, JOURNAL_AUX_CLOSED, JOURNAL_AUX_NOT_WIRED };
enum journal_load_v { JOURNAL_LOADV_ABSENT = 0, JOURNAL_LOADV_PRESENT, JOURNAL_LOADV_NOT_WIRED };
struct journal_sense_back {
  uint16_t target;
  uint8_t actuator;                /* enum journal_actuator */
  uint8_t commanded;               /* "off" | "on" */
  uint8_t sensed;                  /* enum journal_sensed */
  uint8_t verdict;                 /* enum journal_verdict */
  uint8_t aux;                     /* enum journal_aux: debounced aux / power-good at the verdict */
  uint16_t aux_edges;              /* debounced aux transitions since the actuation */
  uint8_t load_v;                  /* enum journal_load_v: load-side voltage sense */
  uint8_t metered;                 /* bool: current samples covered the window */
  uint8_t moved;                   /* bool: the driver performed a mechanical action */
  int32_t current_ma;              /* rms at the verdict (latest sample) */
  int32_t supply_mv;               /* supply-side rms voltage if the caller fed it, else 0 */
  int32_t inrush_peak_ma;          /* close: max |i| in the window; 0 otherwise */
  uint32_t crest_milli;            /* close: inrush peak / settled rms, milli-units; 0 if unknown */
  uint32_t elapsed_us;             /* actuation to verdict */
  uint64_t t_ns;                   /* monotonic time of the verdict */
  uint64_t command_seq;
  struct journal_slice request_id;
  uint8_t rails_low;               /* as trip_tap's */
};
enum journal_edge { JOURNAL_EDGE_RISING = 0, JOURNAL_EDGE_FALLING = 1 };
struct journal_trip_tap {
  uint8_t kind;                    /* enum journal_tap_kind */
  uint8_t edge;                    /* enum journal_edge (logical, after active_low): rising = asserted */
  uint16_t tap;                    /* index into the panel config's taps */
  uint16_t branch;                 /* 0 = panel-wide */
  uint32_t line;                   /* GPIO line offset */
  uint64_t kernel_ns;              /* the kernel's event timestamp of the (debounced) edge */
  uint32_t line_seqno;
  uint32_t dropped;                /* events lost (overflow) before this one on its request */
  int32_t rms_ma, peak_ma;         /* pre-trigger signature of the branch (0 if none) */
  uint32_t crest_milli;
  uint8_t capture[JOURNAL_HASH_BYTES]; /* blob hash of the waveform capture around the edge;
                                          all zero = none (no streaming AFE, or it was busy) */
  uint64_t of_seq;                 /* 0: an edge. Else this record only adds the capture of the
                                      edge journaled at of_seq (the same fields, capture set):
                                      the edge is journaled at once, its capture when complete
                                      (schema v 3 only; left out when 0) */
  uint8_t rails_low;               /* bit i: the panel config's rails[i] was low when it was
                                      journaled (schema v 3 only; left out when 0) */
  int32_t value_milli;             /* a tap with an analog source (leakage, temperature): its
                                      value read at the edge, in thousandths of its unit (µA,
                                      m°C); present only when have_value */
  uint8_t have_value;
};
enum journal_der_state { JOURNAL_DERST_OFF = 0, JOURNAL_DERST_GRID_TIED, JOURNAL_DERST_FAULT,
                         JOURNAL_DERST_IDLE, JOURNAL_DERST_CHARGING, JOURNAL_DERST_DISCHARGING,
                         JOURNAL_DERST_ALARM, JOURNAL_DERST_ON_GRID, JOURNAL_DERST_ON_BACKUP,
                         JOURNAL_DERST_NO_SUPPLY,
                         /* a SunSpec inverter's St (models 101-103, 701 InvSt): OFF is off, FAULT fault,
                          * MPPT producing */
                         JOURNAL_DERST_SLEEPING, JOURNAL_DERST_STARTING, JOURNAL_DERST_PRODUCING,
                         JOURNAL_DERST_THROTTLED, JOURNAL_DERST_SHUTTING_DOWN, JOURNAL_DERST_STANDBY };
enum journal_der_via { JOURNAL_DERVIA_LINES = 0, JOURNAL_DERVIA_SUNSPEC = 1 };
enum journal_der_reason { JOURNAL_DERR_INITIAL = 0, JOURNAL_DERR_EDGE, JOURNAL_DERR_RESYNC, JOURNAL_DERR_STALE };
enum journal_transfer { JOURNAL_XFER_GRID = 0, JOURNAL_XFER_BACKUP, JOURNAL_XFER_NONE };
struct journal_der {
  uint8_t source;                  /* enum journal_der_source */
  uint8_t state;                   /* enum journal_der_state */
  uint8_t reason;                  /* enum journal_der_reason */
  uint8_t interlock_ok;            /* bool: ATS interlock line (true when no ATS) */
  uint8_t transfer;                /* enum journal_transfer: sensed ATS position */
  uint8_t grid_present;            /* bool */
  uint8_t fresh;                   /* bool: levels read from live lines, none lost */
  uint16_t branch;                 /* branch the source feeds; 0 none */
  uint64_t kernel_ns;
  uint8_t rails_low;               /* as trip_tap's */
  /* A SunSpec poll's (via sunspec): kernel_ns is the poll's time; w and soc_mpct are encoded
   * only when the device implements them (have_w, have_soc: a 0 W reading is "w": 0, a value
   * the device does not implement no key at all) */
  uint8_t via;                     /* enum journal_der_via */
  uint8_t have_w, have_soc;
  int32_t w;                       /* AC power, W (SunSpec W scaled by W_SF, rounded) */
  int32_t soc_mpct;                /* state of charge, milli-percent (ChaState / SoC with its SF) */
};
/* A der state's name ("producing"), or NULL; and back: the enum value, or -1. */
const char *journal_der_state_name(unsigned state);
int journal_der_state_from_name(const char *name);

/* window: one per AFE per aggregation period (ingest). Integer fixed point throughout so the
 * reducers stay integer-only: mV, mA, mW, mvar, mVA, milli-percent, mHz, µWh. */
#define JOURNAL_WINDOW_CHANNELS 16
enum journal_channel_kind { JOURNAL_CH_VOLTAGE = 0, JOURNAL_CH_CURRENT = 1, JOURNAL_CH_NEUTRAL = 2 };
enum journal_phase { JOURNAL_PHASE_A = 0, JOURNAL_PHASE_B, JOURNAL_PHASE_C, JOURNAL_PHASE_N };
struct journal_window_channel {
  uint8_t ch;          /* AFE channel index */
  uint8_t kind;        /* enum journal_channel_kind: "voltage" | "current" | "neutral" */
  uint8_t phase;       /* enum journal_phase: "A" | "B" | "C" | "N" */
  uint16_t branch;     /* current channels: branch number; 0 = none */
  int32_t rms_m;       /* mV or mA */
  int32_t min_m, max_m;/* instantaneous extremes, mV or mA */
  int32_t thd_mpct;    /* THD (harmonics 2..40), milli-percent */
  /* Schema v 3 only (v 1 records leave them 0): the smallest and largest half-cycle RMS
   * (IEC 61000-4-30 Urms(1/2)) of the window, mV or mA, 0 = not measured; and whether a PQ
   * event (dip, swell, interruption, RVC) or a trip tap touched the channel in the window. */
  int32_t hrms_min_m, hrms_max_m;
  bool event;
};
struct journal_window_power {
  uint8_t ich, vch;    /* current and voltage channel */
  uint8_t phase;
  uint16_t branch;
  int64_t p_mw, q_mvar, s_mva;
  int32_t pf_mpct;     /* P/S, milli-percent, negative only when power flows backwards */
  int64_t import_uwh;  /* energy completed in this window, µWh (remainder carried upstream) */
  int64_t export_uwh;
};
struct journal_window {
  uint16_t afe;
  int64_t start_ns;    /* wall time of the first sample */
  uint32_t duration_us;
  uint32_t freq_mhz;
  uint16_t basic_windows;
  uint16_t flags;      /* 1 event-flagged (IEC 61000-4-30), 2 time unsynced, 4 register path */
  uint16_t nbranches;
  uint16_t branches[JOURNAL_WINDOW_CHANNELS]; /* branches this window measures (indexed) */
  uint16_t nch;
  struct journal_window_channel ch[JOURNAL_WINDOW_CHANNELS];
  uint16_t npow;
  struct journal_window_power pow[JOURNAL_WINDOW_CHANNELS];
};

/* pq_event: one per polyphase disturbance (IEC 61000-4-30). */
enum journal_pq_kind { JOURNAL_PQ_DIP = 0, JOURNAL_PQ_SWELL, JOURNAL_PQ_INTERRUPTION, JOURNAL_PQ_RVC,
                       JOURNAL_PQ_FREQ };
enum journal_ieee1159 { JOURNAL_IEEE1159_INSTANTANEOUS = 0, JOURNAL_IEEE1159_MOMENTARY,
                        JOURNAL_IEEE1159_TEMPORARY, JOURNAL_IEEE1159_SUSTAINED,
                        JOURNAL_IEEE1159_NONE /* rvc and freq: IEEE 1159 has no category for them */ };
struct journal_pq_phase {
  uint8_t ch, phase;
  int32_t min_mv, max_mv; /* extremes of Urms(1/2) on this phase during the event */
};
struct journal_pq_event {
  uint16_t afe;
  uint8_t kind;        /* "dip" | "swell" | "interruption" | "rvc" | "freq" */
  uint8_t category;    /* IEEE 1159: "instantaneous" | "momentary" | "temporary" | "sustained" */
  uint8_t flags;       /* 1 in progress at start of record/run */
  char phases[8];      /* e.g. "A", "ABC" */
  int64_t start_ns;
  uint64_t duration_us;
  int32_t extreme_mv;  /* residual (dip, interruption) or peak (swell) Urms(1/2) */
  int32_t extreme_mpct;/* of the declared voltage */
  int32_t declared_mv;
  uint16_t nph;
  struct journal_pq_phase ph[4];
  uint8_t capture[JOURNAL_HASH_BYTES]; /* blob hash of the waveform capture; all zero = none */
  int32_t delta_umax_mpct; /* rvc: largest |Urms(1/2) − mean before| (IEC 61000-4-30 §5.11), of declared */
  int32_t delta_uss_mpct;  /* rvc: |mean after − mean before|, of declared */
  uint32_t freq_mhz;       /* freq: the 10-s frequency furthest from nominal */
};

/* pq_aggregate: an IEC 61000-4-30 §4.5 aggregation interval of the mains AFE — 10 minutes
 * (clock aligned) or 2 hours. Values are sqrt(mean of squares) of the basic (10/12-cycle)
 * windows' values (2 h: of the 10-minute values). Harmonic spectra are IEC 61000-4-7 groups and
 * subgroups 0..50 in hundredths of a percent of the channel's group 1 (h1_m; 0 when h1_m is 0),
 * saturating at 65535. */
#define JOURNAL_AGG_CHANNELS 8
#define JOURNAL_AGG_HARMONICS 51
#define JOURNAL_AGGF_FLAGGED 1u   /* a dip, swell or interruption touched the interval (marked, not dropped) */
#define JOURNAL_AGGF_PARTIAL 2u   /* the run did not cover the whole interval */
#define JOURNAL_AGGF_UNBALANCE 4u /* u0/u2 were measured (three voltage phases) */
struct journal_agg_channel {
  uint8_t ch, kind, phase; /* engine channel; enum journal_channel_kind; enum journal_phase */
  int32_t rms_m;           /* mV or mA */
  int32_t h1_m;            /* group 1 (fundamental) rms, mV or mA */
  int32_t thd_mpct;        /* IEC 61000-4-7 group THD 2..40, milli-percent */
  uint32_t pst_milli, plt_milli;   /* voltage channels: short/long-term flicker severity × 1000 (0 = absent) */
  uint16_t nh, nhs, nih, nihs;
  uint16_t h_cpct[JOURNAL_AGG_HARMONICS];    /* harmonic groups, index = order (0 = DC) */
  uint16_t hs_cpct[JOURNAL_AGG_HARMONICS];   /* harmonic subgroups */
  uint16_t ih_cpct[JOURNAL_AGG_HARMONICS];   /* interharmonic groups, index n = between n and n+1 */
  uint16_t ihs_cpct[JOURNAL_AGG_HARMONICS];  /* interharmonic centred subgroups */
};
struct journal_pq_aggregate {
  uint16_t afe;
  uint32_t interval_s;     /* 600 or 7200 */
  int64_t start_ns;        /* the tick that opens the interval */
  uint32_t covered_ms;     /* time of the basic windows inside */
  uint16_t nwin;           /* basic windows (2 h: 10-minute intervals) */
  uint8_t flags;           /* JOURNAL_AGGF_* */
  uint32_t freq_mhz;       /* cycles / their duration over the interval */
  uint32_t u2_mpct, u0_mpct; /* negative- and zero-sequence unbalance, milli-percent of positive */
  uint16_t nch;
  struct journal_agg_channel ch[JOURNAL_AGG_CHANNELS];
};

/* rollup: one clock-aligned 15-minute interval, summarised by the reducers from the records
 * (replay/reduce/reduce_rollup.c; docs/replay.md "Rollups"). Windows count in the interval their
 * start_ns falls in; import/export are the sums of their per-branch deltas (negative deltas count
 * 0, as in the totals); means are sums over windows divided by the window count, truncated toward
 * zero. first_seq is the first record counted, last_seq the record before the one that closed the
 * interval and last_hash that record's hash (the closing record's prev): every record counted is
 * in first_seq..last_seq. */
#define JOURNAL_ROLLUP_BRANCHES 48
#define JOURNAL_ROLLUP_PHASES 4
#define JOURNAL_ROLLUP_SECONDS 900
struct journal_rollup_branch {
  uint16_t branch;
  uint32_t windows;              /* windows that metered it */
  int64_t import_uwh, export_uwh;
  int64_t p_min_mw, p_mean_mw, p_max_mw;
  uint32_t events;               /* windows whose channel of the branch an event touched */
  uint32_t trips;                /* rcd/mcb/afci trip taps (rising edges) */
  uint32_t commands;             /* command records that target it */
};
struct journal_rollup_phase {
  uint8_t phase;                 /* enum journal_phase */
  uint32_t windows;              /* windows of the voltage source (the config's mains AFE, else 1) */
  int32_t v_min_mv, v_mean_mv, v_max_mv; /* min/max: the half-cycle extremes when measured, else rms */
};
struct journal_rollup {
  int64_t start;                 /* ns since the Unix epoch, a multiple of duration_s */
  uint32_t duration_s;           /* JOURNAL_ROLLUP_SECONDS */
  uint64_t first_seq, last_seq;
  uint8_t last_hash[JOURNAL_HASH_BYTES];
  uint32_t late_windows;         /* windows that started before the interval, counted in it
                                    because theirs was already closed (0: left out) */
  uint16_t nbr;
  struct journal_rollup_branch br[JOURNAL_ROLLUP_BRANCHES];
  uint16_t nph;
  struct journal_rollup_phase ph[JOURNAL_ROLLUP_PHASES];
};

/* copy: an entry of the long-horizon log (DIR/history, journal_history below) — a main-log
 * record that outlives the raw windows, by its seq and hash, with its exact bytes. `record` is
 * left out (length 0) only when the copy would not fit JOURNAL_RECORD_MAX (a config near the
 * limit): the copy then names the record without holding it. */
struct journal_copy {
  uint64_t main_seq;
  uint8_t main_hash[JOURNAL_HASH_BYTES]; /* journal_record_hash of the main-log record */
  struct journal_slice record;           /* its bytes, exactly as the main log holds them */
};

/* request / command / refusal (replay issue): intent and the reducer's decision on it.
 * `target` is a branch number (1..65535) or 0 for the service disconnect; it encodes as a uint
 * or as the text "service". Times are wall ns of the record clock. */
#define JOURNAL_TARGET_SERVICE 0u
enum journal_desired { JOURNAL_DESIRED_OFF = 0, JOURNAL_DESIRED_ON = 1 };
enum journal_role { JOURNAL_ROLE_VIEWER = 0, JOURNAL_ROLE_OPERATOR, JOURNAL_ROLE_ADMIN, JOURNAL_ROLE_UTILITY };
enum journal_origin { JOURNAL_ORIGIN_OPERATOR = 0, JOURNAL_ORIGIN_REMOTE, JOURNAL_ORIGIN_DEMAND_RESPONSE,
                      JOURNAL_ORIGIN_AUTOMATION };
enum journal_command_reason {
  JOURNAL_CMD_OPERATOR = 0, JOURNAL_CMD_LOAD_SHED, JOURNAL_CMD_RESTORE, JOURNAL_CMD_DEMAND_RESPONSE,
  JOURNAL_CMD_INTERLOCK, JOURNAL_CMD_FAIL_SAFE, JOURNAL_CMD_REMOTE,
  JOURNAL_CMD_PROTECT,         /* reducer v 8: a sustained over/under-voltage opens a sensitive branch */
  JOURNAL_CMD_BACKUP           /* reducer v 11: on backup power: the battery's permit to run, a shed to its rating */
};
enum journal_refusal_reason {
  JOURNAL_REF_BACKFEED = 0, JOURNAL_REF_BREAKER_OPEN, JOURNAL_REF_RCD_TRIPPED, JOURNAL_REF_RATE_LIMIT,
  JOURNAL_REF_ROLE, JOURNAL_REF_CONFLICT, JOURNAL_REF_EXPIRED, JOURNAL_REF_UNKNOWN_TARGET,
  JOURNAL_REF_INVALID, JOURNAL_REF_INTERLOCK,
  /* policy issue (docs/policy.md) */
  JOURNAL_REF_MODE,           /* the service disconnect's control_mode forbids the transition */
  JOURNAL_REF_MANDATORY,      /* opting out of a mandatory demand-response event */
  JOURNAL_REF_SUPERSEDED,     /* a DR event with a lower modification number than the stored one */
  JOURNAL_REF_UNKNOWN_EVENT,  /* cancel / opt-out of a DR event the panel does not hold */
  /* field-truth issue (reducer v 7) */
  JOURNAL_REF_ALARM_ACTIVE,   /* an acknowledgement of an alarm whose condition still holds */
  JOURNAL_REF_ALARM_NOT_RAISED, /* an acknowledgement of an alarm that is not raised */
  JOURNAL_REF_STALE,           /* reducer v 10: a DER command to a source not being read (stale) */
  JOURNAL_REF_DEFERRED,        /* reducer v 11: a policy close waits at the branch's operations limit */
  /* signed remote commands (docs/fleet.md "Remote commands"): refused by the daemon before any
   * request is journaled, so cause_seq is 0 and the source is remote:<issuer> (or "remote:?") */
  JOURNAL_REF_SIGNATURE,       /* the COSE_Sign1 signature does not verify under the issuer's key */
  JOURNAL_REF_AUDIENCE,        /* aud is not this panel's device id */
  JOURNAL_REF_REPLAYED,        /* cti already accepted within its validity */
  JOURNAL_REF_SEQUENCE,        /* the issuer's seq is not above the last one accepted */
  JOURNAL_REF_UNKNOWN_ISSUER,  /* kid names no issuer of the panel config's remote section */
  JOURNAL_REF_AWAITING_SECOND, /* two-person rule: the first signature, held for a second issuer's */
  JOURNAL_REF_NOT_YET_VALID,   /* iat later than now (beyond the skew allowed) */
  JOURNAL_REF_MALFORMED        /* the bytes are not a COSE_Sign1 with the claims hems requires */
};
/* What a request asks (policy issue). `switch` is the declarative "set target to desired". */
enum journal_request_kind { JOURNAL_REQ_SWITCH = 0, JOURNAL_REQ_SERVICE, JOURNAL_REQ_DR_START,
                            JOURNAL_REQ_DR_CANCEL, JOURNAL_REQ_DR_OPT_OUT, JOURNAL_REQ_ALARM_ACK,
                            JOURNAL_REQ_DER /* reducer v 10: a command to a DER source (der, der_action, der_permille) */ };
/* A DER command (reducer v 10; docs/policy.md "DER commands"): which source (`der`: the source
 * + 1, so 0 is none and the key is left out), what (`der_action`) and, for the limits, how much
 * (`der_permille` of the device's rating: SunSpec WMaxLimPct, InWRte, OutWRte). */
enum journal_der_target { JOURNAL_DERT_NONE = 0, JOURNAL_DERT_PV, JOURNAL_DERT_ESS };
enum journal_der_action { JOURNAL_DERA_NONE = 0, JOURNAL_DERA_CONNECT, JOURNAL_DERA_DISCONNECT, JOURNAL_DERA_LIMIT,
                          JOURNAL_DERA_CHARGE_LIMIT, JOURNAL_DERA_DISCHARGE_LIMIT };
#define JOURNAL_DERA_MAX JOURNAL_DERA_DISCHARGE_LIMIT
/* "connect" … "discharge_limit", or NULL; and back: the enum value, or -1. */
const char *journal_der_action_name(unsigned action);
int journal_der_action_from_name(const char *name);
/* The alarm an alarm_ack names: value n is alarm bit 1 << (n - 1) of the reducers
 * (replay/reduce/reduce.h enum replay_alarm); 0 none. */
enum journal_alarm { JOURNAL_ALARM_NONE = 0, JOURNAL_ALARM_WELDED, JOURNAL_ALARM_CT_POLARITY,
                     JOURNAL_ALARM_PHASE_MAP, JOURNAL_ALARM_UNEXPLAINED_TRIP, JOURNAL_ALARM_STALE_DER,
                     JOURNAL_ALARM_BACKFEED_RISK, JOURNAL_ALARM_DER_MISMATCH,
                     /* reducer v 11 (an older one refuses them invalid) */
                     JOURNAL_ALARM_LEAKAGE_HIGH, JOURNAL_ALARM_OVER_TEMPERATURE, JOURNAL_ALARM_TEMPERATURE_RISE };
#define JOURNAL_ALARM_MAX JOURNAL_ALARM_TEMPERATURE_RISE
/* Service disconnect actions (COSEM class 70): remote/manual disconnect and reconnect, the local
 * confirmation of an armed reconnect, and writing control_mode. */
enum journal_service_action { JOURNAL_SVC_NONE = 0, JOURNAL_SVC_DISCONNECT, JOURNAL_SVC_RECONNECT,
                              JOURNAL_SVC_CONFIRM, JOURNAL_SVC_SET_MODE };
struct journal_request {
  uint16_t target;                /* branch number, or JOURNAL_TARGET_SERVICE */
  uint8_t desired;                /* enum journal_desired: "off" | "on" */
  uint8_t role;                   /* enum journal_role of the requester: "viewer" | "operator" | "admin" | "utility" */
  uint8_t origin;                 /* enum journal_origin: "operator" | "remote" | "demand_response" | "automation" */
  uint32_t uid;                   /* local requester's uid (SO_PEERCRED); 0 for remote */
  uint32_t gid;                   /* local requester's gid (SO_PEERCRED); 0 for remote */
  struct journal_slice request_id;/* text, as given (<= 64 bytes to be decided) */
  struct journal_slice issuer;    /* text: remote issuer or DR event id; empty for local */
  struct journal_slice reason;    /* text: the requester's free-form reason */
  int64_t expiry_ns;              /* wall ns after which the request is refused `expired`; 0 none */
  /* policy issue: every field below is absent (zero) in older records, which are switches. */
  uint8_t kind;                   /* enum journal_request_kind: "switch" | "service" | "dr_start" | "dr_cancel" | "dr_opt_out" | "alarm_ack" */
  uint8_t action;                 /* service: enum journal_service_action: "none" | "disconnect" | "reconnect" | "confirm" | "set_mode" */
  uint8_t control_mode;           /* service set_mode: COSEM class 70 control_mode 0..6 */
  uint8_t mandatory;              /* dr_start: bool */
  struct journal_slice event;     /* dr_*: the DR event id (text) */
  uint32_t modification;          /* dr_start: modification number (higher replaces) */
  int64_t dtstart_ns;             /* dr_start: the event's requested start (wall ns) */
  int64_t start_ns;               /* dr_start: the start actually used: dtstart + a randomisation drawn
                                     by the daemon from its seed, in [dtstart, dtstart + randomize] */
  uint64_t randomize_ns;          /* dr_start: the start randomisation window */
  uint64_t duration_ns;           /* dr_start: active period */
  uint32_t reduce_w;              /* dr_start: target reduction in W (0: use branch_mask) */
  uint64_t branch_mask;           /* dr_start: bit n-1 = branch n to open */
  uint8_t alarm;                  /* alarm_ack: enum journal_alarm (left out when 0); the target is
                                     the branch, or 0 for a panel alarm */
  uint32_t der;                   /* der: the command packed in one key (single-byte keys run out):
                                     journal_der_pack(source, action, permille); left out when 0 */
  /* a signed remote command (docs/fleet.md): the issuer's seq and the CWT id (cti); left out
   * when 0 / empty */
  uint64_t remote_seq;
  struct journal_slice cti;
};
/* A der request's `der`: target (1 pv, 2 ess) + 4 × action + 64 × permille. Unpack gives each
 * part as encoded (the fold checks the ranges). */
static inline uint32_t journal_der_pack(unsigned target, unsigned action, unsigned permille)
{
  return (uint32_t)(target & 3u) + 4u * (action & 15u) + 64u * permille;
}
static inline void journal_der_unpack(uint32_t der, unsigned *target, unsigned *action, uint32_t *permille)
{
  *target = der & 3u;
  *action = (der >> 2) & 15u;
  *permille = der >> 6;
}
struct journal_command {
  uint16_t target;
  uint8_t desired;
  uint8_t reason;                 /* enum journal_command_reason */
  uint64_t cause_seq;             /* the request (or other record) that caused it; 0 none */
  struct journal_slice request_id;/* text; empty when not caused by a request */
  /* Why, as the reducer measured it (each left out when 0). load_shed: the phase current of the
   * window that decided it and the limit, the allowance level that ran out (permille of the
   * limit) and its allowance, the branch's priority and its rank in the shed order (1 = first).
   * restore: the hold-off it waited through and the stagger between closes. */
  int64_t phase_ma, limit_ma;
  uint32_t level_permille, allowance_ms, holdoff_ms, stagger_ms;
  uint8_t priority, rank;
  /* reducer v 10: a DER command (as the request's; each left out when 0). `target` is then the
   * branch the source feeds, and nothing at the panel is actuated: the SunSpec bridge executes
   * it and its `actuation` and `sense_back` (actuator sunspec) name the command's seq. */
  uint8_t der, der_action;
  uint16_t der_permille;
};
struct journal_refusal {
  uint16_t target;
  uint8_t desired;
  uint8_t reason;                 /* enum journal_refusal_reason */
  uint64_t cause_seq;             /* the refused request; 0 for requests refused at the socket
                                     (never journaled one by one: rate limit) */
  struct journal_slice request_id;
  uint32_t uid;                   /* socket refusals: the peer's uid; else 0 (left out) */
  uint32_t count;                 /* socket refusals: how many requests this one record stands
                                     for (coalesced); else 0 (left out) */
  uint32_t ops, ops_limit;        /* rate_limit: the branch's operations in the last minute and
                                     the limit it reached; else 0 (left out) */
  uint64_t remote_seq;            /* a refused signed remote command: the issuer's seq and the CWT */
  struct journal_slice cti;       /*   id (cti), when the message got that far; else left out */
};

/* Other record types are added by the subsystems that produce them; until then their body is
 * kept as raw CBOR (a map) so every record still decodes, renders and verifies. */
struct journal_raw_body {
  struct journal_slice cbor;
};

union journal_body {
  struct journal_boot boot;
  struct journal_config config;
  struct journal_note note;
  struct journal_fault fault;
  struct journal_seal seal;
  struct journal_key key;
  struct journal_retention retention;
  struct journal_witness witness;
  struct journal_actuation actuation;
  struct journal_sense_back sense_back;
  struct journal_trip_tap trip_tap;
  struct journal_der der;
  struct journal_window window;
  struct journal_pq_event pq_event;
  struct journal_pq_aggregate pq_aggregate;
  struct journal_rollup rollup;
  struct journal_copy copy;
  struct journal_request request;
  struct journal_command command;
  struct journal_refusal refusal;
  struct journal_raw_body raw;
};

/* One record, decoded (or to be encoded). */
struct journal_record {
  uint64_t seq;
  uint8_t prev[JOURNAL_HASH_BYTES];
  uint32_t version;     /* schema version */
  uint16_t type;        /* enum journal_type */
  uint8_t time_quality; /* enum journal_time_quality */
  uint64_t mono_ns;
  int64_t wall_ns;
  uint8_t boot_id[JOURNAL_BOOTID_BYTES];
  struct journal_source source;
  union journal_body body;
};

/* ---------------------------------------------------------------- codec */

/* Encodes r as deterministic CBOR into buf[0..cap). Returns 0 and *out_len, -ENOSPC when it
 * does not fit, JOURNAL_EBADREC for an unknown type or an invalid field. */
int journal_record_encode(const struct journal_record *r, uint8_t *buf, size_t cap, size_t *out_len);

/* Decodes one record; slices in *out borrow buf. Rejects anything that is not the canonical
 * encoding (non-shortest integers, unsorted or duplicate keys, trailing bytes, unknown required
 * fields, a version other than 1 or 3 → JOURNAL_EVERSION). */
int journal_record_decode(const uint8_t *buf, size_t len, struct journal_record *out);
/* The same for a loop that decodes record after record into one struct and reads each by its
 * type (replay's and verify's folds): a window clears only the envelope and out->body.window
 * instead of the whole struct (~2 kB less to clear per record); the bytes of out->body outside
 * the decoded type's member are unspecified. The same return code and the same decoded fields. */
int journal_record_decode_reuse(const uint8_t *buf, size_t len, struct journal_record *out);

/* Whether v is a record schema version this codec reads (1 or 3). */
static inline bool journal_schema_known(uint64_t v) { return v == JOURNAL_SCHEMA_V1 || v == JOURNAL_SCHEMA_V3; }

/* The record schema a journal of the given on-disk format writes: 3 for format 3, else 1. */
unsigned journal_record_schema_for_format(unsigned format);

/* Branches a record concerns: its source (branch, or a tap's branch) and the body's top-level
 * "branch", "target" or "branches" fields. Returns the count (<= cap) or <0. */
int journal_record_branches(const uint8_t *buf, size_t len, uint16_t *out, int cap);

/* Fast path for verification: seq, type and prev of an encoded record without a full decode. */
int journal_record_peek(const uint8_t *buf, size_t len, uint64_t *out_seq, unsigned *out_type,
                        uint8_t out_prev[JOURNAL_HASH_BYTES]);

/* hash = BLAKE2b-256("hems.record.v1\0" || bytes) — the chain link. */
void journal_record_hash(const uint8_t *buf, size_t len, uint8_t out[JOURNAL_HASH_BYTES]);

/* The exact bytes an Ed25519 seal signature covers (docs/journal.md): "hems.seal.v1" padded
 * with zero bytes to 16, then BLAKE2b-256 of the seal record as encoded with its `sig` field set
 * to 64 zero bytes. So every byte of the seal — envelope (seq, prev, times, time quality, boot
 * id, source) and body (sealed_seq, head_hash, state_hash, key_id, group_records) — is signed.
 * seal must be a complete seal record (as decoded or about to be encoded); returns 0 or the
 * encoder's error. */
#define JOURNAL_SEAL_MESSAGE_BYTES 48
int journal_seal_message(const struct journal_record *seal, uint8_t msg[JOURNAL_SEAL_MESSAGE_BYTES]);

struct journal_signer;
/* Seal signatures, both kinds, in one place (seal.c; docs/journal.md "Checkpoints"). A seal of
 * schema v 1 signs journal_seal_message(). A seal of v 3 signs its checkpoint: sig is the C2SP
 * signed-note Ed25519 signature, key name "hems/<device id>", over the body
 * journal_seal_checkpoint() writes. device_id_hex is 32 lowercase hex (meta device_id or a
 * bundle header; untrusted: a wrong one only makes v 3 seals fail to verify). */
/* The C2SP tlog-checkpoint body of a seal: origin "hems/<device id>", size sealed_seq, base64
 * tree_root, "state", "head", "time" (the seal's wall time) and "seal <hex>" (journal_record_hash
 * of the seal encoded with sig = 64 zero bytes). Returns its length, JOURNAL_ENOTE (bad device
 * id, size 0), -ENOSPC or the encoder's error. */
int journal_seal_checkpoint(const struct journal_record *seal, const char *device_id_hex, char *out, size_t cap);
/* Fills seal->body.seal.sig with s (by the seal's version). 0 or an error. */
int journal_seal_sign(struct journal_record *seal, const char *device_id_hex, const struct journal_signer *s);
/* 0 when seal's sig verifies with pk (by its version), JOURNAL_EBADSIG otherwise. */
int journal_seal_verify(const struct journal_record *seal, const char *device_id_hex,
                        const uint8_t pk[JOURNAL_PUBKEY_BYTES]);
/* The signed note of a v 3 seal (its checkpoint body, a blank line, the signature line with
 * pk's key hash and the seal's sig) — what `hems checkpoint` prints; not verified here. Returns
 * the length; JOURNAL_EVERSION for a v 1 seal (its signature does not cover a checkpoint). */
int journal_seal_note(const struct journal_record *seal, const char *device_id_hex,
                      const uint8_t pk[JOURNAL_PUBKEY_BYTES], char *out, size_t cap);

/* Renders a record (bytes as given) as a JSON object text {seq,type,time,source,body,…}.
 * Returns a malloc'd NUL-terminated string the caller frees, or NULL (bad record / OOM).
 * Byte strings render as lowercase hex; times as RFC 3339 with milliseconds. */
char *journal_record_to_json(const uint8_t *buf, size_t len, int flags);
#define JOURNAL_JSON_COMPACT 0x1
#define JOURNAL_JSON_WITH_HASH 0x2 /* adds "hash" and "prev" */

/* RFC 3339 UTC with milliseconds: "2026-11-21T14:02:00.123Z". buf needs 32 bytes. */
void journal_format_time(int64_t wall_ns, char buf[32]);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void journal_hex(const uint8_t *bytes, size_t n, char *out);

/* ---------------------------------------------------------------- keys and signer */

/* One signer interface, so a PKCS#11 token or a secure element can hold a non-exportable key
 * later. sign() must be deterministic for a given message (Ed25519 is). */
struct journal_signer {
  int (*sign)(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[JOURNAL_SIG_BYTES]);
  uint8_t pubkey[JOURNAL_PUBKEY_BYTES];
  uint8_t key_id[JOURNAL_KEYID_BYTES];
  void *ctx;
};

/* The file-backed signer: DIR/keys/signing.key (mode 0600). The 64-byte libsodium secret key
 * lives in sodium_malloc'ed memory (guard pages, mlock'ed, read-only after load, excluded from
 * core dumps where the kernel allows), never in the struct itself; wipe frees and zeroes it.
 * sk_locked says whether mlock succeeded (RLIMIT_MEMLOCK may refuse it). */
struct journal_file_signer {
  struct journal_signer signer;
  uint8_t *sk;
  bool sk_locked;
};

/* Creates DIR/keys/ (0700), signing.key (0600) and signing.pub; -EEXIST if a key exists.
 * seed (32 bytes) may be NULL for a random key; tests pass one for reproducible keys. */
int journal_keys_create(const char *dir, const uint8_t *seed);
/* Loads the signing key: JOURNAL_ENOKEY if missing, JOURNAL_EKEYPERM if group/world can
 * read it, JOURNAL_EBADKEY if malformed or not a regular file (a symlink is refused: the file
 * is opened O_NOFOLLOW and its mode checked with fstat on the open descriptor), -ENOMEM if
 * the guarded allocation fails. Call journal_file_signer_wipe when done (also after a failed
 * load). */
int journal_file_signer_load(struct journal_file_signer *fs, const char *dir);
/* The same for a key file at path (e.g. a witness's key): the first line is the seed line as in
 * signing.key, same checks; the lines after it (at most 255 bytes of file in all) are copied to
 * rest (NUL-terminated; rest may be NULL). */
int journal_file_signer_load_path(struct journal_file_signer *fs, const char *path, char *rest, size_t rest_cap);
/* Creates a key file at path (0600, O_EXCL: -EEXIST if it exists): the seed line (seed NULL:
 * random), then rest verbatim (may be NULL). -ENAMETOOLONG when the file would exceed 255 bytes. */
int journal_key_file_create(const char *path, const uint8_t *seed, const char *rest);
void journal_file_signer_wipe(struct journal_file_signer *fs);

/* Reads a public key file ("ed25519 <base64>") into pk. */
int journal_pubkey_load(const char *path, uint8_t pk[JOURNAL_PUBKEY_BYTES]);
/* fingerprint = first 16 bytes of BLAKE2b-256(pk); fp_hex gets 33 bytes (32 hex + NUL). */
void journal_key_id(const uint8_t pk[JOURNAL_PUBKEY_BYTES], uint8_t out[JOURNAL_KEYID_BYTES]);
void journal_fingerprint_hex(const uint8_t pk[JOURNAL_PUBKEY_BYTES], char fp_hex[33]);

/* ---------------------------------------------------------------- PKCS#11 signer */

/* The key in a PKCS#11 token, named by an RFC 7512 URI (pkcs11_uri.c has the grammar hems
 * accepts): `pkcs11:token=LABEL;object=LABEL[;id=…][;serial=…][;slot-id=N][;type=private]
 * ?module-path=/ABS/module.so&pin-source=file:/ABS/PATH|credential:NAME`. */
#define JOURNAL_PKCS11_URI_MAX 8192
#define JOURNAL_PKCS11_PATH_MAX 4096
struct journal_pkcs11_uri {
  char token[33];                 /* CK_TOKEN_INFO label (≤ 32 bytes) */
  char object[256];               /* the keys' CKA_LABEL */
  char serial[17];                /* CK_TOKEN_INFO serialNumber, "" → any */
  uint8_t id[128];                /* CKA_ID, when id_len > 0 */
  size_t id_len;
  unsigned long slot_id;
  bool has_slot_id;
  char module_path[JOURNAL_PKCS11_PATH_MAX];
  char pin_file[JOURNAL_PKCS11_PATH_MAX];  /* pin-source=file:…, or "" */
  char pin_credential[256];       /* pin-source=credential:NAME, or "" */
};
/* Parses uri strictly: 0, or JOURNAL_EURI with why (why_cap bytes, may be NULL) saying what is
 * wrong in one line (the attribute, the offset of a bad character). Never reads a file. */
int journal_pkcs11_uri_parse(const char *uri, struct journal_pkcs11_uri *out, char *why, size_t why_cap);

/* A signer whose Ed25519 key stays in the token: the module is loaded with dlopen, the token
 * found by label (and serial / slot id if given), a session opened and logged in with the PIN
 * read from pin-source (a file with or without one trailing newline, at most 255 bytes, not
 * readable by others; credential:NAME reads $CREDENTIALS_DIRECTORY/NAME), the private key found
 * by label (and id), class CKO_PRIVATE_KEY, key type CKK_EC_EDWARDS; the public key from the
 * CKO_PUBLIC_KEY of the same label (CKA_EC_POINT raw or DER-wrapped 04 20 …; CKA_EC_PARAMS the
 * curve named "edwards25519" or OID 1.3.101.112). The PIN is wiped after login; the private key
 * is never read (a token does not let it out). Open signs a fresh random message and checks it
 * with the public key, so a token whose key pair does not match is refused at once.
 * sign() runs CKM_EDDSA under a mutex (the journal signs seals on the appending thread and
 * counter slots on its writer thread) and checks every signature with the public key before
 * handing it out: a token that fails or answers wrong gives JOURNAL_ESIGNER, and why() says
 * what it answered. */
struct journal_pkcs11_signer;
/* 0 with *out, or JOURNAL_ESIGNER (module, token, PIN, key, mechanism: why says which, one
 * line), -ENOMEM. */
int journal_pkcs11_signer_open(const struct journal_pkcs11_uri *u, struct journal_pkcs11_signer **out, char *why,
                               size_t why_cap);
/* The signer (valid until close). */
const struct journal_signer *journal_pkcs11_signer_get(const struct journal_pkcs11_signer *p);
/* The last failure of sign() in one line ("C_Sign: CKR_DEVICE_REMOVED"), "" if none. */
const char *journal_pkcs11_signer_why(struct journal_pkcs11_signer *p);
/* Logs out, closes the session and finalizes the module (it stays loaded: a module may leave
 * threads or atexit handlers behind); NULL is a no-op. */
void journal_pkcs11_signer_close(struct journal_pkcs11_signer *p);
/* Writes DIR/keys/signing.pub (DIR/keys made 0700 if absent) for pk: 0, -EEXIST, -errno. */
int journal_pubkey_create(const char *dir, const uint8_t pk[JOURNAL_PUBKEY_BYTES]);

/* ---------------------------------------------------------------- counter store */

/* Anti-rollback counter: highest committed seq and head hash, written after each commit.
 * The file implementation keeps two checksummed slots and alternates, so a torn write leaves
 * the other slot intact. A TPM NV counter or a secure element implements the same ops. */
struct journal_counter_ops {
  /* 0 and *seq/hash, or -ENOENT if never written. */
  int (*read)(void *ctx, uint64_t *seq, uint8_t hash[JOURNAL_HASH_BYTES]);
  int (*write)(void *ctx, uint64_t seq, const uint8_t hash[JOURNAL_HASH_BYTES]);
  void *ctx;
};

/* A hardware monotonic count (a TPM 2.0 NV counter, hw/linux/tpm_counter.c) that the counter
 * file is bound to: it only counts, holds no hash and wears out, so it is incremented at a
 * bounded rate (journal_counter_bump) and each count is written into the signed counter file
 * (format 3 slots) and into the next seal (hw_count). An older copy of the data dir and the
 * counter file then carries a count behind the hardware's (JOURNAL_EHWBEHIND). */
struct journal_hwcount {
  /* 0 and the current count; an error (JOURNAL_EHWCOUNT) when the hardware does not answer. */
  int (*read)(void *ctx, uint64_t *count);
  /* Adds one: 0 and the count after. */
  int (*increment)(void *ctx, uint64_t *count);
  void (*close)(void *ctx); /* NULL: nothing to release */
  void *ctx;
  char kind[64];            /* what the journal records, e.g. "tpm:0x01500000" */
};
/* Opens the hardware count a --counter value names (a value "SCHEME:…" whose scheme is not a
 * path, e.g. "tpm:0x01500000"); define: create it when absent (journal_create). 0 and *out,
 * or an error. */
typedef int (*journal_hwcount_open_fn)(const char *spec, bool define, struct journal_hwcount *out);
/* Process-wide (like journal_set_lmdb_assert_hook): how counter_path values naming hardware are
 * opened. NULL (the default): such a value is refused with JOURNAL_EHWCOUNT. */
void journal_set_hwcount_opener(journal_hwcount_open_fn fn);
/* True when a counter_path value names a hardware counter ("tpm:…") rather than a file. */
bool journal_counter_is_hw(const char *counter_path);
/* The counter kind DIR's journal was made with (meta counter_kind, e.g. "tpm:0x01500000"); ""
 * for a file counter. */
int journal_counter_kind(const char *dir, char *out, size_t cap);
/* For the rollback message: the count DIR/counter holds and the hardware's (no checks). */
int journal_counter_hw_info(const char *dir, const char *counter_path, uint64_t *file_count, uint64_t *hw_count);

/* ---------------------------------------------------------------- the writer */

/* Clock interface: the journal stamps every record (and every seal) from it. Live: the real
 * clocks and adjtimex(); under simulation: the virtual clock. */
struct journal_clock {
  void (*now)(void *ctx, uint64_t *mono_ns, int64_t *wall_ns, uint8_t *time_quality);
  void *ctx;
};
/* The system clock's synchronisation, read without privilege (adjtimex, modes 0): the time
 * quality (JOURNAL_TQ_SYNCED or _UNSYNCED) and, when synced, the offset from its time source the
 * kernel's NTP state reports (ns; tx.offset in µs unless STA_NANO), else 0. */
uint8_t journal_clock_sync(int64_t *offset_ns);
/* The live clock (what .now NULL uses): CLOCK_BOOTTIME, CLOCK_REALTIME, and synced or unsynced
 * from adjtimex() asked at most once a second per thread (a failed call reads as unsynced). */
void journal_real_clock(void *ctx, uint64_t *mono_ns, int64_t *wall_ns, uint8_t *time_quality);

/* Called on the writer thread after a group's transaction commits and the counter holds it:
 * records up to durable_seq are durable, and journal_durable_seq() already returns at least
 * durable_seq. Called without the journal's lock held; must not call back into the journal. */
typedef void (*journal_durable_cb)(void *ctx, uint64_t durable_seq);

/* Supplies the live reducer state hash after folding every record appended so far (called on
 * the appending thread when a seal is built, after seq head; the seal gets head + 1). It may call
 * journal_checkpoint_put (the checkpoint joins the group being sealed), nothing else of the
 * journal. NULL → all zero. */
typedef void (*journal_state_hash_cb)(void *ctx, uint8_t out[JOURNAL_HASH_BYTES]);

struct journal_options {
  const char *dir;              /* data dir (required) */
  const char *counter_path;     /* NULL → DIR/counter; "tpm:NVINDEX" → DIR/counter bound to that
                                   hardware counter (journal_set_hwcount_opener). A journal made
                                   with a hardware counter opens only with the same one, and one
                                   made without only without (JOURNAL_ECTRKIND). */
  const struct journal_counter_ops *counter; /* overrides counter_path when set */
  bool accept_rollback;         /* proceed behind the counter; appends fault{rollback_accepted} */
  bool virtual_clock;           /* append of a group-ending record waits until durable */
  uint64_t map_size;            /* initial LMDB map size; 0 → 64 MiB; grows when full */
  uint64_t map_size_max;        /* 0 → 1 TiB; beyond it appends fail with JOURNAL_EFULL */
  uint32_t group_records_max;   /* 0 → 1000 */
  uint64_t group_span_ns;       /* 0 → 1 s of record time */
  bool unsafe_no_sync;          /* benchmarks that synthesise large journals only: commits and the
                                   counter are not fsync'd (the journal is synced at close). A
                                   crash may then lose committed groups: never in production. */
  uint32_t commit_batch_max;    /* sealed groups one LMDB transaction may carry when several are
                                   queued (group commit under load); 0 → 64, 1 → one per commit */
  uint64_t commit_hold_ns;      /* flash wear: sealed groups holding no critical record may wait up
                                   to this long (record time, and as long in wall time) to share one
                                   commit; a critical group, journal_sync() or close commits at once.
                                   0 → commit every sealed group at once (the library default) */
  int pack_level;               /* zstd level of the packs (format 3), 1..19; 0 → the default */
  unsigned format;              /* the on-disk format journal_create makes and a writer appends to:
                                   0 or 3 → format 3 (packs, records of schema v 3); 2 → format 2,
                                   the previous one (one `records` value per record, schema v 1;
                                   docs/journal.md "Format 2"), for the benchmarks and tests that
                                   compare with it — readers, verify and `hems migrate` take it as
                                   any old journal. journal_open opens only a journal of the format
                                   asked for: a format-2 journal without format 2 →
                                   JOURNAL_EFORMAT2 (run `hems migrate`), format 2 of a format-3
                                   journal → JOURNAL_EVERSION; any other value → -EINVAL. */
  struct journal_clock clock;   /* .now NULL → real clocks */
  uint8_t boot_id[JOURNAL_BOOTID_BYTES]; /* all zero → read /proc/sys/kernel/random/boot_id */
  journal_durable_cb on_durable;
  journal_state_hash_cb state_hash;
  void *ctx;                    /* passed to on_durable and state_hash */
  const struct journal_signer *signer; /* NULL → the file signer of DIR */
  /* A commit that failed for lack of room on the filesystem (ENOSPC, EDQUOT; EIO with under
   * 1 MiB free: LMDB's word for a write the full filesystem cut short) is not given up:
   * the writer thread calls on_nospace (when set; ctx as above) — which may free room, e.g. a
   * reserve file, and returns non-zero if it did — and tries the same commit again, at once
   * if room was freed, else every 100 ms until it succeeds or the journal is closed (then the
   * commit fails as before). The groups wait in order; nothing is reported durable meanwhile. */
  int (*on_nospace)(void *ctx);
};

struct journal; /* opaque: owns the LMDB env, the lock, the writer thread */

struct journal_open_info {
  uint64_t head_seq;
  uint8_t head_hash[JOURNAL_HASH_BYTES];
  uint64_t counter_seq;     /* what the counter store held on open */
  bool counter_repaired;    /* journal was ahead by one group (the normal crash window) */
  bool rollback_accepted;   /* fault{rollback_accepted} was appended */
  bool last_shutdown_clean; /* the previous writer closed cleanly */
  bool created;             /* journal_create made it just now */
  uint64_t hw_count;        /* the hardware counter's count after open (0: none) */
};

/* Creates DIR/journal (LMDB), keys and counter and appends boot, key, config — the first group.
 * JOURNAL_EEXIST if DIR already holds a journal. config_json may be NULL (an empty panel). */
int journal_create(const struct journal_options *o, const char *config_json, size_t config_len,
                   const char *firmware_version);

/* Opens DIR's journal for writing. Takes the writer lock (JOURNAL_EINUSE with *out_pid set
 * when another process holds it), clears stale LMDB readers, checks the counter
 * (JOURNAL_EROLLBACK with info->head_seq/counter_seq set, unless accept_rollback). */
int journal_open(struct journal **out, const struct journal_options *o,
                 struct journal_open_info *info, int *out_pid);

/* Appends a record: the journal sets version, seq, prev, times and boot id; the caller sets
 * type, source and body (borrowed only for the duration of the call). Returns the new seq in
 * *out_seq. Never waits on fsync (unless virtual_clock and the record ends a group); may wait
 * when more than a few sealed groups are still queued for the writer thread (bounded memory).
 * After a failure (storage full beyond map_size_max, I/O error) the writer is failed: every
 * later append returns the same error; what was durable stays durable. A signer that refuses to
 * sign a seal (JOURNAL_ESIGNER: a token removed) fails appends the same way; groups sealed
 * before it still commit (at the latest in journal_close, which then returns the error). */
int journal_append(struct journal *j, const struct journal_record *r, uint64_t *out_seq);

/* As journal_append, but stamps r in place (version, seq, prev, times, boot id), so the caller
 * can fold exactly the record that was appended. r->seq is set even when sealing the group
 * afterwards failed (the record is then in the failed writer's group, not durable). */
int journal_append_stamped(struct journal *j, struct journal_record *r);

/* Ends the current group with a seal now (flush timer, shutdown). No-op if the group is empty. */
int journal_flush(struct journal *j);

/* Waits until every record appended so far is durable. */
int journal_sync(struct journal *j);

/* Head as appended (not necessarily durable yet). */
uint64_t journal_head_seq(const struct journal *j);
void journal_head_hash(const struct journal *j, uint8_t out[JOURNAL_HASH_BYTES]);
uint64_t journal_durable_seq(struct journal *j);
/* The public key of the writer's signer (what its seals verify with); valid until journal_close. */
const uint8_t *journal_signer_pubkey(const struct journal *j);

/* Stores a content-addressed blob (zstd-compressed at rest) in the same transaction as the
 * records around it: hash = BLAKE2b-256 of the uncompressed bytes. */
int journal_put_blob(struct journal *j, const uint8_t *data, size_t len,
                     uint8_t out_hash[JOURNAL_HASH_BYTES]);

/* Checkpoint store (for replay): stores opaque checkpoint bytes under seq (the last record
 * folded into it) in the same transaction as the current group; durable with that group.
 * A later put for the same seq replaces the earlier one. */
int journal_checkpoint_put(struct journal *j, uint64_t seq, const uint8_t *data, size_t len);

/* Writer statistics. */
struct journal_stats {
  uint64_t groups_committed;
  uint64_t commits;              /* LMDB transactions (several queued groups may share one) */
  uint64_t records_committed;
  uint64_t bytes_committed;      /* record + index + blob value bytes put */
  uint64_t map_grows;
  uint64_t nospace_retries;      /* commits tried again after ENOSPC/EDQUOT (on_nospace) */
};
void journal_get_stats(struct journal *j, struct journal_stats *out);

/* Increments the hardware counter the journal was opened with and binds the new count into
 * the counter file (before the increment, so a crash in between leaves the file one ahead,
 * which the next writer's open completes) and into the next seal's hw_count. Call on the
 * appending thread, at a bounded rate (the daemon: at boot, at each retention cut, at most once
 * an hour). 0 and *out_count (NULL allowed); 0 and 0 without a hardware counter. */
int journal_counter_bump(struct journal *j, uint64_t *out_count);

/* Key rotation and revocation (key_rotate.c) on an open writer. Rotation: appends a `key`
 * record for next's key certified by the key in force, makes it durable (sealed by the old
 * key), then seals with next from the following group on and re-signs the counter file with it
 * (a hardware counter is bumped). next is borrowed until journal_close. Revocation: appends a
 * revocation of pubkey (not the key in force: -EINVAL) with reason (1..200 bytes of text) and
 * makes it durable. Both return 0 or the append/sync/signer error. */
int journal_key_rotate(struct journal *j, const struct journal_signer *next);
int journal_key_revoke(struct journal *j, const uint8_t pubkey[JOURNAL_PUBKEY_BYTES], const char *reason);
/* The messages the certificates sign (cap ≥ 11 + 32 + 16 + 16 + 18 + 200): returns its length. */
size_t journal_key_cert_msg(const struct journal_key *k, uint8_t *msg, size_t cap);

/* Seals, commits, stops the writer thread, records a clean shutdown, releases the lock. */
int journal_close(struct journal *j);

/* ---------------------------------------------------------------- reading */

struct journal_reader; /* opaque: a read-only LMDB env; never blocks the writer */

/* Opens DIR's journal read-only and checks it against the counter (as journal_open does; a
 * reader cannot repair or accept — JOURNAL_EROLLBACK unless allow_rollback). */
int journal_reader_open(struct journal_reader **out, const char *dir, const char *counter_path,
                        bool allow_rollback);
void journal_reader_close(struct journal_reader *r);
/* A reader over a writer's own environment (LMDB forbids opening one env twice in a process).
 * Valid until journal_close(j); close it with journal_reader_close first. */
int journal_reader_attach(struct journal_reader **out, struct journal *j);
/* liblmdb checks some of its own invariants with assertions that abort the process. The hook
 * (process-wide; NULL restores the default) is called first, from the thread that found the
 * inconsistency, with LMDB's message: a program may report the store as damaged and _exit.
 * If it returns, liblmdb aborts. */
void journal_set_lmdb_assert_hook(void (*hook)(const char *msg));
/* Head and counter seq of a dir, for the rollback message (no checks). */
int journal_rollback_info(const char *dir, const char *counter_path, uint64_t *head, uint64_t *counter_seq);

/* First and last seq present (after retention the first may be > 1); 0,0 when empty. */
int journal_reader_bounds(struct journal_reader *r, uint64_t *first, uint64_t *last);

/* Iteration inside one read transaction (a consistent snapshot). Borrowed bytes stay valid
 * until the next call on the iterator or journal_iter_end. */
struct journal_iter;
int journal_iter_begin(struct journal_reader *r, uint64_t from_seq, struct journal_iter **out);
/* 1 and the record, 0 at the end, <0 on error. */
int journal_iter_next(struct journal_iter *it, uint64_t *seq, const uint8_t **bytes, size_t *len);
/* Replay's fast path: the next record decoded into *out (slices borrowed as above), without
 * hashing or checking it against the chain — for a journal already verified, or whose
 * verification is not the caller's business. From the first call on, the iterator stays in
 * this mode (journal_iter_next on it then serves records whose `prev` is zero). 1, 0, <0. */
int journal_iter_next_record(struct journal_iter *it, uint64_t *seq, struct journal_record *out);
/* Looks up one seq inside the iterator's snapshot (JOURNAL_ENOTFOUND). */
int journal_iter_get(struct journal_iter *it, uint64_t seq, const uint8_t **bytes, size_t *len);
/* Looks up a blob by hash; *data is malloc'd (caller frees). */
int journal_iter_get_blob(struct journal_iter *it, const uint8_t hash[JOURNAL_HASH_BYTES],
                          uint8_t **data, size_t *len);
void journal_iter_end(struct journal_iter *it);
/* The newest checkpoint with seq <= at_most (UINT64_MAX: the newest of all): 0 with *out_seq and
 * a malloc'd copy of its bytes, or JOURNAL_ENOTFOUND. To skip one that fails validation, call
 * again with at_most = *out_seq - 1. */
int journal_checkpoint_get(struct journal_iter *it, uint64_t at_most, uint64_t *out_seq,
                           uint8_t **data, size_t *len);

/* Index queries. Index entries are kept per index block (a run of up to 64 commit groups or
 * 4096 records — written once per key per block, which keeps flash writes low): fills up to
 * cap first seqs of the blocks holding a record that matches the key (type, source or branch),
 * ascending, starting with the block that holds from_seq; returns the count or <0. Scan a block
 * with journal_index_block_range and filter its records. */
enum journal_index_kind { JOURNAL_IDX_TYPE = 'T', JOURNAL_IDX_SOURCE = 'S', JOURNAL_IDX_BRANCH = 'B' };
int journal_index_blocks(struct journal_iter *it, int kind, uint32_t value, uint64_t from_seq,
                         uint64_t *out, int cap);
/* The value a source is indexed under (JOURNAL_IDX_SOURCE): kind, sub and index packed; a
 * remote source's issuer name is not part of it (filter the records by their source). */
uint32_t journal_index_source_value(const struct journal_source *s);
/* Index checks (index_check.c). The indexes are derived from the records and can be damaged or
 * edited like any file; these say whether they can be believed.
 * journal_index_coverage: cheap, for every indexed query — the index blocks are contiguous,
 * cover the first record to the head, and none has lost its entries (each lists its `seal`).
 * 0, or JOURNAL_ECORRUPT with why filled. An entry deleted for one key only is not seen here. */
int journal_index_coverage(struct journal_iter *it, char *why, size_t why_cap);
/* journal_index_check: complete — every record's keys are present for its block, and every
 * entry names a block holding a record with that key (a block that straddles a retention cut
 * keeps entries for its archived records; those pass). O(records). 0 when intact, else
 * JOURNAL_ECORRUPT with the report filled (or another <0 on I/O error). */
struct journal_index_report {
  uint64_t records, blocks, entries; /* checked */
  uint64_t missing;                  /* expected entries absent */
  uint64_t wrong;                    /* entries no record of their block justifies */
  uint64_t bad_seq;                  /* first record whose entry is missing (0: none) */
  char reason[200];                  /* the first problem found, "" when none */
};
int journal_index_check(struct journal_iter *it, struct journal_index_report *rep);
/* The same check, on the iterator a successful journal_verify_opt has just read through (the
 * journal_dir_source's `it`, so the same read snapshot) with verified_last its result's last_seq:
 * when that is the snapshot's head, the records are read without hashing each against its
 * pack's check again (the verifier has hashed and chained them). verified_last 0 (or any other
 * value) checks as journal_index_check does. A wrong index is found all the same. */
int journal_index_check_opt(struct journal_iter *it, uint64_t verified_last, struct journal_index_report *rep);
/* Rebuilds every derived table — `groups`, `times`, `index`, `blocks` — from the records, in one
 * transaction, on an open writer (the lock is held; appends must not run meanwhile). */
struct journal_reindex_info { uint64_t records, groups, blocks, entries; };
int journal_reindex(struct journal *j, struct journal_reindex_info *info);

/* The seq range of the index block starting at block_first (its last seq so far). */
int journal_index_block_range(struct journal_iter *it, uint64_t block_first, uint64_t *first, uint64_t *last);
/* Group containing seq: its first and last (seal) seq. */
int journal_group_of(struct journal_iter *it, uint64_t seq, uint64_t *first, uint64_t *last);
/* First seq of the first group whose records' wall time reaches >= wall_ns (0 if none), from the
 * times index, checked against the records: when the record before it is at or after wall_ns
 * (a changed index), an earlier seq, possibly inside a group. */
int journal_seek_time(struct journal_iter *it, int64_t wall_ns, uint64_t *out_seq);

/* ---------------------------------------------------------------- verification */

/* A source of records in seq order (a data dir or a bundle). next() returns 1 with a record,
 * 0 at a clean end, or <0 on damage (with *why set). journal_verify (one thread) also takes 2:
 * a withheld record (`hems ship --withhold`), of which only its RFC 9162 leaf hash is known,
 * in *bytes (*len JOURNAL_HASH_BYTES). It is put into the tree as that leaf; the chain links
 * that need its bytes are not checked (the seal's signed tree root covers it and its
 * neighbours instead), so it is refused (JOURNAL_EPROOF) where the tree is not recomputed (a
 * source after seq 1 without tree_from), in a group whose seal carries no tree root, by the
 * checked source and by journal_verify_opt; the fold's state hashes are not compared after it. */
struct journal_record_source {
  int (*next)(void *ctx, uint64_t *seq, const uint8_t **bytes, size_t *len, const char **why);
  /* optional: fetch a blob (verification checks content hashes). */
  int (*get_blob)(void *ctx, const uint8_t hash[JOURNAL_HASH_BYTES], uint8_t **data, size_t *len);
  void *ctx;
  /* optional (bundles): the key whose signatures cover the source's own framing (a bundle's
   * header and end frame, checked by the source with this key). The verifier demands that it
   * be the trusted key or one certified from it through `key` records, so framing re-signed
   * by another key is refused. NULL: the source has no signed framing (a data dir). */
  const uint8_t *signer_pk;
  /* optional: the device id (32 lowercase hex) the source names — meta device_id of a data dir,
   * the bundle header's — which v 3 seals' checkpoints are signed under. Untrusted: a wrong one
   * only makes those seals fail. NULL: v 3 seals do not verify. */
  const char *device_id;
  /* optional: the chain hash (journal_record_hash) of the bytes the last next() returned, when
   * the source computed it while reading them (a data dir rebuilds each format-3 record's prev
   * by hashing the record before it): 0 and out, nonzero when it has none (the caller hashes).
   * The verifier then hashes each record once instead of twice. */
  int (*last_hash)(void *ctx, uint8_t out[JOURNAL_HASH_BYTES]);
  /* optional: the tree of the records before the source's first (its size and right edge;
   * size = first seq - 1), so every seal's tree root is checked from a later start too, as
   * from seq 1. NULL, or another size: recomputed from seq 1 only. */
  const struct journal_merkle_appender *tree_from;
  /* the trusted key is the key in force at the source's first record (a source that continues
   * a log verified up to it, as a head-end's batch does): every seal must be signed by it until
   * a rotation's group seal, by it too, hands over. false: any trusted key may sign until a key
   * record shows which is in force (a source without the first key record). */
  bool trusted_in_force;
};

struct journal_verify_result {
  uint64_t records;         /* records checked */
  uint64_t seals;
  uint64_t first_seq, last_seq;
  uint64_t last_sealed_seq; /* highest seq covered by a valid seal */
  uint64_t bad_seq;         /* first bad seq (0 if none) */
  bool truncated;           /* the source ended early: "truncated after seq last_sealed_seq" */
  char reason[160];         /* why bad_seq is bad */
  /* after an intact source that rotated its key: the key in force at its end (a rotation takes
   * effect with the seal after its key record), for a caller that goes on from there */
  bool key_rotated;
  uint8_t key_in_force[JOURNAL_PUBKEY_BYTES];
  double thread_cpu_s[2];   /* journal_verify_opt: CPU time of the checking thread and (threads
                               2) of the reading thread, the last pass (for hems bench verify) */
};

/* Moves a format-2 journal (one `records` value per record) to format 3 (packs) in place,
 * under the writer lock (JOURNAL_EINUSE, info->pid): verifies it first from DIR/keys/signing.pub
 * and refuses on any damage with nothing changed (the verify error; info->verify names the
 * first bad seq); then moves every record into packs with its exact bytes and seq and sets
 * meta format 3 in one LMDB transaction. A format-3 journal is left alone (migrated false).
 * The Merkle tiles are built by the next writer open. */
struct journal_migrate_info {
  uint32_t from_format;
  bool migrated;
  uint64_t records, first_seq, last_seq, packs, pack_bytes;
  struct journal_verify_result verify;
  int pid;
};
int journal_migrate(const char *dir, struct journal_migrate_info *info);


typedef void (*journal_progress_cb)(void *ctx, uint64_t seq);

/* Checks order, gaps, the hash chain, every seal (Ed25519 with a trusted key, following key
 * rotation records certified by the previous key; journal_seal_verify), blob hashes, that no
 * record is left unsealed, and — when the source starts at seq 1 — every seal's tree_root
 * against the Merkle tree recomputed from the records (JOURNAL_EPROOF). trusted_pk: the auditor's public key. expect_prev: hash the first record's prev
 * must equal (NULL: all zero when first is seq 1; otherwise taken from a retention cut or
 * the bundle). Returns 0 when intact; JOURNAL_EBADCHAIN etc. with res->bad_seq / reason. */
int journal_verify(const struct journal_record_source *src,
                   const uint8_t trusted_pk[JOURNAL_PUBKEY_BYTES],
                   const uint8_t *expect_prev, struct journal_verify_result *res,
                   journal_progress_cb progress, void *pctx);

/* The fold whose state hash seals carry (the replay reducer; the journal library does not know
 * it): verify applies every record to it in seq order and, at each seal, compares the hash of
 * the state before the seal with the seal's state_hash (an all-zero one is not compared).
 * Only when the source starts at seq 1 (reset() gives the state before it). apply() returns 0,
 * or <0 when the record does not decode (reported at its group's seal, after the chain checks:
 * JOURNAL_ECORRUPT). A mismatch is JOURNAL_EBADCHAIN naming the seal. */
struct journal_verify_fold {
  void *ctx;
  void (*reset)(void *ctx);
  int (*apply)(void *ctx, const uint8_t *bytes, size_t len);
  void (*state_hash)(void *ctx, uint8_t out[JOURNAL_HASH_BYTES]);
  /* optional: takes the record decoded (journal_record_decode; with two threads the reading
   * thread decodes), instead of apply; 0 or <0 as apply */
  int (*apply_record)(void *ctx, const struct journal_record *r);
};

struct journal_verify_opts {
  unsigned threads;      /* 2: the source is read and the records hashed (chain hash, Merkle
                            leaf; with all_seals, seal signatures) on a second thread while this
                            one checks and folds, through a bounded ring; else one thread */
  bool all_seals;        /* check every seal's signature; else only the newest seal's (the chain
                            and the recomputed tree tie every earlier record to it), which needs
                            rewind: on any failure the source is read again with every seal
                            checked, so the first bad seq and its reason are journal_verify's */
  int (*rewind)(void *ctx); /* restart the source at its first record; NULL: all_seals is implied */
  void *rewind_ctx;
  const struct journal_verify_fold *fold; /* NULL: state hashes are not compared */
  journal_progress_cb progress;
  void *pctx;
  bool reader_decodes_all; /* threads 2: the reading thread decodes every record for the fold
                              (the split before, kept as hems bench verify's baseline); else it
                              decodes only while the checking thread is behind */
};

/* journal_verify with options (NULL: as journal_verify). Same checks, same results, plus the
 * fold's state hashes. */
int journal_verify_opt(const struct journal_record_source *src,
                       const uint8_t trusted_pk[JOURNAL_PUBKEY_BYTES], const uint8_t *expect_prev,
                       const struct journal_verify_opts *o, struct journal_verify_result *res);

/* Checking as reading: a record source over another (a bundle) that runs journal_verify's
 * checks as it goes and yields a record only once the seal ending its group has verified, so a
 * reader prints or folds nothing that is not proven. On damage next() returns <0 with why
 * ("first bad seq N: …" or the source's own reason); journal_checked_result() then holds the
 * verification result (last_sealed_seq: the last seq yielded). get_blob is forwarded (blobs
 * named by yielded records have been checked against their hashes). A group is buffered
 * until its seal (bounded: JOURNAL_ECORRUPT "group too large" beyond 64 MiB or 2^20 records).
 * The inner source must outlive the checked one. */
struct journal_checked;
int journal_checked_open(struct journal_checked **out, const struct journal_record_source *inner,
                         const uint8_t trusted_pk[JOURNAL_PUBKEY_BYTES], const uint8_t *expect_prev);
struct journal_record_source *journal_checked_source(struct journal_checked *c);
const struct journal_verify_result *journal_checked_result(const struct journal_checked *c);
void journal_checked_close(struct journal_checked *c);

/* A record source over a reader's snapshot, from from_seq. */
struct journal_dir_source {
  struct journal_record_source src;
  struct journal_iter *it;
  uint64_t expect_seq;
  char device_id[33];
  struct journal_reader *reader;
  uint64_t from_seq;
};
int journal_dir_source_init(struct journal_dir_source *ds, struct journal_reader *r, uint64_t from_seq);
/* The same for replay's fast path (journal_iter_next_record's mode): records are served with
 * `prev` zero and nothing is hashed or checked — a fold, not a verification. */
int journal_dir_source_init_fast(struct journal_dir_source *ds, struct journal_reader *r, uint64_t from_seq);
void journal_dir_source_deinit(struct journal_dir_source *ds);
/* Starts the source again at its from_seq (journal_verify_opts.rewind; ctx is the struct
 * journal_dir_source *). */
int journal_dir_source_rewind(void *ds);

/* ---------------------------------------------------------------- bundles */

/* Supplies the replay checkpoint of the state after seq (the seal before a bundle's first
 * record) as malloc'd bytes (the caller of the callback frees them). JOURNAL_ENOTFOUND: none
 * (the bundle is written without one). Called inside journal_export's read snapshot. */
typedef int (*journal_export_checkpoint_cb)(void *ctx, struct journal_reader *r, uint64_t seq,
                                            uint8_t **data, size_t *len);

struct journal_export_options {
  uint64_t since_seq, until_seq;           /* 0 = open end */
  /* Tree sizes (an auditor's kept checkpoints) the bundle also carries a consistency proof
   * from, to the head (format 3; at most JOURNAL_BUNDLE_PROOFS_MAX - 1; each 1 … the head's
   * size, else -ERANGE). */
  const uint64_t *proof_sizes;
  unsigned n_proof_sizes;
  /* A bundle that starts after seq 1 carries the checkpoint of the state before its first
   * record, so a replay of it can start there; its readers accept it only once a signed seal
   * state_hash confirms it. NULL: the checkpoint stored at exactly first-1, if any. */
  journal_export_checkpoint_cb checkpoint;
  void *checkpoint_ctx;
  journal_progress_cb progress;
  void *pctx;
  /* Non-NULL: the bundle is written to this stream (flushed, not closed; path is then only
   * the name errors use) instead of to path through path.tmp and a rename — for a caller that
   * transforms the bytes before they reach a file (export --encrypt-to). */
  FILE *stream;
};

/* Writes a self-contained bundle (format 2, docs/journal.md) of whole commit groups covering
 * [since_seq, until_seq] to path: signed header, zstd frames of whole groups with their blobs
 * (and the start checkpoint), an end frame signing the count, the last hash and a hash of
 * every byte before it. Every length read from the store is bounded (JOURNAL_ECORRUPT). */
struct journal_export_info {
  uint64_t first_seq, last_seq, records, frames, bytes, checkpoint_seq;
  uint32_t format;          /* 3: with the tree entry (head_size > 0); 2: the newest seal is v 1 */
  uint64_t head_size;       /* the signed head's tree size */
};
int journal_export(struct journal_reader *r, const struct journal_signer *signer,
                   const struct journal_export_options *o, const char *path,
                   struct journal_export_info *info);

/* A bundle sealed to a recipient's X25519 key (bundle_seal.c; docs/journal.md "Sealed
 * bundles"): a sealed box of a fresh stream key, then crypto_secretstream chunks of the bundle.
 * journal_seal_stream copies in to out sealed (JOURNAL_EBADSIG: pk is not a usable key);
 * journal_unseal_stream writes what it decrypts to out as it goes — the caller keeps out from
 * use until it returns 0 (JOURNAL_EBADSIG: not for this key, or a chunk does not authenticate;
 * JOURNAL_ETRUNC: cut short; JOURNAL_EBUNDLE: malformed; JOURNAL_EVERSION; -errno), with why
 * naming the byte offset. journal_is_sealed: the first bytes of a file are a sealed bundle's. */
#define JOURNAL_SEAL_KEY_BYTES 32
#define JOURNAL_SEAL_KEYID_BYTES 8
int journal_seal_stream(FILE *in, FILE *out, const uint8_t pk[JOURNAL_SEAL_KEY_BYTES]);
int journal_unseal_stream(FILE *in, FILE *out, const uint8_t pk[JOURNAL_SEAL_KEY_BYTES],
                          const uint8_t sk[JOURNAL_SEAL_KEY_BYTES], char *why, size_t why_cap);
bool journal_is_sealed(const uint8_t *head, size_t len);
void journal_seal_keyid(const uint8_t pk[JOURNAL_SEAL_KEY_BYTES], uint8_t id[JOURNAL_SEAL_KEYID_BYTES]);

/* Reading a bundle (format 1 or 2): the header's signature is checked on open with the key it
 * lists first, the end frame with the same key; whether that key is trusted is the verifier's
 * question (journal_record_source.signer_pk). Records come through the record source; damage
 * after the header ends it with <0 and why. Read it through journal_checked_open (or
 * journal_verify) — the raw source proves nothing by itself. */
struct journal_bundle;
int journal_bundle_open(const char *path, struct journal_bundle **out, char *why, size_t why_cap);
void journal_bundle_close(struct journal_bundle *b);
struct journal_record_source *journal_bundle_source(struct journal_bundle *b);
/* The first key the header lists (the signing key at export) and the device id. */
const uint8_t *journal_bundle_pubkey(const struct journal_bundle *b);
const char *journal_bundle_device_id(const struct journal_bundle *b);
/* Hash the first record's prev is expected to equal (all zero from seq 1). */
const uint8_t *journal_bundle_first_prev(const struct journal_bundle *b);
/* The start checkpoint a bundle carries (format 2, starting after seq 1): 0 with its seq
 * (first seq - 1) and bytes borrowed until journal_bundle_close; JOURNAL_ENOTFOUND when the
 * bundle has none; <0 on damage (why filled). Reads the first frame; call it before the
 * source's first next(). The bytes are only as good as the seal that later confirms them. */
int journal_bundle_checkpoint(struct journal_bundle *b, uint64_t *seq, const uint8_t **data, size_t *len,
                              char *why, size_t why_cap);
/* The tree entry of a format-3 bundle (docs/journal.md "Bundles"): the panel's signed head at
 * export (the newest seal's checkpoint note) and RFC 9162 consistency proofs to the head's size,
 * the first from close_size (the bundle's last seal: its seq - 1), others from sizes named at
 * export (hems export --since-checkpoint). While the records are read the tree of size
 * start_size (its frontier, carried) is extended by every record: each v 3 seal's tree_root is
 * checked against it (JOURNAL_EPROOF, a damaged bundle) and the roots at close_size and at the
 * watched size are kept. Nothing here checks the head's signature or the proofs: the caller
 * does, with the pinned key. */
#define JOURNAL_BUNDLE_PROOFS_MAX 8
#define JOURNAL_BUNDLE_WITNESSED_MAX 4
/* A witness's cosignature carried by the bundle (kind 5): the note is the journal's checkpoint
 * at some size T ≥ close_size with the witness's cosignature line appended (unverified), the
 * proof from T to the head's size. */
struct journal_bundle_witnessed {
  const char *note;
  size_t note_len;
  unsigned n;
  uint8_t proof[64][JOURNAL_HASH_BYTES];
};
struct journal_bundle_proof {
  uint64_t old_size, new_size;
  unsigned n;
  uint8_t hashes[64][JOURNAL_HASH_BYTES]; /* JOURNAL_MERKLE_PROOF_MAX */
};
struct journal_bundle_tree {
  uint64_t start_size, close_size;     /* first_seq - 1; the last seal's seq - 1 */
  const char *head_note;               /* the signed note, head_note_len bytes (not NUL-ended) */
  size_t head_note_len;
  uint64_t head_size;                  /* parsed from the note (unverified) */
  uint8_t head_root[JOURNAL_HASH_BYTES];
  unsigned nproofs;
  const struct journal_bundle_proof *proofs;
  unsigned nwitnessed;                 /* kind-5 entries, once read (they follow the tree entry) */
  const struct journal_bundle_witnessed *witnessed;
  int64_t first_wall_ns, last_wall_ns; /* the first record's and the last seal's wall time */
  uint64_t last_seq;                   /* the last record read so far */
  bool close_known;                    /* set once the record at close_size + 1 was read; the
                                          bundle is whole only if last_seq = close_size + 1 at
                                          its end (the caller checks, after its trust checks) */
  uint8_t close_root[JOURNAL_HASH_BYTES];
  uint64_t watch_size;                 /* journal_bundle_watch; 0 none */
  bool watch_known;
  uint8_t watch_root[JOURNAL_HASH_BYTES];
};
/* 0 with *out (valid until journal_bundle_close; its roots fill in as records are read),
 * JOURNAL_ENOTFOUND for a bundle of format 1 or 2, <0 on damage (why filled). Reads the first
 * frame's leading entries; call it before the records are read. */
int journal_bundle_tree(struct journal_bundle *b, const struct journal_bundle_tree **out, char *why, size_t why_cap);
/* Keep the root of the tree of `size` leaves (start_size ≤ size ≤ close_size) while reading. */
void journal_bundle_watch(struct journal_bundle *b, uint64_t size);
/* The bundle's format (1, 2 or 3). */
uint32_t journal_bundle_format(const struct journal_bundle *b);
/* Does the path look like a bundle (magic)? */
bool journal_is_bundle(const char *path);

/* ---------------------------------------------------------------- retention */

/* Archives whole groups of records whose wall time is older than keep_ns before the head's
 * wall time into DIR/archive/<name>.hems (a bundle), removes them from LMDB and appends a
 * `retention` record. *out_cut_seq = 0 when nothing is old enough. */
/* appender (may be NULL: journal_append) appends the `retention` record it is given — after the
 * archive is written, before anything is removed — together with whatever must be committed
 * with it: the replay layer stores a checkpoint of the state at the cut first, so `replay
 * --check` of the remaining journal starts from a known state, and a daemon appends through its
 * fold. A non-zero return stops the cut (the records stay) and is returned. */
typedef int (*journal_retention_cb)(void *ctx, struct journal *j, const struct journal_record *retention);
int journal_retention_run(struct journal *j, int64_t keep_ns, journal_retention_cb appender, void *ctx,
                          uint64_t *out_cut_seq);
/* The same cut, by age (keep_ns > 0) and besides by position: every group that starts at or
 * before min_seq goes too (a quota's or disk pressure's cut; 0: by age only). The newest group
 * always stays, and format 3 still cuts whole packs only. */
int journal_retention_cut(struct journal *j, int64_t keep_ns, uint64_t min_seq, journal_retention_cb appender, void *ctx,
                          uint64_t *out_cut_seq);

/* ---------------------------------------------------------------- long-horizon log */

/* DIR/history is a journal of its own — its own chain, Merkle tree, seals and counter, its own
 * device id (so its checkpoints have their own origin), signed by the main log's key in force —
 * holding a `copy` (journal_copy) of every main-log record of a kept type, in main seq order,
 * made from the main log's durable records (docs/journal.md "The long-horizon log"). Retention
 * cuts the main log by age and quota and the history by its own horizon. */
#define JOURNAL_HISTORY_DIR "history"
/* Every type but window, seal (each log seals itself) and copy... */
bool journal_type_is_kept(unsigned type);
/* ...and of der records the transitions only: a resync (the periodic proof a steady source is
 * still read) is not kept. r: the record decoded. */
bool journal_record_is_kept(const struct journal_record *r);
int journal_history_path(const char *main_dir, char *out, size_t cap);
bool journal_history_exists(const char *main_dir);
struct journal_history;
/* Opens the history of main_o->dir for writing, creating it on first use. It takes main_o's
 * signer (NULL: the main dir's file signer), clock and boot id; its counter is
 * DIR/history/counter; nothing waits on its durability. JOURNAL_EINUSE (*out_pid) as
 * journal_open. */
int journal_history_open(struct journal_history **out, const struct journal_options *main_o, int *out_pid);
struct journal *journal_history_journal(struct journal_history *h);
/* Main seqs up to this one are copied (or of a type not kept). */
uint64_t journal_history_copied(const struct journal_history *h);
/* Copies the kept records of main (a reader of the main log) after journal_history_copied, up
 * to and including upto (a durable main seq), looking at no more than max records (0: no
 * limit), then seals them. A record the main log no longer holds is skipped (its archive has
 * it). 0 and *n_copied, or the first error (the copies made so far stay). */
int journal_history_sync(struct journal_history *h, struct journal_reader *main, uint64_t upto, uint64_t max,
                         uint64_t *n_copied);
int journal_history_close(struct journal_history *h);
/* Names the history's head in a `retention` record about to be appended (retention appender):
 * the cut's anchor. The history must hold durable copies of everything the cut takes. */
void journal_history_anchor(struct journal_history *h, struct journal_record *retention);

/* The cross-reference of a history (hist) with its main log (main); both as they are now. */
struct journal_history_report {
  uint64_t copies;          /* copy records in the history */
  uint64_t cross_checked;   /* of them, compared with the record the main log still holds */
  uint64_t history_only;    /* of them, of records the main log no longer holds */
  uint64_t named_only;      /* of them, naming a record too large to hold */
  uint64_t pending;         /* kept main-log records after the newest copy (not copied yet) */
  uint64_t last_copied;     /* main seq of the newest copy (0: none) */
  uint64_t main_first;
  uint64_t unanchored;       /* of history_only, copies after the newest anchor (history_gap) */
  uint64_t anchor_main_seq;  /* the newest retention record naming the history's head (0: none) */
  uint64_t anchor_history_seq;
  uint8_t anchor_hash[JOURNAL_HASH_BYTES];
  uint64_t bad_history_seq, bad_main_seq; /* the first failure */
  char reason[160];
};
/* 0, JOURNAL_ECORRUPT with bad_*_seq and reason (a copy whose bytes are not what it names,
 * out of order, differing from the main log's record, a kept main-log record up to the newest
 * copy without one, or a history that does not hold — with the same hash — the head the main
 * log's newest anchoring retention record names: rolled back or replaced), or a read error.
 * The history is read first: with writers running, copies made after it are pending. */
int journal_history_check(struct journal_reader *hist, struct journal_reader *main, struct journal_history_report *rep);
/* The newest retention record of the main log that names a history head (the anchor): its seq
 * and the history seq it names (0, 0: none) — a data dir whose history is missing must not have
 * one. 0 or a read error. */
int journal_history_anchor_find(struct journal_reader *main, uint64_t *main_seq, uint64_t *history_seq);

/* What the journal's LMDB file holds: its size, and the bytes of the pages in use (the file
 * minus its free pages — LMDB reuses freed pages and never shrinks the file, so after a cut
 * the file keeps its size while used_bytes falls). first/last: the seqs held (0,0 empty). */
struct journal_space {
  uint64_t file_bytes, used_bytes, page_bytes;
  uint64_t first_seq, last_seq;
};
int journal_space_get(struct journal *j, struct journal_space *out);
/* Allocates `bytes` of blocks past the end of the LMDB file without changing its size: the
 * journal's next pages land on blocks that are already its own, so they are written even when
 * something else has filled the filesystem. Idempotent; 0 or -errno (ENOSPC: no room now). */
int journal_preallocate(struct journal *j, uint64_t bytes);
int journal_reader_space(struct journal_reader *r, struct journal_space *out);

/* ================================================================ transparency log
 * The RFC 9162 Merkle tree over the records, its C2SP tlog-tiles and the C2SP signed-note
 * checkpoints (docs/journal.md, "Merkle tree, tiles and checkpoints"). Self-contained: nothing
 * here touches the store; the store feeds leaves in and keeps the tiles the appender emits. */

/* ---------------------------------------------------------------- Merkle tree (merkle.c) */

/* Leaf i (i = seq - 1) = SHA-256(0x00 || record bytes); node = SHA-256(0x01 || left || right);
 * the root of n leaves is RFC 9162 MTH (SHA-256 of nothing for n = 0). Heights count from the
 * leaves (height 0); the node at height h, index i covers leaves [i·2^h, (i+1)·2^h).
 * Tiles (C2SP tlog-tiles): tile level L holds the hashes at height 8L, 256 per tile; tile
 * (L, N) holds positions N·256 … N·256+255 of that height; the rightmost tile of each level
 * is partial (1..255 hashes) and grows until it is full. */
#define JOURNAL_MERKLE_TILE_HEIGHT 8
#define JOURNAL_MERKLE_TILE_WIDTH 256
#define JOURNAL_MERKLE_TILE_LEVELS 8   /* levels 0..7 hold every height of a tree < 2^64 */
#define JOURNAL_MERKLE_PROOF_MAX 64    /* hashes in any inclusion or consistency proof */

/* SHA-256 through OpenSSL's libcrypto (SHA-NI / ARMv8 crypto extensions where the CPU has
 * them). One hasher per thread. A hasher whose digest ever failed stays failed: every function
 * below that was given it returns -EIO. */
struct journal_merkle_hasher {
  void *md;    /* EVP_MD * */
  void *ctx;   /* EVP_MD_CTX * */
  bool failed;
};
/* 0 or -ENOMEM. deinit accepts a zeroed struct. */
int journal_merkle_hasher_init(struct journal_merkle_hasher *h);
void journal_merkle_hasher_deinit(struct journal_merkle_hasher *h);
void journal_merkle_leaf_hash(struct journal_merkle_hasher *h, const uint8_t *record, size_t len,
                              uint8_t out[JOURNAL_HASH_BYTES]);
void journal_merkle_node_hash(struct journal_merkle_hasher *h, const uint8_t left[JOURNAL_HASH_BYTES],
                              const uint8_t right[JOURNAL_HASH_BYTES], uint8_t out[JOURNAL_HASH_BYTES]);

/* Reads stored tiles. read() copies hashes first … first+count-1 (count ≥ 1, first + count ≤
 * 256) of tile (level, index) into out (32·count bytes). The caller only asks for hashes inside
 * the tree it names, so a partial tile as wide as that tree needs (or wider: tiles only grow)
 * must answer. Returns 0, JOURNAL_ENOTFOUND when the tile is not held (e.g. its leaves were
 * cut), or another negative code, which is passed through. Level 0 may be served by hashing the
 * records themselves (the store does not keep level-0 tiles; docs/journal.md). */
struct journal_merkle_tile_reader {
  int (*read)(void *ctx, unsigned level, uint64_t index, unsigned first, unsigned count, uint8_t *out);
  void *ctx;
};

/* Called with every tile that became full (width 256) and, from journal_merkle_flush, every
 * partial tile that grew since the last flush; hashes (32·width bytes) are valid during the
 * call. Store it under (level, index), replacing a narrower version. Non-zero aborts and is
 * returned by the append or flush. */
typedef int (*journal_merkle_tile_cb)(void *ctx, unsigned level, uint64_t index, const uint8_t *hashes,
                                      unsigned width);

/* The incremental tree: the right edge (one hash per set bit of size) and the rightmost tile
 * of each level (~64 KiB; caller-owned, no allocation). After an error from on_tile the
 * appender holds the new leaf but the tile was not stored: treat it as failed. */
struct journal_merkle_appender {
  struct journal_merkle_hasher *h;   /* borrowed, for the appender's lifetime */
  journal_merkle_tile_cb on_tile;    /* may be NULL */
  void *ctx;
  uint64_t size;                     /* leaves appended */
  uint8_t edge[64][JOURNAL_HASH_BYTES];  /* edge[k]: the complete subtree of height k ending at
                                            the right edge, valid when bit k of size is set */
  uint16_t flushed[JOURNAL_MERKLE_TILE_LEVELS]; /* partial widths handed to on_tile */
  uint8_t tiles[JOURNAL_MERKLE_TILE_LEVELS][JOURNAL_MERKLE_TILE_WIDTH][JOURNAL_HASH_BYTES];
};
/* An empty tree. */
void journal_merkle_appender_init(struct journal_merkle_appender *a, struct journal_merkle_hasher *h,
                                  journal_merkle_tile_cb on_tile, void *ctx);
/* Resumes a tree of `size` leaves from stored tiles (the edge and the partial tiles are read
 * back; nothing is emitted until they grow). 0, or the reader's error. */
int journal_merkle_appender_restore(struct journal_merkle_appender *a, const struct journal_merkle_tile_reader *r,
                                    uint64_t size);
/* Appends one leaf hash (journal_merkle_leaf_hash of the record). Emits the tiles it fills. */
int journal_merkle_append(struct journal_merkle_appender *a, const uint8_t leaf[JOURNAL_HASH_BYTES]);
/* Emits the partial tiles that grew since the last flush (call when a checkpoint is made, so
 * the tiles of its size are stored with it). */
int journal_merkle_flush(struct journal_merkle_appender *a);
/* Root of the leaves appended so far. 0 or -EIO. */
int journal_merkle_appender_root(struct journal_merkle_appender *a, uint8_t out[JOURNAL_HASH_BYTES]);

/* From stored tiles (Go sumdb/tlog's tile hash lookup): the hash of the complete subtree at
 * (height, index). Reads one run of 2^(height mod 8) hashes of one tile and hashes them up. */
int journal_merkle_stored_hash(struct journal_merkle_hasher *h, const struct journal_merkle_tile_reader *r,
                               unsigned height, uint64_t index, uint8_t out[JOURNAL_HASH_BYTES]);
/* The root of the first `size` leaves, from tiles (at most 64 stored hashes). */
int journal_merkle_root(struct journal_merkle_hasher *h, const struct journal_merkle_tile_reader *r,
                        uint64_t size, uint8_t out[JOURNAL_HASH_BYTES]);
/* RFC 9162 §2.1.3.1 inclusion proof (PATH) of leaf `index` in the tree of `size` leaves,
 * leaf to root, into out (JOURNAL_MERKLE_PROOF_MAX hashes); -EINVAL unless index < size. */
int journal_merkle_prove_inclusion(struct journal_merkle_hasher *h, const struct journal_merkle_tile_reader *r,
                                   uint64_t index, uint64_t size,
                                   uint8_t out[][JOURNAL_HASH_BYTES], unsigned *out_n);
/* RFC 9162 §2.1.4.1 consistency proof (PROOF = SUBPROOF(m, D[n], true)) from old_size to
 * new_size; -EINVAL unless 1 ≤ old_size ≤ new_size (old = new: the empty proof). */
int journal_merkle_prove_consistency(struct journal_merkle_hasher *h, const struct journal_merkle_tile_reader *r,
                                     uint64_t old_size, uint64_t new_size,
                                     uint8_t out[][JOURNAL_HASH_BYTES], unsigned *out_n);
/* RFC 9162 §2.1.3.2 and §2.1.4.2 verification — written from the RFC's verification
 * algorithms, sharing no code with the generators above. 0 when the proof holds,
 * JOURNAL_EPROOF when it does not (including bad sizes or proof length), -EIO. */
int journal_merkle_verify_inclusion(struct journal_merkle_hasher *h, const uint8_t leaf[JOURNAL_HASH_BYTES],
                                    uint64_t index, uint64_t size, const uint8_t root[JOURNAL_HASH_BYTES],
                                    const uint8_t proof[][JOURNAL_HASH_BYTES], unsigned n);
int journal_merkle_verify_consistency(struct journal_merkle_hasher *h,
                                      uint64_t old_size, const uint8_t old_root[JOURNAL_HASH_BYTES],
                                      uint64_t new_size, const uint8_t new_root[JOURNAL_HASH_BYTES],
                                      const uint8_t proof[][JOURNAL_HASH_BYTES], unsigned n);

/* The store keeps no level-0 tiles (32 bytes a record; docs/journal.md): a level-0 tile is the
 * leaf hashes of 256 consecutive records, so this reader hashes the records get() returns for
 * level 0 and passes every other level to `upper`. get() returns JOURNAL_ENOTFOUND for a leaf it
 * does not hold (cut by retention); its bytes stay valid until the next get. The struct must
 * outlive the reader journal_merkle_records_reader returns. */
struct journal_merkle_records {
  struct journal_merkle_hasher *h;
  int (*get)(void *ctx, uint64_t leaf_index, const uint8_t **bytes, size_t *len);
  void *ctx;
  struct journal_merkle_tile_reader upper;
};
struct journal_merkle_tile_reader journal_merkle_records_reader(struct journal_merkle_records *s);

/* An in-memory tile store (merkle_mem.c): put is a journal_merkle_tile_cb (ctx = the store);
 * the reader serves what was put. For trees held in memory (bundles, tests, benchmarks). */
struct journal_merkle_memtiles {
  uint8_t *hashes[JOURNAL_MERKLE_TILE_LEVELS]; /* cap[l] slots of 256 hashes */
  uint16_t *width[JOURNAL_MERKLE_TILE_LEVELS];
  uint64_t cap[JOURNAL_MERKLE_TILE_LEVELS];
};
void journal_merkle_memtiles_init(struct journal_merkle_memtiles *m);
void journal_merkle_memtiles_deinit(struct journal_merkle_memtiles *m);
/* 0, -EINVAL or -ENOMEM. */
int journal_merkle_memtiles_put(void *ctx, unsigned level, uint64_t index, const uint8_t *hashes, unsigned width);
struct journal_merkle_tile_reader journal_merkle_memtiles_reader(struct journal_merkle_memtiles *m);

/* ---------------------------------------------------------------- checkpoints (checkpoint.c) */

/* A C2SP tlog-checkpoint body: "<origin>\n<size>\n<base64 root>\n" then extension lines, each
 * non-empty and ending in '\n'. hems checkpoints have origin "hems/<device id hex>" and the
 * extension lines "state <hex>\nhead <hex>\ntime <RFC 3339>\n" (journal_tlog_hems_*). Parsing
 * is strict: the text must be exactly what format would write (canonical size and base64,
 * UTF-8 without control characters other than '\n', no empty lines). */
#define JOURNAL_TLOG_NAME_MAX 255    /* origin / key name bytes */
#define JOURNAL_TLOG_EXT_MAX 1024    /* extension lines, bytes */
#define JOURNAL_TLOG_BODY_MAX 2048   /* a checkpoint body, bytes */
#define JOURNAL_TLOG_NOTE_MAX 8192   /* a signed note we accept, bytes */
#define JOURNAL_TLOG_SIGS_MAX 32     /* signature lines in a note (C2SP asks for at least 16) */
#define JOURNAL_TLOG_SIGLINE_MAX (JOURNAL_TLOG_NAME_MAX + 120)
#define JOURNAL_TLOG_VKEY_MAX (JOURNAL_TLOG_NAME_MAX + 60)

struct journal_tlog_checkpoint {
  char origin[JOURNAL_TLOG_NAME_MAX + 1];
  uint64_t size;                       /* ≤ 2^63 - 1 */
  uint8_t root[JOURNAL_HASH_BYTES];
  char ext[JOURNAL_TLOG_EXT_MAX + 1];  /* extension lines verbatim, each ending in '\n'; "" none */
};
/* Writes the body (NUL-terminated) and returns its length; JOURNAL_ENOTE when a field is not
 * valid, -ENOSPC when cap is too small. */
int journal_tlog_checkpoint_format(const struct journal_tlog_checkpoint *c, char *out, size_t cap);
/* 0 or JOURNAL_ENOTE. */
int journal_tlog_checkpoint_parse(const char *body, size_t len, struct journal_tlog_checkpoint *out);

/* The hems extension lines. */
struct journal_tlog_hems {
  uint8_t state_hash[JOURNAL_HASH_BYTES]; /* the seal's state_hash */
  uint8_t head_hash[JOURNAL_HASH_BYTES];  /* the seal's head_hash (chain hash of the last leaf) */
  int64_t time_ns;                        /* the seal's wall time; "time" is UTC, RFC 3339, with
                                             a 9-digit fraction unless it is zero */
  bool has_seal;                          /* a fourth line "seal <hex>" (v 3 seals' checkpoints) */
  uint8_t seal_hash[JOURNAL_HASH_BYTES];  /* journal_record_hash of the seal record encoded with
                                             its sig = 64 zero bytes: binds the seal's other fields */
};
int journal_tlog_hems_format(const struct journal_tlog_hems *e, char *out, size_t cap);
/* ext must be exactly the three lines (or four, with "seal"), in that order, canonical. 0 or
 * JOURNAL_ENOTE. */
int journal_tlog_hems_parse(const char *ext, struct journal_tlog_hems *out);
/* "hems/<device id>" for a 32-hex device id; JOURNAL_ENOTE if the id is not 32 lowercase hex. */
int journal_tlog_origin(const char *device_id_hex, char *out, size_t cap);

/* Signed notes (C2SP signed-note). Key hash = big-endian first 4 bytes of SHA-256(name ||
 * '\n' || type || public key); type 0x01 = Ed25519 note signature, 0x04 = Ed25519 timestamped
 * cosignature (C2SP tlog-cosignature). */
#define JOURNAL_TLOG_ED25519 0x01
#define JOURNAL_TLOG_COSIG_V1 0x04
struct journal_tlog_verifier {
  char name[JOURNAL_TLOG_NAME_MAX + 1];
  uint8_t type;
  uint32_t key_hash;
  uint8_t pubkey[JOURNAL_PUBKEY_BYTES];
};
/* Fills v (computes the key hash); JOURNAL_ENOTE for an invalid name (empty, too long, a
 * Unicode space, '+', a control character or bad UTF-8) or type. */
int journal_tlog_verifier_init(struct journal_tlog_verifier *v, const char *name, uint8_t type,
                               const uint8_t pubkey[JOURNAL_PUBKEY_BYTES]);
/* The verifier key text "<name>+<8 lowercase hex key hash>+<base64(type || public key)>" (what
 * Go's golang.org/x/mod/sumdb/note reads for type 0x01). Returns the length or -ENOSPC. */
int journal_tlog_verifier_format(const struct journal_tlog_verifier *v, char *out, size_t cap);
/* Parses and checks (hash matches) a verifier key. 0 or JOURNAL_ENOTE. */
int journal_tlog_verifier_parse(const char *text, size_t len, struct journal_tlog_verifier *out);

/* Signs body (which must end in '\n') with s under key_name (type 0x01) and writes the note:
 * body, '\n', "— <key_name> <base64(key hash || signature)>\n". Returns its length, -ENOSPC,
 * JOURNAL_ENOTE (bad body or name) or the signer's error. */
int journal_tlog_sign(const char *body, size_t len, const char *key_name, const struct journal_signer *s,
                      char *out, size_t cap);
/* A C2SP tlog-cosignature/v1 signature line for the checkpoint body: Ed25519 by s over
 * "cosignature/v1\ntime <timestamp>\n" || body, key hash with type 0x04, the line
 * "— <name> <base64(key hash || u64 BE timestamp || signature)>\n". Append it to the note's
 * signature lines. Returns its length, -ENOSPC, JOURNAL_ENOTE or the signer's error. */
int journal_tlog_cosign(const char *body, size_t len, const char *name, const struct journal_signer *s,
                        uint64_t timestamp, char *out, size_t cap);
/* Opens a signed note: checks its form (≤ JOURNAL_TLOG_NOTE_MAX bytes, UTF-8 without control
 * characters but '\n', body ending at the last blank line, 1..JOURNAL_TLOG_SIGS_MAX well-formed
 * signature lines) and that v signed it: lines whose name and key hash are not v's are ignored
 * (C2SP); every line that is v's must verify. *body_len gets the body's length (the body is
 * note[0 .. body_len)); for a cosignature verifier *timestamp (may be NULL) gets its time.
 * 0, JOURNAL_ENOTE (malformed) or JOURNAL_EBADSIG (no valid signature by v, or a bad one). */
int journal_tlog_open(const char *note, size_t len, const struct journal_tlog_verifier *v,
                      size_t *body_len, uint64_t *timestamp);

/* Checks the stored Merkle tiles the writer restores from (the right edge of the newest seal's
 * tree: ≤ 64 stored hashes and the last < 256 records): the root they give must equal that
 * seal's tree_root (tree_store.c). 0 with *size = the tree size checked; JOURNAL_ECORRUPT when
 * they disagree (the next writer open rebuilds the tiles from the records); JOURNAL_ENOTFOUND
 * when there are no tiles or the newest seal carries no root. */
int journal_tiles_check(struct journal_reader *r, uint64_t *size);
/* A tile reader over a data dir inside an iterator's snapshot: levels ≥ 1 from the stored tiles,
 * level 0 by hashing the records (journal_merkle_records_reader; rs is the caller's storage and
 * must outlive the reader). For roots and proofs of any size up to the newest seal's. */
struct journal_merkle_tile_reader journal_iter_tile_reader(struct journal_iter *it, struct journal_merkle_hasher *h,
                                                           struct journal_merkle_records *rs);

/* The device id of a data dir (meta "device_id": 32 lowercase hex + NUL). JOURNAL_ENOTFOUND
 * when the journal has none; JOURNAL_ECORRUPT when it is not 32 lowercase hex. */
int journal_reader_device_id(struct journal_reader *r, char out[33]);
/* The same inside an iterator's snapshot. */
int journal_iter_device_id(struct journal_iter *it, char out[33]);

#ifdef __cplusplus
}
#endif
#endif
