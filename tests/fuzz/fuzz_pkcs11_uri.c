/*
 * fuzz_pkcs11_uri.c — fuzz target for the PKCS#11 URI parser (journal/pkcs11_uri.c), the
 * `--signer pkcs11:…` text a unit file or a command line hands in.
 * Properties: no crash or sanitizer report; a refusal always says why (one line, no newline);
 * what parses has the required parts (a token label of 1..32 bytes, an object label, an
 * absolute module path, exactly one PIN source) and, written back as a URI with every byte
 * outside the unreserved set %-escaped, parses again to exactly the same fields.
 * The corpus (tests/fuzz/corpus/pkcs11_uri/) holds text files: the RFC 7512 examples, the
 * URIs the tests and docs use, and near misses of each.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Appends name=value (bytes, %-escaped but for unreserved characters) to out. */
static void put(char *out, size_t cap, const char *sep, const char *name, const uint8_t *v, size_t n)
{
  size_t o = strlen(out);
  o += (size_t)snprintf(out + o, cap - o, "%s%s=", sep, name);
  for (size_t i = 0; i < n && o + 4 < cap; i++) {
    uint8_t c = v[i];
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                 c == '_' || c == '~' || (c == '/' && sep[0] == '&');
    if (plain) out[o++] = (char)c;
    else o += (size_t)snprintf(out + o, cap - o, "%%%02X", c);
  }
  out[o] = 0;
}

static void put_s(char *out, size_t cap, const char *sep, const char *name, const char *v)
{
  put(out, cap, sep, name, (const uint8_t *)v, strlen(v));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static char text[JOURNAL_PKCS11_URI_MAX + 2], uri[4 * JOURNAL_PKCS11_URI_MAX], why[512];
  static struct journal_pkcs11_uri u, again;
  if (size > JOURNAL_PKCS11_URI_MAX + 1) return 0;
  memcpy(text, data, size);
  text[size] = 0;
  if (journal_pkcs11_uri_parse(text, &u, why, sizeof why) != 0) {
    if (!why[0] || strchr(why, '\n')) abort();
    return 0;
  }
  size_t tl = strlen(u.token);
  if (tl == 0 || tl > 32 || !u.object[0] || u.module_path[0] != '/') abort();
  if (!u.pin_file[0] == !u.pin_credential[0]) abort();

  snprintf(uri, sizeof uri, "pkcs11:");
  put_s(uri, sizeof uri, "", "token", u.token);
  put_s(uri, sizeof uri, ";", "object", u.object);
  if (u.serial[0]) put_s(uri, sizeof uri, ";", "serial", u.serial);
  if (u.id_len) put(uri, sizeof uri, ";", "id", u.id, u.id_len);
  if (u.has_slot_id) {
    char n[32];
    snprintf(n, sizeof n, "%lu", u.slot_id);
    put_s(uri, sizeof uri, ";", "slot-id", n);
  }
  put_s(uri, sizeof uri, "?", "module-path", u.module_path);
  char src[JOURNAL_PKCS11_PATH_MAX + 16];
  if (u.pin_file[0]) snprintf(src, sizeof src, "file:%s", u.pin_file);
  else snprintf(src, sizeof src, "credential:%s", u.pin_credential);
  put_s(uri, sizeof uri, "&", "pin-source", src);
  if (strlen(uri) > JOURNAL_PKCS11_URI_MAX) return 0; /* escaping made it longer than a URI may be */
  if (journal_pkcs11_uri_parse(uri, &again, why, sizeof why) != 0) abort();
  if (memcmp(&u, &again, sizeof u) != 0) abort();
  return 0;
}
