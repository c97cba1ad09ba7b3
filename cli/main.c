/*
 * main.c — the `hems` program: subcommand dispatch (the table and its usage texts: commands.c).
 */
#include <string.h>
#include "cli.h"

int main(int argc, char **argv)
{
  if (argc < 2) {
    fputs(cli_main_usage, stderr);
    return CLI_USAGE;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    fputs(cli_main_usage, stdout);
    return CLI_OK;
  }
  if (!strcmp(argv[1], "--version")) {
    puts(HEMS_FIRMWARE_VERSION);
    return CLI_OK;
  }
  /* --tcti CONF (the TPM of --counter tpm:…) is taken by every command: out of argv here */
  int n = 2;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--")) { while (i < argc) argv[n++] = argv[i++]; break; }
    if (!strcmp(argv[i], "--tcti") && i + 1 < argc) { cli_counter_set_tcti(argv[++i]); continue; }
    if (!strncmp(argv[i], "--tcti=", 7)) { cli_counter_set_tcti(argv[i] + 7); continue; }
    argv[n++] = argv[i];
  }
  argc = n;
  argv[argc] = NULL;
  cli_counter_register();
  const struct cli_cmd *c = cli_find(argv[1]);
  if (!c) {
    const char *near = cli_nearest_command(argv[1]);
    if (near) cli_err("%s: unknown command; did you mean '%s'? (see 'hems --help')", argv[1], near);
    else cli_err("%s: unknown command (see 'hems --help')", argv[1]);
    return CLI_USAGE;
  }
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--")) break;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return cli_usage(c, true);
  }
  int rc = c->run(argc - 1, argv + 1);
  cli_signer_release();
  return rc;
}
