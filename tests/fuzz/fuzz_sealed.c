/*
 * fuzz_sealed.c — fuzz target for the sealed-bundle reader (journal_unseal_stream,
 * journal/bundle_seal.c: hems decrypt), the input being a whole sealed file, opened with a fixed
 * recipient key (crypto_box_seed_keypair of 32 bytes 0x42; the corpus in
 * tests/fuzz/corpus/sealed/ holds files sealed to it, so the fuzzer reaches the chunks).
 * Properties: no crash or sanitizer report; a refusal is a journal code with one line of
 * printable ASCII saying why; what is accepted ends with a final chunk (the output is never
 * larger than the input, since each chunk adds 4 + 17 bytes around at most 64 KiB).
 */
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
  if (!ok) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static uint8_t pk[32], sk[32];
  static bool keyed;
  if (!keyed) {
    uint8_t seed[32];
    check(sodium_init() >= 0);
    memset(seed, 0x42, sizeof seed);
    crypto_box_seed_keypair(pk, sk, seed);
    keyed = true;
  }
  FILE *in = fmemopen(size ? (void *)data : (void *)"", size ? size : 1, "rb");
  check(in != NULL);
  if (!size) fgetc(in); /* an empty file */
  char *obuf = NULL;
  size_t olen = 0;
  FILE *out = open_memstream(&obuf, &olen);
  check(out != NULL);
  char why[200];
  memset(why, 0x55, sizeof why);
  int rc = journal_unseal_stream(in, out, pk, sk, why, sizeof why);
  fclose(in);
  fclose(out);
  if (rc) {
    check(rc <= -30900); /* a journal code: nothing here is an I/O error */
    size_t n = strnlen(why, sizeof why);
    check(n > 0 && n < sizeof why);
    for (size_t i = 0; i < n; i++) check((unsigned char)why[i] >= 0x20 && (unsigned char)why[i] < 0x7f);
  } else {
    check(size >= 121 + 4 + 17 && olen <= size);
  }
  free(obuf);
  return 0;
}
