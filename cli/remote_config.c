/*
 * remote_config.c — the panel config's "remote" section (docs/fleet.md "Remote commands") and
 * the per-issuer seq recovered from the journal:
 *   "remote": {"issuers": [{"name": "utility-a", "pubkey": BASE64 or HEX, "role": "utility"}, …],
 *              "two_person": {"service_disconnect": true, "window_s": 600}}
 * The section is part of the panel config, so a change is journaled as a `config` record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "remote_state.h"
#include "run.h"

static bool name_ok(const char *s)
{
  size_t n = strlen(s);
  if (n < 1 || n > 31 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9'))) return false;
  if (!strncmp(s, "kid-", 4)) return false; /* reserved: an unknown issuer's key id */
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' || s[i] == '-'))
      return false;
  return true;
}

static int pubkey(const char *s, uint8_t pk[32])
{
  size_t n = 0;
  if (strlen(s) == 64 && !sodium_hex2bin(pk, 32, s, 64, NULL, &n, NULL) && n == 32) return 0;
  if (!sodium_base642bin(pk, 32, s, strlen(s), NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) && n == 32) return 0;
  return -1;
}

#define BAD(...) do { snprintf(err, err_cap, "remote: " __VA_ARGS__); return -1; } while (0)

static int parse_issuer(struct remote_state *st, json_t *e, size_t k, char *err, size_t err_cap)
{
  const char *key;
  json_t *v;
  json_object_foreach(e, key, v)
    if (strcmp(key, "name") && strcmp(key, "pubkey") && strcmp(key, "role")) BAD("issuers[%zu]: unknown key \"%s\"", k, key);
  const char *name = json_string_value(json_object_get(e, "name")), *pk = json_string_value(json_object_get(e, "pubkey")),
             *role = json_string_value(json_object_get(e, "role"));
  struct remote_issuer *is = &st->iss[st->n];
  memset(is, 0, sizeof *is);
  if (!name || !name_ok(name)) BAD("issuers[%zu].name: 1..31 of a-z 0-9 _ . - (not starting kid-)", k);
  if (!pk || pubkey(pk, is->pk)) BAD("issuers[%zu].pubkey: an Ed25519 public key in base64 or hex", k);
  if (!role || (strcmp(role, "utility") && strcmp(role, "installer"))) BAD("issuers[%zu].role: \"utility\" or \"installer\"", k);
  snprintf(is->name, sizeof is->name, "%s", name);
  is->role = !strcmp(role, "utility") ? ROLE_UTILITY : ROLE_INSTALLER;
  journal_key_id(is->pk, is->kid);
  for (unsigned i = 0; i < st->n; i++)
    if (!strcmp(st->iss[i].name, name) || !memcmp(st->iss[i].kid, is->kid, REMOTE_KID_BYTES))
      BAD("issuers[%zu]: the name or key of issuers[%u] again", k, i);
  st->n++;
  return 0;
}

int remote_config_parse(struct remote_state *st, const char *json, char *err, size_t err_cap)
{
  struct remote_state old = *st;
  st->n = 0;
  st->two_person_disconnect = false;
  st->window_s = 600;
  st->pending.used = false;
  if (!json || !*json) return 0;
  json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
  int rc = -1;
  const char *key;
  json_t *v;
  if (!json_is_object(root)) { snprintf(err, err_cap, "remote: expected an object"); goto out; }
  json_object_foreach(root, key, v)
    if (strcmp(key, "issuers") && strcmp(key, "two_person")) { snprintf(err, err_cap, "remote: unknown key \"%s\"", key); goto out; }
  json_t *list = json_object_get(root, "issuers");
  if (list && (!json_is_array(list) || json_array_size(list) > REMOTE_ISSUERS_MAX)) {
    snprintf(err, err_cap, "remote: issuers: an array of at most %d", REMOTE_ISSUERS_MAX);
    goto out;
  }
  for (size_t k = 0; list && k < json_array_size(list); k++) {
    json_t *e = json_array_get(list, k);
    if (!json_is_object(e)) { snprintf(err, err_cap, "remote: issuers[%zu]: expected an object", k); goto out; }
    if (parse_issuer(st, e, k, err, err_cap)) goto out;
  }
  json_t *tp = json_object_get(root, "two_person");
  if (tp) {
    json_t *sd = json_object_get(tp, "service_disconnect"), *w = json_object_get(tp, "window_s");
    if (!json_is_object(tp) || json_object_size(tp) != (size_t)(!!sd + !!w) || (sd && !json_is_boolean(sd)) ||
        (w && (!json_is_integer(w) || json_integer_value(w) < 10 || json_integer_value(w) > 86400))) {
      snprintf(err, err_cap, "remote: two_person: {\"service_disconnect\": bool, \"window_s\": 10..86400}");
      goto out;
    }
    st->two_person_disconnect = json_is_true(sd);
    if (w) st->window_s = (int64_t)json_integer_value(w);
  }
  rc = 0;
out:
  json_decref(root);
  if (rc) { *st = old; return rc; }
  for (unsigned i = 0; i < st->n; i++) /* the seqs already accepted stay the issuers' */
    for (unsigned j = 0; j < old.n; j++)
      if (!strcmp(st->iss[i].name, old.iss[j].name)) st->iss[i].last_seq = old.iss[j].last_seq;
  return 0;
}

int remote_config_check(const char *json, char *err, size_t err_cap)
{
  struct remote_state *st = calloc(1, sizeof *st);
  if (!st) { snprintf(err, err_cap, "remote: out of memory"); return -1; }
  int rc = remote_config_parse(st, json, err, err_cap);
  free(st);
  return rc;
}

int remote_issuer_by_kid(const struct remote_state *st, const uint8_t kid[REMOTE_KID_BYTES])
{
  for (unsigned i = 0; i < st->n; i++)
    if (sodium_memcmp(st->iss[i].kid, kid, REMOTE_KID_BYTES) == 0) return (int)i;
  return -1;
}

/* A cti read back from the journal: any issuer's (the record names the issuer, not its key),
 * until the latest its message can still be valid (accepted at wall_s: iat at most skew after,
 * exp at most a day after iat). Once, whatever the number of recoveries. */
static void recovered_cti(struct remote_state *st, const struct journal_slice *cti, int64_t wall_s, int64_t now_s)
{
  int64_t until = wall_s + REMOTE_MAX_TTL_S + 2 * REMOTE_SKEW_S;
  if (!cti->len || cti->len > REMOTE_CTI_MAX || until < now_s) return;
  for (unsigned i = 0; i < REMOTE_CTIS; i++)
    if (st->ctis[i].len == cti->len && !memcmp(st->ctis[i].cti, cti->ptr, cti->len)) {
      st->ctis[i].any = true;
      if (st->ctis[i].until_s < until) st->ctis[i].until_s = until;
      return;
    }
  struct remote_cti *k = &st->ctis[st->cti_next++ % REMOTE_CTIS];
  memset(k, 0, sizeof *k);
  memcpy(k->cti, cti->ptr, cti->len);
  k->len = (uint8_t)cti->len;
  k->any = true;
  k->until_s = until;
}

/* Retention cut records: the wall time of the oldest one kept (floor_s), else 0. */
static int recover_floor(struct journal_reader *r, struct journal_iter *it, struct remote_state *st)
{
  uint64_t first = 0, last = 0;
  st->floor_s = 0;
  if (journal_reader_bounds(r, &first, &last)) return -1;
  if (first <= 1) return 0;
  const uint8_t *bytes;
  size_t len;
  struct journal_record rec;
  if (journal_iter_get(it, first, &bytes, &len) || journal_record_decode(bytes, len, &rec)) return -1;
  st->floor_s = rec.wall_ns / 1000000000ll;
  return 0;
}

/* Each issuer's last seq from the journal: the requests of source remote:<name> and the
 * disconnects held for a second signature (refusals awaiting_second), through the source index;
 * their ctis still within a message's validity; and the floor retention left (recover_floor). */
static int recover_seqs(struct daemon *d, struct remote_state *st)
{
  struct journal_reader *r;
  struct journal_iter *it;
  int rc = 0;
  int64_t now_s = run_wall_ns(d) / 1000000000ll;
  if (journal_reader_attach(&r, d->j)) return -1;
  if (journal_iter_begin(r, 1, &it)) { journal_reader_close(r); return -1; }
  if (recover_floor(r, it, st)) rc = -1;
  struct journal_source src = { .kind = JOURNAL_SRC_REMOTE };
  uint32_t val = journal_index_source_value(&src);
  uint64_t from = 1, blocks[256];
  for (;;) {
    int n = journal_index_blocks(it, JOURNAL_IDX_SOURCE, val, from, blocks, 256);
    if (n < 0) rc = -1;
    if (n <= 0) break;
    uint64_t gf = 0, gl = 0;
    for (int b = 0; b < n; b++) {
      if (journal_index_block_range(it, blocks[b], &gf, &gl)) { rc = -1; continue; }
      for (uint64_t s = gf; s <= gl; s++) {
        const uint8_t *bytes;
        size_t len;
        struct journal_record rec;
        int g = journal_iter_get(it, s, &bytes, &len);
        if (g == JOURNAL_ENOTFOUND) continue; /* cut by retention: its seq is older than what is kept */
        if (g || journal_record_decode(bytes, len, &rec)) { rc = -1; continue; }
        if (rec.source.kind != JOURNAL_SRC_REMOTE) continue;
        bool req = rec.type == JOURNAL_T_REQUEST,
             held = rec.type == JOURNAL_T_REFUSAL && rec.body.refusal.reason == JOURNAL_REF_AWAITING_SECOND;
        uint64_t seq = req ? rec.body.request.remote_seq : held ? rec.body.refusal.remote_seq : 0;
        if (seq) recovered_cti(st, req ? &rec.body.request.cti : &rec.body.refusal.cti, rec.wall_ns / 1000000000ll, now_s);
        for (unsigned i = 0; seq && i < st->n; i++)
          if (!strcmp(st->iss[i].name, rec.source.name) && st->iss[i].last_seq < seq) st->iss[i].last_seq = seq;
      }
    }
    if (n < 256 || gl < from) break;
    from = gl + 1;
  }
  journal_iter_end(it);
  journal_reader_close(r);
  return rc;
}

/* After every configuration, not only the first: an issuer added (or added back) by a reload
 * starts from the last seq the journal holds of its name, never from 0, so a message of its that
 * was accepted before cannot be again. Recovery that fails refuses every remote command until a
 * configuration recovers (remote_accept.c). */
void run_remote_configure(struct daemon *d, const char *remote_json)
{
  bool first = !d->remote;
  if (first && !(d->remote = calloc(1, sizeof *d->remote))) return;
  char err[300];
  if (remote_config_parse(d->remote, remote_json, err, sizeof err)) run_fault(d, "config_invalid", 0, 0, err);
  d->remote->seqs_unknown = recover_seqs(d, d->remote) != 0;
  if (d->remote->seqs_unknown)
    run_fault(d, "config_invalid", 0, 0, "remote: the issuers' last seqs could not be read from the journal: remote commands are refused");
}

struct remote_state *run_remote_state(struct daemon *d)
{
  if (!d->remote) run_remote_configure(d, d->panel->remote_json);
  return d->remote;
}

void run_remote_free(struct daemon *d)
{
  free(d->remote);
  d->remote = NULL;
}
