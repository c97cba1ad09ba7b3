/*
 * test_checkpoint_keys.c — which seals authenticate a replay checkpoint once keys rotate
 * (replay/checkpoint_auth.c): a seal with a state hash by the trusted key, which may come after
 * seals by the key in force before a rotation; never a seal by another key alone.
 *   - a rotation: a checkpoint taken under the first key, a rotation to a second key (its key
 *     record certified by the first), then the second key's first seals: a replay trusting the
 *     second key starts from that checkpoint and ends with the state a fold from seq 1 has;
 *   - a checkpoint vouched for by an uncertified key: a writer with a key of its own (no key
 *     record certifies it) forges its live state, takes a checkpoint its own seal signs (a
 *     replay trusting that key would start there), then appends a key record certifying the
 *     trusted key, signed by its own. A replay trusting the trusted key refuses it — before the
 *     trusted key seals anything after it, and after (the state the trusted key folded differs)
 *     — and ends with the fold from seq 1's state.
 * Expected states come from replay_dir without checkpoints (the fold from seq 1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sodium.h>
#include "replay.h"
#include "rp_util.h"

#define NS 1000000000ll

struct vclock { uint64_t mono; int64_t wall; };
static struct vclock vc;
static void vclock_now(void *ctx, uint64_t *mono, int64_t *wall, uint8_t *tq)
{
  (void)ctx;
  *mono = vc.mono;
  *wall = vc.wall;
  *tq = JOURNAL_TQ_SYNCED;
}

static void opts(struct journal_options *o, const char *dir, const struct journal_signer *s, bool accept)
{
  memset(o, 0, sizeof *o);
  o->dir = dir;
  o->clock.now = vclock_now;
  o->signer = s;
  o->accept_rollback = accept;
  memset(o->boot_id, 0x33, sizeof o->boot_id);
}

/* A writer signed by s (NULL: keys/signing.key) with a harness (checkpoints every 100 records)
 * attached trusting its own key; *h is calloc'd. */
static struct journal *open_live(const char *dir, const struct journal_signer *s, bool accept, struct replay_harness **h)
{
  struct journal_options o;
  opts(&o, dir, s, accept);
  *h = calloc(1, sizeof **h);
  struct replay_harness_options ho = { 100, INT64_MAX, false };
  replay_harness_init(*h, &ho, &o);
  struct journal *j;
  assert_int_equal(journal_open(&j, &o, NULL, NULL), 0);
  assert_int_equal(replay_harness_attach(*h, j), 0);
  return j;
}

static struct journal *open_plain(const char *dir, const struct journal_signer *s)
{
  struct journal_options o;
  opts(&o, dir, s, false);
  struct journal *j;
  assert_int_equal(journal_open(&j, &o, NULL, NULL), 0);
  return j;
}

/* n one-second windows of one branch through the harness; a seal after every 10th. */
static void add(struct replay_harness *h, struct journal *j, unsigned n)
{
  static unsigned k;
  for (unsigned i = 0; i < n; i++, k++) {
    vc.wall += NS;
    vc.mono += (uint64_t)NS;
    struct journal_record r;
    memset(&r, 0, sizeof r);
    r.type = JOURNAL_T_WINDOW;
    r.source.kind = JOURNAL_SRC_AFE;
    r.source.index = 1;
    struct journal_window *w = &r.body.window;
    w->afe = 1;
    w->start_ns = vc.wall - NS;
    w->duration_us = 1000000;
    w->freq_mhz = 50000;
    w->nch = w->npow = w->nbranches = 1;
    w->branches[0] = 1;
    int64_t mw = 1000000 + 1000 * (int64_t)(k % 97);
    w->pow[0] = (struct journal_window_power){ 3, 0, 0, 1, mw, 0, mw, 1000, mw / 3600, 0 };
    uint64_t seq;
    assert_int_equal(replay_harness_append(h, &r, &seq, NULL, NULL), 0);
    if (k % 10 == 9) assert_int_equal(journal_flush(j), 0);
  }
}

static void close_live(struct journal *j, struct replay_harness *h)
{
  assert_int_equal(journal_close(j), 0);
  free(h);
}

static uint64_t newest_checkpoint(const char *dir)
{
  struct journal_reader *rd;
  struct journal_iter *it;
  assert_int_equal(journal_reader_open(&rd, dir, NULL, true), 0);
  assert_int_equal(journal_iter_begin(rd, 1, &it), 0);
  uint64_t seq = 0;
  uint8_t *data = NULL;
  size_t len;
  assert_int_equal(journal_checkpoint_get(it, UINT64_MAX, &seq, &data, &len), 0);
  free(data);
  journal_iter_end(it);
  journal_reader_close(rd);
  return seq;
}

/* replay_dir trusting pk (NULL: no checkpoints, the fold from seq 1). */
static void replay(const char *dir, const uint8_t *pk, struct replay_result *res)
{
  struct journal_reader *rd;
  assert_int_equal(journal_reader_open(&rd, dir, NULL, true), 0);
  struct replay_options o;
  memset(&o, 0, sizeof o);
  o.use_checkpoints = pk != NULL;
  o.trusted_pk = pk;
  struct replay_state *s = malloc(sizeof *s);
  assert_int_equal(replay_dir(rd, &o, s, res), 0);
  free(s);
  journal_reader_close(rd);
}

/* A journal of 250 windows under its first key (*first, keys/signing.key), whose newest
 * checkpoint is *ck; *other: a second key, in DIR/other.key. */
static char *new_journal(struct journal_file_signer *first, struct journal_file_signer *other, uint8_t seed0, uint64_t *ck)
{
  char *dir = rp_mkdtemp();
  vc = (struct vclock){ NS, 1763733720ll * NS };
  static const uint8_t seed[32] = { 4, 5, 6 };
  assert_int_equal(journal_keys_create(dir, seed), 0);
  struct journal_options o;
  opts(&o, dir, NULL, false);
  assert_int_equal(journal_create(&o, "{\"branches\":3}", 14, "test"), 0);
  assert_int_equal(journal_file_signer_load(first, dir), 0);
  char path[4200];
  uint8_t oseed[32] = { seed0 };
  snprintf(path, sizeof path, "%s/other.key", dir);
  assert_int_equal(journal_key_file_create(path, oseed, NULL), 0);
  assert_int_equal(journal_file_signer_load_path(other, path, NULL, 0), 0);
  struct replay_harness *h;
  struct journal *j = open_live(dir, NULL, false, &h);
  add(h, j, 250);
  close_live(j, h);
  *ck = newest_checkpoint(dir);
  assert_true(*ck > 200);
  return dir;
}

static void done(char *dir, struct journal_file_signer *a, struct journal_file_signer *b)
{
  journal_file_signer_wipe(a);
  journal_file_signer_wipe(b);
  rp_rm_rf(dir);
  free(dir);
}

static void test_rotation(void **st)
{
  (void)st;
  struct journal_file_signer a, t;
  uint64_t ck;
  char *dir = new_journal(&a, &t, 9, &ck);
  struct replay_harness *h;
  struct journal *j = open_plain(dir, NULL);
  assert_int_equal(journal_key_rotate(j, &t.signer), 0);
  assert_int_equal(journal_close(j), 0);
  j = open_live(dir, &t.signer, false, &h);
  add(h, j, 30); /* sealed by the new key; no checkpoint of its own yet */
  close_live(j, h);
  assert_int_equal(newest_checkpoint(dir), ck);

  struct replay_result full, res;
  replay(dir, NULL, &full);
  replay(dir, t.signer.pubkey, &res);
  assert_int_equal(res.checkpoints_rejected, 0);
  assert_int_equal(res.start_seq, ck); /* the first key's seals, folded past to the new key's */
  assert_int_equal(res.last_seq, full.last_seq);
  assert_memory_equal(res.state_hash, full.state_hash, 32);
  done(dir, &a, &t);
}

static void test_uncertified_key(void **st)
{
  (void)st;
  struct journal_file_signer a, x;
  uint64_t ck;
  char *dir = new_journal(&a, &x, 11, &ck);
  /* the key of its own: the counter is signed by the first key (accept_rollback) */
  struct replay_harness *h;
  struct journal *j = open_live(dir, &x.signer, true, &h);
  h->state.br[0].import_uwh += 5000000000ll; /* 5 kWh nobody used */
  add(h, j, 5);
  assert_int_equal(replay_harness_checkpoint(h), 0); /* sealed by x, its state hash the forged state's */
  uint64_t forged = h->state.seq;
  assert_int_equal(journal_key_rotate(j, &a.signer), 0); /* "a, certified by x" */
  close_live(j, h);
  assert_int_equal(newest_checkpoint(dir), forged);

  struct replay_result full, res;
  replay(dir, x.signer.pubkey, &res);
  assert_int_equal(res.start_seq, forged); /* x's own seal does vouch for it */
  replay(dir, NULL, &full);
  replay(dir, a.signer.pubkey, &res);
  assert_int_equal(res.checkpoint_rejected_seq, forged);
  assert_non_null(strstr(res.checkpoint_why, "no seal by the trusted key"));
  assert_int_equal(res.start_seq, ck); /* the newest one its own seal vouches for */
  assert_memory_equal(res.state_hash, full.state_hash, 32);

  /* the trusted key's writer goes on (its own fold from seq 1) and seals its state */
  j = open_live(dir, NULL, false, &h);
  add(h, j, 30);
  close_live(j, h);
  replay(dir, NULL, &full);
  replay(dir, a.signer.pubkey, &res);
  assert_int_equal(res.checkpoints_rejected, 1);
  assert_int_equal(res.checkpoint_rejected_seq, forged);
  assert_non_null(strstr(res.checkpoint_why, "differs"));
  assert_int_equal(res.start_seq, ck);
  assert_memory_equal(res.state_hash, full.state_hash, 32);
  done(dir, &a, &x);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rotation),
    cmocka_unit_test(test_uncertified_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
