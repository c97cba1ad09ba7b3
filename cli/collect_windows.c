/*
 * collect_windows.c — `hems collect --decode-windows`: the power entries of every stored window
 * record, decoded, as COPY text rows of table window_powers (schemas/fleet/004_windows.sql), one
 * per entry, from the record the batch verified (struct journal_record, no JSON in between).
 * Off by default: windows are about eight of every ten records, and their rows cost the collector
 * throughput (docs/fleet.md "Sizing").
 */
#include <inttypes.h>
#include <stdio.h>
#include "collect.h"

const char collect_windows_table[] = "window_powers (device_id, seq, idx, afe, start_ns, duration_us, branch, phase, p_mw, "
                                     "q_mvar, s_mva, pf_mpct, import_uwh, export_uwh)";

int collect_window_lines(struct collect_copy *g, const char *id, const struct journal_record *r)
{
  if (r->type != JOURNAL_T_WINDOW) return 0;
  static const char phases[] = "ABCN";
  const struct journal_window *w = &r->body.window;
  for (unsigned i = 0; i < w->npow && i < JOURNAL_WINDOW_CHANNELS; i++) {
    const struct journal_window_power *p = &w->pow[i];
    if (p->phase > JOURNAL_PHASE_N) return -1; /* the codec refuses it: cannot happen */
    char line[384];
    int n = snprintf(line, sizeof line,
                     "%s\t%" PRIu64 "\t%u\t%u\t%" PRId64 "\t%" PRIu32 "\t%u\t%c\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId32
                     "\t%" PRId64 "\t%" PRId64 "\n",
                     id, r->seq, i, (unsigned)w->afe, w->start_ns, w->duration_us, (unsigned)p->branch, phases[p->phase],
                     p->p_mw, p->q_mvar, p->s_mva, p->pf_mpct, p->import_uwh, p->export_uwh);
    if (n <= 0 || (size_t)n >= sizeof line || collect_copy_put(g, line, (size_t)n)) return -1;
  }
  return 0;
}
