/*
 * cmd_migrate.c — `hems migrate --dir DIR`: a format-2 journal to format 3 in place
 * (journal_migrate, docs/journal.md "Migration"), then one writer open and close, which builds
 * the Merkle tiles of the migrated records.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"

int cli_cmd_migrate(int argc, char **argv)
{
  enum { O_DIR = 1000, O_COUNTER };
  enum { O_SIGNER = 1100 };
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR },
                                      { "counter", required_argument, NULL, O_COUNTER },
                                      CLI_SIGNER_OPTION(O_SIGNER), { 0 } };
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DIR) c.dir = optarg;
    else if (opt == O_COUNTER) c.counter = optarg;
    else if (opt == O_SIGNER) cli_signer_option(optarg);
    else return cli_usage(cli_find("migrate"), false);
  }
  if (optind != argc) return cli_usage(cli_find("migrate"), false);
  cli_damage_guard(c.dir);
  struct journal_migrate_info info;
  int rc = journal_migrate(c.dir, &info);
  if (rc && info.verify.bad_seq) {
    cli_err("migrate: %s: first bad seq %llu: %s; nothing changed", c.dir, (unsigned long long)info.verify.bad_seq,
            info.verify.reason);
    return CLI_FAIL;
  }
  if (rc && info.verify.reason[0]) {
    cli_err("migrate: %s: %s; nothing changed", c.dir, info.verify.reason);
    return CLI_FAIL;
  }
  if (rc) return cli_open_error(c.dir, c.counter, rc, info.pid);
  if (!info.migrated) {
    printf("%s: journal format %u already; nothing to do\n", c.dir, info.from_format);
    return CLI_OK;
  }
  printf("migrated %llu records (seq %llu..%llu) from format %u into %llu packs (%llu bytes); format 3\n",
         (unsigned long long)info.records, (unsigned long long)info.first_seq, (unsigned long long)info.last_seq,
         info.from_format, (unsigned long long)info.packs, (unsigned long long)info.pack_bytes);
  /* The tiles: a writer open builds them for a journal that has none (tree_store.c). */
  struct journal *j;
  if ((rc = cli_open_writer(&c, &j, NULL))) return rc;
  if ((rc = journal_close(j))) { cli_err("migrate: %s: %s", c.dir, journal_strerror(rc)); return CLI_ENV; }
  return CLI_OK;
}
