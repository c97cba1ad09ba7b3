/*
 * cmd_journal.c — `hems init`, `hems note`, `hems verify`, `hems export`.
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "cli.h"
#include "daemon.h"
#include "hw.h"
#include "replay.h"

enum { O_DIR = 1000, O_COUNTER, O_ACCEPT, O_CONFIG, O_FORCE, O_PUBKEY, O_FP, O_FROM, O_OUT,
       O_SINCE, O_UNTIL, O_WHO, O_ALL_SEALS, O_WITNESS, O_CHECKPOINT, O_SINCE_CP, O_ENCRYPT };
enum { O_SIGNER = 1100 };

#define COMMON_OPTS \
  { "dir", required_argument, NULL, O_DIR }, \
  { "counter", required_argument, NULL, O_COUNTER }, \
  { "accept-rollback", no_argument, NULL, O_ACCEPT }

static bool common_opt(struct cli_common *c, int opt)
{
  switch (opt) {
  case O_DIR: c->dir = optarg; return true;
  case O_COUNTER: c->counter = optarg; return true;
  case O_ACCEPT: c->accept_rollback = true; return true;
  case O_SIGNER: cli_signer_option(optarg); return true;
  default: return false;
  }
}

/* ------------------------------------------------------------------ init */

int cli_cmd_init(int argc, char **argv)
{
  static const struct option lo[] = { COMMON_OPTS, { "config", required_argument, NULL, O_CONFIG },
                                      { "force", no_argument, NULL, O_FORCE }, CLI_SIGNER_OPTION(O_SIGNER), { 0 } };
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  const char *config = NULL;
  bool force = false;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (common_opt(&c, opt)) continue;
    if (opt == O_CONFIG) config = optarg;
    else if (opt == O_FORCE) force = true;
    else return cli_usage(cli_find("init"), false);
  }
  if (optind != argc) return cli_usage(cli_find("init"), false);

  char *json = NULL;
  size_t jlen = 0;
  if (config) {
    int rc = hw_read_file(config, &json, &jlen);
    if (rc) { cli_err("%s: %s", config, hw_strerror(rc)); return CLI_ENV; }
    json_error_t je;
    json_t *root = json_loadb(json, jlen, 0, &je);
    if (!root || !json_is_object(root)) {
      if (root) cli_err("%s: the panel config must be a JSON object", config);
      else cli_err("%s:%d:%d: %s", config, je.line, je.column, je.text);
      json_decref(root);
      free(json);
      return CLI_USAGE;
    }
    json_decref(root);
    /* A panel config proper (branches, AFEs, taps, …): checked field by field now, so a bad
     * file is refused at init rather than at the first `hems run`. */
    static struct hw_panel panel;
    char err[320];
    if (hw_panel_parse(&panel, json, jlen, config, err, sizeof err)) {
      cli_err("%s", err);
      free(json);
      return CLI_USAGE;
    }
  }

  char path[4200];
  struct stat st;
  snprintf(path, sizeof path, "%s/journal/data.mdb", c.dir);
  if (stat(path, &st) == 0) {
    if (!force) {
      cli_err("%s: already holds a journal (use --force to move it aside)", c.dir);
      free(json);
      return CLI_FAIL;
    }
    char bak[4300], ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(bak, sizeof bak, "%s.bak-%s", c.dir, ts);
    for (int i = 1; stat(bak, &st) == 0 && i < 100; i++) snprintf(bak, sizeof bak, "%s.bak-%s-%d", c.dir, ts, i);
    if (rename(c.dir, bak) != 0) {
      cli_err("%s: cannot move aside to %s: %s", c.dir, bak, strerror(errno));
      free(json);
      return CLI_ENV;
    }
    fprintf(stderr, "hems: moved the old data dir to %s\n", bak);
  }

  struct journal_options o;
  memset(&o, 0, sizeof o);
  o.dir = c.dir;
  o.counter_path = c.counter;
  int rc = cli_signer_get(&c, &o.signer);
  if (rc) { free(json); return rc; }
  rc = journal_create(&o, json, jlen, HEMS_FIRMWARE_VERSION);
  if (rc) {
    free(json);
    if (rc == JOURNAL_EEXIST) { cli_err("%s: already holds a journal", c.dir); return CLI_FAIL; }
    return cli_open_error(c.dir, c.counter, rc, 0);
  }
  snprintf(path, sizeof path, "%s/config.json", c.dir);
  FILE *f = fopen(path, "wx");
  if (f) {
    fputs(json ? json : "{}\n", f);
    fclose(f);
  }
  free(json);
  uint8_t pk[32];
  char fp[33];
  snprintf(path, sizeof path, "%s/keys/signing.pub", c.dir);
  if ((rc = journal_pubkey_load(path, pk))) { cli_err("%s: unreadable after init", path); return CLI_ENV; }
  journal_fingerprint_hex(pk, fp);
  printf("initialised %s\nfingerprint %s\n", c.dir, fp);
  return CLI_OK;
}

/* ------------------------------------------------------------------ note */

void cli_note_self(struct journal_record *r, char self[64], const char *text)
{
  memset(r, 0, sizeof *r);
  r->type = JOURNAL_T_NOTE;
  r->source.kind = JOURNAL_SRC_OPERATOR;
  struct passwd *pw = getpwuid(getuid());
  if (pw) snprintf(self, 64, "%s", pw->pw_name);
  else snprintf(self, 64, "uid:%u", (unsigned)getuid());
  r->body.note.uid = (uint32_t)getuid();
  r->body.note.gid = (uint32_t)getgid();
  r->body.note.who = (struct journal_slice){ (const uint8_t *)self, (uint32_t)strlen(self) };
  r->body.note.text = (struct journal_slice){ (const uint8_t *)text, (uint32_t)strlen(text) };
}

int cli_cmd_note(int argc, char **argv)
{
  static const struct option lo[] = { COMMON_OPTS, { "who", required_argument, NULL, O_WHO },
                                      CLI_SIGNER_OPTION(O_SIGNER), { 0 } };
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  const char *who = NULL;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (common_opt(&c, opt)) continue;
    if (opt == O_WHO) who = optarg;
    else return cli_usage(cli_find("note"), false);
  }
  if (optind != argc - 1 || !argv[optind][0]) return cli_usage(cli_find("note"), false);
  const char *text = argv[optind];
  if (strlen(text) > 4096) { cli_err("note: text longer than 4096 bytes"); return CLI_USAGE; }
  /* A running daemon is the one writer: ask it first, over the control socket — before
   * opening the journal, which only the daemon's user may (an operator in hems-operators can
   * reach the socket, not the LMDB files). It records who we are from SO_PEERCRED; --who is
   * passed along as a claim. */
  json_t *req = json_pack("{s:s, s:s}", "op", "note", "text", text);
  if (who) json_object_set_new(req, "who", json_string(who));
  char *line = json_dumps(req, JSON_COMPACT), *resp = NULL;
  json_decref(req);
  int crc = line ? daemon_call(c.dir, NULL, line, &resp, 10000) : -ENOMEM;
  free(line);
  if (crc == -EPERM) return CLI_ENV; /* someone else answers on the socket (said on stderr) */
  if (crc == 0) {
    json_t *o = json_loads(resp, JSON_REJECT_DUPLICATES, NULL);
    free(resp);
    if (!o || !json_is_true(json_object_get(o, "ok"))) {
      const char *e = o ? json_string_value(json_object_get(o, "error")) : NULL;
      cli_err("note: refused by the daemon: %s", e ? e : "malformed answer");
      int code = e && !strncmp(e, "refused", 7) ? CLI_FAIL : CLI_ENV;
      json_decref(o);
      return code;
    }
    printf("%lld\n", (long long)json_integer_value(json_object_get(o, "seq")));
    json_decref(o);
    return CLI_OK;
  }
  /* No daemon answers: append directly under the writer lock. */
  struct journal *j;
  int pid = 0;
  int rc = cli_open_direct(&c, &j, &pid);
  if (rc == JOURNAL_EINUSE) {
    cli_err("%s: in use by pid %d and its control socket does not answer (%s)", c.dir, pid, strerror(-crc));
    return CLI_ENV;
  }
  if (rc) return rc;
  struct journal_record r;
  char self[64];
  cli_note_self(&r, self, text);
  if (who) r.body.note.claimed_who = (struct journal_slice){ (const uint8_t *)who, (uint32_t)strnlen(who, 63) };
  return cli_append_close(j, &r, "note");
}

/* ------------------------------------------------------------------ verify */

int cli_cmd_verify(int argc, char **argv)
{
  static const struct option lo[] = { COMMON_OPTS, { "pubkey", required_argument, NULL, O_PUBKEY },
                                      { "fingerprint", required_argument, NULL, O_FP },
                                      { "from", required_argument, NULL, O_FROM },
                                      { "all-seals", no_argument, NULL, O_ALL_SEALS },
                                      { "witness", required_argument, NULL, O_WITNESS },
                                      { "checkpoint", required_argument, NULL, O_CHECKPOINT }, { 0 } };
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  const char *pubkey = NULL, *fpr = NULL, *witness = NULL, *kept = NULL;
  uint64_t from = 0;
  bool all_seals = false;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (common_opt(&c, opt)) continue;
    if (opt == O_PUBKEY) pubkey = optarg;
    else if (opt == O_FP) fpr = optarg;
    else if (opt == O_FROM) { if (cli_parse_u64(optarg, &from) || from == 0) { cli_err("verify: --from takes a seq (1 or more)"); return CLI_USAGE; } }
    else if (opt == O_ALL_SEALS) all_seals = true;
    else if (opt == O_WITNESS) witness = optarg;
    else if (opt == O_CHECKPOINT) kept = optarg;
    else return cli_usage(cli_find("verify"), false);
  }
  if (pubkey && fpr) { cli_err("verify: give --pubkey or --fingerprint, not both"); return CLI_USAGE; }
  if (optind < argc - 1) return cli_usage(cli_find("verify"), false);
  if (optind == argc - 1 && cli_statement_is(argv[optind])) { /* a statement: cli/statement_verify.c */
    if (from || all_seals || witness || kept) { cli_err("verify: a statement takes only --fingerprint FP or --pubkey FILE"); return CLI_USAGE; }
    return cli_statement_verify(argv[optind], pubkey, fpr);
  }
  if (optind == argc - 1) {
    int rc = cli_source_arg(NULL, &c, argv[optind]);
    if (rc) return rc;
  }
  struct journal_tlog_verifier wv;
  if (witness) {
    int wrc = cli_witness_vkey_arg("--witness", witness, JOURNAL_TLOG_COSIG_V1, &wv);
    if (wrc) return wrc;
    if (from) {
      cli_err("verify: --witness: checks the whole data dir (no --from)");
      return CLI_USAGE;
    }
  }
  if (kept && !c.bundle) { cli_err("verify: --checkpoint: checks a bundle (hems verify BUNDLE --checkpoint FILE)"); return CLI_USAGE; }
  struct cli_source s;
  int rc = cli_source_open(&c, pubkey, fpr, &s);
  if (rc) return rc;
  struct cli_bundle_check bc = { 0 };
  if (s.bundle && (rc = cli_bundle_check_begin(&s, c.bundle, kept, &bc))) { cli_source_close(&s); return rc; }
  if (s.bundle && witness) {
    if (!bc.t) {
      cli_err("verify: %s: --witness: a bundle of format %u carries no cosignatures (export it again with this hems)", c.bundle,
              journal_bundle_format(s.bundle));
      cli_source_close(&s);
      return CLI_FAIL;
    }
    bc.wv = &wv;
  }
  /* verify runs the checks itself (journal_verify), over the bundle's raw records */
  struct journal_record_source *src = s.bundle ? journal_bundle_source(s.bundle) : cli_source_records(&s, from);
  if (!src) { cli_err("verify: cannot read the journal"); cli_source_close(&s); return CLI_ENV; }
  const uint8_t *expect_prev = s.bundle ? journal_bundle_first_prev(s.bundle) : NULL;
  /* --from N on a dir: N's prev must be the hash of record N-1 when that is present (the
   * verifier otherwise demands a retention record attesting a cut at N-1). */
  uint8_t from_prev[JOURNAL_HASH_BYTES];
  if (!s.bundle && from > 1) {
    struct journal_iter *fit;
    const uint8_t *fb;
    size_t fl;
    if (journal_iter_begin(s.reader, from - 1, &fit) == 0) {
      if (journal_iter_get(fit, from - 1, &fb, &fl) == 0) {
        journal_record_hash(fb, fl, from_prev);
        expect_prev = from_prev;
      }
      journal_iter_end(fit);
    }
  }
  struct journal_verify_result res;
  struct cli_progress prog;
  uint64_t first = 0, last = 0;
  if (s.reader) journal_reader_bounds(s.reader, &first, &last);
  cli_progress_init(&prog, "verify", last);
  if (s.bundle) {
    rc = journal_verify(src, s.pubkey, expect_prev, &res, cli_progress_cb, &prog);
  } else {
    /* a data dir: two threads (reading and hashing / checking and folding), every seal's
     * state hash against the reducer's fold from seq 1, the newest seal's signature (every
     * seal's with --all-seals) */
    struct replay_state *st = malloc(sizeof *st);
    if (!st) { cli_err("verify: out of memory"); cli_source_close(&s); return CLI_ENV; }
    struct journal_verify_fold fold;
    replay_verify_fold(&fold, st);
    struct journal_verify_opts vo;
    memset(&vo, 0, sizeof vo);
    vo.threads = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 2 : 1;
    vo.all_seals = all_seals;
    vo.rewind = journal_dir_source_rewind;
    vo.rewind_ctx = &s.dir_src;
    vo.fold = &fold;
    vo.progress = cli_progress_cb;
    vo.pctx = &prog;
    rc = journal_verify_opt(src, s.pubkey, expect_prev, &vo, &res);
    free(st);
  }
  cli_progress_done(&prog);
  char fp[33];
  journal_fingerprint_hex(s.pubkey, fp);
  int exit_code = CLI_OK;
  if (rc == 0) {
    printf("ok: seq %llu..%llu intact: %llu records, %llu seals, key %s\n", (unsigned long long)res.first_seq,
           (unsigned long long)res.last_seq, (unsigned long long)res.records, (unsigned long long)res.seals, fp);
    /* the verdict's own output says what it rests on: a bundle's own key proves only that the
     * bundle is consistent with itself (the note on stderr says it too) */
    if (s.bundle && !s.pinned)
      printf("warning: key not pinned: checked against the bundle's own key %s; pin it with --pubkey or --fingerprint\n", fp);
    if (s.reader && !from) exit_code = cli_verify_indexes(s.reader, s.dir_src.it, res.last_seq, c.dir);
    if (s.reader && !from) {
      /* the tiles the next writer open restores from (docs/journal.md "Writing and checking the tiles") */
      uint64_t size;
      int trc = journal_tiles_check(s.reader, &size);
      if (trc == 0) printf("tiles: ok: the stored tiles give the newest seal's tree root (size %llu)\n", (unsigned long long)size);
      else if (trc == JOURNAL_ECORRUPT) {
        printf("tiles: damaged: the stored tiles do not give the newest seal's tree root\n");
        cli_err("verify: %s: Merkle tiles damaged (the records are intact; the next writer open rebuilds the tiles)", c.dir);
        exit_code = CLI_FAIL;
      } else if (trc != JOURNAL_ENOTFOUND) {
        cli_err("verify: %s: tiles: %s", c.dir, journal_strerror(trc));
        exit_code = CLI_FAIL;
      }
    }
    if (s.reader && !from) {
      int hrc = cli_verify_history(s.reader, c.dir, s.pubkey);
      if (hrc > exit_code) exit_code = hrc;
    }
    if (s.reader && witness) {
      int wrc = cli_witness_verify_dir(s.reader, s.pubkey, &wv);
      if (wrc > exit_code) exit_code = wrc;
    }
    if (s.bundle) exit_code = cli_bundle_check_end(&bc);
  } else if (rc == JOURNAL_ETRUNC || (s.bundle && res.bad_seq == 0)) {
    printf("truncated after seq %llu\n", (unsigned long long)res.last_sealed_seq);
    cli_err("bundle damaged after seq %llu: %s", (unsigned long long)res.last_sealed_seq, res.reason);
    exit_code = CLI_FAIL;
  } else if (res.bad_seq) {
    printf("first bad seq %llu: %s\n", (unsigned long long)res.bad_seq, res.reason);
    if (s.bundle) cli_err("bundle damaged after seq %llu: first bad seq %llu: %s", (unsigned long long)res.last_sealed_seq,
                          (unsigned long long)res.bad_seq, res.reason);
    else cli_err("verify failed: first bad seq %llu: %s", (unsigned long long)res.bad_seq, res.reason);
    exit_code = CLI_FAIL;
  } else {
    cli_err("verify: %s", journal_strerror(rc));
    exit_code = CLI_ENV;
  }
  cli_source_close(&s);
  return exit_code;
}

/* ------------------------------------------------------------------ export */

/* Resolves SEQ|T into a seq bound. until: the last record at or before T. */
int cli_export_bound(struct journal_reader *r, const char *arg, bool until, uint64_t *out)
{
  uint64_t seq;
  int64_t t;
  bool is_seq;
  if (cli_parse_seq_or_time(arg, cli_now_ns(), &seq, &t, &is_seq)) return -EINVAL;
  if (is_seq) { *out = seq; return 0; }
  struct journal_iter *it;
  int rc = journal_iter_begin(r, 1, &it);
  if (rc) return rc;
  uint64_t start;
  rc = journal_seek_time(it, t, &start);
  if (rc) { journal_iter_end(it); return rc; }
  journal_iter_end(it);
  if ((rc = journal_iter_begin(r, start ? start : 1, &it))) return rc;
  const uint8_t *b;
  size_t len;
  uint64_t s, found = until ? (start > 1 ? start - 1 : 0) : UINT64_MAX;
  while ((rc = journal_iter_next(it, &s, &b, &len)) == 1) {
    struct journal_record rec;
    if (journal_record_decode(b, len, &rec)) continue;
    if (until) { if (rec.wall_ns <= t) found = s; else if (s > start + 2000) break; }
    else if (rec.wall_ns >= t) { found = s; break; }
  }
  journal_iter_end(it);
  *out = found;
  return rc < 0 ? rc : 0;
}

/* The derived state after seq (the seal before the bundle's first record), folded from the
 * newest checkpoint at or before it: the bundle's start checkpoint. */
int cli_export_checkpoint(void *ctx, struct journal_reader *r, uint64_t seq, uint8_t **data, size_t *len)
{
  const uint8_t *pk = ctx; /* the signer's public key: its seals authenticate checkpoints */
  uint8_t *buf = malloc(REPLAY_CHECKPOINT_BYTES);
  int rc = buf ? replay_checkpoint_fold(r, seq, pk, buf) : -ENOMEM;
  if (rc) { free(buf); return rc; }
  *data = buf;
  *len = REPLAY_CHECKPOINT_BYTES;
  return 0;
}

int cli_cmd_export(int argc, char **argv)
{
  static const struct option lo[] = { COMMON_OPTS, { "out", required_argument, NULL, O_OUT },
                                      { "since", required_argument, NULL, O_SINCE },
                                      { "until", required_argument, NULL, O_UNTIL },
                                      { "since-checkpoint", required_argument, NULL, O_SINCE_CP },
                                      { "encrypt-to", required_argument, NULL, O_ENCRYPT },
                                      CLI_SIGNER_OPTION(O_SIGNER), { 0 } };
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  const char *out = NULL, *since = NULL, *until = NULL, *encrypt_to = NULL, *kept[JOURNAL_BUNDLE_PROOFS_MAX - 1];
  unsigned nkept = 0;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (common_opt(&c, opt)) continue;
    if (opt == O_OUT) out = optarg;
    else if (opt == O_SINCE) since = optarg;
    else if (opt == O_UNTIL) until = optarg;
    else if (opt == O_SINCE_CP) {
      if (nkept == JOURNAL_BUNDLE_PROOFS_MAX - 1) { cli_err("export: --since-checkpoint: at most %d", JOURNAL_BUNDLE_PROOFS_MAX - 1); return CLI_USAGE; }
      kept[nkept++] = optarg;
    } else if (opt == O_ENCRYPT) encrypt_to = optarg;
    else return cli_usage(cli_find("export"), false);
  }
  if (!out || optind != argc) return cli_usage(cli_find("export"), false);
  uint8_t rpk[32];
  int rc;
  if (encrypt_to && (rc = cli_seal_pubkey("export: --encrypt-to", encrypt_to, rpk))) return rc;
  if (cli_read_through_daemon(c.dir)) { /* not the owner: the daemon builds the bundle */
    if (nkept) { cli_err("export: --since-checkpoint needs the data dir's owner (the daemon's export takes a range only)"); return CLI_USAGE; }
    if (encrypt_to) { cli_err("export: --encrypt-to needs the data dir's owner (the daemon's export writes a plain bundle)"); return CLI_USAGE; }
    return cli_daemon_export(c.dir, since, until, out);
  }
  struct journal_reader *r;
  if ((rc = cli_open_reader(&c, &r))) return rc;
  uint64_t s = 0, u = 0;
  if ((since && cli_export_bound(r, since, false, &s)) || (until && cli_export_bound(r, until, true, &u))) {
    cli_err("export: --since/--until take a seq, an RFC 3339 time, @UNIX or -15m/-2h/-7d");
    journal_reader_close(r);
    return CLI_USAGE;
  }
  if (since && s == UINT64_MAX) { cli_err("export: no records since %s", since); journal_reader_close(r); return CLI_FAIL; }
  if (until && u == 0) { cli_err("export: no records until %s", until); journal_reader_close(r); return CLI_FAIL; }
  struct journal_file_signer fs;
  const struct journal_signer *sg;
  if ((rc = cli_signer_get(&c, &sg))) { journal_reader_close(r); return rc; }
  if ((rc = cli_signer_or_file(sg, c.dir, &fs, &sg))) { journal_reader_close(r); return cli_open_error(c.dir, c.counter, rc, 0); }
  uint64_t sizes[JOURNAL_BUNDLE_PROOFS_MAX];
  for (unsigned i = 0; i < nkept; i++) {
    if ((rc = cli_export_kept_size(r, sg->pubkey, kept[i], &sizes[i]))) {
      journal_file_signer_wipe(&fs);
      journal_reader_close(r);
      return rc;
    }
  }
  struct journal_export_info info;
  struct cli_progress prog;
  uint64_t first, last;
  journal_reader_bounds(r, &first, &last);
  cli_progress_init(&prog, "export", last);
  struct journal_export_options eo = { .since_seq = s, .until_seq = u, .checkpoint = cli_export_checkpoint,
                                       .checkpoint_ctx = (void *)sg->pubkey, .progress = cli_progress_cb, .pctx = &prog,
                                       .proof_sizes = sizes, .n_proof_sizes = nkept };
  FILE *plain = NULL;
  if (encrypt_to && !(eo.stream = plain = cli_seal_begin(out))) rc = CLI_ENV;
  else rc = journal_export(r, sg, &eo, out, &info);
  cli_progress_done(&prog);
  journal_file_signer_wipe(&fs);
  journal_reader_close(r);
  if (rc == CLI_ENV) return rc; /* no temporary file: said */
  if (plain) {
    int src = rc ? CLI_OK : cli_seal_finish(plain, out, rpk); /* the plain bundle is sealed into FILE */
    fclose(plain);
    if (src) return src;
  }
  if (rc == JOURNAL_ENOTFOUND) { cli_err("export: no records in that range"); return CLI_FAIL; }
  if (rc == -ERANGE) { cli_err("export: --since-checkpoint: a checkpoint's size is beyond the journal's newest seal (rolled back, or another journal)"); return CLI_FAIL; }
  if (rc == JOURNAL_EPROOF || rc == JOURNAL_EBADSIG) {
    cli_err("%s/journal: cannot prove the bundle's range consistent with the newest seal (%s; nothing exported)", c.dir, journal_strerror(rc));
    return CLI_FAIL;
  }
  if (journal_is_store_damage(rc)) { cli_err("%s/journal/data.mdb: damaged (%s; nothing exported)", c.dir, journal_strerror(rc)); return CLI_ENV; }
  if (rc) { cli_err("export: %s: %s", out, cli_signer_why(rc)); return CLI_ENV; }
  printf("exported seq %llu..%llu: %llu records, %llu frames, %llu bytes to %s\n", (unsigned long long)info.first_seq,
         (unsigned long long)info.last_seq, (unsigned long long)info.records, (unsigned long long)info.frames,
         (unsigned long long)info.bytes, out);
  if (info.head_size) printf("with the signed head at export (tree size %llu) and %u consistency proof%s to it\n",
                             (unsigned long long)info.head_size, 1 + nkept, nkept ? "s" : "");
  if (info.checkpoint_seq) printf("with the replay checkpoint of the state after seq %llu\n", (unsigned long long)info.checkpoint_seq);
  else if (info.first_seq > 1) fprintf(stderr, "hems: note: no replay checkpoint for seq %llu; 'replay --check' of this bundle cannot compare its seals\n", (unsigned long long)(info.first_seq - 1));
  if (plain) cli_seal_said(out, rpk);
  return CLI_OK;
}
