/*
 * sunspec.h — private to cli/: the SunSpec device side of `hems bridge sunspec`.
 *
 *   sunspec_decode.c  pure: the "SunS" marker, the walk of the model chain, and the models this
 *                     bridge reads decoded from their registers (fuzzed: tests/fuzz/fuzz_sunspec.c)
 *   sunspec_control.c pure: DER commands as register writes (models 123, 124) and the check
 *                     that a poll shows one carried out (fuzzed with the decoder)
 *   bridge_sunspec.c  the command: the panel config's der section, libmodbus polls, and each
 *                     poll reported to the daemon's control socket as a `der_observe` request;
 *                     DER commands fetched from the daemon, written, and reported
 *
 * Registers are as the device sends them (host-order uint16 after the wire's big-endian).
 * Points follow the SunSpec model definitions (sunspec/models, json/model_<id>.json): offsets
 * below count from the first register after a model's ID and L. A value the device does not
 * implement (SunSpec: int16 0x8000, uint16/enum16 0xFFFF, uint32 0xFFFFFFFF, sunssf 0x8000) is
 * absent, never a number; so is a value whose scale factor is absent or outside -10..10.
 */
#ifndef HEMS_CLI_SUNSPEC_H
#define HEMS_CLI_SUNSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SUNSPEC_MARKER_HI 0x5375 /* "Su" */
#define SUNSPEC_MARKER_LO 0x6E53 /* "nS" */
#define SUNSPEC_END 0xFFFF       /* the end model's id */
#define SUNSPEC_MODELS_MAX 64    /* models walked in one chain at most */

/* The bases a client tries, in order (SunSpec Modbus: 40000, then 0, then 50000). */
extern const uint16_t sunspec_bases[3];

/* Two registers: the "SunS" marker? */
bool sunspec_is_marker(uint16_t hi, uint16_t lo);

struct sunspec_model {
  uint16_t id, len;
  uint16_t addr; /* the register after ID and L: offset 0 of the model's points */
};

struct sunspec_chain {
  unsigned n;
  struct sunspec_model m[SUNSPEC_MODELS_MAX];
};

enum sunspec_step { SUNSPEC_NEXT = 0, SUNSPEC_DONE = 1, SUNSPEC_BAD = -1 };
/* One step of the walk: the model header (id, len) read at addr. SUNSPEC_NEXT with *next the
 * next header's address; SUNSPEC_DONE at the end model; SUNSPEC_BAD when the chain leaves the
 * 16-bit address space or holds more than SUNSPEC_MODELS_MAX models (a loop or garbage). */
enum sunspec_step sunspec_walk(struct sunspec_chain *c, uint16_t addr, uint16_t id, uint16_t len, uint16_t *next);

/* Is this a model the bridge decodes (1, 101-103, 123, 124, 701, 802)? */
bool sunspec_model_wanted(uint16_t id);

/* Register counts a model must have for the points read (shorter: the model is ignored). */
#define SUNSPEC_LEN_COMMON 65
#define SUNSPEC_LEN_INVERTER 50
#define SUNSPEC_LEN_STORAGE 24
#define SUNSPEC_LEN_DER_AC 121
#define SUNSPEC_LEN_BATTERY 62
#define SUNSPEC_LEN_CONTROLS 24

/* One poll's values, folded from the models the device has (each absent unless read). */
struct sunspec_obs {
  bool have_common;
  char mn[33], md[33], vr[17], sn[33]; /* model 1 strings, NUL-terminated ("" not implemented) */
  uint16_t inv_st;      /* 101-103 St, or 701 InvSt (1..8); 0 absent */
  uint16_t conn_st;     /* 701 ConnSt (1 disconnected, 2 connected); 0 absent */
  uint16_t cha_st;      /* 124 / 802 ChaSt (1..7); 0 absent */
  uint16_t bat_state;   /* 802 State (1..6, 99); 0 absent */
  bool have_w;
  int64_t w_mw;         /* AC power (inverter, 701) or battery power (802), milli-W */
  bool have_hz;
  int64_t hz_mhz;       /* frequency, milli-Hz */
  bool have_soc;
  int64_t soc_mpct;     /* 124 ChaState or 802 SoC, milli-percent */
  uint32_t models;      /* SUNSPEC_HAVE_* */
  /* the controls as the device reads them back (raw registers from offset 0): 123 immediate
   * controls, 124 storage (sunspec_control.c writes and checks them); the first instance of
   * each, the one the bridge writes */
  uint16_t m123[SUNSPEC_LEN_CONTROLS], m124[SUNSPEC_LEN_STORAGE];
};
#define SUNSPEC_HAVE_INVERTER 1u
#define SUNSPEC_HAVE_DER_AC 2u
#define SUNSPEC_HAVE_STORAGE 4u
#define SUNSPEC_HAVE_BATTERY 8u
#define SUNSPEC_HAVE_CONTROLS 16u

/* Folds model id's n registers (from offset 0) into o. 0, or -1 when the model is not one this
 * decodes or is too short for it (o unchanged). */
int sunspec_decode_model(struct sunspec_obs *o, uint16_t id, const uint16_t *regs, size_t n);

/* raw × 10^sf in milli-units (rounded half away from zero): true, or false when sf is outside
 * -10..10 or the result does not fit. */
bool sunspec_scale_milli(int64_t raw, int sf, int64_t *out);

/* The der state (enum journal_der_state) a poll shows for a pv (inverter) or ess source, or -1
 * when the device says nothing that maps to one. */
int sunspec_der_state(const struct sunspec_obs *o, bool ess);

/* ---- DER commands (sunspec_control.c; pure) */

/* One register write: model (123 or 124), offset from the model's offset 0, value. */
struct sunspec_write { uint16_t model, offset, value; };
#define SUNSPEC_WRITES_MAX 3
/* The writes that carry out a DER command (enum journal_der_action, permille of the rating) on
 * a device as last polled (o: its models, scale factors, StorCtl_Mod, revert timers): their count
 * (1..SUNSPEC_WRITES_MAX; a limit rounded down to what the register holds), or
 * -1 with *why when the device cannot take it (no model 123 / 124, a scale factor not
 * implemented, a value that does not fit the register). */
int sunspec_plan(const struct sunspec_obs *o, unsigned action, unsigned permille, struct sunspec_write *w, const char **why);
/* Whether a poll shows a command carried out: every register written reads back its value, and
 * for connect / disconnect the device's state (sunspec_der_state) says connected / disconnected
 * (not off or fault / off, sleeping or standby). */
bool sunspec_shows(const struct sunspec_obs *o, bool ess, unsigned action, const struct sunspec_write *w, int n);

#endif
