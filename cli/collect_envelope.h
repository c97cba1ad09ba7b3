/*
 * collect_envelope.h — the batch envelope `hems ship` publishes (ship.h, docs/fleet.md "Batch
 * envelope") as the head-end reads it: outside input, decoded with every size bounded before
 * anything is allocated or decompressed (fuzz target tests/fuzz/fuzz_collect_envelope.c).
 */
#ifndef HEMS_CLI_COLLECT_ENVELOPE_H
#define HEMS_CLI_COLLECT_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COLLECT_ENVELOPE_MAX (8u << 20)   /* a message larger than this is refused unread */
#define COLLECT_RAW_MAX (64u << 20)       /* decompressed records at most (a seal group's bound) */
#define COLLECT_RECORDS_MAX (1u << 20)    /* records in one batch at most */
#define COLLECT_RECORD_MAX (16u << 20)    /* one record's bytes at most */

#define COLLECT_BOX_KEY_BYTES 32
#define COLLECT_BOX_KEYID_BYTES 8

struct collect_envelope {
  unsigned version;    /* 1, or 2 (withheld records) */
  uint8_t device[16];
  uint64_t first, count;
  unsigned kind;       /* 0 live, 1 backfill */
  /* key 5's bytes in the decoded buffer (the zstd frame, or sealed: the box) until the records are decoded */
  bool sealed;
  const uint8_t *box;
  size_t box_len;
  uint8_t key_id[COLLECT_BOX_KEYID_BYTES];
  uint8_t *raw;        /* the decompressed CBOR sequence (malloc'd, owned) */
  size_t raw_len;
  size_t *off, *len;   /* record i is raw[off[i] .. off[i] + len[i]) (malloc'd, count each) */
  bool *held;          /* held[i]: record i is withheld, raw[off[i]..] its 32-byte leaf hash */
};

/* Decodes and checks an envelope: exactly the map {0: 1|2, 1: bstr(16), 2: first ≥ 1, 3: 1 ≤
 * count ≤ COLLECT_RECORDS_MAX, 4: 0|1, 5: bstr} in canonical form with nothing after it, a single
 * zstd frame that states its content size (≤ COLLECT_RAW_MAX) and decompresses to exactly that,
 * and a CBOR sequence of exactly count elements: definite byte strings (a record) and, in
 * version 2 only and at least one, [bstr(32)] (a withheld record's leaf hash). Sealed: the map
 * has a 7th entry, 6: bstr(8) the recipient key id, and 5 is a crypto_box_seal of the frame;
 * then only the head is decoded (sealed true, box into buf): collect_envelope_open does the
 * rest. 0, or -1 with why (static text). */
int collect_envelope_decode(const uint8_t *buf, size_t len, struct collect_envelope *out, const char **why);
/* collect_envelope_decode in two steps, so that a batch can be put aside on its head alone
 * (nothing decompressed or opened): the map only (box, box_len: the frame, or the sealed box,
 * in buf), then the frame of an unsealed envelope (a sealed one: collect_envelope_open). 0, or
 * -1 with why; after a failed _records, collect_envelope_free still goes. */
int collect_envelope_decode_head(const uint8_t *buf, size_t len, struct collect_envelope *out, const char **why);
int collect_envelope_decode_records(struct collect_envelope *e, const char **why);
/* A sealed envelope opened with the recipient's key pair (key id checked first) and its frame
 * decoded as above: 0, or -1 with why (e->sealed stays true: nothing decoded). */
int collect_envelope_open(struct collect_envelope *e, const uint8_t pk[COLLECT_BOX_KEY_BYTES],
                          const uint8_t sk[COLLECT_BOX_KEY_BYTES], const char **why);
void collect_envelope_free(struct collect_envelope *e);

#endif
