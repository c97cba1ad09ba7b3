/*
 * gen_comtrade.c — writes the synthetic three-phase COMTRADE 2013 recording of
 * ingest_ct_synth() (ingest/comtrade_synth.c) for measuring `hems analyze` by hand (speed,
 * memory; `hems bench analyze` writes the same file itself).
 *   gen_comtrade OUT SECONDS [FS] [LF] [binary|binary32] [START dd/mm/yyyy,hh:mm:ss.ssssss]
 *                [PS] [PRIMARY] [SECONDARY] [OUTAGE_S]
 * PS P|S with the VT primary and secondary ratings written on the voltage lines; OUTAGE_S
 * seconds of zero voltage at the start (a grid outage recovering).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"

int main(int argc, char **argv)
{
  if (argc < 3) { fprintf(stderr, "usage: gen_comtrade OUT SECONDS [FS] [LF] [binary|binary32] [START] [PS PRIMARY SECONDARY] [OUTAGE_S]\n"); return 2; }
  struct ingest_ct_synth_spec s = {
    .seconds = atof(argv[2]),
    .fs = argc > 3 ? atof(argv[3]) : 8000,
    .lf = argc > 4 ? atof(argv[4]) : 50,
    .binary32 = argc > 5 && strcmp(argv[5], "binary32") == 0,
    .start = argc > 6 ? argv[6] : NULL,
    .ps = argc > 7 ? argv[7][0] : 'P',
    .primary = argc > 8 ? atof(argv[8]) : 1,
    .secondary = argc > 9 ? atof(argv[9]) : 1,
    .outage_s = argc > 10 ? atof(argv[10]) : 0,
  };
  char msg[512];
  if (ingest_ct_synth(argv[1], &s, msg, sizeof msg)) { fprintf(stderr, "gen_comtrade: %s\n", msg); return 3; }
  return 0;
}
