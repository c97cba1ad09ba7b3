/*
 * verify_internal.h — the record-by-record checks of verify.c (vcheck_*), shared with the
 * two-thread pipeline of verify_pipe.c. Internal to the journal library.
 */
#ifndef HEMS_VERIFY_INTERNAL_H
#define HEMS_VERIFY_INTERNAL_H
#include "journal.h"

/* withheld: only the record's leaf hash is known (hash and prev are not) */
struct journal__vlink { uint64_t seq; uint8_t hash[32]; uint8_t prev[32]; size_t off, len; bool withheld; };

#define JOURNAL__VERIFY_MAX_KEYS 16

/* What the reading side of the pipeline worked out ahead for one record (NULL: nothing). */
struct journal__vpre {
  uint8_t hash[32];   /* journal_record_hash of the bytes */
  uint8_t leaf[32];   /* journal_merkle_leaf_hash of the bytes, when has_leaf */
  bool has_leaf;
  int8_t sig;         /* seals: 1 signature valid, 0 invalid, -1 not checked */
  uint8_t sig_pk[32]; /* the key it was checked with */
  int8_t blob;        /* records naming a capture blob: journal__vblob_status, or -1 not checked */
  const struct journal_record *rec; /* decoded for the fold's apply_record (NULL: not decoded) */
  int rec_rc;         /* journal_record_decode's answer for rec */
};

/* 0: no blob named or it is intact; 1: missing or unreadable; 2: its hash differs. */
int journal__vblob_status(const struct journal_record_source *src, const uint8_t *bytes, size_t len);

struct journal__vstate {
  struct journal_verify_result *res;
  uint8_t keys[JOURNAL__VERIFY_MAX_KEYS][32];
  uint8_t key_ids[JOURNAL__VERIFY_MAX_KEYS][16];
  int nkeys;
  /* the key in force (the pinned first key, then each rotation's key from the group after its
   * record): every seal must be signed by it; have_in_force false (a source without the first
   * key record) accepts a seal by any trusted key */
  bool have_in_force, have_pending;
  uint8_t in_force[16], pending[16];
  uint64_t key_ended[JOURNAL__VERIFY_MAX_KEYS];  /* seq of the seal that retired key i, or 0 */
  uint64_t key_revoked[JOURNAL__VERIFY_MAX_KEYS]; /* seq of key i's revocation, or 0 */
  struct journal__vlink *grp;
  size_t n, cap;
  uint8_t anchor[32];      /* what the group's first prev must equal */
  uint64_t anchor_seq;     /* seq whose hash the anchor is (0 = before the first record) */
  bool anchor_from_record; /* first prev was taken from the record itself (a cut, no proof yet) */
  uint64_t first_seq;
  uint8_t first_prev[32];
  const struct journal_record_source *src;
  uint64_t expect_seq;
  bool signer_trusted;     /* the source's framing key is trusted (or it has none) */
  bool keep_bytes;         /* copy each group's bytes (the checked source) */
  uint8_t *arena;          /* the current group's record bytes when keep_bytes */
  size_t alen, acap;
  /* the Merkle tree of the records, recomputed when the source starts at seq 1 */
  struct journal_merkle_hasher mh;
  struct journal_merkle_appender *tree;
  /* newest-seal mode: seal signatures are not checked as they come; the newest seal's bytes
   * are kept and its signature is checked at the end (the chain and the tree tie every earlier
   * record to it) */
  bool newest_only;
  uint8_t *last_seal;
  size_t last_seal_len, last_seal_cap;
  /* the fold whose state hash every seal must carry (from seq 1 only; NULL: not compared) */
  const struct journal_verify_fold *fold;
  bool fold_on;
  uint64_t fold_bad_seq;    /* first record the fold could not take (reported at its seal) */
  bool group_withheld;      /* the current group holds a withheld record */
};

/* One line into res (reason, bad seq) and code back (verify.c). */
int journal__vfail(struct journal__vstate *v, uint64_t seq, int code, const char *fmt, unsigned long long a);
/* The key chain (verify_keys.c): trust a key (0, -ENOSPC), find a trusted key by id (its
 * public key or NULL) or its index (-1), take a `key` record (a rotation or a revocation; 0 or
 * <0 after fail), check a seal's key against the key in force, and let a rotation take effect
 * once its group's seal verified. */
int journal__vkey_trust(struct journal__vstate *v, const uint8_t pk[32]);
const uint8_t *journal__vkey_find(struct journal__vstate *v, const uint8_t id[16]);
int journal__vkey_index(struct journal__vstate *v, const uint8_t id[16]);
int journal__vkey_record(struct journal__vstate *v, uint64_t seq, const struct journal_key *k);
int journal__vkey_check_seal(struct journal__vstate *v, uint64_t seq, const uint8_t key_id[16]);
void journal__vkey_group_proven(struct journal__vstate *v, uint64_t seal_seq);

int journal__vcheck_init(struct journal__vstate *v, const struct journal_record_source *src,
                         const uint8_t trusted_pk[32], const uint8_t *expect_prev,
                         struct journal_verify_result *res);
/* One record: 0 taken, 1 taken and it completed a proven group (call vcheck_next_group), <0
 * bad (v->res filled). */
int journal__vcheck_push(struct journal__vstate *v, uint64_t seq, const uint8_t *bytes, size_t len,
                         const struct journal__vpre *pre);
/* A withheld record (journal_record_source, next() returning 2): its leaf only. 0 or <0. */
int journal__vcheck_withheld(struct journal__vstate *v, uint64_t seq, const uint8_t leaf[32]);
void journal__vcheck_next_group(struct journal__vstate *v);
int journal__vcheck_end(struct journal__vstate *v, int got, const char *why);
void journal__vcheck_free(struct journal__vstate *v);

#endif
