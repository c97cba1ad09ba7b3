/*
 * fuzz_remote_cose.c — fuzz target for the signed remote commands the daemon takes from the
 * control socket and `hems ship` from the broker (cli/remote_cose.c), the input being the whole
 * COSE_Sign1. Properties: no crash or sanitizer report; a refused input gets one line of
 * printable ASCII; a decoded one has its parts inside the input, a 16-byte kid, claims within
 * their bounds (iss and aud printable, 1..64 bytes; exp after iat by at most a day; cti 1..32
 * bytes; seq > 0; the request 1..4096 bytes) and re-encodes to exactly the input (only the
 * deterministic encoding is accepted); and its signature does not verify under a key that did
 * not make it (the corpus' messages are signed by another).
 * The corpus (tests/fuzz/corpus/remote_cose/) holds one message per file.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "remote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
  if (!ok) abort();
}

static bool inside(const uint8_t *p, size_t n, const uint8_t *data, size_t size)
{
  return p >= data && n <= size && (size_t)(p - data) <= size - n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct remote_msg m;
  char why[160];
  memset(why, 0x55, sizeof why);
  if (remote_decode(data, size, &m, why, sizeof why)) {
    size_t n = strnlen(why, sizeof why);
    check(n > 0 && n < sizeof why);
    for (size_t i = 0; i < n; i++) check((unsigned char)why[i] >= 0x20 && (unsigned char)why[i] < 0x7f);
    return 0;
  }
  check(size <= REMOTE_MSG_MAX && m.have_kid);
  check(inside(m.prot, m.prot_len, data, size) && inside(m.payload, m.payload_len, data, size));
  check(inside((const uint8_t *)m.c.req, m.c.req_len, data, size) && m.c.req_len >= 1 && m.c.req_len <= REMOTE_REQ_MAX);
  size_t il = strlen(m.c.iss), al = strlen(m.c.aud);
  check(il >= 1 && il <= REMOTE_TEXT_MAX && al >= 1 && al <= REMOTE_TEXT_MAX);
  check(m.c.exp > m.c.iat && m.c.iat >= 0 && m.c.exp - m.c.iat <= REMOTE_MAX_TTL_S);
  check(m.c.cti_len >= 1 && m.c.cti_len <= REMOTE_CTI_MAX && m.c.seq > 0);
  /* deterministic: the parts re-encode to the very bytes */
  static uint8_t payload[REMOTE_MSG_MAX], out[REMOTE_MSG_MAX + 256];
  uint8_t prot[32];
  long pl = remote_claims_encode(&m.c, payload, sizeof payload);
  check(pl == (long)m.payload_len && !memcmp(payload, m.payload, m.payload_len));
  check(remote_protected_encode(m.kid, prot) == m.prot_len && !memcmp(prot, m.prot, m.prot_len));
  long ol = remote_sign1_encode(m.prot, m.prot_len, m.payload, m.payload_len, m.sig, out, sizeof out);
  check(ol == (long)size && !memcmp(out, data, size));
  static const uint8_t other[32] = { 0x3b, 0x6a, 0x27, 0xbc, 0xce, 0xb6, 0xa4, 0x2d, 0x62, 0xa3, 0xa8, 0xd0, 0x2a, 0x6f, 0x0d, 0x73,
                                     0x65, 0x32, 0x15, 0x77, 0x1d, 0xe2, 0x43, 0xa6, 0x3a, 0xc0, 0x48, 0xa1, 0x8b, 0x59, 0xda, 0x29 };
  check(!remote_verify(&m, other));
  return 0;
}
