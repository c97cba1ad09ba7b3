/*
 * seal.c — the two kinds of seal signature, made and checked in one place.
 *
 * A seal of record schema v 1 signs journal_seal_message() (a domain and BLAKE2b-256 of the
 * seal encoded with a zero sig). A seal of v 3 is a transparency-log checkpoint: its sig is the
 * C2SP signed-note Ed25519 signature, under the key name "hems/<device id>", over the C2SP
 * tlog-checkpoint body of its tree (size = sealed_seq, root = tree_root) with the hems
 * extension lines state, head, time and "seal <hex>" — the chain hash of the seal record
 * encoded with a zero sig, which binds every other field of the seal. So the signature stored
 * in the seal is exactly the signature line of `hems checkpoint`'s note (docs/journal.md).
 * The device id is read from meta or a bundle header and is not trusted: a wrong one gives a
 * different origin, and the signature fails.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include "journal.h"

/* The hash-chain hash of the seal with its sig zeroed. */
static int seal_hash_zero_sig(const struct journal_record *seal, uint8_t out[JOURNAL_HASH_BYTES])
{
  struct journal_record z = *seal;
  memset(z.body.seal.sig, 0, JOURNAL_SIG_BYTES);
  uint8_t buf[1024];
  size_t len;
  int rc = journal_record_encode(&z, buf, sizeof buf, &len);
  if (rc) return rc;
  journal_record_hash(buf, len, out);
  return 0;
}

int journal_seal_checkpoint(const struct journal_record *seal, const char *device_id_hex, char *out, size_t cap)
{
  if (seal->type != JOURNAL_T_SEAL) return JOURNAL_EBADREC;
  const struct journal_seal *s = &seal->body.seal;
  struct journal_tlog_checkpoint c;
  struct journal_tlog_hems e;
  memset(&c, 0, sizeof c);
  memset(&e, 0, sizeof e);
  if (!device_id_hex) return JOURNAL_ENOTE;
  int rc = journal_tlog_origin(device_id_hex, c.origin, sizeof c.origin);
  if (rc < 0) return rc;
  if (s->sealed_seq == 0) return JOURNAL_ENOTE;
  c.size = s->sealed_seq;
  memcpy(c.root, s->tree_root, JOURNAL_HASH_BYTES);
  memcpy(e.state_hash, s->state_hash, JOURNAL_HASH_BYTES);
  memcpy(e.head_hash, s->head_hash, JOURNAL_HASH_BYTES);
  e.time_ns = seal->wall_ns;
  e.has_seal = true;
  if ((rc = seal_hash_zero_sig(seal, e.seal_hash))) return rc;
  if ((rc = journal_tlog_hems_format(&e, c.ext, sizeof c.ext)) < 0) return rc;
  return journal_tlog_checkpoint_format(&c, out, cap);
}

int journal_seal_sign(struct journal_record *seal, const char *device_id_hex, const struct journal_signer *s)
{
  if (seal->type != JOURNAL_T_SEAL) return JOURNAL_EBADREC;
  if (seal->version >= 3) {
    char body[JOURNAL_TLOG_BODY_MAX];
    int n = journal_seal_checkpoint(seal, device_id_hex, body, sizeof body);
    if (n < 0) return n;
    return s->sign(s->ctx, (const uint8_t *)body, (size_t)n, seal->body.seal.sig);
  }
  uint8_t msg[JOURNAL_SEAL_MESSAGE_BYTES];
  int rc = journal_seal_message(seal, msg);
  if (rc) return rc;
  return s->sign(s->ctx, msg, sizeof msg, seal->body.seal.sig);
}

int journal_seal_verify(const struct journal_record *seal, const char *device_id_hex,
                        const uint8_t pk[JOURNAL_PUBKEY_BYTES])
{
  if (seal->type != JOURNAL_T_SEAL) return JOURNAL_EBADREC;
  const uint8_t *sig = seal->body.seal.sig;
  if (seal->version >= 3) {
    char body[JOURNAL_TLOG_BODY_MAX];
    int n = journal_seal_checkpoint(seal, device_id_hex, body, sizeof body);
    if (n < 0) return JOURNAL_EBADSIG;
    return crypto_sign_verify_detached(sig, (const uint8_t *)body, (size_t)n, pk) == 0 ? 0 : JOURNAL_EBADSIG;
  }
  uint8_t msg[JOURNAL_SEAL_MESSAGE_BYTES];
  if (journal_seal_message(seal, msg) != 0) return JOURNAL_EBADSIG;
  return crypto_sign_verify_detached(sig, msg, sizeof msg, pk) == 0 ? 0 : JOURNAL_EBADSIG;
}

int journal_seal_note(const struct journal_record *seal, const char *device_id_hex,
                      const uint8_t pk[JOURNAL_PUBKEY_BYTES], char *out, size_t cap)
{
  if (seal->type != JOURNAL_T_SEAL) return JOURNAL_EBADREC;
  if (seal->version < 3) return JOURNAL_EVERSION;
  int n = journal_seal_checkpoint(seal, device_id_hex, out, cap);
  if (n < 0) return n;
  struct journal_tlog_verifier v;
  char origin[JOURNAL_TLOG_NAME_MAX + 1];
  int rc = journal_tlog_origin(device_id_hex, origin, sizeof origin);
  if (rc < 0 || (rc = journal_tlog_verifier_init(&v, origin, JOURNAL_TLOG_ED25519, pk))) return rc < 0 ? rc : JOURNAL_ENOTE;
  uint8_t raw[4 + JOURNAL_SIG_BYTES];
  raw[0] = (uint8_t)(v.key_hash >> 24); raw[1] = (uint8_t)(v.key_hash >> 16);
  raw[2] = (uint8_t)(v.key_hash >> 8); raw[3] = (uint8_t)v.key_hash;
  memcpy(raw + 4, seal->body.seal.sig, JOURNAL_SIG_BYTES);
  char b64[sodium_base64_ENCODED_LEN(sizeof raw, sodium_base64_VARIANT_ORIGINAL)];
  sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
  int m = snprintf(out + n, cap - (size_t)n, "\n\xe2\x80\x94 %s %s\n", origin, b64);
  if (m < 0 || (size_t)m >= cap - (size_t)n) return -ENOSPC;
  return n + m;
}
