/*
 * collect_batch.c — one batch at the head-end (docs/fleet.md "The collector"). Under the
 * device's advisory lock (pg_advisory_xact_lock, one transaction per batch, so one collector at
 * a time verifies and inserts a device's batches, in seq order):
 *   - records the store holds already must be byte for byte the stored ones (a redelivered batch
 *     changes nothing); another record at a stored seq is a fork: quarantine;
 *   - a batch that starts after head + 1 is not taken (the caller holds it, then asks for a
 *     backfill), decided on the envelope's map: its records are decompressed (or opened) only
 *     when it is due;
 *   - the new records must chain from the stored head, every seal must verify with the key in
 *     force (journal_verify: key rotation records followed, v 3 checkpoints under the device id),
 *     and every seal's tree root must be the root of the RFC 9162 tree the collector extends
 *     from its stored right edge; anything else: quarantine with the offending record, nothing
 *     inserted;
 *   - then COPY into records (and the decoded non-window records into events), every seal's checkpoint into checkpoints, and the newest one
 *     cosigned (C2SP tlog-cosignature) when the collector has a witness key. The tree extends the
 *     one the last cosignature covered leaf by leaf, so the new checkpoint is consistent with it
 *     by construction.
 * A checkpoint note from hems/ID/checkpoint is held against the verified checkpoint of its size:
 * a signed checkpoint the verified log does not have at that size (another root, or another
 * body line) is a fork.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "collect.h"
#include "collect_envelope.h"

struct batch_src {
  const struct collect_envelope *e;
  uint64_t i, end;
};

static int src_next(void *ctx, uint64_t *seq, const uint8_t **bytes, size_t *len, const char **why)
{
  struct batch_src *s = ctx;
  if (s->i >= s->end) return 0;
  *bytes = s->e->raw + s->e->off[s->i];
  *len = s->e->len[s->i];
  *seq = s->e->first + s->i;
  if (s->e->held[s->i]) { s->i++; return 2; } /* its leaf hash only (journal_record_source) */
  uint64_t rseq;
  unsigned type;
  uint8_t prev[JOURNAL_HASH_BYTES];
  if (journal_record_peek(*bytes, *len, &rseq, &type, prev) != 0 || rseq != *seq) {
    *why = "the envelope's seq is not the record's";
    return -1;
  }
  s->i++;
  return 1;
}

static int begin_locked(PGconn *db, const char *id)
{
  if (collect_db_exec(db, "BEGIN", "begin")) return -1;
  char key[40];
  snprintf(key, sizeof key, "hems/%s", id);
  const char *pv[1] = { key };
  PGresult *r = PQexecParams(db, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", 1, NULL, pv, NULL, NULL, 0);
  if (collect_db_ok(r, "device lock")) { PQclear(PQexec(db, "ROLLBACK")); return -1; }
  PQclear(r);
  return 0;
}

static enum collect_outcome end(PGconn *db, bool commit, enum collect_outcome o)
{
  if (collect_db_exec(db, commit ? "COMMIT" : "ROLLBACK", commit ? "commit" : "rollback")) return COLLECT_DB_ERROR;
  return o;
}

/* The oldest cosigned checkpoint of size ≥ seq (the one a fork at seq contradicts), malloc'd or NULL. */
static char *cosigned_covering(PGconn *db, const char *id, uint64_t seq)
{
  char s[24];
  snprintf(s, sizeof s, "%" PRIu64, seq);
  const char *pv[2] = { id, s };
  PGresult *r = PQexecParams(db, "SELECT coalesce(cosigned, note) FROM checkpoints WHERE device_id = $1 AND size >= $2 "
                                 "ORDER BY cosigned IS NULL, size LIMIT 1", 2, NULL, pv, NULL, NULL, 0);
  if (collect_db_ok(r, "checkpoints")) return NULL;
  char *out = PQntuples(r) ? strdup(PQgetvalue(r, 0, 0)) : NULL;
  PQclear(r);
  return out;
}

/* The keys a batch's seals may be signed with: the one in force before it, then each rotation's
 * (journal_verify checked the certificates and which key each seal had to be signed by); a
 * seal's checkpoint note names the key that signed it, found by the seal's key id. */
struct batch_keys { unsigned n; uint8_t pk[8][JOURNAL_PUBKEY_BYTES], id[8][16]; };

static void keys_add(struct batch_keys *k, const uint8_t pk[JOURNAL_PUBKEY_BYTES])
{
  if (k->n == 8) { /* the oldest rotation goes, never the key in force before the batch */
    memmove(k->pk + 1, k->pk + 2, 6 * sizeof k->pk[0]);
    memmove(k->id + 1, k->id + 2, 6 * sizeof k->id[0]);
    k->n--;
  }
  memcpy(k->pk[k->n], pk, JOURNAL_PUBKEY_BYTES);
  journal_key_id(pk, k->id[k->n]);
  k->n++;
}

/* A rotation's key record (certified by the key before it): a first key's self-certified
 * record (prev_key_id zero) hands nothing over. */
static bool rotation(const struct journal_record *r)
{
  static const uint8_t zero[16];
  return r->type == JOURNAL_T_KEY && !r->body.key.revoked && memcmp(r->body.key.prev_key_id, zero, sizeof zero);
}

static const uint8_t *keys_signer(const struct batch_keys *k, const uint8_t id[16])
{
  for (unsigned i = 0; i < k->n; i++)
    if (!memcmp(k->id[i], id, 16)) return k->pk[i];
  return NULL;
}

/* The newest seal's signed note in e (the batch's own checkpoint, under the key its key id
 * names: the device's, or one a key record in e names), or "" (static buffer). */
static const char *batch_note(const struct collect_envelope *e, const struct collect_dev *d)
{
  static char note[JOURNAL_TLOG_NOTE_MAX + 1];
  struct journal_record r;
  struct batch_keys keys = { 0 };
  keys_add(&keys, d->key);
  note[0] = 0;
  for (uint64_t i = 0; i < e->count; i++)
    if (!e->held[i] && journal_record_decode(e->raw + e->off[i], e->len[i], &r) == 0 && rotation(&r))
      keys_add(&keys, r.body.key.pubkey);
  for (uint64_t i = e->count; i-- > 0;)
    if (!e->held[i] && journal_record_decode(e->raw + e->off[i], e->len[i], &r) == 0 && r.type == JOURNAL_T_SEAL) {
      const uint8_t *pk = keys_signer(&keys, r.body.seal.key_id);
      if (!pk || journal_seal_note(&r, d->id, pk, note, sizeof note) < 0) note[0] = 0;
      break;
    }
  return note;
}

/* A stored row (bytes, or the leaf hash when withheld) and a received element (the same) are
 * the same record: equal bytes, equal leaves, or the full side's leaf hash is the other's leaf. */
static bool same_record(struct journal_merkle_hasher *h, const uint8_t *st, size_t sl, bool st_held,
                        const uint8_t *rv, size_t rl, bool rv_held)
{
  if (st_held == rv_held) return sl == rl && !memcmp(st, rv, rl);
  uint8_t leaf[JOURNAL_HASH_BYTES];
  const uint8_t *full = st_held ? rv : st, *held = st_held ? st : rv;
  size_t fl = st_held ? rl : sl, hl = st_held ? sl : rl;
  journal_merkle_leaf_hash(h, full, fl, leaf);
  return !h->failed && hl == sizeof leaf && !memcmp(leaf, held, sizeof leaf);
}

/* Records first..upto, held already, against the batch: 0 equal, 1 fork (quarantined), -1 db.
 * Rows the head-end's retention deleted (docs/fleet.md "Retention") are not there to compare:
 * only the rows present are, and the head's tree edge, not the rows, carries the tree on. */
static int compare(PGconn *db, const struct collect_dev *d, const struct collect_envelope *e, uint64_t upto)
{
  char a[24], b[24];
  snprintf(a, sizeof a, "%" PRIu64, e->first);
  snprintf(b, sizeof b, "%" PRIu64, upto);
  const char *pv[3] = { d->id, a, b };
  PGresult *r = PQexecParams(db, "SELECT seq, bytes, leaf FROM records WHERE device_id = $1 AND seq BETWEEN $2 AND $3 "
                                 "ORDER BY seq", 3, NULL, pv, NULL, NULL, 1);
  if (collect_db_ok(r, "records")) return -1;
  int rows = PQntuples(r);
  struct journal_merkle_hasher h = { 0 };
  if (journal_merkle_hasher_init(&h)) { PQclear(r); return -1; }
  for (int i = 0; i < rows; i++) {
    const uint8_t *sp = (const uint8_t *)PQgetvalue(r, i, 0);
    uint64_t seq = 0;
    for (int k = 0; k < 8 && PQgetlength(r, i, 0) == 8; k++) seq = seq << 8 | sp[k];
    if (seq < e->first || seq > upto) {
      cli_err("collect: device %s: a stored row outside %s..%s (the store was changed?)", d->id, a, b);
      PQclear(r);
      journal_merkle_hasher_deinit(&h);
      return -1;
    }
    uint64_t at = seq - e->first;
    bool st_held = PQgetisnull(r, i, 1);
    const uint8_t *st = (const uint8_t *)PQgetvalue(r, i, st_held ? 2 : 1);
    size_t sl = (size_t)PQgetlength(r, i, st_held ? 2 : 1);
    const uint8_t *rv = e->raw + e->off[at];
    size_t rl = e->len[at];
    if (same_record(&h, st, sl, st_held, rv, rl, e->held[at])) continue;
    uint8_t hs[JOURNAL_HASH_BYTES], hr[JOURNAL_HASH_BYTES];
    /* a withheld side has no chain hash: its leaf hash stands in the evidence */
    if (st_held && sl == sizeof hs) memcpy(hs, st, sizeof hs);
    else journal_record_hash(st, sl, hs);
    if (e->held[at]) memcpy(hr, rv, sizeof hr);
    else journal_record_hash(rv, rl, hr);
    PQclear(r);
    journal_merkle_hasher_deinit(&h);
    char *cos = cosigned_covering(db, d->id, seq);
    const char *got = batch_note(e, d);
    size_t el = (cos ? strlen(cos) : 0) + strlen(got) + 64;
    char *ev = malloc(el);
    if (ev) snprintf(ev, el, "verified:\n%s\nreceived:\n%s", cos ? cos : "(none)\n", *got ? got : "(none)\n");
    free(cos);
    char why[96];
    snprintf(why, sizeof why, "fork: another record at stored seq %" PRIu64, seq);
    int rc = collect_db_quarantine(db, d->id, why, seq, hs, hr, rv, rl, ev);
    free(ev);
    return rc ? -1 : 1;
  }
  PQclear(r);
  journal_merkle_hasher_deinit(&h);
  return 0;
}

int collect_copy_put(struct collect_copy *g, const char *s, size_t n)
{
  if (g->n + n + 1 > g->cap) {
    size_t c = g->cap ? g->cap * 2 : 1 << 16;
    while (c < g->n + n + 1) c *= 2;
    char *q = realloc(g->p, c);
    if (!q) return -1;
    g->p = q;
    g->cap = c;
  }
  memcpy(g->p + g->n, s, n);
  g->n += n;
  g->p[g->n] = 0;
  return 0;
}

int collect_copy_head(struct collect_copy *g, const char *id, const struct journal_record *r)
{
  char head[160];
  int n;
  if (r->wall_ns) {
    time_t t = (time_t)(r->wall_ns / 1000000000);
    long us = (long)((r->wall_ns % 1000000000) / 1000);
    if (us < 0) { us += 1000000; t--; }
    struct tm tm;
    gmtime_r(&t, &tm);
    n = snprintf(head, sizeof head, "%s\t%" PRIu64 "\t%u\t%04d-%02d-%02d %02d:%02d:%02d.%06ld+00\t", id, r->seq,
                 (unsigned)r->type, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
  } else {
    n = snprintf(head, sizeof head, "%s\t%" PRIu64 "\t%u\t\\N\t", id, r->seq, (unsigned)r->type);
  }
  return collect_copy_put(g, head, (size_t)n);
}

int collect_copy_line(struct collect_copy *g, const char *id, const struct journal_record *r, const uint8_t *b, size_t len)
{
  if (collect_copy_head(g, id, r) || collect_copy_put(g, "\\\\x", 3)) return -1;
  char *hex = malloc(2 * len + 2);
  if (!hex) return -1;
  journal_hex(b, len, hex);
  hex[2 * len] = '\n';
  int rc = collect_copy_put(g, hex, 2 * len + 1);
  free(hex);
  return rc;
}

int collect_copy_in(PGconn *db, const char *table, const struct collect_copy *g)
{
  char sql[256];
  snprintf(sql, sizeof sql, "COPY %s FROM STDIN", table);
  PGresult *r = PQexec(db, sql);
  if (collect_db_ok(r, "copy")) return -1;
  PQclear(r);
  if (PQputCopyData(db, g->p, (int)g->n) != 1 || PQputCopyEnd(db, NULL) != 1) {
    cli_err("collect: database: copy: %s", PQerrorMessage(db));
    return -1;
  }
  int rc = 0;
  while ((r = PQgetResult(db))) {
    if (collect_db_ok(r, "copy")) rc = -1;
    else PQclear(r);
  }
  return rc;
}

static int checkpoint_row(PGconn *db, const char *id, uint64_t size, const uint8_t root[JOURNAL_HASH_BYTES],
                          const char *note, const char *cosigned)
{
  char s[24];
  snprintf(s, sizeof s, "%" PRIu64, size);
  const char *pv[5] = { id, s, (const char *)root, note, cosigned };
  int pl[5] = { 0, 0, JOURNAL_HASH_BYTES, 0, 0 }, pf[5] = { 0, 0, 1, 0, 0 };
  PGresult *r = PQexecParams(db, "INSERT INTO checkpoints (device_id, size, root, note, cosigned) VALUES ($1, $2, $3, $4, "
                                 "$5) ON CONFLICT (device_id, size) DO NOTHING", 5, NULL, pv, pl, pf, 0);
  if (collect_db_ok(r, "checkpoints")) return -1;
  PQclear(r);
  return 0;
}

/* A withheld record's row for COPY records (device_id, seq, leaf). */
static int withheld_line(struct collect_copy *g, const char *id, uint64_t seq, const uint8_t leaf[JOURNAL_HASH_BYTES])
{
  char line[40 + 24 + 2 * JOURNAL_HASH_BYTES + 8];
  int n = snprintf(line, sizeof line, "%s\t%" PRIu64 "\t\\\\x", id, seq);
  journal_hex(leaf, JOURNAL_HASH_BYTES, line + n);
  n += 2 * JOURNAL_HASH_BYTES;
  line[n++] = '\n';
  return collect_copy_put(g, line, (size_t)n);
}

/* The new records e[start..): verified, then inserted. */
static enum collect_outcome take(PGconn *db, const struct collect_witness *w, struct collect_dev *d,
                                 const struct collect_envelope *e, uint64_t start, struct collect_result *res)
{
  struct journal_merkle_hasher h = { 0 };
  struct journal_merkle_appender *a = malloc(sizeof *a);
  struct journal_record *r = malloc(sizeof *r);
  struct collect_copy g = { 0 }, ev = { 0 }, wh = { 0 }, wp = { 0 };
  char note[JOURNAL_TLOG_NOTE_MAX + 1], body[JOURNAL_TLOG_BODY_MAX + 1];
  enum collect_outcome o = COLLECT_DB_ERROR;
  struct batch_keys keys = { 0 };
  keys_add(&keys, d->key);
  if (!a || !r || journal_merkle_hasher_init(&h)) goto out;
  journal_merkle_appender_init(a, &h, NULL, NULL);
  a->size = d->head;
  memcpy(a->edge, d->edge, sizeof d->edge);

  /* the tree before the batch goes with it: withheld records are checked against the seals'
   * tree roots, which the verifier recomputes from the stored right edge */
  struct batch_src s = { e, start, e->count };
  struct journal_record_source rs = { .next = src_next, .ctx = &s, .device_id = d->id, .tree_from = a,
                                      .trusted_in_force = true };
  struct journal_verify_result vr;
  int rc = journal_verify(&rs, d->key, d->head ? d->head_hash : NULL, &vr, NULL, NULL);
  char why[256];
  if (rc) {
    uint64_t bad = vr.bad_seq >= e->first && vr.bad_seq - e->first < e->count ? vr.bad_seq : e->first + start;
    const uint8_t *b = e->raw + e->off[bad - e->first];
    size_t bl = e->len[bad - e->first];
    uint8_t hr[JOURNAL_HASH_BYTES];
    if (e->held[bad - e->first]) memcpy(hr, b, sizeof hr); /* withheld: its leaf hash is all there is */
    else journal_record_hash(b, bl, hr);
    snprintf(why, sizeof why, "batch %" PRIu64 "+%" PRIu64 " does not verify: %s", e->first, e->count,
             vr.reason[0] ? vr.reason : journal_strerror(rc));
    o = collect_db_quarantine(db, d->id, why, bad, d->head ? d->head_hash : NULL, hr, b, bl, NULL)
            ? end(db, false, COLLECT_DB_ERROR) : end(db, true, COLLECT_QUARANTINED);
    goto out;
  }

  /* the checkpoints of the seals before a bad tree root are not kept either */
  if (collect_db_exec(db, "SAVEPOINT checks", "savepoint")) goto out;
  int seals = 0;
  uint64_t last_seal_size = 0, last_note_at = 0;
  uint8_t last_root[JOURNAL_HASH_BYTES];
  for (uint64_t i = start; i < e->count; i++) {
    const uint8_t *b = e->raw + e->off[i];
    size_t bl = e->len[i];
    if (e->held[i]) { /* its leaf hash only: stored as that, with its seq */
      if (journal_merkle_append(a, b) || withheld_line(&wh, d->id, e->first + i, b)) goto out;
      continue;
    }
    if (journal_record_decode(b, bl, r) != 0) goto out; /* verified: cannot happen */
    if (r->type == JOURNAL_T_SEAL) {
      static const uint8_t zero[JOURNAL_HASH_BYTES];
      uint8_t root[JOURNAL_HASH_BYTES];
      if (journal_merkle_appender_root(a, root)) goto out;
      if (memcmp(r->body.seal.tree_root, zero, sizeof zero) &&
          (r->body.seal.sealed_seq != a->size || memcmp(root, r->body.seal.tree_root, sizeof root))) {
        uint8_t hr[JOURNAL_HASH_BYTES];
        journal_record_hash(b, bl, hr);
        snprintf(why, sizeof why, "seal %" PRIu64 ": its tree root is not the root of records 1..%" PRIu64, r->seq,
                 r->body.seal.sealed_seq);
        o = collect_db_exec(db, "ROLLBACK TO SAVEPOINT checks", "rollback") ||
                    collect_db_quarantine(db, d->id, why, r->seq, NULL, hr, b, bl, NULL)
                ? end(db, false, COLLECT_DB_ERROR) : end(db, true, COLLECT_QUARANTINED);
        goto out;
      }
      /* a seal without a tree root (written before the tree) commits to no tree: nothing to
       * store as a checkpoint, nothing to cosign */
      const uint8_t *signer = keys_signer(&keys, r->body.seal.key_id);
      int n = signer && memcmp(r->body.seal.tree_root, zero, sizeof zero) ? journal_seal_note(r, d->id, signer, note, sizeof note) : -1;
      if (n > 0) {
        if (checkpoint_row(db, d->id, r->body.seal.sealed_seq, r->body.seal.tree_root, note, NULL)) goto out;
        last_seal_size = r->body.seal.sealed_seq;
        last_note_at = i;
        memcpy(last_root, r->body.seal.tree_root, sizeof last_root);
        seals++;
      }
    }
    if (rotation(r)) keys_add(&keys, r->body.key.pubkey);
    uint8_t leaf[JOURNAL_HASH_BYTES];
    journal_merkle_leaf_hash(&h, b, bl, leaf);
    if (journal_merkle_append(a, leaf) || collect_copy_line(&g, d->id, r, b, bl) ||
        collect_event_line(&ev, d->id, r, b, bl) || (w->decode_windows && collect_window_lines(&wp, d->id, r)))
      goto out;
  }
  if ((g.n && collect_copy_in(db, "records (device_id, seq, type, wall_time, bytes)", &g)) ||
      (wh.n && collect_copy_in(db, "records (device_id, seq, leaf)", &wh)) ||
      (ev.n && collect_copy_in(db, "events (device_id, seq, type, wall_time, body)", &ev)) ||
      (wp.n && collect_copy_in(db, collect_windows_table, &wp)))
    goto out;
  /* the newest checkpoint, cosigned */
  if (seals && w->on && last_note_at == e->count - 1) { /* r: the last record, that seal */
    int bl = journal_seal_checkpoint(r, d->id, body, sizeof body);
    char line[JOURNAL_TLOG_SIGLINE_MAX + 2];
    int ll = bl > 0 ? journal_tlog_cosign(body, (size_t)bl, w->v.name, &w->fs.signer, (uint64_t)time(NULL), line,
                                          sizeof line) : -1;
    size_t nl = strlen(note);
    if (ll > 0 && (res->cosigned = malloc(nl + (size_t)ll + 1))) {
      memcpy(res->cosigned, note, nl);
      memcpy(res->cosigned + nl, line, (size_t)ll + 1);
      char sz[24];
      snprintf(sz, sizeof sz, "%" PRIu64, last_seal_size);
      const char *pv[3] = { d->id, sz, res->cosigned };
      PGresult *q = PQexecParams(db, "UPDATE checkpoints SET cosigned = $3 WHERE device_id = $1 AND size = $2", 3, NULL,
                                 pv, NULL, NULL, 0);
      if (collect_db_ok(q, "checkpoints")) goto out;
      PQclear(q);
    } else {
      cli_err("collect: device %s: the checkpoint of size %" PRIu64 " could not be cosigned", d->id, last_seal_size);
    }
  }
  journal_record_hash(e->raw + e->off[e->count - 1], e->len[e->count - 1], d->head_hash);
  d->head = a->size;
  memcpy(d->edge, a->edge, sizeof d->edge);
  if (vr.key_rotated) memcpy(d->key, vr.key_in_force, sizeof d->key); /* as verify followed it: in force from the seal after its record */
  if (collect_db_save(db, d)) goto out;
  o = end(db, true, COLLECT_STORED);
  if (o == COLLECT_STORED) {
    res->inserted = e->count - start;
    res->head = d->head;
  }
out:
  if (o == COLLECT_DB_ERROR) {
    PQclear(PQexec(db, "ROLLBACK"));
    free(res->cosigned);
    res->cosigned = NULL;
  }
  free(g.p);
  free(ev.p);
  free(wh.p);
  free(wp.p);
  free(r);
  free(a);
  journal_merkle_hasher_deinit(&h);
  return o;
}

/* The batch's records, decoded only now that the device is known and the batch is due: a batch
 * ahead of the head is put aside on its envelope's head alone (nothing decompressed or opened). */
static int batch_records(const struct collect_witness *w, struct collect_envelope *e, const char *id)
{
  const char *why;
  if (e->sealed) {
    if (w->recipient && !collect_envelope_open(e, w->rcpt_pk, w->rcpt_sk, &why)) return 0;
    char kid[2 * COLLECT_BOX_KEYID_BYTES + 1];
    journal_hex(e->key_id, sizeof e->key_id, kid);
    cli_err("collect: hems/%s/records: a batch sealed to recipient key %s: %s: dropped", id, kid,
            w->recipient ? why : "no --recipient-key to open it");
    return -1;
  }
  if (!collect_envelope_decode_records(e, &why)) return 0;
  cli_err("collect: hems/%s/records: a malformed batch (%s): dropped", id, why);
  return -1;
}

static enum collect_outcome batch(PGconn *db, const struct collect_witness *w, struct collect_envelope *e,
                                  const char *id, struct collect_result *res)
{
  struct collect_dev d;
  if (begin_locked(db, id)) return COLLECT_DB_ERROR;
  int f = collect_db_load(db, id, &d);
  if (f < 0) return end(db, false, COLLECT_DB_ERROR);
  if (f == 0) {
    cli_err("collect: hems/%s/records: not a registered device: dropped", id);
    return end(db, false, COLLECT_DROPPED);
  }
  res->head = d.head;
  memcpy(res->key, d.key, sizeof res->key);
  if (d.quarantined) return end(db, false, COLLECT_DROPPED);
  if (e->first > d.head + 1) return end(db, false, COLLECT_AHEAD);
  if (batch_records(w, e, id)) return end(db, false, COLLECT_DROPPED);
  uint64_t last = e->first + e->count - 1;
  if (e->first <= d.head) {
    int c = compare(db, &d, e, last < d.head ? last : d.head);
    if (c) return c < 0 ? end(db, false, COLLECT_DB_ERROR) : end(db, true, COLLECT_QUARANTINED);
    if (last <= d.head) return end(db, true, COLLECT_STORED); /* a copy of stored records */
  }
  uint64_t seq;
  unsigned type;
  uint8_t prev[JOURNAL_HASH_BYTES];
  if (e->kind == 1 && (journal_record_peek(e->raw + e->off[e->count - 1], e->len[e->count - 1], &seq, &type, prev) != 0 ||
                       type != JOURNAL_T_SEAL)) {
    /* cannot be verified on its own: the last batch of a backfill, cut at the seq asked for (a
     * live batch always ends at a seal: one that does not fails verification as unsealed) */
    cli_err("collect: device %s: batch %" PRIu64 "+%" PRIu64 " does not end at a seal: not taken", id, e->first, e->count);
    return end(db, false, COLLECT_DROPPED);
  }
  return take(db, w, &d, e, d.head + 1 - e->first, res);
}

enum collect_outcome collect_batch(PGconn *db, const struct collect_witness *w, const char *topic_dev,
                                   const uint8_t *payload, size_t len, struct collect_result *res)
{
  struct collect_envelope e;
  const char *why;
  memset(res, 0, sizeof *res);
  if (collect_envelope_decode_head(payload, len, &e, &why)) {
    cli_err("collect: hems/%s/records: a malformed batch (%s): dropped", topic_dev, why);
    return COLLECT_DROPPED;
  }
  char id[33];
  journal_hex(e.device, sizeof e.device, id);
  enum collect_outcome o;
  if (strcmp(id, topic_dev)) {
    cli_err("collect: hems/%s/records: a batch of device %s: dropped", topic_dev, id);
    o = COLLECT_DROPPED;
  } else {
    o = batch(db, w, &e, id, res);
  }
  collect_envelope_free(&e);
  return o;
}

/* An ahead batch's claim, checked once before a backfill is asked for on its word: its last
 * record is a seal at its last seq whose signature verifies with the device's key. 1 proven,
 * 0 not (unsigned, or signed by a key rotated since), -1 not a batch that decodes. */
int collect_batch_proves_ahead(const struct collect_witness *w, const char *id, const uint8_t key[JOURNAL_PUBKEY_BYTES],
                               const uint8_t *payload, size_t len, uint64_t *first, uint64_t *last)
{
  struct collect_envelope e;
  const char *why;
  if (collect_envelope_decode_head(payload, len, &e, &why)) return -1;
  *first = e.first;
  *last = e.first + e.count - 1;
  int rc = -1;
  if (!batch_records(w, &e, id)) {
    struct journal_record r;
    rc = journal_record_decode(e.raw + e.off[e.count - 1], e.len[e.count - 1], &r) == 0 && !e.held[e.count - 1] &&
         r.type == JOURNAL_T_SEAL && r.seq == *last && journal_seal_verify(&r, id, key) == 0;
  }
  collect_envelope_free(&e);
  return rc;
}

enum collect_outcome collect_checkpoint(PGconn *db, const char *id, const uint8_t *note, size_t len)
{
  if (len == 0) return COLLECT_DROPPED; /* a retained message cleared */
  if (len > JOURNAL_TLOG_NOTE_MAX) {
    cli_err("collect: hems/%s/checkpoint: larger than a signed note may be: dropped", id);
    return COLLECT_DROPPED;
  }
  struct collect_dev d;
  if (begin_locked(db, id)) return COLLECT_DB_ERROR;
  int f = collect_db_load(db, id, &d);
  if (f <= 0 || d.quarantined) return end(db, false, f < 0 ? COLLECT_DB_ERROR : COLLECT_DROPPED);
  char origin[JOURNAL_TLOG_NAME_MAX + 1];
  struct journal_tlog_verifier v;
  struct journal_tlog_checkpoint cp;
  size_t blen;
  if (journal_tlog_origin(id, origin, sizeof origin) < 0 || journal_tlog_verifier_init(&v, origin, JOURNAL_TLOG_ED25519, d.key) ||
      journal_tlog_open((const char *)note, len, &v, &blen, NULL) || journal_tlog_checkpoint_parse((const char *)note, blen, &cp) ||
      strcmp(cp.origin, origin)) {
    cli_err("collect: hems/%s/checkpoint: not a checkpoint signed by the device's key: ignored", id);
    return end(db, false, COLLECT_DROPPED);
  }
  if (cp.size > d.head) return end(db, false, COLLECT_STORED); /* its records have not arrived yet */
  char s[24];
  snprintf(s, sizeof s, "%" PRIu64, cp.size);
  const char *pv[2] = { id, s };
  PGresult *r = PQexecParams(db, "SELECT root, coalesce(cosigned, note), note FROM checkpoints WHERE device_id = $1 AND size = $2",
                             2, NULL, pv, NULL, NULL, 0);
  if (collect_db_ok(r, "checkpoints")) return end(db, false, COLLECT_DB_ERROR);
  uint8_t root[JOURNAL_HASH_BYTES];
  /* the same checkpoint: the same root, and the same body line by line (the state hash, head
   * hash and time lines too: two signed bodies at one size are two statements) */
  bool same = PQntuples(r) == 1 && !collect_db_bytea(r, 0, 0, root, sizeof root) && !memcmp(root, cp.root, sizeof root) &&
              (size_t)PQgetlength(r, 0, 2) > blen && !memcmp(PQgetvalue(r, 0, 2), note, blen) && PQgetvalue(r, 0, 2)[blen] == '\n';
  char *have = PQntuples(r) == 1 ? strdup(PQgetvalue(r, 0, 1)) : cosigned_covering(db, id, cp.size);
  PQclear(r);
  if (same) { free(have); return end(db, true, COLLECT_STORED); }
  size_t el = (have ? strlen(have) : 0) + len + 64;
  char *ev = malloc(el);
  if (ev) snprintf(ev, el, "verified:\n%s\nreceived:\n%.*s", have ? have : "(none)\n", (int)len, (const char *)note);
  free(have);
  char why[160];
  snprintf(why, sizeof why, "fork: a signed checkpoint of size %" PRIu64 " that is not the verified log's", cp.size);
  int rc = collect_db_quarantine(db, id, why, cp.size, NULL, NULL, note, len, ev);
  free(ev);
  return rc ? end(db, false, COLLECT_DB_ERROR) : end(db, true, COLLECT_QUARANTINED);
}
