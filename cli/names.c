/*
 * names.c — branch names from the panel config the journal holds: the newest `config` record
 * whose panel JSON has a "branches" array ({"number": N, "name": "…"}). Text output shows a
 * branch as "3 well_pump"; `--branch` takes the number or the name. The journal, not
 * DIR/config.json, is what the records were written under (a simulated panel's config comes
 * from its scenario), and a bundle carries its own.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

#define NAMES_MAX_BRANCH 4096 /* names of branches past this are not kept */

void cli_names_free(struct cli_names *n)
{
  for (unsigned i = 0; i < n->count; i++) free(n->branch[i]);
  free(n->branch);
  memset(n, 0, sizeof *n);
}

int cli_names_from_config(const char *json, size_t len, struct cli_names *out)
{
  json_t *cfg = json_loadb(json, len, 0, NULL);
  json_t *br = json_object_get(cfg, "branches");
  if (!json_is_array(br)) { json_decref(cfg); return -ENOENT; }
  struct cli_names n = { 0 };
  size_t i;
  json_t *b;
  json_array_foreach(br, i, b) {
    json_t *num = json_object_get(b, "number"), *name = json_object_get(b, "name");
    if (!json_is_integer(num) || !json_is_string(name) || !json_string_length(name)) continue;
    json_int_t k = json_integer_value(num);
    if (k < 1 || k > NAMES_MAX_BRANCH) continue;
    if ((unsigned)k >= n.count) {
      char **g = realloc(n.branch, sizeof *g * ((size_t)k + 1));
      if (!g) { cli_names_free(&n); json_decref(cfg); return -ENOMEM; }
      memset(g + n.count, 0, sizeof *g * ((size_t)k + 1 - n.count));
      n.branch = g;
      n.count = (unsigned)k + 1;
    }
    free(n.branch[k]);
    n.branch[k] = strdup(json_string_value(name));
  }
  json_decref(cfg);
  cli_names_free(out);
  *out = n;
  return 0;
}

/* The newest config record's panel JSON (one with "branches"). */
static int take_config(void *ctx, const uint8_t *b, size_t len)
{
  json_t **out = ctx;
  char *j = journal_record_to_json(b, len, JOURNAL_JSON_COMPACT);
  json_t *o = j ? json_loads(j, 0, NULL) : NULL;
  const char *type = json_string_value(json_object_get(o, "type"));
  json_t *text = json_object_get(json_object_get(o, "body"), "json");
  json_t *cfg = type && !strcmp(type, "config") && json_is_string(text) ? json_loadb(json_string_value(text), json_string_length(text), 0, NULL) : NULL;
  if (json_is_array(json_object_get(cfg, "branches"))) { json_decref(*out); *out = cfg; }
  else json_decref(cfg);
  json_decref(o);
  free(j);
  return 0;
}

int cli_config_load(const struct cli_common *c, const char *pubkey, const char *fpr, json_t **out)
{
  struct cli_filter f;
  memset(&f, 0, sizeof f);
  f.types[JOURNAL_T_CONFIG] = true;
  f.any_type = true;
  *out = NULL;
  int rc = cli_walk(c, pubkey, fpr, &f, 0, take_config, out);
  if (rc) { json_decref(*out); *out = NULL; }
  return rc;
}

int cli_names_load(const struct cli_common *c, const char *pubkey, const char *fpr, struct cli_names *out)
{
  json_t *cfg;
  memset(out, 0, sizeof *out);
  int rc = cli_config_load(c, pubkey, fpr, &cfg);
  if (rc || !cfg) return rc;
  char *txt = json_dumps(cfg, JSON_COMPACT);
  if (txt) cli_names_from_config(txt, strlen(txt), out);
  free(txt);
  json_decref(cfg);
  return 0;
}

const char *cli_branch_name(const struct cli_names *n, unsigned branch)
{
  return n && branch < n->count ? n->branch[branch] : NULL;
}

int cli_branch_arg(const struct cli_names *n, const char *arg, uint16_t *out)
{
  uint64_t v;
  if (cli_parse_u64(arg, &v) == 0) {
    if (v == 0 || v > 65535) return -ERANGE;
    *out = (uint16_t)v;
    return 0;
  }
  for (unsigned i = 1; n && i < n->count; i++)
    if (n->branch[i] && !strcmp(n->branch[i], arg)) { *out = (uint16_t)i; return 0; }
  return -ENOENT;
}

void cli_branch_arg_error(const char *cmd, const struct cli_names *n, const char *arg, int rc)
{
  if (rc == -ERANGE) { cli_err("%s: --branch %s: branch numbers are 1..65535", cmd, arg); return; }
  char list[400] = "";
  size_t used = 0;
  unsigned shown = 0;
  for (unsigned i = 1; n && i < n->count && used + 40 < sizeof list; i++) {
    if (!n->branch[i]) continue;
    int w = snprintf(list + used, sizeof list - used, "%s%u %s", shown ? ", " : "", i, n->branch[i]);
    if (w > 0) used += (size_t)w;
    shown++;
  }
  if (shown) cli_err("%s: --branch %s: no branch of that number or name (the panel has: %s%s)", cmd, arg, list,
                     used + 40 >= sizeof list ? ", …" : "");
  else cli_err("%s: --branch %s: no branch of that name (the journal's config names none)", cmd, arg);
}
