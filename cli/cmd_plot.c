/*
 * cmd_plot.c — `hems plot [--dir DIR | BUNDLE] SEQ --out FILE.svg` (the capture around an
 * event: cli/plot_capture.c) and `hems plot --energy [--since T] [--until T] --out FILE.svg`
 * (per-branch energy bars: cli/plot_energy.c; --format json: their totals on stdout). The file is
 * written beside its final name and
 * renamed into place, so a reader never sees half a picture.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

int cli_cmd_plot(int argc, char **argv)
{
  enum { O_DIR = 1000, O_OUT, O_ENERGY, O_SINCE, O_UNTIL, O_PUBKEY, O_FP, O_COUNTER, O_ACCEPT, O_FORMAT };
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR }, { "out", required_argument, NULL, O_OUT },
                                      { "energy", no_argument, NULL, O_ENERGY }, { "since", required_argument, NULL, O_SINCE },
                                      { "until", required_argument, NULL, O_UNTIL }, { "pubkey", required_argument, NULL, O_PUBKEY },
                                      { "fingerprint", required_argument, NULL, O_FP }, { "counter", required_argument, NULL, O_COUNTER },
                                      { "accept-rollback", no_argument, NULL, O_ACCEPT },
                                      { "format", required_argument, NULL, O_FORMAT }, { 0 } };
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  const char *out = NULL, *since = NULL, *until = NULL, *pubkey = NULL, *fpr = NULL, *format = NULL;
  bool energy = false;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DIR) c.dir = optarg;
    else if (opt == O_OUT) out = optarg;
    else if (opt == O_ENERGY) energy = true;
    else if (opt == O_SINCE) since = optarg;
    else if (opt == O_UNTIL) until = optarg;
    else if (opt == O_PUBKEY) pubkey = optarg;
    else if (opt == O_FP) fpr = optarg;
    else if (opt == O_COUNTER) c.counter = optarg;
    else if (opt == O_ACCEPT) c.accept_rollback = true;
    else if (opt == O_FORMAT) format = optarg;
    else return cli_usage(cli_find("plot"), false);
  }
  int npos = argc - optind;
  bool as_json = false;
  if (format && (!energy || (strcmp(format, "json") && strcmp(format, "svg")))) {
    cli_err("plot: --format %s: takes json (with --energy: the totals on stdout) or svg", format);
    return CLI_USAGE;
  }
  as_json = format && !strcmp(format, "json");
  if (!out && !as_json) { cli_err("plot: --out FILE.svg missing"); return CLI_USAGE; }
  if (out && as_json) { cli_err("plot: --format json prints to stdout: give it without --out"); return CLI_USAGE; }
  if (npos > (energy ? 1 : 2) || (!energy && npos < 1)) return cli_usage(cli_find("plot"), false);
  if (npos == (energy ? 1 : 2)) { int rc = cli_source_arg("plot", &c, argv[optind++]); if (rc) return rc; }
  if (pubkey && fpr) { cli_err("plot: give --pubkey or --fingerprint, not both"); return CLI_USAGE; }
  uint64_t seq = 0;
  int64_t since_ns = 0, until_ns = 0, now = cli_now_ns();
  if (!energy && (cli_parse_u64(argv[optind], &seq) || !seq)) { cli_err("plot: SEQ must be a positive integer"); return CLI_USAGE; }
  if (since && cli_parse_time(since, now, &since_ns)) { cli_err("plot: --since %s: not a time", since); return CLI_USAGE; }
  if (until && cli_parse_time(until, now, &until_ns)) { cli_err("plot: --until %s: not a time", until); return CLI_USAGE; }
  if (since && until && since_ns > until_ns) { cli_err("plot: --since %s is after --until %s: the range is empty", since, until); return CLI_USAGE; }
  if (as_json) {
    json_t *totals = NULL;
    int rc = cli_plot_energy(&c, pubkey, fpr, since_ns, until_ns, NULL, false, &totals);
    if (!rc) {
      char *txt = json_dumps(totals, JSON_COMPACT);
      if (txt) puts(txt);
      free(txt);
    }
    json_decref(totals);
    return rc;
  }
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", out);
  FILE *f = fopen(tmp, "wx");
  if (!f && errno == EEXIST) { unlink(tmp); f = fopen(tmp, "wx"); }
  if (!f) { cli_err("plot: %s: %s", tmp, strerror(errno)); return CLI_ENV; }
  int rc = energy ? cli_plot_energy(&c, pubkey, fpr, since_ns, until_ns, f, true, NULL) : cli_plot_capture(&c, pubkey, fpr, seq, f, true);
  bool bad = ferror(f) != 0;
  if (fclose(f) != 0) bad = true;
  if (rc || bad) {
    unlink(tmp);
    if (!rc) { cli_err("plot: %s: write failed", out); rc = CLI_ENV; }
    return rc;
  }
  if (rename(tmp, out) != 0) { cli_err("plot: %s: %s", out, strerror(errno)); unlink(tmp); return CLI_ENV; }
  printf("wrote %s\n", out);
  return CLI_OK;
}
