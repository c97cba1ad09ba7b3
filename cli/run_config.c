/*
 * run_config.c — the daemon's configuration after start: DIR/config.json's local settings
 * (roles, retention policy, time.max_offset_ms), SIGHUP's reload (a `config` record, or a fault naming what is wrong),
 * and DIR/config.json rewritten after the panel in use changed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "remote_state.h"
#include "run.h"

static void local_path(const struct daemon *d, char *path, size_t cap)
{
  snprintf(path, cap, "%s/config.json", d->o.c.dir);
}

void run_config_read_local(struct daemon *d)
{
  char path[4200];
  local_path(d, path, sizeof path);
  json_decref(d->local);
  d->local = cli_load_json_file(path);
}

/* The local settings of d->local: roles (else the panel config's), retention, time; the remote
 * issuers of remote_json. */
void run_config_load_local(struct daemon *d, const char *remote_json)
{
  char path[4200];
  local_path(d, path, sizeof path);
  json_t *root = d->local;
  json_t *r = json_object_get(root, "roles");
  json_decref(d->roles);
  d->roles = NULL;
  if (json_is_object(r)) d->roles = json_incref(r);
  else if (d->panel->roles_json[0]) d->roles = json_loads(d->panel->roles_json, 0, NULL);
  /* "retention": {"windows": "30d", "quota": "8GB", …} (retention_policy.c, docs/operations.md);
   * a bad one keeps the policy in force (the start refused it before the journal opened) */
  struct retention_policy rp;
  char err[4400];
  if (retention_policy_from_json(json_object_get(root, "retention"), path, &rp, err, sizeof err)) {
    char detail[4500];
    snprintf(detail, sizeof detail, "%s; the retention policy in force stays", err);
    run_fault(d, "config_invalid", 0, 0, detail);
  } else {
    d->ret = rp;
  }
  /* "time": {"max_offset_ms": 500} — a sync offset above it is a time_offset fault (run_clock.c) */
  json_t *mo = json_object_get(json_object_get(root, "time"), "max_offset_ms");
  d->clk.max_offset_ns = 0;
  if (mo && (!json_is_integer(mo) || json_integer_value(mo) < 1 || json_integer_value(mo) > 3600000)) {
    char detail[4400];
    snprintf(detail, sizeof detail, "%.4000s: time.max_offset_ms: not an integer 1..3600000; the default 500 applies", path);
    run_fault(d, "config_invalid", 0, 0, detail);
  } else if (mo) {
    d->clk.max_offset_ns = (int64_t)json_integer_value(mo) * 1000000;
  }
  /* the signed remote commands' issuers (remote_config.c): the ones the config record says */
  run_remote_configure(d, remote_json);
}

void run_config_local_remote(struct daemon *d)
{
  char path[4200];
  local_path(d, path, sizeof path);
  json_t *rm = json_object_get(d->local, "remote");
  if (!rm) return; /* the panel config's own, if any */
  char *rs = json_is_object(rm) ? json_dumps(rm, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
  if (d->panel != &d->hwpanel) {
    d->hwpanel = *d->panel; /* the simulator's physics keeps its own (as run_calib.c) */
    d->panel = &d->hwpanel;
  }
  if (rs && strlen(rs) < sizeof d->hwpanel.remote_json) {
    memcpy(d->hwpanel.remote_json, rs, strlen(rs) + 1);
  } else {
    /* fail closed: what cannot be journaled whole is not trusted either */
    d->hwpanel.remote_json[0] = 0;
    if (rs) cli_err("run: %s: \"remote\" longer than %zu bytes: no issuer is trusted", path, sizeof d->hwpanel.remote_json - 1);
    else cli_err("run: %s: \"remote\": expected an object: no issuer is trusted", path);
  }
  free(rs);
}

/* SIGHUP: re-read DIR/config.json. Valid and different → a `config` record (the simulated
 * hardware keeps its wiring; the journal says what the operator configured). Invalid → keep
 * the old one and journal a fault naming the file, field and why. */
void run_config_reload(struct daemon *d)
{
  d->reload = false;
  char path[4200], err[320];
  local_path(d, path, sizeof path);
  static struct hw_panel np;
  /* read once: the panel journaled and the local settings applied are the same bytes */
  char *text = NULL;
  size_t len = 0;
  int r = hw_read_file(path, &text, &len);
  if (r < 0) snprintf(err, sizeof err, "%.200s: %s", path, hw_strerror(r));
  /* a remote section the issuers' parse refuses fails the whole reload: journaled, it would say
   * keys are trusted (or revoked) that are not */
  if (r < 0 || hw_panel_parse(&np, text, len, path, err, sizeof err) || remote_config_check(np.remote_json, err, sizeof err)) {
    free(text);
    run_fault(d, "config_invalid", 0, 0, err);
    fprintf(stderr, "hems: run: SIGHUP: %s (keeping the current config)\n", err);
    return;
  }
  json_decref(d->local);
  d->local = json_loadb(text, len, 0, NULL);
  free(text);
  static char cj[256 * 1024];
  size_t cl;
  if (hw_panel_canonical_json(&np, cj, sizeof cj, &cl)) return;
  run_calib_reload(d, &np); /* a calibration-only change takes effect now (run_calib.c) */
  uint8_t h[32];
  crypto_generichash(h, 32, (const uint8_t *)cj, cl, NULL, 0);
  run_config_load_local(d, np.remote_json);
  if (!memcmp(h, d->cfg_hash, 32)) return;
  run_config_append(d, cj, cl, h, NULL);
}

int run_config_append(struct daemon *d, const char *cj, size_t cl, const uint8_t h[32], uint64_t *seq)
{
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_CONFIG;
  r.source.kind = JOURNAL_SRC_PANEL;
  r.body.config.config_version = d->cfg_version + 1;
  memcpy(r.body.config.config_hash, h, 32);
  r.body.config.json = (struct journal_slice){ (const uint8_t *)cj, (uint32_t)cl };
  int rc = run_append_fx(d, &r, seq, NULL, NULL);
  if (rc) return rc;
  d->cfg_version++;
  memcpy(d->cfg_hash, h, 32);
  return 0;
}

/* DIR/config.json follows the panel now in use (its canonical JSON, cjson); the dir's own local
 * settings (roles, retention, time) are kept, and held nowhere else: written to a temporary file,
 * synced, renamed. */
void run_config_follow_panel(struct daemon *d, const char *cjson, size_t clen)
{
  char path[4200], tmpp[4300];
  snprintf(path, sizeof path, "%s/config.json", d->o.c.dir);
  snprintf(tmpp, sizeof tmpp, "%s.tmp", path);
  json_t *old = cli_load_json_file(path), *neu = json_loadb(cjson, clen, 0, NULL);
  if (neu) {
    static const char *const keep[] = { "roles", "retention", "time", "remote" };
    for (int i = 0; i < 4; i++) {
      json_t *v = old ? json_object_get(old, keep[i]) : NULL;
      if (v) json_object_set(neu, keep[i], v);
    }
    if (json_dump_file(neu, tmpp, JSON_SORT_KEYS | JSON_INDENT(1)) == 0) cli_replace_durably(tmpp, path, d->o.c.dir);
  }
  json_decref(old);
  json_decref(neu);
}
