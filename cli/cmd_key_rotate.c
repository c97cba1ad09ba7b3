/*
 * cmd_key_rotate.c — `hems key rotate` and `hems key revoke` (docs/operations.md "Keys").
 *
 * rotate: a new Ed25519 key is made as DIR/keys/next.key (0600, O_EXCL); the writer, opened
 * with the key in force (--signer, or DIR/keys/signing.key), appends a `key` record for it
 * certified by the key in force and sealed by it, then seals with the new key and re-signs the
 * counter file (journal_key_rotate). Then DIR/keys/signing.pub is replaced by the new public
 * key and next.key becomes signing.key (each by rename): the old secret is gone from the dir.
 * The first rotation keeps the first key as DIR/keys/root.pub: the key `hems verify --dir`
 * trusts by default and follows through the certified chain (the one an auditor pins).
 * The long-horizon log (DIR/history) is rotated the same way, by the same old key.
 * The daemon must be stopped (the writer lock says so). An existing next.key is an interrupted
 * rotation: refused with what to do. Before the writer closes, the new key seals at once: a
 * note naming both keys, folded by a replay harness attached with the old key trusted (the
 * state a daemon had), sealed by the new key with its state hash, with the checkpoint that seal
 * signs. A daemon trusts only its own key's seals for a checkpoint (replay/checkpoint_auth.c):
 * on a journal cut by retention it would otherwise find none it can use and not start.
 *
 * revoke: appends a revocation of a key of the journal's chain (by fingerprint) that is not the
 * key in force, signed by the key in force: no seal or bundle by it is accepted afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include "cli.h"
#include "read_filter.h"
#include "replay.h"

enum { O_DIR = 1000, O_COUNTER, O_REASON, O_TO, O_SIGNER };

static int parse_common(int argc, char **argv, struct cli_common *c, const char **reason, const char **to)
{
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR },
                                      { "counter", required_argument, NULL, O_COUNTER },
                                      { "reason", required_argument, NULL, O_REASON },
                                      { "to", required_argument, NULL, O_TO },
                                      { "signer", required_argument, NULL, O_SIGNER }, { 0 } };
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DIR) c->dir = optarg;
    else if (opt == O_COUNTER) c->counter = optarg;
    else if (opt == O_REASON && reason) *reason = optarg;
    else if (opt == O_TO && to) *to = optarg;
    else if (opt == O_SIGNER) cli_signer_option(optarg);
    else return cli_usage(cli_find("key"), false);
  }
  return 0;
}

/* Writes DIR/keys/signing.pub for pk through a temporary file and a rename, then syncs keys/. */
static int replace_pub(const char *kdir, const char *name, const uint8_t pk[32])
{
  char tmp[4300], path[4300], b64[128], line[256];
  snprintf(tmp, sizeof tmp, "%s/%s.tmp", kdir, name);
  snprintf(path, sizeof path, "%s/%s", kdir, name);
  sodium_bin2base64(b64, sizeof b64, pk, 32, sodium_base64_VARIANT_ORIGINAL);
  int n = snprintf(line, sizeof line, "ed25519 %s\n", b64);
  unlink(tmp);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return -errno;
  int rc = write(fd, line, (size_t)n) == n && fchmod(fd, 0644) == 0 && fsync(fd) == 0 ? 0 : -errno;
  close(fd);
  if (!rc && rename(tmp, path) != 0) rc = -errno;
  if (rc) unlink(tmp);
  return rc;
}

static int sync_dir(const char *d)
{
  int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int rc = fsync(fd) == 0 ? 0 : -errno;
  close(fd);
  return rc;
}

/* The long-horizon log (DIR/history) rotates with the main log, by the same old key; a failure
 * is said (the daemon then journals history_failed instead of writing it). */
static void rotate_history(const char *dir, const struct journal_signer *old, const struct journal_signer *nsig)
{
  if (!journal_history_exists(dir)) return;
  struct journal_options o;
  memset(&o, 0, sizeof o);
  o.dir = dir;
  o.signer = old;
  struct journal_history *hist = NULL;
  int pid = 0, rc = journal_history_open(&hist, &o, &pid);
  if (!rc) rc = journal_key_rotate(journal_history_journal(hist), nsig);
  int crc = hist ? journal_history_close(hist) : 0;
  if (!rc) rc = crc;
  char hk[4300];
  snprintf(hk, sizeof hk, "%s/" JOURNAL_HISTORY_DIR "/keys", dir);
  if (!rc && !(rc = replace_pub(hk, "signing.pub", nsig->pubkey))) rc = sync_dir(hk);
  if (rc)
    cli_err("key rotate: warning: %s/" JOURNAL_HISTORY_DIR ": %s: the long-horizon log keeps the old key, and the daemon "
            "will not write it (docs/operations.md \"Keys\")", dir, cli_signer_why(rc));
}


/* The new key's first seal (see the top): 0, or an error with its reason in why. */
static int rotation_checkpoint(struct replay_harness *h, struct journal *j, const uint8_t old_pk[32], const char *fo,
                               const char *fn, char *why, size_t cap)
{
  int rc = replay_harness_attach_trusting(h, j, old_pk);
  if (rc) {
    snprintf(why, cap, "%s", rc == JOURNAL_EUNSEALED ? h->attach_why : journal_strerror(rc));
    return rc;
  }
  char text[128], self[64];
  snprintf(text, sizeof text, "key rotated: %s certified by %s", fn, fo);
  struct journal_record r;
  cli_note_self(&r, self, text);
  if (!(rc = replay_harness_append(h, &r, NULL, NULL, NULL)) && !(rc = replay_harness_checkpoint(h))) rc = journal_sync(j);
  if (rc) snprintf(why, cap, "%s", journal_strerror(rc));
  return rc;
}

static int key_rotate(int argc, char **argv)
{
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  const char *to = NULL;
  int rc = parse_common(argc, argv, &c, NULL, &to);
  if (rc) return rc;
  if (optind != argc) return cli_usage(cli_find("key"), false);
  char kdir[4200], next[4300], key[4300];
  snprintf(kdir, sizeof kdir, "%s/keys", c.dir);
  snprintf(next, sizeof next, "%s/next.key", kdir);
  snprintf(key, sizeof key, "%s/signing.key", kdir);
  struct stat st;
  if (lstat(next, &st) == 0) {
    cli_err("key rotate: %s exists: an earlier rotation was interrupted (docs/operations.md \"Keys\": finish or undo it)", next);
    return CLI_ENV;
  }
  const struct journal_signer *given, *old, *nsig = NULL;
  if ((rc = cli_signer_get(&c, &given))) return rc;
  struct journal_file_signer oldfs, nextfs;
  struct journal_pkcs11_signer *np11 = NULL;
  memset(&nextfs, 0, sizeof nextfs);
  if ((rc = cli_signer_or_file(given, c.dir, &oldfs, &old))) {
    journal_file_signer_wipe(&oldfs);
    return cli_open_error(c.dir, c.counter, rc, 0);
  }
  if (to) {
    rc = cli_signer_open_other(&c, to, &np11, &nsig);
    if (!rc && !memcmp(nsig->pubkey, old->pubkey, 32)) {
      cli_err("key rotate: --to: that token key is the key in force already");
      rc = CLI_USAGE;
    }
    if (rc) { journal_pkcs11_signer_close(np11); journal_file_signer_wipe(&oldfs); return rc; }
  } else if ((rc = journal_key_file_create(next, NULL, NULL)) || (rc = journal_file_signer_load_path(&nextfs, next, NULL, 0))) {
    cli_err("key rotate: %s: %s", next, journal_strerror(rc));
    unlink(next);
    journal_file_signer_wipe(&oldfs);
    journal_file_signer_wipe(&nextfs);
    return CLI_ENV;
  } else {
    nsig = &nextfs.signer;
  }
  struct journal_options o;
  memset(&o, 0, sizeof o);
  o.dir = c.dir;
  o.counter_path = c.counter;
  o.signer = old;
  struct replay_harness *h = calloc(1, sizeof *h); /* about 300 KB */
  const struct replay_harness_options ho = { UINT64_MAX, INT64_MAX, false }; /* only the one asked for */
  if (h) replay_harness_init(h, &ho, &o);
  char hwhy[200] = "out of memory";
  int hrc = h ? 0 : -ENOMEM;
  struct journal *j = NULL;
  struct journal_open_info info;
  int pid = 0;
  cli_damage_guard(c.dir);
  int ret = CLI_ENV;
  char fo[33], fn[33];
  journal_fingerprint_hex(old->pubkey, fo);
  journal_fingerprint_hex(nsig->pubkey, fn);
  rc = journal_open(&j, &o, &info, &pid);
  if (rc) {
    ret = cli_open_error(c.dir, c.counter, rc, pid);
    if (!to) unlink(next);
    goto out;
  }
  if ((ret = cli_key_in_force_check(j, c.dir))) {
    journal_close(j);
    if (!to) unlink(next);
    goto out;
  }
  ret = CLI_ENV;
  rc = journal_key_rotate(j, nsig);
  uint64_t at = journal_head_seq(j);
  if (!rc && !hrc) hrc = rotation_checkpoint(h, j, old->pubkey, fo, fn, hwhy, sizeof hwhy);
  int crc = journal_close(j);
  if (rc || crc) {
    /* Not durable: the record did not commit and the old key stays; durable with a failed
     * counter write: the next open says so, and next.key is kept for the operator. */
    cli_err("key rotate: %s: %s", c.dir, cli_signer_why(rc ? rc : crc));
    if (rc && at == info.head_seq && !to) unlink(next);
    goto out;
  }
  /* The long-horizon log follows the main log's key: the same certified rotation there. */
  rotate_history(c.dir, old, nsig);
  /* The journal has the new key in force: the dir's files follow. */
  char root[4300];
  snprintf(root, sizeof root, "%s/root.pub", kdir);
  bool first = lstat(root, &st) != 0; /* the first rotation keeps the first key as the trust root */
  if ((first && (rc = replace_pub(kdir, "root.pub", old->pubkey))) || (rc = replace_pub(kdir, "signing.pub", nsig->pubkey)) ||
      (!to && rename(next, key) != 0 && (rc = -errno)) || (to && unlink(key) != 0 && errno != ENOENT && (rc = -errno)) ||
      (rc = sync_dir(kdir))) {
    cli_err("key rotate: %s: the journal rotated to key %s at seq %llu but the key files were not replaced: %s "
            "(docs/operations.md \"Keys\")", kdir, fn, (unsigned long long)at, strerror(-rc));
    goto out;
  }
  printf("rotated: key %s in force from the seal after seq %llu; key %s retired%s\n", fn, (unsigned long long)at, fo,
         given ? " (it stays in its token: delete it there)" : " (its secret removed from keys/)");
  ret = CLI_OK;
  if (hrc) {
    cli_err("key rotate: %s: the new key sealed no checkpoint: %s (a daemon on a journal cut by retention will not "
            "start; docs/operations.md \"Keys\")", c.dir, hwhy);
    ret = CLI_ENV;
  }
out:
  free(h);
  journal_pkcs11_signer_close(np11);
  journal_file_signer_wipe(&oldfs);
  journal_file_signer_wipe(&nextfs);
  return ret;
}

/* Key records of the journal, for revoke: the key in force and the one named. */
struct keyscan {
  uint8_t want[16];
  bool found, revoked;
  uint8_t pubkey[32];
  uint8_t in_force[16];
};

static int scan_key(void *ctx, const uint8_t *b, size_t len)
{
  struct keyscan *k = ctx;
  struct journal_record r;
  if (journal_record_decode(b, len, &r) || r.type != JOURNAL_T_KEY) return 0;
  const struct journal_key *kk = &r.body.key;
  if (kk->revoked) {
    if (!memcmp(kk->key_id, k->want, 16)) k->revoked = true;
    return 0;
  }
  memcpy(k->in_force, kk->key_id, 16);
  if (!memcmp(kk->key_id, k->want, 16)) {
    k->found = true;
    memcpy(k->pubkey, kk->pubkey, 32);
  }
  return 0;
}

static int key_revoke(int argc, char **argv)
{
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  const char *reason = NULL;
  int rc = parse_common(argc, argv, &c, &reason, NULL);
  if (rc) return rc;
  if (optind + 1 != argc || !reason) {
    cli_err("key revoke: expected KEYID (a key's 32-hex fingerprint) and --reason TEXT");
    return CLI_USAGE;
  }
  const char *fp = argv[optind];
  size_t rl = strlen(reason);
  if (rl == 0 || rl > 200 || cli_utf8_prefix(reason, rl) != rl) {
    cli_err("key revoke: --reason: 1 to 200 bytes of UTF-8 text");
    return CLI_USAGE;
  }
  struct keyscan ks;
  memset(&ks, 0, sizeof ks);
  size_t bl = 0;
  if (!cli_fingerprint_wellformed(fp) || sodium_hex2bin(ks.want, 16, fp, 32, NULL, &bl, NULL) != 0 || bl != 16) {
    cli_err("key revoke: %s: not a key fingerprint (32 hex digits)", fp);
    return CLI_USAGE;
  }
  struct cli_filter f;
  memset(&f, 0, sizeof f);
  f.types[JOURNAL_T_KEY] = true;
  f.any_type = true;
  f.main_only = true;
  if ((rc = cli_walk(&c, NULL, NULL, &f, 0, scan_key, &ks))) return rc;
  if (!ks.found) {
    cli_err("key revoke: %s: no key with fingerprint %s in the journal", c.dir, fp);
    return CLI_FAIL;
  }
  if (!memcmp(ks.in_force, ks.want, 16)) {
    cli_err("key revoke: %s is the key in force; rotate first ('hems key rotate'), then revoke it", fp);
    return CLI_FAIL;
  }
  if (ks.revoked) {
    cli_err("key revoke: %s is already revoked", fp);
    return CLI_FAIL;
  }
  struct journal *j;
  if ((rc = cli_open_writer(&c, &j, NULL))) return rc;
  rc = journal_key_revoke(j, ks.pubkey, reason);
  uint64_t at = journal_head_seq(j);
  int crc = journal_close(j);
  if (rc || crc) {
    cli_err("key revoke: %s: %s", c.dir, cli_signer_why(rc ? rc : crc));
    return CLI_ENV;
  }
  printf("revoked: key %s at seq %llu (%s)\n", fp, (unsigned long long)(at - 1), reason);
  return CLI_OK;
}

int cli_cmd_key_rotate(int argc, char **argv) { return key_rotate(argc, argv); }
int cli_cmd_key_revoke(int argc, char **argv) { return key_revoke(argc, argv); }

/* The key chain from a trusted root, for readers that meet a seal by a later key. */
struct chain {
  uint8_t ids[64][16], pks[64][32];
  int n;
};

static void chain_begin(struct chain *ch, const uint8_t root[32])
{
  memset(ch, 0, sizeof *ch);
  journal_key_id(root, ch->ids[0]);
  memcpy(ch->pks[0], root, 32);
  ch->n = 1;
}

/* The index of the key id in the chain, or -1. */
static int chain_find(const struct chain *ch, const uint8_t id[16])
{
  for (int i = 0; i < ch->n; i++)
    if (!memcmp(ch->ids[i], id, 16)) return i;
  return -1;
}

static int chain_key(void *ctx, const uint8_t *b, size_t len)
{
  struct chain *ch = ctx;
  struct journal_record r;
  if (journal_record_decode(b, len, &r) || r.type != JOURNAL_T_KEY || r.body.key.revoked || ch->n == 64) return 0;
  const struct journal_key *k = &r.body.key;
  uint8_t id[16], msg[11 + 32 + 16 + 16];
  journal_key_id(k->pubkey, id);
  if (memcmp(id, k->key_id, 16) != 0) return 0;
  int i = chain_find(ch, k->prev_key_id);
  size_t n = i >= 0 ? journal_key_cert_msg(k, msg, sizeof msg) : 0;
  if (n && crypto_sign_verify_detached(k->cert, msg, n, ch->pks[i]) == 0) {
    memcpy(ch->ids[ch->n], id, 16);
    memcpy(ch->pks[ch->n++], k->pubkey, 32);
  }
  return 0;
}

int cli_key_chain_find(struct cli_source *s, const char *dir, const uint8_t root[JOURNAL_PUBKEY_BYTES],
                       const uint8_t want_id[JOURNAL_KEYID_BYTES], uint8_t out_pk[JOURNAL_PUBKEY_BYTES])
{
  static struct chain ch;
  chain_begin(&ch, root);
  struct cli_filter f;
  memset(&f, 0, sizeof f);
  f.types[JOURNAL_T_KEY] = true;
  f.any_type = true;
  f.main_only = true;
  int rc = cli_walk_source(s, dir, &f, 0, chain_key, &ch);
  if (rc) return rc;
  int i = chain_find(&ch, want_id);
  if (i < 0) return CLI_FAIL;
  memcpy(out_pk, ch.pks[i], 32);
  return CLI_OK;
}

bool cli_bundle_key_certified(const char *path, const uint8_t root[JOURNAL_PUBKEY_BYTES],
                              const uint8_t want[JOURNAL_PUBKEY_BYTES])
{
  if (!memcmp(root, want, 32)) return true;
  struct journal_bundle *b;
  char why[160];
  if (journal_bundle_open(path, &b, why, sizeof why) != 0) return false;
  static struct chain ch;
  chain_begin(&ch, root);
  struct journal_record_source *src = journal_bundle_source(b);
  uint64_t seq;
  const uint8_t *bytes;
  size_t len;
  const char *w;
  while (src->next(src->ctx, &seq, &bytes, &len, &w) == 1) chain_key(&ch, bytes, len);
  journal_bundle_close(b);
  uint8_t id[16];
  journal_key_id(want, id);
  return chain_find(&ch, id) > 0; /* root itself was answered above */
}

int cli_key_in_force_check(struct journal *j, const char *dir)
{
  struct cli_source s;
  memset(&s, 0, sizeof s);
  if (journal_reader_attach(&s.reader, j) != 0) return CLI_OK; /* the open said what it could */
  struct keyscan ks;
  memset(&ks, 0, sizeof ks);
  struct cli_filter f;
  memset(&f, 0, sizeof f);
  f.types[JOURNAL_T_KEY] = true;
  f.any_type = true;
  f.main_only = true; /* an unverified history must not decide the key in force */
  int rc = cli_walk_source(&s, dir, &f, 0, scan_key, &ks);
  cli_source_close(&s);
  if (rc) return rc;
  static const uint8_t zero[16];
  const uint8_t *pk = journal_signer_pubkey(j);
  uint8_t id[16];
  journal_key_id(pk, id);
  if (!memcmp(ks.in_force, zero, 16) || !memcmp(ks.in_force, id, 16)) return CLI_OK;
  char have[33], want[33];
  journal_hex(id, 16, have);
  journal_hex(ks.in_force, 16, want);
  cli_err("%s: the signing key %s is not the journal's key in force (%s): a rotated-out key cannot seal "
          "(restore keys/ from after the rotation, or pass the token holding %s)", dir, have, want, want);
  return CLI_FAIL;
}
