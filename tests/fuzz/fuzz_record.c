/*
 * fuzz_record.c — fuzz target for the record decoder (journal_record_decode) and the code
 * that reads outside record bytes: the verifier's fast path, the JSON renderer and the
 * branch extractor. Properties: no crash or sanitizer report; a record that decodes re-encodes
 * (within the size limit) and agrees with journal_record_peek on seq and type; and the hot-path
 * tokenizer (journal__cr_next) gives exactly the answers of the libcbor reference
 * (journal__cr_next_libcbor) — kind, value, string, length and error — item by item, with and
 * without tags allowed (schema v 3 typed arrays); and the
 * fast record decoder (journal_record_decode: inline heads, keys matched against the tables)
 * gives exactly the answers of the reference decode (journal__record_decode_ref: the table walk
 * over the libcbor tokenizer) — the same return code and, on success, the same record byte for
 * byte (both start from a zeroed record, so padding compares too). Records of schema v 1 and
 * v 3 (integer keys, typed-array columns; corpus files v3-*) alike. A v 3 record that decodes
 * names the same branches (journal_record_branches: from the decoded record) as its v 1 form
 * (read by key name from the CBOR).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "journal.h"
#include "codec_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walks the input as a flat sequence of items with both tokenizers; any disagreement aborts. */
static void tokenizers_agree(const uint8_t *buf, size_t size, uint8_t mode)
{
  struct cr a = { buf, size, 0, mode }, b = { buf, size, 0, mode };
  for (int n = 0; n < 4096; n++) {
    struct ctok ta, tb;
    memset(&ta, 0, sizeof ta);
    memset(&tb, 0, sizeof tb);
    int ra = journal__cr_next(&a, &ta), rb = journal__cr_next_libcbor(&b, &tb);
    if (ra != rb) abort();
    if (ra) return;
    if (ta.kind != tb.kind || ta.u != tb.u || ta.len != tb.len || ta.start != tb.start || ta.end != tb.end) abort();
    if (ta.len && memcmp(ta.ptr, tb.ptr, ta.len) != 0) abort();
    if (a.pos != b.pos) abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  /* Copy so a read past the end is caught by ASan on the exact buffer. */
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf) return 0;
  if (size) memcpy(buf, data, size);
  tokenizers_agree(buf, size, 0);
  tokenizers_agree(buf, size, CR_ALLOW_TAG); /* as where schema v 3 reads a typed array */
  static struct journal_record r, ref;
  int rc = journal_record_decode(buf, size, &r);
  int ref_rc = journal__record_decode_ref(buf, size, &ref);
  if (rc != ref_rc) abort();
  if (rc == 0 && memcmp(&r, &ref, sizeof r) != 0) abort();
  uint64_t ps;
  unsigned pt;
  uint8_t prev[JOURNAL_HASH_BYTES];
  int prc = journal_record_peek(buf, size, &ps, &pt, prev);
  if (rc == 0) {
    if (prc != 0 || ps != r.seq || pt != r.type || memcmp(prev, r.prev, JOURNAL_HASH_BYTES) != 0) abort();
    static uint8_t out[JOURNAL_RECORD_MAX];
    size_t len = 0;
    int erc = journal_record_encode(&r, out, sizeof out, &len);
    if (erc != 0 && erc != -ENOSPC && erc != JOURNAL_ETOOBIG) abort();
    if (erc == 0) {
      static struct journal_record r2;
      if (journal_record_decode(out, len, &r2) != 0) abort();
      if (journal__record_decode_ref(out, len, &ref) != 0 || memcmp(&r2, &ref, sizeof r2) != 0) abort();
    }
  }
  char *json = journal_record_to_json(buf, size, JOURNAL_JSON_WITH_HASH);
  if (rc == 0 && !json) abort();
  free(json);
  uint16_t br[64];
  int nb = journal_record_branches(buf, size, br, 64);
  if (rc == 0 && r.version == JOURNAL_SCHEMA_V3) {
    static uint8_t v1[JOURNAL_RECORD_MAX];
    size_t v1len = 0;
    r.version = JOURNAL_SCHEMA_V1;
    if (journal_record_encode(&r, v1, sizeof v1, &v1len) == 0) {
      uint16_t b1[64];
      int n1 = journal_record_branches(v1, v1len, b1, 64);
      if (n1 != nb) abort();
      for (int i = 0; i < nb; i++) { /* the same set (each list is duplicate-free) */
        int j = 0;
        while (j < n1 && b1[j] != br[i]) j++;
        if (j == n1) abort();
      }
    }
  }
  free(buf);
  return 0;
}
