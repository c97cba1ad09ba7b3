/*
 * run_calib.c — the daemon's half of `hems calibrate` (docs/operations.md "Calibration"): a
 * checked calibrate request (control_req.c: installer or admin, a gain in range) becomes the
 * branch CT's new gain, in this order:
 *   1. written to the AFE's xIGAIN (with the branch's xPHCAL0 and the input's xVGAIN) and read
 *      back — a chip that does not take it changes nothing and journals nothing;
 *   2. journaled: a note naming who asked and from what measurement (the peer's uid/gid, as for
 *      notes), then a `config` record holding the whole panel config with the new gain (config
 *      version + 1), durable before the answer;
 *   3. the panel in use and DIR/config.json follow.
 * The fold reads no calibration (reduce_config.c skips keys it does not know), so replay is
 * unchanged; the windows after the change carry the corrected power. Like any config record it
 * ends the fold's held installation suspicions; the daemon's detectors restart to match.
 */
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include "run.h"

/* The note that says who recalibrated and from what (the config record itself names nobody). */
static int journal_note(struct daemon *d, const struct daemon_client *c, const struct control_calib *k,
                        const struct hw_panel_branch *b, uint64_t *seq)
{
  char who[64], text[400];
  struct passwd *pw = getpwuid(c->uid);
  if (pw) snprintf(who, sizeof who, "%s", pw->pw_name);
  else snprintf(who, sizeof who, "uid:%u", (unsigned)c->uid);
  snprintf(text, sizeof text, "calibrate branch %u %s: gain %.9g -> %.9g (reference %.3f W, measured %.3f W over %u windows)",
           b->number, b->name, k->gain_old, k->gain, k->reference_w, k->measured_w, k->windows);
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_NOTE;
  r.source.kind = JOURNAL_SRC_OPERATOR;
  r.body.note.uid = c->uid;
  r.body.note.gid = c->gid;
  r.body.note.who = (struct journal_slice){ (const uint8_t *)who, (uint32_t)strlen(who) };
  r.body.note.text = (struct journal_slice){ (const uint8_t *)text, (uint32_t)strlen(text) };
  return run_append_fx(d, &r, seq, NULL, NULL);
}

char *run_calib_op(struct daemon *d, struct daemon_client *c, const struct control_calib *k)
{
  static struct hw_panel np;
  np = *d->panel;
  struct hw_panel_branch *b = NULL;
  for (unsigned i = 0; i < np.num_branches; i++)
    if (np.branch[i].number == k->branch) b = &np.branch[i];
  if (!b) return run_reply_error("no such branch");
  unsigned a = b->afe, ch = b->channel;
  if (a >= HW_MAX_AFES || !d->afe_ok[a]) {
    char msg[96];
    snprintf(msg, sizeof msg, "AFE %u of branch %u is not answering: nothing changed", a, k->branch);
    return run_reply_error(msg);
  }
  b->gain = k->gain;
  bool hz60 = np.mains == HW_MAINS_SPLIT_120_240_60;
  double vg = np.afe[a].v_gain[ch] > 0 ? np.afe[a].v_gain[ch] : 1.0;
  int32_t want[3] = { hw_ade9000_gain_reg(b->gain), hw_ade9000_phcal_reg(b->phase_deg, hz60), hw_ade9000_gain_reg(vg) };
  int32_t old[3] = { d->afe[a].cfg.igain[ch], d->afe[a].cfg.phcal[ch], d->afe[a].cfg.vgain[ch] }, held[3] = { 0 };
  int rc = hw_ade9000_set_calibration(&d->afe[a], ch, want[0], want[1], want[2]);
  if (!rc) rc = hw_ade9000_get_calibration(&d->afe[a], ch, held);
  if (rc) {
    (void)hw_ade9000_set_calibration(&d->afe[a], ch, old[0], old[1], old[2]); /* as it was, if the chip takes that */
    char msg[160];
    snprintf(msg, sizeof msg, "AFE %u channel %c did not take the calibration (%s): nothing journaled", a, 'A' + ch, hw_strerror(rc));
    return run_reply_error(msg);
  }
  static char cj[256 * 1024];
  size_t cl;
  uint8_t h[32];
  uint64_t note_seq = 0, cfg_seq = 0;
  if (hw_panel_canonical_json(&np, cj, sizeof cj, &cl)) {
    (void)hw_ade9000_set_calibration(&d->afe[a], ch, old[0], old[1], old[2]);
    return run_reply_error("the panel config does not fit a config record: nothing journaled");
  }
  crypto_generichash(h, 32, (const uint8_t *)cj, cl, NULL, 0);
  rc = journal_note(d, c, k, b, &note_seq);
  if (!rc) rc = run_config_append(d, cj, cl, h, &cfg_seq);
  if (!rc) rc = journal_sync(d->j);
  if (rc) {
    (void)hw_ade9000_set_calibration(&d->afe[a], ch, old[0], old[1], old[2]);
    return run_reply_error(journal_strerror(rc));
  }
  /* the fold clears the installation detectors' suspicions (ct_polarity, phase_map) at every
   * config record: the daemon's detectors start afresh, so a condition that still holds is
   * raised again after their evidence windows */
  for (unsigned i = 0; i <= HW_MAX_BRANCHES; i++) ingest_polarity_init(&d->polarity[i]);
  d->hwpanel = np; /* the panel in use from now on (the simulator's physics keeps its own) */
  d->panel = &d->hwpanel;
  run_config_follow_panel(d, cj, cl);
  d->notes++;
  char chn[2] = { (char)('A' + ch), 0 };
  json_t *regs = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i}", "igain", (int)held[0], "phcal", (int)held[1], "vgain", (int)held[2],
                           "igain_addr", (int)(0x000 + 0x20 * ch), "phcal_addr", (int)(0x006 + 0x20 * ch), "vgain_addr",
                           (int)(0x00B + 0x20 * ch));
  return run_reply_line(json_pack("{s:b, s:i, s:s, s:i, s:s, s:f, s:f, s:f, s:o, s:I, s:I, s:i}", "ok", 1, "branch", (int)k->branch, "name",
                         b->name, "afe", (int)a, "channel", chn, "gain_old", k->gain_old, "gain", b->gain, "phase_deg", b->phase_deg,
                         "registers", regs, "note_seq", (json_int_t)note_seq, "config_seq", (json_int_t)cfg_seq, "config_version",
                         (int)d->cfg_version));
}

/* SIGHUP with a valid DIR/config.json np: when it differs from the panel in use in calibration
 * only, the branch AFEs' registers are written and the panel in use follows (the mains AFE's
 * waveform path keeps the scales it started with until the next start); a config that rewires
 * anything is journaled by the caller as before and changes nothing live. */
void run_calib_reload(struct daemon *d, const struct hw_panel *np)
{
  static struct hw_panel same;
  static char a[256 * 1024], b[256 * 1024];
  size_t al, bl;
  same = *np;
  if (same.num_branches != d->panel->num_branches || same.num_afes != d->panel->num_afes) return;
  for (unsigned i = 0; i < same.num_branches; i++) {
    same.branch[i].gain = d->panel->branch[i].gain;
    same.branch[i].phase_deg = d->panel->branch[i].phase_deg;
  }
  for (unsigned i = 0; i < same.num_afes; i++) {
    memcpy(same.afe[i].v_gain, d->panel->afe[i].v_gain, sizeof same.afe[i].v_gain);
    memcpy(same.afe[i].v_offset_v, d->panel->afe[i].v_offset_v, sizeof same.afe[i].v_offset_v);
    memcpy(same.afe[i].i_gain, d->panel->afe[i].i_gain, sizeof same.afe[i].i_gain);
    memcpy(same.afe[i].i_phase_deg, d->panel->afe[i].i_phase_deg, sizeof same.afe[i].i_phase_deg);
  }
  if (hw_panel_canonical_json(&same, a, sizeof a, &al) || hw_panel_canonical_json(d->panel, b, sizeof b, &bl) || al != bl ||
      memcmp(a, b, al))
    return; /* rewired: nothing to apply live */
  if (hw_panel_canonical_json(np, a, sizeof a, &al) || (al == bl && !memcmp(a, b, al))) return; /* no change at all */
  for (unsigned i = 0; i < np->num_afes && i < HW_MAX_AFES; i++) {
    if (!d->afe_ok[i] || (int)i == d->mains) continue;
    struct hw_ade9000_config ac;
    hw_panel_ade9000_config(np, i, &ac);
    for (unsigned ch = 0; ch < 3; ch++) {
      const struct hw_ade9000_config *cur = &d->afe[i].cfg;
      if (cur->igain[ch] == ac.igain[ch] && cur->phcal[ch] == ac.phcal[ch] && cur->vgain[ch] == ac.vgain[ch]) continue;
      int rc = hw_ade9000_set_calibration(&d->afe[i], ch, ac.igain[ch], ac.phcal[ch], ac.vgain[ch]);
      if (rc) {
        char detail[160];
        snprintf(detail, sizeof detail, "afe %u channel %c: the reloaded calibration was not taken: %s", i, 'A' + ch, hw_strerror(rc));
        run_fault(d, "afe_calibration", rc, 0, detail);
      }
    }
  }
  for (unsigned i = 0; i <= HW_MAX_BRANCHES; i++) ingest_polarity_init(&d->polarity[i]);
  d->hwpanel = *np;
  d->panel = &d->hwpanel;
}
