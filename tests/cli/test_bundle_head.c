/*
 * test_bundle_head.c — format-3 bundles carry the panel's signed head at export and an RFC 9162
 * consistency proof to it (docs/journal.md "Bundles", docs/cli.md "verify"), through the built
 * binary.
 *
 * test_ends_before_event: a bundle exported up to a seq before a later event shows, under
 * `verify --checkpoint` of a checkpoint the auditor kept after the event, the head beyond the
 * range (the event's seq among those "not in this bundle"); with the kept checkpoint named at
 * export (--since-checkpoint) the two are proven consistent (exit 0), without it exit 1 saying
 * no proof is carried. `hems checkpoint BUNDLE` prints the head, byte for byte what `hems
 * checkpoint --dir` printed at export; --closing the range's last seal's checkpoint.
 * test_fork: a copy of the journal rewritten after a checkpoint was kept (other records signed
 * with the same key) is refused by `verify --checkpoint` with exit 1 naming the kept size as the
 * first inconsistent size — inside the bundle's range (roots from its records) and outside it
 * (the embedded proof from the kept size); a kept checkpoint newer than the head is exit 1 too.
 * test_tampered: the bundle re-signed after one byte of its embedded proof, of its frontier or
 * of the head's signature changed (so the content hash and end signature hold) is exit 1 naming
 * the proof, the damaged tree, the head's signature; one byte changed without re-signing is
 * exit 1 as a damaged bundle.
 * test_witnessed: a bundle ending at a checkpoint a witness cosigned (the witness record,
 * journaled after it, is carried) verifies with --witness; under another witness's key, or for a
 * bundle ending after the cosigned checkpoint, exit 1.
 * Expected values come from the journal itself (the seqs `hems note` prints, the sizes in
 * `hems checkpoint --dir`'s notes), never from the bundle under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>
#include <zstd.h>
#include "cli_test.h"
#include "journal.h"

static char keyarg[300];

static size_t slurp(const char *name, char *buf, size_t cap)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmp, name);
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = fread(buf, 1, cap - 1, f);
  fclose(f);
  buf[n] = 0;
  return n;
}

static int has(const char *name, const char *needle)
{
  static char buf[65536];
  slurp(name, buf, sizeof buf);
  if (strstr(buf, needle)) return 1;
  print_message("%s lacks \"%s\":\n%s\n", name, needle, buf);
  return 0;
}

/* `hems note` in DIR: the seq it printed. */
static unsigned long long note(const char *dir, const char *text)
{
  char line[128];
  assert_int_equal(sh_line(line, sizeof line, "%s note --dir %s/%s '%s'", bin, tmp, dir, text), 0);
  const char *p = line + strcspn(line, "0123456789");
  return strtoull(p, NULL, 10);
}

static unsigned long long size_of(const char *cp)
{
  char buf[4096];
  slurp(cp, buf, sizeof buf);
  char *nl = strchr(buf, '\n');
  return nl ? strtoull(nl + 1, NULL, 10) : 0;
}

static void checkpoint(const char *dir, const char *cp)
{
  assert_int_equal(sh("%s checkpoint --dir %s/%s > %s/%s", bin, tmp, dir, tmp, cp), 0);
}

/* verify BUNDLE [extra] with the pinned key: stdout to out.txt, stderr to err.txt. */
static int verify(const char *bundle, const char *extra)
{
  return sh("%s verify %s/%s %s %s > %s/out.txt 2> %s/err.txt", bin, tmp, bundle, keyarg, extra, tmp, tmp);
}

static void setup_journal(void)
{
  assert_int_equal(cli_test_setup("bundlehead"), 0);
  assert_int_equal(sh("%s init --dir %s/a > /dev/null", bin, tmp), 0);
  snprintf(keyarg, sizeof keyarg, "--pubkey %s/a/keys/signing.pub", tmp);
  for (int i = 0; i < 6; i++) note("a", "before");
}

static void test_ends_before_event(void **state)
{
  (void)state;
  setup_journal();
  unsigned long long until = note("a", "the last before the end of the export") + 1; /* its seal */
  unsigned long long event = note("a", "the event");
  note("a", "after");
  checkpoint("a", "kept.cp"); /* the auditor's, after the event */
  unsigned long long k = size_of("kept.cp");
  note("a", "later still");
  checkpoint("a", "head.cp"); /* the head at export */
  unsigned long long n = size_of("head.cp");
  assert_true(event > until && k > event && n > k);
  char extra[600], want[200];
  snprintf(extra, sizeof extra, "--since 3 --until %llu", until);
  assert_int_equal(sh("%s export --dir %s/a %s --out %s/plain.hems > /dev/null", bin, tmp, extra, tmp), 0);
  assert_int_equal(sh("%s export --dir %s/a %s --since-checkpoint %s/kept.cp --out %s/kept.hems > /dev/null", bin, tmp,
                      extra, tmp, tmp), 0);

  /* without the kept size's proof: the head beyond the range is shown, the proof is missing */
  snprintf(extra, sizeof extra, "--checkpoint %s/kept.cp", tmp);
  assert_int_equal(verify("plain.hems", extra), 1);
  snprintf(want, sizeof want, "head: size %llu ", n);
  assert_true(has("out.txt", want));
  snprintf(want, sizeof want, "seq %llu..%llu are not in this bundle", until + 1, n + 1);
  assert_true(has("out.txt", want));
  assert_true(has("err.txt", "carries no consistency proof from it; export with --since-checkpoint"));
  /* with it: consistent, the same head beyond the range (the event's seq inside it) */
  assert_int_equal(verify("kept.hems", extra), 0);
  assert_true(has("out.txt", want));
  snprintf(want, sizeof want, "range: seq 3..%llu, ", until);
  assert_true(has("out.txt", want));
  snprintf(want, sizeof want, "checkpoint: consistent: the head at export (size %llu) extends it", n);
  assert_true(has("out.txt", want));
  snprintf(want, sizeof want, "consistency: size %llu -> %llu: ok", until - 1, n);
  assert_true(has("out.txt", want));

  /* a kept checkpoint inside the range: its root from the bundle's records */
  assert_int_equal(sh("%s checkpoint --dir %s/a --at %llu > %s/inrange.cp", bin, tmp, until, tmp), 0);
  snprintf(extra, sizeof extra, "--checkpoint %s/inrange.cp", tmp);
  assert_int_equal(verify("plain.hems", extra), 0);
  assert_true(has("out.txt", "the bundle's records give its root"));

  /* hems checkpoint BUNDLE: the head as the dir printed it; --closing: the range's last seal */
  assert_int_equal(sh("%s checkpoint %s/plain.hems %s | cmp -s - %s/head.cp", bin, tmp, keyarg, tmp), 0);
  assert_int_equal(sh("%s checkpoint %s/plain.hems %s --closing | cmp -s - %s/inrange.cp", bin, tmp, keyarg, tmp), 0);
  /* --proof: the same answer as hems prove on the dir */
  assert_int_equal(sh("%s checkpoint %s/plain.hems %s --proof > %s/p1 && %s prove --dir %s/a --from %llu --to %llu | "
                      "cmp -s - %s/p1", bin, tmp, keyarg, tmp, bin, tmp, until - 1, n, tmp), 0);
  /* --checkpoint on a dir, or a bundle and a kept file signed by another key */
  assert_int_equal(sh("%s verify --dir %s/a --checkpoint %s/kept.cp > /dev/null 2>&1", bin, tmp, tmp), 2);
  assert_int_equal(sh("%s init --dir %s/other > /dev/null && %s checkpoint --dir %s/other > %s/other.cp", bin, tmp, bin, tmp,
                      tmp), 0);
  assert_int_equal(verify("plain.hems", "--checkpoint /nonexistent/kept.cp"), 3);
  snprintf(extra, sizeof extra, "--checkpoint %s/other.cp", tmp);
  assert_int_equal(verify("plain.hems", extra), 1);
  assert_true(has("err.txt", "no valid signature by the pinned key"));
  teardown(NULL);
}

static void test_fork(void **state)
{
  (void)state;
  setup_journal();
  assert_int_equal(sh("cp -a %s/a %s/b", tmp, tmp), 0); /* b: the same key and device id */
  note("a", "one");
  note("a", "two");
  checkpoint("a", "kept.cp");
  unsigned long long k = size_of("kept.cp");
  /* b rewrites what came after the copy: other records, signed with the same key */
  note("b", "ONE");
  note("b", "TWO");
  note("b", "THREE");
  unsigned long long bend = note("b", "FOUR") + 1;
  char extra[600], want[200];
  assert_int_equal(sh("%s export --dir %s/b --out %s/whole.hems > /dev/null", bin, tmp, tmp), 0);
  snprintf(extra, sizeof extra, "--checkpoint %s/kept.cp", tmp);
  assert_int_equal(verify("whole.hems", extra), 1);
  snprintf(want, sizeof want, "first inconsistent size %llu", k);
  assert_true(has("err.txt", want));
  assert_true(has("out.txt", want));
  /* kept size before the range: the proof b's exporter embeds from that size fails */
  assert_int_equal(sh("%s export --dir %s/b --since %llu --since-checkpoint %s/kept.cp --out %s/tail.hems > /dev/null", bin,
                      tmp, bend - 1, tmp, tmp), 0);
  assert_int_equal(verify("tail.hems", extra), 1);
  assert_true(has("err.txt", want));
  /* a kept checkpoint newer than the bundle's head: exit 1, naming the proof it would need */
  note("a", "three");
  note("a", "four");
  note("a", "five");
  note("a", "six");
  checkpoint("a", "newer.cp");
  assert_int_equal(sh("%s export --dir %s/a --until 5 --out %s/old.hems > /dev/null", bin, tmp, tmp), 0);
  assert_int_equal(sh("%s note --dir %s/a late > /dev/null && %s checkpoint --dir %s/a > %s/newest.cp", bin, tmp, bin, tmp,
                      tmp), 0);
  snprintf(extra, sizeof extra, "--checkpoint %s/newest.cp", tmp);
  assert_int_equal(verify("old.hems", extra), 1);
  assert_true(has("err.txt", "is beyond the bundle's head"));
  /* the journal's own bundle against the same kept checkpoint: consistent */
  snprintf(extra, sizeof extra, "--checkpoint %s/kept.cp", tmp);
  assert_int_equal(verify("old.hems", extra), 1); /* outside the range, no proof carried */
  assert_int_equal(sh("%s export --dir %s/a --until 5 --since-checkpoint %s/kept.cp --out %s/old2.hems > /dev/null", bin,
                      tmp, tmp, tmp), 0);
  assert_int_equal(verify("old2.hems", extra), 0);
  /* b's exporter refuses a kept checkpoint beyond its own head (a rollback or another journal) */
  assert_int_equal(sh("%s export --dir %s/b --since-checkpoint %s/newest.cp --out %s/x.hems > /dev/null 2>&1", bin, tmp, tmp,
                      tmp), 1);
  teardown(NULL);
}

/* A witness cosigns a checkpoint; `witness add` journals it after the seal. A bundle that ends
 * at or before that checkpoint carries the cosignature (the record itself lies after its range)
 * and verifies with --witness; a bundle of the whole journal ends after it: exit 1. */
static void test_witnessed(void **state)
{
  (void)state;
  setup_journal();
  char logkey[256], wkey[256], extra[600];
  assert_int_equal(sh_line(logkey, sizeof logkey, "%s key verifier --dir %s/a", bin, tmp), 0);
  assert_int_equal(sh_line(wkey, sizeof wkey, "%s witness keygen --name witness.example/w1 --key %s/w.key", bin, tmp), 0);
  unsigned long long until = note("a", "witnessed") + 1;
  checkpoint("a", "cp.txt");
  assert_int_equal(size_of("cp.txt"), until - 1);
  assert_int_equal(sh("%s witness --key %s/w.key --state %s/st --verifier '%s' %s/cp.txt > %s/cp.cosig 2>/dev/null", bin, tmp,
                      tmp, logkey, tmp, tmp), 0);
  assert_int_equal(sh("cat %s/cp.txt %s/cp.cosig > %s/cp.cosigned && %s witness add --dir %s/a --witness '%s' %s/cp.cosigned "
                      "> /dev/null", tmp, tmp, tmp, bin, tmp, wkey, tmp), 0);
  note("a", "after the cosignature");
  assert_int_equal(sh("%s export --dir %s/a --since 5 --until %llu --out %s/w.hems > /dev/null", bin, tmp, until, tmp), 0);
  snprintf(extra, sizeof extra, "--witness '%s'", wkey);
  assert_int_equal(verify("w.hems", extra), 0);
  char want[200];
  snprintf(want, sizeof want, "witness: ok: records 1..%llu witnessed by witness.example/w1", until - 1);
  assert_true(has("out.txt", want));
  /* another witness's key: none carried */
  char other[256];
  assert_int_equal(sh_line(other, sizeof other, "%s witness keygen --name witness.example/w2 --key %s/w2.key", bin, tmp), 0);
  snprintf(extra, sizeof extra, "--witness '%s'", other);
  assert_int_equal(verify("w.hems", extra), 1);
  assert_true(has("err.txt", "carries no cosignature by this witness"));
  /* the whole journal: its last seal comes after the cosigned checkpoint */
  assert_int_equal(sh("%s export --dir %s/a --out %s/all.hems > /dev/null", bin, tmp, tmp), 0);
  snprintf(extra, sizeof extra, "--witness '%s'", wkey);
  assert_int_equal(verify("all.hems", extra), 1);
  assert_true(has("out.txt", "witness: no cosignature by witness.example/w1 at or after the bundle's range"));
  teardown(NULL);
}

/* ---------------------------------------------------------------- re-signing a changed bundle */

static uint8_t *file_read(const char *name, size_t *len)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmp, name);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(*len);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, *len, f), *len);
  fclose(f);
  return b;
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v; }

/* Copies bundle IN to OUT with one byte of the tree entry changed (what: 'P' the first proof
 * hash, 'F' the first frontier hash, 'N' the head note's signature), the first frame
 * recompressed, and the content hash and end signature made again with the data dir's key (the
 * layout is docs/journal.md's). */
static void tamper(const char *in, const char *out, char what)
{
  size_t len;
  uint8_t *b = file_read(in, &len);
  uint32_t hl = be32(b + 12);
  size_t o = 16 + hl + 64, zl = be32(b + o);
  unsigned long long raw = ZSTD_getFrameContentSize(b + o + 4, zl);
  assert_true(raw != ZSTD_CONTENTSIZE_ERROR && raw != ZSTD_CONTENTSIZE_UNKNOWN);
  uint8_t *c = malloc(raw);
  assert_int_equal(ZSTD_decompress(c, raw, b + o + 4, zl), raw);
  size_t e = 0;
  while (c[e] != 4) e += 5 + be32(c + e + 1); /* to the tree entry */
  uint8_t *t = c + e + 5;
  size_t nf = t[8], pos = 9 + 32 * nf + 8;
  size_t nl = be32(t + pos);
  uint8_t *note = t + pos + 4;
  uint8_t *proof = note + nl + 1 + 9;
  if (what == 'P') { assert_true(note[nl] >= 1 && proof[-1] >= 1); proof[3] ^= 0x01; }
  if (what == 'F') { assert_true(nf >= 1); t[9 + 5] ^= 0x01; }
  if (what == 'N') note[nl - 6] = note[nl - 6] == 'A' ? 'B' : 'A';
  size_t bound = ZSTD_compressBound(raw);
  uint8_t *z = malloc(bound);
  size_t nz = ZSTD_compress(z, bound, c, raw, 3);
  assert_false(ZSTD_isError(nz));
  size_t rest = len - (o + 4 + zl), olen = o + 4 + nz + rest;
  uint8_t *ob = malloc(olen);
  memcpy(ob, b, o);
  put32(ob + o, (uint32_t)nz);
  memcpy(ob + o + 4, z, nz);
  memcpy(ob + o + 4 + nz, b + o + 4 + zl, rest);
  /* the end frame: u32 0 | 80 bytes | 64-byte signature, at the very end */
  uint8_t *end = ob + olen - 64 - 80;
  crypto_generichash(end + 48, 32, ob, olen - 64 - 80, NULL, 0);
  uint8_t hh[32], msg[sizeof "hems.bundle.end.v2" + 80 + 32];
  crypto_generichash(hh, 32, b + 16, hl, NULL, 0);
  memcpy(msg, "hems.bundle.end.v2", sizeof "hems.bundle.end.v2");
  memcpy(msg + sizeof "hems.bundle.end.v2", end, 80);
  memcpy(msg + sizeof "hems.bundle.end.v2" + 80, hh, 32);
  struct journal_file_signer fs;
  char dir[300];
  snprintf(dir, sizeof dir, "%s/a", tmp);
  assert_int_equal(journal_file_signer_load(&fs, dir), 0);
  assert_int_equal(fs.signer.sign(fs.signer.ctx, msg, sizeof msg, end + 80), 0);
  journal_file_signer_wipe(&fs);
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmp, out);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(ob, 1, olen, f), olen);
  fclose(f);
  free(b); free(c); free(z); free(ob);
}

static void test_tampered(void **state)
{
  (void)state;
  setup_journal();
  unsigned long long until = note("a", "x") + 1;
  for (int i = 0; i < 5; i++) note("a", "more");
  assert_int_equal(sh("%s export --dir %s/a --since 5 --until %llu --out %s/b.hems > /dev/null", bin, tmp, until, tmp), 0);
  /* the rewriter itself changes nothing that matters: with no byte changed, it verifies */
  tamper("b.hems", "same.hems", 0);
  assert_int_equal(verify("same.hems", ""), 0);
  tamper("b.hems", "p.hems", 'P');
  assert_int_equal(verify("p.hems", ""), 1);
  assert_true(has("err.txt", "embedded consistency proof from the closing size"));
  assert_true(has("out.txt", "the proof does not verify"));
  tamper("b.hems", "f.hems", 'F');
  assert_int_equal(verify("f.hems", ""), 1);
  assert_true(has("err.txt", "tree_root is not the root of the bundle's frontier"));
  tamper("b.hems", "n.hems", 'N');
  assert_int_equal(verify("n.hems", ""), 1);
  assert_true(has("err.txt", "head checkpoint"));
  assert_int_equal(sh("%s checkpoint %s/n.hems %s > /dev/null 2>&1", bin, tmp, keyarg), 1);
  assert_int_equal(sh("%s checkpoint %s/p.hems %s --proof > /dev/null 2>&1", bin, tmp, keyarg), 1);
  /* one byte changed in place, not re-signed: the content hash catches it */
  assert_int_equal(sh("cp %s/b.hems %s/raw.hems && printf '\\377' | dd of=%s/raw.hems bs=1 seek=200 conv=notrunc 2>/dev/null",
                      tmp, tmp, tmp), 0);
  assert_int_equal(verify("raw.hems", ""), 1);
  assert_true(has("err.txt", "bundle damaged"));
  teardown(NULL);
}

int main(void)
{
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = { cmocka_unit_test(test_ends_before_event), cmocka_unit_test(test_fork),
                                      cmocka_unit_test(test_tampered), cmocka_unit_test(test_witnessed) };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
