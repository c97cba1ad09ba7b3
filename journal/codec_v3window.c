/*
 * codec_v3window.c — the schema v 3 window body (by far the most common record) decoded with
 * its layout known at compile time: the same walk as journal__fast_body3 (codec_v3fast.c), with
 * the same column store (codec_v3read.h), but each key dispatched by a switch to a store whose
 * field kind, offset and range are constants, instead of through the table per item.
 *
 * It only ever says "accepted, and here is the body" or "not mine": anything it does not expect
 * (an unknown key, a count that differs, a value the general walk would refuse) returns false and
 * the caller clears the body and runs the general walk, which decides. So it cannot accept what
 * the general walk refuses, and what it accepts it stores as the general walk does. Its layout
 * is checked once against the window's field table (journal__body_desc); when they differ (a
 * field added or moved), the fast path is never taken. tests/journal/test_decode_window.c decodes
 * every record of a daemon-written journal, and damaged copies of them, both ways.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include "codec_v3read.h"
#include "record_fields.h"

typedef struct journal_window_channel CH;
typedef struct journal_window_power PW;
typedef struct journal_window W;

/* The window's tables as the fast path was written for them, in integer key order (the same
 * entries as record_types.c: the layout check compares them). */
static const struct jfield ch_by_key[] = {
  FLD(CH, "ch", JF_U8, ch, 0),
  ENUMF(CH, "kind", kind, journal__chkind_names, 1),
  FLDZ(CH, "max_m", JF_I32, max_m, 2),
  FLDZ(CH, "min_m", JF_I32, min_m, 3),
  ENUMF(CH, "phase", phase, journal__phase_names, 4),
  FLD(CH, "rms_m", JF_I32, rms_m, 5),
  FLDZ(CH, "branch", JF_U16, branch, 6),
  FLDZ(CH, "thd_mpct", JF_I32, thd_mpct, 7),
  FLDZ3(CH, "hrms_min_m", JF_I32, hrms_min_m, 8),
  FLDZ3(CH, "hrms_max_m", JF_I32, hrms_max_m, 9),
  FLDZ3(CH, "event", JF_BOOL, event, 10),
};
static const struct jfield pw_by_key[] = {
  FLD(PW, "ich", JF_U8, ich, 0),
  FLD(PW, "vch", JF_U8, vch, 1),
  FLD(PW, "p_mw", JF_I64, p_mw, 2),
  ENUMF(PW, "phase", phase, journal__phase_names, 3),
  FLD(PW, "s_mva", JF_I64, s_mva, 4),
  FLD(PW, "branch", JF_U16, branch, 5),
  FLDZ(PW, "q_mvar", JF_I64, q_mvar, 6),
  FLD(PW, "pf_mpct", JF_I32, pf_mpct, 7),
  FLDZ(PW, "export_uwh", JF_I64, export_uwh, 8),
  FLDZ(PW, "import_uwh", JF_I64, import_uwh, 9),
};
static const struct jfield u16_el = { .name = "u16", .kind = JF_U16, .size = 2 };
#define NCH (sizeof ch_by_key / sizeof ch_by_key[0])
#define NPW (sizeof pw_by_key / sizeof pw_by_key[0])
#define WMAX JOURNAL_WINDOW_CHANNELS

/* The attributes a decode depends on. */
static bool same_field(const struct jfield *a, const struct jfield *b)
{
  return a->kind == b->kind && a->offset == b->offset && a->size == b->size && a->enum_names == b->enum_names &&
         a->count_offset == b->count_offset && a->max == b->max && a->stride == b->stride &&
         a->omit_zero == b->omit_zero && a->ikey == b->ikey && a->v3flags == b->v3flags;
}

/* Every field of d is the entry of want with its key, and d has no others. */
static bool same_table(const struct jdesc *d, const struct jfield *want, unsigned n)
{
  if (!d || d->n != n) return false;
  for (unsigned i = 0; i < n; i++) {
    unsigned k = d->fields[i].ikey;
    if (k >= n || !same_field(&d->fields[i], &want[k])) return false;
  }
  return true;
}

static bool layout_matches(const struct jdesc *d)
{
  static const struct { uint8_t kind; uint16_t offset, size, count_offset, max, stride; } top[] = {
    { JF_U16, offsetof(W, afe), 2, 0, 0, 0 },
    { JF_U16, offsetof(W, flags), 2, 0, 0, 0 },
    { JF_ARRAY, offsetof(W, pow), sizeof ((W *)0)->pow, offsetof(W, npow), WMAX, sizeof(PW) },
    { JF_U16ARR, offsetof(W, branches), sizeof ((W *)0)->branches, offsetof(W, nbranches), WMAX, 2 },
    { JF_ARRAY, offsetof(W, ch), sizeof ((W *)0)->ch, offsetof(W, nch), WMAX, sizeof(CH) },
    { JF_U32, offsetof(W, freq_mhz), 4, 0, 0, 0 },
    { JF_I64, offsetof(W, start_ns), 8, 0, 0, 0 },
    { JF_U32, offsetof(W, duration_us), 4, 0, 0, 0 },
    { JF_U16, offsetof(W, basic_windows), 2, 0, 0, 0 },
  };
  const unsigned n = sizeof top / sizeof top[0];
  if (!d || d->n != n || journal__u16_element.kind != u16_el.kind || journal__u16_element.offset != 0) return false;
  for (unsigned i = 0; i < n; i++) {
    const struct jfield *f = &d->fields[i];
    unsigned k = f->ikey;
    if (k >= n || f->kind != top[k].kind || f->offset != top[k].offset || f->size != top[k].size ||
        f->omit_zero || f->enum_names)
      return false;
    if (f->kind == JF_ARRAY || f->kind == JF_U16ARR) {
      if (f->count_offset != top[k].count_offset || f->max != top[k].max || f->stride != top[k].stride) return false;
      if (f->kind == JF_ARRAY && (f->v3flags != JF3_COLUMNS || !same_table(f->sub, k == 2 ? pw_by_key : ch_by_key, k == 2 ? NPW : NCH)))
        return false;
    }
  }
  return true;
}

/* 1 the layout matches, 2 it does not, 0 not yet checked (the answer is the same on every
 * thread, so a race only checks twice). */
static atomic_int layout_state;

static bool layout_ok(const struct jdesc *d)
{
  int s = atomic_load_explicit(&layout_state, memory_order_relaxed);
  if (!s) {
    s = layout_matches(d) ? 1 : 2;
    atomic_store_explicit(&layout_state, s, memory_order_relaxed);
  }
  return s == 1;
}

/* A column of sub-field sf: the general walk's store (put_column) with sf a constant. */
#define COL(tab, k) \
  case k: rc = put_column(&tab[k], arr, stride, tag, data, n, tab[k].omit_zero != 0); break

/* A columns map (powers or channels): keys strictly ascending and known, every column a typed
 * array of the same count. */
static bool channels(const uint8_t **pp, const uint8_t *e, CH *chs, uint16_t *count)
{
  uint8_t *arr = (uint8_t *)chs;
  const size_t stride = sizeof *chs;
  uint64_t m, k;
  if (!rd_head(pp, e, 5, &m)) return false;
  int64_t prev = -1;
  unsigned cnt = 0;
  for (uint64_t i = 0; i < m; i++) {
    unsigned tag, n;
    const uint8_t *data;
    if (!rd_uint(pp, e, &k) || k >= NCH || (int64_t)k <= prev) return false;
    prev = (int64_t)k;
    if (!typed_array(pp, e, WMAX, &tag, &data, &n) || (i && n != cnt)) return false;
    int rc;
    switch (k) {
      COL(ch_by_key, 0); COL(ch_by_key, 1); COL(ch_by_key, 2); COL(ch_by_key, 3); COL(ch_by_key, 4);
      COL(ch_by_key, 5); COL(ch_by_key, 6); COL(ch_by_key, 7); COL(ch_by_key, 8); COL(ch_by_key, 9);
      COL(ch_by_key, 10);
    default: return false;
    }
    if (rc) return false;
    cnt = n;
  }
  *count = (uint16_t)cnt;
  return true;
}

static bool powers(const uint8_t **pp, const uint8_t *e, PW *pws, uint16_t *count)
{
  uint8_t *arr = (uint8_t *)pws;
  const size_t stride = sizeof *pws;
  uint64_t m, k;
  if (!rd_head(pp, e, 5, &m)) return false;
  int64_t prev = -1;
  unsigned cnt = 0;
  for (uint64_t i = 0; i < m; i++) {
    unsigned tag, n;
    const uint8_t *data;
    if (!rd_uint(pp, e, &k) || k >= NPW || (int64_t)k <= prev) return false;
    prev = (int64_t)k;
    if (!typed_array(pp, e, WMAX, &tag, &data, &n) || (i && n != cnt)) return false;
    int rc;
    switch (k) {
      COL(pw_by_key, 0); COL(pw_by_key, 1); COL(pw_by_key, 2); COL(pw_by_key, 3); COL(pw_by_key, 4);
      COL(pw_by_key, 5); COL(pw_by_key, 6); COL(pw_by_key, 7); COL(pw_by_key, 8); COL(pw_by_key, 9);
    default: return false;
    }
    if (rc) return false;
    cnt = n;
  }
  *count = (uint16_t)cnt;
  return true;
}
#undef COL

FR_INLINE bool u16_at(const uint8_t **pp, const uint8_t *e, uint16_t *out)
{
  uint64_t v;
  if (!rd_uint(pp, e, &v) || v > 0xffff) return false;
  *out = (uint16_t)v;
  return true;
}

FR_INLINE bool u32_at(const uint8_t **pp, const uint8_t *e, uint32_t *out)
{
  uint64_t v;
  if (!rd_uint(pp, e, &v) || v > 0xffffffffu) return false;
  *out = (uint32_t)v;
  return true;
}

bool journal__fast_window3(const uint8_t **pp, const uint8_t *e, const struct jdesc *d, struct journal_window *w)
{
  if (!layout_ok(d)) return false;
  const uint8_t *p = *pp;
  uint64_t n, k;
  if (!rd_head(&p, e, 5, &n)) return false;
  int64_t prev = -1;
  for (uint64_t i = 0; i < n; i++) {
    if (!rd_uint(&p, e, &k) || k > 8 || (int64_t)k <= prev) return false;
    prev = (int64_t)k;
    bool ok;
    switch (k) {
    case 0: ok = u16_at(&p, e, &w->afe); break;
    case 1: ok = u16_at(&p, e, &w->flags); break;
    case 2: ok = powers(&p, e, w->pow, &w->npow); break;
    case 3: {
      unsigned tag, cnt;
      const uint8_t *data;
      ok = typed_array(&p, e, WMAX, &tag, &data, &cnt) &&
           put_column(&u16_el, (uint8_t *)w->branches, 2, tag, data, cnt, false) == 0;
      if (ok) w->nbranches = (uint16_t)cnt;
      break;
    }
    case 4: ok = channels(&p, e, w->ch, &w->nch); break;
    case 5: ok = u32_at(&p, e, &w->freq_mhz); break;
    case 6: ok = rd_int(&p, e, &w->start_ns); break;
    case 7: ok = u32_at(&p, e, &w->duration_us); break;
    default: ok = u16_at(&p, e, &w->basic_windows); break;
    }
    if (!ok) return false;
  }
  *pp = p;
  return true;
}
