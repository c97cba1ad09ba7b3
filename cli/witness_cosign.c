/*
 * witness_cosign.c — `hems witness --key FILE --state DIR --verifier VKEY CHECKPOINT [PROOF.json]`:
 * verify a checkpoint against the last one this witness cosigned for its origin and print a
 * C2SP tlog-cosignature/v1 line (cmd_witness.c says what is kept and why).
 *
 * Refusals (exit 1, one line "hems: witness: <origin>: <what>: <why>"): a checkpoint whose
 * signature does not verify under VKEY or whose origin is not VKEY's name; a rollback (a size
 * below the last cosigned); a fork (another root at the last cosigned size, or a proof whose old
 * root is not the cosigned one); a proof that does not verify or does not name the two sizes
 * and roots. State file names are hex SHA-256 of the origin; the file holds the checkpoint body.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <sodium.h>
#include "cli.h"

enum { O_KEY = 1000, O_STATE, O_VERIFIER };
#define PROOF_MAX 128 /* hashes: a consistency proof of trees < 2^64 has fewer */

struct wstate {
  const char *dir;
  char path[4200], tmp[4200];
  bool have;
  char body[JOURNAL_TLOG_BODY_MAX + 1];
  size_t body_len;
  struct journal_tlog_checkpoint cp;
};

static int state_paths(struct wstate *st, const char *origin)
{
  uint8_t h[crypto_hash_sha256_BYTES];
  char hex[2 * sizeof h + 1];
  crypto_hash_sha256(h, (const uint8_t *)origin, strlen(origin));
  journal_hex(h, sizeof h, hex);
  int n = snprintf(st->path, sizeof st->path, "%s/%s.cp", st->dir, hex);
  int m = snprintf(st->tmp, sizeof st->tmp, "%s/%s.cp.tmp", st->dir, hex);
  return n < 0 || m < 0 || (size_t)m >= sizeof st->tmp ? -ENAMETOOLONG : 0;
}

/* The stored checkpoint of origin: 0 (st->have says whether there is one) or an exit code. */
static int state_load(struct wstate *st, const char *origin)
{
  int fd = open(st->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) { st->have = false; return 0; }
    cli_err("witness: state %s: %s", st->path, strerror(errno));
    return CLI_ENV;
  }
  ssize_t n = read(fd, st->body, sizeof st->body);
  close(fd);
  if (n < 0 || (size_t)n >= sizeof st->body ||
      journal_tlog_checkpoint_parse(st->body, (size_t)n, &st->cp) != 0 || strcmp(st->cp.origin, origin) != 0) {
    cli_err("witness: state %s: damaged (not the checkpoint body of origin %s); refusing to cosign", st->path,
            origin);
    return CLI_ENV;
  }
  st->body_len = (size_t)n;
  st->body[n] = 0;
  st->have = true;
  return 0;
}

/* The new body, durably, over the old one. 0 or -errno. */
static int state_save(struct wstate *st, const char *body, size_t len)
{
  int fd = open(st->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return -errno;
  size_t off = 0;
  int rc = 0;
  while (off < len) {
    ssize_t w = write(fd, body + off, len - off);
    if (w < 0) { if (errno == EINTR) continue; rc = -errno; break; }
    off += (size_t)w;
  }
  if (close(fd) != 0 && !rc) rc = -errno;
  if (rc) { unlink(st->tmp); return rc; }
  return cli_replace_durably(st->tmp, st->path, st->dir);
}

static int b64_hash(json_t *o, const char *key, uint8_t out[JOURNAL_HASH_BYTES])
{
  const char *s = json_string_value(json_object_get(o, key));
  size_t got = 0;
  if (!s || sodium_base642bin(out, JOURNAL_HASH_BYTES, s, strlen(s), NULL, &got, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 || got != JOURNAL_HASH_BYTES)
    return -1;
  return 0;
}

/* The consistency proof in path from (old) to (new): 0, or an exit code after one line. */
static int check_proof(const char *path, const char *origin, const struct journal_tlog_checkpoint *old,
                       const struct journal_tlog_checkpoint *new)
{
  json_error_t je;
  json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  if (!o) {
    bool missing = access(path, R_OK) != 0;
    cli_err("witness: %s: %s", path, missing ? strerror(errno) : "not JSON (want hems prove --from S1 --to S2's output)");
    return missing ? CLI_ENV : CLI_FAIL;
  }
  int ret = CLI_FAIL;
  uint8_t old_root[JOURNAL_HASH_BYTES], new_root[JOURNAL_HASH_BYTES], (*p)[JOURNAL_HASH_BYTES] = NULL;
  json_t *os = json_object_get(o, "old_size"), *ns = json_object_get(o, "new_size"), *pa = json_object_get(o, "proof");
  if (!json_is_integer(os) || !json_is_integer(ns) || !json_is_array(pa) || json_array_size(pa) > PROOF_MAX ||
      b64_hash(o, "old_root", old_root) || b64_hash(o, "new_root", new_root)) {
    cli_err("witness: %s: not a consistency proof (old_size, new_size, old_root, new_root, proof)", path);
    goto out;
  }
  if ((uint64_t)json_integer_value(os) != old->size || json_integer_value(os) < 1) {
    cli_err("witness: %s: %s: the proof is from size %lld, the last cosigned size is %llu (hems prove --from %llu --to %llu)",
            origin, path, (long long)json_integer_value(os), (unsigned long long)old->size,
            (unsigned long long)old->size, (unsigned long long)new->size);
    goto out;
  }
  if ((uint64_t)json_integer_value(ns) != new->size || memcmp(new_root, new->root, JOURNAL_HASH_BYTES) != 0) {
    cli_err("witness: %s: %s: the proof does not end at the checkpoint (size %llu and its root)", origin, path,
            (unsigned long long)new->size);
    goto out;
  }
  if (memcmp(old_root, old->root, JOURNAL_HASH_BYTES) != 0) {
    cli_err("witness: %s: fork: the proof's root at size %llu is not the root cosigned at that size; refusing",
            origin, (unsigned long long)old->size);
    goto out;
  }
  size_t n = json_array_size(pa);
  if (n && !(p = malloc(n * sizeof *p))) { cli_err("witness: out of memory"); ret = CLI_ENV; goto out; }
  for (size_t i = 0; i < n; i++) {
    json_t *w = json_pack("{so}", "h", json_incref(json_array_get(pa, i)));
    int bad = !w || b64_hash(w, "h", p[i]);
    json_decref(w);
    if (bad) { cli_err("witness: %s: proof[%zu]: not a base64 SHA-256 hash", path, i); goto out; }
  }
  struct journal_merkle_hasher h = { 0 };
  if (journal_merkle_hasher_init(&h)) { cli_err("witness: out of memory"); ret = CLI_ENV; goto out; }
  int rc = journal_merkle_verify_consistency(&h, old->size, old->root, new->size, new->root,
                                             (const uint8_t(*)[JOURNAL_HASH_BYTES])p, (unsigned)n);
  journal_merkle_hasher_deinit(&h);
  if (rc) {
    cli_err("witness: %s: fork or bad proof: the consistency proof from size %llu to %llu does not verify; refusing",
            origin, (unsigned long long)old->size, (unsigned long long)new->size);
    goto out;
  }
  ret = 0;
out:
  free(p);
  json_decref(o);
  return ret;
}

int cli_witness_cosign(int argc, char **argv)
{
  static const struct option lo[] = { { "key", required_argument, NULL, O_KEY },
                                      { "state", required_argument, NULL, O_STATE },
                                      { "verifier", required_argument, NULL, O_VERIFIER }, { 0 } };
  const char *key = NULL, *verifier = NULL;
  struct wstate st = { 0 };
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_KEY) key = optarg;
    else if (opt == O_STATE) st.dir = optarg;
    else if (opt == O_VERIFIER) verifier = optarg;
    else return cli_usage(cli_find("witness"), false);
  }
  int npos = argc - optind;
  if (!key || !st.dir || !verifier || npos < 1 || npos > 2) {
    cli_err("witness: want --key FILE --state DIR --verifier VKEY CHECKPOINT [PROOF.json] (see 'hems witness --help')");
    return CLI_USAGE;
  }
  const char *cpath = argv[optind], *ppath = npos == 2 ? argv[optind + 1] : NULL;
  struct journal_tlog_verifier lv, wv;
  int rc = cli_witness_vkey_arg("--verifier", verifier, JOURNAL_TLOG_ED25519, &lv);
  if (rc) return rc;

  /* the checkpoint: signed by the log's key, origin = the key's name */
  char note[JOURNAL_TLOG_NOTE_MAX + 1];
  size_t nlen, blen;
  if ((rc = cli_witness_read_file(cpath, note, sizeof note, &nlen))) {
    cli_err("witness: %s: %s", cpath, rc == -EFBIG ? "larger than a signed note may be" : strerror(-rc));
    return rc == -EFBIG ? CLI_FAIL : CLI_ENV;
  }
  struct journal_tlog_checkpoint cp;
  rc = journal_tlog_open(note, nlen, &lv, &blen, NULL);
  if (rc == 0 && journal_tlog_checkpoint_parse(note, blen, &cp) != 0) rc = JOURNAL_ENOTE;
  if (rc) {
    cli_err("witness: %s: %s", cpath, rc == JOURNAL_EBADSIG ? "no valid signature by the --verifier key" :
                                        "not a checkpoint (C2SP tlog-checkpoint signed note)");
    return CLI_FAIL;
  }
  if (strcmp(cp.origin, lv.name) != 0) {
    cli_err("witness: %s: origin \"%s\" is not the verifier key's name \"%s\"; refusing", cpath, cp.origin, lv.name);
    return CLI_FAIL;
  }
  struct journal_file_signer fs;
  if ((rc = cli_witness_key_load(key, &fs, &wv))) return rc;

  /* the state dir, locked for the whole check-then-store */
  int ret = CLI_ENV, lfd = -1;
  char lpath[4200];
  snprintf(lpath, sizeof lpath, "%s/lock", st.dir);
  if (mkdir(st.dir, 0700) != 0 && errno != EEXIST) {
    cli_err("witness: --state %s: %s", st.dir, strerror(errno));
    goto out;
  }
  if ((lfd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
    cli_err("witness: --state %s: %s", lpath, strerror(errno));
    goto out;
  }
  if (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
    cli_err("witness: --state %s: in use by another witness run", st.dir);
    goto out;
  }
  if (state_paths(&st, cp.origin)) { cli_err("witness: --state %s: path too long", st.dir); goto out; }
  if ((ret = state_load(&st, cp.origin))) goto out;
  ret = CLI_FAIL;
  char rb[64], ob[64];
  sodium_bin2base64(rb, sizeof rb, cp.root, JOURNAL_HASH_BYTES, sodium_base64_VARIANT_ORIGINAL);
  if (!st.have) {
    fprintf(stderr, "hems: witness: %s: first checkpoint of this origin (size %llu, root %s): trusted on first use\n",
            cp.origin, (unsigned long long)cp.size, rb);
  } else if (cp.size < st.cp.size) {
    cli_err("witness: %s: rollback: checkpoint size %llu is below the last cosigned size %llu; refusing", cp.origin,
            (unsigned long long)cp.size, (unsigned long long)st.cp.size);
    goto out;
  } else if (cp.size == st.cp.size) {
    if (memcmp(cp.root, st.cp.root, JOURNAL_HASH_BYTES) != 0) {
      sodium_bin2base64(ob, sizeof ob, st.cp.root, JOURNAL_HASH_BYTES, sodium_base64_VARIANT_ORIGINAL);
      cli_err("witness: %s: fork: size %llu has root %s, but %s was cosigned at that size; refusing", cp.origin,
              (unsigned long long)cp.size, rb, ob);
      goto out;
    }
  } else if (!ppath) {
    cli_err("witness: %s: size %llu extends the last cosigned size %llu: give the consistency proof (hems prove "
            "--from %llu --to %llu)", cp.origin, (unsigned long long)cp.size, (unsigned long long)st.cp.size,
            (unsigned long long)st.cp.size, (unsigned long long)cp.size);
    ret = CLI_USAGE;
    goto out;
  } else if ((ret = check_proof(ppath, cp.origin, &st.cp, &cp))) {
    goto out;
  }

  /* remember, then cosign */
  if ((rc = state_save(&st, note, blen))) {
    cli_err("witness: state %s: %s", st.path, strerror(-rc));
    ret = CLI_ENV;
    goto out;
  }
  char line[JOURNAL_TLOG_SIGLINE_MAX + 1];
  time_t now = time(NULL);
  rc = journal_tlog_cosign(note, blen, wv.name, &fs.signer, now < 0 ? 0 : (uint64_t)now, line, sizeof line);
  if (rc < 0) {
    cli_err("witness: cosign: %s", journal_strerror(rc));
    ret = CLI_FAIL;
    goto out;
  }
  fputs(line, stdout);
  ret = fflush(stdout) == 0 ? CLI_OK : CLI_ENV;
out:
  journal_file_signer_wipe(&fs);
  if (lfd >= 0) close(lfd);
  return ret;
}
