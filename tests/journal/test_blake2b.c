/*
 * test_blake2b.c — journal/blake2b.c, the record hash's BLAKE2b: RFC 7693 Appendix A (BLAKE2b-512
 * of "abc"), BLAKE2b-256 digests computed by Python's hashlib (an independent implementation)
 * at the block boundaries, and libsodium's crypto_generichash for every length up to 1100 bytes,
 * each fed in one piece and in three; journal_record_hash is BLAKE2b-256 of its domain and the
 * record, as docs/journal.md defines it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>
#include "blake2b_internal.h"
#include "journal.h"

static void hex(const uint8_t *p, size_t n, char *out)
{
  for (size_t i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static void digest(const uint8_t *p, size_t n, size_t outlen, uint8_t *out)
{
  struct journal__b2b s;
  journal__b2b_init(&s, outlen);
  journal__b2b_update(&s, p, n);
  journal__b2b_final(&s, out);
}

static uint8_t msg[1100];

static int setup(void **state)
{
  (void)state;
  for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i * 131 + 7);
  return sodium_init() < 0 ? -1 : 0;
}

static void test_rfc7693_abc(void **state)
{
  (void)state;
  uint8_t h[64];
  char x[129];
  digest((const uint8_t *)"abc", 3, 64, h);
  hex(h, 64, x);
  assert_string_equal(x, "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
                         "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923");
}

static void test_hashlib_256(void **state)
{
  (void)state;
  static const struct { size_t n; const char *want; } v[] = {
    { 0, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8" },
    { 127, "4a93be37d3af03b9b7210a679fd9ebecd7b4acbd94d63dce25b42da6883ae32f" },
    { 128, "c945e7bf8641fd725826599b1b32c14553d474798f7d07072c1dacca292464a4" },
    { 129, "67e9bafa1f1d736a9d5cee5a9aabd6634a323bab977dc8e40fec2bda7b7b7b61" },
    { 255, "ccbf53d2bf849ea0558ec7821ad2f4fe9364231a27f32c5eeda21c25fbb6dd31" },
    { 256, "abebbd91f14ecf1d601a9e9be2c2be68c0e1d42ed52fb6c0cf8cad221bfda721" },
    { 257, "4a277385bc6ce52ac7019426661bc6ed256973f276816cc41669aa3bfb24313d" },
    { 1000, "109d4c66307a14be694feb326a7b83e35c22e0efbfe4a8ebb6360c6eca00b09e" },
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    uint8_t h[32];
    char x[65];
    digest(msg, v[i].n, 32, h);
    hex(h, 32, x);
    assert_string_equal(x, v[i].want);
  }
  /* "abc" at 32 bytes (hashlib.blake2b(b"abc", digest_size=32)) */
  uint8_t h[32];
  char x[65];
  digest((const uint8_t *)"abc", 3, 32, h);
  hex(h, 32, x);
  assert_string_equal(x, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
}

static void test_libsodium_every_length(void **state)
{
  (void)state;
  for (size_t n = 0; n <= sizeof msg; n++)
    for (size_t outlen = 16; outlen <= 64; outlen += 16) {
      uint8_t a[64], b[64], c[64];
      assert_int_equal(crypto_generichash(a, outlen, msg, n, NULL, 0), 0);
      digest(msg, n, outlen, b);
      struct journal__b2b s; /* in three pieces: the buffering across block edges */
      journal__b2b_init(&s, outlen);
      journal__b2b_update(&s, msg, n / 3);
      journal__b2b_update(&s, msg + n / 3, n / 2 - n / 3);
      journal__b2b_update(&s, msg + n / 2, n - n / 2);
      journal__b2b_final(&s, c);
      assert_memory_equal(a, b, outlen);
      assert_memory_equal(a, c, outlen);
    }
}

/* journal_record_hash: BLAKE2b-256 over "hems.record.v1" with its NUL, then the record
 * (hashlib.blake2b(b"hems.record.v1\0" + b"\xa0", digest_size=32)). */
static void test_record_hash_domain(void **state)
{
  (void)state;
  static const uint8_t rec[1] = { 0xa0 };
  uint8_t h[32];
  char x[65];
  journal_record_hash(rec, 1, h);
  hex(h, 32, x);
  assert_string_equal(x, "7be573d5acd0725387a4010ff16a3864a9be969e82d6bd6ee8397a43af1244a0");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rfc7693_abc),
    cmocka_unit_test(test_hashlib_256),
    cmocka_unit_test(test_libsodium_every_length),
    cmocka_unit_test(test_record_hash_domain),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
