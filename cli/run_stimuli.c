/*
 * run_stimuli.c — the simulator's scripted stimuli (notes, switch requests, demand response,
 * service disconnect, actuator supply low) become records, at their virtual time. Nothing here
 * runs on hardware.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "run.h"

void run_stimuli_tick(struct daemon *d)
{
  struct hw_stimulus st[16];
  unsigned n;
  if (d->hw) return; /* scripted stimuli exist only in scenarios */
  if (d->supply_low_until && run_now_ns(d) >= d->supply_low_until) {
    d->supply_low_until = 0;
    run_fault(d, "supply_restored", 0, 0, "actuator supply back in range");
  }
  do {
    n = hw_sim_poll_stimuli(d->sim, st, 16);
    for (unsigned i = 0; i < n; i++) {
      const struct hw_scenario_event *e = &st[i].ev;
      d->stimuli++;
      if (e->kind == HW_EV_NOTE) {
        struct journal_record r;
        memset(&r, 0, sizeof r);
        r.type = JOURNAL_T_NOTE;
        r.source.kind = JOURNAL_SRC_OPERATOR;
        /* the daemon appends it: its own uid/gid; the scenario's name for the author is a claim */
        r.body.note.uid = (uint32_t)getuid();
        r.body.note.gid = (uint32_t)getgid();
        r.body.note.who = (struct journal_slice){ (const uint8_t *)"scenario", 8 };
        r.body.note.claimed_who = (struct journal_slice){ (const uint8_t *)e->who, (uint32_t)strlen(e->who) };
        r.body.note.text = (struct journal_slice){ (const uint8_t *)e->text, (uint32_t)strlen(e->text) };
        if (run_append(d, &r) == 0) d->notes++;
      } else if (e->kind == HW_EV_SWITCH) {
        char rid[72];
        if (e->id[0]) snprintf(rid, sizeof rid, "%s", e->id);
        else snprintf(rid, sizeof rid, "scenario-%llu", (unsigned long long)st[i].t_ns);
        run_request_switch(d, (uint16_t)e->branch, e->on, rid, e->text[0] ? e->text : "scenario", 0, JOURNAL_ROLE_OPERATOR,
                       JOURNAL_ORIGIN_OPERATOR, 0, 0, NULL, NULL, NULL);
      } else if (e->kind == HW_EV_DR_START || e->kind == HW_EV_DR_CANCEL || e->kind == HW_EV_DR_OPT_OUT) {
        /* the utility's head-end (start, cancel) or the homeowner (opt-out) */
        struct journal_request q;
        memset(&q, 0, sizeof q);
        char rid[96];
        static const char *const verb[] = { "start", "cancel", "opt-out" };
        unsigned k = e->kind == HW_EV_DR_START ? 0 : e->kind == HW_EV_DR_CANCEL ? 1 : 2;
        snprintf(rid, sizeof rid, "dr-%.60s-%s-%d", e->id, verb[k], (int)e->modification);
        q.kind = k == 0 ? JOURNAL_REQ_DR_START : k == 1 ? JOURNAL_REQ_DR_CANCEL : JOURNAL_REQ_DR_OPT_OUT;
        q.role = k == 2 ? JOURNAL_ROLE_OPERATOR : JOURNAL_ROLE_UTILITY;
        q.origin = k == 2 ? JOURNAL_ORIGIN_OPERATOR : JOURNAL_ORIGIN_DEMAND_RESPONSE;
        q.request_id = (struct journal_slice){ (const uint8_t *)rid, (uint32_t)strlen(rid) };
        q.event = (struct journal_slice){ (const uint8_t *)e->id, (uint32_t)strlen(e->id) };
        q.modification = e->modification > 0 ? (uint32_t)e->modification : 0;
        q.duration_ns = e->duration_ns;
        q.reduce_w = (uint32_t)llround(e->reduce_kw * 1000.0);
        q.branch_mask = e->branches_mask;
        q.mandatory = e->mandatory;
        q.reason = (struct journal_slice){ (const uint8_t *)"scenario", 8 };
        run_request_policy(d, &q, NULL, NULL, NULL);
      } else if (e->kind == HW_EV_SERVICE) {
        /* disconnect / reconnect: the utility, remotely; confirm: the panel's local button */
        struct journal_request q;
        memset(&q, 0, sizeof q);
        char rid[72];
        if (e->id[0]) snprintf(rid, sizeof rid, "%s", e->id);
        else snprintf(rid, sizeof rid, "service-%llu", (unsigned long long)st[i].t_ns);
        q.kind = JOURNAL_REQ_SERVICE;
        q.action = e->sub == HW_SERVICE_DISCONNECT ? JOURNAL_SVC_DISCONNECT
                 : e->sub == HW_SERVICE_RECONNECT ? JOURNAL_SVC_RECONNECT : JOURNAL_SVC_CONFIRM;
        bool local = e->sub == HW_SERVICE_CONFIRM;
        q.desired = local || e->sub == HW_SERVICE_RECONNECT ? JOURNAL_DESIRED_ON : JOURNAL_DESIRED_OFF;
        q.role = local ? JOURNAL_ROLE_OPERATOR : JOURNAL_ROLE_UTILITY;
        q.origin = local ? JOURNAL_ORIGIN_OPERATOR : JOURNAL_ORIGIN_REMOTE;
        q.request_id = (struct journal_slice){ (const uint8_t *)rid, (uint32_t)strlen(rid) };
        q.reason = (struct journal_slice){ (const uint8_t *)(local ? "local button" : "scenario"), local ? 12 : 8 };
        run_request_policy(d, &q, NULL, NULL, NULL);
      } else if (e->kind == HW_EV_SUPPLY_LOW) {
        /* actuation impossible: the fold holds commands until the supply_restored record */
        char detail[96];
        snprintf(detail, sizeof detail, "actuator supply too low for %.1f s", (double)e->duration_ns / 1e9);
        run_fault(d, "supply_low", (int64_t)(e->duration_ns / 1000000u), 0, detail);
        d->supply_low_until = st[i].t_ns + e->duration_ns;
      }
    }
  } while (n == 16);
}
