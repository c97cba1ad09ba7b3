/*
 * blake2b_internal.h — private to journal/ (and its tests): unkeyed BLAKE2b (RFC 7693),
 * blake2b.c. Digest lengths 1..64 bytes; the output equals libsodium's crypto_generichash
 * with no key.
 */
#ifndef HEMS_JOURNAL_BLAKE2B_INTERNAL_H
#define HEMS_JOURNAL_BLAKE2B_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define JOURNAL__B2B_BLOCK 128
struct journal__b2b {
  uint64_t h[8], t[2];
  uint8_t buf[JOURNAL__B2B_BLOCK];
  size_t n;      /* bytes in buf */
  size_t outlen;
};

void journal__b2b_init(struct journal__b2b *s, size_t outlen);
void journal__b2b_update(struct journal__b2b *s, const uint8_t *p, size_t len);
void journal__b2b_final(struct journal__b2b *s, uint8_t *out);

#endif
