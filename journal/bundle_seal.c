/*
 * bundle_seal.c — a bundle sealed to a recipient's X25519 key (hems export --encrypt-to,
 * hems decrypt; docs/journal.md "Sealed bundles"): unreadable to anyone without the
 * recipient's secret key, and after decryption exactly the bundle that was exported, which
 * verifies as any bundle does (sealing adds secrecy, not trust: the journal key's signatures
 * inside are what an auditor checks).
 *
 * Layout: the 121-byte head — "hemsseal" (8), version 1 (1), the recipient key id (8: the
 * first bytes of SHA-256 of the X25519 public key), a libsodium sealed box of the 32-byte
 * stream key (80), the crypto_secretstream_xchacha20poly1305 header (24) — then chunks, each
 * a big-endian u32 length and that many bytes of secretstream ciphertext of at most 64 KiB of
 * the bundle; the first chunk's additional data is the head (so no byte of it can change), the
 * last chunk carries TAG_FINAL and nothing follows it. A cut, reordered, dropped, repeated or
 * altered chunk fails its authentication; nothing decrypted is written out by the caller before
 * the final tag has been seen (hems decrypt writes to a temporary file it renames only then).
 */
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "journal.h"

#define SEAL_MAGIC "hemsseal"
#define SEAL_VERSION 1
#define SEAL_CHUNK 65536u
#define SEAL_ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define SEAL_BOX (crypto_secretstream_xchacha20poly1305_KEYBYTES + crypto_box_SEALBYTES)
#define SEAL_HEAD (8 + 1 + JOURNAL_SEAL_KEYID_BYTES + SEAL_BOX + crypto_secretstream_xchacha20poly1305_HEADERBYTES)

_Static_assert(SEAL_HEAD == 121, "the sealed head is 121 bytes (docs/journal.md)");

void journal_seal_keyid(const uint8_t pk[JOURNAL_SEAL_KEY_BYTES], uint8_t id[JOURNAL_SEAL_KEYID_BYTES])
{
  uint8_t h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, pk, JOURNAL_SEAL_KEY_BYTES);
  memcpy(id, h, JOURNAL_SEAL_KEYID_BYTES);
}

bool journal_is_sealed(const uint8_t *head, size_t len)
{
  return len >= 8 && !memcmp(head, SEAL_MAGIC, 8);
}

/* The buffers wiped and freed, the state wiped, out flushed: rc, or -EIO if that fails. */
static int done(FILE *out, uint8_t *plain, uint8_t *cipher, crypto_secretstream_xchacha20poly1305_state *st, int rc)
{
  if (plain) sodium_memzero(plain, SEAL_CHUNK);
  free(plain);
  free(cipher);
  sodium_memzero(st, sizeof *st);
  if (!rc && fflush(out) != 0) rc = -EIO;
  return rc;
}

static int put_chunk(FILE *out, const uint8_t *c, size_t n)
{
  uint8_t l[4] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };
  if (fwrite(l, 1, 4, out) != 4 || fwrite(c, 1, n, out) != n) return -EIO;
  return 0;
}

int journal_seal_stream(FILE *in, FILE *out, const uint8_t pk[JOURNAL_SEAL_KEY_BYTES])
{
  if (sodium_init() < 0) return -EIO;
  uint8_t key[crypto_secretstream_xchacha20poly1305_KEYBYTES], head[SEAL_HEAD];
  crypto_secretstream_xchacha20poly1305_state st;
  crypto_secretstream_xchacha20poly1305_keygen(key);
  memcpy(head, SEAL_MAGIC, 8);
  head[8] = SEAL_VERSION;
  journal_seal_keyid(pk, head + 9);
  int rc = 0;
  if (crypto_box_seal(head + 9 + JOURNAL_SEAL_KEYID_BYTES, key, sizeof key, pk) != 0) rc = JOURNAL_EBADSIG; /* not a point */
  if (!rc) crypto_secretstream_xchacha20poly1305_init_push(&st, head + 9 + JOURNAL_SEAL_KEYID_BYTES + SEAL_BOX, key);
  sodium_memzero(key, sizeof key);
  if (!rc && fwrite(head, 1, sizeof head, out) != sizeof head) rc = -EIO;
  uint8_t *plain = malloc(SEAL_CHUNK), *cipher = malloc(SEAL_CHUNK + SEAL_ABYTES);
  if (!rc && (!plain || !cipher)) rc = -ENOMEM;
  /* one chunk read ahead, so the last one is known when it is sealed */
  size_t n = rc ? 0 : fread(plain, 1, SEAL_CHUNK, in);
  bool first = true;
  while (!rc) {
    if (ferror(in)) { rc = -EIO; break; }
    uint8_t *next = malloc(SEAL_CHUNK);
    if (!next) { rc = -ENOMEM; break; }
    size_t m = n == SEAL_CHUNK ? fread(next, 1, SEAL_CHUNK, in) : 0;
    if (ferror(in)) { free(next); rc = -EIO; break; }
    uint8_t tag = m ? 0 : crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    unsigned long long cl;
    crypto_secretstream_xchacha20poly1305_push(&st, cipher, &cl, plain, n, first ? head : NULL, first ? sizeof head : 0, tag);
    first = false;
    rc = put_chunk(out, cipher, (size_t)cl);
    sodium_memzero(plain, SEAL_CHUNK);
    free(plain);
    plain = next;
    n = m;
    if (tag) break;
  }
  return done(out, plain, cipher, &st, rc);
}

__attribute__((format(printf, 4, 5))) static int fail(char *why, size_t cap, int rc, const char *fmt, ...)
{
  if (cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
  }
  return rc;
}

int journal_unseal_stream(FILE *in, FILE *out, const uint8_t pk[JOURNAL_SEAL_KEY_BYTES],
                          const uint8_t sk[JOURNAL_SEAL_KEY_BYTES], char *why, size_t why_cap)
{
  if (sodium_init() < 0) return -EIO;
  uint8_t head[SEAL_HEAD], id[JOURNAL_SEAL_KEYID_BYTES], key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
  size_t got = fread(head, 1, sizeof head, in);
  if (ferror(in)) return fail(why, why_cap, -EIO, "read error at byte %zu", got);
  if (!journal_is_sealed(head, got)) return fail(why, why_cap, JOURNAL_EBUNDLE, "not a sealed bundle (bad magic)");
  if (got < 9 || head[8] != SEAL_VERSION)
    return fail(why, why_cap, JOURNAL_EVERSION, "sealed bundle version %u not supported (this hems reads version 1)", got < 9 ? 0u : head[8]);
  if (got != sizeof head) return fail(why, why_cap, JOURNAL_ETRUNC, "sealed head cut short at byte %zu", got);
  journal_seal_keyid(pk, id);
  if (memcmp(id, head + 9, sizeof id)) return fail(why, why_cap, JOURNAL_EBADSIG, "sealed to another recipient key");
  if (crypto_box_seal_open(key, head + 9 + JOURNAL_SEAL_KEYID_BYTES, SEAL_BOX, pk, sk) != 0)
    return fail(why, why_cap, JOURNAL_EBADSIG, "the sealed stream key does not open with this key (damaged at bytes 17..96)");
  crypto_secretstream_xchacha20poly1305_state st;
  int rc = 0;
  if (crypto_secretstream_xchacha20poly1305_init_pull(&st, head + 9 + JOURNAL_SEAL_KEYID_BYTES + SEAL_BOX, key) != 0)
    rc = fail(why, why_cap, JOURNAL_EBADSIG, "the stream header is invalid (bytes 97..120)");
  sodium_memzero(key, sizeof key);
  uint8_t *plain = malloc(SEAL_CHUNK), *cipher = malloc(SEAL_CHUNK + SEAL_ABYTES);
  if (!rc && (!plain || !cipher)) rc = -ENOMEM;
  unsigned long long off = sizeof head;
  bool first = true, final = false;
  while (!rc && !final) {
    uint8_t l[4];
    size_t r = fread(l, 1, 4, in);
    if (r != 4) { rc = fail(why, why_cap, ferror(in) ? -EIO : JOURNAL_ETRUNC, "cut short at byte %llu (no final chunk)", off + r); break; }
    size_t n = (size_t)l[0] << 24 | (size_t)l[1] << 16 | (size_t)l[2] << 8 | l[3];
    if (n < SEAL_ABYTES || n > SEAL_CHUNK + SEAL_ABYTES) { rc = fail(why, why_cap, JOURNAL_EBUNDLE, "chunk length implausible at byte %llu", off); break; }
    if (fread(cipher, 1, n, in) != n) { rc = fail(why, why_cap, ferror(in) ? -EIO : JOURNAL_ETRUNC, "chunk at byte %llu cut short", off); break; }
    unsigned long long pl;
    uint8_t tag;
    if (crypto_secretstream_xchacha20poly1305_pull(&st, plain, &pl, &tag, cipher, n, first ? head : NULL, first ? sizeof head : 0) != 0) {
      rc = fail(why, why_cap, JOURNAL_EBADSIG, "damaged: the chunk at byte %llu does not authenticate", off);
      break;
    }
    first = false;
    if (tag != 0 && tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL) { rc = fail(why, why_cap, JOURNAL_EBUNDLE, "unexpected chunk tag at byte %llu", off); break; }
    final = tag != 0;
    if (pl && fwrite(plain, 1, (size_t)pl, out) != pl) { rc = -EIO; if (why_cap) snprintf(why, why_cap, "write error"); break; }
    off += 4 + n;
  }
  if (!rc && fgetc(in) != EOF) rc = fail(why, why_cap, JOURNAL_EBUNDLE, "bytes after the final chunk at byte %llu", off);
  return done(out, plain, cipher, &st, rc);
}
