/*
 * test_key_chain.c — key rotation and revocation through the library (journal_key_rotate,
 * journal_key_revoke) and what verify makes of them, in each of its modes (jt_verify_checked:
 * one thread, two threads with every seal, two threads with the newest seal only):
 *   - a rotation: seals before it by the first key, after it by the next; verifies from the
 *     first key; the counter file is signed by the next key afterwards;
 *   - a writer reopened with the retired key (the library does not stop it; the CLI does): the
 *     first seal it makes is named, "retired at seq N";
 *   - a key record certified by a trusted key that is not the key in force: refused at it;
 *   - a revocation: accepted when the key in force signs it; a seal by the revoked key after
 *     it is named "revoked at seq N"; a revocation whose certificate is not the in-force key's,
 *     or whose reason was changed after signing, is refused at the record;
 *   - journal_key_revoke refuses the key in force and an empty reason (-EINVAL);
 *   - a rotation group sealed by the new key (records written one by one): refused from seq 1,
 *     and from the group on with the trusted key declared in force; a regular rotation from the
 *     group on reports the new key in force (journal_verify_result.key_in_force).
 * Expected seqs follow from the appends (one record + its seal per synced append).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include "jt_util.h"

static const uint8_t seed2[32] = { 2 }, seed3[32] = { 3 };
#define MEM_DEVICE "0123456789abcdef0123456789abcdef"


static char *new_dir(void)
{
  char *base = jt_mkdtemp();
  char *d = malloc(4200);
  snprintf(d, 4200, "%s/data", base);
  free(base);
  struct journal_options o;
  jt_opts(&o, d, NULL);
  assert_int_equal(journal_create(&o, "{}", 2, "test"), 0);
  return d;
}

static void drop_dir(char *d)
{
  *strrchr(d, '/') = 0;
  jt_rm_rf(d);
  free(d);
}

static struct journal *open_with(const char *d, const struct journal_signer *s, bool accept)
{
  struct journal_options o;
  jt_opts(&o, d, NULL);
  o.signer = s;
  o.accept_rollback = accept;
  struct journal *j;
  int rc = journal_open(&j, &o, NULL, NULL);
  if (rc) fail_msg("journal_open: %s", journal_strerror(rc));
  return j;
}

static uint64_t note(struct journal *j, const char *text)
{
  struct journal_record r;
  jt_note_rec(&r, text);
  uint64_t seq;
  assert_int_equal(journal_append(j, &r, &seq), 0);
  assert_int_equal(journal_sync(j), 0);
  return seq;
}

static void key_signer(struct journal_file_signer *fs, const char *dir, const char *name, const uint8_t seed[32])
{
  char *p = jt_path("%s/%s", dir, name);
  unlink(p);
  assert_int_equal(journal_key_file_create(p, seed, NULL), 0);
  assert_int_equal(journal_file_signer_load_path(fs, p, NULL, 0), 0);
}

/* A key record for pk's key naming prev as its certifier (the caller signs it). */
static void key_rec(struct journal_record *r, const struct journal_signer *k, const struct journal_signer *prev)
{
  memset(r, 0, sizeof *r);
  r->type = JOURNAL_T_KEY;
  r->source.kind = JOURNAL_SRC_OPERATOR;
  memcpy(r->body.key.pubkey, k->pubkey, 32);
  memcpy(r->body.key.key_id, k->key_id, 16);
  memcpy(r->body.key.prev_key_id, prev->key_id, 16);
  r->body.key.algorithm = (struct journal_slice){ (const uint8_t *)"ed25519", 7 };
}

static void expect_bad(const char *d, uint64_t seq, const char *why)
{
  struct journal_verify_result res;
  int rc = jt_verify_dir(d, &res);
  if (rc == 0 || res.bad_seq != seq || !strstr(res.reason, why))
    fail_msg("verify: rc %d, first bad seq %llu '%s'; want seq %llu '%s'", rc, (unsigned long long)res.bad_seq, res.reason,
             (unsigned long long)seq, why);
}

static void expect_ok(const char *d)
{
  struct journal_verify_result res;
  int rc = jt_verify_dir(d, &res);
  if (rc) fail_msg("verify: rc %d, first bad seq %llu: %s", rc, (unsigned long long)res.bad_seq, res.reason);
}

static void test_rotate_then_retired_key(void **st)
{
  (void)st;
  char *d = new_dir();
  struct journal_file_signer k1, k2;
  assert_int_equal(journal_file_signer_load(&k1, d), 0);
  key_signer(&k2, d, "k2.key", seed2);
  struct journal *j = open_with(d, &k1.signer, false);
  note(j, "before");
  assert_int_equal(journal_key_rotate(j, &k2.signer), 0);
  uint64_t rot_seal = journal_head_seq(j);
  uint64_t after = note(j, "after");
  assert_int_equal(after, rot_seal + 1);
  assert_int_equal(journal_close(j), 0);
  expect_ok(d); /* trusts keys/signing.pub: the first key */

  /* the counter is the next key's now: a writer with the first key is refused at the counter */
  struct journal_options o;
  jt_opts(&o, d, NULL);
  o.signer = &k1.signer;
  int orc = journal_open(&j, &o, NULL, NULL);
  if (orc == 0) fail_msg("a writer with the retired key opened over the next key's counter");
  /* ...and with the rollback accepted, what it seals is refused by verify */
  j = open_with(d, &k1.signer, true);
  uint64_t head = journal_head_seq(j); /* the open journaled the accepted rollback: its seal */
  assert_int_equal(head, after + 3);   /* after's seal, the fault, the fault's seal */
  note(j, "forged with the retired key");
  assert_int_equal(journal_close(j), 0);
  /* the fault's seal is the first seal by the old key */
  char why[64];
  snprintf(why, sizeof why, "retired at seq %llu", (unsigned long long)rot_seal);
  expect_bad(d, head, why);
  journal_file_signer_wipe(&k1);
  journal_file_signer_wipe(&k2);
  drop_dir(d);
}

static void test_certified_by_a_key_not_in_force(void **st)
{
  (void)st;
  char *d = new_dir();
  struct journal_file_signer k1, k2, k3;
  assert_int_equal(journal_file_signer_load(&k1, d), 0);
  key_signer(&k2, d, "k2.key", seed2);
  key_signer(&k3, d, "k3.key", seed3);
  struct journal *j = open_with(d, &k1.signer, false);
  assert_int_equal(journal_key_rotate(j, &k2.signer), 0);
  /* a key record for k3 certified by k1 (trusted, but retired) in a group sealed by k2 */
  struct journal_record r;
  key_rec(&r, &k3.signer, &k1.signer);
  uint8_t msg[128];
  size_t n = journal_key_cert_msg(&r.body.key, msg, sizeof msg);
  assert_true(n > 0);
  assert_int_equal(k1.signer.sign(k1.signer.ctx, msg, n, r.body.key.cert), 0);
  uint64_t seq;
  assert_int_equal(journal_append(j, &r, &seq), 0);
  assert_int_equal(journal_sync(j), 0);
  assert_int_equal(journal_close(j), 0);
  expect_bad(d, seq, "not the key in force");
  journal_file_signer_wipe(&k1);
  journal_file_signer_wipe(&k2);
  journal_file_signer_wipe(&k3);
  drop_dir(d);
}

/* ---- a log written record by record (not by the writer, which seals a key record at once) */
struct mem_log {
  uint8_t buf[8][1024];
  size_t len[8];
  unsigned n, at, from; /* records 1..n; the source reads from record from */
};

/* r as the next record: its seq, chain and envelope fields (before a seal is signed). */
static void mem_next_fields(const struct mem_log *m, struct journal_record *r)
{
  r->seq = m->n + 1;
  r->version = JOURNAL_SCHEMA_VERSION;
  r->source.kind = JOURNAL_SRC_PANEL;
  r->wall_ns = 1700000000000000000 + (int64_t)r->seq;
  if (m->n) journal_record_hash(m->buf[m->n - 1], m->len[m->n - 1], r->prev);
}

static void mem_put(struct mem_log *m, struct journal_record *r)
{
  mem_next_fields(m, r);
  assert_int_equal(journal_record_encode(r, m->buf[m->n], sizeof m->buf[0], &m->len[m->n]), 0);
  m->n++;
}

static void mem_key(struct mem_log *m, const struct journal_signer *k, const struct journal_signer *prev)
{
  struct journal_record r;
  key_rec(&r, k, prev ? prev : k);
  if (!prev) memset(r.body.key.prev_key_id, 0, 16); /* the first key: self-certified */
  uint8_t msg[128];
  size_t n = journal_key_cert_msg(&r.body.key, msg, sizeof msg);
  assert_true(n > 0);
  const struct journal_signer *c = prev ? prev : k;
  assert_int_equal(c->sign(c->ctx, msg, n, r.body.key.cert), 0);
  mem_put(m, &r);
}

static void mem_seal(struct mem_log *m, const struct journal_signer *k, uint32_t group)
{
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_SEAL;
  r.body.seal.sealed_seq = m->n;
  r.body.seal.group_records = group;
  journal_record_hash(m->buf[m->n - 1], m->len[m->n - 1], r.body.seal.head_hash);
  memcpy(r.body.seal.key_id, k->key_id, 16);
  mem_next_fields(m, &r);
  assert_int_equal(journal_seal_sign(&r, MEM_DEVICE, k), 0);
  mem_put(m, &r);
}

static int mem_next(void *ctx, uint64_t *seq, const uint8_t **bytes, size_t *len, const char **why)
{
  (void)why;
  struct mem_log *m = ctx;
  if (m->at >= m->n) return 0;
  *seq = m->at + 1;
  *bytes = m->buf[m->at];
  *len = m->len[m->at];
  m->at++;
  return 1;
}

static int mem_verify(struct mem_log *m, unsigned from, const uint8_t pk[32], bool in_force, struct journal_verify_result *res)
{
  m->at = from - 1;
  struct journal_record_source src = { .next = mem_next, .ctx = m, .device_id = MEM_DEVICE, .trusted_in_force = in_force };
  uint8_t prev[32];
  if (from > 1) journal_record_hash(m->buf[from - 2], m->len[from - 2], prev);
  return journal_verify(&src, pk, from > 1 ? prev : NULL, res, NULL, NULL);
}

/* A rotation whose group is sealed by the new key (the writer never does this; a device holding
 * its key can): refused from seq 1 (the first key record puts k1 in force); from the rotation
 * group on, as a head-end verifies a batch, no key record says which key is in force — refused
 * only with the trusted key declared in force (journal_record_source.trusted_in_force). */
static void test_rotation_sealed_by_the_new_key(void **st)
{
  (void)st;
  struct journal_file_signer k1, k2;
  char *base = jt_mkdtemp();
  key_signer(&k1, base, "k1.key", seed3);
  key_signer(&k2, base, "k2.key", seed2);
  static struct mem_log m;
  memset(&m, 0, sizeof m);
  mem_key(&m, &k1.signer, NULL);         /* 1 */
  mem_seal(&m, &k1.signer, 1);           /* 2 */
  mem_key(&m, &k2.signer, &k1.signer);   /* 3: k2 certified by k1 */
  mem_seal(&m, &k2.signer, 1);           /* 4: by k2, before it is in force */
  struct journal_verify_result res;
  int rc = mem_verify(&m, 1, k1.signer.pubkey, false, &res);
  if (rc == 0 || res.bad_seq != 4 || !strstr(res.reason, "not signed by the key in force"))
    fail_msg("from seq 1: rc %d, seq %llu '%s'", rc, (unsigned long long)res.bad_seq, res.reason);
  assert_int_equal(mem_verify(&m, 3, k1.signer.pubkey, false, &res), 0); /* a source without the first key record */
  rc = mem_verify(&m, 3, k1.signer.pubkey, true, &res);
  if (rc == 0 || res.bad_seq != 4 || !strstr(res.reason, "not signed by the key in force"))
    fail_msg("from seq 3, k1 in force: rc %d, seq %llu '%s'", rc, (unsigned long long)res.bad_seq, res.reason);
  /* the regular handover: the rotation group sealed by k1, then k2 in force (and reported) */
  memset(&m, 0, sizeof m);
  mem_key(&m, &k1.signer, NULL);
  mem_seal(&m, &k1.signer, 1);
  mem_key(&m, &k2.signer, &k1.signer);
  mem_seal(&m, &k1.signer, 1);
  struct journal_record note_r; /* 5: a record after the handover, sealed by k2 */
  jt_note_rec(&note_r, "after");
  mem_put(&m, &note_r);
  mem_seal(&m, &k2.signer, 1);
  assert_int_equal(mem_verify(&m, 3, k1.signer.pubkey, true, &res), 0);
  assert_true(res.key_rotated);
  assert_memory_equal(res.key_in_force, k2.signer.pubkey, 32);
  assert_int_equal(mem_verify(&m, 1, k1.signer.pubkey, false, &res), 0);
  journal_file_signer_wipe(&k1);
  journal_file_signer_wipe(&k2);
  jt_rm_rf(base);
  free(base);
}

static void test_revocation(void **st)
{
  (void)st;
  char *d = new_dir();
  struct journal_file_signer k1, k2;
  assert_int_equal(journal_file_signer_load(&k1, d), 0);
  key_signer(&k2, d, "k2.key", seed2);
  struct journal *j = open_with(d, &k1.signer, false);
  assert_int_equal(journal_key_revoke(j, k1.signer.pubkey, "lost"), -EINVAL); /* the key in force */
  assert_int_equal(journal_key_rotate(j, &k2.signer), 0);
  assert_int_equal(journal_key_revoke(j, k1.signer.pubkey, ""), -EINVAL);
  assert_int_equal(journal_key_revoke(j, k1.signer.pubkey, "backup card lost"), 0);
  uint64_t rev = journal_head_seq(j) - 1;
  note(j, "after the revocation");
  assert_int_equal(journal_close(j), 0);
  expect_ok(d);
  /* the revoked key, used anyway */
  char *copy = strdup(jt_path("%s-copy", d));
  assert_int_equal(jt_sh("cp -a '%s' '%s'", d, copy), 0);
  uint64_t before = jt_head_seq(copy);
  j = open_with(copy, &k1.signer, true);
  uint64_t head = journal_head_seq(j); /* the accepted rollback's fault and seal */
  assert_int_equal(head, before + 2);
  note(j, "forged with the revoked key");
  assert_int_equal(journal_close(j), 0);
  char why[64];
  snprintf(why, sizeof why, "revoked at seq %llu", (unsigned long long)rev);
  expect_bad(copy, head, why);
  jt_rm_rf(copy);
  free(copy);

  /* a revocation signed by a key not in force (k1, retired), and one whose reason was changed */
  for (int kind = 0; kind < 2; kind++) {
    char *c2 = strdup(jt_path("%s-c%d", d, kind));
    assert_int_equal(jt_sh("cp -a '%s' '%s'", d, c2), 0);
    j = open_with(c2, &k2.signer, false);
    struct journal_record r;
    key_rec(&r, &k1.signer, kind == 0 ? &k1.signer : &k2.signer);
    r.body.key.revoked = true;
    r.body.key.reason = (struct journal_slice){ (const uint8_t *)"signed", 6 };
    uint8_t msg[256];
    size_t n = journal_key_cert_msg(&r.body.key, msg, sizeof msg);
    const struct journal_signer *s = kind == 0 ? &k1.signer : &k2.signer;
    assert_int_equal(s->sign(s->ctx, msg, n, r.body.key.cert), 0);
    if (kind == 1) r.body.key.reason = (struct journal_slice){ (const uint8_t *)"edited", 6 };
    uint64_t seq;
    assert_int_equal(journal_append(j, &r, &seq), 0);
    assert_int_equal(journal_sync(j), 0);
    assert_int_equal(journal_close(j), 0);
    expect_bad(c2, seq, kind == 0 ? "not the key in force" : "certificate invalid");
    jt_rm_rf(c2);
    free(c2);
  }
  journal_file_signer_wipe(&k1);
  journal_file_signer_wipe(&k2);
  drop_dir(d);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rotate_then_retired_key),
    cmocka_unit_test(test_certified_by_a_key_not_in_force),
    cmocka_unit_test(test_revocation),
    cmocka_unit_test(test_rotation_sealed_by_the_new_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
