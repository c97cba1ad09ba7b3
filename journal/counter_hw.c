/*
 * counter_hw.c — the counter file bound to a hardware monotonic counter (a TPM 2.0 NV counter):
 * docs/journal.md "Counter file", format 3.
 *
 * A hardware counter only counts: it cannot hold the head hash, and it wears out. So the
 * signed counter file keeps (seq, head hash) as before and adds the hardware count, and the
 * count moves only when journal_counter_bump is called (the daemon: at boot, at each retention
 * cut, at most once an hour). A bump writes the file with count + 1 first, then increments the
 * hardware: a crash in between leaves the file one ahead, which the next writer's open
 * completes; nobody without the signing key can make a file ahead. A copy of the data dir and
 * counter file taken before the last bump carries a count behind the hardware's: refused
 * (JOURNAL_EHWBEHIND). A copy taken since the last bump is not told apart — the window that
 * remains is one bump interval (docs/threat-model.md).
 *
 * Which counter a journal was made with is meta counter_kind ("tpm:0x01500000"; absent: a file)
 * and the counter file's format; opening with another kind is JOURNAL_ECTRKIND, which
 * --accept-rollback does not pass. The hardware itself is reached through an opener the
 * program registers (hw/linux/tpm_counter.c), so this library does not link a TPM stack.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "store_internal.h"

static journal_hwcount_open_fn hw_opener;

void journal_set_hwcount_opener(journal_hwcount_open_fn fn)
{
  hw_opener = fn;
}

bool journal_counter_is_hw(const char *counter_path)
{
  return counter_path && strncmp(counter_path, "tpm:", 4) == 0;
}

void journal__counter_file_path(char *out, size_t cap, const char *dir, const char *counter_path)
{
  if (counter_path && !journal_counter_is_hw(counter_path)) snprintf(out, cap, "%s", counter_path);
  else snprintf(out, cap, "%s/counter", dir);
}

int journal__counter_hw_attach(struct journal_file_counter *c, const char *counter_path, bool define)
{
  if (!journal_counter_is_hw(counter_path)) return 0;
  if (!hw_opener) return JOURNAL_EHWCOUNT;
  struct journal_hwcount hw;
  memset(&hw, 0, sizeof hw);
  int rc = hw_opener(counter_path, define, &hw);
  if (rc) return rc;
  hw.kind[sizeof hw.kind - 1] = 0;
  c->hw = hw;
  c->have_hw = true;
  return 0;
}

int journal__counter_kind_check(MDB_txn *txn, const struct journal_dbs *db, const struct journal_file_counter *c)
{
  char kind[sizeof c->hw.kind];
  int n = journal__meta_get(txn, db, "counter_kind", kind, sizeof kind - 1);
  if (n < 0) n = 0;
  kind[n] = 0;
  const char *want = c->have_hw ? c->hw.kind : "";
  return strcmp(kind, want) == 0 ? 0 : JOURNAL_ECTRKIND;
}

/* On create: the first increment (a new NV counter reads only after one), then the count. */
static int counter_hw_start(struct journal_file_counter *c)
{
  uint64_t got = 0;
  int rc = c->hw.increment(c->hw.ctx, &got);
  if (rc) return rc;
  c->hw_file = c->hw_seen = got;
  return 0;
}

/* The writer's open found the file one ahead (a bump cut between its two steps): increment. */
static int counter_hw_complete(struct journal_file_counter *c)
{
  uint64_t got = 0;
  pthread_mutex_lock(&c->mu);
  int rc = c->hw.increment(c->hw.ctx, &got);
  if (!rc) c->hw_seen = got;
  /* someone else moved the counter too: the file follows the hardware */
  if (!rc && got > c->hw_file) {
    c->hw_file = got;
    rc = journal__counter_write_locked(c, c->last_seq, c->last_hash);
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

/* The hardware counter at open: on create its first increment and meta counter_kind; a file
 * one ahead (a bump cut in the middle) completed; an accepted rollback takes the hardware's
 * count. The count goes into the first seal. Called by do_open (store.c) after the counter check. */
int journal__counter_hw_open(struct journal *j, bool creating, bool accepted)
{
  struct journal_file_counter *c = &j->fcounter;
  if (!c->have_hw || j->counter != &c->ops) return 0;
  int rc = 0;
  if (creating) {
    MDB_txn *txn;
    if ((rc = counter_hw_start(c))) return rc;
    if ((rc = journal__lmdb_err(mdb_txn_begin(j->env, NULL, 0, &txn)))) return rc;
    rc = journal__meta_put(txn, &j->db, "counter_kind", c->hw.kind, strlen(c->hw.kind));
    if (rc) mdb_txn_abort(txn);
    else if ((rc = journal__lmdb_err(mdb_txn_commit(txn)))) return rc;
  } else if (accepted) {
    /* accepted: the reset slots carry the hardware's count */
    if ((rc = c->hw.read(c->hw.ctx, &c->hw_seen))) return rc;
    c->hw_file = c->hw_seen;
  } else if (c->hw_file == c->hw_seen + 1) {
    rc = counter_hw_complete(c);
  }
  j->seal_hw_count = c->hw_file;
  return rc;
}

int journal_counter_bump(struct journal *j, uint64_t *out_count)
{
  if (out_count) *out_count = 0;
  struct journal_file_counter *c = &j->fcounter;
  if (!c->have_hw || j->counter != &c->ops) return 0;
  pthread_mutex_lock(&c->mu);
  uint64_t want = c->hw_file + 1, got = 0;
  c->hw_file = want;
  /* the file first: cut here, the file is one ahead and the next open completes the bump */
  int rc = journal__counter_write_locked(c, c->last_seq, c->last_hash);
  if (!rc) rc = c->hw.increment(c->hw.ctx, &got);
  if (!rc) c->hw_seen = got;
  if (!rc && got != want) {
    c->hw_file = got;
    rc = journal__counter_write_locked(c, c->last_seq, c->last_hash);
  }
  pthread_mutex_unlock(&c->mu);
  if (rc) return rc;
  j->seal_hw_count = got;
  if (out_count) *out_count = got;
  return 0;
}

int journal_counter_hw_info(const char *dir, const char *counter_path, uint64_t *file_count, uint64_t *hw_count)
{
  struct journal_file_counter fc;
  uint64_t seq;
  uint8_t hash[JOURNAL_HASH_BYTES];
  *file_count = *hw_count = 0;
  journal__file_counter_init_dir(&fc, dir, counter_path);
  int rc = journal__counter_hw_attach(&fc, counter_path, false);
  if (!rc) {
    rc = fc.ops.read(fc.ops.ctx, &seq, hash);
    *file_count = fc.hw_file;
    *hw_count = fc.hw_seen;
  }
  journal__file_counter_deinit(&fc);
  return rc;
}

int journal_counter_kind(const char *dir, char *out, size_t cap)
{
  MDB_env *env;
  MDB_txn *txn;
  struct journal_dbs db;
  if (cap == 0) return -EINVAL;
  out[0] = 0;
  int rc = journal__env_open(dir, true, 0, &env, false);
  if (rc) return rc;
  if ((rc = journal__read_txn(env, &txn)) == 0) {
    rc = journal__open_dbs(txn, &db, false);
    int n = rc ? -1 : journal__meta_get(txn, &db, "counter_kind", out, cap - 1);
    out[n > 0 ? n : 0] = 0;
    mdb_txn_abort(txn);
  }
  mdb_env_close(env);
  return rc;
}
