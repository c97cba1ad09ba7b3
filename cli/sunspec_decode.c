/*
 * sunspec_decode.c — SunSpec registers to values (sunspec.h): the marker, the model chain, and
 * models 1, 101-103, 123, 124, 701 and 802. Pure: no I/O, no allocation, any registers.
 *
 * Offsets are those of the SunSpec model definitions (json/model_<id>.json), counted from the
 * register after ID and L:
 *   1        Mn 0-15, Md 16-31, Vr 40-47, SN 48-63 (strings, two characters a register)
 *   101-103  W 12 (int16), W_SF 13, Hz 14 (uint16), Hz_SF 15, St 36 (enum16)
 *   123      kept raw (the controls' readback: sunspec_control.c)
 *   124      ChaState 6 (uint16), ChaSt 9 (enum16), ChaState_SF 20; kept raw too
 *   701      St 1, InvSt 2, ConnSt 3 (enum16), W 8 (int16), Hz 15-16 (uint32), Hz_SF 113, W_SF 114
 *   802      SoC 9 (uint16), ChaSt 14, State 20 (enum16), W 45 (int16), SoC_SF 54, W_SF 61
 */
#include <string.h>
#include "sunspec.h"
#include "journal.h"

const uint16_t sunspec_bases[3] = { 40000, 0, 50000 };

bool sunspec_is_marker(uint16_t hi, uint16_t lo)
{
  return hi == SUNSPEC_MARKER_HI && lo == SUNSPEC_MARKER_LO;
}

enum sunspec_step sunspec_walk(struct sunspec_chain *c, uint16_t addr, uint16_t id, uint16_t len, uint16_t *next)
{
  if (id == SUNSPEC_END) return SUNSPEC_DONE;
  if (c->n >= SUNSPEC_MODELS_MAX) return SUNSPEC_BAD;
  uint32_t body = (uint32_t)addr + 2, after = body + len;
  if (after > 0xFFFF) return SUNSPEC_BAD; /* the next header would not fit in the address space */
  c->m[c->n++] = (struct sunspec_model){ id, len, (uint16_t)body };
  *next = (uint16_t)after;
  return SUNSPEC_NEXT;
}

bool sunspec_model_wanted(uint16_t id)
{
  return id == 1 || (id >= 101 && id <= 103) || id == 123 || id == 124 || id == 701 || id == 802;
}

bool sunspec_scale_milli(int64_t raw, int sf, int64_t *out)
{
  if (sf < -10 || sf > 10) return false;
  int e = sf + 3;
  int64_t p = 1;
  for (int i = 0; i < (e < 0 ? -e : e); i++) p *= 10;
  if (e >= 0) return !__builtin_mul_overflow(raw, p, out);
  int64_t q = raw / p, r = raw % p;
  if (2 * (r < 0 ? -r : r) >= p) q += raw < 0 ? -1 : 1;
  *out = q;
  return true;
}

/* Not-implemented markers (SunSpec Information Model, "Unimplemented registers"). */
static bool int16_ok(uint16_t v) { return v != 0x8000; }
static bool uint16_ok(uint16_t v) { return v != 0xFFFF; }

/* A sunssf register: true and *sf, or false when not implemented. */
static bool sf_of(uint16_t v, int *sf)
{
  if (v == 0x8000) return false;
  *sf = (int16_t)v;
  return true;
}

/* value (already known implemented) scaled by the sunssf register sfr, into *out / *have. */
static void scaled(int64_t raw, uint16_t sfr, bool *have, int64_t *out)
{
  int sf;
  *have = sf_of(sfr, &sf) && sunspec_scale_milli(raw, sf, out);
  if (!*have) *out = 0;
}

static uint16_t enum16(uint16_t v)
{
  return uint16_ok(v) ? v : 0;
}

/* A string point of n registers: printable ASCII kept, anything else '?', NUL ends it. */
static void string_of(const uint16_t *r, unsigned n, char *out)
{
  unsigned k = 0;
  for (unsigned i = 0; i < n; i++) {
    unsigned char c[2] = { (unsigned char)(r[i] >> 8), (unsigned char)r[i] };
    for (int j = 0; j < 2; j++) {
      if (!c[j]) { out[k] = 0; return; }
      out[k++] = c[j] >= 0x20 && c[j] < 0x7f ? (char)c[j] : '?';
    }
  }
  out[k] = 0;
}

static void int16_scaled(const uint16_t *r, unsigned at, unsigned sf_at, bool *have, int64_t *out)
{
  if (int16_ok(r[at])) scaled((int16_t)r[at], r[sf_at], have, out);
  else { *have = false; *out = 0; }
}

static void uint16_scaled(const uint16_t *r, unsigned at, unsigned sf_at, bool *have, int64_t *out)
{
  if (uint16_ok(r[at])) scaled(r[at], r[sf_at], have, out);
  else { *have = false; *out = 0; }
}

int sunspec_decode_model(struct sunspec_obs *o, uint16_t id, const uint16_t *r, size_t n)
{
  switch (id) {
  case 1:
    if (n < SUNSPEC_LEN_COMMON) return -1;
    string_of(r + 0, 16, o->mn);
    string_of(r + 16, 16, o->md);
    string_of(r + 40, 8, o->vr);
    string_of(r + 48, 16, o->sn);
    o->have_common = true;
    return 0;
  case 101: case 102: case 103:
    if (n < SUNSPEC_LEN_INVERTER) return -1;
    int16_scaled(r, 12, 13, &o->have_w, &o->w_mw);
    uint16_scaled(r, 14, 15, &o->have_hz, &o->hz_mhz);
    o->inv_st = enum16(r[36]);
    o->models |= SUNSPEC_HAVE_INVERTER;
    return 0;
  case 701: {
    if (n < SUNSPEC_LEN_DER_AC) return -1;
    /* an inverter model (101-103) already read says the same; 701 fills what it left absent */
    if (!o->inv_st) o->inv_st = enum16(r[2]);
    o->conn_st = enum16(r[3]);
    if (!o->have_w) int16_scaled(r, 8, 114, &o->have_w, &o->w_mw);
    uint32_t hz = (uint32_t)r[15] << 16 | r[16];
    if (!o->have_hz && hz != 0xFFFFFFFFu) scaled(hz, r[113], &o->have_hz, &o->hz_mhz);
    o->models |= SUNSPEC_HAVE_DER_AC;
    return 0;
  }
  case 123:
    if (n < SUNSPEC_LEN_CONTROLS) return -1;
    if (!(o->models & SUNSPEC_HAVE_CONTROLS)) /* the first instance: the one the bridge writes */
      for (unsigned i = 0; i < SUNSPEC_LEN_CONTROLS; i++) o->m123[i] = r[i];
    o->models |= SUNSPEC_HAVE_CONTROLS;
    return 0;
  case 124:
    if (n < SUNSPEC_LEN_STORAGE) return -1;
    if (!(o->models & SUNSPEC_HAVE_STORAGE))
      for (unsigned i = 0; i < SUNSPEC_LEN_STORAGE; i++) o->m124[i] = r[i];
    uint16_scaled(r, 6, 20, &o->have_soc, &o->soc_mpct);
    o->cha_st = enum16(r[9]);
    o->models |= SUNSPEC_HAVE_STORAGE;
    return 0;
  case 802: {
    if (n < SUNSPEC_LEN_BATTERY) return -1;
    bool have;
    int64_t v;
    uint16_scaled(r, 9, 54, &have, &v);
    if (!o->have_soc) { o->have_soc = have; o->soc_mpct = v; }
    if (!o->cha_st) o->cha_st = enum16(r[14]);
    o->bat_state = enum16(r[20]);
    int16_scaled(r, 45, 61, &have, &v);
    if (!o->have_w) { o->have_w = have; o->w_mw = v; }
    o->models |= SUNSPEC_HAVE_BATTERY;
    return 0;
  }
  default:
    return -1;
  }
}

int sunspec_der_state(const struct sunspec_obs *o, bool ess)
{
  if (ess) {
    if (o->bat_state == 99) return JOURNAL_DERST_FAULT;
    if (o->bat_state == 1) return JOURNAL_DERST_OFF; /* DISCONNECTED */
    switch (o->cha_st) {
    case 1: return JOURNAL_DERST_OFF;
    case 3: return JOURNAL_DERST_DISCHARGING;
    case 4: return JOURNAL_DERST_CHARGING;
    case 2: case 5: case 6: case 7: return JOURNAL_DERST_IDLE; /* empty, full, holding, testing */
    default: break;
    }
    return o->bat_state ? JOURNAL_DERST_IDLE : -1;
  }
  static const int st[9] = { -1, JOURNAL_DERST_OFF, JOURNAL_DERST_SLEEPING, JOURNAL_DERST_STARTING, JOURNAL_DERST_PRODUCING,
                             JOURNAL_DERST_THROTTLED, JOURNAL_DERST_SHUTTING_DOWN, JOURNAL_DERST_FAULT,
                             JOURNAL_DERST_STANDBY };
  if (o->inv_st >= 1 && o->inv_st <= 8) return st[o->inv_st];
  if (o->conn_st == 1) return JOURNAL_DERST_OFF; /* 701 DISCONNECTED and no inverter state */
  return -1;
}
