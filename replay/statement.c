/*
 * statement.c — the statement file (replay.h "statements"; docs/replay.md "Statements"): its
 * encoder and its bounded, strict decoder, and the reader of the fields a verifier needs from a
 * canonical state serialisation. Nothing here checks a signature or a proof: the notes are
 * opened, the proof verified and the states hashed by `hems verify` (cli/statement_verify.c).
 * The decoder reads outside bytes (an auditor's file): every length is checked against what is
 * left and against its own bound before it is used (tests/fuzz/fuzz_statement.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include "replay.h"

static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint64_t get_le(const uint8_t *p, int n)
{
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

long replay_statement_encode(const struct replay_statement *st, uint8_t *out, size_t cap)
{
  if (st->year < 1970 || st->year > 9999 || st->month < 1 || st->month > 12 || st->branch > REPLAY_BRANCHES_MAX ||
      st->nproof > JOURNAL_MERKLE_PROOF_MAX)
    return -EINVAL;
  size_t need = REPLAY_STATEMENT_MAGIC_LEN + 8 + 32 + 1 + (size_t)st->nproof * 32 + 32;
  for (int k = 0; k < 2; k++) {
    if (st->note_len[k] < 1 || st->note_len[k] > JOURNAL_TLOG_NOTE_MAX || st->state_len[k] < REPLAY_SER_FIXED + 4 ||
        st->state_len[k] > REPLAY_SER_MAX)
      return -EINVAL;
    need += 8 + st->note_len[k] + st->state_len[k];
  }
  if (need > cap) return -ENOSPC;
  uint8_t *p = out;
  memcpy(p, REPLAY_STATEMENT_MAGIC, REPLAY_STATEMENT_MAGIC_LEN);
  p += REPLAY_STATEMENT_MAGIC_LEN;
  put16(p, st->year);
  p[2] = st->month;
  p[3] = 0;
  put16(p + 4, st->branch);
  put16(p + 6, 0);
  p += 8;
  memcpy(p, st->pubkey, 32);
  p += 32;
  for (int k = 0; k < 2; k++) {
    put32(p, (uint32_t)st->note_len[k]);
    memcpy(p + 4, st->note[k], st->note_len[k]);
    p += 4 + st->note_len[k];
  }
  *p++ = (uint8_t)st->nproof;
  if (st->nproof) memcpy(p, st->proof, (size_t)st->nproof * 32);
  p += (size_t)st->nproof * 32;
  for (int k = 0; k < 2; k++) {
    put32(p, (uint32_t)st->state_len[k]);
    memcpy(p + 4, st->state[k], st->state_len[k]);
    p += 4 + st->state_len[k];
  }
  crypto_generichash(p, 32, out, (size_t)(p - out), NULL, 0);
  p += 32;
  return (long)(p - out);
}

/* A cursor over the input: every take is checked against what is left. */
struct cur {
  const uint8_t *b;
  size_t len, at;
  char *why;
  size_t why_cap;
};

static int bad(struct cur *c, const char *what)
{
  if (c->why && c->why_cap) snprintf(c->why, c->why_cap, "%s at byte %zu", what, c->at);
  return JOURNAL_ECORRUPT;
}

static const uint8_t *take(struct cur *c, size_t n)
{
  if (n > c->len - c->at) return NULL;
  const uint8_t *p = c->b + c->at;
  c->at += n;
  return p;
}

/* u32 length (lo..hi) then that many bytes. */
static int take_blob(struct cur *c, size_t lo, size_t hi, const char *what, const uint8_t **out, size_t *out_len)
{
  size_t at = c->at;
  const uint8_t *p = take(c, 4);
  if (!p) return bad(c, what);
  uint64_t n = get_le(p, 4);
  if (n < lo || n > hi) { c->at = at; return bad(c, what); }
  if (!(*out = take(c, (size_t)n))) { c->at = at; return bad(c, what); }
  *out_len = (size_t)n;
  return 0;
}

int replay_state_energy_parse(const uint8_t *b, size_t len, struct replay_state_energy *out)
{
  static const uint8_t tag[16] = REPLAY_SER_TAG;
  if (len < REPLAY_SER_FIXED + 4 || len > REPLAY_SER_MAX || memcmp(b, tag, sizeof tag) != 0) return JOURNAL_ECORRUPT;
  uint64_t count = get_le(b + REPLAY_SER_FIXED, 4);
  uint32_t rv = (uint32_t)get_le(b + REPLAY_SER_REDUCER_OFF, 4);
  if (rv < REPLAY_REDUCER_BASE || rv > REPLAY_REDUCER_VERSION) return JOURNAL_EVERSION;
  if (count > REPLAY_REQ_WINDOW_IDS) return JOURNAL_ECORRUPT;
  /* v 9's tail holds the rollup slots: an open byte each, then the slot when it is open */
  /* after the slots (fixed length) */
  size_t v10 = (rv >= 10 ? REPLAY_SER_V10_TAIL : 0) + (rv >= 11 ? REPLAY_SER_V11_TAIL + REPLAY_SER_V11_ANALOG : 0);
  size_t at = REPLAY_SER_FIXED + 4 + count * REPLAY_SER_REQ_BYTES + replay_ser_tail_of(rv, 0) - (rv >= 9 ? 2 : 0) - v10;
  for (int k = 0; rv >= 9 && k < 2; k++) {
    if (at >= len || b[at] > 1) return JOURNAL_ECORRUPT;
    at += 1 + (b[at] ? REPLAY_SER_V9_SLOT : 0);
  }
  if (len != at + v10) return JOURNAL_ECORRUPT;
  memset(out, 0, sizeof *out);
  out->reducer_version = rv;
  out->seq = get_le(b + REPLAY_SER_SEQ_OFF, 8);
  out->wall_ns = (int64_t)get_le(b + REPLAY_SER_WALL_OFF, 8);
  out->nbranches = (uint16_t)get_le(b + REPLAY_SER_NBRANCHES_OFF, 2);
  if (out->nbranches > REPLAY_BRANCHES_MAX) return JOURNAL_ECORRUPT;
  for (unsigned i = 0; i < REPLAY_BRANCHES_MAX; i++) {
    const uint8_t *br = b + REPLAY_SER_BRANCH_OFF + (size_t)i * REPLAY_SER_BRANCH_BYTES;
    out->import_uwh[i] = (int64_t)get_le(br + REPLAY_SER_BRANCH_IMPORT, 8);
    out->export_uwh[i] = (int64_t)get_le(br + REPLAY_SER_BRANCH_EXPORT, 8);
  }
  return 0;
}

int replay_statement_decode(const uint8_t *b, size_t len, struct replay_statement *out, char *why, size_t why_cap)
{
  struct cur c = { b, len, 0, why, why_cap };
  memset(out, 0, sizeof *out);
  if (len > REPLAY_STATEMENT_MAX) return bad(&c, "longer than any statement");
  const uint8_t *p = take(&c, REPLAY_STATEMENT_MAGIC_LEN);
  if (!p || memcmp(p, REPLAY_STATEMENT_MAGIC, REPLAY_STATEMENT_MAGIC_LEN) != 0) { c.at = 0; return bad(&c, "not a statement (magic)"); }
  if (len < REPLAY_STATEMENT_MAGIC_LEN + 32) return bad(&c, "truncated");
  /* the digest first: damage is named as damage, before any field reads it */
  uint8_t d[32];
  crypto_generichash(d, sizeof d, b, len - 32, NULL, 0);
  if (sodium_memcmp(d, b + len - 32, 32) != 0) { c.at = len - 32; return bad(&c, "digest differs (the file was changed or cut)"); }
  c.len = len - 32;
  if (!(p = take(&c, 8))) return bad(&c, "truncated header");
  out->year = (uint16_t)get_le(p, 2);
  out->month = p[2];
  out->branch = (uint16_t)get_le(p + 4, 2);
  if (out->year < 1970 || out->year > 9999 || out->month < 1 || out->month > 12) { c.at -= 8; return bad(&c, "month out of range"); }
  if (p[3] != 0 || get_le(p + 6, 2) != 0) { c.at -= 8; return bad(&c, "reserved header bytes not zero"); }
  if (out->branch > REPLAY_BRANCHES_MAX) { c.at -= 4; return bad(&c, "branch out of range"); }
  if (!(p = take(&c, 32))) return bad(&c, "truncated public key");
  memcpy(out->pubkey, p, 32);
  static const char *const note_what[2] = { "start checkpoint", "end checkpoint" };
  for (int k = 0; k < 2; k++) {
    const uint8_t *n;
    int rc = take_blob(&c, 1, JOURNAL_TLOG_NOTE_MAX, note_what[k], &n, &out->note_len[k]);
    if (rc) return rc;
    out->note[k] = (const char *)n;
  }
  if (!(p = take(&c, 1)) || *p > JOURNAL_MERKLE_PROOF_MAX) return bad(&c, "consistency proof length");
  out->nproof = *p;
  if (!(out->proof = take(&c, (size_t)out->nproof * 32))) return bad(&c, "truncated consistency proof");
  static const char *const state_what[2] = { "start state", "end state" };
  for (int k = 0; k < 2; k++) {
    size_t at = c.at;
    int rc = take_blob(&c, REPLAY_SER_FIXED + 4, REPLAY_SER_MAX, state_what[k], &out->state[k], &out->state_len[k]);
    if (rc) return rc;
    struct replay_state_energy e;
    if (replay_state_energy_parse(out->state[k], out->state_len[k], &e) != 0) { c.at = at; return bad(&c, state_what[k]); }
  }
  if (c.at != c.len) return bad(&c, "bytes after the end state");
  return 0;
}
