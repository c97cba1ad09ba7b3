/*
 * run_loop.c — the loop: wires libuv handles (signals, the tick timer or idle handle, the
 * status timer, the journal's durability, GPIO input fds) to the parts, and the tick, which
 * calls them in their fixed order.
 */
#include <signal.h>
#include <unistd.h>
#include "run.h"

/* One tick (16 ms of panel time, one half of the ADE9000 waveform buffer), in this order:
 *   1. read hardware: advance the simulated panel, drain the mains AFE's waveform buffer into the
 *      ingest engine (windows, pq events, captures), drain tap/DER edges, taps whose capture
 *      never came, the scenario's stimuli;
 *   2. actuate the commands now durable; read the one-cycle rms; feed the open sense windows;
 *      journal the sense-backs;
 *   3. every window period the branch AFEs' windows (register path); the idle flush, retention;
 *   4. --for reached → stop.
 * Every record goes through run_records.c (append → fold → effects). */
static void tick(struct daemon *d)
{
  daemon_socket_tick(&d->sock);
  if (d->stopping) return;
  int rc = d->hw ? 0 : hw_sim_advance(d->sim, TICK_NS);
  if (rc) {
    cli_err("run: simulated panel: %s", hw_strerror(rc));
    d->stopping = true;
    d->exit_code = CLI_ENV;
    return;
  }
  uint64_t now = run_now_ns(d);
  run_clock_tick(d);
  run_mains_drain(d);
  run_taps_poll(d);
  run_rails_tick(d);
  run_analog_tick(d);
  run_taps_flush(d, false);
  run_stimuli_tick(d);
  run_actuate_pending(d);
  run_meter_poll_rms(d);
  run_actuate_feed_sense(d);
  run_actuate_poll(d);
  run_der_cmd_tick(d);
  run_permit_tick(d);
  run_meter_tick(d, now);
  run_housekeeping_tick(d, now);
  if (d->o.for_ns && now >= (uint64_t)d->o.for_ns) d->stopping = true;
}

static void stop_loop(struct daemon *d)
{
  d->stopping = true;
}

static void on_signal(uv_signal_t *h, int signum)
{
  struct daemon *d = h->data;
  if (signum == SIGHUP) { d->reload = true; return; }
  stop_loop(d);
}

static void on_tick_timer(uv_timer_t *t)
{
  struct daemon *d = t->data;
  /* Pace virtual time against the real clock: run the ticks that are due. */
  if (d->reload) run_config_reload(d);
  run_control_flush_limited(d, false);
  double now_real = run_real_s();
  double target_ns = (now_real - d->t_start_real) * d->o.speed * 1e9;
  int budget = 64;
  if (d->hw) {
    tick(d); /* hardware: one pass per timer period; time passes by itself */
    run_viewer_pump(d);
    run_status_notify(d, 0);
    if (d->stopping) uv_stop(&d->loop);
    return;
  }
  while (!d->stopping && (double)hw_sim_now_ns(d->sim) + TICK_NS <= target_ns && budget-- > 0) tick(d);
  /* how far the loop is behind the panel's clock (the lateness fault and the systemd watchdog) */
  double lag_ms = (target_ns - (double)run_now_ns(d)) / 1e6 / d->o.speed;
  run_housekeeping_late(d, lag_ms, now_real);
  run_viewer_pump(d);
  run_status_notify(d, lag_ms / 1e3);
  if (d->stopping) uv_stop(&d->loop);
}

static void on_idle(uv_idle_t *h)
{
  struct daemon *d = h->data;
  if (d->reload) run_config_reload(d);
  run_control_flush_limited(d, false);
  for (int i = 0; i < 8 && !d->stopping; i++) tick(d);
  run_viewer_pump(d);
  run_status_notify(d, 0);
  if (d->stopping) uv_stop(&d->loop);
}

static void on_status_timer(uv_timer_t *t)
{
  run_status_line(t->data);
}

static void close_walk(uv_handle_t *h, void *arg)
{
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* Writer thread: records up to durable_seq are durable (journal_durable_seq says so already).
 * Wakes the loop; nothing else here runs off the loop's thread. */
void run_loop_on_durable(void *ctx, uint64_t durable_seq)
{
  struct daemon *d = ctx;
  (void)durable_seq;
  uv_mutex_lock(&d->durable_mu);
  if (d->durable_live) uv_async_send(&d->durable_async);
  uv_mutex_unlock(&d->durable_mu);
}

/* Loop: a commit became durable — the commands it covers are executed now (write-ahead holds:
 * run_actuate_pending reads the durable seq itself). A command whose actuator is busy waits for
 * a later tick, as before. */
static void on_durable_async(uv_async_t *h)
{
  struct daemon *d = h->data;
  if (d->stopping) return;
  run_actuate_pending(d);
  run_energy_promote(d);
  run_viewer_pump(d); /* followers get what just became durable */
}

/* An input fd is readable: its edges are read now, on their kernel timestamps (the tick reads
 * them too, and whatever is left). */
static void on_taps_readable(uv_poll_t *p, int status, int events)
{
  struct daemon *d = p->data;
  (void)events;
  if (status < 0) { uv_poll_stop(p); return; } /* the tick still reads the line */
  if (!d->stopping) run_taps_poll(d);
}

static void on_sense_readable(uv_poll_t *p, int status, int events)
{
  struct daemon *d = p->data;
  (void)events;
  if (status < 0) { uv_poll_stop(p); return; }
  if (!d->stopping) run_actuate_poll(d);
}

static void on_irq_readable(uv_poll_t *p, int status, int events)
{
  struct daemon *d = p->data;
  (void)events;
  if (status < 0) { uv_poll_stop(p); return; } /* the tick still drains */
  if (!d->stopping) run_mains_irq(d);
}

static void watch_fd(struct daemon *d, int fd, uv_poll_cb cb)
{
  if (fd < 0 || d->ngpio_poll >= RUN_GPIO_POLL_MAX) return;
  uv_poll_t *p = &d->gpio_poll[d->ngpio_poll];
  if (uv_poll_init(&d->loop, p, fd) != 0) return; /* not pollable: the tick reads it */
  p->data = d;
  uv_poll_start(p, UV_READABLE, cb);
  d->ngpio_poll++;
}

/* Live runs only (hardware, or a simulation paced against the real clock): durability and GPIO
 * edges wake the loop. At --speed max the ticks run back to back and each drains its own edges
 * and executes what became durable in it, so the record stream stays a function of the seed. */
static void watch_wakeups(struct daemon *d)
{
  if (!d->hw && d->o.speed == 0) return;
  uv_async_init(&d->loop, &d->durable_async, on_durable_async);
  d->durable_async.data = d;
  uv_mutex_lock(&d->durable_mu);
  d->durable_live = true;
  uv_mutex_unlock(&d->durable_mu);
  for (unsigned i = 0; d->taps_ok && i < d->taps.num_req; i++) watch_fd(d, d->taps.req[i].fd, on_taps_readable);
  for (unsigned i = 0; d->act_ok && i < d->act.num_in_req; i++) watch_fd(d, d->act.in_req[i].fd, on_sense_readable);
  if (d->irq_ok) watch_fd(d, d->irq.fd, on_irq_readable);
}

/* The loop and its handles: the control socket (when a place fit for it is found), the signals,
 * the terminal's status line, the tick — an idle handle at --speed max (ticks back to back),
 * else a timer (16 ms on hardware, 4 ms paced against the real clock under --sim) — and, on live
 * runs, the durability async and the GPIO input polls. */
void run_loop_open(struct daemon *d)
{
  uv_loop_init(&d->loop);
  d->loop.data = d;
  char spath[4200], why[600];
  if (daemon_socket_choose(d->o.c.dir, d->o.socket, spath, why, sizeof why) != 0) {
    cli_err("run: control socket: %s (continuing without it)", why);
  } else {
    int src = daemon_socket_listen(&d->loop, &d->sock, spath);
    if (src) cli_err("run: control socket %s: %s (continuing without it)", spath, uv_strerror(src));
  }
  /* A peer that closes its end while an answer or a stream is written makes write() fail with
   * EPIPE, which closes that connection; the default SIGPIPE would end the daemon (seen: a
   * follower hanging up mid-stream, test_viewer follow_across_a_retention_cut). */
  signal(SIGPIPE, SIG_IGN);
  uv_signal_init(&d->loop, &d->sig_int);
  uv_signal_init(&d->loop, &d->sig_term);
  uv_signal_init(&d->loop, &d->sig_hup);
  d->sig_int.data = d->sig_term.data = d->sig_hup.data = d;
  uv_signal_start(&d->sig_int, on_signal, SIGINT);
  uv_signal_start(&d->sig_term, on_signal, SIGTERM);
  uv_signal_start(&d->sig_hup, on_signal, SIGHUP);
  d->tty = isatty(STDERR_FILENO);
  d->watchdog = !d->o.sim && d->o.speed != 0;
  d->t_start_real = run_real_s();
  if (d->tty) {
    uv_timer_init(&d->loop, &d->status_timer);
    d->status_timer.data = d;
    uv_timer_start(&d->status_timer, on_status_timer, 250, 500);
  }
  if (d->o.speed == 0) {
    uv_idle_init(&d->loop, &d->idle);
    d->idle.data = d;
    uv_idle_start(&d->idle, on_idle);
  } else {
    uv_timer_init(&d->loop, &d->tick_timer);
    d->tick_timer.data = d;
    uv_timer_start(&d->tick_timer, on_tick_timer, 0, d->hw ? 16 : 4);
  }
  watch_wakeups(d);
}

/* Runs until a signal, --for or an error stops the daemon. */
void run_loop_run(struct daemon *d)
{
  while (!d->stopping) uv_run(&d->loop, UV_RUN_DEFAULT);
}

/* Closes every handle (the socket already stopped) and the loop. */
void run_loop_close(struct daemon *d)
{
  uv_mutex_lock(&d->durable_mu); /* the writer thread sends no more (journal_close commits last) */
  d->durable_live = false;
  uv_mutex_unlock(&d->durable_mu);
  uv_walk(&d->loop, close_walk, NULL);
  uv_run(&d->loop, UV_RUN_DEFAULT);
  uv_loop_close(&d->loop);
}
