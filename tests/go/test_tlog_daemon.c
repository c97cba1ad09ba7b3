/*
 * test_tlog_daemon.c — the independent check on a journal the daemon wrote: `hems run --sim
 * full-panel --speed max --for 2m`, then Go's golang.org/x/mod/sumdb (tests/go/tlogcheck
 * daemon) recomputes the tree from the record bytes with tlog.TreeHash and compares every
 * seal's tree_root, and opens checkpoints with note.Open under `hems key verifier`'s key.
 *
 * The record bytes: every record as the library reads it; for a sample, their chain hash is the
 * one `hems show` prints (and a seal's tree_root the one it renders). Checkpoints: `hems checkpoint` for the newest
 * seal and a spread of others. Seals of schema v 3 sign their checkpoint, so those notes go to
 * Go as they are; the seals the daemon writes at schema v 1 sign the older seal message, and
 * `hems checkpoint` must refuse them (exit 1, naming schema 1) — then the library re-signs the
 * same seals as v 3 with the data dir's own key (journal_seal_sign / journal_seal_note), and
 * those notes, over the daemon's real trees, go to Go instead. A checkpoint with any body byte
 * changed must not open (Go), and `hems checkpoint` answers a seq that is no seal with exit 2.
 * `hems prove` answers: a few chosen ones, 100 random inclusion proofs and consistency proofs
 * between 10 random pairs of seals' checkpoints (seeded; HEMS_TLOG_SEED replays), each checked by
 * Go's tlog.CheckRecord / CheckTree against Go's own roots and refused with any proof hash
 * changed in one byte; the checkpoints' notes open with note.Open. A format-3 bundle of part of
 * the journal: its head (`hems checkpoint BUNDLE`, the newest seal's checkpoint), its closing
 * checkpoint (`--closing`) and its embedded consistency proof (`--proof`) go to Go the same way.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>
#include "journal.h"
#include "cli_test.h"

static uint64_t xorshift(uint64_t *x)
{
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

static void test_daemon_journal(void **state)
{
  (void)state;
  assert_int_equal(cli_test_setup("tlogdaemon"), 0);
  char d[300], g[300], path[600];
  snprintf(d, sizeof d, "%s/d", tmp);
  snprintf(g, sizeof g, "%s/go", tmp);
  assert_int_equal(sh("mkdir %s", g), 0);
  assert_int_equal(sh("'%s' init --dir %s >/dev/null 2>&1", bin, d), 0);
  assert_int_equal(sh("'%s' run --dir %s --sim full-panel --speed max --for 2m >/dev/null 2>&1", bin, d), 0);
  assert_int_equal(sh("'%s' key verifier --dir %s > %s/vkey", bin, d, g), 0);

  struct journal_reader *r;
  assert_int_equal(journal_reader_open(&r, d, NULL, false), 0);
  char id[33];
  assert_int_equal(journal_reader_device_id(r, id), 0);
  struct journal_iter *it;
  assert_int_equal(journal_iter_begin(r, 1, &it), 0);
  snprintf(path, sizeof path, "%s/records", g);
  FILE *rf = fopen(path, "wb");
  snprintf(path, sizeof path, "%s/seals", g);
  FILE *sf = fopen(path, "w");
  assert_non_null(rf);
  assert_non_null(sf);
  uint64_t seq, n = 0, seals[4096], window = 0;
  int nseals = 0;
  const uint8_t *b;
  size_t len;
  while (journal_iter_next(it, &seq, &b, &len) == 1) {
    assert_int_equal(seq, ++n);
    uint8_t lb[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len };
    assert_int_equal(fwrite(lb, 1, 4, rf), 4);
    assert_int_equal(fwrite(b, 1, len, rf), len);
    struct journal_record rec;
    assert_int_equal(journal_record_decode(b, len, &rec), 0);
    if (rec.type == JOURNAL_T_WINDOW && !window) window = seq;
    if (rec.type != JOURNAL_T_SEAL) continue;
    char root[64];
    sodium_bin2base64(root, sizeof root, rec.body.seal.tree_root, 32, sodium_base64_VARIANT_ORIGINAL);
    fprintf(sf, "%llu %llu %s\n", (unsigned long long)seq, (unsigned long long)rec.body.seal.sealed_seq, root);
    if (nseals < 4096) seals[nseals++] = seq;
  }
  assert_int_equal(fclose(rf), 0);
  assert_int_equal(fclose(sf), 0);
  assert_true(n > 1000 && nseals > 20 && window);

  /* the bytes are the ones `hems show` reads: its chain hash of a sample of records (until
   * `hems show --format cbor` prints the bytes themselves), and a seal's tree_root as it renders */
  uint64_t sample[] = { 1, window, seals[nseals / 2], n };
  for (size_t i = 0; i < sizeof sample / sizeof sample[0]; i++) {
    assert_int_equal(sh("'%s' show --dir %s %llu --format json > %s/one.json", bin, d, (unsigned long long)sample[i], tmp), 0);
    snprintf(path, sizeof path, "%s/one.json", tmp);
    json_error_t err;
    json_t *o = json_load_file(path, 0, &err);
    assert_non_null(o);
    assert_int_equal(journal_iter_get(it, sample[i], &b, &len), 0);
    uint8_t h[32];
    char hex[65];
    journal_record_hash(b, len, h);
    journal_hex(h, 32, hex);
    assert_string_equal(json_string_value(json_object_get(o, "hash")), hex);
    if (sample[i] == seals[nseals / 2]) {
      struct journal_record rec;
      assert_int_equal(journal_record_decode(b, len, &rec), 0);
      journal_hex(rec.body.seal.tree_root, 32, hex);
      assert_string_equal(json_string_value(json_object_get(json_object_get(o, "body"), "tree_root")), hex);
    }
    json_decref(o);
  }

  /* checkpoints: the newest seal, and seals spread over the journal */
  struct journal_file_signer fs;
  assert_int_equal(journal_file_signer_load(&fs, d), 0);
  uint64_t pick[] = { seals[0], seals[nseals / 4], seals[nseals / 2], seals[nseals - 2], seals[nseals - 1] };
  int v3 = 0, v1 = 0;
  for (size_t i = 0; i < sizeof pick / sizeof pick[0]; i++) {
    struct journal_record rec;
    assert_int_equal(journal_iter_get(it, pick[i], &b, &len), 0);
    assert_int_equal(journal_record_decode(b, len, &rec), 0);
    snprintf(path, sizeof path, "%s/checkpoint-%08llu.txt", g, (unsigned long long)pick[i]);
    const char *at = i == sizeof pick / sizeof pick[0] - 1 ? "" : "--at";
    char atv[32] = "";
    if (*at) snprintf(atv, sizeof atv, "%llu", (unsigned long long)pick[i]);
    int st = sh("'%s' checkpoint --dir %s %s %s > %s 2> %s/err", bin, d, at, atv, path, tmp);
    if (rec.version >= 3) {
      assert_int_equal(st, 0);
      v3++;
      continue;
    }
    assert_int_equal(st, 1);
    assert_int_equal(sh("grep -q 'schema-1 seal' %s/err", tmp), 0);
    /* the same seal, re-signed as v 3 with the panel's key */
    rec.version = 3;
    assert_int_equal(journal_seal_sign(&rec, id, &fs.signer), 0);
    assert_int_equal(journal_seal_verify(&rec, id, fs.signer.pubkey), 0);
    char note[JOURNAL_TLOG_NOTE_MAX];
    int nl = journal_seal_note(&rec, id, fs.signer.pubkey, note, sizeof note);
    assert_true(nl > 0);
    FILE *cf = fopen(path, "w");
    assert_non_null(cf);
    assert_int_equal(fwrite(note, 1, (size_t)nl, cf), (size_t)nl);
    assert_int_equal(fclose(cf), 0);
    v1++;
  }
  journal_file_signer_wipe(&fs);
  journal_iter_end(it);
  journal_reader_close(r);
  printf("test_tlog_daemon: %llu records, %d seals; checkpoints: %d from hems checkpoint (v 3), %d v 1 seals "
         "refused and re-signed as v 3\n", (unsigned long long)n, nseals, v3, v1);

  /* a bundle of the journal: the same answer for its newest seal (pinned to the panel's key) */
  char fp[33];
  uint8_t pk[32];
  snprintf(path, sizeof path, "%s/keys/signing.pub", d);
  assert_int_equal(journal_pubkey_load(path, pk), 0);
  journal_fingerprint_hex(pk, fp);
  assert_int_equal(sh("'%s' export --dir %s --out %s/b.hems >/dev/null 2>&1", bin, d, tmp), 0);
  int st = sh("'%s' checkpoint %s/b.hems --fingerprint %s > %s/bnote 2> %s/err", bin, tmp, fp, tmp, tmp);
  if (v3) {
    assert_int_equal(st, 0);
    assert_int_equal(sh("cmp -s %s/bnote %s/checkpoint-%08llu.txt", tmp, g, (unsigned long long)seals[nseals - 1]), 0);
  } else {
    assert_int_equal(st, 1);
    assert_int_equal(sh("grep -q 'seal %llu is a schema-1 seal' %s/err", (unsigned long long)seals[nseals - 1], tmp), 0);
  }

  /* hems prove: inclusion of records (first, a window, a seal, the last sealed) in trees of seal
   * sizes and of the newest checkpoint, and consistency between seal sizes and odd sizes */
  uint64_t newest = seals[nseals - 1] - 1;
  struct { uint64_t seq, size; } inc[] = { { 1, 0 }, { window, seals[nseals - 2] - 1 }, { seals[nseals / 3], 0 },
                                            { newest, newest }, { 300, 1000 } };
  for (size_t i = 0; i < sizeof inc / sizeof inc[0]; i++) {
    char sz[40] = "";
    if (inc[i].size) snprintf(sz, sizeof sz, "--size %llu", (unsigned long long)inc[i].size);
    int pst = sh("'%s' prove --dir %s --seq %llu %s >> %s/inclusion.jsonl", bin, d, (unsigned long long)inc[i].seq, sz, g);
    if (pst) fail_msg("hems prove --seq %llu %s: exit %d", (unsigned long long)inc[i].seq, sz, pst);
  }
  struct { uint64_t from, to; } con[] = { { 1, newest }, { seals[0] - 1, seals[nseals / 2] - 1 }, { 257, 1000 }, { 999, 999 } };
  for (size_t i = 0; i < sizeof con / sizeof con[0]; i++)
    assert_int_equal(sh("'%s' prove --dir %s --from %llu --to %llu >> %s/consistency.jsonl", bin, d,
                        (unsigned long long)con[i].from, (unsigned long long)con[i].to, g), 0);
  /* 100 random inclusion proofs (a random record in a random larger tree) and consistency proofs
   * between 10 random pairs of checkpoints (seals; each one's note goes to Go too), seeded */
  uint64_t seed = getenv("HEMS_TLOG_SEED") ? strtoull(getenv("HEMS_TLOG_SEED"), NULL, 10) : (uint64_t)time(NULL);
  printf("test_tlog_daemon: random proofs with seed %llu (HEMS_TLOG_SEED replays it)\n", (unsigned long long)seed);
  uint64_t rs = seed * 2654435761u + 1;
  for (int i = 0; i < 100; i++) {
    uint64_t size = 1 + xorshift(&rs) % newest, leaf = 1 + xorshift(&rs) % size;
    int pst = sh("'%s' prove --dir %s --seq %llu --size %llu >> %s/inclusion.jsonl", bin, d, (unsigned long long)leaf,
                 (unsigned long long)size, g);
    if (pst) fail_msg("hems prove --seq %llu --size %llu: exit %d", (unsigned long long)leaf, (unsigned long long)size, pst);
  }
  for (int i = 0; i < 10 && v1 == 0; i++) {
    uint64_t a = seals[xorshift(&rs) % (uint64_t)nseals], z = seals[xorshift(&rs) % (uint64_t)nseals];
    if (a > z) { uint64_t x = a; a = z; z = x; }
    uint64_t pair[2] = { a, z };
    for (int k = 0; k < 2; k++)
      assert_int_equal(sh("'%s' checkpoint --dir %s --at %llu > %s/checkpoint-%08llu.txt", bin, d,
                          (unsigned long long)pair[k], g, (unsigned long long)pair[k]), 0);
    assert_int_equal(sh("'%s' prove --dir %s --from %llu --to %llu >> %s/consistency.jsonl", bin, d,
                        (unsigned long long)a - 1, (unsigned long long)z - 1, g), 0);
  }
  /* a bundle of the second quarter (format 3): its head (the newest seal's checkpoint), its closing
   * checkpoint and its embedded consistency proof between them go to Go the same way */
  if (v1 == 0) {
    uint64_t until = seals[nseals / 2];
    assert_int_equal(sh("'%s' export --dir %s --since %llu --until %llu --out %s/half.hems > /dev/null", bin, d,
                        (unsigned long long)seals[nseals / 4] + 1, (unsigned long long)until, tmp), 0);
    assert_int_equal(sh("'%s' checkpoint %s/half.hems --fingerprint %s > %s/checkpoint-bundle-head.txt", bin, tmp, fp, g), 0);
    assert_int_equal(sh("cmp -s %s/checkpoint-bundle-head.txt %s/checkpoint-%08llu.txt", g, g,
                        (unsigned long long)seals[nseals - 1]), 0);
    assert_int_equal(sh("'%s' checkpoint %s/half.hems --fingerprint %s --closing > %s/checkpoint-bundle-closing.txt", bin,
                        tmp, fp, g), 0);
    assert_int_equal(sh("'%s' checkpoint --dir %s --at %llu | cmp -s - %s/checkpoint-bundle-closing.txt", bin, d,
                        (unsigned long long)until, g), 0);
    assert_int_equal(sh("'%s' checkpoint %s/half.hems --fingerprint %s --proof > %s/bproof.json", bin, tmp, fp, tmp), 0);
    char want[96];
    snprintf(want, sizeof want, "{\"old_size\":%llu,\"new_size\":%llu,", (unsigned long long)until - 1,
             (unsigned long long)newest);
    assert_int_equal(sh("grep -q '^%s' %s/bproof.json && cat %s/bproof.json >> %s/consistency.jsonl", want, tmp, tmp, g), 0);
    assert_int_equal(sh("'%s' verify %s/half.hems --fingerprint %s > /dev/null 2>&1", bin, tmp, fp), 0);
  }
  /* the bundle's rebuilt tree gives the same answer */
  assert_int_equal(sh("'%s' prove %s/b.hems --fingerprint %s --seq %llu > %s/bp 2>/dev/null && "
                      "'%s' prove --dir %s --seq %llu | cmp -s - %s/bp", bin, tmp, fp, (unsigned long long)window, tmp,
                      bin, d, (unsigned long long)window, tmp), 0);
  /* sizes beyond the newest checkpoint: usage; no seq: usage */
  assert_int_equal(sh("'%s' prove --dir %s --seq 5 --size %llu 2>/dev/null", bin, d, (unsigned long long)newest + 1), 2);
  assert_int_equal(sh("'%s' prove --dir %s --from 5 --to 4 2>/dev/null", bin, d), 2);
  assert_int_equal(sh("'%s' prove --dir %s 2>/dev/null", bin, d), 2);

  /* Go: every tree root, every checkpoint, every proof */
  assert_int_equal(sh("'%s' daemon %s", HEMS_TLOGCHECK, g), 0);
  /* a checkpoint with its root changed (the case of every letter swapped) is refused by Go */
  assert_int_equal(sh("sed -i '3y/ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz/"
                      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ/' %s/checkpoint-%08llu.txt", g,
                      (unsigned long long)pick[1]), 0);
  assert_int_equal(sh("'%s' daemon %s 2>/dev/null", HEMS_TLOGCHECK, g), 1);

  /* exit codes: a seq that is no seal, --at 0, usage */
  assert_int_equal(sh("'%s' checkpoint --dir %s --at %llu >/dev/null 2>&1", bin, d, (unsigned long long)window), 2);
  assert_int_equal(sh("'%s' checkpoint --dir %s --at 0 >/dev/null 2>&1", bin, d), 2);
  assert_int_equal(sh("'%s' checkpoint --dir %s --at %llu >/dev/null 2>&1", bin, d, (unsigned long long)n + 5), 2);
  assert_int_equal(sh("'%s' checkpoint --dir %s/none 2>/dev/null", bin, tmp), 3);
  assert_int_equal(sh("'%s' checkpoint --dir %s extra 2>/dev/null", bin, d), 2);
  teardown(NULL);
}

int main(void)
{
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = { cmocka_unit_test(test_daemon_journal) };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
