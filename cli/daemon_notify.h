/*
 * daemon_notify.h — private to cli/: the daemon's side of systemd's notify protocol
 * (sd_notify(3); daemon_notify.c). Without libsystemd at build time every call does nothing.
 */
#ifndef HEMS_CLI_DAEMON_NOTIFY_H
#define HEMS_CLI_DAEMON_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* The loop keeps its cadence while it is at most this far behind the panel's clock and no two
 * of its turns are further apart than this (seconds). Off cadence → no watchdog ping. */
#define DAEMON_NOTIFY_CADENCE_S 0.5
#define DAEMON_NOTIFY_STATUS_S 10.0 /* a running summary in STATUS= at most this often */

struct daemon_notify {
  bool on;                /* $NOTIFY_SOCKET set and built with libsystemd */
  uint64_t watchdog_usec; /* $WATCHDOG_USEC for this process; 0: no watchdog asked */
  double last_ping_s, last_turn_s, last_status_s; /* CLOCK_MONOTONIC seconds */
};

/* Reads the environment. Says on stderr when $NOTIFY_SOCKET is set but this build cannot
 * answer it (no libsystemd). */
void daemon_notify_init(struct daemon_notify *n);

/* STATUS=<text>. */
void daemon_notify_status(struct daemon_notify *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* READY=1 with STATUS=<text>: call once the journal is open, the boot record durable and the
 * outputs requested. */
void daemon_notify_ready(struct daemon_notify *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One turn of the loop, lag_s behind the panel's clock (0 when it paces itself): WATCHDOG=1
 * every watchdog_usec / 2 while the loop keeps its cadence. True when a STATUS= summary is due. */
bool daemon_notify_turn(struct daemon_notify *n, double lag_s);

/* STOPPING=1 with STATUS=<text>. */
void daemon_notify_stopping(struct daemon_notify *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
