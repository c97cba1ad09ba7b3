/*
 * test_pkcs11_uri.c — the `--signer` URI parser (journal/pkcs11_uri.c) against RFC 7512: the
 * decoded values of the RFC's own examples (§3: "The Software PKCS#11 Softtoken", the id bytes
 * 69 95 3e 5c f4 bd ec 91), its grammar's character sets per part, and the strictness hems
 * adds (required attributes, no pin-value, no attribute twice, no unknown attribute, absolute
 * paths), each refusal naming what is wrong in one line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "journal.h"

static struct journal_pkcs11_uri u;
static char why[512];

#define Q "?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/hems/pin"

static void test_minimal(void **state)
{
  (void)state;
  assert_int_equal(journal_pkcs11_uri_parse("pkcs11:token=hems;object=journal" Q, &u, why, sizeof why), 0);
  assert_string_equal(u.token, "hems");
  assert_string_equal(u.object, "journal");
  assert_string_equal(u.module_path, "/usr/lib/softhsm/libsofthsm2.so");
  assert_string_equal(u.pin_file, "/etc/hems/pin");
  assert_string_equal(u.pin_credential, "");
  assert_int_equal(u.id_len, 0);
  assert_false(u.has_slot_id);
  /* attributes in any order, in both parts; the scheme is case-insensitive (RFC 3986 §3.1) */
  assert_int_equal(journal_pkcs11_uri_parse("PKCS11:object=journal;token=hems?pin-source=file:/etc/hems/pin"
                                            "&module-path=/usr/lib/softhsm/libsofthsm2.so", &u, why, sizeof why), 0);
  assert_string_equal(u.token, "hems");
  assert_string_equal(u.pin_file, "/etc/hems/pin");
}

/* RFC 7512 §3, the example with a token label, type and id (plus what hems requires). */
static void test_rfc_example_decoding(void **state)
{
  (void)state;
  const char *s = "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;object=my-certificate;type=private;"
                  "id=%69%95%3E%5C%F4%BD%EC%91;serial=" Q;
  /* serial= is empty in the RFC's example: an empty value is refused here */
  assert_int_equal(journal_pkcs11_uri_parse(s, &u, why, sizeof why), JOURNAL_EURI);
  assert_string_equal(why, "serial: empty value");
  s = "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;object=my-certificate;type=private;"
      "id=%69%95%3E%5C%F4%BD%EC%91;serial=0123456789abcdef;slot-id=1733958264" Q;
  assert_int_equal(journal_pkcs11_uri_parse(s, &u, why, sizeof why), 0);
  assert_string_equal(u.token, "The Software PKCS#11 Softtoken");
  static const uint8_t id[] = { 0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91 };
  assert_int_equal(u.id_len, sizeof id);
  assert_memory_equal(u.id, id, sizeof id);
  assert_string_equal(u.serial, "0123456789abcdef");
  assert_true(u.has_slot_id);
  assert_int_equal(u.slot_id, 1733958264ul);
  /* '&' is a value character in the path (RFC 7512 pk11-path-res-avail), '/' and '?' in the query */
  assert_int_equal(journal_pkcs11_uri_parse("pkcs11:token=A&B;object=x?module-path=/a/b?c|d.so&pin-source=file:/p",
                                            &u, why, sizeof why), 0);
  assert_string_equal(u.token, "A&B");
  assert_string_equal(u.module_path, "/a/b?c|d.so");
}

static void test_pin_sources(void **state)
{
  (void)state;
  assert_int_equal(journal_pkcs11_uri_parse("pkcs11:token=t;object=o?module-path=/m.so&pin-source=file:///etc/pin", &u, why,
                                            sizeof why), 0);
  assert_string_equal(u.pin_file, "/etc/pin");
  assert_int_equal(journal_pkcs11_uri_parse("pkcs11:token=t;object=o?module-path=/m.so&pin-source=credential:hems-token-pin",
                                            &u, why, sizeof why), 0);
  assert_string_equal(u.pin_credential, "hems-token-pin");
  assert_string_equal(u.pin_file, "");
}

struct bad { const char *uri, *why; };

static void test_refusals(void **state)
{
  (void)state;
  static const struct bad cases[] = {
    { "file", "not a pkcs11: URI" },
    { "pkcs11:", "no token= (the token's label)" },
    { "pkcs11:token=hems" Q, "no object= (the key's label)" },
    { "pkcs11:token=hems;object=j?pin-source=file:/p", "no module-path= (the token's PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so)" },
    { "pkcs11:token=hems;object=j?module-path=/m.so", "no pin-source= (file:/ABSOLUTE/PATH or credential:NAME)" },
    { "pkcs11:token=hems;object=j?module-path=/m.so&pin-value=1234",
      "pin-value: refused: a PIN never comes on the command line; use pin-source=file:PATH" },
    { "pkcs11:token=hems;object=j?module-name=softhsm2&pin-source=file:/p",
      "module-name: not supported; give module-path=/ABSOLUTE/PATH/OF/THE/MODULE.so" },
    { "pkcs11:token=hems;object=j;token=x" Q, "'token' given twice" },
    { "pkcs11:token=hems;object=j;manufacturer=x" Q,
      "path attribute 'manufacturer' is not one hems reads (token, object, type, id, serial, slot-id)" },
    { "pkcs11:token=hems;object=j?module-path=/m.so&pin-source=file:/p&x-foo=1",
      "query attribute 'x-foo' is not one hems reads (module-path, pin-source)" },
    { "pkcs11:token=hems;object=j;type=public" Q, "type: 'public' (the signing key is type=private)" },
    { "pkcs11:token=hems;object=jour nal" Q, "character 0x20 at offset 29 is not allowed there (escape it as %HH)" },
    { "pkcs11:token=hems;object=a/b" Q, "character '/' at offset 26 is not allowed there (escape it as %HH)" },
    { "pkcs11:token=hems;object=j?module-path=/m;x.so&pin-source=file:/p",
      "character ';' at offset 41 is not allowed there (escape it as %HH)" },
    { "pkcs11:token=hems;object=j%4" Q, "object: '%' at offset 26 is not followed by two hex digits" },
    { "pkcs11:token=hems;object=j%zz" Q, "object: '%' at offset 26 is not followed by two hex digits" },
    { "pkcs11:token=he%00ms;object=j" Q, "token: %00 (a NUL byte) at offset 15" },
    { "pkcs11:token=123456789012345678901234567890123;object=j" Q, "token: longer than 32 bytes" },
    { "pkcs11:token=hems;object=j;" Q, "empty attribute at offset 27" },
    { "pkcs11:token=hems;object" Q, "attribute at offset 18 has no '='" },
    { "pkcs11:token=hems;Object=j" Q, "attribute name at offset 18 is not lowercase letters and '-'" },
    { "pkcs11:token=hems;object=" Q, "object: empty value" },
    { "pkcs11:token=hems;object=j?", "empty query at offset 27" },
    { "pkcs11:token=hems;object=j;slot-id=4294967296x" Q, "slot-id: '4294967296x' is not a decimal number" },
    { "pkcs11:token=hems;object=j;slot-id=99999999999999999999999" Q, "slot-id: '99999999999999999999999' is too large" },
    { "pkcs11:token=hems;object=j?module-path=m.so&pin-source=file:/p", "module-path: 'm.so' is not an absolute path" },
    { "pkcs11:token=hems;object=j?module-path=/m.so&pin-source=file:pin",
      "pin-source: 'file:pin' is not an absolute path (file:/ABSOLUTE/PATH)" },
    { "pkcs11:token=hems;object=j?module-path=/m.so&pin-source=file://host/pin",
      "pin-source: 'file://host/pin' names a host; give file:/ABSOLUTE/PATH" },
    { "pkcs11:token=hems;object=j?module-path=/m.so&pin-source=credential:../pin",
      "pin-source: 'credential:../pin' is not a credential name (credential:NAME, no '/')" },
    { "pkcs11:token=hems;object=j?module-path=/m.so&pin-source=https://pin",
      "pin-source: 'https://pin' is neither file:/ABSOLUTE/PATH nor credential:NAME" },
    { "pkcs11:token=hems;object=j;type=%0a" Q, "type: '\\x0a' (the signing key is type=private)" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    why[0] = 0;
    int rc = journal_pkcs11_uri_parse(cases[i].uri, &u, why, sizeof why);
    if (rc != JOURNAL_EURI || strcmp(why, cases[i].why) != 0)
      fail_msg("%s\n  got %d '%s'\n  want '%s'", cases[i].uri, rc, why, cases[i].why);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_minimal),
    cmocka_unit_test(test_rfc_example_decoding),
    cmocka_unit_test(test_pin_sources),
    cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
