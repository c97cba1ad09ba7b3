/*
 * fuzz_replay_checkpoint.c — fuzz target for the replay checkpoint decoder
 * (replay_checkpoint_decode, replay/replay.c). A checkpoint is a value of the data dir's
 * checkpoints database or the first entry of a bundle, so its bytes are outside bytes, and the
 * state it holds is folded before a seal vouches for it (checkpoint_auth.c folds forward to
 * find that seal; a bundle's replay confirms at its next seal).
 * The input overlays an initial state from its first byte (at most sizeof(struct replay_state)
 * bytes; reducer_version is kept valid); the checkpoint's two hashes are then computed by
 * replay_checkpoint_encode, as anyone forging one can, so the fuzzer reaches the field checks.
 * A state that decodes is folded through a few records (window, command, request on branches
 * 1..3) and hashed. Property: no crash or sanitizer report.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static struct replay_state st, out;
  static uint8_t buf[REPLAY_CHECKPOINT_BYTES];
  static struct journal_record r;
  static struct replay_effects fx;
  replay_state_init(&st);
  memcpy(&st, data, size < sizeof st ? size : sizeof st);
  st.reducer_version = REPLAY_REDUCER_VERSION;
  replay_checkpoint_encode(&st, st.seq, buf);
  uint64_t seq;
  if (replay_checkpoint_decode(buf, sizeof buf, 0, &out, &seq) != 0) return 0;
  for (unsigned n = 1; n <= 3; n++) {
    memset(&r, 0, sizeof r);
    r.seq = seq + 3 * n;
    r.version = 1;
    r.wall_ns = (int64_t)((uint64_t)out.wall_ns + 1000000000ull * n); /* wraps, never overflows */
    r.type = JOURNAL_T_WINDOW;
    r.body.window.duration_us = 1000000;
    replay_apply(&out, &r, &fx);
    memset(&r.body, 0, sizeof r.body);
    r.seq++;
    r.type = JOURNAL_T_COMMAND;
    r.body.command.target = (uint16_t)n;
    r.body.command.desired = n & 1 ? JOURNAL_DESIRED_ON : JOURNAL_DESIRED_OFF;
    replay_apply(&out, &r, &fx);
    memset(&r.body, 0, sizeof r.body);
    r.seq++;
    r.type = JOURNAL_T_REQUEST;
    r.body.request.target = (uint16_t)n;
    r.body.request.desired = JOURNAL_DESIRED_ON;
    r.body.request.role = JOURNAL_ROLE_OPERATOR;
    r.body.request.request_id = (struct journal_slice){ (const uint8_t *)"fuzz", 4 };
    replay_apply(&out, &r, &fx);
  }
  uint8_t h[32];
  replay_state_hash(&out, h);
  return 0;
}
