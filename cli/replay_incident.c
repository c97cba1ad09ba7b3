/*
 * replay_incident.c — `hems replay --incident SEQ`: finding the incident record, then, as the
 * fold passes, the causal timeline around it (records of its branches from 120 s before to 30 s
 * after, the last few windows before it, the decisions the fold took) and the state right
 * after it.
 */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "cli.h"
#include "replay.h"
#include "replay_internal.h"

static bool inc_has(const struct incident *inc, unsigned b)
{
  if (inc->all) return true;
  for (int i = 0; i < inc->nbranches; i++)
    if (inc->branches[i] == b) return true;
  return false;
}

static const char *desired_name(unsigned d) { return d ? "on" : "off"; }

static void fmt_target(const struct incident *inc, uint16_t t, char *b, size_t n)
{
  const char *name = t == JOURNAL_TARGET_SERVICE ? NULL : cli_branch_name(&inc->names, t);
  if (t == JOURNAL_TARGET_SERVICE) snprintf(b, n, "service");
  else snprintf(b, n, "%u%s%s", t, name ? " " : "", name ? name : "");
}

static void fmt_slice(struct journal_slice s, char *b, size_t n)
{
  size_t k = s.len < n - 1 ? s.len : n - 1;
  if (k) memcpy(b, s.ptr, k);
  b[k] = 0;
}

/* One readable line for a record (and the decision the fold took for it). */
static bool describe(const struct journal_record *r, const struct replay_effects *fx, const struct incident *inc,
                     char *out, size_t cap)
{
  char t[80], id[80], txt[100];
  switch (r->type) {
  case JOURNAL_T_WINDOW: {
    /* each power by its own channels: a branch by number and name, the mains AFE's by phase;
     * the half-cycle minimum when it shows what the window's RMS hides (below 90 %) */
    const struct journal_window *w = &r->body.window;
    static const char *const phases = "ABCN";
    int k = 0;
    out[0] = 0;
    for (unsigned i = 0; i < w->npow && i < JOURNAL_WINDOW_CHANNELS; i++) {
      const struct journal_window_power *p = &w->pow[i];
      if (p->branch ? !inc_has(inc, p->branch) : !inc->all) continue;
      const struct journal_window_channel *ic = NULL, *vc = NULL;
      for (unsigned c = 0; c < w->nch && c < JOURNAL_WINDOW_CHANNELS; c++) {
        if (w->ch[c].ch == p->ich && w->ch[c].kind == JOURNAL_CH_CURRENT) ic = &w->ch[c];
        if (w->ch[c].ch == p->vch && w->ch[c].kind == JOURNAL_CH_VOLTAGE) vc = &w->ch[c];
      }
      char who[64], pw[32], ia[32], vmin[48] = "";
      const char *name = p->branch ? cli_branch_name(&inc->names, p->branch) : NULL;
      if (p->branch) snprintf(who, sizeof who, "%u%s%s", p->branch, name ? " " : "", name ? name : "");
      else snprintf(who, sizeof who, "mains %c", p->phase < 4 ? phases[p->phase] : '?');
      cli_unit_text("p_mw", p->p_mw, pw, sizeof pw);
      if (ic) cli_unit_text("rms_ma", ic->rms_m, ia, sizeof ia);
      if (vc && vc->hrms_min_m && (int64_t)vc->hrms_min_m * 10 < (int64_t)vc->rms_m * 9) {
        char v[24];
        cli_unit_text("v_mv", vc->hrms_min_m, v, sizeof v);
        snprintf(vmin, sizeof vmin, ", V min half-cycle %s", v);
      }
      k += snprintf(out + k, cap > (size_t)k ? cap - (size_t)k : 0, "%s%s: %s%s%s%s", k ? "; " : "", who, pw,
                    ic ? ", " : "", ic ? ia : "", vmin);
    }
    return k > 0;
  }
  case JOURNAL_T_REQUEST: {
    const struct journal_request *q = &r->body.request;
    if (q->target != JOURNAL_TARGET_SERVICE && !inc_has(inc, q->target)) return false;
    fmt_target(inc, q->target, t, sizeof t);
    fmt_slice(q->request_id, id, sizeof id);
    fmt_slice(q->reason, txt, sizeof txt);
    static const char *const roles[] = { "viewer", "operator", "admin", "utility" };
    int k = snprintf(out, cap, "request %s %s id \"%s\" by %s%s%s", t, desired_name(q->desired), id,
                     q->role < 4 ? roles[q->role] : "?", txt[0] ? ": " : "", txt);
    if (fx && fx->n) {
      const struct replay_effect *e = &fx->e[0];
      if (e->kind == REPLAY_EFFECT_COMMAND) snprintf(out + k, cap - (size_t)k, " -> command (%s)", replay_command_reason_name(e->reason));
      else if (e->kind == REPLAY_EFFECT_REFUSAL) snprintf(out + k, cap - (size_t)k, " -> refusal (%s)", replay_refusal_reason_name(e->reason));
      else snprintf(out + k, cap - (size_t)k, " -> repeat of seq %llu, stored outcome", (unsigned long long)e->stored_seq);
    }
    return true;
  }
  case JOURNAL_T_COMMAND: {
    const struct journal_command *c = &r->body.command;
    if (c->target != JOURNAL_TARGET_SERVICE && !inc_has(inc, c->target)) return false;
    fmt_target(inc, c->target, t, sizeof t);
    snprintf(out, cap, "command %s %s, reason %s (cause seq %llu)", t, desired_name(c->desired),
             replay_command_reason_name(c->reason), (unsigned long long)c->cause_seq);
    return true;
  }
  case JOURNAL_T_REFUSAL: {
    const struct journal_refusal *c = &r->body.refusal;
    if (c->target != JOURNAL_TARGET_SERVICE && !inc_has(inc, c->target)) return false;
    fmt_target(inc, c->target, t, sizeof t);
    snprintf(out, cap, "refusal %s %s, reason %s (cause seq %llu)", t, desired_name(c->desired),
             replay_refusal_reason_name(c->reason), (unsigned long long)c->cause_seq);
    return true;
  }
  case JOURNAL_T_SENSE_BACK: case JOURNAL_T_TRIP_TAP: case JOURNAL_T_DER: case JOURNAL_T_ACTUATION: {
    uint16_t b[8];
    uint8_t buf[JOURNAL_RECORD_MAX];
    size_t len;
    int n = 0;
    if (journal_record_encode(r, buf, sizeof buf, &len) == 0) n = journal_record_branches(buf, len, b, 8);
    bool mine = r->type == JOURNAL_T_DER || inc->all;
    for (int i = 0; i < n; i++) if (inc_has(inc, b[i])) mine = true;
    if (!mine) return false;
    char *js = journal_record_encode(r, buf, sizeof buf, &len) == 0 ? journal_record_to_json(buf, len, JOURNAL_JSON_COMPACT) : NULL;
    json_t *o = js ? json_loads(js, 0, NULL) : NULL;
    char body[360];
    cli_render_summary(o, &inc->names, body, sizeof body);
    snprintf(out, cap, "%s %s", journal_type_name(r->type), body);
    json_decref(o);
    free(js);
    return true;
  }
  case JOURNAL_T_FAULT:
    if (r->body.fault.branch && !inc_has(inc, r->body.fault.branch)) return false;
    fmt_slice(r->body.fault.code, txt, sizeof txt);
    fmt_slice(r->body.fault.detail, id, sizeof id);
    snprintf(out, cap, "fault %s%s%s", txt, id[0] ? ": " : "", id);
    return true;
  case JOURNAL_T_PQ_EVENT: {
    static const char *const k[] = { "dip", "swell", "interruption", "rvc" };
    const struct journal_pq_event *e = &r->body.pq_event;
    char ext[32], dur[32];
    cli_unit_text("extreme_mv", e->extreme_mv, ext, sizeof ext);
    cli_unit_text("duration_us", e->duration_us, dur, sizeof dur);
    if (e->kind == JOURNAL_PQ_FREQ) {
      snprintf(out, cap, "pq_event freq, %.3f Hz for %s", e->freq_mhz / 1000.0, dur);
      return true;
    }
    if (e->kind == JOURNAL_PQ_RVC) {
      snprintf(out, cap, "pq_event rvc on %s, ΔUss %.2f %%, ΔUmax %.2f %%", e->phases, e->delta_uss_mpct / 1000.0,
               e->delta_umax_mpct / 1000.0);
      return true;
    }
    snprintf(out, cap, "pq_event %s on %s, %.1f %% (%s) for %s", e->kind < 4 ? k[e->kind] : "?",
             e->phases, e->extreme_mpct / 1000.0, ext, dur);
    return true;
  }
  case JOURNAL_T_NOTE:
    fmt_slice(r->body.note.text, txt, sizeof txt);
    snprintf(out, cap, "note: %s", txt);
    return true;
  case JOURNAL_T_BOOT:
    if (r->body.boot.reducer_version)
      snprintf(out, cap, "boot (config v%u, reducer v%u)", r->body.boot.config_version, r->body.boot.reducer_version);
    else snprintf(out, cap, "boot (config v%u)", r->body.boot.config_version);
    return true;
  default:
    return false;
  }
}

static void add_line(struct incident *inc, const struct journal_record *r, const char *text)
{
  if (inc->nlines >= INCIDENT_LINES_MAX) return;
  struct line *l = &inc->lines[inc->nlines++];
  l->seq = r->seq;
  l->wall_ns = r->wall_ns;
  snprintf(l->type, sizeof l->type, "%s", journal_type_name(r->type));
  journal_source_format(&r->source, l->src, sizeof l->src);
  snprintf(l->text, sizeof l->text, "%s", text);
}

void cli_replay_incident_record(void *ctx, const struct journal_record *r, const struct replay_state *s,
                                const struct replay_effects *fx)
{
  struct run *rn = ctx;
  struct incident *inc = rn->inc;
  if (!inc) return;
  if (r->seq == inc->seq) {
    memcpy(inc->at, s, sizeof *s);
    for (int i = 0; i < inc->nwin && inc->nlines < INCIDENT_LINES_MAX; i++) inc->lines[inc->nlines++] = inc->win_ring[i];
    inc->nwin = 0;
    char text[400];
    if (!describe(r, fx, inc, text, sizeof text)) snprintf(text, sizeof text, "%s", journal_type_name(r->type));
    add_line(inc, r, text);
    return;
  }
  if (r->wall_ns < inc->wall_ns - INCIDENT_BEFORE_NS || r->wall_ns > inc->wall_ns + INCIDENT_AFTER_NS) return;
  char text[400];
  if (!describe(r, fx, inc, text, sizeof text)) return;
  if (r->type == JOURNAL_T_WINDOW) {
    if (r->seq < inc->seq) {
      /* keep only the last few windows before the incident, placed in order when it is reached */
      if (inc->nwin == INCIDENT_WINDOWS_BEFORE) {
        memmove(inc->win_ring, inc->win_ring + 1, sizeof inc->win_ring[0] * (INCIDENT_WINDOWS_BEFORE - 1));
        inc->nwin--;
      }
      struct line *l = &inc->win_ring[inc->nwin++];
      l->seq = r->seq;
      l->wall_ns = r->wall_ns;
      snprintf(l->type, sizeof l->type, "window");
      journal_source_format(&r->source, l->src, sizeof l->src);
      snprintf(l->text, sizeof l->text, "%s", text);
      return;
    }
    if (inc->win_after >= INCIDENT_WINDOWS_AFTER) return;
    inc->win_after++;
  }
  if (r->seq < inc->seq && inc->nwin) {
    /* a non-window line: flush the windows that came before it, keeping order */
    for (int i = 0; i < inc->nwin && inc->nlines < INCIDENT_LINES_MAX; i++) inc->lines[inc->nlines++] = inc->win_ring[i];
    inc->nwin = 0;
  }
  add_line(inc, r, text);
}

/* Reads the incident record (dir: by seq; bundle: a first pass, checked). 0, -1 when there is
 * no such record, -2 when a bundle is damaged before it (the damage line printed). */
int cli_replay_incident_find(struct cli_source *s, struct incident *inc)
{
  const uint8_t *b = NULL;
  size_t len = 0;
  struct journal_iter *it = NULL;
  uint8_t *copy = NULL;
  if (s->reader) {
    if (journal_iter_begin(s->reader, inc->seq, &it) || journal_iter_get(it, inc->seq, &b, &len)) {
      if (it) journal_iter_end(it);
      return -1;
    }
  } else {
    struct journal_record_source *src = cli_source_records(s, 0);
    uint64_t seq;
    const char *why = NULL;
    int got = 0;
    while (src && (got = src->next(src->ctx, &seq, &b, &len, &why)) == 1)
      if (seq == inc->seq) { copy = malloc(len); if (copy) memcpy(copy, b, len); b = copy; break; }
    if (!copy && got < 0) { cli_source_damaged(s, why); return -2; } /* damaged before it */
    if (!copy) return -1;
  }
  struct journal_record r;
  int rc = journal_record_decode(b, len, &r);
  if (rc == 0) {
    inc->wall_ns = r.wall_ns;
    inc->found = true;
    int n = journal_record_branches(b, len, inc->branches, 64);
    if (r.type == JOURNAL_T_WINDOW || n <= 0) {
      /* a window names many branches and a panel record none: follow them all */
      inc->all = n <= 0 || r.type == JOURNAL_T_WINDOW;
    }
    inc->nbranches = n > 0 ? n : 0;
  }
  if (it) journal_iter_end(it);
  free(copy);
  return rc;
}
