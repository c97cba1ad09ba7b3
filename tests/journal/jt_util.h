/*
 * jt_util.h — helpers shared by the journal tests (header-only, static functions): temp dirs,
 * a fake clock, record builders, running the `hems` binary with captured output, verifying a
 * dir, and direct LMDB access to a journal's `records` database for tampering.
 *
 * Rule kept by every helper: no LMDB environment is open in this process while it forks
 * (jt_run forks the CLI; callers close their journals first).
 */
#ifndef HEMS_TESTS_JT_UTIL_H
#define HEMS_TESTS_JT_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <lmdb.h>
#include "journal.h"
#include "store_internal.h" /* packs and the record cursor, for tampering */

/* ------------------------------------------------------------------ files */

static inline char *jt_mkdtemp(void)
{
  const char *base = getenv("TMPDIR");
  char *p = malloc(4096);
  snprintf(p, 4096, "%s/hems-jt-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(p)) { perror("mkdtemp"); abort(); }
  return p;
}

static inline int jt_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *f)
{
  (void)st; (void)flag; (void)f;
  return remove(path);
}

static inline void jt_rm_rf(const char *path) { nftw(path, jt_rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static inline char *jt_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *jt_path(const char *fmt, ...)
{
  static char bufs[8][4200];
  static int k;
  char *b = bufs[k++ & 7];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b, 4200, fmt, ap);
  va_end(ap);
  return b;
}

static inline int jt_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Runs a shell command (cp -a, chmod, …); returns its exit status. */
static inline int jt_sh(const char *fmt, ...)
{
  char cmd[9000];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static uint8_t *jt_read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n + 1);
  if (fread(b, 1, (size_t)n, f) != (size_t)n) { fclose(f); free(b); return NULL; }
  b[n] = 0;
  fclose(f);
  *len = (size_t)n;
  return b;
}

static inline int jt_write_file(const char *path, const void *p, size_t n)
{
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  int ok = fwrite(p, 1, n, f) == n;
  return fclose(f) == 0 && ok ? 0 : -1;
}

/* ------------------------------------------------------------------ running programs */

struct jt_out {
  int status; /* exit code, or 128 + signal */
  char *out, *err;
  size_t outlen, errlen;
};

static inline void jt_out_free(struct jt_out *o) { free(o->out); free(o->err); memset(o, 0, sizeof *o); }

/* Runs argv (NULL-terminated) with stdout/stderr captured. */
static inline int jt_runv(char *const argv[], struct jt_out *o)
{
  char *tmp = jt_mkdtemp();
  char op[4200], ep[4200];
  snprintf(op, sizeof op, "%s/out", tmp);
  snprintf(ep, sizeof ep, "%s/err", tmp);
  fflush(stdout); fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    int fo = open(op, O_WRONLY | O_CREAT | O_TRUNC, 0600), fe = open(ep, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fi = open("/dev/null", O_RDONLY);
    dup2(fi, 0); dup2(fo, 1); dup2(fe, 2);
    execv(argv[0], argv);
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  memset(o, 0, sizeof *o);
  o->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  o->out = (char *)jt_read_file(op, &o->outlen);
  o->err = (char *)jt_read_file(ep, &o->errlen);
  if (!o->out) o->out = calloc(1, 1);
  if (!o->err) o->err = calloc(1, 1);
  jt_rm_rf(tmp);
  free(tmp);
  return o->status;
}

static inline const char *jt_hems_bin(void)
{
  const char *b = getenv("HEMS_BIN");
  if (!b || !*b) { fprintf(stderr, "HEMS_BIN not set (run through ctest)\n"); abort(); }
  return b;
}

/* jt_hems(&out, "verify", "--dir", d, NULL) */
static inline int jt_hems(struct jt_out *o, ...)
{
  char *argv[32];
  int n = 0;
  argv[n++] = (char *)jt_hems_bin();
  va_list ap;
  va_start(ap, o);
  char *a;
  while ((a = va_arg(ap, char *)) && n < 31) argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  return jt_runv(argv, o);
}

/* A fresh scratch dir *base (caller removes and frees it) holding a data dir `data` made by
 * `hems init` with extra arguments (e.g. "--counter", PATH); returns the data dir (free it). */
static inline char *jt_init_dir(char **base, const char *arg1, const char *arg2)
{
  *base = jt_mkdtemp();
  char *d = strdup(jt_path("%s/data", *base));
  struct jt_out o;
  jt_hems(&o, "init", "--dir", d, arg1, arg2, NULL);
  if (o.status != 0) { fprintf(stderr, "hems init %s: exit %d: %s\n", d, o.status, o.err); abort(); }
  jt_out_free(&o);
  return d;
}

/* Number of lines in s. */
static inline int jt_lines(const char *s)
{
  int n = 0;
  for (const char *p = s; *p; p++) if (*p == '\n') n++;
  if (*s && s[strlen(s) - 1] != '\n') n++;
  return n;
}

/* ------------------------------------------------------------------ clock, records */

struct jt_clock {
  uint64_t mono;
  int64_t wall;
  uint64_t step; /* advance per call */
};

static inline void jt_clock_now(void *ctx, uint64_t *mono, int64_t *wall, uint8_t *tq)
{
  struct jt_clock *c = ctx;
  c->mono += c->step;
  c->wall += (int64_t)c->step;
  *mono = c->mono;
  *wall = c->wall;
  *tq = JOURNAL_TQ_SYNCED;
}

static inline void jt_clock_init(struct jt_clock *c, uint64_t step)
{
  c->mono = 1000000000ull;
  c->wall = 1763733720000000000ll; /* 2025-11-21 */
  c->step = step;
}

static const uint8_t jt_boot_id[16] = { 0xb0, 0x07, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14 };

static inline void jt_opts(struct journal_options *o, const char *dir, struct jt_clock *clk)
{
  memset(o, 0, sizeof *o);
  o->dir = dir;
  memcpy(o->boot_id, jt_boot_id, 16);
  if (clk) { o->clock.now = jt_clock_now; o->clock.ctx = clk; }
}

static inline void jt_note_rec(struct journal_record *r, const char *text)
{
  memset(r, 0, sizeof *r);
  r->type = JOURNAL_T_NOTE;
  r->source.kind = JOURNAL_SRC_OPERATOR;
  r->body.note.who = (struct journal_slice){ (const uint8_t *)"tester", 6 };
  r->body.note.text = (struct journal_slice){ (const uint8_t *)text, (uint32_t)strlen(text) };
}

/* A non-critical record (fault) — does not end a group. */
static inline void jt_fault_rec(struct journal_record *r, const char *code, int64_t value)
{
  memset(r, 0, sizeof *r);
  r->type = JOURNAL_T_FAULT;
  r->source.kind = JOURNAL_SRC_BRANCH;
  r->source.index = (uint16_t)(1 + (value % 12));
  r->body.fault.code = (struct journal_slice){ (const uint8_t *)code, (uint32_t)strlen(code) };
  r->body.fault.detail = (struct journal_slice){ (const uint8_t *)"test detail", 11 };
  r->body.fault.value = value;
  r->body.fault.branch = (uint16_t)(1 + (value % 12));
}

/* A non-critical fault record whose detail is padlen bytes of text (padbuf must hold them):
 * a large typed record whose layout no other subsystem changes. */
static inline void jt_big_rec(struct journal_record *r, char *padbuf, uint64_t n, size_t padlen)
{
  for (size_t i = 0; i < padlen; i++) padbuf[i] = (char)('a' + (i * 7 + n) % 26);
  jt_fault_rec(r, "bulk", (int64_t)n);
  r->body.fault.detail = (struct journal_slice){ (const uint8_t *)padbuf, (uint32_t)padlen };
}

/* As jt_big_rec, with letters from a xorshift stream: as incompressible as text gets, so the
 * record's size on disk (format 3 compresses packs) stays near padlen. */
static inline void jt_noise_rec(struct journal_record *r, char *padbuf, uint64_t n, size_t padlen)
{
  uint64_t x = n * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < padlen; i++) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    padbuf[i] = (char)('a' + (x >> 33) % 26);
  }
  jt_fault_rec(r, "bulk", (int64_t)n);
  r->body.fault.detail = (struct journal_slice){ (const uint8_t *)padbuf, (uint32_t)padlen };
}

/* Raw CBOR body {"i": n, "pad": bstr(padlen)} for a type without a table (window etc.). */
static inline size_t jt_raw_body(uint8_t *buf, uint64_t n, size_t padlen)
{
  size_t k = 0;
  buf[k++] = 0xa2;
  buf[k++] = 0x61; buf[k++] = 'i';
  if (n < 24) buf[k++] = (uint8_t)n;
  else if (n < 256) { buf[k++] = 0x18; buf[k++] = (uint8_t)n; }
  else if (n < 65536) { buf[k++] = 0x19; buf[k++] = (uint8_t)(n >> 8); buf[k++] = (uint8_t)n; }
  else { buf[k++] = 0x1a; for (int i = 3; i >= 0; i--) buf[k++] = (uint8_t)(n >> (8 * i)); }
  buf[k++] = 0x63; buf[k++] = 'p'; buf[k++] = 'a'; buf[k++] = 'd';
  if (padlen < 24) buf[k++] = (uint8_t)(0x40 + padlen);
  else if (padlen < 256) { buf[k++] = 0x58; buf[k++] = (uint8_t)padlen; }
  else { buf[k++] = 0x59; buf[k++] = (uint8_t)(padlen >> 8); buf[k++] = (uint8_t)padlen; }
  for (size_t i = 0; i < padlen; i++) buf[k++] = (uint8_t)(i * 7 + n);
  return k;
}

/* ------------------------------------------------------------------ keys, verification */

/* The head seq of DIR (a reader allowing rollback: copies may be behind their counter). */
static inline uint64_t jt_head_seq(const char *dir)
{
  struct journal_reader *r;
  if (journal_reader_open(&r, dir, NULL, true) != 0) abort();
  uint64_t first, last;
  if (journal_reader_bounds(r, &first, &last) != 0) abort();
  journal_reader_close(r);
  return last;
}

static inline int jt_pubkey(const char *dir, uint8_t pk[32])
{
  char p[4200];
  snprintf(p, sizeof p, "%s/keys/signing.pub", dir);
  return journal_pubkey_load(p, pk);
}

/* Verifies DIR (reader opened allowing rollback: tampered copies may be behind the counter). */

/* journal_verify's answer, checked against journal_verify_opt's on two threads (newest-seal mode,
 * which reads the source again on a failure, and every seal checked): the same rc, first bad
 * seq and reason, or the process aborts naming both. rewind restarts src at its first record. */
static inline int jt_verify_checked(const struct journal_record_source *src, int (*rewind)(void *), void *rctx,
                                    const uint8_t pk[32], const uint8_t *expect_prev, struct journal_verify_result *res)
{
  int rc = journal_verify(src, pk, expect_prev, res, NULL, NULL);
  for (int all = 0; all < 2; all++) {
    struct journal_verify_result r2;
    struct journal_verify_opts o;
    memset(&o, 0, sizeof o);
    o.threads = 2;
    o.all_seals = all;
    o.rewind = rewind;
    o.rewind_ctx = rctx;
    if (rewind(rctx)) { fprintf(stderr, "jt_verify_checked: cannot rewind\n"); abort(); }
    int rc2 = journal_verify_opt(src, pk, expect_prev, &o, &r2);
    if (rc2 != rc || r2.bad_seq != res->bad_seq || strcmp(r2.reason, res->reason) != 0 || r2.records != res->records ||
        r2.seals != res->seals || r2.last_sealed_seq != res->last_sealed_seq || r2.truncated != res->truncated) {
      fprintf(stderr, "journal_verify_opt (two threads, %s) differs: rc %d bad seq %llu '%s' (%llu records); journal_verify: rc %d bad seq %llu '%s' (%llu records)\n",
              all ? "every seal" : "newest seal", rc2, (unsigned long long)r2.bad_seq, r2.reason, (unsigned long long)r2.records, rc,
              (unsigned long long)res->bad_seq, res->reason, (unsigned long long)res->records);
      abort();
    }
  }
  return rc;
}


static inline int jt_verify_dir(const char *dir, struct journal_verify_result *res)
{
  uint8_t pk[32];
  int rc = jt_pubkey(dir, pk);
  if (rc) return rc;
  struct journal_reader *r;
  if ((rc = journal_reader_open(&r, dir, NULL, true))) return rc;
  struct journal_dir_source ds;
  if ((rc = journal_dir_source_init(&ds, r, 0)) == 0) {
    rc = jt_verify_checked(&ds.src, journal_dir_source_rewind, &ds, pk, NULL, res);
    journal_dir_source_deinit(&ds);
  }
  journal_reader_close(r);
  return rc;
}

/* Verifies a bundle against a trusted key: the open error, or journal_verify's result. */
static inline int jt_verify_bundle(const char *path, const uint8_t pk[32], struct journal_verify_result *res)
{
  struct journal_bundle *b;
  char why[160];
  memset(res, 0, sizeof *res);
  int rc = journal_bundle_open(path, &b, why, sizeof why);
  if (rc) { snprintf(res->reason, sizeof res->reason, "%s", why); return rc; }
  rc = journal_verify(journal_bundle_source(b), pk, journal_bundle_first_prev(b), res, NULL, NULL);
  journal_bundle_close(b);
  return rc;
}

/* ------------------------------------------------------------------ raw LMDB */

/* Direct access to the records of a journal, for tampering. Format 3 keeps records in packs
 * (pack_internal.h); these helpers present them seq by seq: jt_get decodes the packs, and every
 * edit rewrites them (keeping the original pack boundaries by position). Two edit models:
 * jt_put is a forger's edit (the stored hash checks are recomputed from that record on, so the
 * reader serves what was put and the verifier judges it), jt_damage is storage damage (the
 * record's stored check stays, so the reader names the record). */
struct jt_lmdb {
  MDB_env *env;
  MDB_dbi records; /* `packs` (format 3) */
};

static inline int jt_lmdb_open(struct jt_lmdb *l, const char *dir)
{
  char p[4200];
  snprintf(p, sizeof p, "%s/journal", dir);
  int rc = mdb_env_create(&l->env);
  if (rc) return rc;
  mdb_env_set_maxdbs(l->env, 16);
  mdb_env_set_mapsize(l->env, 1ull << 30);
  if ((rc = mdb_env_open(l->env, p, MDB_NOTLS, 0600))) { mdb_env_close(l->env); return rc; }
  MDB_txn *t;
  if ((rc = mdb_txn_begin(l->env, NULL, 0, &t))) return rc;
  if ((rc = mdb_dbi_open(t, "packs", 0, &l->records))) { mdb_txn_abort(t); return rc; }
  return mdb_txn_commit(t);
}

static inline void jt_lmdb_close(struct jt_lmdb *l) { mdb_env_close(l->env); }

static inline void jt_be64(uint8_t *p, uint64_t v) { for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; } }
static inline uint64_t jt_rd64(const uint8_t *p) { uint64_t v = 0; for (int i = 0; i < 8; i++) v = v << 8 | p[i]; return v; }

/* The journal as a list of records by position (position p is seq first + p). */
struct jt_rec { uint8_t *b; size_t n; uint8_t check[PACK_CHECK_BYTES]; bool fresh; };
struct jt_recs {
  struct jt_rec *r;
  size_t n, cap;
  uint64_t first;           /* seq of position 0 */
  uint8_t first_prev[32];   /* the first pack's prev */
  uint32_t bound[4096];     /* records per original pack */
  int npacks;
};

static inline void jt_recs_free(struct jt_recs *rs)
{
  for (size_t i = 0; i < rs->n; i++) free(rs->r[i].b);
  free(rs->r);
  memset(rs, 0, sizeof *rs);
}

static inline int jt_recs_load(MDB_txn *t, MDB_dbi db, struct jt_recs *rs)
{
  memset(rs, 0, sizeof *rs);
  MDB_cursor *c;
  MDB_val k, v;
  if (mdb_cursor_open(t, db, &c)) return -EIO;
  struct pack_cache pc;
  memset(&pc, 0, sizeof pc);
  int rc;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    uint64_t first = jt_rd64(k.mv_data);
    uint8_t *raw;
    size_t rl;
    uint32_t n;
    if (journal__pack_peek(v.mv_data, v.mv_size, &n, rs->npacks ? NULL : rs->first_prev) ||
        journal__pack_raw(v.mv_data, v.mv_size, &raw, &rl) ||
        journal__pack_load(&pc, first, v.mv_data, v.mv_size, PACK_CHECKED) || pc.good != n) { rc = -EIO; break; }
    if (rs->npacks == 0) rs->first = first;
    if (rs->npacks < 4096) rs->bound[rs->npacks++] = n;
    for (uint32_t i = 0; i < n; i++) {
      if (rs->n == rs->cap) { rs->cap = rs->cap ? rs->cap * 2 : 256; rs->r = realloc(rs->r, rs->cap * sizeof *rs->r); }
      struct jt_rec *e = &rs->r[rs->n++];
      e->n = pc.off[i + 1] - pc.off[i];
      e->b = malloc(e->n);
      memcpy(e->b, pc.canon + pc.off[i], e->n);
      memcpy(e->check, raw + (size_t)n * 4 + (size_t)i * PACK_CHECK_BYTES, PACK_CHECK_BYTES);
      e->fresh = false;
    }
    free(raw);
  }
  mdb_cursor_close(c);
  journal__pack_cache_free(&pc);
  return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Rewrites every pack from rs (boundaries by position; the last pack takes any extra). */
static inline int jt_recs_store(MDB_txn *t, MDB_dbi db, struct jt_recs *rs)
{
  int rc = mdb_drop(t, db, 0);
  if (rc) return rc;
  uint8_t running[32];
  memcpy(running, rs->first_prev, 32);
  size_t p = 0;
  for (int i = 0; i < rs->npacks && p < rs->n; i++) {
    size_t cnt = i == rs->npacks - 1 ? rs->n - p : rs->bound[i];
    if (cnt > rs->n - p) cnt = rs->n - p;
    const uint8_t **rec = malloc(cnt * sizeof *rec);
    size_t *len = malloc(cnt * sizeof *len);
    uint8_t *chk = malloc(cnt * PACK_CHECK_BYTES), prev0[32];
    memcpy(prev0, running, 32);
    for (size_t q = 0; q < cnt; q++) {
      struct jt_rec *e = &rs->r[p + q];
      if (e->n >= 36 && memcmp(e->b, "\xaa\x00\x58\x20", 4) == 0) memcpy(e->b + 4, running, 32);
      rec[q] = e->b;
      len[q] = e->n;
      journal_record_hash(e->b, e->n, running);
      memcpy(chk + q * PACK_CHECK_BYTES, e->fresh ? running : e->check, PACK_CHECK_BYTES);
    }
    uint8_t *v;
    size_t vl;
    rc = journal__pack_encode(NULL, 3, rec, len, (uint32_t)cnt, chk, prev0, &v, &vl);
    free(rec); free(len); free(chk);
    if (rc) return rc;
    uint8_t kb[8];
    jt_be64(kb, rs->first + p);
    MDB_val k = { 8, kb }, val = { vl, v };
    rc = mdb_put(t, db, &k, &val, 0);
    free(v);
    if (rc) return rc;
    p += cnt;
  }
  return 0;
}

/* Re-signs both counter slots at the journal's current head (what a forger holding the key, or
 * a writer, would leave): format 3 rebuilds `prev`, so a rewritten record changes the head hash
 * and the reader would refuse the journal as rolled back before verify could name the record. */
static inline int jt_counter_to_head(const char *dir)
{
  struct journal_reader *r;
  int rc = journal_reader_open(&r, dir, NULL, true);
  if (rc) return rc;
  struct journal_iter *it;
  uint64_t seq = 0, s;
  uint8_t head[32] = { 0 };
  const uint8_t *b;
  size_t n;
  if ((rc = journal_iter_begin(r, 1, &it)) == 0) {
    while ((rc = journal_iter_next(it, &s, &b, &n)) == 1) { seq = s; journal_record_hash(b, n, head); }
    journal_iter_end(it);
  }
  journal_reader_close(r);
  if (rc) return rc;
  struct journal_file_signer fs;
  if ((rc = journal_file_signer_load(&fs, dir))) return rc;
  struct journal_file_counter c;
  char path[4200];
  snprintf(path, sizeof path, "%s/counter", dir);
  journal__file_counter_init(&c, path, &fs.signer, NULL);
  rc = c.ops.write(c.ops.ctx, seq, head);
  if (!rc) rc = c.ops.write(c.ops.ctx, seq, head);
  journal__file_counter_deinit(&c);
  journal_file_signer_wipe(&fs);
  return rc;
}

/* Copies record seq into *out (malloc'd). */
static inline int jt_get(MDB_txn *t, MDB_dbi db, uint64_t seq, uint8_t **out, size_t *len)
{
  struct jt_recs rs;
  *out = NULL;
  *len = 0;
  int rc = jt_recs_load(t, db, &rs);
  if (!rc && (seq < rs.first || seq - rs.first >= rs.n)) rc = MDB_NOTFOUND;
  if (!rc) {
    struct jt_rec *e = &rs.r[seq - rs.first];
    *out = malloc(e->n);
    memcpy(*out, e->b, e->n);
    *len = e->n;
  }
  jt_recs_free(&rs);
  return rc;
}

/* fresh: jt_put (a forger: checks recomputed from here on); else jt_damage. */
static inline int jt_edit(MDB_txn *t, MDB_dbi db, uint64_t seq, const uint8_t *p, size_t len, bool fresh)
{
  struct jt_recs rs;
  int rc = jt_recs_load(t, db, &rs);
  if (rc) return rc;
  if (seq < rs.first || seq - rs.first > rs.n) { jt_recs_free(&rs); return MDB_NOTFOUND; }
  size_t i = seq - rs.first;
  if (i == rs.n) {
    if (rs.n == rs.cap) { rs.cap = rs.cap ? rs.cap * 2 : 256; rs.r = realloc(rs.r, rs.cap * sizeof *rs.r); }
    rs.r[rs.n++].b = NULL;
  } else {
    free(rs.r[i].b);
  }
  rs.r[i].b = malloc(len ? len : 1);
  memcpy(rs.r[i].b, p, len);
  rs.r[i].n = len;
  if (fresh) for (size_t q = i; q < rs.n; q++) rs.r[q].fresh = true;
  rc = jt_recs_store(t, db, &rs);
  jt_recs_free(&rs);
  return rc;
}

static inline int jt_put(MDB_txn *t, MDB_dbi db, uint64_t seq, const uint8_t *p, size_t len)
{
  return jt_edit(t, db, seq, p, len, true);
}

static inline int jt_damage(MDB_txn *t, MDB_dbi db, uint64_t seq, const uint8_t *p, size_t len)
{
  return jt_edit(t, db, seq, p, len, false);
}

static inline int jt_del(MDB_txn *t, MDB_dbi db, uint64_t seq)
{
  struct jt_recs rs;
  int rc = jt_recs_load(t, db, &rs);
  if (rc) return rc;
  if (seq < rs.first || seq - rs.first >= rs.n) { jt_recs_free(&rs); return MDB_NOTFOUND; }
  size_t i = seq - rs.first;
  free(rs.r[i].b);
  memmove(&rs.r[i], &rs.r[i + 1], (rs.n - i - 1) * sizeof *rs.r);
  rs.n--;
  for (size_t q = i; q < rs.n; q++) rs.r[q].fresh = true;
  rc = jt_recs_store(t, db, &rs);
  jt_recs_free(&rs);
  return rc;
}

/* A journal_record_source over a raw txn (so edits inside an uncommitted txn can be verified
 * and then rolled back with mdb_txn_abort). */
struct jt_txn_src {
  struct journal_record_source src;
  char device_id[33];
  struct journal_dbs db;
  struct journal_rcur c;
  struct pack_cache pc;
  MDB_txn *t;
};

static inline int jt_txn_next(void *ctx, uint64_t *seq, const uint8_t **bytes, size_t *len, const char **why)
{
  struct jt_txn_src *s = ctx;
  int rc = journal__rcur_next(&s->c, seq, bytes, len);
  if (rc < 0) *why = journal_strerror(rc);
  return rc;
}

static inline int jt_txn_rewind(void *ctx)
{
  struct jt_txn_src *s = ctx;
  journal__rcur_close(&s->c);
  return journal__rcur_open(&s->c, s->t, &s->db, &s->pc, PACK_CHECKED, 1) ? -EIO : 0;
}

static inline int jt_verify_txn(MDB_txn *t, MDB_dbi db, const uint8_t pk[32], struct journal_verify_result *res)
{
  struct jt_txn_src s;
  memset(&s, 0, sizeof s);
  s.src.next = jt_txn_next;
  s.src.ctx = &s;
  s.db.packs = db;
  s.db.format = 3;
  s.t = t;
  /* v 3 seals sign a checkpoint under the dir's device id (meta device_id) */
  MDB_dbi meta;
  MDB_val mk = { 9, (void *)"device_id" }, mv;
  if (mdb_dbi_open(t, "meta", 0, &meta) == 0 && mdb_get(t, meta, &mk, &mv) == 0 && mv.mv_size == 32) {
    memcpy(s.device_id, mv.mv_data, 32);
    s.src.device_id = s.device_id;
  }
  if (journal__rcur_open(&s.c, t, &s.db, &s.pc, PACK_CHECKED, 1)) return -EIO;
  int rc = jt_verify_checked(&s.src, jt_txn_rewind, &s, pk, NULL, res);
  journal__rcur_close(&s.c);
  journal__pack_cache_free(&s.pc);
  return rc;
}

#endif
