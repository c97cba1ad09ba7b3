/*
 * sunspec_control.c — DER commands as SunSpec register writes, and the check that a poll shows
 * one carried out (sunspec.h). Pure: no I/O.
 *
 * Points (offsets from the register after ID and L, SunSpec model definitions):
 *   123 immediate controls  Conn 2 (enum16: 0 disconnect, 1 connect), WMaxLimPct 3 (uint16, % of
 *                           WMax × 10^WMaxLimPct_SF), WMaxLim_Ena 7 (enum16: 1 enabled),
 *                           WMaxLimPct_SF 21
 *   124 storage             StorCtl_Mod 3 (bitfield16: bit 0 charge limit, bit 1 discharge
 *                           limit), OutWRte 10, InWRte 11 (int16, % of WChaMax ×
 *                           10^InOutWRte_SF), InOutWRte_SF 23
 * connect / disconnect write Conn; limit writes WMaxLimPct then WMaxLim_Ena 1; charge_limit
 * InWRte then StorCtl_Mod with bit 0 set (the other bits as polled); discharge_limit OutWRte and
 * bit 1. Each first writes 0 to its revert timer (Conn_RvrtTms 1, WMaxLimPct_RvrtTms 5,
 * InOutWRte_RvrtTms 13) when the device implements it and it is set. Limits round down.
 */
#include "sunspec.h"
#include "journal.h"

#define C_CONN_RVRTTMS 1
#define C_CONN 2
#define C_WMAXLIMPCT 3
#define C_WMAXLIMPCT_RVRTTMS 5
#define C_WMAXLIM_ENA 7
#define C_WMAXLIMPCT_SF 21
#define S_STORCTL_MOD 3
#define S_OUTWRTE 10
#define S_INWRTE 11
#define S_INOUTWRTE_RVRTTMS 13
#define S_INOUTWRTE_SF 23

/* permille of the rating as a percent register scaled by 10^sf: *raw, or false (sf not
 * implemented or out of -10..10, or more than max). Rounded down: a limit the register cannot
 * hold exactly is written as the next one below, never above what was commanded. */
static bool pct_raw(unsigned permille, uint16_t sf_reg, long max, uint16_t *raw)
{
  if (sf_reg == 0x8000) return false;
  int sf = (int16_t)sf_reg;
  if (sf < -10 || sf > 10) return false;
  /* raw = permille / 10 / 10^sf = permille × 10^(-1-sf) */
  int e = -1 - sf;
  long long v = permille;
  if (e >= 0) {
    for (int i = 0; i < e; i++) { v *= 10; if (v > max) return false; }
  } else {
    long long d = 1;
    for (int i = 0; i < -e; i++) d *= 10;
    v /= d;
  }
  if (v > max) return false;
  *raw = (uint16_t)v;
  return true;
}

/* A revert timer the device implements and has set: written 0 first (no revert), so a command
 * shown once is not undone by the device on its own later. */
static int no_revert(uint16_t model, uint16_t offset, uint16_t now, struct sunspec_write *w)
{
  if (now == 0 || now == 0xFFFF) return 0;
  *w = (struct sunspec_write){ model, offset, 0 };
  return 1;
}

int sunspec_plan(const struct sunspec_obs *o, unsigned action, unsigned permille, struct sunspec_write *w, const char **why)
{
  bool c123 = o->models & SUNSPEC_HAVE_CONTROLS, c124 = o->models & SUNSPEC_HAVE_STORAGE;
  uint16_t raw;
  int n;
  switch (action) {
  case JOURNAL_DERA_CONNECT:
  case JOURNAL_DERA_DISCONNECT:
    if (!c123) { *why = "the device has no model 123 (immediate controls): Conn cannot be written"; return -1; }
    n = no_revert(123, C_CONN_RVRTTMS, o->m123[C_CONN_RVRTTMS], w);
    w[n++] = (struct sunspec_write){ 123, C_CONN, action == JOURNAL_DERA_CONNECT ? 1 : 0 };
    return n;
  case JOURNAL_DERA_LIMIT:
    if (!c123) { *why = "the device has no model 123 (immediate controls): WMaxLimPct cannot be written"; return -1; }
    if (!pct_raw(permille, o->m123[C_WMAXLIMPCT_SF], 0xFFFE, &raw)) {
      *why = "WMaxLimPct_SF is not implemented or the limit does not fit WMaxLimPct";
      return -1;
    }
    n = no_revert(123, C_WMAXLIMPCT_RVRTTMS, o->m123[C_WMAXLIMPCT_RVRTTMS], w);
    w[n++] = (struct sunspec_write){ 123, C_WMAXLIMPCT, raw };
    w[n++] = (struct sunspec_write){ 123, C_WMAXLIM_ENA, 1 };
    return n;
  case JOURNAL_DERA_CHARGE_LIMIT:
  case JOURNAL_DERA_DISCHARGE_LIMIT: {
    if (!c124) { *why = "the device has no model 124 (storage): InWRte / OutWRte cannot be written"; return -1; }
    if (!pct_raw(permille, o->m124[S_INOUTWRTE_SF], 0x7FFF, &raw)) {
      *why = "InOutWRte_SF is not implemented or the limit does not fit InWRte / OutWRte";
      return -1;
    }
    bool charge = action == JOURNAL_DERA_CHARGE_LIMIT;
    uint16_t mod = o->m124[S_STORCTL_MOD] == 0xFFFF ? 0 : o->m124[S_STORCTL_MOD]; /* not implemented: none set */
    n = no_revert(124, S_INOUTWRTE_RVRTTMS, o->m124[S_INOUTWRTE_RVRTTMS], w);
    w[n++] = (struct sunspec_write){ 124, charge ? S_INWRTE : S_OUTWRTE, raw };
    w[n++] = (struct sunspec_write){ 124, S_STORCTL_MOD, (uint16_t)(mod | (charge ? 1u : 2u)) };
    return n;
  }
  default:
    *why = "not a DER action";
    return -1;
  }
}

bool sunspec_shows(const struct sunspec_obs *o, bool ess, unsigned action, const struct sunspec_write *w, int n)
{
  for (int i = 0; i < n; i++) {
    bool have = w[i].model == 123 ? (o->models & SUNSPEC_HAVE_CONTROLS) : (o->models & SUNSPEC_HAVE_STORAGE);
    const uint16_t *m = w[i].model == 123 ? o->m123 : o->m124;
    unsigned len = w[i].model == 123 ? SUNSPEC_LEN_CONTROLS : SUNSPEC_LEN_STORAGE;
    if (!have || w[i].offset >= len || m[w[i].offset] != w[i].value) return false;
  }
  int st = sunspec_der_state(o, ess);
  if (action == JOURNAL_DERA_CONNECT) return st >= 0 && st != JOURNAL_DERST_OFF && st != JOURNAL_DERST_FAULT;
  if (action == JOURNAL_DERA_DISCONNECT)
    return st == JOURNAL_DERST_OFF || st == JOURNAL_DERST_SLEEPING || st == JOURNAL_DERST_STANDBY;
  return true;
}
