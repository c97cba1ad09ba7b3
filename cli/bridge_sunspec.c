/*
 * bridge_sunspec.c — `hems bridge sunspec`: polls the SunSpec devices that the panel config's
 * der section names (der.pv / der.ess: "sunspec": "tcp://HOST:PORT", "unit": N; the file of
 * --config, as the daemon's --hw /etc/hems/panel.json, else DIR/config.json) over Modbus TCP
 * (libmodbus) and reports each poll to the daemon's control socket as a `der_observe` request,
 * under the role the daemon gives the bridge's uid (automation); the daemon journals `der`
 * records from them (cli/run_der_obs.c). The bridge never opens the journal.
 *
 * Per device, each --interval: connect when not connected; find the "SunS" marker at 40000, then
 * 0, then 50000 and walk the model chain to the end model (once per connection: a device that
 * restarts may lay out its models anew); read the models the decoder knows (sunspec_decode.c)
 * in reads of at most 125 registers; report state, W and SOC where the device implements them.
 * Then DER commands (der_commands): the one written last checked against the poll (shown), and
 * a durable one not yet written asked of the daemon and written (sunspec_control.c plans the
 * registers); each step reported to the daemon, which journals the actuation and sense_back.
 * A device without a successful poll for --stale-after is reported stale, once, until it answers
 * again. One thread; polls and daemon calls block for at most --timeout each.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <modbus/modbus.h>
#include "cli.h"
#include "daemon.h"
#include "bridge.h"
#include "sunspec.h"

#define READ_MAX 125

struct dev {
  const char *name;      /* "pv", "ess" */
  bool ess;
  char url[128], hostbuf[128];
  const char *host;
  int port;
  unsigned unit;
  modbus_t *ctx;
  bool discovered;
  uint16_t base;
  struct sunspec_chain chain;
  bool answering;        /* the last poll succeeded */
  bool stale_sent;       /* reported stale since the last success */
  bool ever;             /* answered once since the bridge started */
  int64_t last_ok_ms;
  char last_err[160];    /* said once until it changes */
  int no_state_said;
  struct {                 /* the DER command written, until a poll shows it (der_commands) */
    bool active;
    uint64_t seq;
    unsigned action;
    struct sunspec_write w[SUNSPEC_WRITES_MAX];
    int n;
    int64_t since_ms;
  } cmd;
};

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

static void dev_close(struct dev *v)
{
  if (v->ctx) {
    modbus_close(v->ctx);
    modbus_free(v->ctx);
  }
  v->ctx = NULL;
  v->discovered = false;
}

/* A poll that failed: one line when the reason changes; the connection is dropped. */
static int poll_failed(struct dev *v, const char *why)
{
  if (strcmp(v->last_err, why)) {
    cli_err("bridge sunspec: %s (%s unit %u): %s", v->name, v->url, v->unit, why);
    snprintf(v->last_err, sizeof v->last_err, "%s", why);
  }
  v->answering = false;
  dev_close(v);
  return -1;
}

/* n registers from addr, in reads of at most READ_MAX: 0 or -1. */
static int read_regs(struct dev *v, uint16_t addr, unsigned n, uint16_t *out)
{
  for (unsigned k = 0; k < n;) {
    unsigned m = n - k < READ_MAX ? n - k : READ_MAX;
    if (modbus_read_registers(v->ctx, addr + k, (int)m, out + k) != (int)m) return -1;
    k += m;
  }
  return 0;
}

static int connect_dev(struct dev *v, int64_t timeout_ms)
{
  char port[8];
  snprintf(port, sizeof port, "%d", v->port);
  v->ctx = modbus_new_tcp_pi(v->host, port);
  if (!v->ctx) return poll_failed(v, "cannot make a Modbus TCP context");
  modbus_set_slave(v->ctx, (int)v->unit);
  modbus_set_response_timeout(v->ctx, (uint32_t)(timeout_ms / 1000), (uint32_t)(timeout_ms % 1000) * 1000);
  if (modbus_connect(v->ctx) < 0) {
    char why[160];
    snprintf(why, sizeof why, "connect: %s", modbus_strerror(errno));
    return poll_failed(v, why);
  }
  return 0;
}

/* The marker at one of the bases, then the chain: 0, or -1 (said). */
static int discover(struct dev *v)
{
  uint16_t r[2];
  bool found = false;
  for (unsigned i = 0; i < 3 && !found; i++) {
    int rc = read_regs(v, sunspec_bases[i], 2, r);
    if (rc == 0 && sunspec_is_marker(r[0], r[1])) {
      v->base = sunspec_bases[i];
      found = true;
    } else if (rc && errno < MODBUS_ENOBASE) { /* no answer at all, not a Modbus exception: the next base would not fare better */
      char why[160];
      snprintf(why, sizeof why, "looking for the SunS marker at %u: %s", sunspec_bases[i], modbus_strerror(errno));
      return poll_failed(v, why);
    }
  }
  if (!found) return poll_failed(v, "no SunS marker at 40000, 0 or 50000");
  memset(&v->chain, 0, sizeof v->chain);
  uint16_t addr = v->base + 2, next = 0;
  for (;;) {
    if (read_regs(v, addr, 2, r)) return poll_failed(v, "a model header did not read (the chain has no end model)");
    enum sunspec_step s = sunspec_walk(&v->chain, addr, r[0], r[1], &next);
    if (s == SUNSPEC_DONE) break;
    if (s == SUNSPEC_BAD) return poll_failed(v, "the model chain leaves the address space or does not end");
    addr = next;
  }
  char list[400];
  size_t k = 0;
  list[0] = 0;
  for (unsigned i = 0; i < v->chain.n && k < sizeof list - 24; i++)
    k += (size_t)snprintf(list + k, sizeof list - k, "%s%u (%u)", i ? ", " : "", v->chain.m[i].id, v->chain.m[i].len);
  cli_err("bridge sunspec: %s (%s unit %u): SunS at %u; models %s", v->name, v->url, v->unit, v->base, list);
  v->discovered = true;
  return 0;
}

/* One poll: the models the decoder knows, folded into o. 0, or -1 (said). */
static int poll_dev(struct dev *v, int64_t timeout_ms, struct sunspec_obs *o)
{
  memset(o, 0, sizeof *o);
  if (!v->ctx && connect_dev(v, timeout_ms)) return -1;
  if (!v->discovered && discover(v)) return -1;
  static uint16_t regs[65536];
  for (unsigned i = 0; i < v->chain.n; i++) {
    const struct sunspec_model *m = &v->chain.m[i];
    if (!sunspec_model_wanted(m->id)) continue;
    if (read_regs(v, m->addr, m->len, regs)) {
      char why[160];
      snprintf(why, sizeof why, "model %u at %u: %s", m->id, m->addr, modbus_strerror(errno));
      return poll_failed(v, why);
    }
    sunspec_decode_model(o, m->id, regs, m->len);
  }
  if (!v->answering && v->ever) cli_err("bridge sunspec: %s (%s unit %u): answering again", v->name, v->url, v->unit);
  v->answering = v->ever = true;
  v->last_err[0] = 0;
  return 0;
}

/* One der_observe line to the daemon: 0, or <0 (one line said when it changes). */
static int report(struct bridge_link *l, const char *req, const char *who)
{
  static char last[200];
  char *answer = NULL;
  int rc = daemon_call(l->dir, l->socket, req, &answer, 5000);
  json_t *o = answer ? json_loads(answer, 0, NULL) : NULL;
  char why[200] = "";
  if (rc) snprintf(why, sizeof why, "the daemon's socket: %s", strerror(-rc));
  else if (!json_is_true(json_object_get(o, "ok")))
    snprintf(why, sizeof why, "the daemon says: %s", o ? json_string_value(json_object_get(o, "error")) : "(not JSON)");
  if (why[0] && strcmp(why, last)) cli_err("bridge sunspec: %s: %s", who, why);
  snprintf(last, sizeof last, "%s", why);
  json_decref(o);
  free(answer);
  return why[0] ? -1 : 0;
}

static void observe(struct bridge_link *l, struct dev *v, const struct sunspec_obs *o, int64_t poll_ms)
{
  int st = sunspec_der_state(o, v->ess);
  if (st < 0) {
    if (!v->no_state_said++)
      cli_err("bridge sunspec: %s (%s unit %u): no model says the device's state (101-103 or 701 St for pv; 124 or "
              "802 for ess): nothing reported", v->name, v->url, v->unit);
    return;
  }
  json_t *q = json_pack("{s:s, s:s, s:s, s:I}", "op", "der_observe", "source", v->name, "state",
                        journal_der_state_name((unsigned)st), "age_ms", (json_int_t)(bridge_now_ms() - poll_ms));
  if (o->have_w) {
    int64_t w = o->w_mw >= 0 ? (o->w_mw + 500) / 1000 : -((-o->w_mw + 500) / 1000);
    if (w > INT32_MIN && w <= INT32_MAX) json_object_set_new(q, "w", json_integer(w));
  }
  if (o->have_soc && o->soc_mpct >= 0 && o->soc_mpct <= 1000000) json_object_set_new(q, "soc_mpct", json_integer(o->soc_mpct));
  char *line = json_dumps(q, JSON_COMPACT);
  json_decref(q);
  if (line && report(l, line, v->name) == 0) v->stale_sent = false;
  free(line);
}

/* One call to the daemon: its answer when "ok" is true, else NULL (one line said, as report). */
static json_t *call(struct bridge_link *l, const char *req, const char *who)
{
  char *answer = NULL;
  int rc = daemon_call(l->dir, l->socket, req, &answer, 5000);
  json_t *o = answer ? json_loads(answer, 0, NULL) : NULL;
  free(answer);
  if (!rc && json_is_true(json_object_get(o, "ok"))) return o;
  cli_err("bridge sunspec: %s: %s%s", who, rc ? "the daemon's socket: " : "the daemon says: ",
          rc ? strerror(-rc) : o ? json_string_value(json_object_get(o, "error")) ?: "?" : "(not JSON)");
  json_decref(o);
  return NULL;
}

/* A write happened (or failed): the daemon must hear it, so a socket that fails is tried again
 * (three times, 200 ms apart); a refusal is said once and not retried. */
static void der_report(struct bridge_link *l, struct dev *v, uint64_t seq, const char *stage, int err)
{
  char req[200];
  snprintf(req, sizeof req, "{\"op\":\"der_report\",\"source\":\"%s\",\"command_seq\":%llu,\"stage\":\"%s\",\"error\":%d}",
           v->name, (unsigned long long)seq, stage, err);
  for (int attempt = 0; attempt < 3; attempt++) {
    char *answer = NULL;
    int rc = daemon_call(l->dir, l->socket, req, &answer, 5000);
    json_t *o = answer ? json_loads(answer, 0, NULL) : NULL;
    free(answer);
    if (!rc) {
      if (!json_is_true(json_object_get(o, "ok")))
        cli_err("bridge sunspec: %s: command seq %llu %s: the daemon says: %s", v->name, (unsigned long long)seq, stage,
                o ? json_string_value(json_object_get(o, "error")) ?: "?" : "(not JSON)");
      json_decref(o);
      return;
    }
    json_decref(o);
    cli_err("bridge sunspec: %s: command seq %llu %s: the daemon's socket: %s%s", v->name, (unsigned long long)seq, stage,
            strerror(-rc), attempt < 2 ? " (trying again)" : "");
    struct timespec t = { 0, 200000000 };
    nanosleep(&t, NULL);
  }
}

/* DER commands (docs/policy.md "DER commands"): the written one checked against this poll, then
 * the daemon asked for a durable one not yet written, which is written now. */
static void der_commands(struct bridge_link *l, struct dev *v, const struct sunspec_obs *o)
{
  if (v->cmd.active) {
    if (sunspec_shows(o, v->ess, v->cmd.action, v->cmd.w, v->cmd.n)) {
      cli_err("bridge sunspec: %s: command seq %llu shown by the device", v->name, (unsigned long long)v->cmd.seq);
      der_report(l, v, v->cmd.seq, "shown", 0);
      v->cmd.active = false;
    } else if (bridge_now_ms() - v->cmd.since_ms > 120000) {
      v->cmd.active = false; /* long past the daemon's own timeout: it has journaled no_feedback */
    }
  }
  char req[96];
  snprintf(req, sizeof req, "{\"op\":\"der_command\",\"source\":\"%s\"}", v->name);
  json_t *a = call(l, req, v->name), *c = json_object_get(a, "command");
  if (!json_is_object(c)) { json_decref(a); return; }
  uint64_t seq = (uint64_t)json_integer_value(json_object_get(c, "seq"));
  int action = journal_der_action_from_name(json_string_value(json_object_get(c, "action")));
  json_int_t permille = json_integer_value(json_object_get(c, "permille"));
  json_decref(a);
  if (!seq || action < 0 || permille < 0 || permille > 1000) return;
  struct sunspec_write w[SUNSPEC_WRITES_MAX];
  const char *why = NULL;
  int n = sunspec_plan(o, (unsigned)action, (unsigned)permille, w, &why);
  if (n < 0) {
    cli_err("bridge sunspec: %s: command seq %llu (%s): %s", v->name, (unsigned long long)seq, journal_der_action_name((unsigned)action), why);
    der_report(l, v, seq, "write_failed", EOPNOTSUPP);
    return;
  }
  for (int i = 0; i < n; i++) {
    uint16_t base = 0;
    for (unsigned k = 0; k < v->chain.n; k++)
      if (v->chain.m[k].id == w[i].model) { base = v->chain.m[k].addr; break; }
    if (!base || modbus_write_register(v->ctx, base + w[i].offset, w[i].value) != 1) {
      int e = base ? errno : ENOENT;
      cli_err("bridge sunspec: %s: command seq %llu: writing model %u offset %u: %s", v->name, (unsigned long long)seq,
              w[i].model, w[i].offset, base ? modbus_strerror(e) : "the model is gone");
      der_report(l, v, seq, "write_failed", e > 0 && e < 4096 ? e : EIO);
      return;
    }
  }
  cli_err("bridge sunspec: %s: command seq %llu (%s %lld permille) written", v->name, (unsigned long long)seq,
          journal_der_action_name((unsigned)action), (long long)permille);
  der_report(l, v, seq, "written", 0);
  v->cmd.active = true;
  v->cmd.seq = seq;
  v->cmd.action = (unsigned)action;
  v->cmd.n = n;
  memcpy(v->cmd.w, w, sizeof w);
  v->cmd.since_ms = bridge_now_ms();
}

static void stale(struct bridge_link *l, struct dev *v)
{
  char req[96];
  snprintf(req, sizeof req, "{\"op\":\"der_observe\",\"source\":\"%s\",\"stale\":true}", v->name);
  if (report(l, req, v->name) == 0) {
    v->stale_sent = true;
    cli_err("bridge sunspec: %s (%s unit %u): reported stale (no answer for the stale-after time)", v->name, v->url, v->unit);
  }
}

/* The sources of the panel config that name a SunSpec device: their count, or -1 (said). */
static int load_devices(const char *dir, const char *config, struct dev *devs)
{
  static struct hw_panel p;
  char path[4200], err[400];
  if (config) snprintf(path, sizeof path, "%s", config);
  else snprintf(path, sizeof path, "%s/config.json", dir);
  if (hw_panel_load_file(&p, path, err, sizeof err)) {
    cli_err("bridge sunspec: %s", err);
    return -1;
  }
  int n = 0;
  const char *urls[2] = { p.der.pv ? p.der.pv_sunspec : "", p.der.ess ? p.der.ess_sunspec : "" };
  const unsigned units[2] = { p.der.pv_unit, p.der.ess_unit };
  for (int i = 0; i < 2; i++) {
    if (!urls[i][0]) continue;
    struct dev *v = &devs[n];
    memset(v, 0, sizeof *v);
    v->name = i ? "ess" : "pv";
    v->ess = i == 1;
    v->unit = units[i];
    v->port = 502;
    snprintf(v->url, sizeof v->url, "%s", urls[i]);
    snprintf(v->hostbuf, sizeof v->hostbuf, "%s", urls[i] + 6); /* the config checked "tcp://" */
    if (bridge_host_port(v->hostbuf, &v->host, &v->port) || !*v->host) {
      cli_err("bridge sunspec: %s: der.%s.sunspec \"%s\": expected tcp://HOST:PORT", path, v->name, urls[i]);
      return -1;
    }
    n++;
  }
  if (!n) cli_err("bridge sunspec: %s: no der source names a SunSpec device (der.pv.sunspec, der.ess.sunspec)", path);
  return n ? n : -1;
}

static void sleep_ms(int64_t ms)
{
  if (ms <= 0) return;
  struct timespec t = { ms / 1000, (ms % 1000) * 1000000 };
  nanosleep(&t, NULL); /* a signal ends it early */
}

int cli_bridge_sunspec(int argc, char **argv)
{
  const char *dir = cli_default_dir(), *sock = NULL, *interval = "1s", *timeout = "1s", *stale_after = "5s", *config = NULL;
  for (int i = 1; i < argc; i++) {
    const char **slot = !strcmp(argv[i], "--dir") ? &dir : !strcmp(argv[i], "--socket") ? &sock
                        : !strcmp(argv[i], "--config") ? &config
                        : !strcmp(argv[i], "--interval") ? &interval : !strcmp(argv[i], "--timeout") ? &timeout
                        : !strcmp(argv[i], "--stale-after") ? &stale_after : NULL;
    if (!slot || i + 1 >= argc) {
      cli_err("bridge sunspec: %s: %s", argv[i], slot ? "needs a value" : "unknown option");
      return CLI_USAGE;
    }
    *slot = argv[++i];
  }
  int64_t iv, to, sa;
  if (cli_parse_duration_ns(interval, &iv) || iv < 100000000LL || iv > 3600000000000LL) {
    cli_err("bridge sunspec: --interval %s: a duration from 100ms to 1h", interval);
    return CLI_USAGE;
  }
  if (cli_parse_duration_ns(timeout, &to) || to < 100000000LL || to > 60000000000LL) {
    cli_err("bridge sunspec: --timeout %s: a duration from 100ms to 60s", timeout);
    return CLI_USAGE;
  }
  if (cli_parse_duration_ns(stale_after, &sa) || sa < iv || sa > 3600000000000LL) {
    cli_err("bridge sunspec: --stale-after %s: a duration from --interval to 1h", stale_after);
    return CLI_USAGE;
  }
  static struct dev devs[2];
  int n = load_devices(dir, config, devs);
  if (n < 0) return CLI_USAGE;
  struct bridge_link l;
  bridge_link_init(&l, dir, sock);
  l.who = "bridge sunspec";
  struct sigaction sa_ = { .sa_handler = on_signal };
  sigaction(SIGTERM, &sa_, NULL);
  sigaction(SIGINT, &sa_, NULL);
  signal(SIGPIPE, SIG_IGN);
  int64_t interval_ms = iv / 1000000, timeout_ms = to / 1000000, stale_ms = sa / 1000000, start = bridge_now_ms();
  for (int i = 0; i < n; i++) {
    devs[i].last_ok_ms = start;
    cli_err("bridge sunspec: %s: polling %s unit %u every %lld ms", devs[i].name, devs[i].url, devs[i].unit,
            (long long)interval_ms);
  }
  int64_t next = start;
  while (!stop_signal) {
    for (int i = 0; i < n && !stop_signal; i++) {
      struct dev *v = &devs[i];
      struct sunspec_obs o;
      int64_t t0 = bridge_now_ms();
      if (poll_dev(v, timeout_ms, &o) == 0) {
        v->last_ok_ms = bridge_now_ms();
        observe(&l, v, &o, t0);
        der_commands(&l, v, &o);
      } else if (v->ever && !v->stale_sent && bridge_now_ms() - v->last_ok_ms >= stale_ms) {
        stale(&l, v);
      }
    }
    next += interval_ms;
    int64_t now = bridge_now_ms();
    if (next < now) next = now; /* a slow round does not make the next ones hurry */
    sleep_ms(next - now);
  }
  for (int i = 0; i < n; i++) dev_close(&devs[i]);
  bridge_link_close(&l);
  cli_err("bridge sunspec: stopped (%s)", stop_signal == SIGTERM ? "SIGTERM" : "SIGINT");
  return CLI_OK;
}
