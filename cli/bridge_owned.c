/*
 * bridge_owned.c — the discovery configs the MQTT bridge owns: the set of config topics its
 * discovery publishes, and which retained configs under its node id are stale (a branch removed
 * from the panel, an entity a later version no longer makes) and must be deleted with an empty
 * retained payload, or Home Assistant keeps showing them.
 */
#include <stdlib.h>
#include <string.h>
#include "bridge.h"

void bridge_topics_free(struct bridge_topics *s)
{
  for (size_t i = 0; i < s->n; i++) free(s->t[i]);
  free(s->t);
  memset(s, 0, sizeof *s);
}

int bridge_topics_add(struct bridge_topics *s, const char *topic)
{
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    char **t = realloc(s->t, cap * sizeof *t);
    if (!t) { s->oom = true; return -1; }
    s->t = t;
    s->cap = cap;
  }
  if (!(s->t[s->n] = strdup(topic))) { s->oom = true; return -1; }
  s->n++;
  return 0;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void collect(void *ctx, const char *topic, char *payload, bool retain, int qos)
{
  (void)retain;
  (void)qos;
  free(payload);
  bridge_topics_add(ctx, topic); /* out of memory: flagged in oom */
}

int bridge_topics_of_discovery(const struct bridge_panel *p, const struct bridge_names *nm, struct bridge_topics *out)
{
  memset(out, 0, sizeof *out);
  bridge_ha_discovery(p, nm, collect, out);
  qsort(out->t, out->n, sizeof *out->t, cmp);
  return out->oom ? -1 : 0;
}

bool bridge_topics_has(const struct bridge_topics *s, const char *topic)
{
  return s->n && bsearch(&topic, s->t, s->n, sizeof *s->t, cmp) != NULL;
}

/* <prefix>/<component>/<node>/<object id>/config, one level each for component and object. */
bool bridge_is_own_config(const struct bridge_names *nm, const char *topic)
{
  size_t pl = strlen(nm->prefix), nl = strlen(nm->node);
  if (strncmp(topic, nm->prefix, pl) || topic[pl] != '/') return false;
  const char *c = topic + pl + 1, *slash = strchr(c, '/');
  if (!slash || slash == c || strncmp(slash + 1, nm->node, nl) || slash[1 + nl] != '/') return false;
  const char *obj = slash + 2 + nl, *end = strchr(obj, '/');
  return end && end != obj && !strcmp(end, "/config");
}
