/*
 * checkpoint.c — replay checkpoints: encoding, decoding and validating them, loading the newest
 * authenticated one, and folding one for a seq (a retention cut's). Authentication against the
 * seals is checkpoint_auth.c's; the fold is replay.c's.
 *
 * Checkpoint format (all integers little-endian):
 *   0  "hemsckpt"            8
 *   8  format (1)            u32
 *  12  reducer version       u32
 *  16  config version        u32
 *  20  sizeof(replay_state)  u32
 *  24  seq                   u64   last record folded into the state
 *  32  canonical state hash  32
 *  64  zero                  8
 *  72  struct replay_state   raw bytes (this build's layout; validated via the state hash)
 *  ..  BLAKE2b-256 of every byte before it
 * The raw struct is a local cache format: a checkpoint from another layout fails the size or
 * the recomputed canonical hash and is skipped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "replay.h"

/* ------------------------------------------------------------------ checkpoints */

static void le32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) { p[i] = (uint8_t)v; v >>= 8; } }
static void le64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) { p[i] = (uint8_t)v; v >>= 8; } }
static uint32_t rd32(const uint8_t *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = v << 8 | p[i]; return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }

void replay_checkpoint_encode(const struct replay_state *s, uint64_t seq, uint8_t *buf)
{
  memset(buf, 0, REPLAY_CHECKPOINT_HEADER);
  memcpy(buf, "hemsckpt", 8);
  le32(buf + 8, REPLAY_CHECKPOINT_FORMAT);
  le32(buf + 12, s->reducer_version);
  le32(buf + 16, s->config_version);
  le32(buf + 20, (uint32_t)sizeof *s);
  le64(buf + 24, seq);
  replay_state_hash(s, buf + 32);
  memcpy(buf + REPLAY_CHECKPOINT_HEADER, s, sizeof *s);
  size_t n = REPLAY_CHECKPOINT_HEADER + sizeof *s;
  crypto_generichash(buf + n, 32, buf, n, NULL, 0);
}

int replay_checkpoint_decode(const uint8_t *buf, size_t len, uint32_t expect_config_version,
                             struct replay_state *out, uint64_t *out_seq)
{
  if (len < REPLAY_CHECKPOINT_HEADER + 32 || memcmp(buf, "hemsckpt", 8) != 0) return JOURNAL_ECORRUPT;
  if (rd32(buf + 8) != REPLAY_CHECKPOINT_FORMAT) return JOURNAL_EVERSION;
  if (len != REPLAY_CHECKPOINT_BYTES || rd32(buf + 20) != sizeof *out) return JOURNAL_ECORRUPT;
  size_t n = REPLAY_CHECKPOINT_HEADER + sizeof *out;
  uint8_t h[32];
  crypto_generichash(h, 32, buf, n, NULL, 0);
  if (sodium_memcmp(h, buf + n, 32) != 0) return JOURNAL_ECORRUPT;
  uint32_t rv = rd32(buf + 12);
  if (rv < REPLAY_REDUCER_BASE || rv > REPLAY_REDUCER_VERSION) return JOURNAL_EVERSION;
  uint32_t cv = rd32(buf + 16);
  if (expect_config_version && cv != expect_config_version) return JOURNAL_EVERSION;
  memcpy(out, buf + REPLAY_CHECKPOINT_HEADER, sizeof *out);
  /* Never trust the payload's own fields blindly: ranges, versions, and the canonical hash. */
  if (out->reducer_version != rv || out->config_version != cv) return JOURNAL_EVERSION;
  if (rv < 5) {
    /* the v 5 fields are not in a v 4 state hash: a v 4 fold holds their defaults, so take
     * them rather than whatever the payload says (they act once a v 5 boot is folded) */
    out->pol.stable_last_ns = 0;
    out->pol.stable_for_ns = 0;
    out->pol.holding = 0;
    out->pol.holdoff_ns = REPLAY_DEFAULT_RESTORE_HOLDOFF_NS;
    out->pol.der_holdoff_ns = REPLAY_DEFAULT_DER_HOLDOFF_NS;
    out->grid_absent = 0;
  } else if (out->pol.holdoff_ns < 0 || out->pol.der_holdoff_ns < 0 || out->pol.stable_for_ns < 0 || out->pol.holding > 1) {
    return JOURNAL_ECORRUPT;
  }
  if (out->req_head >= REPLAY_REQ_WINDOW_IDS || out->req_count > REPLAY_REQ_WINDOW_IDS ||
      out->nbranches > REPLAY_BRANCHES_MAX || out->seq > rd64(buf + 24))
    return JOURNAL_ECORRUPT;
  if (rv < 7) /* the v 7 fields are not in an older state hash: an older fold holds their defaults */
    for (unsigned i = 0; i < REPLAY_BRANCHES_MAX; i++) {
      out->br[i].phase_now = 0;
      out->br[i].open_wall_ns = 0;
      out->br[i].der_mismatch = 0;
      out->br[i].suspect = 0;
    }
  if (rv < 8) { /* likewise the v 8 fields */
    struct replay_policy *p = &out->pol;
    p->nominal_mv = 0;
    p->pq_low_permille = REPLAY_DEFAULT_PQ_LOW_PERMILLE;
    p->pq_high_permille = REPLAY_DEFAULT_PQ_HIGH_PERMILLE;
    p->pq_hyst_permille = REPLAY_DEFAULT_PQ_HYST_PERMILLE;
    p->protecting = 0;
    p->protect_ns = REPLAY_DEFAULT_PROTECT_NS;
    p->mains_afe = 0;
    memset(p->pq_out, 0, sizeof p->pq_out);
    p->protect_trips = 0;
    memset(p->pq_out_for_ns, 0, sizeof p->pq_out_for_ns);
    p->pq_ok_for_ns = p->pq_last_ns = p->protect_trip_ns = 0;
    for (unsigned i = 0; i < REPLAY_BRANCHES_MAX; i++) out->br[i].sensitive = 0;
  } else if (out->pol.protecting > 1 || out->pol.protect_ns < 0 || out->pol.pq_out[0] > 1 || out->pol.pq_out[1] > 1 ||
             out->pol.pq_out[2] > 1 || out->pol.protect_trips > REPLAY_PROTECT_BACKOFF_MAX + 1) {
    return JOURNAL_ECORRUPT;
  }
  /* v 9: a closed rollup slot is not in the state hash: the fold holds it zeroed */
  for (unsigned k = 0; k < 2; k++) {
    if (out->roll[k].open > 1) return JOURNAL_ECORRUPT;
    if (rv < 9 || !out->roll[k].open) memset(&out->roll[k], 0, sizeof out->roll[k]);
  }
  /* the fold indexes and copies by these: a phase of A, B, C or N (0 unmeasured), the ring
   * head inside its ring, the deferred request id inside its buffer */
  for (unsigned i = 0; i < REPLAY_BRANCHES_MAX; i++) {
    const struct replay_branch *b = &out->br[i];
    if (b->phase > REPLAY_PHASES || b->phase_now > REPLAY_PHASES || b->der_mismatch > 1 || b->sensitive > 1 || (b->suspect & ~(REPLAY_ALARM_CT_POLARITY | REPLAY_ALARM_PHASE_MAP)) || b->ops_head >= REPLAY_OPS_RING || b->want_id_len > REPLAY_REQUEST_ID_MAX)
      return JOURNAL_ECORRUPT;
  }
  replay_state_hash(out, h);
  if (memcmp(h, buf + 32, 32) != 0) return JOURNAL_ECORRUPT;
  *out_seq = rd64(buf + 24);
  return 0;
}

int replay_checkpoint_load(struct journal_iter *it, uint64_t at_most, uint32_t expect_config_version,
                           const uint8_t *trusted_pk, struct replay_state *out, uint64_t *out_seq,
                           struct replay_checkpoint_report *rep)
{
  struct replay_checkpoint_report local;
  if (!rep) rep = &local;
  memset(rep, 0, sizeof *rep);
  uint64_t bound = at_most, barren = 0;
  int rc = JOURNAL_ENOTFOUND;
  while (bound > 0) {
    uint64_t seq;
    uint8_t *data;
    size_t len;
    rc = journal_checkpoint_get(it, bound, &seq, &data, &len);
    if (rc) break;
    uint64_t inner = 0;
    char why[160] = "";
    rc = replay_checkpoint_decode(data, len, expect_config_version, out, &inner);
    free(data);
    if (rc == 0 && inner != seq) rc = JOURNAL_ECORRUPT;
    if (rc == JOURNAL_ECORRUPT) snprintf(why, sizeof why, "damaged (size, checksum, fields or state hash)");
    if (rc == 0) rc = replay_checkpoint_authenticate(it, trusted_pk, seq, out, &barren, why, sizeof why);
    if (rc == 0) {
      *out_seq = seq;
      return 0;
    }
    if (rc == -ENOMEM) break;
    rep->skipped++;
    if (rc != JOURNAL_EVERSION) {
      if (!rep->rejected) { rep->rejected_seq = seq; snprintf(rep->why, sizeof rep->why, "%s", why); }
      rep->rejected++;
    }
    bound = seq - 1;
    rc = JOURNAL_ENOTFOUND;
  }
  replay_state_init(out);
  *out_seq = 0;
  return rc == 0 || rc == JOURNAL_ENOTFOUND ? JOURNAL_ENOTFOUND : rc;
}

/* ------------------------------------------------------------------ retention */

int replay_checkpoint_fold(struct journal_reader *rd, uint64_t seq, const uint8_t *trusted_pk, uint8_t *buf)
{
  struct replay_state *st = malloc(sizeof *st);
  struct replay_options o;
  struct replay_result res;
  memset(&o, 0, sizeof o);
  o.until_seq = seq;
  o.use_checkpoints = true;
  o.trusted_pk = trusted_pk;
  int rc = st ? replay_dir(rd, &o, st, &res) : -ENOMEM;
  /* never encode (and so launder) a state nothing signed */
  if (!rc && res.start_unproven) rc = JOURNAL_EUNSEALED;
  /* exactly seq: folded to it, or the checkpoint stored there (a retention cut at seq) */
  if (!rc && res.last_seq != seq && !(res.last_seq == 0 && res.start_seq == seq)) rc = JOURNAL_ENOTFOUND;
  if (!rc) replay_checkpoint_encode(st, seq, buf);
  free(st);
  return rc;
}

int replay_checkpoint_at(struct journal *j, uint64_t cut_seq)
{
  struct journal_reader *rd;
  int rc = journal_reader_attach(&rd, j);
  if (rc) return rc;
  uint8_t *buf = malloc(REPLAY_CHECKPOINT_BYTES);
  rc = buf ? replay_checkpoint_fold(rd, cut_seq, journal_signer_pubkey(j), buf) : -ENOMEM;
  if (rc == JOURNAL_ENOTFOUND) rc = JOURNAL_ECORRUPT;
  if (!rc) rc = journal_checkpoint_put(j, cut_seq, buf, REPLAY_CHECKPOINT_BYTES);
  journal_reader_close(rd);
  free(buf);
  return rc;
}
