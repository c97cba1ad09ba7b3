/*
 * cmd_prove.c — `hems prove [--dir DIR | BUNDLE] --seq N [--size S]` and `hems prove … --from S1
 * --to S2` (../shared/CLI.md "Proofs"): RFC 9162 inclusion and consistency proofs, as JSON.
 *
 * A data dir's proofs are read from its stored tiles and records (journal_iter_tile_reader); a
 * bundle's tree is rebuilt in memory from its checked records (it must start at seq 1). Nothing
 * is served on the tiles' word: the newest seal's signature is checked with the journal's key,
 * the tiles must give that seal's tree_root, every root printed is proven consistent with it,
 * and every proof is verified (RFC 9162 §2.1.3.2 / §2.1.4.2) before it is printed; otherwise
 * exit 1 ("cannot prove": e.g. the leaves were cut and no tile covers them, or tiles damaged).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>
#include <sodium.h>
#include "cli.h"

enum { O_DIR = 1000, O_COUNTER, O_ACCEPT, O_FINGERPRINT, O_PUBKEY, O_SEQ, O_SIZE, O_FROM, O_TO };

struct tree_src {
  struct journal_merkle_hasher h;
  struct journal_merkle_records rs;       /* dir */
  struct journal_merkle_memtiles mt;      /* bundle */
  struct journal_merkle_appender *a;
  struct journal_merkle_tile_reader rd;
  struct journal_iter *it;
  uint64_t size;                          /* the newest seal's tree size */
  uint8_t root[JOURNAL_HASH_BYTES];       /* … and its tree_root */
  struct journal_record seal;
  char id[33];
  uint64_t n;                             /* bundle: records read */
};

static json_t *b64(const uint8_t *h)
{
  char s[64];
  sodium_bin2base64(s, sizeof s, h, JOURNAL_HASH_BYTES, sodium_base64_VARIANT_ORIGINAL);
  return json_string(s);
}

static json_t *proof_json(uint8_t p[][JOURNAL_HASH_BYTES], unsigned n)
{
  json_t *a = json_array();
  for (unsigned i = 0; i < n; i++) json_array_append_new(a, b64(p[i]));
  return a;
}

/* The bundle's tree in memory, from its proven records. */
static int bundle_tree(struct cli_source *s, struct tree_src *t, const char *where)
{
  struct journal_record_source *src = cli_source_records(s, 1);
  if (!src) return -ENOMEM;
  journal_merkle_memtiles_init(&t->mt);
  journal_merkle_appender_init(t->a, &t->h, journal_merkle_memtiles_put, &t->mt);
  uint64_t seq;
  const uint8_t *b;
  size_t len;
  const char *why = NULL;
  int got;
  while ((got = src->next(src->ctx, &seq, &b, &len, &why)) > 0) {
    if (seq != t->n + 1) { cli_err("prove: %s: the bundle starts after seq 1: its tree cannot be rebuilt", where); return -EINVAL; }
    uint8_t leaf[JOURNAL_HASH_BYTES];
    struct journal_record r;
    if (journal_record_decode(b, len, &r) == 0 && r.type == JOURNAL_T_SEAL) {
      if (journal_merkle_flush(t->a) || journal_merkle_appender_root(t->a, t->root)) return -EIO;
      t->size = t->n;
      t->seal = r;
    }
    journal_merkle_leaf_hash(&t->h, b, len, leaf);
    if (journal_merkle_append(t->a, leaf)) return -EIO;
    t->n++;
  }
  if (got < 0) { cli_source_damaged(s, why); return -EIO; }
  journal_merkle_flush(t->a);
  t->rd = journal_merkle_memtiles_reader(&t->mt);
  return 0;
}

int cli_cmd_prove(int argc, char **argv)
{
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR }, { "counter", required_argument, NULL, O_COUNTER },
                                      { "accept-rollback", no_argument, NULL, O_ACCEPT },
                                      { "fingerprint", required_argument, NULL, O_FINGERPRINT },
                                      { "pubkey", required_argument, NULL, O_PUBKEY }, { "seq", required_argument, NULL, O_SEQ },
                                      { "size", required_argument, NULL, O_SIZE }, { "from", required_argument, NULL, O_FROM },
                                      { "to", required_argument, NULL, O_TO }, { 0 } };
  const char *fingerprint = NULL, *pubkey = NULL;
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  uint64_t seq = 0, size = 0, from = 0, to = 0;
  bool dir_given = false;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    uint64_t *num = opt == O_SEQ ? &seq : opt == O_SIZE ? &size : opt == O_FROM ? &from : opt == O_TO ? &to : NULL;
    if (num) {
      if (cli_parse_u64(optarg, num) != 0 || *num == 0) { cli_err("prove: %s: not a positive number", optarg); return CLI_USAGE; }
    } else if (opt == O_DIR) c.dir = optarg, dir_given = true;
    else if (opt == O_COUNTER) c.counter = optarg;
    else if (opt == O_ACCEPT) c.accept_rollback = true;
    else if (opt == O_FINGERPRINT) fingerprint = optarg;
    else if (opt == O_PUBKEY) pubkey = optarg;
    else return cli_usage(cli_find("prove"), false);
  }
  bool incl = seq != 0;
  if (argc - optind > 1 || (dir_given && argc - optind == 1) || incl == (from || to) || (!incl && (!from || !to)) ||
      (!incl && size) || (!incl && from > to) || (incl && size && seq > size))
    return cli_usage(cli_find("prove"), false);
  if (argc - optind == 1) {
    int prc = cli_source_arg("prove", &c, argv[optind]);
    if (prc) return prc;
  }
  const char *where = c.bundle ? c.bundle : c.dir;
  struct cli_source s;
  int rc = cli_source_open(&c, pubkey, fingerprint, &s);
  if (rc) return rc;
  struct tree_src *t = calloc(1, sizeof *t);
  int ret = CLI_FAIL;
  if (!t || !(t->a = malloc(sizeof *t->a)) || journal_merkle_hasher_init(&t->h)) { cli_err("prove: out of memory"); ret = CLI_ENV; goto out; }
  if (s.bundle) {
    snprintf(t->id, sizeof t->id, "%s", strlen(journal_bundle_device_id(s.bundle)) == 32 ? journal_bundle_device_id(s.bundle) : "");
    if (bundle_tree(&s, t, where)) goto out;
  } else {
    uint64_t first, last;
    const uint8_t *b;
    size_t len;
    if (journal_reader_device_id(s.reader, t->id)) t->id[0] = 0;
    if ((rc = journal_reader_bounds(s.reader, &first, &last)) || (rc = journal_iter_begin(s.reader, 1, &t->it))) {
      cli_err("prove: %s: %s", where, journal_strerror(rc));
      goto out;
    }
    if (last && journal_iter_get(t->it, last, &b, &len) == 0 && journal_record_decode(b, len, &t->seal) == 0 &&
        t->seal.type == JOURNAL_T_SEAL) {
      t->size = t->seal.body.seal.sealed_seq;
      memcpy(t->root, t->seal.body.seal.tree_root, JOURNAL_HASH_BYTES);
    }
    t->rd = journal_iter_tile_reader(t->it, &t->h, &t->rs);
  }
  static const uint8_t zero[JOURNAL_HASH_BYTES];
  if (!t->size || t->seal.type != JOURNAL_T_SEAL || (!s.bundle && memcmp(t->root, zero, sizeof zero) == 0)) {
    cli_err("prove: %s: the newest seal carries no tree root (or there is no seal)", where);
    goto out;
  }
  if (s.bundle && memcmp(t->seal.body.seal.tree_root, zero, sizeof zero) != 0 &&
      memcmp(t->seal.body.seal.tree_root, t->root, sizeof zero) != 0) {
    cli_err("prove: %s: the newest seal's tree_root is not the root of the records before it", where);
    goto out;
  }
  if (journal_seal_verify(&t->seal, t->id, s.pubkey) != 0) {
    cli_err("prove: %s: the newest seal (seq %llu) does not verify with the journal's key", where, (unsigned long long)t->seal.seq);
    goto out;
  }
  if (incl && !size) size = t->size;
  uint64_t hi = incl ? size : to;
  if (hi > t->size) {
    cli_err("prove: %s: size %llu is beyond the newest checkpoint's (%llu)", where, (unsigned long long)hi, (unsigned long long)t->size);
    ret = CLI_USAGE;
    goto out;
  }
  /* roots of the sizes asked, each proven consistent with the newest seal's */
  uint64_t sizes[2] = { incl ? size : from, incl ? size : to };
  uint8_t roots[2][JOURNAL_HASH_BYTES], p[JOURNAL_MERKLE_PROOF_MAX][JOURNAL_HASH_BYTES];
  unsigned np;
  for (int k = 0; k < 2; k++) {
    if ((rc = journal_merkle_root(&t->h, &t->rd, sizes[k], roots[k])) ||
        (rc = journal_merkle_prove_consistency(&t->h, &t->rd, sizes[k], t->size, p, &np)) ||
        (rc = journal_merkle_verify_consistency(&t->h, sizes[k], roots[k], t->size, t->root, (const uint8_t(*)[JOURNAL_HASH_BYTES])p, np))) {
      cli_err("prove: %s: cannot prove the tree of size %llu: %s", where, (unsigned long long)sizes[k], journal_strerror(rc));
      goto out;
    }
  }
  json_t *o = json_object();
  if (incl) {
    const uint8_t *b;
    size_t len;
    uint8_t leaf[JOURNAL_HASH_BYTES];
    rc = s.bundle ? journal_merkle_stored_hash(&t->h, &t->rd, 0, seq - 1, leaf) : journal_iter_get(t->it, seq, &b, &len);
    if (!rc && !s.bundle) journal_merkle_leaf_hash(&t->h, b, len, leaf);
    if (!rc) rc = journal_merkle_prove_inclusion(&t->h, &t->rd, seq - 1, size, p, &np);
    if (!rc) rc = journal_merkle_verify_inclusion(&t->h, leaf, seq - 1, size, roots[0], (const uint8_t(*)[JOURNAL_HASH_BYTES])p, np);
    if (rc) {
      json_decref(o);
      cli_err("prove: %s: cannot prove seq %llu in the tree of size %llu: %s", where, (unsigned long long)seq,
              (unsigned long long)size, journal_strerror(rc));
      goto out;
    }
    json_object_set_new(o, "leaf_index", json_integer((json_int_t)(seq - 1)));
    json_object_set_new(o, "tree_size", json_integer((json_int_t)size));
    json_object_set_new(o, "root", b64(roots[0]));
  } else {
    rc = journal_merkle_prove_consistency(&t->h, &t->rd, from, to, p, &np);
    if (!rc) rc = journal_merkle_verify_consistency(&t->h, from, roots[0], to, roots[1], (const uint8_t(*)[JOURNAL_HASH_BYTES])p, np);
    if (rc) {
      json_decref(o);
      cli_err("prove: %s: cannot prove %llu consistent with %llu: %s", where, (unsigned long long)from, (unsigned long long)to,
              journal_strerror(rc));
      goto out;
    }
    json_object_set_new(o, "old_size", json_integer((json_int_t)from));
    json_object_set_new(o, "new_size", json_integer((json_int_t)to));
    json_object_set_new(o, "old_root", b64(roots[0]));
    json_object_set_new(o, "new_root", b64(roots[1]));
  }
  json_object_set_new(o, "proof", proof_json(p, np));
  char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  if (text) { puts(text); free(text); }
  ret = text && fflush(stdout) == 0 ? CLI_OK : CLI_ENV;
out:
  if (t) {
    if (t->it) journal_iter_end(t->it);
    if (s.bundle) journal_merkle_memtiles_deinit(&t->mt);
    journal_merkle_hasher_deinit(&t->h);
    free(t->a);
    free(t);
  }
  cli_source_close(&s);
  return ret;
}
