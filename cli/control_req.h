/*
 * control_req.h — private to cli/: one control-socket request line, checked without the loop.
 *
 * control_req_load() reads the line as one JSON object (each key once); control_req_check()
 * turns it into what the daemon acts on — a status, a note, a switch, a policy (service / dr)
 * request or a DER observation — or one error line: a malformed field, or a role that may never make it. Neither
 * touches the journal, the clock or a socket: what they need of the daemon is in
 * struct control_ctx, so tests and the fuzz target run them on any bytes. The daemon
 * (run_control.c) adds what needs its state: the per-peer rate limit, the waiters and the
 * journaling itself.
 */
#ifndef HEMS_CLI_CONTROL_REQ_H
#define HEMS_CLI_CONTROL_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "journal.h"
#include "hw.h"

/* Socket roles (CLI.md "Control socket roles"; the table in docs/cli.md). */
enum daemon_role { ROLE_VIEWER = 0, ROLE_AUTOMATION, ROLE_UTILITY, ROLE_OPERATOR, ROLE_INSTALLER, ROLE_ADMIN };
const char *daemon_role_name(int role); /* "viewer" … "admin"; "viewer" for anything else */

#define CONTROL_REASON_MAX 256     /* a request's free-text reason keeps its first bytes (whole characters) */
#define CONTROL_NOTE_MAX 4096      /* bytes of a note's text */
#define CONTROL_CLAIMED_WHO_MAX 63 /* bytes of the name a client claims for a note */
#define CONTROL_RID_MAX 64         /* bytes of a request_id */

enum control_op {
  CONTROL_OTHER = 0, /* an op this file does not know: op_name says which (the daemon's read ops) */
  CONTROL_STATUS,
  CONTROL_NOTE,
  CONTROL_SWITCH,
  CONTROL_POLICY,    /* service, dr or alarm_ack: q is the request to journal */
  CONTROL_DER_OBSERVE, /* der_observe: a bridge's poll of a DER (obs) */
  CONTROL_CALIBRATE, /* calibrate: a branch CT's new gain (cal), installer or admin */
  CONTROL_DER_BRIDGE, /* der_command / der_report: the SunSpec bridge's side of a DER command (derb) */
  CONTROL_REMOTE     /* remote: a signed remote command, "cose" its COSE_Sign1 in base64 (cose) */
};

/* der_command (`hems bridge sunspec` asks for the durable DER command it is to execute) and
 * der_report (what became of it: written to the device, the write failed, or a poll shows it). */
enum control_der_stage { CONTROL_DER_FETCH = 0, CONTROL_DER_WRITTEN, CONTROL_DER_WRITE_FAILED, CONTROL_DER_SHOWN };
struct control_der_bridge {
  uint8_t source;           /* JOURNAL_DER_PV or JOURNAL_DER_ESS */
  uint8_t stage;            /* enum control_der_stage */
  uint64_t command_seq;     /* der_report: the command's seq */
  int32_t error;            /* write_failed: the errno libmodbus gave (0 unknown) */
};

/* calibrate (`hems calibrate`): the gain of branch's CT channel scaled by factor, derived by the
 * client from measured_w against a known load's reference_w over `windows` windows. */
struct control_calib {
  uint16_t branch;
  double factor, gain_old, gain; /* gain = gain_old · factor, within [HW_CAL_GAIN_MIN, HW_CAL_GAIN_MAX] */
  double reference_w, measured_w;
  uint32_t windows;
};

/* der_observe (`hems bridge sunspec`): one poll of a configured DER source. */
struct control_der_obs {
  uint8_t source;           /* JOURNAL_DER_PV or JOURNAL_DER_ESS, configured in the panel's der */
  bool stale;               /* the device stopped answering: state and values are not given */
  uint8_t state;            /* enum journal_der_state */
  bool have_w, have_soc;    /* "w", "soc_mpct" given (absent: the device does not implement it) */
  int32_t w, soc_mpct;
  uint32_t age_ms;          /* the poll's age when sent */
};

struct control_ctx {
  const struct hw_panel *panel; /* branch names, numbers and which are critical */
  int role;                     /* enum daemon_role of the peer */
  uint64_t next_seq;            /* the seq the request would get: names one sent without request_id */
  int64_t wall_ns;              /* now: start_in_ns and expires_in_ns count from it */
  bool der_bridge;              /* the peer is in roles.der_bridge (or root / the daemon's uid) */
};

struct control_req {
  json_t *json;             /* the object (owned); the strings below point into it */
  enum control_op op;
  const char *op_name;
  const char *text, *claimed_who;   /* note (claimed_who may be NULL; cut to CONTROL_CLAIMED_WHO_MAX) */
  size_t claimed_who_len;
  uint16_t target;                  /* switch: the branch number */
  bool on;                          /* switch: desired on */
  uint8_t origin;                   /* switch: enum journal_origin */
  const char *rid;                  /* switch, policy: request_id (given or sock-<next_seq>) */
  const char *reason;               /* switch: reason or NULL (cut to CONTROL_REASON_MAX when journaled) */
  int64_t expiry_ns;                /* switch: "expires" / "expires_in_ns" as wall ns; 0 none (policy: q.expiry_ns) */
  struct journal_request q;         /* policy: all but q.role, uid and gid, which the daemon sets */
  struct control_der_obs obs;       /* der_observe */
  struct control_calib cal;         /* calibrate */
  struct control_der_bridge derb;   /* der_command, der_report */
  const char *cose;                 /* remote: base64, at most REMOTE_MSG_MAX bytes once decoded */
  char ridbuf[48];
};

/* The DER actions kept for someone at the panel: the battery's (ess) disconnect and the limits
 * of its discharge and output (on backup it may be what keeps the critical branches on; docs/
 * policy.md "The battery on backup"). Refused for role automation and for remote commands. */
bool control_der_battery_guarded(unsigned der_target, int action);
/* 0, or -1 with one line in msg ("malformed request: …"); r->json is set only on success. */
int control_req_load(struct control_req *r, const char *line, size_t len, char *msg, size_t msg_len);
/* NULL when the request is well formed and the role may make it; else the error line (a constant,
 * or msg). */
const char *control_req_check(struct control_req *r, const struct control_ctx *ctx, char *msg, size_t msg_len);
void control_req_free(struct control_req *r);

#endif
