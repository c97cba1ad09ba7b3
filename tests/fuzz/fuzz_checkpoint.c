/*
 * fuzz_checkpoint.c — fuzz target for everything checkpoint.c parses from outside: checkpoint
 * bodies, the hems extension lines, verifier keys and signed notes (under the log key and the
 * witness cosignature key of the corpus: Ed25519 seeds of 32 × 0x01 and 32 × 0x02, names
 * "hems/00112233445566778899aabbccddeeff" and "witness.example/w1").
 * Properties: no crash or sanitizer report; whatever parses formats back to exactly the input
 * (one canonical text); an opened note's body lies inside the input and ends in '\n'.
 * The corpus (tests/fuzz/corpus/checkpoint/) holds text files: valid signed and cosigned
 * checkpoints, bodies, extension lines and verifier keys, and near misses of each.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct journal_tlog_verifier vlog, vwit;

static void keys(void)
{
  static bool done;
  if (done) return;
  uint8_t seed[32], pk[32], sk[64];
  if (sodium_init() < 0) abort();
  memset(seed, 1, sizeof seed);
  crypto_sign_seed_keypair(pk, sk, seed);
  if (journal_tlog_verifier_init(&vlog, "hems/00112233445566778899aabbccddeeff", JOURNAL_TLOG_ED25519, pk)) abort();
  memset(seed, 2, sizeof seed);
  crypto_sign_seed_keypair(pk, sk, seed);
  if (journal_tlog_verifier_init(&vwit, "witness.example/w1", JOURNAL_TLOG_COSIG_V1, pk)) abort();
  done = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  keys();
  const char *text = (const char *)data;
  static char out[JOURNAL_TLOG_NOTE_MAX + 1];

  struct journal_tlog_checkpoint c;
  if (journal_tlog_checkpoint_parse(text, size, &c) == 0) {
    int n = journal_tlog_checkpoint_format(&c, out, sizeof out);
    if (n < 0 || (size_t)n != size || memcmp(out, data, size)) abort();
    struct journal_tlog_hems e;
    if (journal_tlog_hems_parse(c.ext, &e) == 0) {
      n = journal_tlog_hems_format(&e, out, sizeof out);
      if (n < 0 || strcmp(out, c.ext)) abort();
    }
  }
  char ext[JOURNAL_TLOG_EXT_MAX + 1];
  if (size < sizeof ext) {
    /* The extension API takes a C string: it ends at the first NUL, so that is what must
       come back from formatting, not the bytes after it. */
    memcpy(ext, data, size);
    ext[size] = 0;
    size_t elen = strlen(ext);
    struct journal_tlog_hems e;
    if (journal_tlog_hems_parse(ext, &e) == 0) {
      int n = journal_tlog_hems_format(&e, out, sizeof out);
      if (n < 0 || (size_t)n != elen || memcmp(out, ext, elen)) abort();
    }
  }
  struct journal_tlog_verifier v;
  if (journal_tlog_verifier_parse(text, size, &v) == 0) {
    int n = journal_tlog_verifier_format(&v, out, sizeof out);
    if (n < 0 || (size_t)n != size || memcmp(out, data, size)) abort();
  }
  size_t blen;
  uint64_t t;
  if (journal_tlog_open(text, size, &vlog, &blen, NULL) == 0 && (blen == 0 || blen >= size || data[blen - 1] != '\n'))
    abort();
  if (journal_tlog_open(text, size, &vwit, &blen, &t) == 0 && (blen == 0 || blen >= size || t > INT64_MAX)) abort();
  return 0;
}
