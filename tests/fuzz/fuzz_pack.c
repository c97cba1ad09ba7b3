/*
 * fuzz_pack.c — fuzz target for the format-3 pack decoder (journal/pack.c): a pack is one value
 * of the `packs` database in DIR/journal/data.mdb, which anyone who can write the data dir can
 * edit, so its bytes are outside bytes.
 * Properties: no crash or sanitizer report, whatever the bytes; every record the checked decode
 * serves (records 0..good-1) is within JOURNAL_RECORD_MAX; the fast decode (replay's: no hashing, prev left zero) serves the same records, byte for byte
 * apart from prev (bytes 4..35), wherever both serve one; and a pack the checked decode serves
 * whole encodes again (journal__pack_encode) to a pack that decodes to the same records.
 * The corpus (tests/fuzz/corpus/pack/) holds packs written by the store and near misses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "journal.h"
#include "pack_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void served(const struct pack_cache *c, uint32_t i, const uint8_t **p, size_t *len)
{
  *p = c->canon + c->off[i];
  *len = c->off[i + 1] - c->off[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct pack_cache chk, fast;
  memset(&chk, 0, sizeof chk);
  memset(&fast, 0, sizeof fast);
  if (journal__pack_load(&chk, 1, data, size, PACK_CHECKED) < 0 || journal__pack_load(&fast, 1, data, size, PACK_FAST) < 0)
    goto out; /* allocation failure */
  if (chk.good > chk.n || fast.good > fast.n) abort();
  for (uint32_t i = 0; i < chk.good; i++) {
    const uint8_t *p;
    size_t len;
    served(&chk, i, &p, &len);
    if (len > JOURNAL_RECORD_MAX) abort();
    if (i < fast.good) {
      /* a record stored with its prev comes back the same; one stored without it differs
         only in the 32 prev bytes the fast decode leaves zero */
      const uint8_t *q;
      size_t qlen;
      served(&fast, i, &q, &qlen);
      if (qlen != len) abort();
      if (memcmp(q, p, len) && (len < 36 || memcmp(q, p, 4) || memcmp(q + 36, p + 36, len - 36))) abort();
    }
  }
  if (chk.good == chk.n && chk.n > 0) {
    const uint8_t **rec = calloc(chk.n, sizeof *rec);
    size_t *lens = calloc(chk.n, sizeof *lens);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    uint8_t *v = NULL;
    size_t vlen = 0;
    if (rec && lens && cc) {
      for (uint32_t i = 0; i < chk.n; i++) served(&chk, i, &rec[i], &lens[i]);
      uint8_t prev0[JOURNAL_HASH_BYTES] = { 0 };
      if (lens[0] >= 36) memcpy(prev0, rec[0] + 4, sizeof prev0);
      if (journal__pack_encode(cc, PACK_ZSTD_LEVEL, rec, lens, chk.n, NULL, prev0, &v, &vlen) == 0) {
        struct pack_cache again;
        memset(&again, 0, sizeof again);
        if (journal__pack_load(&again, 1, v, vlen, PACK_CHECKED) == 0) {
          if (again.good != chk.n || again.off[chk.n] != chk.off[chk.n] || memcmp(again.canon, chk.canon, chk.off[chk.n]))
            abort();
        }
        journal__pack_cache_free(&again);
      }
    }
    free(v);
    ZSTD_freeCCtx(cc);
    free(rec);
    free(lens);
  }
out:
  journal__pack_cache_free(&chk);
  journal__pack_cache_free(&fast);
  return 0;
}
