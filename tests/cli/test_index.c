/*
 * test_index.c — the indexes are derived files (trust issue item 11): entries deleted, a block
 * deleted or an entry added behind the journal's back are found by `hems verify`, never make
 * `hems timeline` silently print less, and `hems reindex` rebuilds them (refused while a daemon
 * runs). The source index is read with the key it is written with (`timeline --source`).
 * Damage is done with LMDB directly, as anyone who can write the data dir could.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <lmdb.h>
#include "cli_test.h"

static char d[300];

/* Opens DIR/journal read-write and one named database of it. */
static void env_open(MDB_env **env, MDB_txn **txn, MDB_dbi *dbi, const char *name, unsigned flags)
{
  char path[400];
  snprintf(path, sizeof path, "%s/journal", d);
  assert_int_equal(mdb_env_create(env), 0);
  mdb_env_set_maxdbs(*env, 16);
  assert_int_equal(mdb_env_open(*env, path, 0, 0600), 0);
  assert_int_equal(mdb_txn_begin(*env, NULL, 0, txn), 0);
  assert_int_equal(mdb_dbi_open(*txn, name, flags, dbi), 0);
}

static void env_commit(MDB_env *env, MDB_txn *txn)
{
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

static const unsigned IDX = MDB_DUPSORT | MDB_DUPFIXED;

/* Runs `sh -c CMD > count` and reads the number it printed. */
static int count_of(const char *cmd)
{
  sh("%s > %s/count", cmd, tmp);
  char path[300];
  snprintf(path, sizeof path, "%s/count", tmp);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  int n = -1;
  assert_int_equal(fscanf(f, "%d", &n), 1);
  fclose(f);
  return n;
}

/* Records `timeline ARGS` prints (jsonl, one per line). */
static int listed(const char *args)
{
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "%s timeline --dir %s %s --format jsonl 2>/dev/null | wc -l", bin, d, args);
  return count_of(cmd);
}

/* Records of the whole journal containing needle: an unfiltered listing (no index) and grep. */
static int scanned(const char *needle)
{
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "%s timeline --dir %s --format jsonl 2>/dev/null | grep -c -F '%s'", bin, d, needle);
  return count_of(cmd);
}

/* The damage is seen by verify (exit 1) and reindex repairs it (verify exit 0 after). */
static void verify_fails_then_reindex_repairs(void)
{
  assert_int_equal(sh("%s verify --dir %s >/dev/null 2>&1", bin, d), 1);
  assert_int_equal(sh("%s reindex --dir %s >/dev/null 2>&1", bin, d), 0);
  assert_int_equal(sh("%s verify --dir %s >/dev/null 2>&1", bin, d), 0);
}

static int setup(void **state)
{
  (void)state;
  if (cli_test_setup("index")) return -1;
  snprintf(d, sizeof d, "%s/d", tmp);
  if (sh("%s init --dir %s >/dev/null", bin, d)) return -1;
  if (sh("%s run --dir %s --sim default --for 2m --speed max >/dev/null 2>&1", bin, d)) return -1;
  for (int i = 0; i < 3; i++)
    if (sh("%s note --dir %s 'note %d' >/dev/null", bin, d, i)) return -1;
  return 0;
}

/* The whole `index` database emptied: timeline --type note still lists every note (a warning
 * and a full scan), verify fails naming the index, reindex repairs it. */
static void index_emptied(void **state)
{
  (void)state;
  int notes = scanned("\"type\":\"note\"");
  assert_true(notes >= 3);
  assert_int_equal(listed("--type note"), notes);
  assert_int_equal(sh("%s verify --dir %s >/dev/null 2>&1", bin, d), 0);

  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  env_open(&env, &txn, &dbi, "index", IDX);
  assert_int_equal(mdb_drop(txn, dbi, 0), 0);
  env_commit(env, txn);

  assert_int_equal(listed("--type note"), notes);
  assert_int_equal(sh("%s timeline --dir %s --type note --format jsonl 2>&1 >/dev/null | grep -q 'index incomplete'", bin, d), 0);
  assert_int_equal(sh("%s verify --dir %s 2>&1 | grep -q 'index damaged'", bin, d), 0);
  verify_fails_then_reindex_repairs();
  assert_int_equal(sh("%s timeline --dir %s --type note --format jsonl 2>&1 >/dev/null | grep -q .", bin, d), 1);
  assert_int_equal(listed("--type note"), notes);
}

/* Only the `note` entries deleted: verify names the missing key and the record that has it;
 * reindex brings the notes back to the indexed query. */
static void one_key_deleted(void **state)
{
  (void)state;
  int notes = scanned("\"type\":\"note\"");
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  env_open(&env, &txn, &dbi, "index", IDX);
  uint8_t key[5] = { 'T', 0, 0, 0, 3 }; /* type note (3) */
  MDB_val k = { 5, key };
  assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
  env_commit(env, txn);
  assert_int_equal(sh("%s verify --dir %s 2>&1 | grep -q 'index entry type note missing'", bin, d), 0);
  /* reindex says what it found before rebuilding */
  assert_int_equal(sh("%s reindex --dir %s 2>&1 | grep -q 'type note missing'", bin, d), 0);
  assert_int_equal(sh("%s verify --dir %s >/dev/null 2>&1", bin, d), 0);
  assert_int_equal(listed("--type note"), notes);
}

/* An entry added that no record justifies (type pq_event in a block without one). */
static void wrong_entry_added(void **state)
{
  (void)state;
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  env_open(&env, &txn, &dbi, "index", IDX);
  uint8_t key[5] = { 'T', 0, 0, 0, 5 }, blk[8] = { 0, 0, 0, 0, 0, 0, 0, 1 }; /* pq_event -> block at seq 1 */
  MDB_val k = { 5, key }, v = { 8, blk };
  assert_int_equal(mdb_put(txn, dbi, &k, &v, MDB_NODUPDATA), 0);
  env_commit(env, txn);
  assert_int_equal(sh("%s verify --dir %s 2>&1 | grep -q 'index entry type pq_event names the block at seq 1'", bin, d), 0);
  verify_fails_then_reindex_repairs();
}

/* The first record naming branch n under the rule of docs/journal.md (its branch or tap source,
 * the body's top-level "branch", "target", "branches"), from a full timeline scan read with
 * python3's json module — not with the index code. */
static int first_naming(int n)
{
  char cmd[1600];
  snprintf(cmd, sizeof cmd,
           "%s timeline --dir %s --format jsonl 2>/dev/null | /usr/bin/python3 -c \"import json,re,sys\n"
           "n=%d\nfor l in sys.stdin:\n r=json.loads(l); b=r['body']; m=re.fullmatch(r'(branch|tap)(:[a-z_]+)?:(\\d+)', r['source'])\n"
           " v=[b.get('branch'), b.get('target')] + (b.get('branches') or [])\n"
           " if (m and int(m.group(3)) == n) or n in [x for x in v if type(x) is int]: print(r['seq']); break\n"
           "else: print(0)\"",
           bin, d, n);
  return count_of(cmd);
}

/* Every `branch 13` entry deleted, then its first entry moved to a seq where no block starts:
 * verify names the key, the block and the first record that names the branch (records of
 * schema v 3: their keys come from the decoded record), and reindex repairs it. */
static void branch_entry_deleted_or_moved(void **state)
{
  (void)state;
  assert_int_equal(sh("%s reindex --dir %s >/dev/null", bin, d), 0);
  int s = first_naming(13);
  assert_true(s > 0);
  uint8_t key[5] = { 'B', 0, 0, 0, 13 };
  MDB_val k = { 5, key }, v;
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  env_open(&env, &txn, &dbi, "index", IDX);
  assert_int_equal(mdb_get(txn, dbi, &k, &v), 0); /* the first dup: the lowest block naming 13 */
  uint64_t blk = 0;
  for (int i = 0; i < 8; i++) blk = blk << 8 | ((const uint8_t *)v.mv_data)[i];
  assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
  env_commit(env, txn);
  assert_int_equal(sh("%s verify --dir %s 2>&1 | grep -q 'index entry branch 13 missing for the block at seq %llu (record seq %d has it)'",
                      bin, d, (unsigned long long)blk, s), 0);
  verify_fails_then_reindex_repairs();

  env_open(&env, &txn, &dbi, "index", IDX);
  uint8_t moved[8] = { 0 };
  for (int i = 0; i < 8; i++) moved[i] = (uint8_t)((blk + 1) >> (56 - 8 * i));
  MDB_val old = { 8, NULL }, nv = { 8, moved };
  uint8_t oldb[8];
  for (int i = 0; i < 8; i++) oldb[i] = (uint8_t)(blk >> (56 - 8 * i));
  old.mv_data = oldb;
  assert_int_equal(mdb_del(txn, dbi, &k, &old), 0);
  assert_int_equal(mdb_put(txn, dbi, &k, &nv, MDB_NODUPDATA), 0);
  env_commit(env, txn);
  assert_int_equal(sh("%s verify --dir %s 2>&1 | grep -q 'index entry branch 13 missing for the block at seq %llu (record seq %d has it)'",
                      bin, d, (unsigned long long)blk, s), 0);
  assert_int_equal(sh("%s verify --dir %s 2>&1 | grep -q '1 entries missing, 1 wrong'", bin, d), 0);
  verify_fails_then_reindex_repairs();
}

/* A block removed from `blocks`: the branch query does not skip its records. */
static void block_deleted(void **state)
{
  (void)state;
  assert_int_equal(sh("%s reindex --dir %s >/dev/null", bin, d), 0);
  int b7 = scanned("\"source\":\"branch:7\"");
  assert_true(b7 > 0);
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  env_open(&env, &txn, &dbi, "blocks", 0);
  MDB_cursor *c;
  MDB_val k, v;
  assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
  assert_int_equal(mdb_cursor_get(c, &k, &v, MDB_FIRST), 0); /* the first block holds the run's start */
  assert_int_equal(mdb_cursor_del(c, 0), 0);
  mdb_cursor_close(c);
  env_commit(env, txn);
  assert_int_equal(listed("--source branch:7"), b7);
  assert_int_equal(sh("%s timeline --dir %s --branch 7 --format jsonl 2>&1 >/dev/null | grep -q 'seq 1\\.\\..* have no index block'", bin, d), 0);
  verify_fails_then_reindex_repairs();
}

/* The source index is queried with the key it is written with: --source through the index
 * finds exactly what a full scan finds (the index is intact, so no fallback). */
static void source_filter_uses_the_index(void **state)
{
  (void)state;
  static const char *const srcs[] = { "operator", "branch:7", "afe:1", "panel" };
  for (int i = 0; i < 4; i++) {
    char needle[64];
    snprintf(needle, sizeof needle, "\"source\":\"%s\"", srcs[i]);
    int want = scanned(needle);
    assert_true(want > 0);
    char args[80];
    snprintf(args, sizeof args, "--source %s", srcs[i]);
    assert_int_equal(listed(args), want);
    assert_int_equal(sh("%s timeline --dir %s --source %s --format jsonl 2>&1 >/dev/null | grep -q .", bin, d, srcs[i]), 1);
  }
  assert_int_equal(sh("%s timeline --dir %s --source nowhere:1 >/dev/null 2>&1", bin, d), 2);
}

/* reindex takes the writer lock: refused (exit 3) while a daemon runs. */
static void reindex_refused_while_daemon_runs(void **state)
{
  (void)state;
  assert_int_equal(sh("(%s run --dir %s --sim default --for 300s >/dev/null 2>&1 & echo $! > %s/pid)", bin, d, tmp), 0);
  int rc = -1;
  for (int i = 0; i < 600 && rc != 3; i++) { /* up to 60 s: a sanitizer build starts slowly */
    usleep(100000);
    rc = sh("%s reindex --dir %s >/dev/null 2>&1", bin, d); /* 0 until the daemon holds the lock */
  }
  assert_int_equal(rc, 3);
  assert_int_equal(sh("%s reindex --dir %s 2>&1 | grep -q 'in use by pid'", bin, d), 0);
  assert_int_equal(sh("kill $(cat %s/pid); while kill -0 $(cat %s/pid) 2>/dev/null; do sleep 0.1; done", tmp, tmp), 0);
  assert_int_equal(sh("%s reindex --dir %s >/dev/null", bin, d), 0);
  assert_int_equal(sh("%s verify --dir %s >/dev/null 2>&1", bin, d), 0);
}

/* The times table made to lie: every entry replaced by one that files the last group under
 * wall time 0. `timeline --since T` must still list every record from T on (before, the listing
 * started at that last group: everything earlier was silently left out). */
static void times_table_lies(void **state)
{
  (void)state;
  char t[64] = "", cmd[100], path[400];
  /* T: the time of a record in the middle of the simulated run */
  snprintf(path, sizeof path, "%s/t.txt", tmp);
  assert_int_equal(sh("%s show --dir %s --format json 300 | sed -n 's/.*\"time\": *\"\\([^\"]*\\)\".*/\\1/p' > %s", bin, d, path), 0);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  assert_int_equal(fscanf(f, "%63s", t), 1);
  fclose(f);
  snprintf(cmd, sizeof cmd, "--since %s", t);
  int before = listed(cmd);
  assert_true(before > 10);
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  env_open(&env, &txn, &dbi, "times", IDX);
  MDB_cursor *c;
  MDB_val k, v;
  assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
  assert_int_equal(mdb_cursor_get(c, &k, &v, MDB_LAST), 0);
  uint8_t last_group[8], zero_key[8] = { 0x80, 0, 0, 0, 0, 0, 0, 0 }; /* wall 0, offset by 2^63 */
  memcpy(last_group, v.mv_data, 8);
  mdb_cursor_close(c);
  assert_int_equal(mdb_drop(txn, dbi, 0), 0);
  MDB_val nk = { 8, zero_key }, nv = { 8, last_group };
  assert_int_equal(mdb_put(txn, dbi, &nk, &nv, 0), 0);
  env_commit(env, txn);
  assert_int_equal(listed(cmd), before);
  assert_int_equal(sh("%s reindex --dir %s >/dev/null 2>&1", bin, d), 0);
  assert_int_equal(listed(cmd), before);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(source_filter_uses_the_index),
    cmocka_unit_test(index_emptied),
    cmocka_unit_test(one_key_deleted),
    cmocka_unit_test(wrong_entry_added),
    cmocka_unit_test(branch_entry_deleted_or_moved),
    cmocka_unit_test(block_deleted),
    cmocka_unit_test(reindex_refused_while_daemon_runs),
    cmocka_unit_test(times_table_lies),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
