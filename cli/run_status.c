/*
 * run_status.c — what the daemon shows: the status JSON (socket op "status"), the
 * terminal's status line and systemd's STATUS= summary. Reads state; appends nothing.
 */
#include <stdio.h>
#include "run.h"

json_t *run_status_json(struct daemon *d)
{
  const struct replay_state *st = &d->h.state;
  json_t *o = json_object();
  uint8_t h[32], sh[32];
  char hex[65], buf[128];
  journal_head_hash(d->j, h);
  journal_hex(h, 32, hex);
  json_object_set_new(o, "head_seq", json_integer((json_int_t)journal_head_seq(d->j)));
  json_object_set_new(o, "head_hash", json_string(hex));
  replay_state_hash(st, sh);
  journal_hex(sh, 32, hex);
  json_object_set_new(o, "state_hash", json_string(hex));
  json_object_set_new(o, "reducer_version", json_integer(st->reducer_version));
  json_object_set_new(o, "durable_seq", json_integer((json_int_t)journal_durable_seq(d->j)));
  json_object_set_new(o, "source", json_string("daemon"));
  if (d->device_id[0]) json_object_set_new(o, "device_id", json_string(d->device_id));
  json_object_set_new(o, d->hw ? "panel" : "scenario", json_string(d->name));
  json_object_set_new(o, "uptime_s", json_real((double)run_now_ns(d) / 1e9));
  if (d->irq_ok) /* live runs: the mains AFE's page-full interrupts seen, and the drains they woke */
    json_object_set_new(o, "mains_irq", json_pack("{s:I, s:I}", "edges", (json_int_t)d->irq_edges, "drains", (json_int_t)d->irq_drains));
  /* the records' clock: stepped (records so marked) and the steps seen this run (run_clock.c) */
  json_object_set_new(o, "clock", json_pack("{s:b, s:I}", "stepped", d->clk.stepped, "steps", (json_int_t)d->clk.steps));
  uint64_t wnow = cli_proc_write_bytes(); /* the daemon's own storage writes so far (hems stats) */
  json_object_set_new(o, "storage_write_bytes", json_integer((json_int_t)(wnow > d->io_write_bytes0 ? wnow - d->io_write_bytes0 : 0)));
  /* disk pressure (run_disk.c): as of the last check, one per second of panel time */
  json_object_set_new(o, "disk", json_pack("{s:I, s:I, s:b, s:b, s:b, s:I, s:I}", "fs_bytes", (json_int_t)d->disk.fs_bytes,
                                           "free_bytes", (json_int_t)d->disk.avail_bytes, "pressure", d->disk.pressure,
                                           "shedding", d->disk.shedding, "reserve_held",
                                           __atomic_load_n(&d->disk.reserve_held, __ATOMIC_SEQ_CST) != 0,
                                           "windows_dropped", (json_int_t)d->disk.dropped_total, "pressure_episodes",
                                           (json_int_t)d->disk.episodes));
  json_t *ph = json_object();
  static const char *const names[] = { "A", "B", "C" };
  for (int k = 0; k < 3; k++) json_object_set_new(ph, names[k], json_integer(d->phase_p_mw[k] / 1000));
  json_object_set_new(o, "phase_power_w", ph);
  json_object_set_new(o, "alarms", json_string(replay_alarm_names(st->alarms, buf, sizeof buf)));
  /* the policy: service disconnect, limiter, supply, outage, demand response */
  const struct replay_policy *pol = &st->pol;
  json_t *pj = json_object();
  json_object_set_new(pj, "service", json_string(replay_service_state_name(pol->svc_state)));
  json_object_set_new(pj, "service_mode", json_integer(pol->svc_mode));
  json_object_set_new(pj, "service_limit_a", json_integer(pol->service_limit_a));
  json_object_set_new(pj, "load_permille", json_integer(pol->load_permille));
  json_object_set_new(pj, "shedding", json_boolean(pol->shedding));
  json_object_set_new(pj, "sheds", json_integer((json_int_t)pol->sheds));
  json_object_set_new(pj, "restores", json_integer((json_int_t)pol->restores));
  json_object_set_new(pj, "supply_low", json_boolean(pol->supply_low));
  json_object_set_new(pj, "outage", json_boolean(pol->outage));
  json_t *dr = json_array();
  for (unsigned i = 0; i < REPLAY_DR_EVENTS; i++) {
    const struct replay_dr_event *e = &pol->dr[i];
    if (!e->request_seq) continue;
    char start[32], end[32];
    journal_format_time(e->start_ns, start);
    journal_format_time(e->end_ns, end);
    json_array_append_new(dr, json_pack("{s:s, s:I, s:s, s:s, s:b, s:I}", "status", replay_dr_status_name(e->status),
                                        "modification", (json_int_t)e->modification, "start", start, "end", end,
                                        "mandatory", e->mandatory, "request_seq", (json_int_t)e->request_seq));
  }
  json_object_set_new(pj, "dr_events", dr);
  json_object_set_new(o, "policy", pj);
  run_energy_promote(d);
  json_object_set_new(o, "durable_energy_seq", json_integer((json_int_t)d->sealed.durable.seq));
  json_t *br = json_array();
  for (unsigned b = 0; b < d->panel->num_branches; b++) {
    const struct hw_panel_branch *pb = &d->panel->branch[b];
    if (pb->number == 0 || pb->number > REPLAY_BRANCHES_MAX) continue;
    const struct replay_branch *rb = &st->br[pb->number - 1];
    json_t *x = json_object();
    json_object_set_new(x, "branch", json_integer(pb->number));
    json_object_set_new(x, "name", json_string(pb->name));
    json_object_set_new(x, "critical", json_boolean(pb->critical)); /* a bridge offers no switch for it */
    json_object_set_new(x, "commanded", json_string(replay_onoff_name(rb->commanded)));
    json_object_set_new(x, "sensed", json_string(replay_onoff_name(rb->sensed)));
    json_object_set_new(x, "proven", json_boolean(rb->proven));
    json_object_set_new(x, "fault", json_string(replay_verdict_name(rb->fault)));
    json_object_set_new(x, "breaker_open", json_boolean(rb->breaker_open));
    json_object_set_new(x, "rcd_tripped", json_boolean(rb->rcd_tripped));
    json_object_set_new(x, "power_w", json_integer(rb->p_mw / 1000));
    json_object_set_new(x, "import_wh", json_real((double)rb->import_uwh / 1e6));
    json_object_set_new(x, "export_wh", json_real((double)rb->export_uwh / 1e6));
    /* as of the newest durable seal (run_energy.c): what a crash cannot take back */
    json_object_set_new(x, "durable_import_wh", json_real((double)d->sealed.durable.import_uwh[pb->number - 1] / 1e6));
    json_object_set_new(x, "durable_export_wh", json_real((double)d->sealed.durable.export_uwh[pb->number - 1] / 1e6));
    json_object_set_new(x, "alarms", json_string(replay_alarm_names(rb->alarms, buf, sizeof buf)));
    json_t *layers = json_array();
    if (rb->layers & REPLAY_LAYER_FAIL_SAFE) json_array_append_new(layers, json_string("fail_safe"));
    if (rb->layers & REPLAY_LAYER_DR) json_array_append_new(layers, json_string("demand_response"));
    if (rb->layers & REPLAY_LAYER_SHED) json_array_append_new(layers, json_string("load_shed"));
    json_object_set_new(x, "held_off_by", layers);
    json_array_append_new(br, x);
  }
  json_object_set_new(o, "branches", br);
  json_t *cnt = json_object();
  json_object_set_new(cnt, "windows", json_integer((json_int_t)d->windows));
  json_object_set_new(cnt, "pq_events", json_integer((json_int_t)d->pq_events));
  json_object_set_new(cnt, "requests", json_integer((json_int_t)d->requests));
  json_object_set_new(cnt, "commands", json_integer((json_int_t)d->commands));
  json_object_set_new(cnt, "refusals", json_integer((json_int_t)d->refusals));
  json_object_set_new(cnt, "sense_backs", json_integer((json_int_t)d->sense_backs));
  json_object_set_new(cnt, "trip_taps", json_integer((json_int_t)d->taps_seen));
  json_object_set_new(cnt, "der", json_integer((json_int_t)d->der_seen));
  json_object_set_new(cnt, "notes", json_integer((json_int_t)d->notes));
  json_object_set_new(cnt, "faults", json_integer((json_int_t)d->faults));
  json_object_set_new(o, "counts", cnt);
  return o;
}

void run_status_line(struct daemon *d)
{
  if (!d->tty) return;
  double vs = (double)run_now_ns(d) / 1e9;
  double rs = run_real_s() - d->t_start_real;
  fprintf(stderr, "\r\033[K%s t=%02d:%02d:%02d x%.0f  A %.1f kW  B %.1f kW  C %.1f kW  seq %llu  pq %llu  faults %llu",
          d->name, (int)vs / 3600, (int)vs / 60 % 60, (int)vs % 60, rs > 0 ? vs / rs : 0,
          d->phase_p_mw[0] / 1e6, d->phase_p_mw[1] / 1e6, d->phase_p_mw[2] / 1e6,
          (unsigned long long)journal_head_seq(d->j), (unsigned long long)d->pq_events, (unsigned long long)d->faults);
}

/* A loop turn for systemd: the watchdog ping (while on cadence) and now and then a summary. */
void run_status_notify(struct daemon *d, double lag_s)
{
  if (daemon_notify_turn(&d->notify, lag_s))
    daemon_notify_status(&d->notify, "running: %s, head seq %llu, %llu windows, %llu commands, %llu faults", d->name,
                         (unsigned long long)journal_head_seq(d->j), (unsigned long long)d->windows,
                         (unsigned long long)d->commands, (unsigned long long)d->faults);
}
