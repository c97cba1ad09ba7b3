/*
 * daemon_notify.c — tells systemd how the daemon is doing (Type=notify, WatchdogSec=), through
 * libsystemd's sd_notify: READY=1 once the journal is open, the boot record durable and the
 * outputs requested from the rebuilt state; WATCHDOG=1 from the loop itself, and only while
 * the loop keeps its cadence (a loop that stalls or falls behind the panel's clock stops
 * pinging, so systemd's watchdog ends it and Restart= brings it back); STOPPING=1 on the way
 * out; STATUS= text throughout. systemd passes $NOTIFY_SOCKET (a datagram socket) and, with
 * WatchdogSec=, $WATCHDOG_USEC and $WATCHDOG_PID.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "daemon_notify.h"
#ifdef HEMS_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

static double mono_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void daemon_notify_init(struct daemon_notify *n)
{
  memset(n, 0, sizeof *n);
  const char *sock = getenv("NOTIFY_SOCKET");
  if (!sock || !*sock) return;
#ifdef HEMS_HAVE_SYSTEMD
  n->on = true;
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0) n->watchdog_usec = usec;
  n->last_ping_s = n->last_turn_s = n->last_status_s = mono_s();
#else
  fprintf(stderr, "hems: run: NOTIFY_SOCKET is set but this hems was built without libsystemd: no READY=1 "
                  "or watchdog pings will be sent (run it as Type=simple, or rebuild with libsystemd-dev)\n");
#endif
}

#ifdef HEMS_HAVE_SYSTEMD
static void send_state(struct daemon_notify *n, const char *head, const char *fmt, va_list ap)
{
  char text[400], msg[480];
  vsnprintf(text, sizeof text, fmt, ap);
  for (char *p = text; *p; p++) if (*p == '\n') *p = ' '; /* one assignment per line */
  snprintf(msg, sizeof msg, "%sSTATUS=%s", head, text);
  sd_notify(0, msg);
}
#define SEND(n, head, fmt)            \
  do {                                \
    if (!(n)->on) return;             \
    va_list ap;                       \
    va_start(ap, fmt);                \
    send_state(n, head, fmt, ap);     \
    va_end(ap);                       \
  } while (0)
#else
#define SEND(n, head, fmt) ((void)(n), (void)(fmt))
#endif

void daemon_notify_status(struct daemon_notify *n, const char *fmt, ...)
{
  SEND(n, "", fmt);
}

void daemon_notify_ready(struct daemon_notify *n, const char *fmt, ...)
{
  SEND(n, "READY=1\n", fmt);
}

void daemon_notify_stopping(struct daemon_notify *n, const char *fmt, ...)
{
  SEND(n, "STOPPING=1\n", fmt);
}

bool daemon_notify_turn(struct daemon_notify *n, double lag_s)
{
  if (!n->on) return false;
  double now = mono_s();
  bool on_cadence = lag_s <= DAEMON_NOTIFY_CADENCE_S && now - n->last_turn_s <= DAEMON_NOTIFY_CADENCE_S;
  n->last_turn_s = now;
#ifdef HEMS_HAVE_SYSTEMD
  if (n->watchdog_usec && on_cadence && now - n->last_ping_s >= (double)n->watchdog_usec / 2e6) {
    sd_notify(0, "WATCHDOG=1");
    n->last_ping_s = now;
  }
#else
  (void)on_cadence;
#endif
  if (now - n->last_status_s < DAEMON_NOTIFY_STATUS_S) return false;
  n->last_status_s = now;
  return true;
}
