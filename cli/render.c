/*
 * render.c — a record for a person to read (`hems show`, `timeline --format table`): the fields
 * that matter first (a sense-back's verdict, a refusal's reason, a command's cause), values in
 * units (230.04 V, 8.70 A, 256.7 ms), branches by number and configured name, zero-valued
 * defaults hidden. Record text is untrusted: control characters are escaped so it cannot forge
 * lines or drive the terminal. JSON output (the contract) is not touched by any of this.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* Fields shown first, in this order; the others follow in record order. */
static const char *const first_keys[] = {
  "verdict", "kind", "reason", "state", "target", "branch", "desired", "commanded", "sensed", "action", "result",
  "role", "origin", "source", "phases", "extreme_mv", "extreme_mpct", "duration_us", "category", "cause_seq",
  "command_seq", "request_id", "text", NULL,
};

/* Appends to a bounded buffer; the text is cut (never overrun) when full. */
struct sbuf {
  char *p;
  size_t cap, len;
};

static void put(struct sbuf *s, const char *t, size_t n)
{
  if (s->len + 1 >= s->cap) return;
  size_t room = s->cap - 1 - s->len;
  if (n > room) n = room;
  memcpy(s->p + s->len, t, n);
  s->len += n;
  s->p[s->len] = 0;
}

static void puts_(struct sbuf *s, const char *t) { put(s, t, strlen(t)); }

/* Record text: as it is unless it holds a control character (C0, DEL, C1) or starts with a quote;
 * then quoted with JSON escapes. */
static void put_safe(struct sbuf *s, const char *t, size_t n)
{
  const unsigned char *u = (const unsigned char *)t;
  bool plain = !n || u[0] != '"';
  for (size_t i = 0; i < n && plain; i++)
    plain = !(u[i] < 0x20 || u[i] == 0x7f || (u[i] == 0xc2 && i + 1 < n && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f));
  if (plain) { put(s, t, n); return; }
  put(s, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    char e[8];
    if (u[i] == '"' || u[i] == '\\') { e[0] = '\\'; e[1] = (char)u[i]; put(s, e, 2); }
    else if (u[i] == '\n') put(s, "\\n", 2);
    else if (u[i] == 0xc2 && i + 1 < n && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f) { snprintf(e, sizeof e, "\\u%04x", u[i + 1]); puts_(s, e); i++; }
    else if (u[i] < 0x20 || u[i] == 0x7f) { snprintf(e, sizeof e, "\\u%04x", u[i]); puts_(s, e); }
    else put(s, t + i, 1);
  }
  put(s, "\"", 1);
}

/* Numbers whose 0 means something: indexes of channels, lines, AFEs; uid/gid 0 is root;
 * priority 0 is shed first. */
static const char *const zero_means[] = { "ch", "ich", "vch", "line", "afe", "index", "uid", "gid", "priority", NULL };

/* A zero-valued default: 0, false, "", [], null (what the codec leaves out or zero-fills). */
static bool is_default_of(const char *k, const json_t *v)
{
  for (int i = 0; zero_means[i]; i++) if (!strcmp(k, zero_means[i])) return false;
  return json_is_null(v) || json_is_false(v) || (json_is_integer(v) && json_integer_value(v) == 0) ||
         (json_is_string(v) && json_string_length(v) == 0) || (json_is_array(v) && json_array_size(v) == 0);
}

/* A field's name for a person: without the unit its value now shows (supply_mv → supply). */
static void put_key(struct sbuf *s, const char *k, const char *unit_key)
{
  size_t stem = cli_unit_stem(unit_key);
  if (stem && !strncmp(k, unit_key, stem)) put_safe(s, k, stem);
  else put_safe(s, k, strlen(k));
}

static bool is_branch_key(const char *k) { return !strcmp(k, "target") || !strcmp(k, "branch"); }

static void put_branch(struct sbuf *s, const struct cli_names *n, json_int_t b)
{
  char num[24];
  snprintf(num, sizeof num, "%lld", (long long)b);
  puts_(s, num);
  const char *name = b > 0 ? cli_branch_name(n, (unsigned)b) : NULL;
  if (name) { put(s, " ", 1); put_safe(s, name, strlen(name)); }
}

/* An electrical value of a window channel: rms_m etc. are mV or mA by the channel's kind. */
static const char *channel_key(const char *k, const json_t *obj)
{
  const char *kind = json_string_value(json_object_get(obj, "kind"));
  bool v = kind && !strcmp(kind, "voltage");
  if (!strcmp(k, "rms_m")) return v ? "rms_mv" : "rms_ma";
  if (!strcmp(k, "h1_m")) return v ? "h1_mv" : "h1_ma";
  if (!strcmp(k, "hrms_min_m")) return v ? "hrms_min_mv" : "hrms_min_ma";
  if (!strcmp(k, "hrms_max_m")) return v ? "hrms_max_mv" : "hrms_max_ma";
  if (!strcmp(k, "min_m")) return v ? "min_mv" : "min_ma";
  if (!strcmp(k, "max_m")) return v ? "max_mv" : "max_ma";
  return k;
}

static void put_value(struct sbuf *s, const char *k, const json_t *v, const struct cli_names *n, const json_t *obj);

static void put_object(struct sbuf *s, const json_t *o, const struct cli_names *n)
{
  const char *k;
  json_t *v;
  bool any = false;
  put(s, "{", 1);
  json_object_foreach((json_t *)o, k, v) {
    if (is_default_of(k, v)) continue;
    if (any) put(s, ", ", 2);
    put_key(s, k, channel_key(k, o));
    put(s, " ", 1);
    put_value(s, channel_key(k, o), v, n, o);
    any = true;
  }
  put(s, "}", 1);
}

static void put_value(struct sbuf *s, const char *k, const json_t *v, const struct cli_names *n, const json_t *obj)
{
  (void)obj;
  char t[64];
  if (json_is_integer(v)) {
    json_int_t x = json_integer_value(v);
    if (is_branch_key(k)) put_branch(s, n, x);
    else if (cli_unit_text(k, x, t, sizeof t)) puts_(s, t);
    else { snprintf(t, sizeof t, "%lld", (long long)x); puts_(s, t); }
  } else if (json_is_string(v)) {
    put_safe(s, json_string_value(v), json_string_length(v));
  } else if (json_is_array(v)) {
    put(s, "[", 1);
    for (size_t i = 0; i < json_array_size(v); i++) {
      if (i) put(s, ", ", 2);
      put_value(s, !strcmp(k, "branches") ? "branch" : "", json_array_get(v, i), n, v);
    }
    put(s, "]", 1);
  } else if (json_is_object(v)) {
    put_object(s, v, n);
  } else {
    char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (d) puts_(s, d);
    free(d);
  }
}

static bool is_first_key(const char *k)
{
  for (int i = 0; first_keys[i]; i++) if (!strcmp(first_keys[i], k)) return true;
  return false;
}

/* Calls each(key, value) for the body's fields, first_keys first, defaults left out; returns
 * how many were left out. */
static unsigned body_fields(const json_t *body, void (*each)(void *ctx, const char *k, const json_t *v), void *ctx)
{
  unsigned hidden = 0;
  for (int i = 0; first_keys[i]; i++) {
    json_t *v = json_object_get(body, first_keys[i]);
    if (v && !is_default_of(first_keys[i], v)) each(ctx, first_keys[i], v);
  }
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)body, k, v) {
    if (is_default_of(k, v)) { hidden++; continue; }
    if (!is_first_key(k)) each(ctx, k, v);
  }
  return hidden;
}

/* ---- a window in one line: frequency, the voltages, then each power's branch, P and I */

static const json_t *channel(const json_t *body, json_int_t ch)
{
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(body, "channels"), i, c)
    if (json_integer_value(json_object_get(c, "ch")) == ch) return c;
  return NULL;
}

static void window_summary(struct sbuf *s, const json_t *body, const struct cli_names *n)
{
  char t[64];
  size_t i;
  json_t *c;
  snprintf(t, sizeof t, "afe %lld", (long long)json_integer_value(json_object_get(body, "afe")));
  puts_(s, t);
  if (cli_unit_text("freq_mhz", json_integer_value(json_object_get(body, "freq_mhz")), t, sizeof t) &&
      json_integer_value(json_object_get(body, "freq_mhz"))) { put(s, "  ", 2); puts_(s, t); }
  json_array_foreach(json_object_get(body, "channels"), i, c) {
    const char *kind = json_string_value(json_object_get(c, "kind"));
    if (!kind || strcmp(kind, "voltage")) continue;
    put(s, "  ", 2);
    const char *ph = json_string_value(json_object_get(c, "phase"));
    if (ph) { put_safe(s, ph, strlen(ph)); put(s, " ", 1); }
    cli_unit_text("rms_mv", json_integer_value(json_object_get(c, "rms_m")), t, sizeof t);
    puts_(s, t);
  }
  json_array_foreach(json_object_get(body, "powers"), i, c) {
    json_t *b = json_object_get(c, "branch");
    put(s, " | ", 3);
    if (json_integer_value(b)) put_branch(s, n, json_integer_value(b));
    else { puts_(s, "mains "); const char *ph = json_string_value(json_object_get(c, "phase")); if (ph) put_safe(s, ph, strlen(ph)); }
    put(s, " ", 1);
    cli_unit_text("p_mw", json_integer_value(json_object_get(c, "p_mw")), t, sizeof t);
    puts_(s, t);
    const json_t *ich = channel(body, json_integer_value(json_object_get(c, "ich")));
    if (ich && json_object_get(c, "ich")) {
      put(s, " ", 1);
      cli_unit_text("rms_ma", json_integer_value(json_object_get(ich, "rms_m")), t, sizeof t);
      puts_(s, t);
    }
  }
}

/* ---- one line (table) */

struct line_ctx {
  struct sbuf *s;
  const struct cli_names *n;
  bool any;
};

static void line_field(void *ctx, const char *k, const json_t *v)
{
  struct line_ctx *l = ctx;
  if (l->any) put(l->s, "  ", 2);
  put_key(l->s, k, k);
  put(l->s, "=", 1);
  put_value(l->s, k, v, l->n, NULL);
  l->any = true;
}

void cli_render_summary(const json_t *rec, const struct cli_names *n, char *buf, size_t cap)
{
  struct sbuf s = { buf, cap, 0 };
  buf[0] = 0;
  const json_t *body = json_object_get(rec, "body");
  const char *type = json_string_value(json_object_get(rec, "type"));
  if (type && !strcmp(type, "window")) { window_summary(&s, body, n); return; }
  if (type && !strcmp(type, "seal")) {
    /* a seal's signature and hashes say nothing to a reader; what it covers does */
    char t[80];
    snprintf(t, sizeof t, "sealed_seq=%lld", (long long)json_integer_value(json_object_get(body, "sealed_seq")));
    puts_(&s, t);
    return;
  }
  struct line_ctx l = { &s, n, false };
  body_fields(body, line_field, &l);
}

void cli_render_source(const json_t *rec, const struct cli_names *n, char *buf, size_t cap)
{
  struct sbuf s = { buf, cap, 0 };
  buf[0] = 0;
  const char *src = json_string_value(json_object_get(rec, "source"));
  if (!src) return;
  put_safe(&s, src, strlen(src));
  unsigned long b;
  char tail;
  if (sscanf(src, "branch:%lu%c", &b, &tail) == 1) {
    const char *name = cli_branch_name(n, (unsigned)b);
    if (name) { put(&s, " ", 1); put_safe(&s, name, strlen(name)); }
  }
}

/* ---- show: one field a line */

static void show_field(void *ctx, const char *k, const json_t *v)
{
  char buf[4096];
  struct sbuf s = { buf, sizeof buf, 0 };
  buf[0] = 0;
  (void)ctx;
  if (json_is_array(v) && json_array_size(v) && json_is_object(json_array_get(v, 0))) {
    put_safe(&s, k, strlen(k));
    printf("  %s:\n", buf);
    for (size_t i = 0; i < json_array_size(v); i++) {
      s.len = 0;
      buf[0] = 0;
      put_object(&s, json_array_get(v, i), ctx);
      printf("    %s\n", buf);
    }
    return;
  }
  put_key(&s, k, k);
  put(&s, ": ", 2);
  put_value(&s, k, v, ctx, NULL);
  printf("  %s\n", buf);
}

void cli_render_show(const json_t *rec, const struct cli_names *n)
{
  char src[200], t[64];
  cli_render_source(rec, n, src, sizeof src);
  char ty[64];
  struct sbuf s = { ty, sizeof ty, 0 };
  ty[0] = 0;
  const char *type = json_string_value(json_object_get(rec, "type"));
  if (type) put_safe(&s, type, strlen(type));
  const char *time = json_string_value(json_object_get(rec, "time"));
  printf("seq %lld  %s  %s  %s\n", (long long)json_integer_value(json_object_get(rec, "seq")), ty, time ? time : "?", src);
  unsigned hidden = body_fields(json_object_get(rec, "body"), show_field, (void *)n);
  if (hidden) printf("  (%u zero-valued field%s not shown; --format json shows every field)\n", hidden, hidden == 1 ? "" : "s");
  cli_unit_text("mono_ns", json_integer_value(json_object_get(rec, "mono_ns")), t, sizeof t);
  const char *tq = json_string_value(json_object_get(rec, "time_quality"));
  const char *boot = json_string_value(json_object_get(rec, "boot_id"));
  const char *hash = json_string_value(json_object_get(rec, "hash"));
  printf("  (monotonic %s since boot %s, time quality %s, hash %s)\n", t, boot ? boot : "?", tq ? tq : "?", hash ? hash : "?");
}
