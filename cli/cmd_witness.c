/*
 * cmd_witness.c — `hems witness`: a small verifier-cosigner any third party can run (C2SP
 * tlog-cosignature/v1, Ed25519; ../shared/CLI.md "Proofs"; docs/witness.md).
 *
 *   hems witness keygen --name NAME --key FILE   a witness key file; prints its verifier key
 *   hems witness vkey --key FILE                  prints the verifier key again
 *   hems witness --key FILE --state DIR --verifier VKEY CHECKPOINT [PROOF.json]
 *   hems witness add [--dir DIR] --witness WVKEY COSIGNED   (witness_journal.c)
 *
 * The witness keeps, per origin, the body of the last checkpoint it cosigned in
 * DIR/<hex SHA-256 of the origin>.cp: the origin is text an attacker chooses, so it never
 * becomes a path. A new checkpoint is cosigned only if its signature verifies under VKEY, its
 * origin is VKEY's name, and it extends the stored one: same size and root (cosigned again), or
 * a larger size with a consistency proof (as `hems prove --from LAST --to NEW` prints it) from
 * the stored size and root to its own. A smaller size is a rollback, another root at the same
 * size or a proof from another root is a fork: refused, exit 1. An origin with no state is
 * trusted on first use (said on stderr). The state is written before the cosignature is
 * printed (temp file, fsync, rename, fsync of DIR), under an exclusive lock on DIR/lock, so a
 * crash never leaves a cosignature out that the state does not remember, and a temp file a
 * crash left behind is overwritten by the next run.
 *
 * Key file: "ed25519-seed <base64>\nname <witness name>\n", mode 0600 (the seed line as in
 * DIR/keys/signing.key).
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

enum { O_KEY = 1000, O_STATE, O_VERIFIER, O_NAME };

/* Reads a whole small file into buf (NUL-terminated). 0; -EFBIG when it has cap bytes or more;
 * -errno. */
int cli_witness_read_file(const char *path, char *buf, size_t cap, size_t *len)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t have = 0;
  for (;;) {
    if (have == cap - 1) {
      char c;
      ssize_t r = read(fd, &c, 1);
      close(fd);
      return r == 0 ? (buf[have] = 0, *len = have, 0) : -EFBIG;
    }
    ssize_t r = read(fd, buf + have, cap - 1 - have);
    if (r < 0) { if (errno == EINTR) continue; int e = errno; close(fd); return -e; }
    if (r == 0) break;
    have += (size_t)r;
  }
  close(fd);
  buf[have] = 0;
  *len = have;
  return 0;
}

int cli_witness_vkey_arg(const char *what, const char *arg, uint8_t type, struct journal_tlog_verifier *v)
{
  char text[JOURNAL_TLOG_VKEY_MAX + 2];
  size_t len = strlen(arg);
  if (journal_tlog_verifier_parse(arg, len, v) != 0) {
    int rc = cli_witness_read_file(arg, text, sizeof text, &len);
    if (rc == -ENOENT) {
      cli_err("witness: %s %s: neither a verifier key (NAME+HASH+KEY) nor a file", what, arg);
      return CLI_USAGE;
    }
    if (rc) {
      cli_err("witness: %s %s: %s", what, arg, strerror(-rc == EFBIG ? EFBIG : -rc));
      return rc == -EFBIG ? CLI_USAGE : CLI_ENV;
    }
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r')) len--;
    if (journal_tlog_verifier_parse(text, len, v) != 0) {
      cli_err("witness: %s %s: not a verifier key (NAME+HASH+KEY, the hash matching)", what, arg);
      return CLI_USAGE;
    }
  }
  if (v->type != type) {
    cli_err("witness: %s %s: a key of type 0x%02x, not 0x%02x (%s)", what, arg, v->type, type,
            type == JOURNAL_TLOG_ED25519 ? "a note signer, as 'hems key verifier' prints" :
                                           "a cosigner, as 'hems witness vkey' prints");
    return CLI_USAGE;
  }
  return 0;
}

int cli_witness_key_load(const char *path, struct journal_file_signer *fs, struct journal_tlog_verifier *v)
{
  char rest[256];
  int rc = journal_file_signer_load_path(fs, path, rest, sizeof rest);
  if (rc) {
    cli_err("witness: --key %s: %s", path, rc == JOURNAL_ENOKEY ? "no such file" : journal_strerror(rc));
    journal_file_signer_wipe(fs);
    return rc == JOURNAL_EBADKEY || rc == JOURNAL_EKEYPERM ? CLI_FAIL : CLI_ENV;
  }
  char name[JOURNAL_TLOG_NAME_MAX + 1] = "";
  const char *p = rest;
  while (*p) {
    size_t l = strcspn(p, "\n");
    if (l > 5 && !strncmp(p, "name ", 5) && l - 5 <= JOURNAL_TLOG_NAME_MAX) {
      memcpy(name, p + 5, l - 5);
      name[l - 5] = 0;
    }
    p += l + (p[l] == '\n');
  }
  if (!name[0] || journal_tlog_verifier_init(v, name, JOURNAL_TLOG_COSIG_V1, fs->signer.pubkey) != 0) {
    cli_err("witness: --key %s: no valid 'name <witness name>' line (a name without spaces or '+')", path);
    journal_file_signer_wipe(fs);
    return CLI_FAIL;
  }
  return 0;
}

static int print_vkey(const struct journal_tlog_verifier *v)
{
  char text[JOURNAL_TLOG_VKEY_MAX + 1];
  if (journal_tlog_verifier_format(v, text, sizeof text) < 0) return CLI_FAIL;
  puts(text);
  return fflush(stdout) == 0 ? CLI_OK : CLI_ENV;
}

static int witness_keygen(int argc, char **argv)
{
  static const struct option lo[] = { { "key", required_argument, NULL, O_KEY },
                                      { "name", required_argument, NULL, O_NAME }, { 0 } };
  const char *key = NULL, *name = NULL;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_KEY) key = optarg;
    else if (opt == O_NAME) name = optarg;
    else return cli_usage(cli_find("witness"), false);
  }
  if (!key || !name || optind != argc) return cli_usage(cli_find("witness"), false);
  struct journal_tlog_verifier v;
  uint8_t zero[JOURNAL_PUBKEY_BYTES] = { 0 };
  if (journal_tlog_verifier_init(&v, name, JOURNAL_TLOG_COSIG_V1, zero) != 0) {
    cli_err("witness keygen: --name %s: not a key name (non-empty, at most %d bytes, no spaces or '+')", name,
            JOURNAL_TLOG_NAME_MAX);
    return CLI_USAGE;
  }
  char rest[JOURNAL_TLOG_NAME_MAX + 16];
  snprintf(rest, sizeof rest, "name %s\n", name);
  int rc = journal_key_file_create(key, NULL, rest);
  if (rc) {
    cli_err("witness keygen: %s: %s", key, rc == -EEXIST ? "exists (a key is never overwritten)" :
                                           rc == -ENAMETOOLONG ? "the name is too long for a key file" : strerror(-rc));
    return rc == -EEXIST ? CLI_FAIL : rc == -ENAMETOOLONG ? CLI_USAGE : CLI_ENV;
  }
  struct journal_file_signer fs;
  if ((rc = cli_witness_key_load(key, &fs, &v))) return rc;
  journal_file_signer_wipe(&fs);
  return print_vkey(&v);
}

/* A subcommand whose only argument is --key FILE: 0 and *key, or the usage exit code. */
int cli_key_only_args(int argc, char **argv, const char *cmd, const char **key)
{
  static const struct option lo[] = { { "key", required_argument, NULL, O_KEY }, { 0 } };
  int opt;
  *key = NULL;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_KEY) *key = optarg;
    else return cli_usage(cli_find(cmd), false);
  }
  return !*key || optind != argc ? cli_usage(cli_find(cmd), false) : 0;
}

static int witness_vkey(int argc, char **argv)
{
  const char *key;
  int urc = cli_key_only_args(argc, argv, "witness", &key);
  if (urc) return urc;
  struct journal_file_signer fs;
  struct journal_tlog_verifier v;
  int rc = cli_witness_key_load(key, &fs, &v);
  if (rc) return rc;
  journal_file_signer_wipe(&fs);
  return print_vkey(&v);
}

int cli_cmd_witness(int argc, char **argv)
{
  if (argc >= 2 && !strcmp(argv[1], "keygen")) return witness_keygen(argc - 1, argv + 1);
  if (argc >= 2 && !strcmp(argv[1], "vkey")) return witness_vkey(argc - 1, argv + 1);
  if (argc >= 2 && !strcmp(argv[1], "add")) return cli_witness_add(argc - 1, argv + 1);
  return cli_witness_cosign(argc, argv);
}
