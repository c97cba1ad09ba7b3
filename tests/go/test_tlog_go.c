/*
 * test_tlog_go.c — the independent check: our checkpoints and proofs against Go's
 * golang.org/x/mod/sumdb (note, tlog), and Go's proofs against our verifier.
 *
 * A random tree (seeded; the seed is printed, HEMS_TLOG_SEED replays one) of 66,000–70,000
 * records of 1..400 bytes — three tile levels — is built with the appender into in-memory
 * tiles. Written for tests/go/tlogcheck: the records, the log's note verifier key, a witness's
 * cosignature key, 12 checkpoints (sizes 1, 256, 65536, the whole tree and 8 random ones;
 * signed by the log, every other one cosigned by the witness), 100 random inclusion proofs and
 * 10 consistency proofs between pairs of checkpoint sizes, all from the tiles. tlogcheck
 * verifies all of it and that one-byte changes are rejected (exit 0), then writes
 * tlog.ProveRecord / tlog.ProveTree's proofs for the same questions; here those must equal ours,
 * verify with journal_merkle_verify_*, and fail after a one-byte change.
 *
 * test_key_verifier: `hems key verifier` of a fresh data dir (and of its bundle) is accepted by
 * Go's note.NewVerifier, carries DIR/keys/signing.pub and is named "hems/" + the device id that
 * LMDB's own mdb_dump reads from the journal's meta database. test_bench_merkle: `hems bench
 * merkle` runs (its OpenSSL and libsodium digests agree, else exit 1) and prints its fields.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>
#include "journal.h"
#include "cli_test.h"

#define HB JOURNAL_HASH_BYTES
#define NCKPT 12
#define NINCL 100
#define NCONS 10

static uint64_t rng;
static uint64_t next_rand(void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

struct seed_signer {
  struct journal_signer s;
  uint8_t sk[crypto_sign_SECRETKEYBYTES];
};
static int seed_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[JOURNAL_SIG_BYTES])
{
  return crypto_sign_detached(sig, NULL, msg, len, ((struct seed_signer *)ctx)->sk);
}
static void seed_signer_init(struct seed_signer *k)
{
  uint8_t seed[32];
  for (int i = 0; i < 32; i++) seed[i] = (uint8_t)next_rand();
  crypto_sign_seed_keypair(k->s.pubkey, k->sk, seed);
  k->s.sign = seed_sign;
  k->s.ctx = k;
}

static void b64(const uint8_t *h, char out[64]) { sodium_bin2base64(out, 64, h, HB, sodium_base64_VARIANT_ORIGINAL); }

static void unb64(const char *s, uint8_t out[HB])
{
  size_t n = 0;
  assert_int_equal(sodium_base642bin(out, HB, s, strlen(s), NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL), 0);
  assert_int_equal(n, HB);
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

static void json_proof(FILE *f, uint8_t p[][HB], unsigned n)
{
  char s[64];
  fputs("\"proof\":[", f);
  for (unsigned i = 0; i < n; i++) {
    b64(p[i], s);
    fprintf(f, "%s\"%s\"", i ? "," : "", s);
  }
  fputs("]}\n", f);
}

static void rm_dir(const char *dir)
{
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char path[512];
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      unlink(path);
    }
  closedir(d);
  rmdir(dir);
}

/* Reads Go's proofs back as (json array of objects), one per line. */
static json_t *read_jsonl(const char *dir, const char *name)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  json_t *all = json_array();
  char line[8192];
  while (fgets(line, sizeof line, f)) {
    json_error_t err;
    json_t *o = json_loads(line, 0, &err);
    assert_non_null(o);
    json_array_append_new(all, o);
  }
  fclose(f);
  return all;
}

static unsigned proof_of(json_t *o, uint8_t p[][HB])
{
  json_t *arr = json_object_get(o, "proof");
  assert_true(json_is_array(arr));
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) unb64(json_string_value(v), p[i]);
  return (unsigned)json_array_size(arr);
}

static void test_go_cross_check(void **state)
{
  (void)state;
  const char *env = getenv("HEMS_TLOG_SEED");
  uint64_t seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
  if (!seed) seed = 1;
  rng = seed;
  printf("test_tlog_go: seed %llu (HEMS_TLOG_SEED=%llu replays it)\n", (unsigned long long)seed, (unsigned long long)seed);

  char dir[] = "/tmp/hems-tlog-go-XXXXXX";
  assert_non_null(mkdtemp(dir));
  struct journal_merkle_hasher h;
  assert_int_equal(journal_merkle_hasher_init(&h), 0);
  struct journal_merkle_memtiles mt;
  journal_merkle_memtiles_init(&mt);
  struct journal_merkle_appender *a = malloc(sizeof *a);
  assert_non_null(a);
  journal_merkle_appender_init(a, &h, journal_merkle_memtiles_put, &mt);

  /* the records */
  uint64_t n = 66000 + next_rand() % 4000;
  size_t cap = (size_t)n * 404, off = 0;
  uint8_t *recs = malloc(cap), leaf[HB];
  uint8_t (*leaves)[HB] = malloc((size_t)n * HB);
  assert_non_null(recs);
  assert_non_null(leaves);
  for (uint64_t i = 0; i < n; i++) {
    uint32_t len = 1 + (uint32_t)(next_rand() % 400);
    recs[off] = (uint8_t)(len >> 24), recs[off + 1] = (uint8_t)(len >> 16), recs[off + 2] = (uint8_t)(len >> 8),
    recs[off + 3] = (uint8_t)len;
    for (uint32_t k = 0; k < len; k++) recs[off + 4 + k] = (uint8_t)next_rand();
    journal_merkle_leaf_hash(&h, recs + off + 4, len, leaf);
    memcpy(leaves[i], leaf, HB);
    assert_int_equal(journal_merkle_append(a, leaf), 0);
    off += 4 + len;
  }
  assert_int_equal(journal_merkle_flush(a), 0);
  write_file(dir, "records", recs, off);
  struct journal_merkle_tile_reader rd = journal_merkle_memtiles_reader(&mt);

  /* keys */
  struct seed_signer log, wit;
  seed_signer_init(&log);
  seed_signer_init(&wit);
  char idhex[33], origin[64], text[JOURNAL_TLOG_VKEY_MAX + 2];
  uint8_t id[16];
  for (int i = 0; i < 16; i++) id[i] = (uint8_t)next_rand();
  journal_hex(id, sizeof id, idhex);
  assert_true(journal_tlog_origin(idhex, origin, sizeof origin) > 0);
  struct journal_tlog_verifier vlog, vwit;
  assert_int_equal(journal_tlog_verifier_init(&vlog, origin, JOURNAL_TLOG_ED25519, log.s.pubkey), 0);
  assert_int_equal(journal_tlog_verifier_init(&vwit, "witness.example/w1", JOURNAL_TLOG_COSIG_V1, wit.s.pubkey), 0);
  int tl = journal_tlog_verifier_format(&vlog, text, sizeof text);
  write_file(dir, "vkey", text, (size_t)tl);
  tl = journal_tlog_verifier_format(&vwit, text, sizeof text);
  write_file(dir, "witness.vkey", text, (size_t)tl);

  /* checkpoints */
  uint64_t sizes[NCKPT] = { 1, 256, 65536, n };
  for (int i = 4; i < NCKPT; i++) sizes[i] = 1 + next_rand() % n;
  uint8_t roots[NCKPT][HB];
  for (int i = 0; i < NCKPT; i++) {
    struct journal_tlog_checkpoint c;
    struct journal_tlog_hems e;
    memset(&c, 0, sizeof c);
    strcpy(c.origin, origin);
    c.size = sizes[i];
    assert_int_equal(journal_merkle_root(&h, &rd, sizes[i], c.root), 0);
    memcpy(roots[i], c.root, HB);
    for (int k = 0; k < HB; k++) e.state_hash[k] = (uint8_t)next_rand(), e.head_hash[k] = (uint8_t)next_rand();
    e.time_ns = 1764869486000000000ll + (int64_t)(next_rand() % 1000000000000000ull);
    assert_true(journal_tlog_hems_format(&e, c.ext, sizeof c.ext) > 0);
    char body[JOURNAL_TLOG_BODY_MAX + 1], note[JOURNAL_TLOG_NOTE_MAX], name[32];
    int bl = journal_tlog_checkpoint_format(&c, body, sizeof body);
    assert_true(bl > 0);
    int nl = journal_tlog_sign(body, (size_t)bl, origin, &log.s, note, sizeof note);
    assert_true(nl > 0);
    if (i % 2) {
      int cl = journal_tlog_cosign(body, (size_t)bl, vwit.name, &wit.s, 1764869486 + (uint64_t)i, note + nl,
                                   sizeof note - (size_t)nl);
      assert_true(cl > 0);
      nl += cl;
    }
    size_t got;
    assert_int_equal(journal_tlog_open(note, (size_t)nl, &vlog, &got, NULL), 0);
    snprintf(name, sizeof name, "checkpoint-%02d.txt", i);
    write_file(dir, name, note, (size_t)nl);
  }

  /* proofs */
  char path[512], r64[64], r64b[64];
  uint8_t p[JOURNAL_MERKLE_PROOF_MAX + 1][HB];
  unsigned np;
  uint64_t incl[NINCL][2], cons[NCONS][2];
  snprintf(path, sizeof path, "%s/inclusion.jsonl", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  for (int i = 0; i < NINCL; i++) {
    int c = (int)(next_rand() % NCKPT);
    incl[i][0] = next_rand() % sizes[c], incl[i][1] = sizes[c];
    assert_int_equal(journal_merkle_prove_inclusion(&h, &rd, incl[i][0], sizes[c], p, &np), 0);
    b64(roots[c], r64);
    fprintf(f, "{\"leaf_index\":%llu,\"tree_size\":%llu,\"root\":\"%s\",", (unsigned long long)incl[i][0],
            (unsigned long long)sizes[c], r64);
    json_proof(f, p, np);
  }
  fclose(f);
  snprintf(path, sizeof path, "%s/consistency.jsonl", dir);
  f = fopen(path, "w");
  assert_non_null(f);
  for (int i = 0; i < NCONS; i++) {
    int x = (int)(next_rand() % NCKPT), y = (int)(next_rand() % NCKPT);
    if (sizes[x] > sizes[y]) { int t = x; x = y; y = t; }
    cons[i][0] = sizes[x], cons[i][1] = sizes[y];
    assert_int_equal(journal_merkle_prove_consistency(&h, &rd, sizes[x], sizes[y], p, &np), 0);
    b64(roots[x], r64);
    b64(roots[y], r64b);
    fprintf(f, "{\"old_size\":%llu,\"new_size\":%llu,\"old_root\":\"%s\",\"new_root\":\"%s\",",
            (unsigned long long)sizes[x], (unsigned long long)sizes[y], r64, r64b);
    json_proof(f, p, np);
  }
  fclose(f);

  /* Go checks ours */
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' '%s'", HEMS_TLOGCHECK, dir);
  fflush(stdout);
  int rc = system(cmd);
  assert_int_equal(rc, 0);

  /* we check Go's: equal to ours, verified by our verifier, and one changed byte refused */
  json_t *gi = read_jsonl(dir, "go_inclusion.jsonl"), *gc = read_jsonl(dir, "go_consistency.jsonl");
  assert_int_equal(json_array_size(gi), NINCL);
  assert_int_equal(json_array_size(gc), NCONS);
  uint8_t mine[JOURNAL_MERKLE_PROOF_MAX][HB], root[HB], root2[HB];
  unsigned nm, changed = 0;
  for (int i = 0; i < NINCL; i++) {
    json_t *o = json_array_get(gi, (size_t)i);
    uint64_t m = (uint64_t)json_integer_value(json_object_get(o, "leaf_index"));
    uint64_t s = (uint64_t)json_integer_value(json_object_get(o, "tree_size"));
    assert_true(m == incl[i][0] && s == incl[i][1]);
    np = proof_of(o, p);
    unb64(json_string_value(json_object_get(o, "root")), root);
    assert_int_equal(journal_merkle_prove_inclusion(&h, &rd, m, s, mine, &nm), 0);
    assert_int_equal(np, nm);
    assert_memory_equal(p, mine, (size_t)np * HB);
    assert_int_equal(journal_merkle_verify_inclusion(&h, leaves[m], m, s, root, (const uint8_t(*)[HB])p, np), 0);
    for (unsigned k = 0; k < np; k++, changed++) {
      p[k][(k * 3) % HB] ^= 0x04;
      assert_int_equal(journal_merkle_verify_inclusion(&h, leaves[m], m, s, root, (const uint8_t(*)[HB])p, np), JOURNAL_EPROOF);
      p[k][(k * 3) % HB] ^= 0x04;
    }
  }
  for (int i = 0; i < NCONS; i++) {
    json_t *o = json_array_get(gc, (size_t)i);
    uint64_t s1 = (uint64_t)json_integer_value(json_object_get(o, "old_size"));
    uint64_t s2 = (uint64_t)json_integer_value(json_object_get(o, "new_size"));
    assert_true(s1 == cons[i][0] && s2 == cons[i][1]);
    np = proof_of(o, p);
    unb64(json_string_value(json_object_get(o, "old_root")), root);
    unb64(json_string_value(json_object_get(o, "new_root")), root2);
    assert_int_equal(journal_merkle_prove_consistency(&h, &rd, s1, s2, mine, &nm), 0);
    assert_int_equal(np, nm);
    assert_memory_equal(p, mine, (size_t)np * HB);
    assert_int_equal(journal_merkle_verify_consistency(&h, s1, root, s2, root2, (const uint8_t(*)[HB])p, np), 0);
    for (unsigned k = 0; k < np; k++, changed++) {
      p[k][(k * 5) % HB] ^= 0x20;
      assert_int_equal(journal_merkle_verify_consistency(&h, s1, root, s2, root2, (const uint8_t(*)[HB])p, np), JOURNAL_EPROOF);
      p[k][(k * 5) % HB] ^= 0x20;
    }
  }
  printf("test_tlog_go: %d inclusion and %d consistency proofs from tlog.ProveRecord/ProveTree equal ours and "
         "verify here; %u one-byte changes rejected\n", NINCL, NCONS, changed);
  json_decref(gi);
  json_decref(gc);
  free(recs);
  free(leaves);
  free(a);
  journal_merkle_memtiles_deinit(&mt);
  journal_merkle_hasher_deinit(&h);
  rm_dir(dir);
}

static void read_line(const char *path, char *out, size_t cap)
{
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  assert_non_null(fgets(out, (int)cap, f));
  fclose(f);
  size_t n = strlen(out);
  assert_true(n > 0 && out[n - 1] == '\n');
  out[n - 1] = 0;
}

static void test_key_verifier(void **state)
{
  (void)state;
  assert_int_equal(cli_test_setup("keyverifier"), 0);
  assert_int_equal(sh("'%s' init --dir %s/d >/dev/null 2>&1", bin, tmp), 0);
  assert_int_equal(sh("'%s' key verifier --dir %s/d > %s/vkey", bin, tmp, tmp), 0);
  char vkey[512], line[512], path[512], want[600];
  snprintf(path, sizeof path, "%s/vkey", tmp);
  read_line(path, vkey, sizeof vkey);
  struct journal_tlog_verifier v;
  assert_int_equal(journal_tlog_verifier_parse(vkey, strlen(vkey), &v), 0);
  assert_int_equal(v.type, JOURNAL_TLOG_ED25519);
  uint8_t pk[32];
  snprintf(path, sizeof path, "%s/d/keys/signing.pub", tmp);
  assert_int_equal(journal_pubkey_load(path, pk), 0);
  assert_memory_equal(v.pubkey, pk, 32);
  /* the device id, as LMDB's mdb_dump prints the meta database (printable keys and values) */
  assert_int_equal(sh("mdb_dump -p -s meta %s/d/journal | grep -A1 '^ device_id$' | tail -1 | tr -d ' ' > %s/id", tmp, tmp), 0);
  snprintf(path, sizeof path, "%s/id", tmp);
  read_line(path, line, sizeof line);
  assert_int_equal(strlen(line), 32);
  snprintf(want, sizeof want, "hems/%s", line);
  assert_string_equal(v.name, want);
  /* Go reads it */
  assert_int_equal(sh("'%s' vkey '%s' > %s/go", HEMS_TLOGCHECK, vkey, tmp), 0);
  snprintf(path, sizeof path, "%s/go", tmp);
  read_line(path, line, sizeof line);
  snprintf(want, sizeof want, "%s %08x", v.name, (unsigned)v.key_hash);
  assert_string_equal(line, want);
  /* a bundle of the dir names the same key */
  assert_int_equal(sh("'%s' export --dir %s/d --out %s/b.hems >/dev/null 2>&1", bin, tmp, tmp), 0);
  assert_int_equal(sh("'%s' key verifier %s/b.hems > %s/vkey2 2>/dev/null", bin, tmp, tmp), 0);
  snprintf(path, sizeof path, "%s/vkey2", tmp);
  read_line(path, line, sizeof line);
  assert_string_equal(line, vkey);
  /* pinned: the panel's fingerprint passes, another is refused */
  char fp[33];
  journal_fingerprint_hex(pk, fp);
  assert_int_equal(sh("'%s' key verifier %s/b.hems --fingerprint %s > %s/vkey3 2>/dev/null", bin, tmp, fp, tmp), 0);
  snprintf(path, sizeof path, "%s/vkey3", tmp);
  read_line(path, line, sizeof line);
  assert_string_equal(line, vkey);
  fp[0] = fp[0] == '0' ? '1' : '0';
  assert_int_equal(sh("'%s' key verifier %s/b.hems --fingerprint %s 2>/dev/null", bin, tmp, fp), 1);
  /* exit codes: no journal 3, not a dir or bundle 1, usage 2 */
  assert_int_equal(sh("'%s' key verifier --dir %s/none 2>/dev/null", bin, tmp), 3);
  assert_int_equal(sh("'%s' key verifier %s/vkey 2>/dev/null", bin, tmp), 1);
  assert_int_equal(sh("'%s' key 2>/dev/null", bin), 2);
  assert_int_equal(sh("'%s' key frob 2>/dev/null", bin), 2);
  assert_int_equal(sh("'%s' key verifier --dir %s/d extra 2>/dev/null", bin, tmp), 2);
  teardown(NULL);
}

static void test_bench_merkle(void **state)
{
  (void)state;
  assert_int_equal(cli_test_setup("benchmerkle"), 0);
  assert_int_equal(sh("'%s' bench merkle --records 2000 --format json > %s/b.json", bin, tmp), 0);
  char path[512];
  snprintf(path, sizeof path, "%s/b.json", tmp);
  json_error_t err;
  json_t *o = json_load_file(path, 0, &err);
  assert_non_null(o);
  assert_string_equal(json_string_value(json_object_get(o, "bench")), "merkle");
  assert_int_equal(json_integer_value(json_object_get(o, "records")), 2000);
  assert_int_equal(json_integer_value(json_object_get(o, "record_bytes")), 200);
  static const char *const rates[] = { "openssl_leaf_hashes_per_s", "sodium_leaf_hashes_per_s", "openssl_speedup",
                                       "tree_appends_per_s" };
  for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) assert_true(json_number_value(json_object_get(o, rates[i])) > 0);
  assert_true(json_is_boolean(json_object_get(o, "cpu_sha_extensions")));
  json_decref(o);
  assert_int_equal(sh("'%s' bench merkle --records 5 2>/dev/null", bin), 2);
  assert_int_equal(sh("'%s' bench merkle --format xml 2>/dev/null", bin), 2);
  teardown(NULL);
}

int main(void)
{
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = { cmocka_unit_test(test_go_cross_check), cmocka_unit_test(test_key_verifier),
                                      cmocka_unit_test(test_bench_merkle) };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
