/*
 * test_witness.c — `hems witness` end to end (cli/cmd_witness.c, cli/witness_cosign.c) through
 * the built binary: the first checkpoint of an origin is trusted on first use; a larger one is
 * cosigned with `hems prove --from LAST --to NEW`'s proof; a smaller one (rollback), another root
 * at the cosigned size, or a proof from another journal that shares the key and device id and
 * diverges after a witnessed checkpoint (fork) is refused with exit 1 and one line naming it; so
 * is a proof or checkpoint with one byte changed. Origins are attacker text: "../../escape" stays
 * a hashed file name inside the state dir, an origin that is not the verifier key's name is
 * refused. A temp file a crash left in the state dir is neither trusted nor in the way. Every
 * cosignature printed is appended to its checkpoint and opened by Go's note.Open with the log's
 * verifier and a cosignature verifier built from the C2SP text (tests/go/tlogcheck/witness.go).
 * `hems witness add` journals only a cosignature of a checkpoint the journal signed, and
 * `hems verify --witness` checks them and names the witnessed range.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <dirent.h>
#include <sodium.h>
#include "cli_test.h"
#include "journal.h"

static char logkey[256], wkey[256];

static size_t slurp(const char *path, char *buf, size_t cap)
{
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = fread(buf, 1, cap - 1, f);
  fclose(f);
  buf[n] = 0;
  return n;
}

static int contains(const char *path, const char *needle)
{
  char buf[8192];
  slurp(path, buf, sizeof buf);
  return strstr(buf, needle) != NULL;
}

/* hems witness on checkpoint NAME (and proof P, may be NULL) with the log key; stdout to
 * NAME.cosig, stderr to err.txt; the exit status. */
static int witness(const char *state, const char *cp, const char *proof)
{
  return sh("%s witness --key %s/w.key --state %s/%s --verifier '%s' %s/%s %s%s%s > %s/%s.cosig 2> %s/err.txt", bin,
            tmp, tmp, state, logkey, tmp, cp, proof ? tmp : "", proof ? "/" : "", proof ? proof : "", tmp, cp, tmp);
}

/* NAME with its cosignature appended opens in Go under both keys. */
static void go_opens(const char *cp)
{
  assert_int_equal(sh("cat %s/%s %s/%s.cosig > %s/%s.cosigned", tmp, cp, tmp, cp, tmp, cp), 0);
  char out[128];
  assert_int_equal(sh_line(out, sizeof out, "%s cosigned '%s' '%s' %s/%s.cosigned", HEMS_TLOGCHECK, logkey, wkey, tmp, cp), 0);
  print_message("go: %s: size and time %s\n", cp, out);
}

static void note(const char *dir, const char *text)
{
  assert_int_equal(sh("%s note --dir %s/%s '%s' > /dev/null", bin, tmp, dir, text), 0);
}

static unsigned long long size_of(const char *cp)
{
  char path[512], buf[4096];
  snprintf(path, sizeof path, "%s/%s", tmp, cp);
  slurp(path, buf, sizeof buf);
  char *nl = strchr(buf, '\n');
  return nl ? strtoull(nl + 1, NULL, 10) : 0;
}

static void checkpoint(const char *dir, const char *cp)
{
  assert_int_equal(sh("%s checkpoint --dir %s/%s > %s/%s", bin, tmp, dir, tmp, cp), 0);
}

static void prove(const char *dir, const char *from, const char *to, const char *out)
{
  assert_int_equal(sh("%s prove --dir %s/%s --from %llu --to %llu > %s/%s", bin, tmp, dir, size_of(from), size_of(to), tmp,
                      out), 0);
}

/* The stored state: the one .cp file in DIR, its text (the checkpoint body) in out. */
static void state_body(const char *state, char *out, size_t cap)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmp, state);
  DIR *d = opendir(path);
  assert_non_null(d);
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l == 64 + 3 && !strcmp(e->d_name + 64, ".cp")) {
      char p2[sizeof path + 256 + 2];
      snprintf(p2, sizeof p2, "%s/%s", path, e->d_name);
      slurp(p2, out, cap);
      n++;
    }
  }
  closedir(d);
  assert_int_equal(n, 1);
}

static void body_of(const char *cp, char *out, size_t cap)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmp, cp);
  slurp(path, out, cap);
  char *end = strstr(out, "\n\n");
  assert_non_null(end);
  end[1] = 0;
}

static void test_witness(void **state)
{
  (void)state;
  char want[4096], got[4096];
  assert_int_equal(sh("%s init --dir %s/a > /dev/null", bin, tmp), 0);
  assert_int_equal(sh_line(logkey, sizeof logkey, "%s key verifier --dir %s/a", bin, tmp), 0);
  assert_int_equal(sh_line(wkey, sizeof wkey, "%s witness keygen --name witness.example/w1 --key %s/w.key", bin, tmp), 0);
  assert_non_null(strstr(wkey, "witness.example/w1+"));
  struct stat stt;
  char kpath[512];
  snprintf(kpath, sizeof kpath, "%s/w.key", tmp);
  assert_int_equal(stat(kpath, &stt), 0);
  assert_int_equal(stt.st_mode & 0777, 0600);
  /* a key is never overwritten */
  assert_int_equal(sh("%s witness keygen --name x --key %s/w.key 2>/dev/null", bin, tmp), 1);

  /* trust on first use */
  note("a", "one");
  checkpoint("a", "cp1");
  assert_int_equal(witness("st", "cp1", NULL), 0);
  snprintf(kpath, sizeof kpath, "%s/err.txt", tmp); /* from here on: witness()'s stderr */
  assert_true(contains(kpath, "trusted on first use"));
  go_opens("cp1");
  body_of("cp1", want, sizeof want);
  state_body("st", got, sizeof got);
  assert_string_equal(got, want);

  /* b: the same key and device id, diverging after cp1 (a rewritten past) */
  assert_int_equal(sh("cp -a %s/a %s/b", tmp, tmp), 0);

  /* extend with a valid consistency proof */
  note("a", "two");
  note("a", "three");
  checkpoint("a", "cp2");
  assert_int_equal(witness("st", "cp2", NULL), 2); /* a larger size needs the proof */
  assert_true(contains(kpath, "hems prove --from"));
  prove("a", "cp1", "cp2", "p12.json");
  assert_int_equal(witness("st", "cp2", "p12.json"), 0);
  go_opens("cp2");
  body_of("cp2", want, sizeof want);
  state_body("st", got, sizeof got);
  assert_string_equal(got, want);
  /* the same checkpoint again: cosigned again */
  assert_int_equal(witness("st", "cp2", NULL), 0);

  /* rollback */
  assert_int_equal(witness("st", "cp1", NULL), 1);
  assert_true(contains(kpath, "rollback: checkpoint size"));

  /* fork: b's checkpoint at a's cosigned size has another root */
  note("b", "TWO");
  note("b", "THREE");
  checkpoint("b", "cpb2");
  assert_int_equal(size_of("cpb2"), size_of("cp2"));
  prove("b", "cp1", "cpb2", "pb12.json");
  assert_int_equal(witness("st", "cpb2", "pb12.json"), 1);
  assert_true(contains(kpath, ": fork: size"));
  /* and beyond it: b's own proof starts from b's root at the cosigned size */
  note("b", "four");
  checkpoint("b", "cpb3");
  prove("b", "cpb2", "cpb3", "pb23.json");
  assert_int_equal(witness("st", "cpb3", "pb23.json"), 1);
  assert_true(contains(kpath, "fork: the proof's root at size"));
  /* a's proof does not take b's checkpoint anywhere either */
  note("a", "four");
  checkpoint("a", "cp3");
  prove("a", "cp2", "cp3", "p23.json");
  assert_int_equal(sh("%s witness --key %s/w.key --state %s/st --verifier '%s' %s/cpb3 %s/p23.json >/dev/null 2>%s/err.txt",
                      bin, tmp, tmp, logkey, tmp, tmp, tmp), 1);
  state_body("st", got, sizeof got);
  assert_string_equal(got, want); /* nothing refused was stored */

  /* one byte of the proof changed: each hash, first character → another base64 digit */
  char proof[8192], path[512];
  snprintf(path, sizeof path, "%s/p23.json", tmp);
  size_t pn = slurp(path, proof, sizeof proof);
  char *p = strstr(proof, "\"proof\":[\"");
  assert_non_null(p);
  for (char *h = p + 10; h < proof + pn && *h != ']'; ) {
    char saved = *h;
    *h = saved == 'A' ? 'B' : 'A';
    FILE *f = fopen(path, "wb");
    fwrite(proof, 1, pn, f);
    fclose(f);
    assert_int_equal(witness("st", "cp3", "p23.json"), 1);
    assert_true(contains(kpath, "does not verify"));
    *h = saved;
    h = strchr(h, '"');            /* end of this hash */
    if (!h || h[1] != ',') break;
    h += 3;                          /* past "," and the next opening quote */
  }
  FILE *f = fopen(path, "wb");
  fwrite(proof, 1, pn, f);
  fclose(f);
  /* one byte of the checkpoint changed: its signature no longer verifies */
  assert_int_equal(sh("sed '3s/^A/B/;t;3s/^./A/' %s/cp3 > %s/cp3x && ! cmp -s %s/cp3 %s/cp3x", tmp, tmp, tmp, tmp), 0);
  assert_int_equal(witness("st", "cp3x", "p23.json"), 1);
  assert_true(contains(kpath, "no valid signature"));

  /* a temp file a crash left: b's checkpoint body where a's next state would go */
  state_body("st", got, sizeof got);
  assert_int_equal(sh("for c in %s/st/*.cp; do sed '/^$/,$d' %s/cpb3 > $c.tmp; done", tmp, tmp), 0);
  assert_int_equal(witness("st", "cpb3", "pb23.json"), 1); /* the temp file is not the state */
  assert_int_equal(witness("st", "cp3", "p23.json"), 0);   /* nor in the way */
  go_opens("cp3");
  body_of("cp3", want, sizeof want);
  state_body("st", got, sizeof got);
  assert_string_equal(got, want);
  assert_int_equal(sh("ls %s/st | grep -c tmp > /dev/null", tmp), 1); /* renamed over, none left */
  /* journaled: only a cosignature of a checkpoint the journal itself signed at that size */
  char wvf[512];
  snprintf(wvf, sizeof wvf, "%s/w.vkey", tmp);
  FILE *vf = fopen(wvf, "w");
  fprintf(vf, "%s\n", wkey);
  fclose(vf);
  assert_int_equal(sh("%s verify --dir %s/a --witness %s > /dev/null 2> %s", bin, tmp, wvf, kpath), 1);
  assert_true(contains(kpath, "no cosignature by this witness"));
  assert_int_equal(sh("%s witness add --dir %s/a --witness %s %s/cp3.cosigned > /dev/null", bin, tmp, wvf, tmp), 0);
  assert_int_equal(sh("%s witness add --dir %s/a --witness %s %s/cp1.cosigned > /dev/null", bin, tmp, wvf, tmp), 0);
  assert_int_equal(sh("%s verify --dir %s/a --witness %s | grep -q 'witness: ok: 2 cosignatures by witness.example/w1; "
                      "records 1..%llu witnessed'", bin, tmp, wvf, size_of("cp3")), 0);
  assert_int_equal(sh("%s timeline --dir %s/a --type witness --format jsonl | grep -c '\"tree_size\":%llu' | grep -qx 1",
                      bin, tmp, size_of("cp1")), 0);
  /* b's checkpoint cosigned (by a fresh witness state) is not a's: refused, nothing journaled */
  assert_int_equal(witness("st-b", "cpb3", NULL), 0);
  assert_int_equal(sh("cat %s/cpb3 %s/cpb3.cosig > %s/cpb3.cosigned", tmp, tmp, tmp), 0);
  assert_int_equal(sh("%s witness add --dir %s/a --witness %s %s/cpb3.cosigned > /dev/null 2> %s", bin, tmp, wvf, tmp,
                      kpath), 1);
  assert_true(contains(kpath, "is not the one the journal signed"));
  /* a checkpoint without the witness's line, or under another witness key */
  assert_int_equal(sh("%s witness add --dir %s/a --witness %s %s/cp3 > /dev/null 2> %s", bin, tmp, wvf, tmp, kpath), 1);
  assert_true(contains(kpath, "no valid cosignature"));
  assert_int_equal(sh("%s timeline --dir %s/a --type witness --format jsonl | wc -l | grep -qx 2", bin, tmp), 0);
  /* a bundle of the whole journal ends after every cosigned checkpoint (the witness records
   * come after them): no cosignature at or after its range (tests/cli/test_bundle_head.c has
   * the bundle that carries one) */
  assert_int_equal(sh("%s export --dir %s/a --out %s/a.hems > /dev/null 2>&1 && %s verify %s/a.hems --witness %s "
                      "> /dev/null 2>&1", bin, tmp, tmp, bin, tmp, wvf), 1);
  /* a damaged state file refuses (exit 3), it is never taken as first use */
  assert_int_equal(sh("for c in %s/st/*.cp; do echo garbage > $c; done", tmp), 0);
  assert_int_equal(witness("st", "cp3", NULL), 3);
  assert_true(contains(kpath, "damaged"));
}

/* A log of our own with a chosen origin: its checkpoint (size 1, root of "leaf") signed by a key
 * named origin; the note to tmp/NAME, the verifier key into vkey. */
static void hostile_checkpoint(const char *origin, const char *name, const char *file, char *vkey, size_t cap)
{
  uint8_t pk[32], sk[64];
  crypto_sign_keypair(pk, sk);
  uint8_t root[32];
  char rb[64], body[1024], notebuf[4096];
  crypto_hash_sha256(root, (const uint8_t *)"\0leaf", 5);
  sodium_bin2base64(rb, sizeof rb, root, sizeof root, sodium_base64_VARIANT_ORIGINAL);
  int bl = snprintf(body, sizeof body, "%s\n1\n%s\n", origin, rb); /* by hand: any origin text */
  uint8_t sig[64];
  crypto_sign_detached(sig, NULL, (const uint8_t *)body, (size_t)bl, sk);
  /* the signature line by hand (C2SP signed-note): key hash = SHA-256(name \n 0x01 pk)[:4] */
  uint8_t kh[32], pre[600];
  size_t nl = strlen(name);
  memcpy(pre, name, nl);
  pre[nl] = '\n';
  pre[nl + 1] = 0x01;
  memcpy(pre + nl + 2, pk, 32);
  crypto_hash_sha256(kh, pre, nl + 34);
  uint8_t raw[68];
  memcpy(raw, kh, 4);
  memcpy(raw + 4, sig, 64);
  char b64[128];
  sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
  snprintf(notebuf, sizeof notebuf, "%s\n\xe2\x80\x94 %s %s\n", body, name, b64);
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmp, file);
  FILE *f = fopen(path, "wb");
  fputs(notebuf, f);
  fclose(f);
  struct journal_tlog_verifier v;
  assert_int_equal(journal_tlog_verifier_init(&v, name, JOURNAL_TLOG_ED25519, pk), 0);
  assert_true(journal_tlog_verifier_format(&v, vkey, cap) > 0);
}

static void test_origins(void **state)
{
  (void)state;
  char vkey[512], kpath[512];
  snprintf(kpath, sizeof kpath, "%s/err.txt", tmp);
  assert_int_equal(sh("%s witness keygen --name w --key %s/w2.key > /dev/null", bin, tmp), 0);
  assert_int_equal(sh("mkdir -p %s/deep/er", tmp), 0);
  /* "../../escape": trusted on first use, stored as a hashed name inside the state dir */
  hostile_checkpoint("../../escape", "../../escape", "esc", vkey, sizeof vkey);
  assert_int_equal(sh("%s witness --key %s/w2.key --state %s/deep/er/st --verifier '%s' %s/esc > /dev/null 2> %s", bin, tmp,
                      tmp, vkey, tmp, kpath), 0);
  assert_int_equal(sh("test -e %s/deep/escape || test -e %s/escape || test -e %s/deep/er/escape", tmp, tmp, tmp), 1);
  assert_int_equal(sh("ls %s/deep/er/st | grep -qvE '^([0-9a-f]{64}\\.cp|lock)$'", tmp), 1);
  /* its expected file name: hex SHA-256 of the origin */
  uint8_t h[32];
  char hex[65];
  crypto_hash_sha256(h, (const uint8_t *)"../../escape", 12);
  journal_hex(h, 32, hex);
  assert_int_equal(sh("test -s %s/deep/er/st/%s.cp", tmp, hex), 0);
  /* an origin with a space (no key name may hold one), signed: not a checkpoint */
  hostile_checkpoint("evil origin", "evil", "evil", vkey, sizeof vkey);
  assert_int_equal(sh("%s witness --key %s/w2.key --state %s/st2 --verifier '%s' %s/evil > /dev/null 2> %s", bin, tmp, tmp,
                      vkey, tmp, kpath), 1);
  assert_true(contains(kpath, "not a checkpoint"));
  /* an origin that is not the key's name */
  hostile_checkpoint("hems/other", "evil", "other", vkey, sizeof vkey);
  assert_int_equal(sh("%s witness --key %s/w2.key --state %s/st2 --verifier '%s' %s/other > /dev/null 2> %s", bin, tmp,
                      tmp, vkey, tmp, kpath), 1);
  assert_true(contains(kpath, "is not the verifier key's name"));
  assert_int_equal(sh("ls %s/st2/*.cp 2>/dev/null", tmp), 2); /* nothing stored */
  /* a verifier key of the wrong kind (a cosigner's) is a usage error */
  char wv[256];
  assert_int_equal(sh_line(wv, sizeof wv, "%s witness vkey --key %s/w2.key", bin, tmp), 0);
  assert_int_equal(sh("%s witness --key %s/w2.key --state %s/st2 --verifier '%s' %s/evil > /dev/null 2> %s", bin, tmp, tmp,
                      wv, tmp, kpath), 2);
}

int main(void)
{
  if (cli_test_setup("witness") != 0 || sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_witness),
    cmocka_unit_test(test_origins),
  };
  int rc = cmocka_run_group_tests(tests, NULL, teardown);
  return rc;
}
