/*
 * fuzz_statement.c — fuzz target for the statement decoder (replay_statement_decode and
 * replay_state_energy_parse, replay/statement.c). A statement is an auditor's file: its bytes
 * are outside bytes. The input is decoded as it is, then again with its last 32 bytes replaced
 * by the BLAKE2b-256 of the rest (the digest anyone can recompute), so the fuzzer reaches the
 * field checks behind it. A statement that decodes has its checkpoints parsed (signed-note form
 * and tlog body, as `hems verify` opens them) and its states' energies read. Property: no crash
 * or sanitizer report, and a decoded statement's pointers lie inside the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const uint8_t *b, size_t len)
{
  struct replay_statement st;
  char why[160];
  if (replay_statement_decode(b, len, &st, why, sizeof why) != 0) return;
  for (int k = 0; k < 2; k++) {
    if ((const uint8_t *)st.note[k] < b || (const uint8_t *)st.note[k] + st.note_len[k] > b + len) abort();
    if (st.state[k] < b || st.state[k] + st.state_len[k] > b + len) abort();
    struct journal_tlog_verifier v;
    static const uint8_t pk[32];
    size_t body_len;
    if (journal_tlog_verifier_init(&v, "hems/fuzz", JOURNAL_TLOG_ED25519, pk) == 0)
      (void)journal_tlog_open(st.note[k], st.note_len[k], &v, &body_len, NULL);
    struct journal_tlog_checkpoint cp;
    struct journal_tlog_hems e;
    if (journal_tlog_checkpoint_parse(st.note[k], st.note_len[k], &cp) == 0) (void)journal_tlog_hems_parse(cp.ext, &e);
    struct replay_state_energy en;
    if (replay_state_energy_parse(st.state[k], st.state_len[k], &en) != 0) abort(); /* decode checked it */
  }
  if (st.proof + (size_t)st.nproof * 32 > b + len) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > REPLAY_STATEMENT_MAX + 64) return 0;
  one(data, size);
  if (size < 32) return 0;
  uint8_t *b = malloc(size);
  if (!b) return 0;
  memcpy(b, data, size);
  crypto_generichash(b + size - 32, 32, b, size - 32, NULL, 0);
  one(b, size);
  free(b);
  return 0;
}
