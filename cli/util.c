/*
 * util.c — helpers shared by the subcommands: error lines, exit-code mapping, opening dirs
 * and bundles, time parsing (durations: duration.c), progress bars.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "hw.h"

void cli_err(const char *fmt, ...)
{
  va_list ap;
  fputs("hems: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

int cli_usage(const struct cli_cmd *cmd, bool help)
{
  if (help) {
    fputs(cmd->usage, stdout);
    return CLI_OK;
  }
  cli_err("%s: bad usage (see 'hems %s --help')", cmd->name, cmd->name);
  return CLI_USAGE;
}

const char *cli_default_dir(void)
{
  const char *d = getenv("HEMS_DIR");
  return d && *d ? d : "./hems-data";
}

int cli_open_error(const char *dir, const char *counter, int rc, int pid)
{
  if (journal_is_store_damage(rc)) {
    cli_err("%s/journal/data.mdb: damaged (%s)", dir, journal_strerror(rc));
    return CLI_ENV;
  }
  int hrc = cli_counter_error(dir, counter, rc);
  if (hrc >= 0) return hrc;
  if (journal_counter_is_hw(counter)) counter = NULL; /* its file is DIR/counter */
  switch (rc) {
  case JOURNAL_EROLLBACK: {
    uint64_t head = 0, cseq = 0;
    journal_rollback_info(dir, counter, &head, &cseq);
    if (cseq == 0)
      cli_err("journal rollback: counter store missing for head seq %llu (%s); use --accept-rollback to proceed",
              (unsigned long long)head, counter ? counter : "DIR/counter");
    else if (head >= cseq)
      cli_err("journal rollback: head seq %llu does not continue counter seq %llu (journal replaced)",
              (unsigned long long)head, (unsigned long long)cseq);
    else
      cli_err("journal rollback: head seq %llu < counter seq %llu", (unsigned long long)head, (unsigned long long)cseq);
    return CLI_FAIL;
  }
  case JOURNAL_EINUSE:
    if (pid > 0) cli_err("%s: in use by pid %d", dir, pid);
    else cli_err("%s: data dir in use by another writer", dir);
    return CLI_ENV;
  case JOURNAL_ENOJOURNAL:
    cli_err("%s: no journal here (create one with 'hems init --dir %s')", dir, dir);
    return CLI_ENV;
  case JOURNAL_EFORMAT2:
    cli_err("%s: journal format 2; run 'hems migrate --dir %s'", dir, dir);
    return CLI_ENV;
  case JOURNAL_EKEYPERM:
    cli_err("%s/keys/signing.key: readable by group or others; refusing to use it (chmod 600)", dir);
    return CLI_ENV;
  case JOURNAL_ENOKEY:
    cli_err("%s/keys/signing.key: missing; the journal cannot be sealed without it (a key in a token: --signer pkcs11:…)", dir);
    return CLI_ENV;
  case JOURNAL_EBADKEY:
    cli_err("%s/keys/signing.key: malformed", dir);
    return CLI_ENV;
  case JOURNAL_EVERSION:
    cli_err("%s/journal: unsupported format or schema version", dir);
    return CLI_ENV;
  case JOURNAL_ECTRSIG: case JOURNAL_ECTRFORMAT:
    if (counter) cli_err("%s: damaged (%s); --accept-rollback replaces it and journals the fact", counter, journal_strerror(rc));
    else cli_err("%s/counter: damaged (%s); --accept-rollback replaces it and journals the fact", dir, journal_strerror(rc));
    return CLI_FAIL;
  case JOURNAL_ECTRKEY:
    cli_err("%s/keys/signing.pub: missing or not a public key file; the counter's signatures cannot be checked", dir);
    return CLI_ENV;
  case JOURNAL_ELOCKFILE:
    cli_err("%s/lock: %s; refusing to write through it", dir, journal_strerror(rc));
    return CLI_ENV;
  case JOURNAL_ECTRFILE:
    if (counter) cli_err("%s: %s; refusing to write through it", counter, journal_strerror(rc));
    else cli_err("%s/counter: %s; refusing to write through it", dir, journal_strerror(rc));
    return CLI_ENV;
  case JOURNAL_EFULL:
    cli_err("%s/journal: storage full", dir);
    return CLI_ENV;
  case JOURNAL_ESIGNER:
    cli_err("%s: %s", dir, cli_signer_why(rc));
    return CLI_ENV;
  default: {
    struct stat st;
    if (rc == -ENOTDIR && stat(dir, &st) == 0 && S_ISREG(st.st_mode)) {
      /* a file given as --dir: most likely a bundle, which the readers take in place of it */
      cli_err("%s: a file, not a data dir; a bundle is passed without --dir (hems verify|show|timeline|replay|status FILE)", dir);
      return CLI_USAGE;
    }
    cli_err("%s: %s", dir, journal_strerror(rc));
    return CLI_ENV;
  }
  }
}

int cli_open_reader(const struct cli_common *c, struct journal_reader **out)
{
  cli_damage_guard(c->dir);
  int rc = journal_reader_open(out, c->dir, c->counter, c->accept_rollback);
  return rc ? cli_open_error(c->dir, c->counter, rc, 0) : 0;
}

int cli_open_writer(const struct cli_common *c, struct journal **out, struct journal_open_info *info)
{
  struct journal_options o;
  memset(&o, 0, sizeof o);
  o.dir = c->dir;
  o.counter_path = c->counter;
  o.accept_rollback = c->accept_rollback;
  int pid = 0;
  int rc = cli_signer_get(c, &o.signer);
  if (rc) return rc;
  cli_damage_guard(c->dir);
  rc = journal_open(out, &o, info, &pid);
  if (rc == 0 && (rc = cli_key_in_force_check(*out, c->dir)) != 0) {
    journal_close(*out);
    *out = NULL;
    return rc;
  }
  if (rc == 0 && info && info->rollback_accepted)
    fprintf(stderr, "hems: rollback accepted: journal continues at seq %llu (fault rollback_accepted journaled)\n",
            (unsigned long long)info->head_seq + 1);
  return rc ? cli_open_error(c->dir, c->counter, rc, pid) : 0;
}

int64_t cli_now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

int cli_parse_u64(const char *s, uint64_t *out)
{
  if (!s || !*s || !isdigit((unsigned char)*s)) return -EINVAL;
  char *e;
  errno = 0;
  unsigned long long v = strtoull(s, &e, 10);
  if (errno || *e) return -EINVAL;
  *out = v;
  return 0;
}

/* "@UNIX": [-]digits[.digits], within the int64 nanosecond range (±292 years from 1970).
 * strtod alone would take nan, inf, hex floats and 1e30, whose cast to int64 is undefined. */
static int parse_unix_seconds(const char *s, int64_t *out_ns)
{
  const char *p = s;
  bool neg = *p == '-';
  if (neg) p++;
  int64_t sec = 0, frac = 0;
  int digits = 0, fdigits = 0;
  for (; isdigit((unsigned char)*p); p++, digits++) {
    if (sec > 9000000000ll) return -EINVAL; /* 9e9 s ≈ 285 years: beyond int64 ns */
    sec = sec * 10 + (*p - '0');
  }
  if (*p == '.') {
    for (p++; isdigit((unsigned char)*p); p++, fdigits++)
      if (fdigits < 9) frac = frac * 10 + (*p - '0');
    if (!fdigits) return -EINVAL;
  }
  if (!digits || *p) return -EINVAL;
  for (int k = fdigits; k < 9; k++) frac *= 10;
  if (sec > 9000000000ll) return -EINVAL;
  int64_t ns = sec * 1000000000ll + frac;
  *out_ns = neg ? -ns : ns;
  return 0;
}

int cli_parse_time(const char *s, int64_t now_ns, int64_t *out_ns)
{
  if (!s || !*s) return -EINVAL;
  if (s[0] == '@') return parse_unix_seconds(s + 1, out_ns);
  if (s[0] == '-') {
    int64_t d;
    if (cli_parse_duration_ns(s + 1, &d)) return -EINVAL;
    *out_ns = now_ns - d;
    return 0;
  }
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (!p) p = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
  if (!p) {
    /* a date alone: its midnight, UTC */
    memset(&tm, 0, sizeof tm);
    p = strptime(s, "%Y-%m-%d", &tm);
    if (!p || *p) return -EINVAL;
  }
  int64_t frac = 0;
  if (*p == '.') {
    p++;
    int digits = 0;
    while (isdigit((unsigned char)*p)) {
      if (digits < 9) { frac = frac * 10 + (*p - '0'); digits++; }
      p++;
    }
    if (digits == 0) return -EINVAL;
    while (digits < 9) { frac *= 10; digits++; }
  }
  int64_t off = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    /* exactly ±HH:MM (RFC 3339 time-offset), nothing read past the string's end */
    int sign = *p == '-' ? -1 : 1;
    const char *q = p + 1;
    for (int k = 0; k < 5; k++)
      if (k == 2 ? q[k] != ':' : !isdigit((unsigned char)q[k])) return -EINVAL;
    int hh = (q[0] - '0') * 10 + (q[1] - '0'), mm = (q[3] - '0') * 10 + (q[4] - '0');
    if (hh > 23 || mm > 59) return -EINVAL;
    off = sign * (int64_t)(hh * 3600 + mm * 60);
    p = q + 5;
  } /* no offset: UTC, as every time hems prints */
  if (*p) return -EINVAL;
  time_t t = timegm(&tm);
  if (t == (time_t)-1 && tm.tm_year != 69) return -EINVAL;
  if (t > 9000000000ll || t < -9000000000ll) return -EINVAL; /* beyond int64 nanoseconds */
  *out_ns = ((int64_t)t - off) * 1000000000ll + frac;
  return 0;
}

int cli_parse_seq_or_time(const char *s, int64_t now_ns, uint64_t *seq, int64_t *t, bool *is_seq)
{
  if (cli_parse_u64(s, seq) == 0) { *is_seq = true; return 0; }
  *is_seq = false;
  return cli_parse_time(s, now_ns, t);
}

void cli_progress_init(struct cli_progress *p, const char *what, uint64_t total)
{
  p->on = isatty(STDERR_FILENO);
  p->total = total;
  p->what = what;
}

void cli_progress_cb(void *ctx, uint64_t done)
{
  struct cli_progress *p = ctx;
  if (!p || !p->on) return;
  if (p->total) {
    int pct = (int)(done * 100 / p->total);
    if (pct > 100) pct = 100;
    char bar[41];
    int n = pct * 40 / 100;
    for (int i = 0; i < 40; i++) bar[i] = i < n ? '#' : '.';
    bar[40] = 0;
    fprintf(stderr, "\r%s [%s] %3d%% seq %llu", p->what, bar, pct, (unsigned long long)done);
  } else {
    fprintf(stderr, "\r%s seq %llu", p->what, (unsigned long long)done);
  }
}

void cli_progress_done(struct cli_progress *p)
{
  if (p->on) fprintf(stderr, "\r\033[K");
}

/* ------------------------------------------------------------------ sources */

/* A pin is the full fingerprint: 32 hex digits (a prefix would be a pin of fewer bits). */
bool cli_fingerprint_wellformed(const char *fp)
{
  size_t n = 0;
  for (; fp[n]; n++)
    if (!strchr("0123456789abcdefABCDEF", fp[n])) return false;
  return n == 32;
}

int cli_source_arg(const char *cmd, struct cli_common *c, const char *arg)
{
  struct stat st;
  if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) { c->dir = arg; return 0; }
  if (journal_is_bundle(arg)) { c->bundle = arg; return 0; }
  const char *sep = cmd ? ": " : "";
  if (!cmd) cmd = "";
  if (stat(arg, &st) != 0) { cli_err("%s%s%s: %s", cmd, sep, arg, strerror(errno)); return CLI_ENV; }
  if (cli_file_is_sealed(arg)) {
    cli_err("%s%s%s: a sealed bundle (export --encrypt-to): decrypt it first with 'hems decrypt --key FILE %s --out BUNDLE'", cmd, sep, arg, arg);
    return CLI_FAIL;
  }
  cli_err("%s%s%s: not a data dir or a hems bundle", cmd, sep, arg);
  return CLI_FAIL;
}

/* The public key of a `key` record in the bundle at path whose key id is the fingerprint fp
 * (the id is the key's hash: a record cannot name another key under it). */
static bool bundle_key_by_fingerprint(const char *path, const char *fp, uint8_t out[JOURNAL_PUBKEY_BYTES])
{
  struct journal_bundle *b;
  char why[160];
  if (journal_bundle_open(path, &b, why, sizeof why) != 0) return false;
  struct journal_record_source *src = journal_bundle_source(b);
  bool found = false;
  uint64_t seq;
  const uint8_t *bytes;
  size_t len;
  const char *w;
  struct journal_record r;
  while (!found && src->next(src->ctx, &seq, &bytes, &len, &w) == 1) {
    unsigned type;
    uint64_t inner;
    uint8_t prev[32];
    if (journal_record_peek(bytes, len, &inner, &type, prev) != 0 || type != JOURNAL_T_KEY) continue;
    if (journal_record_decode(bytes, len, &r) != 0 || r.body.key.revoked) continue;
    char kfp[33];
    journal_fingerprint_hex(r.body.key.pubkey, kfp);
    if (strcasecmp(kfp, fp) == 0) { memcpy(out, r.body.key.pubkey, 32); found = true; }
  }
  journal_bundle_close(b);
  return found;
}

int cli_source_open(const struct cli_common *c, const char *pubkey_file, const char *fingerprint,
                    struct cli_source *s)
{
  memset(s, 0, sizeof *s);
  if (fingerprint && !cli_fingerprint_wellformed(fingerprint)) {
    cli_err("--fingerprint %s: not a key fingerprint (it is 32 hex digits, as 'hems init' prints)", fingerprint);
    return CLI_USAGE;
  }
  if (pubkey_file) {
    int rc = journal_pubkey_load(pubkey_file, s->pubkey);
    if (rc) {
      cli_err("%s: %s", pubkey_file, rc == -ENOENT ? "no such public key file" : "not a public key file ('ed25519 <base64>')");
      return rc == -ENOENT ? CLI_ENV : CLI_USAGE;
    }
    s->pinned = true;
  }
  if (c->bundle) {
    char why[160] = "";
    int rc = journal_bundle_open(c->bundle, &s->bundle, why, sizeof why);
    if (rc) {
      if (rc == -ENOENT || rc == -EACCES) { cli_err("%s: %s", c->bundle, why); return CLI_ENV; }
      cli_err("bundle damaged after seq 0: %s", why);
      return CLI_FAIL;
    }
    if (!pubkey_file) memcpy(s->pubkey, journal_bundle_pubkey(s->bundle), 32);
  } else {
    int rc = cli_open_reader(c, &s->reader);
    if (rc) return rc;
    if (!pubkey_file) {
      char path[4200];
      /* the trust root: the first key (keys/root.pub, kept by the first rotation), which
       * verify follows through the journal's certified key chain; else the only key */
      snprintf(path, sizeof path, "%s/keys/root.pub", c->dir);
      if (access(path, F_OK) != 0) snprintf(path, sizeof path, "%s/keys/signing.pub", c->dir);
      rc = journal_pubkey_load(path, s->pubkey);
      if (rc) {
        cli_err("%s: %s", path, rc == -ENOENT ? "missing (pass --pubkey FILE)" : "malformed");
        cli_source_close(s);
        return CLI_ENV;
      }
      s->pinned = true;
    }
  }
  if (fingerprint) {
    char fp[33];
    journal_fingerprint_hex(s->pubkey, fp);
    /* a bundle exported after a key rotation is signed by a later key: the pinned (first) key
     * is the one a key record of the bundle names; verify then follows the certified chain */
    if (strcasecmp(fp, fingerprint) != 0 && c->bundle && !pubkey_file && bundle_key_by_fingerprint(c->bundle, fingerprint, s->pubkey))
      journal_fingerprint_hex(s->pubkey, fp);
    if (strcasecmp(fp, fingerprint) != 0) {
      cli_err("key fingerprint mismatch: expected %s, the %s key is %s", fingerprint,
              c->bundle ? "bundle's" : "data dir's", fp);
      cli_source_close(s);
      return CLI_FAIL;
    }
    s->pinned = true;
  }
  if (s->bundle && !s->pinned) {
    char fp[33];
    journal_fingerprint_hex(s->pubkey, fp);
    fprintf(stderr, "hems: note: checked against the bundle's own key %s; pin it with --pubkey or --fingerprint\n", fp);
  }
  return 0;
}

void cli_source_close(struct cli_source *s)
{
  if (s->dir_src.it) journal_dir_source_deinit(&s->dir_src);
  journal_checked_close(s->checked);
  journal_reader_close(s->reader);
  journal_bundle_close(s->bundle);
  memset(s, 0, sizeof *s);
}

struct journal_record_source *cli_source_records(struct cli_source *s, uint64_t from_seq)
{
  if (s->bundle) {
    if (!s->checked &&
        journal_checked_open(&s->checked, journal_bundle_source(s->bundle), s->pubkey, journal_bundle_first_prev(s->bundle)))
      return NULL;
    return journal_checked_source(s->checked);
  }
  if (journal_dir_source_init(&s->dir_src, s->reader, from_seq ? from_seq : 1)) return NULL;
  return &s->dir_src.src;
}

int cli_source_damaged(const struct cli_source *s, const char *why)
{
  fflush(stdout);
  uint64_t proven = s->checked ? journal_checked_result(s->checked)->last_sealed_seq : 0;
  cli_err("bundle damaged after seq %llu: %s", (unsigned long long)proven, why ? why : "unreadable");
  return CLI_FAIL;
}

double cli_mono_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double cli_thread_cpu_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void)sb; (void)flag; (void)ftw;
  return remove(p);
}

void cli_rm_rf(const char *path)
{
  nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

uint64_t cli_proc_write_bytes(void)
{
  unsigned long long v = 0;
  FILE *f = fopen("/proc/self/io", "r");
  if (!f) return 0;
  char line[128];
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "write_bytes: %llu", &v) == 1) break;
  fclose(f);
  return v;
}

/* tmp → path so that a power cut leaves the old file or the new one: the data is synced before
 * the rename, and the directory after it (the rename itself is otherwise not durable). */
int cli_replace_durably(const char *tmp, const char *path, const char *dir)
{
  int rc = 0, fd = open(tmp, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  if (fsync(fd) != 0) rc = -errno;
  close(fd);
  if (!rc && rename(tmp, path) != 0) rc = -errno;
  if (rc) { unlink(tmp); return rc; }
  if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) return -errno;
  if (fsync(fd) != 0) rc = -errno;
  close(fd);
  return rc;
}

int cli_open_direct(const struct cli_common *c, struct journal **j, int *pid)
{
  struct journal_options o;
  memset(&o, 0, sizeof o);
  o.dir = c->dir;
  o.counter_path = c->counter;
  o.accept_rollback = c->accept_rollback;
  struct journal_open_info info;
  int rc = cli_signer_get(c, &o.signer);
  if (rc) return rc;
  rc = journal_open(j, &o, &info, pid);
  if (rc == JOURNAL_EINUSE) return rc;
  if (rc) return cli_open_error(c->dir, c->counter, rc, *pid);
  if (info.rollback_accepted)
    fprintf(stderr, "hems: rollback accepted: journal continues at seq %llu (fault rollback_accepted journaled)\n",
            (unsigned long long)info.head_seq + 1);
  return 0;
}

int cli_append_close(struct journal *j, const struct journal_record *r, const char *what)
{
  uint64_t seq;
  int rc = journal_append(j, r, &seq);
  int close_rc = journal_close(j);
  if (rc || close_rc) {
    cli_err("%s: not recorded: %s", what, cli_signer_why(rc ? rc : close_rc));
    return CLI_ENV;
  }
  printf("%llu\n", (unsigned long long)seq);
  return fflush(stdout) == 0 ? CLI_OK : CLI_ENV;
}

json_t *cli_load_json_file(const char *path)
{
  char *text;
  size_t len;
  if (hw_read_file(path, &text, &len) != 0) return NULL;
  json_t *root = json_loadb(text, len, 0, NULL);
  free(text);
  return root;
}
