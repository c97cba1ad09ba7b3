/*
 * fuzz_sunspec.c — fuzz target for the SunSpec decoder of `hems bridge sunspec`
 * (cli/sunspec_decode.c). The input's first byte picks what runs: even, a model chain (the
 * rest as big-endian (id, len) pairs walked from base 40000); odd, one model decoded (the next
 * two bytes its id, the rest its registers, big-endian), then the der state of the result.
 * Properties: no crash or sanitizer report; the walk ends (done or bad) within
 * SUNSPEC_MODELS_MAX models, each model's address is its header's plus 2 and the next header
 * follows its length; a decoded value is present only when its register and its scale factor
 * are implemented (W 0x8000, SoC 0xFFFF and an SF of 0x8000 leave it absent); strings are
 * printable ASCII; a der state is -1 or a journal_der_state; a DER command's plan (each action,
 * a permille from the first register) writes only points of models 123 / 124, and a limit shows
 * once its writes read back (cli/sunspec_control.c). The corpus
 * (tests/fuzz/corpus/sunspec/) holds one input per file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sunspec.h"
#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
  if (!ok) abort();
}

static void walk(const uint8_t *d, size_t n)
{
  struct sunspec_chain c;
  memset(&c, 0, sizeof c);
  uint16_t addr = 40002;
  for (size_t i = 0; i + 4 <= n; i += 4) {
    uint16_t id = (uint16_t)(d[i] << 8 | d[i + 1]), len = (uint16_t)(d[i + 2] << 8 | d[i + 3]), next = 0;
    enum sunspec_step s = sunspec_walk(&c, addr, id, len, &next);
    if (s != SUNSPEC_NEXT) {
      check(s == SUNSPEC_DONE ? id == SUNSPEC_END : c.n == SUNSPEC_MODELS_MAX || (uint32_t)addr + 2 + len > 0xFFFF);
      return;
    }
    check(c.n >= 1 && c.n <= SUNSPEC_MODELS_MAX);
    check(c.m[c.n - 1].id == id && c.m[c.n - 1].addr == addr + 2 && next == addr + 2 + len);
    addr = next;
  }
}

static bool printable(const char *s, size_t cap)
{
  size_t n = strnlen(s, cap);
  if (n == cap) return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < 0x20 || s[i] >= 0x7f) return false;
  return true;
}

static void model(const uint8_t *d, size_t n)
{
  if (n < 2) return;
  uint16_t id = (uint16_t)(d[0] << 8 | d[1]);
  size_t nr = (n - 2) / 2;
  uint16_t *r = malloc(nr ? nr * sizeof *r : 1); /* exactly nr registers: reads past them are caught */
  if (!r) return;
  for (size_t i = 0; i < nr; i++) r[i] = (uint16_t)(d[2 + 2 * i] << 8 | d[3 + 2 * i]);
  struct sunspec_obs o;
  memset(&o, 0, sizeof o);
  int rc = sunspec_decode_model(&o, id, r, nr);
  if (rc) {
    check(!o.have_w && !o.have_soc && !o.have_hz && !o.models && !o.have_common);
  } else {
    check(sunspec_model_wanted(id));
    check(printable(o.mn, sizeof o.mn) && printable(o.md, sizeof o.md) && printable(o.vr, sizeof o.vr) &&
          printable(o.sn, sizeof o.sn));
    if (id >= 101 && id <= 103) check(o.have_w == (r[12] != 0x8000 && r[13] != 0x8000 && (int16_t)r[13] >= -10 && (int16_t)r[13] <= 10));
    if (id == 124) check(o.have_soc == (r[6] != 0xFFFF && r[20] != 0x8000 && (int16_t)r[20] >= -10 && (int16_t)r[20] <= 10));
    if (id == 802) check(o.have_soc == (r[9] != 0xFFFF && r[54] != 0x8000 && (int16_t)r[54] >= -10 && (int16_t)r[54] <= 10));
    if (id == 802) check(o.have_w == (r[45] != 0x8000 && r[61] != 0x8000 && (int16_t)r[61] >= -10 && (int16_t)r[61] <= 10));
    if (o.have_w && (id != 802)) {
      int64_t sfr = (int16_t)r[id == 701 ? 114 : 13], raw = (int16_t)r[id == 701 ? 8 : 12], want;
      check(sunspec_scale_milli(raw, (int)sfr, &want) && want == o.w_mw);
    }
  }
  for (int ess = 0; ess < 2; ess++) {
    int st = sunspec_der_state(&o, ess);
    check(st == -1 || (st >= 0 && journal_der_state_name((unsigned)st)));
  }
  /* DER commands on what was decoded: a plan writes only models 123 / 124 at their points, and
   * once every register written reads back its value, a limit shows */
  unsigned permille = nr ? r[0] % 1001u : 0;
  for (unsigned a = JOURNAL_DERA_CONNECT; a <= JOURNAL_DERA_MAX; a++) {
    struct sunspec_write w[SUNSPEC_WRITES_MAX];
    const char *why = NULL;
    int k = sunspec_plan(&o, a, a >= JOURNAL_DERA_LIMIT ? permille : 0, w, &why);
    check(k == -1 ? why != NULL : k >= 1 && k <= SUNSPEC_WRITES_MAX);
    if (k < 0) continue;
    struct sunspec_obs after = o;
    for (int i = 0; i < k; i++) {
      check(w[i].model == 123 ? w[i].offset < SUNSPEC_LEN_CONTROLS : w[i].model == 124 && w[i].offset < SUNSPEC_LEN_STORAGE);
      (w[i].model == 123 ? after.m123 : after.m124)[w[i].offset] = w[i].value;
    }
    if (a >= JOURNAL_DERA_LIMIT) check(sunspec_shows(&after, a != JOURNAL_DERA_LIMIT, a, w, k));
  }
  free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (!size) return 0;
  if (data[0] & 1) model(data + 1, size - 1);
  else walk(data + 1, size - 1);
  return 0;
}
