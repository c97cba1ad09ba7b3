/*
 * run_start.c — start-up: the panel (hardware or simulation), the journal's tail facts
 * (virtual epoch, boot id, last config), the journal and the fold, the boot and config records,
 * the AFEs. Each step says its own error; the order of the records it makes is fixed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "run.h"

static void seed_boot_id(struct daemon *d, uint64_t head)
{
  uint8_t in[16];
  for (int i = 0; i < 8; i++) { in[i] = (uint8_t)(d->o.seed >> (8 * i)); in[8 + i] = (uint8_t)(head >> (8 * i)); }
  crypto_generichash(d->boot_id, 16, in, sizeof in, (const uint8_t *)"hems.boot", 9);
}

/* Wall time and config of the journal's head region, for a deterministic virtual epoch and the
 * "config differs" check. */
static int journal_tail_facts(struct daemon *d, uint64_t *head, int64_t *last_wall, uint8_t cfg_hash[32],
                              uint32_t *cfg_version, bool *have_cfg)
{
  struct journal_reader *r;
  /* Read before the writer opens (LMDB: one env per process at a time); the writer's own
   * rollback check follows. */
  int rc = journal_reader_open(&r, d->o.c.dir, d->o.c.counter, true);
  if (rc) return rc;
  /* The device id too, here and not after the writer opened: a second LMDB env on the same
   * journal in this process, closed while the writer's is open, drops the writer's lock on
   * lock.mdb (POSIX record locks are per process), and every later reader then takes the lock
   * region as its first user and resets it under the live writer. */
  if (journal_reader_device_id(r, d->device_id)) d->device_id[0] = 0;
  struct journal_iter *it;
  if ((rc = journal_iter_begin(r, 1, &it))) { journal_reader_close(r); return rc; }
  uint64_t first, last;
  journal_reader_bounds(r, &first, &last);
  *head = last;
  const uint8_t *b;
  size_t len;
  struct journal_record rec;
  *last_wall = 0;
  if (last && journal_iter_get(it, last, &b, &len) == 0 && journal_record_decode(b, len, &rec) == 0) *last_wall = rec.wall_ns;
  *have_cfg = false;
  uint64_t groups[4096];
  int n = journal_index_blocks(it, JOURNAL_IDX_TYPE, JOURNAL_T_CONFIG, 1, groups, 4096);
  if (n > 0) {
    uint64_t gf, gl;
    if (journal_index_block_range(it, groups[n - 1], &gf, &gl) == 0) {
      for (uint64_t s = gf; s <= gl; s++) {
        if (journal_iter_get(it, s, &b, &len) || journal_record_decode(b, len, &rec)) continue;
        if (rec.type != JOURNAL_T_CONFIG) continue;
        memcpy(cfg_hash, rec.body.config.config_hash, 32);
        *cfg_version = rec.body.config.config_version;
        *have_cfg = true;
      }
    }
  }
  journal_iter_end(it);
  journal_reader_close(r);
  return 0;
}

/* The panel: real hardware (--hw: the panel config names the spidev nodes and the gpiochip) or
 * the simulated one (--sim). 0, or the command's exit code (the error said). */
int run_start_panel(struct daemon *d)
{
  char err[512];
  int rc;
  if (d->o.hw) {
    /* Real hardware: the panel config names the spidev nodes and the gpiochip. */
    if (hw_panel_load_file(&d->hwpanel, d->o.hw, err, sizeof err)) { cli_err("%s", err); return CLI_USAGE; }
    if (d->o.speed != 1.0) { cli_err("run: --speed applies to simulation only; hardware runs in real time"); return CLI_USAGE; }
    d->hw = true;
    d->panel = &d->hwpanel;
    d->name = d->hwpanel.name;
    for (unsigned a = 0; a < d->panel->num_afes; a++) {
      rc = hw_spidev_open(&d->spidev[a], d->panel->afe[a].spidev, NULL);
      if (rc) {
        cli_err("run: afe %u: %s: %s", a + 1, d->panel->afe[a].spidev, hw_strerror(rc));
        for (unsigned k = 0; k < a; k++) hw_spidev_close(&d->spidev[k]);
        return CLI_ENV;
      }
    }
    if (d->panel->gpiochip[0] && (rc = hw_gpiochip_open(&d->gpiochip, d->panel->gpiochip, NULL))) {
      cli_err("run: %s: %s", d->panel->gpiochip, hw_strerror(rc));
      for (unsigned k = 0; k < d->panel->num_afes; k++) hw_spidev_close(&d->spidev[k]);
      return CLI_ENV;
    }
    d->hw_t0_boottime = run_boottime_ns();
  } else {
    d->sc = calloc(1, sizeof *d->sc);
    if (!d->sc) return CLI_ENV;
    const char *scen = d->o.sim ? d->o.sim : "default";
    if ((rc = hw_scenario_load(d->sc, scen, err, sizeof err))) {
      if (rc == HW_ENOSCENARIO) {
        char names[512] = "";
        for (const char *const *n = hw_scenario_names(); *n; n++) { strcat(names, " "); strcat(names, *n); }
        cli_err("run: --sim %s: no such shipped scenario or file (shipped:%s)", scen, names);
      } else {
        cli_err("%s", err);
      }
      free(d->sc);
      return CLI_USAGE;
    }
    if ((rc = hw_sim_create(&d->sim, d->sc, d->o.seed, err, sizeof err))) {
      cli_err("run: %s", err);
      free(d->sc);
      return CLI_USAGE;
    }
    d->panel = hw_sim_panel(d->sim);
    d->name = d->sc->name;
    d->sim_wall0 = hw_sim_wall_ns(d->sim);
  }
  /* the issuers trusted with signed remote commands are a local setting of DIR/config.json: in
   * the panel config the boot journals (its config record), so the journal says which keys were
   * trusted from when (a change takes a new config record, at start or on SIGHUP) */
  run_config_local_remote(d);
  return 0;
}

/* The journal and the fold: the tail's facts fix the virtual epoch and the boot id before
 * anything is appended; then the writer opens and the state is rebuilt. 0, or the command's exit
 * code (the error said). */
int run_start_journal(struct daemon *d, struct run_tail *t)
{
  int rc;
  /* Facts from the journal's tail fix the virtual epoch and the boot id before anything is
   * appended (deterministic for a given dir, scenario and seed). */
  if ((rc = journal_tail_facts(d, &t->head, &t->last_wall, t->cfg_hash, &t->cfg_version, &t->have_cfg))) {
    hw_sim_destroy(d->sim);
    free(d->sc);
    return cli_open_error(d->o.c.dir, d->o.c.counter, rc, 0);
  }
  if (d->o.speed == 0) {
    d->wall_base_ns = t->last_wall + 1000000000ll; /* one second after the newest record */
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    d->wall_base_ns = (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
    if (d->wall_base_ns <= t->last_wall) d->wall_base_ns = t->last_wall + 1;
  }
  seed_boot_id(d, t->head);

  struct journal_options jo;
  memset(&jo, 0, sizeof jo);
  jo.dir = d->o.c.dir;
  jo.counter_path = d->o.c.counter;
  jo.accept_rollback = d->o.c.accept_rollback;
  if ((rc = cli_signer_get(&d->o.c, &jo.signer))) {
    hw_sim_destroy(d->sim);
    free(d->sc);
    return rc;
  }
  /* Every envelope time comes from the daemon's clock (run_clock.c: watched for steps): the
   * virtual clock under simulation, the real clocks on hardware. */
  jo.clock.now = run_record_clock;
  jo.clock.ctx = d;
  if (!d->hw) {
    /* Under simulation the boot id comes from the seed; on hardware the journal reads the
     * kernel's. */
    jo.virtual_clock = d->o.speed == 0;
    memcpy(jo.boot_id, d->boot_id, sizeof jo.boot_id);
  }
  /* Durability reaches the loop through an async handle (run_loop.c); until the loop opens it
   * the callback does nothing. */
  uv_mutex_init(&d->durable_mu);
  jo.on_durable = run_loop_on_durable;
  jo.ctx = d;
  /* The fold: every record is folded as it is appended and each seal carries its state hash;
   * checkpoints every 100 000 records or hour of record time. */
  /* Flash wear: metering groups share a commit every 15 s of panel time; a critical record
   * (request, command, sense-back, trip tap, boot, config, note…) commits at once with them. */
  jo.commit_hold_ns = 15000000000ull;
  struct replay_harness_options ho = { 100000, 3600ll * 1000000000ll, false };
  replay_harness_init(&d->h, &ho, &jo);
  run_energy_hook(d, &jo);
  run_disk_hook(d, &jo);
  int pid = 0;
  daemon_notify_status(&d->notify, "opening the journal in %s", d->o.c.dir);
  rc = journal_open(&d->j, &jo, &d->info, &pid);
  if (rc) {
    hw_sim_destroy(d->sim);
    free(d->sc);
    return cli_open_error(d->o.c.dir, d->o.c.counter, rc, pid);
  }
  if ((rc = cli_key_in_force_check(d->j, d->o.c.dir))) {
    journal_close(d->j);
    hw_sim_destroy(d->sim);
    free(d->sc);
    return rc;
  }
  if ((rc = replay_harness_attach(&d->h, d->j))) {
    if (rc == JOURNAL_EUNSEALED) cli_err("run: rebuilding state from the journal: %s", d->h.attach_why);
    else cli_err("run: rebuilding state from the journal: %s", journal_strerror(rc));
    journal_close(d->j);
    hw_sim_destroy(d->sim);
    free(d->sc);
    return rc == JOURNAL_EUNSEALED ? CLI_FAIL : CLI_ENV;
  }
  run_energy_attached(d);
  run_history_open(d, &jo);
  return 0;
}

/* Why the board last reset (run.h). The watchdog's bootstatus holds the WDIOF_* flags of
 * <linux/watchdog.h>: the first set one names the cause; none set is an ordinary power-on. A file
 * that is named but unreadable is "unknown"; with none named (the simulator, or no watchdog)
 * the previous shutdown tells a restart from an unclean stop (a crash, kill -9 or power loss). */
const char *run_reset_reason(const struct daemon *d, char *buf, size_t cap)
{
  const char *path = d->panel->watchdog_bootstatus[0] ? d->panel->watchdog_bootstatus
                   : d->hw ? "/sys/class/watchdog/watchdog0/bootstatus" : NULL;
  if (!path) return d->info.last_shutdown_clean ? "restart" : "unclean_shutdown";
  char *text = NULL;
  size_t len = 0;
  unsigned long flags;
  char *end;
  if (hw_read_file(path, &text, &len) < 0 || len > 32) { free(text); return d->panel->watchdog_bootstatus[0] ? "unknown" : "power_on"; }
  flags = strtoul(text, &end, 0);
  bool ok = end != text && (*end == 0 || *end == '\n');
  free(text);
  if (!ok) return "unknown";
  static const struct { unsigned long bit; const char *name; } causes[] = {
    { 0x0020, "watchdog" }, { 0x0010, "brownout" }, { 0x0200, "overvoltage" }, { 0x0001, "overheat" },
    { 0x0002, "fan_fault" }, { 0x0004, "external" }, { 0x0008, "external" } };
  for (size_t i = 0; i < sizeof causes / sizeof causes[0]; i++)
    if (flags & causes[i].bit) { snprintf(buf, cap, "%s", causes[i].name); return buf; }
  return "power_on";
}

/* The boot record, then a config record when the panel in use differs from the journal's last
 * (DIR/config.json then follows it), then a fault when a checkpoint was rejected. 0 or the first
 * append error. */
int run_start_boot(struct daemon *d, const struct run_tail *t)
{
  int rc;
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_BOOT;
  r.source.kind = JOURNAL_SRC_PANEL;
  memcpy(r.body.boot.boot_id, d->boot_id, 16);
  char why[32], rails[96];
  run_rails_open(d); /* before the boot record: it carries what they read */
  const char *reason = run_reset_reason(d, why, sizeof why);
  r.body.boot.reset_reason = (struct journal_slice){ (const uint8_t *)reason, (uint32_t)strlen(reason) };
  r.body.boot.previous_shutdown = d->info.last_shutdown_clean ? JOURNAL_SHUTDOWN_CLEAN : JOURNAL_SHUTDOWN_UNCLEAN;
  const char *fw = HEMS_FIRMWARE_VERSION;
  r.body.boot.firmware_version = (struct journal_slice){ (const uint8_t *)fw, (uint32_t)strlen(fw) };
  const char *rs = run_rails_status(d, rails, sizeof rails);
  r.body.boot.rail_status = (struct journal_slice){ (const uint8_t *)rs, (uint32_t)strlen(rs) };
  r.body.boot.sync_offset_ns = run_clock_sync_offset_ns(d); /* 0 (left out): not known or not synced */
  static char cjson[256 * 1024];
  size_t clen = 0;
  uint8_t new_hash[32];
  bool cfg_differs = false;
  if (hw_panel_canonical_json(d->panel, cjson, sizeof cjson, &clen) == 0) {
    crypto_generichash(new_hash, 32, (const uint8_t *)cjson, clen, NULL, 0);
    cfg_differs = !t->have_cfg || memcmp(new_hash, t->cfg_hash, 32) != 0;
  }
  r.body.boot.config_version = cfg_differs ? t->cfg_version + 1 : t->cfg_version;
  r.body.boot.reducer_version = REPLAY_REDUCER_VERSION; /* the fold's rules from this boot on */
  d->cfg_version = r.body.boot.config_version;
  memcpy(d->cfg_hash, cfg_differs ? new_hash : t->cfg_hash, 32);
  run_counter_bump(d); /* the boot's TPM count: signed in the seal of the boot record's group */
  rc = run_append(d, &r);
  if (!rc && cfg_differs) {
    memset(&r, 0, sizeof r);
    r.type = JOURNAL_T_CONFIG;
    r.source.kind = JOURNAL_SRC_PANEL;
    r.body.config.config_version = t->cfg_version + 1;
    memcpy(r.body.config.config_hash, new_hash, 32);
    r.body.config.json = (struct journal_slice){ (const uint8_t *)cjson, (uint32_t)clen };
    rc = run_append(d, &r);
    run_config_follow_panel(d, cjson, clen);
  }

  if (!rc) run_rails_after_boot(d);
  if (!rc && d->h.attach_rejected) {
    /* a checkpoint not proven by a signed seal was not used: say so in the journal */
    char detail[200];
    snprintf(detail, sizeof detail, "replay checkpoint at seq %llu rejected: %.150s", (unsigned long long)d->h.attach_rejected_seq,
             d->h.attach_why);
    run_fault(d, "checkpoint_rejected", (int64_t)d->h.attach_rejected_seq, 0, detail);
  }
  return rc;
}

/* The AFEs through the real driver over the (emulated) SPI transport; the mains AFE's ingest;
 * the power-quality source of the register path. 0 or the ingest error (said). */
int run_start_afes(struct daemon *d)
{
  for (unsigned a = 0; a < d->panel->num_afes; a++) {
    struct hw_ade9000_config ac;
    hw_panel_ade9000_config(d->panel, a, &ac);
    if (d->hw) ac.delay_ns = run_sleep_ns;
    int arc = hw_ade9000_init(&d->afe[a], d->hw ? &d->spidev[a].spi : hw_sim_afe_spi(d->sim, a), &ac);
    d->afe_ok[a] = arc == 0;
    if (arc) run_afe_start_failed(d, a, arc);
  }
  int rc = run_mains_init(d);
  if (rc) cli_err("run: mains ingest: %s", ingest_strerror(rc));

  d->next_window_ns = (uint64_t)d->o.window_ms * 1000000ull;
  /* Without a streaming mains AFE, power quality comes from the first working AFE's own
   * dip/swell registers (register path). */
  d->pq_afe = -1;
  for (unsigned a = 0; d->mains < 0 && a < d->panel->num_afes; a++)
    if (d->afe_ok[a]) { d->pq_afe = (int)a; break; }
  return rc;
}

struct hw_gpio_chip *run_gpio_chip(struct daemon *d)
{
  return d->hw ? (d->panel->gpiochip[0] ? &d->gpiochip.chip : NULL) : hw_sim_gpio_chip(d->sim);
}

/* The actuator outputs, the tap/DER inputs and the mains IRQ, in this order: the outputs' initial states and
 * the fail-safe commands journaled (durable), the outputs requested, the inputs requested, then
 * the commands queued for execution. 0 or the journal's error. */
int run_start_outputs(struct daemon *d)
{
  struct hw_gpio_chip *chip = run_gpio_chip(d);
  if (!chip) return 0;
  static struct run_boot_outputs b;
  int rc = run_actuate_boot(d, &b);
  run_actuate_open(d, chip, &b);
  run_taps_open(d, chip);
  run_mains_irq_open(d, chip);
  run_permit_open(d);
  run_actuate_queue_boot(d, &b);
  return rc;
}
