/*
 * cmd_key.c — `hems key verifier`: the journal's note verifier key, the one line an auditor (or
 * Go's golang.org/x/mod/sumdb/note, note.NewVerifier) needs to check the panel's checkpoints:
 * "hems/<device id>+<8 hex key hash>+<base64(0x01 || Ed25519 public key)>". The key name is the
 * checkpoint origin, "hems/" and the data dir's device id (meta device_id, made at init).
 */
#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>
#include "cli.h"

enum { O_DIR = 1000, O_COUNTER, O_ACCEPT, O_FINGERPRINT };

static int key_verifier(int argc, char **argv)
{
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR },
                                      { "counter", required_argument, NULL, O_COUNTER },
                                      { "accept-rollback", no_argument, NULL, O_ACCEPT },
                                      { "fingerprint", required_argument, NULL, O_FINGERPRINT }, { 0 } };
  const char *fingerprint = NULL;
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  int opt;
  bool dir_given = false;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DIR) c.dir = optarg, dir_given = true;
    else if (opt == O_COUNTER) c.counter = optarg;
    else if (opt == O_ACCEPT) c.accept_rollback = true;
    else if (opt == O_FINGERPRINT) fingerprint = optarg;
    else return cli_usage(cli_find("key"), false);
  }
  if (argc - optind > 1 || (dir_given && argc - optind == 1)) return cli_usage(cli_find("key"), false);
  if (argc - optind == 1) {
    int prc = cli_source_arg("key verifier", &c, argv[optind]);
    if (prc) return prc;
  }
  struct cli_source s;
  int rc = cli_source_open(&c, NULL, fingerprint, &s); /* says so when a bundle's key is not pinned */
  if (rc) return rc;
  char id[33] = "", origin[64];
  const char *where = c.bundle ? c.bundle : c.dir;
  if (s.bundle) {
    const char *bid = journal_bundle_device_id(s.bundle);
    snprintf(id, sizeof id, "%s", strlen(bid) < sizeof id ? bid : "(too long)");
  } else if ((rc = journal_reader_device_id(s.reader, id))) {
    cli_err("key verifier: %s: %s", where, rc == JOURNAL_ENOTFOUND ? "the journal has no device id" : "the journal's device id is not 32 lowercase hex");
    cli_source_close(&s);
    return CLI_FAIL;
  }
  if (!s.bundle) {
    /* a dir's checkpoints are signed by the key in force: keys/signing.pub */
    char path[4200];
    snprintf(path, sizeof path, "%s/keys/signing.pub", c.dir);
    if ((rc = journal_pubkey_load(path, s.pubkey))) {
      cli_err("key verifier: %s: %s", path, rc == -ENOENT ? "missing" : "malformed");
      cli_source_close(&s);
      return CLI_ENV;
    }
  }
  struct journal_tlog_verifier v;
  char text[JOURNAL_TLOG_VKEY_MAX + 1];
  if (journal_tlog_origin(id, origin, sizeof origin) < 0 ||
      journal_tlog_verifier_init(&v, origin, JOURNAL_TLOG_ED25519, s.pubkey) ||
      journal_tlog_verifier_format(&v, text, sizeof text) < 0) {
    cli_err("key verifier: %s: the device id \"%s\" is not 32 lowercase hex", where, id);
    cli_source_close(&s);
    return CLI_FAIL;
  }
  cli_source_close(&s);
  puts(text);
  return CLI_OK;
}

int cli_cmd_key(int argc, char **argv)
{
  if (argc < 2 || argv[1][0] == '-') return cli_usage(cli_find("key"), false);
  if (!strcmp(argv[1], "verifier")) return key_verifier(argc - 1, argv + 1);
  if (!strcmp(argv[1], "rotate")) return cli_cmd_key_rotate(argc - 1, argv + 1);
  if (!strcmp(argv[1], "revoke")) return cli_cmd_key_revoke(argc - 1, argv + 1);
  if (!strcmp(argv[1], "recipient")) return cli_cmd_key_recipient(argc - 1, argv + 1);
  cli_err("key: %s: unknown subcommand (see 'hems key --help')", argv[1]);
  return CLI_USAGE;
}
