/*
 * cmd_replay.c — `hems replay` and `hems status` (offline): fold the journal of a data dir or
 * a bundle through the reducers and print the derived state (replay_state.c), its state hash
 * and the head; `--check` compares every recomputed decision and seal state hash with what the
 * live run recorded; `--incident SEQ` prints the causal timeline around one record (replay_incident.c).
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
#include "replay_internal.h"

enum { O_DIR = 1000, O_COUNTER, O_ACCEPT, O_FORMAT, O_UNTIL, O_CHECK, O_INCIDENT, O_NO_CKPT, O_PUBKEY, O_FP };

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

/* ------------------------------------------------------------------ the command */

struct args {
  struct cli_common c;
  bool json, jsonl, check, no_ckpt, status;
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
      /* the words every object-printing command takes: table is text, jsonl one compact line */
      a->jsonl = !strcmp(optarg, "jsonl");
      if (!strcmp(optarg, "json") || a->jsonl) a->json = true;
      else if (!strcmp(optarg, "text") || !strcmp(optarg, "table")) a->json = false;
      else { cli_err("%s: --format %s: takes text, table, json or jsonl", name, optarg); return CLI_USAGE; }
      break;
    case O_UNTIL: case O_CHECK: case O_INCIDENT: case O_NO_CKPT: case O_PUBKEY: case O_FP:
      if (a->status && opt != O_PUBKEY && opt != O_FP) return cli_usage(cli_find(name), false);
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
  if (npos > 1) return cli_usage(cli_find(name), false);
  if (npos == 1) return cli_source_arg(NULL, &a->c, argv[optind]);
  return 0;
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
    int found = cli_replay_incident_find(&s, &inc);
    if (found != 0) {
      if (found != -2) cli_err("%s: --incident %llu: no such record", name, (unsigned long long)inc.seq);
      cli_source_close(&s);
      json_decref(rn.divs);
      return CLI_FAIL;
    }
    if (s.bundle) cli_source_close(&s);
    cli_names_load(&a->c, a->pubkey, a->fingerprint, &inc.names); /* a help: without them, numbers */
    if (s.bundle || !s.reader) {
      cli_source_close(&s);
      if ((rc = cli_source_open(&a->c, a->pubkey, a->fingerprint, &s))) { cli_names_free(&inc.names); json_decref(rn.divs); return rc; }
    }
    inc.lines = calloc(INCIDENT_LINES_MAX, sizeof *inc.lines);
    inc.at = malloc(sizeof *inc.at);
    rn.inc = &inc;
    o.on_record = cli_replay_incident_record;
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
    json_object_set_new(out, "state", cli_replay_state_json(st));
    if (a->check) {
      json_t *c = json_object();
      json_object_set_new(c, "ok", json_boolean(res.divergences == 0 && exit_code == CLI_OK && rc == 0));
      json_object_set_new(c, "seals_checked", json_integer((json_int_t)res.seals_checked));
      json_object_set_new(c, "seals_without_state_hash", json_integer((json_int_t)res.seals_unhashed));
      json_object_set_new(c, "decisions_checked", json_integer((json_int_t)res.effects_checked));
      json_object_set_new(c, "rollups_checked", json_integer((json_int_t)res.rollups_checked));
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
      json_object_set_new(x, "state_at_incident", cli_replay_state_json(inc.at));
      json_object_set_new(out, "incident", x);
    }
    char *txt = json_dumps(out, (a->jsonl ? JSON_COMPACT : JSON_INDENT(2)) | JSON_PRESERVE_ORDER);
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
    cli_replay_state_print(inc.at, &inc.names);
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
    struct cli_names names = { 0 };
    cli_names_load(&a->c, a->pubkey, a->fingerprint, &names); /* a help: without them, '-' */
    cli_replay_state_print(st, &names);
    cli_names_free(&names);
    if (a->check)
      printf("check: %llu seals compared (%llu carry no state hash), %llu decisions compared, %llu rollups compared, "
             "%llu divergence(s)\n",
             (unsigned long long)res.seals_checked, (unsigned long long)res.seals_unhashed,
             (unsigned long long)res.effects_checked, (unsigned long long)res.rollups_checked,
             (unsigned long long)res.divergences);
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
  cli_names_free(&inc.names);
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
          char *txt = json_dumps(o, (a.jsonl ? JSON_COMPACT : JSON_INDENT(2)) | JSON_PRESERVE_ORDER);
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
