/*
 * pkcs11_uri.c — the RFC 7512 PKCS#11 URI that names the journal's signing key in a token
 * (`--signer pkcs11:token=…;object=…?module-path=…&pin-source=…`).
 *
 * The URI comes from the command line or a unit file: outside input, parsed strictly. The
 * grammar is RFC 7512 §2.3: "pkcs11:" (scheme case-insensitive), path attributes separated by
 * ';', then optionally '?' and query attributes separated by '&'. A value is made of the
 * characters the RFC allows there (unreserved, ":[]@!$'()*+,=", '&' in the path, "/?|" in the
 * query) and %HH escapes; anything else is refused, as is an attribute given twice, an empty
 * value, a %00 inside a label or a path, and any attribute hems does not use — a typo never
 * becomes a silently ignored filter. The PIN never comes in the URI: pin-value is refused.
 *
 * Path: token (required, the token label, ≤ 32 bytes), object (required, the key's CKA_LABEL),
 * type (only "private": the key that signs), id (CKA_ID bytes), serial (≤ 16 bytes), slot-id.
 * Query: module-path (required, absolute), pin-source (required): "file:/ABS/PATH",
 * "file:///ABS/PATH" or "credential:NAME" (a systemd credential, $CREDENTIALS_DIRECTORY/NAME).
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <string.h>
#include "journal.h"

enum part { PATH, QUERY };

static bool unreserved(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

/* A character a value may hold literally in that part (RFC 7512 pk11-pchar / pk11-qchar). */
static bool value_char(unsigned char c, enum part p)
{
  if (unreserved(c) || (c && strchr(":[]@!$'()*+,=", c))) return true;
  return p == PATH ? c == '&' : (c == '/' || c == '?' || c == '|');
}

static int hexval(unsigned char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

struct parse {
  const char *uri;
  char *why;
  size_t why_cap;
};

static int fail(struct parse *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parse *ps, const char *fmt, ...)
{
  if (ps->why && ps->why_cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->why, ps->why_cap, fmt, ap);
    va_end(ap);
  }
  return JOURNAL_EURI;
}

/* Decodes the value s[0..n) of attribute name into out (cap bytes, NUL-terminated; *len gets
 * the byte count). binary: %00 allowed (an id); else a NUL byte is refused. */
static int decode(struct parse *ps, const char *name, const char *s, size_t n, enum part p, bool binary,
                  uint8_t *out, size_t cap, size_t *len)
{
  size_t o = 0;
  if (n == 0) return fail(ps, "%s: empty value", name);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    int v;
    if (c == '%') {
      int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
      int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
      if (hi < 0 || lo < 0) return fail(ps, "%s: '%%' at offset %ld is not followed by two hex digits", name, (long)(s + i - ps->uri));
      v = hi * 16 + lo;
      i += 2;
      if (v == 0 && !binary) return fail(ps, "%s: %%00 (a NUL byte) at offset %ld", name, (long)(s + i - 2 - ps->uri));
    } else if (value_char(c, p)) {
      v = c;
    } else {
      char what[8];
      if (c > 0x20 && c < 0x7f) snprintf(what, sizeof what, "'%c'", c);
      else snprintf(what, sizeof what, "0x%02x", c);
      return fail(ps, "character %s at offset %ld is not allowed there (escape it as %%HH)", what, (long)(s + i - ps->uri));
    }
    if (o + 1 >= cap) return fail(ps, "%s: longer than %ld bytes", name, (long)cap - 1);
    out[o++] = (uint8_t)v;
  }
  out[o] = 0;
  *len = o;
  return 0;
}

/* A decoded value for an error line: printable ASCII as is, other bytes as \xHH, at most 64
 * bytes shown (so the line stays one line whatever the escapes decoded to). */
static const char *shown(const uint8_t *b, char out[280])
{
  size_t o = 0;
  for (size_t i = 0; b[i] && o < 270; i++) {
    if (i == 64) { memcpy(out + o, "...", 3); o += 3; break; }
    if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\') out[o++] = (char)b[i];
    else o += (size_t)snprintf(out + o, 5, "\\x%02x", b[i]);
  }
  out[o] = 0;
  return out;
}

#define SEEN(bit) (1u << (bit))
enum { A_TOKEN, A_OBJECT, A_TYPE, A_ID, A_SERIAL, A_SLOT, A_MODULE, A_PIN };

static int path_attr(struct parse *ps, struct journal_pkcs11_uri *u, const char *name, const char *v, size_t vn,
                     unsigned *seen)
{
  size_t len;
  uint8_t buf[JOURNAL_PKCS11_PATH_MAX];
  char sh[280];
  int a, rc;
  if (!strcmp(name, "token")) a = A_TOKEN;
  else if (!strcmp(name, "object")) a = A_OBJECT;
  else if (!strcmp(name, "type")) a = A_TYPE;
  else if (!strcmp(name, "id")) a = A_ID;
  else if (!strcmp(name, "serial")) a = A_SERIAL;
  else if (!strcmp(name, "slot-id")) a = A_SLOT;
  else return fail(ps, "path attribute '%s' is not one hems reads (token, object, type, id, serial, slot-id)", name);
  if (*seen & SEEN(a)) return fail(ps, "'%s' given twice", name);
  *seen |= SEEN(a);
  switch (a) {
  case A_TOKEN:
    return decode(ps, name, v, vn, PATH, false, (uint8_t *)u->token, sizeof u->token, &len);
  case A_OBJECT:
    return decode(ps, name, v, vn, PATH, false, (uint8_t *)u->object, sizeof u->object, &len);
  case A_SERIAL:
    return decode(ps, name, v, vn, PATH, false, (uint8_t *)u->serial, sizeof u->serial, &len);
  case A_ID:
    if ((rc = decode(ps, name, v, vn, PATH, true, u->id, sizeof u->id, &len))) return rc;
    u->id_len = len;
    return 0;
  case A_TYPE:
    if ((rc = decode(ps, name, v, vn, PATH, false, buf, sizeof buf, &len))) return rc;
    if (strcmp((char *)buf, "private") != 0)
      return fail(ps, "type: '%s' (the signing key is type=private)", shown(buf, sh));
    return 0;
  default: /* A_SLOT: 1*DIGIT */
    if ((rc = decode(ps, name, v, vn, PATH, false, buf, sizeof buf, &len))) return rc;
    unsigned long id = 0;
    for (size_t i = 0; i < len; i++) {
      if (buf[i] < '0' || buf[i] > '9') return fail(ps, "slot-id: '%s' is not a decimal number", shown(buf, sh));
      unsigned d = (unsigned)(buf[i] - '0');
      if (id > (ULONG_MAX - d) / 10) return fail(ps, "slot-id: '%s' is too large", shown(buf, sh));
      id = id * 10 + d;
    }
    u->slot_id = id;
    u->has_slot_id = true;
    return 0;
  }
}

static int pin_source(struct parse *ps, struct journal_pkcs11_uri *u, const char *src)
{
  char sh[280];
  if (!strncmp(src, "file:", 5)) {
    const char *p = src + 5;
    if (!strncmp(p, "//", 2)) {
      if (p[2] != '/') return fail(ps, "pin-source: '%s' names a host; give file:/ABSOLUTE/PATH", shown((const uint8_t *)src, sh));
      p += 2;
    }
    if (p[0] != '/' || p[1] == '/')
      return fail(ps, "pin-source: '%s' is not an absolute path (file:/ABSOLUTE/PATH)", shown((const uint8_t *)src, sh));
    snprintf(u->pin_file, sizeof u->pin_file, "%s", p);
    return 0;
  }
  if (!strncmp(src, "credential:", 11)) {
    const char *n = src + 11;
    if (!n[0] || strchr(n, '/') || !strcmp(n, ".") || !strcmp(n, ".."))
      return fail(ps, "pin-source: '%s' is not a credential name (credential:NAME, no '/')", shown((const uint8_t *)src, sh));
    if (strlen(n) >= sizeof u->pin_credential) return fail(ps, "pin-source: credential name longer than %ld bytes", (long)sizeof u->pin_credential - 1);
    snprintf(u->pin_credential, sizeof u->pin_credential, "%s", n);
    return 0;
  }
  return fail(ps, "pin-source: '%s' is neither file:/ABSOLUTE/PATH nor credential:NAME", shown((const uint8_t *)src, sh));
}

static int query_attr(struct parse *ps, struct journal_pkcs11_uri *u, const char *name, const char *v, size_t vn,
                      unsigned *seen)
{
  size_t len;
  uint8_t buf[JOURNAL_PKCS11_PATH_MAX];
  char sh[280];
  int a, rc;
  if (!strcmp(name, "pin-value"))
    return fail(ps, "pin-value: refused: a PIN never comes on the command line; use pin-source=file:PATH");
  if (!strcmp(name, "module-name"))
    return fail(ps, "module-name: not supported; give module-path=/ABSOLUTE/PATH/OF/THE/MODULE.so");
  if (!strcmp(name, "module-path")) a = A_MODULE;
  else if (!strcmp(name, "pin-source")) a = A_PIN;
  else return fail(ps, "query attribute '%s' is not one hems reads (module-path, pin-source)", name);
  if (*seen & SEEN(a)) return fail(ps, "'%s' given twice", name);
  *seen |= SEEN(a);
  if ((rc = decode(ps, name, v, vn, QUERY, false, buf, sizeof buf, &len))) return rc;
  if (a == A_PIN) return pin_source(ps, u, (const char *)buf);
  if (buf[0] != '/') return fail(ps, "module-path: '%s' is not an absolute path", shown(buf, sh));
  memcpy(u->module_path, buf, len + 1);
  return 0;
}

int journal_pkcs11_uri_parse(const char *uri, struct journal_pkcs11_uri *u, char *why, size_t why_cap)
{
  struct parse ps = { uri, why, why_cap };
  memset(u, 0, sizeof *u);
  if (why && why_cap) why[0] = 0;
  if (strncasecmp(uri, "pkcs11:", 7) != 0) return fail(&ps, "not a pkcs11: URI");
  if (strlen(uri) > JOURNAL_PKCS11_URI_MAX) return fail(&ps, "longer than %ld bytes", (long)JOURNAL_PKCS11_URI_MAX);
  unsigned seen = 0;
  enum part p = PATH;
  const char *s = uri + 7;
  for (;;) {
    /* one attribute: name '=' value, up to the separator of its part (or '?', or the end) */
    size_t n = p == PATH ? strcspn(s, ";?") : strcspn(s, "&");
    const char *eq = memchr(s, '=', n);
    char name[32];
    if (n == 0) {
      if (p == PATH && s == uri + 7 && (*s == 0 || *s == '?')) {
        /* an empty path: the required attributes are reported below */
      } else {
        return fail(&ps, "empty attribute at offset %ld", (long)(s - uri));
      }
    } else {
      if (!eq) return fail(&ps, "attribute at offset %ld has no '='", (long)(s - uri));
      size_t nl = (size_t)(eq - s);
      if (nl == 0 || nl >= sizeof name) return fail(&ps, "attribute name at offset %ld is empty or too long", (long)(s - uri));
      memcpy(name, s, nl);
      name[nl] = 0;
      for (size_t i = 0; i < nl; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || name[i] == '-'))
          return fail(&ps, "attribute name at offset %ld is not lowercase letters and '-'", (long)(s - uri));
      int rc = p == PATH ? path_attr(&ps, u, name, eq + 1, n - nl - 1, &seen)
                         : query_attr(&ps, u, name, eq + 1, n - nl - 1, &seen);
      if (rc) return rc;
    }
    s += n;
    if (*s == 0) break;
    if (p == PATH && *s == '?') p = QUERY;
    s++;
    if (p == QUERY && *s == 0) return fail(&ps, "empty query at offset %ld", (long)(s - uri));
  }
  if (!(seen & SEEN(A_TOKEN))) return fail(&ps, "no token= (the token's label)");
  if (!(seen & SEEN(A_OBJECT))) return fail(&ps, "no object= (the key's label)");
  if (!(seen & SEEN(A_MODULE))) return fail(&ps, "no module-path= (the token's PKCS#11 module, e.g. %s)", "/usr/lib/softhsm/libsofthsm2.so");
  if (!(seen & SEEN(A_PIN))) return fail(&ps, "no pin-source= (file:/ABSOLUTE/PATH or credential:NAME)");
  return 0;
}
