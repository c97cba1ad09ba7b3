/*
 * collect_none.c — the fleet head-end's commands in a hems built without libpq (a cross build
 * for the panel, cli/CMakeLists.txt): `hems collect`, `hems verify --db` and `hems bench fleet`
 * say so, exit 3 (the environment lacks what they need), instead of not existing.
 */
#include "cli.h"

static int none(const char *what)
{
  cli_err("%s: this hems was built without libpq: the fleet head-end is not in it (docs/fleet.md)", what);
  return CLI_ENV;
}

int cli_cmd_collect(int argc, char **argv)
{
  (void)argc;
  (void)argv;
  return none("collect");
}

int collect_verify_db(int argc, char **argv)
{
  (void)argc;
  (void)argv;
  return none("verify --db");
}

int cli_bench_fleet(int argc, char **argv)
{
  (void)argc;
  (void)argv;
  return none("bench fleet");
}
