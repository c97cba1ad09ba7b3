/*
 * bundle_check.c — what `hems verify BUNDLE` adds for a format-3 bundle (../shared/CLI.md
 * "Proofs"; docs/cli.md "verify"): the covered seq and time range, the panel's signed head at
 * export, the embedded RFC 9162 consistency proof from the bundle's closing checkpoint to that
 * head, and with --checkpoint FILE the proof that an auditor's kept checkpoint and the head are
 * consistent.
 *
 * Trust: the head note must carry a valid signature by the pinned key under the origin
 * "hems/<device id>"; so must the kept checkpoint. The closing root is not read from the bundle
 * but recomputed from the carried frontier and the bundle's records (journal/bundle_tree.c), so a
 * proof that verifies from it to the signed head ties every record of the range to the head.
 *
 * Kept size K against the head's size N (closing size C, the range's start size S):
 *   K = N: the roots must be equal. S ≤ K ≤ C: the root the records give at K must equal the
 *   kept root (and C → N is proven). Otherwise a proof from K carried by the bundle (`hems
 *   export --since-checkpoint FILE`) must verify. K > N, or no proof from K: exit 1 saying what
 *   is missing. A mismatch names K: the first size at which the two are known to differ.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "cli.h"

typedef const uint8_t (*cproof_t)[JOURNAL_HASH_BYTES];

static void b64(const uint8_t *h, char out[48])
{
  sodium_bin2base64(out, 48, h, JOURNAL_HASH_BYTES, sodium_base64_VARIANT_ORIGINAL);
}

/* A signed note file, opened with v: 0 with c filled, or the exit code after one line. */
static int kept_open(const char *path, const struct journal_tlog_verifier *v, struct journal_tlog_checkpoint *c)
{
  char *note = malloc(JOURNAL_TLOG_NOTE_MAX + 1);
  size_t len = 0, blen = 0;
  if (!note) return CLI_ENV;
  int rc = cli_witness_read_file(path, note, JOURNAL_TLOG_NOTE_MAX + 1, &len);
  if (rc) {
    cli_err("--checkpoint %s: %s", path, rc == -EFBIG ? "larger than a signed note may be" : strerror(-rc));
    free(note);
    return rc == -EFBIG ? CLI_FAIL : CLI_ENV;
  }
  rc = journal_tlog_open(note, len, v, &blen, NULL);
  if (rc == 0 && journal_tlog_checkpoint_parse(note, blen, c) != 0) rc = JOURNAL_ENOTE;
  free(note);
  if (rc == 0 && strcmp(c->origin, v->name) != 0) rc = JOURNAL_EBADSIG;
  if (rc) {
    cli_err("checkpoint %s: %s", path, rc == JOURNAL_EBADSIG ? "no valid signature by the pinned key for this bundle's origin"
                                                                      : "not a checkpoint (C2SP tlog-checkpoint signed note)");
    return CLI_FAIL;
  }
  return 0;
}

int cli_bundle_check_begin(struct cli_source *s, const char *where, const char *kept_path, struct cli_bundle_check *bc)
{
  memset(bc, 0, sizeof *bc);
  bc->where = where;
  bc->kept_path = kept_path;
  char why[160] = "";
  int rc = journal_bundle_tree(s->bundle, &bc->t, why, sizeof why);
  if (rc == JOURNAL_ENOTFOUND) {
    bc->t = NULL;
    if (!kept_path) return 0;
    cli_err("verify: %s: --checkpoint: a bundle of format %u carries no head checkpoint (export it again with this hems)",
            where, journal_bundle_format(s->bundle));
    return CLI_FAIL;
  }
  if (rc) { bc->t = NULL; return 0; } /* damage: journal_verify reports it, with what came before */
  memcpy(bc->pinned_pk, s->pubkey, 32);
  memcpy(bc->bundle_pk, journal_bundle_pubkey(s->bundle), 32);
  char origin[JOURNAL_TLOG_NAME_MAX + 1];
  if (journal_tlog_origin(journal_bundle_device_id(s->bundle), origin, sizeof origin) < 0 ||
      journal_tlog_verifier_init(&bc->v, origin, JOURNAL_TLOG_ED25519, s->pubkey) != 0) {
    cli_err("verify: %s: the bundle names no valid device id (the checkpoints' origin)", where);
    return CLI_FAIL;
  }
  if (kept_path) {
    if ((rc = kept_open(kept_path, &bc->v, &bc->kept))) return rc;
    bc->have_kept = true;
    journal_bundle_watch(s->bundle, bc->kept.size);
  }
  return 0;
}

/* The kept checkpoint against the head: CLI_OK or CLI_FAIL after one line. */
static int check_kept(struct cli_bundle_check *bc, struct journal_merkle_hasher *h, const struct journal_bundle_tree *t)
{
  uint64_t k = bc->kept.size, n = t->head_size;
  const char *kp = bc->kept_path;
  char r[48];
  b64(bc->kept.root, r);
  printf("checkpoint %s: size %llu root %s\n", kp, (unsigned long long)k, r);
  if (k > n) {
    printf("checkpoint: newer than the head at export (size %llu)\n", (unsigned long long)n);
    cli_err("verify: --checkpoint %s: size %llu is beyond the bundle's head (size %llu): the bundle cannot carry the "
            "consistency proof from %llu to %llu; get it with 'hems prove --from %llu --to %llu' on the panel",
            kp, (unsigned long long)k, (unsigned long long)n, (unsigned long long)n, (unsigned long long)k,
            (unsigned long long)n, (unsigned long long)k);
    return CLI_FAIL;
  }
  bool same;
  const char *how;
  if (k == n) {
    same = memcmp(bc->kept.root, t->head_root, JOURNAL_HASH_BYTES) == 0;
    how = "it is the head at export";
  } else if (t->watch_known && t->watch_size == k) {
    same = memcmp(bc->kept.root, t->watch_root, JOURNAL_HASH_BYTES) == 0;
    how = "the bundle's records give its root, and the closing checkpoint extends to the head";
  } else {
    const struct journal_bundle_proof *p = NULL;
    for (unsigned i = 0; i < t->nproofs; i++)
      if (t->proofs[i].old_size == k) p = &t->proofs[i];
    if (!p) {
      printf("checkpoint: not proven: the bundle carries no proof from size %llu\n", (unsigned long long)k);
      cli_err("verify: --checkpoint %s: size %llu is outside the bundle's range (sizes %llu..%llu) and the bundle carries "
              "no consistency proof from it; export with --since-checkpoint %s", kp, (unsigned long long)k,
              (unsigned long long)t->start_size, (unsigned long long)t->close_size, kp);
      return CLI_FAIL;
    }
    same = journal_merkle_verify_consistency(h, k, bc->kept.root, n, t->head_root, (cproof_t)p->hashes, p->n) == 0;
    how = "the bundle's consistency proof from its size to the head verifies";
  }
  if (!same) {
    printf("checkpoint: inconsistent: first inconsistent size %llu\n", (unsigned long long)k);
    cli_err("verify: --checkpoint %s: not consistent with the bundle's head (size %llu): first inconsistent size %llu "
            "(a fork: another tree was signed with the same key)", kp, (unsigned long long)n, (unsigned long long)k);
    return CLI_FAIL;
  }
  printf("checkpoint: consistent: the head at export (size %llu) extends it: %s\n", (unsigned long long)n, how);
  return CLI_OK;
}

/* The head note, opened with the pinned key: 0, or CLI_FAIL after one line. */
static int head_open(struct cli_bundle_check *bc, struct journal_tlog_hems *he)
{
  const struct journal_bundle_tree *t = bc->t;
  size_t blen = 0;
  struct journal_tlog_checkpoint hc;
  int orc = journal_tlog_open(t->head_note, t->head_note_len, &bc->v, &blen, NULL);
  if (orc != 0 && memcmp(bc->pinned_pk, bc->bundle_pk, 32) != 0 &&
      cli_bundle_key_certified(bc->where, bc->pinned_pk, bc->bundle_pk)) {
    /* exported after a key rotation: the head is the key in force's, certified from the pin */
    struct journal_tlog_verifier v2;
    if (journal_tlog_verifier_init(&v2, bc->v.name, JOURNAL_TLOG_ED25519, bc->bundle_pk) == 0)
      orc = journal_tlog_open(t->head_note, t->head_note_len, &v2, &blen, NULL);
  }
  if (orc != 0 ||
      journal_tlog_checkpoint_parse(t->head_note, blen, &hc) != 0 || strcmp(hc.origin, bc->v.name) != 0 ||
      journal_tlog_hems_parse(hc.ext, he) != 0) {
    cli_err("%s: head checkpoint (size %llu): no valid signature by the pinned key", bc->where,
            (unsigned long long)t->head_size);
    return CLI_FAIL;
  }
  return 0;
}

/* The embedded proof from the closing size to the head: 0, JOURNAL_EPROOF, -ENOMEM, or
 * JOURNAL_EBUNDLE when the bundle does not end at the closing size's seal. */
static int close_proof_check(const struct journal_bundle_tree *t)
{
  if (!t->close_known || t->last_seq != t->close_size + 1) return JOURNAL_EBUNDLE;
  struct journal_merkle_hasher h;
  if (journal_merkle_hasher_init(&h)) return -ENOMEM;
  const struct journal_bundle_proof *p = &t->proofs[0];
  int rc = journal_merkle_verify_consistency(&h, t->close_size, t->close_root, t->head_size, t->head_root, (cproof_t)p->hashes, p->n);
  journal_merkle_hasher_deinit(&h);
  return rc;
}

int cli_bundle_head_note(struct cli_bundle_check *bc, const char **note, size_t *len)
{
  struct journal_tlog_hems he;
  if (!bc->t) return CLI_FAIL;
  if (head_open(bc, &he)) return CLI_FAIL;
  if (close_proof_check(bc->t)) {
    cli_err("%s: the head checkpoint is not proven consistent with the bundle's records", bc->where);
    return CLI_FAIL;
  }
  *note = (const char *)bc->t->head_note;
  *len = bc->t->head_note_len;
  return 0;
}

int cli_bundle_head_print(struct cli_bundle_check *bc, bool proof)
{
  const struct journal_bundle_tree *t = bc->t;
  struct journal_tlog_hems he;
  if (head_open(bc, &he)) return CLI_FAIL;
  if (!proof) {
    fwrite(t->head_note, 1, t->head_note_len, stdout);
    return fflush(stdout) == 0 ? CLI_OK : CLI_ENV;
  }
  int rc = close_proof_check(t);
  if (rc) {
    cli_err("%s: the embedded consistency proof from the closing size %llu to the head's size %llu %s", bc->where,
            (unsigned long long)t->close_size, (unsigned long long)t->head_size,
            rc == -ENOMEM ? "cannot be checked (out of memory)" : rc == JOURNAL_EBUNDLE ? "starts at no seal of the bundle (its last record is another)" : "does not verify");
    return rc == -ENOMEM ? CLI_ENV : CLI_FAIL;
  }
  char r1[48], r2[48], h[48];
  b64(t->close_root, r1);
  b64(t->head_root, r2);
  printf("{\"old_size\":%llu,\"new_size\":%llu,\"old_root\":\"%s\",\"new_root\":\"%s\",\"proof\":[",
         (unsigned long long)t->close_size, (unsigned long long)t->head_size, r1, r2);
  for (unsigned i = 0; i < t->proofs[0].n; i++) {
    b64(t->proofs[0].hashes[i], h);
    printf("%s\"%s\"", i ? "," : "", h);
  }
  printf("]}\n");
  return fflush(stdout) == 0 ? CLI_OK : CLI_ENV;
}

/* --witness WVKEY: a carried cosignature by that witness of a checkpoint the pinned key signed,
 * at or after the closing size, whose proof to the head verifies. CLI_OK or CLI_FAIL. */
static int check_witness(struct cli_bundle_check *bc, struct journal_merkle_hasher *h, const struct journal_bundle_tree *t)
{
  const struct journal_tlog_verifier *wv = bc->wv;
  uint64_t best = 0, best_ts = 0;
  for (unsigned i = 0; i < t->nwitnessed; i++) {
    const struct journal_bundle_witnessed *e = &t->witnessed[i];
    size_t blen = 0, blen2 = 0;
    uint64_t ts = 0;
    struct journal_tlog_checkpoint c;
    if (journal_tlog_open(e->note, e->note_len, wv, &blen, &ts) != 0) continue; /* another witness's */
    const char *why = NULL;
    if (journal_tlog_open(e->note, e->note_len, &bc->v, &blen2, NULL) != 0 || journal_tlog_checkpoint_parse(e->note, blen2, &c) != 0 ||
        strcmp(c.origin, bc->v.name) != 0)
      why = "the cosigned checkpoint is not signed by the pinned key";
    else if (c.size < t->close_size || c.size > t->head_size)
      why = "the cosigned checkpoint's size is not between the bundle's last seal and its head";
    else if (journal_merkle_verify_consistency(h, c.size, c.root, t->head_size, t->head_root, (cproof_t)e->proof, e->n) != 0)
      why = "the proof from the cosigned checkpoint to the head does not verify";
    if (why) {
      printf("witness: %s: %s\n", wv->name, why);
      cli_err("verify: %s: --witness %s: carried cosignature %u: %s", bc->where, wv->name, i + 1, why);
      return CLI_FAIL;
    }
    if (c.size >= best) best = c.size, best_ts = ts;
  }
  if (!best) {
    printf("witness: no cosignature by %s at or after the bundle's range\n", wv->name);
    cli_err("verify: %s: --witness %s: the bundle carries no cosignature by this witness of a checkpoint at or after its "
            "last seal (size %llu)", bc->where, wv->name, (unsigned long long)t->close_size);
    return CLI_FAIL;
  }
  char tm[32];
  journal_format_time(best_ts < INT64_MAX / 1000000000 ? (int64_t)best_ts * 1000000000 : INT64_MAX, tm);
  printf("witness: ok: records 1..%llu witnessed by %s (cosigned %s), the bundle's range (seq %llu..%llu) among them\n",
         (unsigned long long)best, wv->name, tm, (unsigned long long)t->start_size + 1, (unsigned long long)t->last_seq);
  return CLI_OK;
}

int cli_bundle_check_end(struct cli_bundle_check *bc)
{
  const struct journal_bundle_tree *t = bc->t;
  if (!t) return CLI_OK;
  char t1[32], t2[32], t3[32], r[48];
  journal_format_time(t->first_wall_ns, t1);
  journal_format_time(t->last_wall_ns, t2);
  printf("range: seq %llu..%llu, %s .. %s\n", (unsigned long long)t->start_size + 1, (unsigned long long)t->last_seq, t1, t2);
  int prc = close_proof_check(t);
  if (prc == JOURNAL_EBUNDLE) {
    printf("closing: the tree entry's closing size %llu is not the bundle's last seal (seq %llu)\n",
           (unsigned long long)t->close_size, (unsigned long long)t->last_seq);
    cli_err("verify: %s: the tree entry's closing size %llu is not the bundle's last seal (seq %llu)", bc->where,
            (unsigned long long)t->close_size, (unsigned long long)t->last_seq);
    return CLI_FAIL;
  }
  b64(t->close_root, r);
  printf("closing: size %llu root %s (the seal at seq %llu)\n", (unsigned long long)t->close_size, r,
         (unsigned long long)t->close_size + 1);
  struct journal_tlog_hems he;
  if (head_open(bc, &he)) return CLI_FAIL;
  journal_format_time(he.time_ns, t3);
  b64(t->head_root, r);
  printf("head: size %llu root %s time %s (the seal at seq %llu)", (unsigned long long)t->head_size, r, t3,
         (unsigned long long)t->head_size + 1);
  if (t->head_size > t->close_size) printf("; seq %llu..%llu are not in this bundle\n", (unsigned long long)t->close_size + 2,
                                           (unsigned long long)t->head_size + 1);
  else printf("; the bundle ends at the head\n");
  struct journal_merkle_hasher h;
  if (journal_merkle_hasher_init(&h)) { cli_err("verify: out of memory"); return CLI_ENV; }
  int ret = CLI_OK;
  if (prc) {
    printf("consistency: size %llu -> %llu: the proof does not verify\n", (unsigned long long)t->close_size,
           (unsigned long long)t->head_size);
    cli_err("verify: %s: the embedded consistency proof from the closing size %llu to the head's size %llu does not verify",
            bc->where, (unsigned long long)t->close_size, (unsigned long long)t->head_size);
    ret = CLI_FAIL;
  } else {
    printf("consistency: size %llu -> %llu: ok\n", (unsigned long long)t->close_size, (unsigned long long)t->head_size);
  }
  if (!ret && bc->have_kept) ret = check_kept(bc, &h, t);
  if (!ret && bc->wv) ret = check_witness(bc, &h, t);
  journal_merkle_hasher_deinit(&h);
  return ret;
}

int cli_export_kept_size(struct journal_reader *r, const uint8_t pk[JOURNAL_PUBKEY_BYTES], const char *path, uint64_t *size)
{
  char id[33], origin[JOURNAL_TLOG_NAME_MAX + 1];
  struct journal_tlog_verifier v;
  if (journal_reader_device_id(r, id) != 0 || journal_tlog_origin(id, origin, sizeof origin) < 0 ||
      journal_tlog_verifier_init(&v, origin, JOURNAL_TLOG_ED25519, pk) != 0) {
    cli_err("export: --since-checkpoint %s: the journal has no valid device id (the checkpoints' origin)", path);
    return CLI_FAIL;
  }
  struct journal_tlog_checkpoint c;
  int rc = kept_open(path, &v, &c);
  if (rc) return rc;
  *size = c.size;
  return 0;
}
