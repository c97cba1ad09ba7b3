/*
 * fuzz_bundle.c — fuzz target for the bundle reader: the input is written to a temporary file,
 * opened with journal_bundle_open, and its record source drained through journal_verify with
 * the key the header lists; then opened again, its start checkpoint and (format 3) its tree
 * entry taken, a root watched, and its records
 * drained through a checked source (what show/timeline/replay read). Property: no crash, no
 * sanitizer report, no unbounded allocation.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char path[] = "/tmp/hems-fuzz-bundle-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return 0;
  size_t off = 0;
  while (off < size) {
    ssize_t n = write(fd, data + off, size - off);
    if (n <= 0) break;
    off += (size_t)n;
  }
  close(fd);
  struct journal_bundle *b = NULL;
  char why[160];
  if (journal_bundle_open(path, &b, why, sizeof why) == 0) {
    struct journal_verify_result res;
    (void)journal_verify(journal_bundle_source(b), journal_bundle_pubkey(b), journal_bundle_first_prev(b), &res, NULL, NULL);
    journal_bundle_close(b);
  }
  if (journal_bundle_open(path, &b, why, sizeof why) == 0) {
    uint64_t cseq, seq;
    const uint8_t *cdata, *bytes;
    size_t clen, len;
    (void)journal_bundle_checkpoint(b, &cseq, &cdata, &clen, why, sizeof why);
    const struct journal_bundle_tree *t;
    if (journal_bundle_tree(b, &t, why, sizeof why) == 0) journal_bundle_watch(b, t->start_size + 1);
    struct journal_checked *c = NULL;
    if (journal_checked_open(&c, journal_bundle_source(b), journal_bundle_pubkey(b), journal_bundle_first_prev(b)) == 0) {
      struct journal_record_source *src = journal_checked_source(c);
      const char *w;
      while (src->next(src->ctx, &seq, &bytes, &len, &w) == 1) {}
      journal_checked_close(c);
    }
    journal_bundle_close(b);
  }
  (void)journal_is_bundle(path);
  unlink(path);
  return 0;
}
