/*
 * cmd_replay.c — `hems replay` and `hems status` (offline): fold the journal of a data dir or
 * a bundle through the reducers and print the derived state, its state hash and the head;
 * `--check` compares every recomputed decision and seal state hash with what the live run
 * recorded; `--incident SEQ` prints the causal timeline around one record.
 *
 * `replay --until SEQ` folds 1..SEQ inclusive (seals are ignored by the fold), so a seal at seq
 * N carries the state hash that `replay --until N-1` prints.
 *
 * A bundle is read through a checked source (only records proven by a verified seal reach the
 * fold). A bundle that starts after seq 1 brings the checkpoint of the state before its first
 * record; the fold starts there, and the checkpoint is trusted only once the first seal that
 * carries a state hash reproduces it (else: "bundle damaged after seq <checkpoint>", exit 1).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>
#include "cli.h"
#include "daemon.h"
#include "replay.h"

enum { O_DIR = 1000, O_COUNTER, O_ACCEPT, O_FORMAT, O_UNTIL, O_CHECK, O_INCIDENT, O_NO_CKPT, O_PUBKEY, O_FP };

#define INCIDENT_BEFORE_NS (120ll * 1000000000ll)
#define INCIDENT_AFTER_NS (30ll * 1000000000ll)
#define INCIDENT_WINDOWS_BEFORE 5
#define INCIDENT_WINDOWS_AFTER 2
#define INCIDENT_LINES_MAX 2000

struct incident {
  uint64_t seq;
  bool found;
  int64_t wall_ns;
  uint16_t branches[64];
  int nbranches;
  bool all;
  /* collected lines */
  struct line { uint64_t seq; int64_t wall_ns; char type[16]; char src[48]; char text[200]; } *lines;
  int nlines;
  struct line win_ring[INCIDENT_WINDOWS_BEFORE];
  int nwin;
  int win_after;
  struct replay_state *at; /* state right after the incident record */
};

struct run {
  int fmt_json;
  struct incident *inc;
  json_t *divs;
  uint64_t ndivs;
  struct cli_progress prog;
};

static bool inc_has(const struct incident *inc, unsigned b)
{
  if (inc->all) return true;
  for (int i = 0; i < inc->nbranches; i++)
    if (inc->branches[i] == b) return true;
  return false;
}

static void on_divergence(void *ctx, const struct replay_divergence *d)
{
  struct run *rn = ctx;
  rn->ndivs++;
  if (rn->fmt_json) {
    json_t *o = json_object();
    json_object_set_new(o, "seq", json_integer((json_int_t)d->seq));
    json_object_set_new(o, "what", json_string(d->what));
    json_array_append_new(rn->divs, o);
  }
  cli_err("replay: divergence at seq %llu: %s", (unsigned long long)d->seq, d->what);
}

static const char *desired_name(unsigned d) { return d ? "on" : "off"; }

static void fmt_target(uint16_t t, char *b, size_t n)
{
  if (t == JOURNAL_TARGET_SERVICE) snprintf(b, n, "service");
  else snprintf(b, n, "%u", t);
}

static void fmt_slice(struct journal_slice s, char *b, size_t n)
{
  size_t k = s.len < n - 1 ? s.len : n - 1;
  if (k) memcpy(b, s.ptr, k);
  b[k] = 0;
}

/* One readable line for a record (and the decision the fold took for it). */
static bool describe(const struct journal_record *r, const struct replay_effects *fx, const struct incident *inc,
                     char *out, size_t cap)
{
  char t[16], id[80], txt[100];
  switch (r->type) {
  case JOURNAL_T_WINDOW: {
    const struct journal_window *w = &r->body.window;
    int k = 0;
    out[0] = 0;
    for (unsigned i = 0; i < w->npow && i < JOURNAL_WINDOW_CHANNELS; i++) {
      if (!inc_has(inc, w->pow[i].branch)) continue;
      int32_t irms = 0;
      for (unsigned c = 0; c < w->nch && c < JOURNAL_WINDOW_CHANNELS; c++)
        if (w->ch[c].branch == w->pow[i].branch && w->ch[c].kind == JOURNAL_CH_CURRENT) irms = w->ch[c].rms_m;
      k += snprintf(out + k, cap > (size_t)k ? cap - (size_t)k : 0, "%sbranch %u: %.1f W, %.2f A", k ? "; " : "",
                    w->pow[i].branch, (double)w->pow[i].p_mw / 1000.0, (double)irms / 1000.0);
    }
    return k > 0;
  }
  case JOURNAL_T_REQUEST: {
    const struct journal_request *q = &r->body.request;
    if (q->target != JOURNAL_TARGET_SERVICE && !inc_has(inc, q->target)) return false;
    fmt_target(q->target, t, sizeof t);
    fmt_slice(q->request_id, id, sizeof id);
    fmt_slice(q->reason, txt, sizeof txt);
    static const char *const roles[] = { "viewer", "operator", "admin", "utility" };
    int k = snprintf(out, cap, "request %s %s id \"%s\" by %s%s%s", t, desired_name(q->desired), id,
                     q->role < 4 ? roles[q->role] : "?", txt[0] ? ": " : "", txt);
    if (fx && fx->n) {
      const struct replay_effect *e = &fx->e[0];
      if (e->kind == REPLAY_EFFECT_COMMAND) snprintf(out + k, cap - (size_t)k, " -> command (%s)", replay_command_reason_name(e->reason));
      else if (e->kind == REPLAY_EFFECT_REFUSAL) snprintf(out + k, cap - (size_t)k, " -> refusal (%s)", replay_refusal_reason_name(e->reason));
      else snprintf(out + k, cap - (size_t)k, " -> repeat of seq %llu, stored outcome", (unsigned long long)e->stored_seq);
    }
    return true;
  }
  case JOURNAL_T_COMMAND: {
    const struct journal_command *c = &r->body.command;
    if (c->target != JOURNAL_TARGET_SERVICE && !inc_has(inc, c->target)) return false;
    fmt_target(c->target, t, sizeof t);
    snprintf(out, cap, "command %s %s, reason %s (cause seq %llu)", t, desired_name(c->desired),
             replay_command_reason_name(c->reason), (unsigned long long)c->cause_seq);
    return true;
  }
  case JOURNAL_T_REFUSAL: {
    const struct journal_refusal *c = &r->body.refusal;
    if (c->target != JOURNAL_TARGET_SERVICE && !inc_has(inc, c->target)) return false;
    fmt_target(c->target, t, sizeof t);
    snprintf(out, cap, "refusal %s %s, reason %s (cause seq %llu)", t, desired_name(c->desired),
             replay_refusal_reason_name(c->reason), (unsigned long long)c->cause_seq);
    return true;
  }
  case JOURNAL_T_SENSE_BACK: case JOURNAL_T_TRIP_TAP: case JOURNAL_T_DER: case JOURNAL_T_ACTUATION: {
    uint16_t b[8];
    uint8_t buf[JOURNAL_RECORD_MAX];
    size_t len;
    int n = 0;
    if (journal_record_encode(r, buf, sizeof buf, &len) == 0) n = journal_record_branches(buf, len, b, 8);
    bool mine = r->type == JOURNAL_T_DER || inc->all;
    for (int i = 0; i < n; i++) if (inc_has(inc, b[i])) mine = true;
    if (!mine) return false;
    char *js = journal_record_encode(r, buf, sizeof buf, &len) == 0 ? journal_record_to_json(buf, len, JOURNAL_JSON_COMPACT) : NULL;
    json_t *o = js ? json_loads(js, 0, NULL) : NULL;
    char *body = o ? json_dumps(json_object_get(o, "body"), JSON_COMPACT) : NULL;
    snprintf(out, cap, "%s %s", journal_type_name(r->type), body ? body : "");
    free(body);
    json_decref(o);
    free(js);
    return true;
  }
  case JOURNAL_T_FAULT:
    if (r->body.fault.branch && !inc_has(inc, r->body.fault.branch)) return false;
    fmt_slice(r->body.fault.code, txt, sizeof txt);
    fmt_slice(r->body.fault.detail, id, sizeof id);
    snprintf(out, cap, "fault %s%s%s", txt, id[0] ? ": " : "", id);
    return true;
  case JOURNAL_T_PQ_EVENT: {
    static const char *const k[] = { "dip", "swell", "interruption", "rvc" };
    snprintf(out, cap, "pq_event %s on %s, %.1f%% for %llu ms", r->body.pq_event.kind < 4 ? k[r->body.pq_event.kind] : "?",
             r->body.pq_event.phases, r->body.pq_event.extreme_mpct / 1000.0,
             (unsigned long long)(r->body.pq_event.duration_us / 1000));
    return true;
  }
  case JOURNAL_T_NOTE:
    fmt_slice(r->body.note.text, txt, sizeof txt);
    snprintf(out, cap, "note: %s", txt);
    return true;
  case JOURNAL_T_BOOT:
    if (r->body.boot.reducer_version)
      snprintf(out, cap, "boot (config v%u, reducer v%u)", r->body.boot.config_version, r->body.boot.reducer_version);
    else snprintf(out, cap, "boot (config v%u)", r->body.boot.config_version);
    return true;
  default:
    return false;
  }
}

static void add_line(struct incident *inc, const struct journal_record *r, const char *text)
{
  if (inc->nlines >= INCIDENT_LINES_MAX) return;
  struct line *l = &inc->lines[inc->nlines++];
  l->seq = r->seq;
  l->wall_ns = r->wall_ns;
  snprintf(l->type, sizeof l->type, "%s", journal_type_name(r->type));
  journal_source_format(&r->source, l->src, sizeof l->src);
  snprintf(l->text, sizeof l->text, "%s", text);
}

static void on_record(void *ctx, const struct journal_record *r, const struct replay_state *s,
                      const struct replay_effects *fx)
{
  struct run *rn = ctx;
  struct incident *inc = rn->inc;
  if (!inc) return;
  if (r->seq == inc->seq) {
    memcpy(inc->at, s, sizeof *s);
    for (int i = 0; i < inc->nwin && inc->nlines < INCIDENT_LINES_MAX; i++) inc->lines[inc->nlines++] = inc->win_ring[i];
    inc->nwin = 0;
    char text[200];
    if (!describe(r, fx, inc, text, sizeof text)) snprintf(text, sizeof text, "%s", journal_type_name(r->type));
    add_line(inc, r, text);
    return;
  }
  if (r->wall_ns < inc->wall_ns - INCIDENT_BEFORE_NS || r->wall_ns > inc->wall_ns + INCIDENT_AFTER_NS) return;
  char text[200];
  if (!describe(r, fx, inc, text, sizeof text)) return;
  if (r->type == JOURNAL_T_WINDOW) {
    if (r->seq < inc->seq) {
      /* keep only the last few windows before the incident, placed in order when it is reached */
      if (inc->nwin == INCIDENT_WINDOWS_BEFORE) {
        memmove(inc->win_ring, inc->win_ring + 1, sizeof inc->win_ring[0] * (INCIDENT_WINDOWS_BEFORE - 1));
        inc->nwin--;
      }
      struct line *l = &inc->win_ring[inc->nwin++];
      l->seq = r->seq;
      l->wall_ns = r->wall_ns;
      snprintf(l->type, sizeof l->type, "window");
      journal_source_format(&r->source, l->src, sizeof l->src);
      snprintf(l->text, sizeof l->text, "%s", text);
      return;
    }
    if (inc->win_after >= INCIDENT_WINDOWS_AFTER) return;
    inc->win_after++;
  }
  if (r->seq < inc->seq && inc->nwin) {
    /* a non-window line: flush the windows that came before it, keeping order */
    for (int i = 0; i < inc->nwin && inc->nlines < INCIDENT_LINES_MAX; i++) inc->lines[inc->nlines++] = inc->win_ring[i];
    inc->nwin = 0;
  }
  add_line(inc, r, text);
}

/* ------------------------------------------------------------------ output */

static json_t *state_json(const struct replay_state *s)
{
  char ab[128];
  json_t *o = json_object();
  json_t *brs = json_array();
  for (unsigned i = 0; i < s->nbranches && i < REPLAY_BRANCHES_MAX; i++) {
    const struct replay_branch *b = &s->br[i];
    json_t *x = json_object();
    json_object_set_new(x, "branch", json_integer(i + 1));
    json_object_set_new(x, "commanded", json_string(replay_onoff_name(b->commanded)));
    json_object_set_new(x, "sensed", json_string(replay_onoff_name(b->sensed)));
    json_object_set_new(x, "proven", json_boolean(b->proven));
    json_object_set_new(x, "fault", json_string(b->fault ? replay_verdict_name(b->fault) : "none"));
    json_object_set_new(x, "breaker_open", json_boolean(b->breaker_open));
    json_object_set_new(x, "rcd_tripped", json_boolean(b->rcd_tripped));
    json_object_set_new(x, "pending_seq", json_integer((json_int_t)b->pending_seq));
    json_object_set_new(x, "phase", b->phase ? json_string((const char *[]){ "A", "B", "C", "N" }[b->phase - 1]) : json_null());
    json_object_set_new(x, "p_mw", json_integer(b->p_mw));
    json_object_set_new(x, "import_uwh", json_integer(b->import_uwh));
    json_object_set_new(x, "export_uwh", json_integer(b->export_uwh));
    json_object_set_new(x, "trips", json_integer(b->trips));
    json_object_set_new(x, "alarms", json_string(replay_alarm_names(b->alarms, ab, sizeof ab)));
    json_array_append_new(brs, x);
  }
  json_object_set_new(o, "branches", brs);
  json_t *ph = json_array();
  for (int i = 0; i < REPLAY_PHASES; i++) {
    json_t *x = json_object();
    json_object_set_new(x, "phase", json_string((const char *[]){ "A", "B", "C", "N" }[i]));
    json_object_set_new(x, "import_uwh", json_integer(s->phase_import_uwh[i]));
    json_object_set_new(x, "export_uwh", json_integer(s->phase_export_uwh[i]));
    json_array_append_new(ph, x);
  }
  json_object_set_new(o, "phases", ph);
  json_object_set_new(o, "service", json_string(replay_onoff_name(s->service_commanded)));
  uint32_t all = s->alarms;
  for (unsigned i = 0; i < REPLAY_BRANCHES_MAX; i++) all |= s->br[i].alarms;
  json_object_set_new(o, "alarms", json_string(replay_alarm_names(all, ab, sizeof ab)));
  json_t *il = json_object();
  json_object_set_new(il, "grid_present", s->grid_present ? json_boolean(s->grid_present == 2) : json_null());
  json_object_set_new(il, "backfeed_risk", json_boolean(s->backfeed_risk));
  json_object_set_new(il, "transfer_state", json_integer(s->transfer_state));
  json_object_set_new(o, "interlock", il);
  json_t *der = json_array();
  static const char *const dn[] = { "pv", "ess", "ats" };
  for (int i = 0; i < REPLAY_DER_SOURCES; i++) {
    if (!s->der[i].seen) continue;
    json_t *x = json_object();
    json_object_set_new(x, "source", json_string(dn[i]));
    json_object_set_new(x, "fresh", json_boolean(!s->der[i].stale));
    json_object_set_new(x, "interlock_ok", json_boolean(s->der[i].interlock_ok));
    json_object_set_new(x, "last_seq", json_integer((json_int_t)s->der[i].last_seq));
    json_array_append_new(der, x);
  }
  json_object_set_new(o, "der", der);
  json_t *rw = json_object();
  json_object_set_new(rw, "ids", json_integer(s->req_count));
  json_object_set_new(rw, "limit_ids", json_integer(REPLAY_REQ_WINDOW_IDS));
  json_object_set_new(rw, "limit_s", json_integer(REPLAY_REQ_WINDOW_NS / 1000000000ll));
  json_object_set_new(o, "request_window", rw);
  json_t *c = json_object();
  json_object_set_new(c, "records", json_integer((json_int_t)s->records));
  json_object_set_new(c, "windows", json_integer((json_int_t)s->windows));
  json_object_set_new(c, "requests", json_integer((json_int_t)s->requests));
  json_object_set_new(c, "commands", json_integer((json_int_t)s->commands));
  json_object_set_new(c, "refusals", json_integer((json_int_t)s->refusals));
  json_object_set_new(c, "faults", json_integer((json_int_t)s->faults));
  json_object_set_new(o, "counts", c);
  return o;
}

static void print_state_text(const struct replay_state *s)
{
  char ab[128];
  printf("service %s; interlock: grid %s, backfeed risk %s\n", replay_onoff_name(s->service_commanded),
         s->grid_present == 2 ? "present" : s->grid_present == 1 ? "absent" : "unknown", s->backfeed_risk ? "yes" : "no");
  if (s->nbranches) printf("%-6s %-9s %-7s %-6s %-11s %12s %12s %10s  %s\n", "branch", "commanded", "sensed", "proven",
                           "fault", "import_wh", "export_wh", "p_w", "alarms");
  for (unsigned i = 0; i < s->nbranches && i < REPLAY_BRANCHES_MAX; i++) {
    const struct replay_branch *b = &s->br[i];
    printf("%-6u %-9s %-7s %-6s %-11s %12.3f %12.3f %10.1f  %s%s%s\n", i + 1, replay_onoff_name(b->commanded),
           replay_onoff_name(b->sensed), b->proven ? "yes" : "no", b->fault ? replay_verdict_name(b->fault) : "none",
           (double)b->import_uwh / 1e6, (double)b->export_uwh / 1e6, (double)b->p_mw / 1e3,
           replay_alarm_names(b->alarms, ab, sizeof ab), b->breaker_open ? " breaker_open" : "", b->rcd_tripped ? " rcd_tripped" : "");
  }
  static const char *const dn[] = { "pv", "ess", "ats" };
  for (int i = 0; i < REPLAY_DER_SOURCES; i++)
    if (s->der[i].seen)
      printf("der %s: %s, interlock %s (seq %llu)\n", dn[i], s->der[i].stale ? "STALE" : "fresh",
             s->der[i].interlock_ok ? "ok" : "NOT ok", (unsigned long long)s->der[i].last_seq);
  uint32_t all = s->alarms;
  for (unsigned i = 0; i < REPLAY_BRANCHES_MAX; i++) all |= s->br[i].alarms;
  printf("alarms: %s\n", all ? replay_alarm_names(all, ab, sizeof ab) : "none");
  printf("records %llu (windows %llu, requests %llu, commands %llu, refusals %llu); request-id window %u/%u ids, %lld h\n",
         (unsigned long long)s->records, (unsigned long long)s->windows, (unsigned long long)s->requests,
         (unsigned long long)s->commands, (unsigned long long)s->refusals, s->req_count, REPLAY_REQ_WINDOW_IDS,
         (long long)(REPLAY_REQ_WINDOW_NS / 3600000000000ll));
}

/* ------------------------------------------------------------------ the command */

struct args {
  struct cli_common c;
  bool json, check, no_ckpt, status;
  const char *until, *incident;
  const char *pubkey, *fingerprint; /* a bundle's key pin */
};


static int parse(int argc, char **argv, struct args *a, const char *name)
{
  static const struct option lo[] = {
    { "dir", required_argument, NULL, O_DIR }, { "counter", required_argument, NULL, O_COUNTER },
    { "accept-rollback", no_argument, NULL, O_ACCEPT }, { "format", required_argument, NULL, O_FORMAT },
    { "until", required_argument, NULL, O_UNTIL }, { "check", no_argument, NULL, O_CHECK },
    { "incident", required_argument, NULL, O_INCIDENT }, { "no-checkpoints", no_argument, NULL, O_NO_CKPT },
    { "pubkey", required_argument, NULL, O_PUBKEY }, { "fingerprint", required_argument, NULL, O_FP }, { 0 } };
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (opt) {
    case O_DIR: a->c.dir = optarg; break;
    case O_COUNTER: a->c.counter = optarg; break;
    case O_ACCEPT: a->c.accept_rollback = true; break;
    case O_FORMAT:
      if (!strcmp(optarg, "json")) a->json = true;
      else if (!strcmp(optarg, "text")) a->json = false;
      else { cli_err("%s: --format takes text or json", name); return CLI_USAGE; }
      break;
    case O_UNTIL: case O_CHECK: case O_INCIDENT: case O_NO_CKPT: case O_PUBKEY: case O_FP:
      if (a->status) return cli_usage(cli_find(name), false);
      if (opt == O_PUBKEY || opt == O_FP) {
        if (opt == O_PUBKEY) a->pubkey = optarg;
        else a->fingerprint = optarg;
        if (a->pubkey && a->fingerprint) { cli_err("%s: give --pubkey or --fingerprint, not both", name); return CLI_USAGE; }
        break;
      }
      if (opt == O_UNTIL) a->until = optarg;
      else if (opt == O_CHECK) a->check = true;
      else if (opt == O_INCIDENT) a->incident = optarg;
      else a->no_ckpt = true;
      break;
    default: return cli_usage(cli_find(name), false);
    }
  }
  int npos = argc - optind;
  if (npos > 1 || (npos == 1 && a->status)) return cli_usage(cli_find(name), false);
  if (npos == 1) return cli_source_arg(NULL, &a->c, argv[optind]);
  return 0;
}

/* Reads the incident record (dir: by seq; bundle: a first pass, checked). 0, -1 when there is
 * no such record, -2 when a bundle is damaged before it (the damage line printed). */
static int find_incident(struct cli_source *s, struct incident *inc)
{
  const uint8_t *b = NULL;
  size_t len = 0;
  struct journal_iter *it = NULL;
  uint8_t *copy = NULL;
  if (s->reader) {
    if (journal_iter_begin(s->reader, inc->seq, &it) || journal_iter_get(it, inc->seq, &b, &len)) {
      if (it) journal_iter_end(it);
      return -1;
    }
  } else {
    struct journal_record_source *src = cli_source_records(s, 0);
    uint64_t seq;
    const char *why = NULL;
    int got = 0;
    while (src && (got = src->next(src->ctx, &seq, &b, &len, &why)) == 1)
      if (seq == inc->seq) { copy = malloc(len); if (copy) memcpy(copy, b, len); b = copy; break; }
    if (!copy && got < 0) { cli_source_damaged(s, why); return -2; } /* damaged before it */
    if (!copy) return -1;
  }
  struct journal_record r;
  int rc = journal_record_decode(b, len, &r);
  if (rc == 0) {
    inc->wall_ns = r.wall_ns;
    inc->found = true;
    int n = journal_record_branches(b, len, inc->branches, 64);
    if (r.type == JOURNAL_T_WINDOW || n <= 0) {
      /* a window names many branches and a panel record none: follow them all */
      inc->all = n <= 0 || r.type == JOURNAL_T_WINDOW;
    }
    inc->nbranches = n > 0 ? n : 0;
  }
  if (it) journal_iter_end(it);
  free(copy);
  return rc;
}

/* Confirms a bundle's start checkpoint: hands the records on, and at the first seal carrying a
 * state hash compares it with the hash of the state folded so far (the fold applies a record
 * after next() returns it, so *st is then the state after every record before the seal). */
struct confirm {
  struct journal_record_source src;
  const struct journal_record_source *in;
  const struct replay_state *st;
  uint64_t ckpt_seq, by_seal; /* by_seal: the seal that confirmed it (0: not yet) */
  bool failed;
  char why[200];
};

static int confirm_next(void *ctx, uint64_t *seq, const uint8_t **bytes, size_t *len, const char **why)
{
  struct confirm *c = ctx;
  int rc = c->in->next(c->in->ctx, seq, bytes, len, why);
  if (rc != 1 || c->by_seal) return rc;
  uint64_t inner;
  unsigned type;
  uint8_t prev[JOURNAL_HASH_BYTES], h[JOURNAL_HASH_BYTES];
  static const uint8_t zero[JOURNAL_HASH_BYTES];
  struct journal_record r;
  if (journal_record_peek(*bytes, *len, &inner, &type, prev) || type != JOURNAL_T_SEAL) return rc;
  if (journal_record_decode(*bytes, *len, &r) || !memcmp(r.body.seal.state_hash, zero, sizeof zero)) return rc;
  replay_state_hash(c->st, h);
  if (memcmp(h, r.body.seal.state_hash, sizeof h) == 0) { c->by_seal = *seq; return rc; }
  snprintf(c->why, sizeof c->why, "its checkpoint of the state after seq %llu does not reproduce the state hash the seal at seq %llu signs",
           (unsigned long long)c->ckpt_seq, (unsigned long long)*seq);
  c->failed = true;
  *why = c->why;
  return JOURNAL_EBADCHAIN;
}

/* The state a bundle's fold starts from: its checkpoint (wrapped for confirmation) or the
 * initial state. 0, or CLI_FAIL after printing the damage line. */
static int bundle_start(struct cli_source *s, struct replay_state *st, struct confirm *c,
                        const struct journal_record_source **src, struct replay_result *res)
{
  uint64_t cseq = 0;
  const uint8_t *data;
  size_t len;
  char why[160] = "";
  replay_state_init(st);
  int rc = journal_bundle_checkpoint(s->bundle, &cseq, &data, &len, why, sizeof why);
  if (rc && rc != JOURNAL_ENOTFOUND) return cli_source_damaged(s, why);
  if (rc == 0) {
    uint64_t inner = 0;
    rc = replay_checkpoint_decode(data, len, 0, st, &inner);
    if (rc || inner != cseq) {
      cli_err("bundle damaged after seq 0: its checkpoint of the state after seq %llu %s", (unsigned long long)cseq,
              rc == JOURNAL_EVERSION ? "was made by another reducer or checkpoint version" : "does not decode");
      return CLI_FAIL;
    }
    res->start_seq = cseq;
  }
  *src = cli_source_records(s, 0);
  if (!*src) return cli_source_damaged(s, strerror(ENOMEM));
  if (cseq) {
    memset(c, 0, sizeof *c);
    c->in = *src;
    c->st = st;
    c->ckpt_seq = cseq;
    c->src.next = confirm_next;
    c->src.ctx = c;
    *src = &c->src;
  }
  return 0;
}

static int run_replay(struct args *a, const char *name)
{
  int64_t now = cli_now_ns();
  struct replay_options o;
  memset(&o, 0, sizeof o);
  struct run rn;
  memset(&rn, 0, sizeof rn);
  rn.fmt_json = a->json;
  rn.divs = json_array();
  if (a->until) {
    uint64_t seq;
    int64_t t;
    bool is_seq;
    if (cli_parse_seq_or_time(a->until, now, &seq, &t, &is_seq) || (is_seq && seq == 0)) {
      cli_err("%s: --until takes a seq or a time (RFC 3339, @UNIX, -15m)", name);
      json_decref(rn.divs);
      return CLI_USAGE;
    }
    if (is_seq) o.until_seq = seq;
    else o.until_wall_ns = t;
  }
  struct incident inc;
  memset(&inc, 0, sizeof inc);
  if (a->incident) {
    if (cli_parse_u64(a->incident, &inc.seq) || inc.seq == 0) {
      cli_err("%s: --incident takes a seq", name);
      json_decref(rn.divs);
      return CLI_USAGE;
    }
  }
  o.check = a->check;
  o.use_checkpoints = !a->check && !a->no_ckpt && !a->incident;
  o.on_divergence = on_divergence;
  o.ctx = &rn;
  struct cli_source s;
  int rc = cli_source_open(&a->c, a->pubkey, a->fingerprint, &s);
  if (rc) { json_decref(rn.divs); return rc; }
  if (a->incident) {
    int found = find_incident(&s, &inc);
    if (found != 0) {
      if (found != -2) cli_err("%s: --incident %llu: no such record", name, (unsigned long long)inc.seq);
      cli_source_close(&s);
      json_decref(rn.divs);
      return CLI_FAIL;
    }
    if (s.bundle) {
      cli_source_close(&s);
      if ((rc = cli_source_open(&a->c, a->pubkey, a->fingerprint, &s))) { json_decref(rn.divs); return rc; }
    }
    inc.lines = calloc(INCIDENT_LINES_MAX, sizeof *inc.lines);
    inc.at = malloc(sizeof *inc.at);
    rn.inc = &inc;
    o.on_record = on_record;
    if (!o.until_seq && !o.until_wall_ns) o.until_wall_ns = inc.wall_ns + INCIDENT_AFTER_NS;
  }
  struct replay_state *st = malloc(sizeof *st);
  struct replay_result res;
  memset(&res, 0, sizeof res);
  uint64_t first = 0, last = 0;
  if (s.reader) journal_reader_bounds(s.reader, &first, &last);
  cli_progress_init(&rn.prog, name, o.until_seq ? o.until_seq : last);
  o.progress = cli_progress_cb;
  o.pctx = &rn.prog;
  struct confirm conf;
  memset(&conf, 0, sizeof conf);
  int exit_code = CLI_OK;
  if (s.reader) {
    o.trusted_pk = s.pubkey; /* seals by this key authenticate checkpoints */
    rc = replay_dir(s.reader, &o, st, &res);
    if (res.checkpoints_rejected)
      cli_err("%s: warning: replay checkpoint at seq %llu rejected: %s (%u rejected; folded without them)", name,
              (unsigned long long)res.checkpoint_rejected_seq, res.checkpoint_why, res.checkpoints_rejected);
    if (res.start_unproven && !a->check)
      cli_err("%s: warning: the journal starts at seq %llu and no checkpoint proven by a seal holds the state at the cut: "
              "what came before it is missing from this state", name, (unsigned long long)res.first_seq);
  } else {
    const struct journal_record_source *src = NULL;
    if ((exit_code = bundle_start(&s, st, &conf, &src, &res))) goto out;
    rc = replay_fold(st, src, &o, &res);
    if (rc == 0 && !conf.failed) {
      /* --until/--incident stop the fold early; the bundle is still checked to its end (past
       * the fold, the checkpoint is no longer compared: the state stopped moving) */
      const struct journal_record_source *rest = conf.in ? conf.in : src;
      uint64_t q;
      const uint8_t *qb;
      size_t ql;
      const char *w = NULL;
      int got;
      while ((got = rest->next(rest->ctx, &q, &qb, &ql, &w)) == 1) {}
      if (got < 0) {
        rc = got;
        res.bad_seq = res.last_seq + 1;
        snprintf(res.why, sizeof res.why, "%s", w ? w : journal_strerror(got));
      }
    }
    if (conf.failed) {
      cli_progress_done(&rn.prog);
      /* Every state from the checkpoint on is unproven: print none of it. */
      cli_err("bundle damaged after seq %llu: %s", (unsigned long long)conf.ckpt_seq, conf.why);
      exit_code = CLI_FAIL;
      goto out;
    }
  }
  cli_progress_done(&rn.prog);
  if (rc < 0 && !res.bad_seq) {
    cli_err("%s: %s", name, journal_strerror(rc));
    exit_code = CLI_ENV;
    goto out;
  }
  if (a->check && res.first_seq > 1 && res.start_seq + 1 != res.first_seq) {
    cli_err("%s: --check needs the journal from seq 1; this source starts at seq %llu", name, (unsigned long long)res.first_seq);
    exit_code = CLI_FAIL;
  }

  char hh[65], sh[65];
  journal_hex(res.head_hash, 32, hh);
  journal_hex(res.state_hash, 32, sh);
  if (a->json) {
    json_t *out = json_object();
    json_object_set_new(out, "head_seq", json_integer((json_int_t)res.last_seq));
    char devid[33] = "";
    if (s.bundle) snprintf(devid, sizeof devid, "%s", journal_bundle_device_id(s.bundle));
    else if (s.reader && journal_reader_device_id(s.reader, devid)) devid[0] = 0;
    if (devid[0]) json_object_set_new(out, "device_id", json_string(devid));
    json_object_set_new(out, "head_hash", json_string(hh));
    /* read from committed LMDB transactions (or a bundle): every record read is durable */
    json_object_set_new(out, "durable_seq", json_integer((json_int_t)res.last_seq));
    json_object_set_new(out, "state_hash", json_string(sh));
    json_object_set_new(out, "reducer_version", json_integer(st->reducer_version));
    json_object_set_new(out, "config_version", json_integer(st->config_version));
    json_object_set_new(out, "state_seq", json_integer((json_int_t)st->seq));
    json_object_set_new(out, "from_checkpoint_seq", json_integer((json_int_t)res.start_seq));
    if (conf.ckpt_seq) json_object_set_new(out, "checkpoint_confirmed_by_seal", conf.by_seal ? json_integer((json_int_t)conf.by_seal) : json_null());
    json_object_set_new(out, "checkpoints_skipped", json_integer(res.checkpoints_skipped));
    json_object_set_new(out, "records_folded", json_integer((json_int_t)res.records));
    json_object_set_new(out, "state", state_json(st));
    if (a->check) {
      json_t *c = json_object();
      json_object_set_new(c, "ok", json_boolean(res.divergences == 0 && exit_code == CLI_OK && rc == 0));
      json_object_set_new(c, "seals_checked", json_integer((json_int_t)res.seals_checked));
      json_object_set_new(c, "seals_without_state_hash", json_integer((json_int_t)res.seals_unhashed));
      json_object_set_new(c, "decisions_checked", json_integer((json_int_t)res.effects_checked));
      json_object_set_new(c, "divergences", json_incref(rn.divs));
      json_object_set_new(out, "check", c);
    }
    if (a->incident) {
      json_t *x = json_object();
      json_object_set_new(x, "seq", json_integer((json_int_t)inc.seq));
      json_t *tl = json_array();
      for (int i = 0; i < inc.nlines; i++) {
        char tb[32];
        journal_format_time(inc.lines[i].wall_ns, tb);
        json_t *l = json_object();
        json_object_set_new(l, "seq", json_integer((json_int_t)inc.lines[i].seq));
        json_object_set_new(l, "time", json_string(tb));
        json_object_set_new(l, "type", json_string(inc.lines[i].type));
        json_object_set_new(l, "source", json_string(inc.lines[i].src));
        json_object_set_new(l, "text", json_string(inc.lines[i].text));
        json_array_append_new(tl, l);
      }
      json_object_set_new(x, "timeline", tl);
      json_object_set_new(x, "state_at_incident", state_json(inc.at));
      json_object_set_new(out, "incident", x);
    }
    char *txt = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    puts(txt);
    free(txt);
    json_decref(out);
  } else if (a->incident) {
    printf("incident seq %llu — causal timeline (%lld s before, %lld s after):\n", (unsigned long long)inc.seq,
           (long long)(INCIDENT_BEFORE_NS / 1000000000ll), (long long)(INCIDENT_AFTER_NS / 1000000000ll));
    for (int i = 0; i < inc.nlines; i++) {
      char tb[32];
      journal_format_time(inc.lines[i].wall_ns, tb);
      printf("%s %s seq %-8llu %-10s %-12s %s\n", tb, inc.lines[i].seq == inc.seq ? ">>" : "  ",
             (unsigned long long)inc.lines[i].seq, inc.lines[i].type, inc.lines[i].src, inc.lines[i].text);
    }
    printf("\nderived state right after seq %llu (reducer v%u):\n", (unsigned long long)inc.seq, inc.at->reducer_version);
    print_state_text(inc.at);
  } else {
    printf("head seq %llu (durable %llu)  head hash %s\n", (unsigned long long)res.last_seq,
           (unsigned long long)res.last_seq, hh);
    printf("state hash %s  (reducer v%u, config v%u, %s)\n", sh, st->reducer_version, st->config_version,
           res.start_seq ? "from a checkpoint" : "from seq 1");
    if (res.start_seq) printf("started at checkpoint seq %llu", (unsigned long long)res.start_seq);
    if (conf.ckpt_seq && conf.by_seal) printf(" (the bundle's, confirmed by the seal at seq %llu)", (unsigned long long)conf.by_seal);
    else if (conf.ckpt_seq) printf(" (the bundle's, confirmed by no seal: none after it carries a state hash)");
    if (res.checkpoints_skipped) printf("%s%u invalid checkpoint(s) skipped", res.start_seq ? "; " : "", res.checkpoints_skipped);
    if (res.start_seq || res.checkpoints_skipped) printf("\n");
    print_state_text(st);
    if (a->check)
      printf("check: %llu seals compared (%llu carry no state hash), %llu decisions compared, %llu divergence(s)\n",
             (unsigned long long)res.seals_checked, (unsigned long long)res.seals_unhashed,
             (unsigned long long)res.effects_checked, (unsigned long long)res.divergences);
  }
  if (rc < 0 && res.bad_seq) {
    if (s.bundle) cli_source_damaged(&s, res.why);
    else cli_err("%s: seq %llu: %s", name, (unsigned long long)res.bad_seq, res.why);
    exit_code = CLI_FAIL;
  }
  if (res.divergences) {
    cli_err("%s: %llu divergence(s), first at seq %llu", name, (unsigned long long)res.divergences,
            (unsigned long long)res.first_divergence_seq);
    exit_code = CLI_FAIL;
  }
out:
  free(st);
  free(inc.lines);
  free(inc.at);
  json_decref(rn.divs);
  cli_source_close(&s);
  return exit_code;
}

int cli_cmd_replay(int argc, char **argv)
{
  struct args a;
  memset(&a, 0, sizeof a);
  a.c.dir = cli_default_dir();
  int rc = parse(argc, argv, &a, "replay");
  if (rc) return rc;
  return run_replay(&a, "replay");
}

int cli_cmd_status(int argc, char **argv)
{
  struct args a;
  memset(&a, 0, sizeof a);
  a.c.dir = cli_default_dir();
  a.status = true;
  int rc = parse(argc, argv, &a, "status");
  if (rc) return rc;
  /* From the daemon if one answers on the socket; if it is absent or refuses, by folding the
   * journal (from the newest valid checkpoint). */
  if (!a.c.bundle) {
    char *resp = NULL;
    int drc = daemon_call(a.c.dir, NULL, "{\"op\":\"status\"}", &resp, 5000);
    if (drc == -EPERM) return CLI_ENV; /* someone else answers on the socket (said on stderr) */
    if (drc == 0) {
      json_t *o = json_loads(resp, 0, NULL);
      free(resp);
      if (o && json_is_true(json_object_get(o, "ok"))) {
        json_object_del(o, "ok");
        if (a.json) {
          char *txt = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
          puts(txt);
          free(txt);
        } else {
          printf("daemon: %s %s, uptime %.0f s\n", json_object_get(o, "scenario") ? "scenario" : "panel",
                 json_string_value(json_object_get(o, json_object_get(o, "scenario") ? "scenario" : "panel")),
                 json_real_value(json_object_get(o, "uptime_s")));
          /* head_seq may be ahead of what a kill -9 or power cut would leave: say both */
          printf("head seq %lld (durable %lld)  head hash %s\nstate hash %s  (reducer v%lld)\n",
                 (long long)json_integer_value(json_object_get(o, "head_seq")),
                 (long long)json_integer_value(json_object_get(o, "durable_seq")), json_string_value(json_object_get(o, "head_hash")),
                 json_string_value(json_object_get(o, "state_hash")), (long long)json_integer_value(json_object_get(o, "reducer_version")));
          json_t *ph = json_object_get(o, "phase_power_w");
          printf("power: A %lld W  B %lld W  C %lld W;  alarms: %s\n", (long long)json_integer_value(json_object_get(ph, "A")),
                 (long long)json_integer_value(json_object_get(ph, "B")), (long long)json_integer_value(json_object_get(ph, "C")),
                 json_string_value(json_object_get(o, "alarms"))[0] ? json_string_value(json_object_get(o, "alarms")) : "none");
          printf("%-6s %-16s %-9s %-8s %-6s %-12s %10s %12s  %s\n", "branch", "name", "commanded", "sensed", "proven", "fault", "p_w", "import_wh", "alarms");
          size_t i;
          json_t *b;
          json_array_foreach(json_object_get(o, "branches"), i, b) {
            printf("%-6lld %-16s %-9s %-8s %-6s %-12s %10lld %12.3f  %s\n", (long long)json_integer_value(json_object_get(b, "branch")),
                   json_string_value(json_object_get(b, "name")), json_string_value(json_object_get(b, "commanded")),
                   json_string_value(json_object_get(b, "sensed")), json_is_true(json_object_get(b, "proven")) ? "yes" : "no",
                   json_string_value(json_object_get(b, "fault")), (long long)json_integer_value(json_object_get(b, "power_w")),
                   json_real_value(json_object_get(b, "import_wh")), json_string_value(json_object_get(b, "alarms")));
          }
        }
        json_decref(o);
        return CLI_OK;
      }
      json_decref(o);
    }
  }
  return run_replay(&a, "status");
}
