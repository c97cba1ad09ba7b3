/*
 * read_filter.c — the record filter of `hems timeline` (types, branch, source, seq and time
 * bounds): its test on one record's bytes, and its JSON form, in which the CLI hands it to the
 * daemon's `timeline` op (run_viewer.c) and the daemon takes it back — one filter, one meaning,
 * whether the journal is read directly or through the socket.
 */
#include <stdio.h>
#include <string.h>
#include "read_filter.h"

/* Cheapest test first: seq, then the type from the envelope's fixed prefix, then the branches
 * the record names, and only for a time or source filter a full decode. (An undecodable record that
 * passes is skipped by the printer.) */
bool cli_filter_matches(const struct cli_filter *f, const uint8_t *b, size_t len, uint64_t seq)
{
  if (seq < f->since_seq || (f->until_seq && seq > f->until_seq)) return false;
  uint64_t pseq;
  unsigned type;
  uint8_t prev[32];
  if (journal_record_peek(b, len, &pseq, &type, prev)) return false;
  if (f->any_type && !f->types[type]) return false;
  if (f->have_since_t || f->have_until_t || f->have_source) {
    static struct journal_record r;
    if (journal_record_decode(b, len, &r)) return false;
    if (f->have_since_t && r.wall_ns < f->since_t) return false;
    if (f->have_until_t && r.wall_ns > f->until_t) return false;
    if (f->have_source && (r.source.kind != f->source.kind || r.source.sub != f->source.sub ||
                           r.source.index != f->source.index || strcmp(r.source.name, f->source.name) != 0))
      return false;
  }
  if (f->branch) {
    uint16_t br[64];
    int n = journal_record_branches(b, len, br, 64);
    bool hit = false;
    for (int i = 0; i < n; i++) if (br[i] == f->branch) hit = true;
    if (!hit) return false;
  }
  return true;
}

json_t *cli_filter_to_json(const struct cli_filter *f)
{
  json_t *o = json_object();
  if (f->any_type) {
    json_t *t = json_array();
    for (unsigned ty = 1; ty < JOURNAL_T__MAX; ty++) if (f->types[ty]) json_array_append_new(t, json_string(journal_type_name(ty)));
    json_object_set_new(o, "types", t);
  }
  if (f->branch) json_object_set_new(o, "branch", json_integer(f->branch));
  char src[80];
  if (f->have_source && journal_source_format(&f->source, src, sizeof src) >= 0) json_object_set_new(o, "source", json_string(src));
  if (f->since_seq) json_object_set_new(o, "since_seq", json_integer((json_int_t)f->since_seq));
  if (f->until_seq) json_object_set_new(o, "until_seq", json_integer((json_int_t)f->until_seq));
  if (f->have_since_t) json_object_set_new(o, "since_ns", json_integer(f->since_t));
  if (f->have_until_t) json_object_set_new(o, "until_ns", json_integer(f->until_t));
  return o;
}

/* A non-negative integer field; absent is 0. false when present and not one. */
static bool u64_field(const json_t *o, const char *key, uint64_t *out, uint64_t max)
{
  const json_t *v = json_object_get(o, key);
  *out = 0;
  if (!v) return true;
  if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max) return false;
  *out = (uint64_t)json_integer_value(v);
  return true;
}

const char *cli_filter_from_json(const json_t *o, struct cli_filter *f)
{
  memset(f, 0, sizeof *f);
  uint64_t br;
  if (!u64_field(o, "branch", &br, 65535)) return "malformed request: \"branch\" must be a branch number";
  f->branch = (uint16_t)br;
  if (!u64_field(o, "since_seq", &f->since_seq, INT64_MAX) || !u64_field(o, "until_seq", &f->until_seq, INT64_MAX))
    return "malformed request: \"since_seq\" and \"until_seq\" must be seqs";
  const json_t *t = json_object_get(o, "types");
  if (t && !json_is_array(t)) return "malformed request: \"types\" must be an array of record type names";
  for (size_t i = 0; t && i < json_array_size(t); i++) {
    const char *name = json_string_value(json_array_get(t, i));
    unsigned ty = name ? journal_type_from_name(name) : 0;
    if (!ty) return "malformed request: \"types\" holds an unknown record type";
    f->types[ty] = f->any_type = true;
  }
  const json_t *s = json_object_get(o, "source");
  if (s && (!json_is_string(s) || journal_source_parse(json_string_value(s), json_string_length(s), &f->source)))
    return "malformed request: \"source\" is not a source (panel, branch:7, afe:2, der:pv, tap:rcd:3, operator, remote:NAME)";
  f->have_source = s != NULL;
  const json_t *a = json_object_get(o, "since_ns"), *b = json_object_get(o, "until_ns");
  if ((a && !json_is_integer(a)) || (b && !json_is_integer(b))) return "malformed request: \"since_ns\" and \"until_ns\" must be integers";
  f->have_since_t = a != NULL;
  f->since_t = a ? json_integer_value(a) : 0;
  f->have_until_t = b != NULL;
  f->until_t = b ? json_integer_value(b) : 0;
  return NULL;
}
