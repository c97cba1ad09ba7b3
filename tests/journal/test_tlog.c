/*
 * test_tlog.c — checkpoints, signed notes, cosignatures and verifier keys (journal/checkpoint.c).
 *
 * Known answers come from outside: Go's golang.org/x/mod/sumdb/note tests (Debian's copy) give a
 * verifier key, its secret seed and the exact signed note Go writes for a text — Ed25519 is
 * deterministic, so our note must equal it byte for byte, and Go's own note must open with our
 * verifier. Times are checked against `date -u -d @T`. The strict parser is shown a table of
 * near-miss bodies, each refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>
#include <sodium.h>
#include "journal.h"

struct seed_signer {
  struct journal_signer s;
  uint8_t sk[crypto_sign_SECRETKEYBYTES];
};

static int seed_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[JOURNAL_SIG_BYTES])
{
  struct seed_signer *k = ctx;
  return crypto_sign_detached(sig, NULL, msg, len, k->sk);
}

static void seed_signer_init(struct seed_signer *k, const uint8_t seed[32])
{
  memset(k, 0, sizeof *k);
  crypto_sign_seed_keypair(k->s.pubkey, k->sk, seed);
  k->s.sign = seed_sign;
  k->s.ctx = k;
}

/* Go note_test.go: "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz" */
static void peter(struct seed_signer *k)
{
  static const char b64[] = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
  uint8_t raw[33];
  size_t n;
  assert_int_equal(sodium_base642bin(raw, sizeof raw, b64, strlen(b64), NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL), 0);
  assert_int_equal(n, 33);
  assert_int_equal(raw[0], 1);
  seed_signer_init(k, raw + 1);
}

static const char peter_vkey[] = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
static const char peter_text[] = "If you think cryptography is the answer to your problem,\n"
                                 "then you don't know what your problem is.\n";
static const char peter_note[] = "If you think cryptography is the answer to your problem,\n"
                                 "then you don't know what your problem is.\n"
                                 "\n"
                                 "\xe2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

static void test_go_known_answers(void **state)
{
  (void)state;
  struct seed_signer k;
  peter(&k);
  struct journal_tlog_verifier v, parsed;
  assert_int_equal(journal_tlog_verifier_init(&v, "PeterNeumann", JOURNAL_TLOG_ED25519, k.s.pubkey), 0);
  assert_int_equal(v.key_hash, 0xc74f20a3u);
  char text[JOURNAL_TLOG_VKEY_MAX + 1];
  assert_int_equal(journal_tlog_verifier_format(&v, text, sizeof text), (int)strlen(peter_vkey));
  assert_string_equal(text, peter_vkey);
  assert_int_equal(journal_tlog_verifier_parse(peter_vkey, strlen(peter_vkey), &parsed), 0);
  assert_memory_equal(&parsed, &v, sizeof v);
  char note[1024];
  int n = journal_tlog_sign(peter_text, strlen(peter_text), "PeterNeumann", &k.s, note, sizeof note);
  assert_int_equal(n, (int)strlen(peter_note));
  assert_memory_equal(note, peter_note, (size_t)n);
  size_t blen;
  assert_int_equal(journal_tlog_open(peter_note, strlen(peter_note), &v, &blen, NULL), 0);
  assert_int_equal(blen, strlen(peter_text));
  /* Go's bad verifier keys (note_test.go) are bad here too */
  static const char *const bad[] = {
    "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
    "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  /* hash off by one */
    "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  /* not the canonical case */
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\n",
    "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "PeterNeumann+c74f20a3",
    "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(journal_tlog_verifier_parse(bad[i], strlen(bad[i]), &parsed), JOURNAL_ENOTE);
}

static void test_note_rules(void **state)
{
  (void)state;
  struct seed_signer k, other;
  peter(&k);
  uint8_t seed[32];
  memset(seed, 7, sizeof seed);
  seed_signer_init(&other, seed);
  struct journal_tlog_verifier v, vo;
  assert_int_equal(journal_tlog_verifier_init(&v, "PeterNeumann", JOURNAL_TLOG_ED25519, k.s.pubkey), 0);
  assert_int_equal(journal_tlog_verifier_init(&vo, "PeterNeumann", JOURNAL_TLOG_ED25519, other.s.pubkey), 0);
  size_t blen, len = strlen(peter_note);
  char m[2048];
  /* another key under the same name: its line is ignored, so the note is not signed by it */
  assert_int_equal(journal_tlog_open(peter_note, len, &vo, &blen, NULL), JOURNAL_EBADSIG);
  /* every changed byte of the body, and of the signature line, is refused */
  for (size_t i = 0; i < len - 1; i++) {
    memcpy(m, peter_note, len);
    m[i] = m[i] == 'A' ? 'B' : 'A';
    int rc = journal_tlog_open(m, len, &v, &blen, NULL);
    assert_true(rc == JOURNAL_EBADSIG || rc == JOURNAL_ENOTE);
  }
  /* unknown signers are ignored; a second, bad line by the known key spoils the note */
  int n = snprintf(m, sizeof m, "%s\xe2\x80\x94 witness.example/w1 AAAAAAAAAAAAAAAAAAAAAA==\n", peter_note);
  assert_int_equal(journal_tlog_open(m, (size_t)n, &v, &blen, NULL), 0);
  n = snprintf(m, sizeof m, "%s\xe2\x80\x94 PeterNeumann x08go/ZJkuBS9UH/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", peter_note);
  assert_int_equal(journal_tlog_open(m, (size_t)n, &v, &blen, NULL), JOURNAL_EBADSIG);
  /* malformed notes */
  static const char *const bad[] = {
    "",                                   /* empty */
    "text\n",                             /* no signatures */
    "text\n\n",                           /* blank line but no signature */
    "text\n\n\xe2\x80\x94 PeterNeumann AAAA", /* no final newline */
    "text\n\n- PeterNeumann AAAAAAAA\n",  /* ASCII dash */
    "text\n\n\xe2\x80\x94 PeterNeumann\n",/* no signature */
    "text\n\n\xe2\x80\x94 Peter+Neumann AAAAAAAA\n",
    "text\n\n\xe2\x80\x94 PeterNeumann AAAAAAA\n", /* not base64 */
    "text\n\n\xe2\x80\x94 PeterNeumann AAAA AAAA\n",
    "te\x01xt\n\n\xe2\x80\x94 PeterNeumann AAAAAAAA\n", /* control character */
    "te\xc3xt\n\n\xe2\x80\x94 PeterNeumann AAAAAAAA\n", /* bad UTF-8 */
    "te\xed\xa0\x80xt\n\n\xe2\x80\x94 PeterNeumann AAAAAAAA\n", /* a surrogate */
    "text\r\n\n\xe2\x80\x94 PeterNeumann AAAAAAAA\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(journal_tlog_open(bad[i], strlen(bad[i]), &v, &blen, NULL), JOURNAL_ENOTE);
  /* too many signature lines */
  n = snprintf(m, sizeof m, "%s", peter_note);
  for (int i = 0; i < JOURNAL_TLOG_SIGS_MAX; i++)
    n += snprintf(m + n, sizeof m - (size_t)n, "\xe2\x80\x94 w%d AAAAAAAA\n", i);
  assert_int_equal(journal_tlog_open(m, (size_t)n, &v, &blen, NULL), JOURNAL_ENOTE);
  /* names the spec forbids cannot sign */
  assert_int_equal(journal_tlog_sign(peter_text, strlen(peter_text), "a b", &k.s, m, sizeof m), JOURNAL_ENOTE);
  assert_int_equal(journal_tlog_sign(peter_text, strlen(peter_text), "a\xe3\x80\x80" "b", &k.s, m, sizeof m), JOURNAL_ENOTE);
  assert_int_equal(journal_tlog_sign("no newline", 10, "a", &k.s, m, sizeof m), JOURNAL_ENOTE);
}

static const uint8_t root32[32] = { 0x0a, 0xc5, 0x18, 0x6a, 0x91, 0x86, 0x3e, 0x8e, 0x1d, 0x90, 0xc8, 0x08, 0x01,
                                    0x4a, 0xa8, 0x9b, 0xf5, 0xda, 0x8e, 0x3e, 0xe1, 0xd9, 0xf0, 0x76, 0x30, 0xf0,
                                    0x37, 0x8f, 0x68, 0xf1, 0xab, 0x62 };

static void test_checkpoint_body(void **state)
{
  (void)state;
  /* the C2SP tlog-checkpoint example body */
  static const char example[] = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
  struct journal_tlog_checkpoint c;
  assert_int_equal(journal_tlog_checkpoint_parse(example, strlen(example), &c), 0);
  assert_string_equal(c.origin, "example.com/behind-the-sofa");
  assert_int_equal(c.size, 20852163);
  assert_memory_equal(c.root, root32, 32);
  assert_string_equal(c.ext, "");
  char out[JOURNAL_TLOG_BODY_MAX + 1];
  assert_int_equal(journal_tlog_checkpoint_format(&c, out, sizeof out), (int)strlen(example));
  assert_string_equal(out, example);
  static const char ext[] = "example.com/log\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\nstate ab\nx y z\n";
  assert_int_equal(journal_tlog_checkpoint_parse(ext, strlen(ext), &c), 0);
  assert_string_equal(c.ext, "state ab\nx y z\n");
  static const char *const bad[] = {
    "example.com/log\n020852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", /* leading zero */
    "example.com/log\n+5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    "example.com/log\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    "example.com/log\n 5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    "example.com/log\n\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    "example.com/log\n9223372036854775808\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", /* 2^63 */
    "example.com/log\n99999999999999999999\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    "\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",                            /* empty origin */
    "example.com log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    "example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",             /* no final newline */
    "example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n",           /* non-zero pad bits */
    "example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n",            /* no padding */
    "example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2IA\n",
    "example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n",         /* empty extension */
    "example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\nx\n\ny\n",
    "example.com/log\r\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    "example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\nx\ty\n",
    "example.com/log\n5\n",
    "example.com/log\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(journal_tlog_checkpoint_parse(bad[i], strlen(bad[i]), &c), JOURNAL_ENOTE);
  }
  /* format refuses what parse would */
  memset(&c, 0, sizeof c);
  strcpy(c.origin, "a+b");
  assert_int_equal(journal_tlog_checkpoint_format(&c, out, sizeof out), JOURNAL_ENOTE);
  strcpy(c.origin, "hems/x");
  strcpy(c.ext, "no newline");
  assert_int_equal(journal_tlog_checkpoint_format(&c, out, sizeof out), JOURNAL_ENOTE);
  assert_int_equal(journal_tlog_checkpoint_format(&c, out, 8), JOURNAL_ENOTE);
  c.ext[0] = 0;
  assert_int_equal(journal_tlog_checkpoint_format(&c, out, 8), -ENOSPC);
}

static void test_hems_lines(void **state)
{
  (void)state;
  struct journal_tlog_hems e, p;
  memset(&e, 0, sizeof e);
  for (int i = 0; i < 32; i++) e.state_hash[i] = (uint8_t)i, e.head_hash[i] = (uint8_t)(0xff - i);
  static const struct { int64_t t; const char *text; } times[] = {
    { 1764869486000000000ll, "2025-12-04T17:31:26Z" },          /* date -u -d @1764869486 */
    { 1764869486000000001ll, "2025-12-04T17:31:26.000000001Z" },
    { 951782400123456789ll, "2000-02-29T00:00:00.123456789Z" }, /* date -u -d @951782400 */
    { -1, "1969-12-31T23:59:59.999999999Z" },
    { 0, "1970-01-01T00:00:00Z" },
  };
  char out[512], want[512];
  for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
    e.time_ns = times[i].t;
    int n = journal_tlog_hems_format(&e, out, sizeof out);
    snprintf(want, sizeof want,
             "state 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
             "head fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0efeeedecebeae9e8e7e6e5e4e3e2e1e0\n"
             "time %s\n", times[i].text);
    assert_string_equal(out, want);
    assert_int_equal(n, (int)strlen(want));
    assert_int_equal(journal_tlog_hems_parse(out, &p), 0);
    assert_memory_equal(&p, &e, sizeof e);
  }
  static const char *const bad_times[] = {
    "2025-12-04T17:31:26.000000000Z", "2025-12-04T17:31:26.1Z", "2025-12-04T17:31:26+00:00",
    "2025-12-04 17:31:26Z", "2025-13-04T17:31:26Z", "2025-02-30T00:00:00Z", "2025-12-04T24:00:00Z",
    "2025-12-04T17:31:60Z", "2025-12-04T17:31:26z", "9999-12-31T23:59:59Z", "2025-12-04T17:31:26.12345678aZ",
  };
  for (size_t i = 0; i < sizeof bad_times / sizeof bad_times[0]; i++) {
    snprintf(out, sizeof out,
             "state 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
             "head fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0efeeedecebeae9e8e7e6e5e4e3e2e1e0\n"
             "time %s\n", bad_times[i]);
    assert_int_equal(journal_tlog_hems_parse(out, &p), JOURNAL_ENOTE);
  }
  static const char *const bad[] = {
    "head fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0efeeedecebeae9e8e7e6e5e4e3e2e1e0\n"
    "state 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\ntime 1970-01-01T00:00:00Z\n",
    "state 000102030405060708090A0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
    "head fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0efeeedecebeae9e8e7e6e5e4e3e2e1e0\ntime 1970-01-01T00:00:00Z\n",
    "state 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
    "head fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0efeeedecebeae9e8e7e6e5e4e3e2e1e0\ntime 1970-01-01T00:00:00Z\nx\n",
    "state 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_int_equal(journal_tlog_hems_parse(bad[i], &p), JOURNAL_ENOTE);
  char origin[64];
  assert_int_equal(journal_tlog_origin("00112233445566778899aabbccddeeff", origin, sizeof origin), 37);
  assert_string_equal(origin, "hems/00112233445566778899aabbccddeeff");
  assert_int_equal(journal_tlog_origin("00112233445566778899AABBCCDDEEFF", origin, sizeof origin), JOURNAL_ENOTE);
  assert_int_equal(journal_tlog_origin("0011", origin, sizeof origin), JOURNAL_ENOTE);
}

/* A cosignature (C2SP tlog-cosignature/v1): a line of 4 + 8 + 64 bytes whose key hash uses type
 * 0x04; it opens with a cosignature verifier (giving its time), not with a note verifier of the
 * same key, and the log's own signature is untouched by it. */
static void test_cosignature(void **state)
{
  (void)state;
  struct seed_signer log, w;
  uint8_t seed[32];
  memset(seed, 1, sizeof seed);
  seed_signer_init(&log, seed);
  memset(seed, 2, sizeof seed);
  seed_signer_init(&w, seed);
  struct journal_tlog_checkpoint c;
  memset(&c, 0, sizeof c);
  strcpy(c.origin, "hems/00112233445566778899aabbccddeeff");
  c.size = 42;
  memcpy(c.root, root32, 32);
  struct journal_tlog_hems e = { { 1 }, { 2 }, 1764869486000000000ll, false, { 0 } };
  assert_true(journal_tlog_hems_format(&e, c.ext, sizeof c.ext) > 0);
  char body[JOURNAL_TLOG_BODY_MAX + 1], note[JOURNAL_TLOG_NOTE_MAX], line[JOURNAL_TLOG_SIGLINE_MAX + 1];
  int blen = journal_tlog_checkpoint_format(&c, body, sizeof body);
  assert_true(blen > 0);
  int n = journal_tlog_sign(body, (size_t)blen, c.origin, &log.s, note, sizeof note);
  assert_true(n > 0);
  int ln = journal_tlog_cosign(body, (size_t)blen, "witness.example/w1", &w.s, 1679315147, line, sizeof line);
  assert_true(ln > 0);
  memcpy(note + n, line, (size_t)ln + 1);
  n += ln;
  struct journal_tlog_verifier vlog, vw, vw_as_note;
  assert_int_equal(journal_tlog_verifier_init(&vlog, c.origin, JOURNAL_TLOG_ED25519, log.s.pubkey), 0);
  assert_int_equal(journal_tlog_verifier_init(&vw, "witness.example/w1", JOURNAL_TLOG_COSIG_V1, w.s.pubkey), 0);
  assert_int_equal(journal_tlog_verifier_init(&vw_as_note, "witness.example/w1", JOURNAL_TLOG_ED25519, w.s.pubkey), 0);
  assert_int_not_equal(vw.key_hash, vw_as_note.key_hash);
  size_t bl;
  uint64_t t = 0;
  assert_int_equal(journal_tlog_open(note, (size_t)n, &vlog, &bl, NULL), 0);
  assert_int_equal(bl, (size_t)blen);
  assert_int_equal(journal_tlog_open(note, (size_t)n, &vw, &bl, &t), 0);
  assert_int_equal(t, 1679315147);
  assert_int_equal(journal_tlog_open(note, (size_t)n, &vw_as_note, &bl, NULL), JOURNAL_EBADSIG);
  /* the line: "— witness.example/w1 " + base64 of 76 bytes, the timestamp big-endian at 4..11 */
  assert_int_equal(memcmp(line, "\xe2\x80\x94 witness.example/w1 ", 23), 0);
  uint8_t raw[80];
  size_t rl;
  assert_int_equal(sodium_base642bin(raw, sizeof raw, line + 23, (size_t)ln - 24, NULL, &rl, NULL, sodium_base64_VARIANT_ORIGINAL), 0);
  assert_int_equal(rl, 76);
  assert_int_equal(((uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 | (uint32_t)raw[2] << 8 | raw[3]), vw.key_hash);
  static const uint8_t ts[8] = { 0, 0, 0, 0, 0x64, 0x18, 0x50, 0xcb }; /* 1679315147 */
  assert_memory_equal(raw + 4, ts, 8);
  /* the signed message is "cosignature/v1\ntime 1679315147\n" || body */
  char msg[64 + JOURNAL_TLOG_BODY_MAX];
  int ml = snprintf(msg, sizeof msg, "cosignature/v1\ntime 1679315147\n%s", body);
  assert_int_equal(crypto_sign_verify_detached(raw + 12, (const uint8_t *)msg, (size_t)ml, w.s.pubkey), 0);
  /* a witness cosigns checkpoints only */
  assert_int_equal(journal_tlog_cosign(peter_text, strlen(peter_text), "w", &w.s, 1, line, sizeof line), JOURNAL_ENOTE);
}

static size_t slurp(const char *rel, char *out, size_t cap)
{
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", HEMS_SOURCE_DIR, rel);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  size_t n = fread(out, 1, cap - 1, f);
  fclose(f);
  out[n] = 0;
  return n;
}

/* The example in docs/journal.md is the fuzz corpus's cosigned checkpoint, byte for byte, and
 * it opens under both verifier keys the docs give (also the corpus's). */
static void test_docs_example(void **state)
{
  (void)state;
  static char doc[200000], note[JOURNAL_TLOG_NOTE_MAX + 1], vkey[512], wkey[512];
  slurp("docs/journal.md", doc, sizeof doc);
  size_t n = slurp("tests/fuzz/corpus/checkpoint/note-cosigned", note, sizeof note);
  slurp("tests/fuzz/corpus/checkpoint/vkey", vkey, sizeof vkey);
  slurp("tests/fuzz/corpus/checkpoint/vkey-cosig", wkey, sizeof wkey);
  assert_non_null(strstr(doc, note));
  assert_non_null(strstr(doc, vkey));
  assert_non_null(strstr(doc, wkey));
  struct journal_tlog_verifier v, w;
  assert_int_equal(journal_tlog_verifier_parse(vkey, strlen(vkey), &v), 0);
  assert_int_equal(journal_tlog_verifier_parse(wkey, strlen(wkey), &w), 0);
  size_t bl;
  uint64_t t;
  assert_int_equal(journal_tlog_open(note, n, &v, &bl, NULL), 0);
  assert_int_equal(journal_tlog_open(note, n, &w, &bl, &t), 0);
  struct journal_tlog_checkpoint c;
  struct journal_tlog_hems e;
  assert_int_equal(journal_tlog_checkpoint_parse(note, bl, &c), 0);
  assert_string_equal(c.origin, v.name);
  assert_int_equal(journal_tlog_hems_parse(c.ext, &e), 0);
  /* the v 3 seal's checkpoint: in the docs too, signed by the same log key, four hems lines */
  n = slurp("tests/fuzz/corpus/checkpoint/note-seal", note, sizeof note);
  assert_non_null(strstr(doc, note));
  assert_int_equal(journal_tlog_open(note, n, &v, &bl, NULL), 0);
  assert_int_equal(journal_tlog_checkpoint_parse(note, bl, &c), 0);
  assert_int_equal(journal_tlog_hems_parse(c.ext, &e), 0);
  assert_true(e.has_seal);
  assert_int_equal(c.size, 1432817);
}

int main(void)
{
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_go_known_answers),
    cmocka_unit_test(test_note_rules),
    cmocka_unit_test(test_checkpoint_body),
    cmocka_unit_test(test_hems_lines),
    cmocka_unit_test(test_cosignature),
    cmocka_unit_test(test_docs_example),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
