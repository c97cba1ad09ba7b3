/*
 * run.c — `hems run`: the panel controller daemon. This file is the command: its options, the
 * start-up sequence (each step in run_start.c), the loop (run_loop.c), the orderly stop and the
 * summary line. What each part of the daemon does and may touch: run.h, docs/architecture.md.
 *
 * Time: under simulation every record time, the boot id and all randomness come from the
 * virtual clock and the seed. --speed max runs ticks back to back (virtual time stops while an
 * append awaits durability); --speed X paces ticks against the real clock.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "run.h"

static int parse_opts(int argc, char **argv, struct run_opts *o)
{
  enum { O_DIR = 1000, O_COUNTER, O_ACCEPT, O_SIM, O_HW, O_FOR, O_SPEED, O_SEED, O_SOCKET, O_WINDOW };
  enum { O_SIGNER = 1100 };
  static const struct option lo[] = {
    { "dir", required_argument, NULL, O_DIR }, { "counter", required_argument, NULL, O_COUNTER },
    { "accept-rollback", no_argument, NULL, O_ACCEPT }, { "sim", required_argument, NULL, O_SIM },
    { "hw", required_argument, NULL, O_HW }, { "for", required_argument, NULL, O_FOR },
    { "speed", required_argument, NULL, O_SPEED }, { "seed", required_argument, NULL, O_SEED },
    { "socket", required_argument, NULL, O_SOCKET }, { "window", required_argument, NULL, O_WINDOW },
    CLI_SIGNER_OPTION(O_SIGNER), { 0 } };
  memset(o, 0, sizeof *o);
  o->c.dir = cli_default_dir();
  o->speed = 1.0;
  o->seed = 1;
  o->window_ms = 1000;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (opt) {
    case O_DIR: o->c.dir = optarg; break;
    case O_COUNTER: o->c.counter = optarg; break;
    case O_SIGNER: cli_signer_option(optarg); break;
    case O_ACCEPT: o->c.accept_rollback = true; break;
    case O_SIM: o->sim = optarg; break;
    case O_HW: o->hw = optarg; break;
    case O_SOCKET: o->socket = optarg; break;
    case O_FOR:
      if (cli_parse_duration_ns(optarg, &o->for_ns) || o->for_ns <= 0) { cli_err("run: --for %s: not a duration (e.g. 5m, 30s, 2h)", optarg); return CLI_USAGE; }
      break;
    case O_SPEED:
      if (!strcmp(optarg, "max")) o->speed = 0;
      else {
        char *e;
        o->speed = strtod(optarg, &e);
        if (*e || !(o->speed > 0) || o->speed > 1e6) { cli_err("run: --speed %s: a factor > 0 or 'max'", optarg); return CLI_USAGE; }
      }
      break;
    case O_SEED:
      if (cli_parse_u64(optarg, &o->seed)) { cli_err("run: --seed %s: not a number", optarg); return CLI_USAGE; }
      break;
    case O_WINDOW: {
      uint64_t v;
      if (cli_parse_u64(optarg, &v) || (v != 200 && v != 1000 && v != 10000)) { cli_err("run: --window takes 200, 1000 or 10000 (ms)"); return CLI_USAGE; }
      o->window_ms = (uint32_t)v;
      break;
    }
    default: return cli_usage(cli_find("run"), false);
    }
  }
  if (optind != argc) return cli_usage(cli_find("run"), false);
  if (o->sim && o->hw) { cli_err("run: give --sim or --hw, not both"); return CLI_USAGE; }
  return 0;
}

int cli_cmd_run(int argc, char **argv)
{
  static struct daemon dd;
  struct daemon *d = &dd;
  memset(d, 0, sizeof *d);
  d->io_write_bytes0 = cli_proc_write_bytes();
  int rc = parse_opts(argc, argv, &d->o);
  if (rc) return rc;
  if (sodium_init() < 0) return CLI_ENV;
  daemon_notify_init(&d->notify);
  run_config_read_local(d);
  if ((rc = run_start_panel(d))) return rc;
  /* DIR/config.json "retention" (the reserve is made before the loop runs); a bad one leaves the
   * defaults — no cut — and is journaled as a config_invalid fault (run_config.c): a typo in the
   * retention policy never keeps the panel from running */
  char rerr[4400];
  if (retention_policy_from_json(json_object_get(d->local, "retention"), "config.json", &d->ret, rerr, sizeof rerr))
    retention_policy_from_json(NULL, "", &d->ret, rerr, sizeof rerr);
  struct run_tail tail;
  memset(&tail, 0, sizeof tail);
  if ((rc = run_start_journal(d, &tail))) return rc;
  run_disk_open(d);
  /* from here on rc is a journal error: the daemon then stops before its loop runs */
  rc = run_start_boot(d, &tail);
  if (!rc) rc = run_start_afes(d);
  if (!rc) rc = run_start_outputs(d);
  run_config_load_local(d, d->panel->remote_json);
  d->next_retention_ns = 60ull * 1000000000ull; /* first pass a minute after start */
  run_loop_open(d);
  /* systemd hears READY=1 only now: the boot record durable, outputs requested, socket up */
  if (!rc && (rc = journal_sync(d->j)) != 0) cli_err("run: journal sync: %s", cli_signer_why(rc));
  if (!rc) {
    daemon_notify_ready(&d->notify, "running: %s, head seq %llu", d->name, (unsigned long long)journal_head_seq(d->j));
    run_loop_run(d);
  } else {
    d->exit_code = CLI_ENV;
  }
  daemon_notify_stopping(&d->notify, "stopping: sealing the journal");
  if (d->tty) { run_status_line(d); fputc('\n', stderr); }

  /* shutdown: stop accepting work, flush, seal, exit */
  run_taps_flush(d, true);
  daemon_socket_stop(&d->sock);
  run_control_flush_limited(d, true);
  run_loop_close(d);
  if (d->eng_ok) ingest_engine_deinit(&d->eng);
  if (d->taps_ok) actuator_taps_deinit(&d->taps);
  if (d->rails_lines) hw_gpio_release(&d->rails_req);
  run_permit_close(d);
  run_mains_irq_close(d);
  if (d->act_ok) actuator_set_deinit(&d->act);
  /* the long-horizon log gets the last copies before the main log closes */
  if (d->hist && journal_sync(d->j) == 0) run_history_sync(d, 0);
  run_history_close(d);
  uint64_t final_head = journal_head_seq(d->j);
  int crc = journal_close(d->j);
  uv_mutex_destroy(&d->durable_mu);
  if (crc && !d->exit_code) { cli_err("run: closing the journal: %s", cli_signer_why(crc)); d->exit_code = CLI_ENV; }
  for (unsigned a = 0; a < d->panel->num_afes; a++) if (d->afe_ok[a]) hw_ade9000_deinit(&d->afe[a]);
  /* Our own storage writes only: /proc/self/io also counts the I/O of children reaped by
   * whoever exec'd this process (e.g. a build run by the shell that then exec'd hems). */
  uint64_t wnow = cli_proc_write_bytes();
  unsigned long long wbytes = wnow > d->io_write_bytes0 ? (unsigned long long)(wnow - d->io_write_bytes0) : 0;
  fprintf(stderr, "hems: run: %s: %.1f s of panel time, %llu windows, %llu pq events, %llu requests, %llu commands, "
          "%llu refusals, %llu faults; head seq %llu; storage_write_bytes %llu\n",
          d->name, (double)run_now_ns(d) / 1e9, (unsigned long long)d->windows, (unsigned long long)d->pq_events,
          (unsigned long long)d->requests, (unsigned long long)d->commands, (unsigned long long)d->refusals,
          (unsigned long long)d->faults, (unsigned long long)final_head, wbytes);
  hw_sim_destroy(d->sim);
  for (unsigned a = 0; d->hw && a < d->panel->num_afes; a++) hw_spidev_close(&d->spidev[a]);
  if (d->hw && d->panel->gpiochip[0]) hw_gpiochip_close(&d->gpiochip);
  json_decref(d->roles);
  json_decref(d->local);
  run_remote_free(d);
  free(d->sc);
  return d->exit_code;
}
