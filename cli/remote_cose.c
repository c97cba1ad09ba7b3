/*
 * remote_cose.c — the bytes of a signed remote command (remote.h): deterministic CBOR written,
 * untrusted CBOR read (definite lengths, shortest heads, the claims in canonical key order and
 * nothing else), the COSE Sig_structure, Ed25519 verification.
 */
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include "remote.h"

/* ---------------------------------------------------------------- writing */

struct wr { uint8_t *p; size_t n, cap; bool bad; };

static void put(struct wr *w, const void *b, size_t n)
{
  if (w->bad || n > w->cap - w->n) { w->bad = true; return; }
  memcpy(w->p + w->n, b, n);
  w->n += n;
}

static void head(struct wr *w, unsigned major, uint64_t v)
{
  uint8_t b[9];
  size_t n;
  if (v < 24) { b[0] = (uint8_t)(major << 5 | v); n = 1; }
  else if (v <= 0xff) { b[0] = (uint8_t)(major << 5 | 24); b[1] = (uint8_t)v; n = 2; }
  else if (v <= 0xffff) { b[0] = (uint8_t)(major << 5 | 25); b[1] = (uint8_t)(v >> 8); b[2] = (uint8_t)v; n = 3; }
  else if (v <= 0xffffffffu) {
    b[0] = (uint8_t)(major << 5 | 26);
    for (int i = 0; i < 4; i++) b[1 + i] = (uint8_t)(v >> (24 - 8 * i));
    n = 5;
  } else {
    b[0] = (uint8_t)(major << 5 | 27);
    for (int i = 0; i < 8; i++) b[1 + i] = (uint8_t)(v >> (56 - 8 * i));
    n = 9;
  }
  put(w, b, n);
}

static void int_(struct wr *w, int64_t v) { if (v >= 0) head(w, 0, (uint64_t)v); else head(w, 1, (uint64_t)(-1 - v)); }
static void bstr(struct wr *w, const void *b, size_t n) { head(w, 2, n); put(w, b, n); }
static void tstr(struct wr *w, const char *s, size_t n) { head(w, 3, n); put(w, s, n); }

long remote_claims_encode(const struct remote_claims *c, uint8_t *buf, size_t cap)
{
  struct wr w = { buf, 0, cap, false };
  head(&w, 5, 7); /* keys in deterministic order: 1, 3, 4, 6, 7, then the negative ones */
  int_(&w, 1); tstr(&w, c->iss, strlen(c->iss));
  int_(&w, 3); tstr(&w, c->aud, strlen(c->aud));
  int_(&w, 4); int_(&w, c->exp);
  int_(&w, 6); int_(&w, c->iat);
  int_(&w, 7); bstr(&w, c->cti, c->cti_len);
  int_(&w, REMOTE_CLAIM_SEQ); head(&w, 0, c->seq);
  int_(&w, REMOTE_CLAIM_REQ); tstr(&w, c->req, c->req_len);
  return w.bad ? -1 : (long)w.n;
}

size_t remote_protected_encode(const uint8_t kid[REMOTE_KID_BYTES], uint8_t out[32])
{
  struct wr w = { out, 0, 32, false };
  head(&w, 5, 2);
  int_(&w, 1); int_(&w, -8); /* alg: EdDSA */
  int_(&w, 4); bstr(&w, kid, REMOTE_KID_BYTES);
  return w.n;
}

long remote_sig_structure(const uint8_t *prot, size_t prot_len, const uint8_t *payload, size_t payload_len, uint8_t *buf,
                          size_t cap)
{
  struct wr w = { buf, 0, cap, false };
  head(&w, 4, 4);
  tstr(&w, "Signature1", 10);
  bstr(&w, prot, prot_len);
  bstr(&w, "", 0); /* external_aad */
  bstr(&w, payload, payload_len);
  return w.bad ? -1 : (long)w.n;
}

long remote_sign1_encode(const uint8_t *prot, size_t prot_len, const uint8_t *payload, size_t payload_len,
                         const uint8_t sig[REMOTE_SIG_BYTES], uint8_t *buf, size_t cap)
{
  struct wr w = { buf, 0, cap, false };
  head(&w, 6, 18); /* COSE_Sign1 tag */
  head(&w, 4, 4);
  bstr(&w, prot, prot_len);
  head(&w, 5, 0);
  bstr(&w, payload, payload_len);
  bstr(&w, sig, REMOTE_SIG_BYTES);
  return w.bad ? -1 : (long)w.n;
}

/* ---------------------------------------------------------------- reading */

struct rd { const uint8_t *p, *end; };

/* One head: its major type and value; -1 for an indefinite length, a reserved or simple/float
 * value, a head longer than needed, or the end of the bytes. */
static int get_head(struct rd *r, unsigned *major, uint64_t *v)
{
  if (r->p >= r->end) return -1;
  uint8_t b = *r->p++;
  unsigned ai = b & 31;
  *major = b >> 5;
  if (*major == 7) return -1;
  if (ai < 24) { *v = ai; return 0; }
  if (ai > 27) return -1;
  size_t n = (size_t)1 << (ai - 24);
  if ((size_t)(r->end - r->p) < n) return -1;
  uint64_t x = 0;
  for (size_t i = 0; i < n; i++) x = x << 8 | r->p[i];
  r->p += n;
  /* deterministic: the shortest head */
  if ((ai == 24 && x < 24) || (ai == 25 && x <= 0xff) || (ai == 26 && x <= 0xffff) || (ai == 27 && x <= 0xffffffffu))
    return -1;
  *v = x;
  return 0;
}

static int get_int(struct rd *r, int64_t *out)
{
  unsigned mj;
  uint64_t v;
  if (get_head(r, &mj, &v) || mj > 1 || v > INT64_MAX) return -1;
  *out = mj == 0 ? (int64_t)v : -1 - (int64_t)v;
  return 0;
}

/* A byte (major 2) or text (major 3) string of at most max bytes: pointer into the input. */
static int get_str(struct rd *r, unsigned want, size_t max, const uint8_t **s, size_t *n)
{
  unsigned mj;
  uint64_t v;
  if (get_head(r, &mj, &v) || mj != want || v > max || v > (uint64_t)(r->end - r->p)) return -1;
  *s = r->p;
  *n = (size_t)v;
  r->p += v;
  return 0;
}

static bool printable(const uint8_t *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (s[i] < 0x21 || s[i] > 0x7e) return false;
  return n > 0;
}

#define FAIL(msg) do { snprintf(why, why_cap, "%s", msg); return -1; } while (0)

static int decode_protected(struct remote_msg *m, char *why, size_t why_cap)
{
  struct rd r = { m->prot, m->prot + m->prot_len };
  unsigned mj;
  uint64_t v;
  int64_t k, alg;
  const uint8_t *kid;
  size_t kl;
  if (get_head(&r, &mj, &v) || mj != 5 || v != 2) FAIL("the protected header is not a map of alg and kid");
  if (get_int(&r, &k) || k != 1 || get_int(&r, &alg)) FAIL("the protected header has no alg (key 1) first");
  if (alg != -8) FAIL("alg is not EdDSA (-8)");
  if (get_int(&r, &k) || k != 4 || get_str(&r, 2, REMOTE_KID_BYTES, &kid, &kl) || kl != REMOTE_KID_BYTES)
    FAIL("the protected header has no 16-byte kid (key 4)");
  if (r.p != r.end) FAIL("bytes after the protected header");
  memcpy(m->kid, kid, REMOTE_KID_BYTES);
  m->have_kid = true;
  return 0;
}

static int decode_claims(struct remote_msg *m, char *why, size_t why_cap)
{
  struct rd r = { m->payload, m->payload + m->payload_len };
  struct remote_claims *c = &m->c;
  unsigned mj;
  uint64_t v;
  int64_t k;
  const uint8_t *s;
  size_t n;
  if (get_head(&r, &mj, &v) || mj != 5 || v != 7) FAIL("the payload is not a claims map of the 7 claims iss, aud, exp, iat, cti, seq, request");
  if (get_int(&r, &k) || k != 1 || get_str(&r, 3, REMOTE_TEXT_MAX, &s, &n) || !printable(s, n))
    FAIL("claim 1 (iss) is not printable text of 1..64 bytes in its place");
  memcpy(c->iss, s, n);
  c->iss[n] = 0;
  if (get_int(&r, &k) || k != 3 || get_str(&r, 3, REMOTE_TEXT_MAX, &s, &n) || !printable(s, n))
    FAIL("claim 3 (aud) is not printable text of 1..64 bytes in its place");
  memcpy(c->aud, s, n);
  c->aud[n] = 0;
  if (get_int(&r, &k) || k != 4 || get_int(&r, &c->exp) || c->exp < 0) FAIL("claim 4 (exp) is not a time in its place");
  if (get_int(&r, &k) || k != 6 || get_int(&r, &c->iat) || c->iat < 0) FAIL("claim 6 (iat) is not a time in its place");
  if (c->exp <= c->iat || c->exp - c->iat > REMOTE_MAX_TTL_S) FAIL("exp is not after iat by at most one day");
  if (get_int(&r, &k) || k != 7 || get_str(&r, 2, REMOTE_CTI_MAX, &s, &n) || n == 0)
    FAIL("claim 7 (cti) is not 1..32 bytes in its place");
  memcpy(c->cti, s, n);
  c->cti_len = n;
  if (get_int(&r, &k) || k != REMOTE_CLAIM_SEQ || get_head(&r, &mj, &c->seq) || mj != 0 || c->seq == 0 || c->seq > INT64_MAX)
    FAIL("claim -65537 (seq) is not a positive integer in its place");
  if (get_int(&r, &k) || k != REMOTE_CLAIM_REQ || get_str(&r, 3, REMOTE_REQ_MAX, &s, &n) || n == 0)
    FAIL("claim -65538 (request) is not text of 1..4096 bytes in its place");
  c->req = (const char *)s;
  c->req_len = n;
  if (r.p != r.end) FAIL("bytes after the claims map");
  return 0;
}

int remote_decode(const uint8_t *buf, size_t len, struct remote_msg *m, char *why, size_t why_cap)
{
  memset(m, 0, sizeof *m);
  if (len > REMOTE_MSG_MAX) FAIL("longer than 8192 bytes");
  struct rd r = { buf, buf + len };
  unsigned mj;
  uint64_t v;
  const uint8_t *s;
  size_t n;
  if (get_head(&r, &mj, &v) || mj != 6 || v != 18) FAIL("not a tagged COSE_Sign1 (tag 18)");
  if (get_head(&r, &mj, &v) || mj != 4 || v != 4) FAIL("COSE_Sign1 is not an array of 4");
  if (get_str(&r, 2, 64, &m->prot, &m->prot_len)) FAIL("the protected header is not a byte string of at most 64 bytes");
  if (get_head(&r, &mj, &v) || mj != 5 || v != 0) FAIL("the unprotected header is not empty");
  if (get_str(&r, 2, REMOTE_MSG_MAX, &m->payload, &m->payload_len)) FAIL("the payload is not a byte string");
  if (get_str(&r, 2, REMOTE_SIG_BYTES, &s, &n) || n != REMOTE_SIG_BYTES) FAIL("the signature is not 64 bytes");
  memcpy(m->sig, s, REMOTE_SIG_BYTES);
  if (r.p != r.end) FAIL("bytes after the COSE_Sign1");
  if (decode_protected(m, why, why_cap)) return -1;
  return decode_claims(m, why, why_cap);
}

bool remote_verify(const struct remote_msg *m, const uint8_t pk[32])
{
  uint8_t buf[REMOTE_MSG_MAX + 128];
  long n = remote_sig_structure(m->prot, m->prot_len, m->payload, m->payload_len, buf, sizeof buf);
  return n > 0 && crypto_sign_verify_detached(m->sig, buf, (unsigned long long)n, pk) == 0;
}
