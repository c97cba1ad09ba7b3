/*
 * replay.h — checkpoints, offline replay and the minimal live harness on top of the pure
 * reducers (reduce.h) and the journal (journal.h).
 *
 * Design overview
 * ---------------
 * - Offline replay folds records from a data dir or a bundle (any journal_record_source)
 *   through replay_apply(). With `check`, every effect the fold recomputes for a `request` is
 *   compared with the command/refusal record the live run wrote (matched by cause_seq), and
 *   every seal's live state_hash with the recomputed state hash at that point (the state after
 *   every record before the seal). Each difference is reported with its seq.
 * - Checkpoints are the raw (memcpy-able) state plus a header: format, reducer version, config
 *   version, state size, seq, canonical state hash, and a BLAKE2b-256 over all of it. Loading
 *   validates every field and recomputes the canonical state hash, then authenticates the state
 *   against the first signed seal after it (checkpoint_auth.c); anything that fails is skipped
 *   (the next older checkpoint, or seq 1) — never trusted blindly. A checkpoint made on another
 *   architecture fails the size or hash check and is simply skipped. The harness takes its
 *   checkpoints while a seal is built, so the seal right after signs exactly their state.
 * - The harness is the smallest live loop: it appends records through the journal, folds them,
 *   appends the command/refusal record for each decision, supplies the live state hash to every
 *   seal (journal_options.state_hash) and writes checkpoints every N records or T seconds of
 *   record time. The actuators issue builds the proof loop on it.
 *
 * Errors: 0 or a negative code (journal_strerror names it). Nothing here prints or logs.
 * Threads: one thread per harness or replay; the harness's journal callbacks run on the
 * appending thread (state_hash) and the writer thread (on_durable, forwarded untouched).
 */
#ifndef HEMS_REPLAY_H
#define HEMS_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "journal.h"
#include "reduce.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- checkpoints */

#define REPLAY_CHECKPOINT_FORMAT 3u /* 2: struct replay_state gained the reducer v 5 fields; 3: v 9 rollup slots */
#define REPLAY_CHECKPOINT_HEADER 72   /* magic 8, format 4, reducer 4, config 4, size 4, seq 8, hash 32, pad 8 */
#define REPLAY_CHECKPOINT_BYTES (REPLAY_CHECKPOINT_HEADER + sizeof(struct replay_state) + 32)

/* Encodes s (folded through seq) into buf (REPLAY_CHECKPOINT_BYTES). */
void replay_checkpoint_encode(const struct replay_state *s, uint64_t seq, uint8_t *buf);

/* Validates and decodes a checkpoint. expect_config_version 0 accepts any. Returns 0 with *out
 * and *out_seq; JOURNAL_ECORRUPT (size, magic, checksum, state hash, fields out of range) or
 * JOURNAL_EVERSION (format, reducer or config version differ). *out is undefined on error. */
int replay_checkpoint_decode(const uint8_t *buf, size_t len, uint32_t expect_config_version,
                             struct replay_state *out, uint64_t *out_seq);

/* Authenticates the state s of a checkpoint at cseq against the journal in it's snapshot: the
 * first seal after cseq with a state hash by trusted_pk (seals by other keys are folded past)
 * must be chained to the records around it, be signed by trusted_pk (its Ed25519 signature is
 * verified), and sign the state s folds to just before it (checkpoint_auth.c says exactly what
 * is checked). Returns 0, or JOURNAL_EBADSIG, JOURNAL_EBADCHAIN, JOURNAL_ECORRUPT (state
 * differs), JOURNAL_ENOTFOUND (no such seal) with a reason in why. trusted_pk NULL: nothing
 * authenticates. barren (NULL: unused; 0 at first): across calls for older and older
 * checkpoints, a walk stops at *barren, past which a newer one found no such seal; set to cseq
 * when none is found. */
int replay_checkpoint_authenticate(struct journal_iter *it, const uint8_t trusted_pk[JOURNAL_PUBKEY_BYTES],
                                   uint64_t cseq, const struct replay_state *s, uint64_t *barren, char *why,
                                   size_t why_cap);

/* What loading skipped: checkpoints of another reducer/config version are skipped quietly;
 * damaged or unauthenticated ones are `rejected` (a fault: someone or something wrote them). */
struct replay_checkpoint_report {
  unsigned skipped;          /* every checkpoint not used, rejected ones included */
  unsigned rejected;
  uint64_t rejected_seq;     /* the newest rejected checkpoint's seq (0: none) */
  char why[160];             /* why it was rejected */
};

/* The newest valid and authenticated (trusted_pk, see above) checkpoint with seq <= at_most from
 * the journal's checkpoint store. Returns 0 with *out and *out_seq, or JOURNAL_ENOTFOUND (then
 * *out is the initial state, *out_seq 0). rep (may be NULL) says what was skipped. */
int replay_checkpoint_load(struct journal_iter *it, uint64_t at_most, uint32_t expect_config_version,
                           const uint8_t *trusted_pk, struct replay_state *out, uint64_t *out_seq,
                           struct replay_checkpoint_report *rep);

/* ---------------------------------------------------------------- offline replay */

struct replay_divergence {
  uint64_t seq;      /* the record that differs (the seal, the command/refusal, or the request) */
  char what[200];
};

struct replay_options {
  uint64_t until_seq;          /* fold 1..until_seq inclusive; 0 = to the end */
  int64_t until_wall_ns;       /* stop before the first record whose wall time is later; 0 = none */
  bool check;                  /* compare effects and seal state hashes */
  bool use_checkpoints;        /* replay_dir only: start at the newest valid checkpoint (not with check) */
  const uint8_t *trusted_pk;   /* replay_dir only: the key whose seals authenticate checkpoints;
                                  NULL: no checkpoint is used (a cut journal starts unproven) */
  uint32_t config_version;     /* checkpoints must carry it; 0 = any */
  journal_progress_cb progress;
  void *pctx;
  /* each divergence (check mode) */
  void (*on_divergence)(void *ctx, const struct replay_divergence *d);
  /* each record after it is folded, with the effects it asked for (incident timelines) */
  void (*on_record)(void *ctx, const struct journal_record *r, const struct replay_state *s,
                    const struct replay_effects *fx);
  void *ctx;
};

struct replay_result {
  uint64_t start_seq;          /* checkpoint seq the fold started from (0: initial state) */
  unsigned checkpoints_skipped;
  unsigned checkpoints_rejected; /* damaged or not proven by a signed seal (a fault) */
  uint64_t checkpoint_rejected_seq;
  char checkpoint_why[160];    /* why the newest rejected checkpoint was refused */
  bool start_unproven;         /* the journal was cut (first seq > 1) and no authenticated
                                  checkpoint holds the state at the cut: the fold started from
                                  the initial state at the first kept record */
  uint64_t first_seq, last_seq;/* records read from the source (last_seq: last folded, seals included) */
  uint64_t records;            /* records read and folded (seals included) */
  uint64_t seals_checked, seals_unhashed, effects_checked, effects_unanswered;
  uint64_t rollups_checked;    /* check: rollup records compared with the fold's (reducer v 9) */
  uint64_t divergences;
  uint64_t first_divergence_seq;
  uint8_t head_hash[JOURNAL_HASH_BYTES]; /* hash of record last_seq */
  uint8_t state_hash[JOURNAL_HASH_BYTES];
  uint64_t bad_seq;            /* a record that did not decode / source damage (then rc < 0) */
  char why[160];
};

/* Folds every record the source yields (in seq order) into *s, which holds the state after
 * s's own records (replay_state_init for seq 1, or a loaded checkpoint). Returns 0 (check the
 * divergence count), or <0 when the source is damaged or a record does not decode (res->bad_seq,
 * res->why; *s then holds the state after the last good record). */
int replay_fold(struct replay_state *s, const struct journal_record_source *src,
                const struct replay_options *o, struct replay_result *res);

/* Replays a data dir: from the newest valid, authenticated checkpoint when o->use_checkpoints
 * (and not o->check), else from seq 1; a journal cut by retention from the authenticated
 * checkpoint at (or after) the cut, else from its first record with the initial state
 * (res->start_unproven). */
int replay_dir(struct journal_reader *rd, const struct replay_options *o, struct replay_state *s,
               struct replay_result *res);

/* Whether a recorded rollup (got) differs from the one the fold closed (want); what names the
 * first difference. */
bool replay_rollup_differs(const struct journal_rollup *want, const struct journal_rollup *got, char *what, size_t cap);

/* The reducer as journal_verify_opt's fold over *s (caller-owned, kept while f is used). */
void replay_verify_fold(struct journal_verify_fold *f, struct replay_state *s);

/* ---------------------------------------------------------------- the live harness */

struct replay_harness_options {
  uint64_t checkpoint_every_records; /* 0 → 1000000; UINT64_MAX → never by count */
  int64_t checkpoint_every_ns;       /* record time; 0 → 3600 s; INT64_MAX → never by time */
  bool no_checkpoints;
};

/* Caller-owned (about 300 KB: keep it off small stacks). */
struct replay_harness {
  struct replay_state state;
  struct replay_harness_options opt;
  struct journal *j;
  /* the caller's journal callbacks, forwarded */
  struct journal_clock user_clock;
  journal_durable_cb user_durable;
  void *user_ctx;
  /* the record being appended: folded when its seal asks for the hash, else after append */
  struct journal_record pending;
  bool in_append, pending_stamped, pending_folded;
  struct replay_effects pending_fx;
  uint64_t ckpt_last_seq;
  int64_t ckpt_last_wall_ns;
  uint64_t checkpoints_written;
  bool ckpt_due;                      /* take one while the next seal is built */
  int ckpt_err;                       /* a checkpoint put that failed inside the seal callback */
  /* what attach found: a rejected checkpoint (the caller journals a fault) */
  uint64_t attach_rejected_seq;
  unsigned attach_rejected;
  char attach_why[160];
  uint8_t ckpt_buf[REPLAY_CHECKPOINT_BYTES];
};

/* Prepares h and hooks it into *jo (clock, state_hash, on_durable/ctx are wrapped; set the
 * caller's own clock/on_durable/ctx in *jo before calling). Then journal_open(jo) and
 * replay_harness_attach(). */
void replay_harness_init(struct replay_harness *h, const struct replay_harness_options *o,
                         struct journal_options *jo);

/* Folds the journal's existing records (from the newest checkpoint proven by a seal signed with
 * the journal's own key) so the state is current, and binds h to j. Rejected checkpoints are
 * left in h->attach_* for the caller to journal. Returns 0 or <0; JOURNAL_EUNSEALED when the
 * journal was cut and no authenticated checkpoint holds the state at the cut (a daemon never
 * starts from a state nothing signed; h->attach_why says why). */
int replay_harness_attach(struct replay_harness *h, struct journal *j);
/* The same, with checkpoints authenticated by seals of trusted_pk instead of the journal's own
 * key: `hems key rotate`, right after the rotation, trusts the key that was in force. */
int replay_harness_attach_trusting(struct replay_harness *h, struct journal *j, const uint8_t trusted_pk[JOURNAL_PUBKEY_BYTES]);

/* Appends r (type, source and body as for journal_append), folds it and, for every command or
 * refusal decision, appends that record too (write-ahead: the caller actuates only after the
 * command is durable — journal_sync). *out_seq: r's seq; *out_fx: r's effects, with
 * effect seqs in *out_fx_seqs[i] (the appended command/refusal seq; 0 for a reply). Writes a
 * checkpoint when one is due. */
int replay_harness_append(struct replay_harness *h, const struct journal_record *r, uint64_t *out_seq,
                          struct replay_effects *out_fx, uint64_t out_fx_seqs[REPLAY_EFFECTS_MAX]);

/* Appends the command/refusal record for one effect (COMMAND/REFUSAL; REPLY appends nothing). */
int replay_harness_append_effect(struct replay_harness *h, const struct replay_effect *e, uint64_t *out_seq);
/* The command or refusal record (type and body; no seq, time or prev) that journals decision e,
 * a COMMAND or REFUSAL effect; its request_id points into e. */
void replay_effect_record(const struct replay_effect *e, struct journal_record *r);

/* Writes a checkpoint of the current state now: ends the current group with a seal (which then
 * signs exactly that state) and stores the checkpoint with it. */
int replay_harness_checkpoint(struct replay_harness *h);

/* ---------------------------------------------------------------- retention */

/* Stores, in the writer's current group, a checkpoint of the state folded through cut_seq
 * (from the newest checkpoint before it): what a journal cut at cut_seq needs so that replay
 * and `replay --check` of the rest start from the state the panel had there. Call it from a
 * journal_retention_cb before appending the retention record. */
int replay_checkpoint_at(struct journal *j, uint64_t cut_seq);

/* Encodes into buf (REPLAY_CHECKPOINT_BYTES) the state after seq, folded from the newest valid
 * checkpoint at or before it that a seal signed by trusted_pk authenticates: a bundle's start
 * checkpoint. JOURNAL_ENOTFOUND when the reader holds neither the records up to seq nor a
 * checkpoint at exactly seq; JOURNAL_EUNSEALED when the journal was cut and no authenticated
 * checkpoint holds the state at the cut. */
int replay_checkpoint_fold(struct journal_reader *rd, uint64_t seq, const uint8_t *trusted_pk, uint8_t *buf);

/* ---------------------------------------------------------------- statements (statement.c) */

/* A statement (`hems statement`, docs/replay.md "Statements"): a month's per-branch energy as
 * the difference of two states that seals signed. The file, byte by byte (integers
 * little-endian):
 *   magic "hems-statement 1\n" (17 bytes);
 *   u16 year (1970..9999), u8 month (1..12), u8 0, u16 branch (0: all, else 1..48), u16 0;
 *   32-byte Ed25519 public key that signed both checkpoints;
 *   u32 length (1..JOURNAL_TLOG_NOTE_MAX) + the start checkpoint (C2SP signed note);
 *   u32 length + the end checkpoint;
 *   u8 n (0..JOURNAL_MERKLE_PROOF_MAX) + n·32 bytes: the RFC 9162 consistency proof;
 *   u32 length + the start state's canonical serialisation (replay_state_serialise);
 *   u32 length + the end state's;
 *   32 bytes: BLAKE2b-256 of every byte before it (damage, not authenticity: the signatures,
 *   the proof and the state hashes are what a verifier trusts);
 *   nothing after. */
#define REPLAY_STATEMENT_MAGIC "hems-statement 1\n"
#define REPLAY_STATEMENT_MAGIC_LEN 17u
#define REPLAY_STATEMENT_MAX                                                                                          \
  (REPLAY_STATEMENT_MAGIC_LEN + 8u + 32u + 2u * (4u + JOURNAL_TLOG_NOTE_MAX) + 1u +                                   \
   JOURNAL_MERKLE_PROOF_MAX * 32u + 2u * (4u + REPLAY_SER_MAX) + 32u)

struct replay_statement {
  uint16_t year;
  uint8_t month;
  uint16_t branch;
  uint8_t pubkey[JOURNAL_PUBKEY_BYTES];
  const char *note[2];              /* start, end (pointers into the decoded bytes) */
  size_t note_len[2];
  unsigned nproof;
  const uint8_t *proof;             /* nproof × 32 bytes */
  const uint8_t *state[2];          /* canonical serialisations */
  size_t state_len[2];
};

/* What a verifier reads from a canonical serialisation (it hashes all of it). */
struct replay_state_energy {
  uint32_t reducer_version;
  uint64_t seq;
  int64_t wall_ns;
  uint16_t nbranches;
  int64_t import_uwh[REPLAY_BRANCHES_MAX], export_uwh[REPLAY_BRANCHES_MAX];
};

/* The statement's bytes into out: their length, or -ENOSPC (cap too small), -EINVAL (a field out
 * of range). */
long replay_statement_encode(const struct replay_statement *st, uint8_t *out, size_t cap);
/* Bounded, strict: 0 with *out pointing into b, or JOURNAL_ECORRUPT with why naming the field
 * and its offset (also for a digest that differs, trailing bytes, a state that does not parse). */
int replay_statement_decode(const uint8_t *b, size_t len, struct replay_statement *out, char *why, size_t why_cap);
/* 0 or JOURNAL_ECORRUPT: the tag, the length (FIXED + 4 + count·REQ_BYTES), nbranches ≤ 48. */
int replay_state_energy_parse(const uint8_t *b, size_t len, struct replay_state_energy *out);

#ifdef __cplusplus
}
#endif
#endif
