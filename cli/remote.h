/*
 * remote.h — private to cli/: signed remote commands (docs/fleet.md "Remote commands").
 *
 * A command is a COSE_Sign1 (RFC 9052, tag 18) signed with Ed25519: protected header
 * {1: -8 (EdDSA), 4: kid}, kid = the issuer key's id (journal_key_id: the first 16 bytes of
 * BLAKE2b-256 of the public key), an empty unprotected header, and a payload that is a CWT
 * claims map (RFC 8392) in deterministic CBOR: 1 iss (text), 3 aud (the device id, text),
 * 4 exp, 6 iat (seconds since the Unix epoch), 7 cti (bytes), and two private claims:
 * -65537 the issuer's seq (uint, above the last one the panel accepted from that issuer) and
 * -65538 the request (text: one control-socket request line, a JSON object).
 *
 * remote_cose.c encodes and decodes the bytes (untrusted: bounded, every length checked, only
 * the deterministic encoding accepted) and builds the Sig_structure; remote_accept.c is the
 * daemon's decision; cmd_remote.c the CLI (`hems remote sign|apply|keygen`).
 */
#ifndef HEMS_CLI_REMOTE_H
#define HEMS_CLI_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REMOTE_MSG_MAX 8192      /* bytes of a whole COSE_Sign1 */
#define REMOTE_REQ_MAX 4096      /* bytes of the request claim */
#define REMOTE_TEXT_MAX 64       /* bytes of iss and aud */
#define REMOTE_CTI_MAX 32        /* bytes of cti (1..32; `hems remote sign` draws 16) */
#define REMOTE_KID_BYTES 16
#define REMOTE_SIG_BYTES 64
#define REMOTE_MAX_TTL_S 86400   /* exp - iat at most one day */
#define REMOTE_CLAIM_SEQ (-65537)
#define REMOTE_CLAIM_REQ (-65538)

struct remote_claims {
  char iss[REMOTE_TEXT_MAX + 1];
  char aud[REMOTE_TEXT_MAX + 1];
  int64_t exp, iat;
  uint8_t cti[REMOTE_CTI_MAX];
  size_t cti_len;
  uint64_t seq;
  const char *req;           /* the request text (not NUL-terminated): points into the decoded bytes */
  size_t req_len;
};

struct remote_msg {
  uint8_t kid[REMOTE_KID_BYTES];
  bool have_kid;             /* set as soon as the protected header decoded (for the refusal's source) */
  const uint8_t *prot, *payload; /* into the decoded bytes */
  size_t prot_len, payload_len;
  uint8_t sig[REMOTE_SIG_BYTES];
  struct remote_claims c;
};

/* Encodes the claims as the payload (deterministic CBOR): the length, or -1 when cap is short. */
long remote_claims_encode(const struct remote_claims *c, uint8_t *buf, size_t cap);
/* The protected header {1: -8, 4: kid}: its length (always 21). */
size_t remote_protected_encode(const uint8_t kid[REMOTE_KID_BYTES], uint8_t out[32]);
/* Sig_structure ["Signature1", protected, h'', payload] (RFC 9052 §4.4): its length, or -1. */
long remote_sig_structure(const uint8_t *prot, size_t prot_len, const uint8_t *payload, size_t payload_len, uint8_t *buf,
                          size_t cap);
/* The whole COSE_Sign1 (tag 18): its length, or -1. */
long remote_sign1_encode(const uint8_t *prot, size_t prot_len, const uint8_t *payload, size_t payload_len,
                         const uint8_t sig[REMOTE_SIG_BYTES], uint8_t *buf, size_t cap);
/* Decodes untrusted bytes: 0, or -1 with why (one phrase). Nothing is verified here but the
 * shape: call remote_verify with the issuer's key. */
int remote_decode(const uint8_t *buf, size_t len, struct remote_msg *m, char *why, size_t why_cap);
/* Whether m's signature verifies under pk (Ed25519 over its Sig_structure). */
bool remote_verify(const struct remote_msg *m, const uint8_t pk[32]);

#endif
