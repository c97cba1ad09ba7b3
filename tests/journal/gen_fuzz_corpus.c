/*
 * gen_fuzz_corpus.c — writes the committed fuzz corpora: tests/fuzz/corpus/record/ (valid
 * records of every type, truncated and bit-flipped ones) and tests/fuzz/corpus/bundle/ (a
 * valid bundle, truncated and damaged ones). Run by hand: gen_fuzz_corpus SRC/tests/fuzz/corpus
 */
#include "jt_util.h"

static void put(const char *dir, const char *name, const uint8_t *b, size_t n)
{
  if (jt_write_file(jt_path("%s/%s", dir, name), b, n)) { perror(name); exit(1); }
}

/* A record in schema v 3: valid, truncated and with one bit flipped (v3-*). */
static void put_v3(const char *dir, const struct journal_record *r, int n)
{
  uint8_t out[8192];
  size_t len;
  char name[64];
  if (journal_record_encode(r, out, sizeof out, &len)) { fprintf(stderr, "v3 encode failed\n"); exit(1); }
  snprintf(name, sizeof name, "v3-valid-%02d-%s", n, journal_type_name(r->type));
  put(dir, name, out, len);
  snprintf(name, sizeof name, "v3-trunc-%02d", n);
  put(dir, name, out, len * 2 / 3);
  out[((size_t)n * 29 + 50) % len] ^= 0x08;
  snprintf(name, sizeof name, "v3-flip-%02d", n);
  put(dir, name, out, len);
}

/* A stand-in start checkpoint: the bundle reader treats its bytes as opaque. */
static int fake_checkpoint(void *ctx, struct journal_reader *r, uint64_t seq, uint8_t **data, size_t *len)
{
  (void)ctx; (void)r;
  *data = malloc(64);
  if (!*data) return -ENOMEM;
  for (int i = 0; i < 64; i++) (*data)[i] = (uint8_t)(seq + (uint64_t)i);
  *len = 64;
  return 0;
}

int main(int argc, char **argv)
{
  if (argc != 2) { fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]); return 2; }
  char *rdir = strdup(jt_path("%s/record", argv[1])), *bdir = strdup(jt_path("%s/bundle", argv[1]));
  mkdir(rdir, 0755);
  mkdir(bdir, 0755);
  char *base = jt_mkdtemp();
  char *d = strdup(jt_path("%s/data", base));
  struct jt_clock clk;
  jt_clock_init(&clk, 1000);
  struct journal_options o;
  jt_opts(&o, d, &clk);
  if (journal_create(&o, "{\"branches\":[]}", 15, "fuzz")) return 1;
  struct journal *j;
  if (journal_open(&j, &o, NULL, NULL)) return 1;
  struct journal_record r;
  char pad[200];
  for (int i = 0; i < 30; i++) {
    if (i % 7 == 6) jt_note_rec(&r, "note for the corpus");
    else jt_big_rec(&r, pad, (uint64_t)i, 20 + (size_t)i);
    if (journal_append(j, &r, NULL)) return 1;
  }
  uint8_t h[32], blob[300];
  for (int i = 0; i < 300; i++) blob[i] = (uint8_t)i;
  journal_put_blob(j, blob, sizeof blob, h);
  uint64_t cut;
  journal_flush(j);
  journal_retention_run(j, 0, NULL, NULL, &cut);
  if (journal_close(j)) return 1;
  /* records: every stored record (boot, key, config, note, fault, seal, retention), plus
   * truncated and flipped versions of some */
  struct jt_lmdb l;
  if (jt_lmdb_open(&l, d)) return 1;
  MDB_txn *t;
  mdb_txn_begin(l.env, NULL, MDB_RDONLY, &t);
  struct jt_recs rs;
  if (jt_recs_load(t, l.records, &rs)) return 1;
  int n = 0;
  unsigned seen = 0;
  for (size_t ri = 0; ri < rs.n; ri++) {
    const uint8_t *b = rs.r[ri].b;
    MDB_val v = { rs.r[ri].n, rs.r[ri].b };
    struct journal_record rec;
    if (journal_record_decode(b, v.mv_size, &rec)) continue;
    if (seen & (1u << rec.type) && n % 3) { n++; continue; }
    seen |= 1u << rec.type;
    char name[64];
    snprintf(name, sizeof name, "valid-%02d-%s", n, journal_type_name(rec.type));
    put(rdir, name, b, v.mv_size);
    snprintf(name, sizeof name, "trunc-%02d", n);
    put(rdir, name, b, v.mv_size / 2);
    uint8_t *f = malloc(v.mv_size);
    memcpy(f, b, v.mv_size);
    f[(size_t)n * 13 % v.mv_size] ^= 0x04;
    snprintf(name, sizeof name, "flip-%02d", n);
    put(rdir, name, f, v.mv_size);
    free(f);
    rec.version = JOURNAL_SCHEMA_V3; /* the same record in schema v 3 */
    put_v3(rdir, &rec, n);
    n++;
  }
  jt_recs_free(&rs);
  mdb_txn_abort(t);
  jt_lmdb_close(&l);
  /* records of types this journal does not hold: encode them directly */
  for (unsigned ty = 1; ty < JOURNAL_T__MAX; ty++) {
    if (seen & (1u << ty)) continue;
    memset(&r, 0, sizeof r);
    r.seq = 100 + ty;
    r.version = 1;
    r.type = (uint16_t)ty;
    r.source.kind = JOURNAL_SRC_BRANCH;
    r.source.index = 3;
    static const uint8_t raw[] = { 0xa1, 0x61, 'a', 0x01 };
    r.body.raw.cbor = (struct journal_slice){ raw, sizeof raw }; /* raw-body types only */
    uint8_t out[4096];
    size_t len;
    if (journal_record_encode(&r, out, sizeof out, &len) == 0) {
      char name[64];
      snprintf(name, sizeof name, "valid-type-%s", journal_type_name(ty));
      put(rdir, name, out, len);
    }
  }
  /* a v 3 window: typed-array columns of every width and sign */
  memset(&r, 0, sizeof r);
  r.seq = 77;
  r.version = JOURNAL_SCHEMA_V3;
  r.type = JOURNAL_T_WINDOW;
  r.source.kind = JOURNAL_SRC_AFE;
  r.source.index = 2;
  struct journal_window *w = &r.body.window;
  w->afe = 2;
  w->freq_mhz = 49990;
  w->duration_us = 200000;
  w->basic_windows = 10;
  w->nbranches = 2;
  w->branches[0] = 4;
  w->branches[1] = 300;
  w->nch = 3;
  w->ch[0] = (struct journal_window_channel){ 0, JOURNAL_CH_VOLTAGE, JOURNAL_PHASE_B, 0, 230100, -325400, 325300, 1800, 229000, 231000, false };
  w->ch[1] = (struct journal_window_channel){ 3, JOURNAL_CH_CURRENT, JOURNAL_PHASE_B, 4, 12, -20, 19, 0, 11, 13, true };
  w->ch[2] = (struct journal_window_channel){ 4, JOURNAL_CH_NEUTRAL, JOURNAL_PHASE_N, 300, 40000, -60000, 60000, 90000, 39000, 41000, false };
  w->npow = 2;
  w->pow[0] = (struct journal_window_power){ 3, 0, JOURNAL_PHASE_B, 4, 2760, -5, 2761, 99960, 0, 153 };
  w->pow[1] = (struct journal_window_power){ 4, 0, JOURNAL_PHASE_B, 300, -9200000000ll, 120, 9200000001ll, -99990, 0, 0 };
  put_v3(rdir, &r, 99);
  /* bundles (format 2, named v2-*; the format-1 files of the corpus came from the format-1
   * writer and stay as they are) */
  struct journal_reader *rd;
  if (journal_reader_open(&rd, d, NULL, false)) return 1;
  struct journal_file_signer fs;
  if (journal_file_signer_load(&fs, d)) return 1;
  char *bp = strdup(jt_path("%s/b.hems", base));
  if (journal_export(rd, &fs.signer, NULL, bp, NULL)) return 1;
  /* one that starts mid-journal, with a start checkpoint entry (opaque to the reader) */
  char *cp = strdup(jt_path("%s/c.hems", base));
  uint64_t first = 0, last = 0;
  journal_reader_bounds(rd, &first, &last);
  struct journal_export_options co = { .since_seq = last / 2, .checkpoint = fake_checkpoint };
  if (journal_export(rd, &fs.signer, &co, cp, NULL)) return 1;
  journal_reader_close(rd);
  size_t cn = 0;
  uint8_t *cb = jt_read_file(cp, &cn);
  if (!cb) return 1;
  put(bdir, "v2-checkpoint", cb, cn);
  free(cb);
  size_t bn = 0;
  uint8_t *b = jt_read_file(bp, &bn);
  if (!b || bn < 200) return 1;
  put(bdir, "v2-valid", b, bn);
  size_t cuts[] = { 10, 20, 100, bn / 2, bn - 120, bn - 60, bn - 1 };
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    char name[32];
    snprintf(name, sizeof name, "v2-trunc-%zu", cuts[i]);
    put(bdir, name, b, cuts[i]);
  }
  size_t flips[] = { 3, 12, 30, 150, bn / 2, bn - 100, bn - 10 };
  for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
    char name[32];
    b[flips[i]] ^= 0x10;
    snprintf(name, sizeof name, "v2-flip-%zu", flips[i]);
    put(bdir, name, b, bn);
    b[flips[i]] ^= 0x10;
  }
  /* an archive bundle (retention) when one was written */
  free(b);
  jt_sh("cp %s/archive/*.hems %s/v2-archive-0 2>/dev/null", d, bdir);
  journal_file_signer_wipe(&fs);
  jt_rm_rf(base);
  printf("corpus written to %s\n", argv[1]);
  return 0;
}
