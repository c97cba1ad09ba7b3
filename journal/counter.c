/*
 * counter.c — the file-backed anti-rollback counter store (DESIGN.md invariant 5).
 *
 * Format 2 (docs/journal.md "Counter file"): two 128-byte slots. Slot = magic "HEMSCTR2" (8) |
 * seq u64 BE (8) | head hash (32) | key id (16) | Ed25519 signature (64) by the journal's
 * signing key over "hems.counter.v2\0" (16) || the first 64 bytes of the slot. A write goes to
 * the slot not holding the highest valid seq, then fdatasync; a torn write damages at most
 * that slot, and the reader takes the valid slot with the highest seq. A slot whose signature
 * does not check against the journal's public key is damaged: without the secret key nobody
 * can write a counter that matches a cut or replaced journal. Signing goes through the
 * journal's struct journal_signer, so a token holding the key works unchanged.
 *
 * Format 3 (a counter bound to a hardware counter, counter_hw.c): two 136-byte slots, "HEMSCTR3"
 * | seq | head hash | key id | the hardware count u64 BE (8) | signature over "hems.counter.v3\0"
 * || the first 72 bytes. The valid slot with the highest (seq, count) wins. A file of one format
 * read as the other is JOURNAL_ECTRKIND: a journal made with a TPM counter is never silently
 * opened with a file alone, nor the other way round.
 *
 * Format 1 ("HEMSCTR1", 64-byte slots, an unkeyed BLAKE2b-128 checksum) is not read as a
 * counter: anyone could write one. It is reported as JOURNAL_ECTRFORMAT and replaced only by a
 * writer opened with accept_rollback, which journals the fact (docs/journal.md). The file is
 * created 0600 on first write, never through a symbolic link.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include "journal.h"
#include "store_internal.h"

#define SLOT_MAX 136
#define SIG_BYTES JOURNAL_SIG_BYTES

_Static_assert(8 + 8 + JOURNAL_HASH_BYTES + JOURNAL_KEYID_BYTES + 64 == 128, "counter slot layout (format 2)");
_Static_assert(8 + 8 + JOURNAL_HASH_BYTES + JOURNAL_KEYID_BYTES + 8 + 64 == SLOT_MAX, "counter slot layout (format 3)");

/* The slot size of c's format: 128 (format 2) or 136 (format 3, with a hardware count). */
static size_t slot_size(const struct journal_file_counter *c)
{
  return c->have_hw ? 136 : 128;
}

static void slot_message(const struct journal_file_counter *c, const uint8_t *s, uint8_t msg[16 + SLOT_MAX])
{
  size_t signed_len = slot_size(c) - SIG_BYTES;
  memset(msg, 0, 16);
  memcpy(msg, c->have_hw ? "hems.counter.v3" : "hems.counter.v2", 15);
  memcpy(msg + 16, s, signed_len);
}

static int seal_slot(const struct journal_file_counter *c, uint8_t *s, uint64_t seq, const uint8_t hash[32])
{
  size_t signed_len = slot_size(c) - SIG_BYTES;
  memcpy(s, c->have_hw ? "HEMSCTR3" : "HEMSCTR2", 8);
  journal__be64(s + 8, seq);
  memcpy(s + 16, hash, 32);
  memcpy(s + 48, c->signer->key_id, JOURNAL_KEYID_BYTES);
  if (c->have_hw) journal__be64(s + 64, c->hw_file);
  uint8_t msg[16 + SLOT_MAX];
  slot_message(c, s, msg);
  return c->signer->sign(c->signer->ctx, msg, 16 + signed_len, s + signed_len);
}

static int slot_valid(const struct journal_file_counter *c, const uint8_t *s, uint64_t *seq, uint64_t *count)
{
  size_t signed_len = slot_size(c) - SIG_BYTES;
  uint8_t msg[16 + SLOT_MAX];
  if (memcmp(s, c->have_hw ? "HEMSCTR3" : "HEMSCTR2", 8) != 0) return 0;
  if (memcmp(s + 48, c->key_id, JOURNAL_KEYID_BYTES) != 0) return 0;
  slot_message(c, s, msg);
  if (crypto_sign_verify_detached(s + signed_len, msg, 16 + signed_len, c->pubkey) != 0) return 0;
  *seq = journal__rd64(s + 8);
  *count = c->have_hw ? journal__rd64(s + 64) : 0;
  return 1;
}

/* -1 when no slot is valid; else the index of the best slot: the highest (seq, count). */
static int best_slot(const struct journal_file_counter *c, const uint8_t buf[2 * SLOT_MAX], ssize_t n, uint64_t *seq,
                     uint64_t *count)
{
  int best = -1;
  uint64_t bs = 0, bc = 0, v, k;
  size_t sz = slot_size(c);
  for (int i = 0; i < 2; i++) {
    if (n < (ssize_t)((size_t)(i + 1) * sz)) break;
    if (slot_valid(c, buf + (size_t)i * sz, &v, &k) && (best < 0 || v > bs || (v == bs && k > bc))) {
      best = i;
      bs = v;
      bc = k;
    }
  }
  *seq = bs;
  *count = bc;
  return best;
}

/* A file of the other format than c's: a journal of another counter kind. */
static bool other_kind(const struct journal_file_counter *c, const uint8_t *buf, ssize_t n)
{
  return n >= 8 && memcmp(buf, c->have_hw ? "HEMSCTR2" : "HEMSCTR3", 8) == 0;
}

/* The hardware count against the file's (count): equal, or one ahead in the file (a bump cut
 * between writing the file and incrementing, which the writer completes). */
static int hw_check(struct journal_file_counter *c, uint64_t count)
{
  uint64_t hw = 0;
  int rc = c->hw.read(c->hw.ctx, &hw);
  if (rc) return rc;
  c->hw_seen = hw;
  if (count < hw) return JOURNAL_EHWBEHIND;
  if (count > hw + 1) return JOURNAL_EHWAHEAD;
  return 0;
}

static int file_read(void *ctx, uint64_t *seq, uint8_t hash[32])
{
  struct journal_file_counter *c = ctx;
  uint8_t buf[2 * SLOT_MAX];
  int fd = open(c->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return -errno;
  /* the writer reads the counter at open: refuse there what file_write would refuse */
  struct stat st;
  if (c->signer && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1)) {
    close(fd);
    return JOURNAL_ECTRFILE;
  }
  ssize_t n = pread(fd, buf, sizeof buf, 0);
  close(fd);
  if (n < 0) return -EIO;
  if (n == 0) return -ENOENT;
  if (n >= 8 && memcmp(buf, "HEMSCTR1", 8) == 0) return JOURNAL_ECTRFORMAT;
  if (other_kind(c, buf, n)) return JOURNAL_ECTRKIND;
  if (!c->have_pubkey) return JOURNAL_ECTRKEY;
  uint64_t count;
  int b = best_slot(c, buf, n, seq, &count);
  if (b < 0) return JOURNAL_ECTRSIG;
  memcpy(hash, buf + (size_t)b * slot_size(c) + 16, 32);
  c->last_seq = *seq;
  memcpy(c->last_hash, hash, 32);
  c->hw_file = count;
  return c->have_hw ? hw_check(c, count) : 0;
}

int journal__counter_write_locked(struct journal_file_counter *c, uint64_t seq, const uint8_t hash[32])
{
  if (!c->signer) return JOURNAL_ENOKEY;
  size_t sz = slot_size(c);
  if (c->fd < 0) {
    c->fd = open(c->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
    if (c->fd < 0) return -errno;
    /* a second name (hard link) would let whoever placed it see, or have us overwrite, another
     * file: the counter is ours alone, one plain file with one link */
    struct stat st;
    if (fstat(c->fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
      close(c->fd);
      c->fd = -1;
      return JOURNAL_ECTRFILE;
    }
    uint8_t buf[2 * SLOT_MAX];
    uint64_t s, k;
    ssize_t n = pread(c->fd, buf, sizeof buf, 0);
    int b = n > 0 ? best_slot(c, buf, n, &s, &k) : -1;
    c->next_slot = b == 0 ? 1 : 0;
  }
  uint8_t slot[SLOT_MAX];
  int rc = seal_slot(c, slot, seq, hash);
  if (rc) return rc;
  if (pwrite(c->fd, slot, sz, (off_t)c->next_slot * (off_t)sz) != (ssize_t)sz) return -EIO;
  if (!c->no_sync && fdatasync(c->fd) != 0) return -errno;
  c->next_slot ^= 1;
  c->last_seq = seq;
  memcpy(c->last_hash, hash, 32);
  return 0;
}

static int file_write(void *ctx, uint64_t seq, const uint8_t hash[32])
{
  struct journal_file_counter *c = ctx;
  pthread_mutex_lock(&c->mu);
  int rc = journal__counter_write_locked(c, seq, hash);
  pthread_mutex_unlock(&c->mu);
  return rc;
}

void journal__file_counter_init(struct journal_file_counter *c, const char *path, const struct journal_signer *signer,
                                const uint8_t *pubkey)
{
  memset(c, 0, sizeof *c);
  pthread_mutex_init(&c->mu, NULL);
  snprintf(c->path, sizeof c->path, "%s", path);
  c->fd = -1;
  c->signer = signer;
  if (signer) pubkey = signer->pubkey;
  if (pubkey) {
    memcpy(c->pubkey, pubkey, JOURNAL_PUBKEY_BYTES);
    journal_key_id(c->pubkey, c->key_id);
    c->have_pubkey = true;
  }
  c->ops.read = file_read;
  c->ops.write = file_write;
  c->ops.ctx = c;
}

void journal__file_counter_init_dir(struct journal_file_counter *c, const char *dir, const char *counter_path)
{
  char cp[4200], pp[4200];
  uint8_t pk[JOURNAL_PUBKEY_BYTES];
  journal__counter_file_path(cp, sizeof cp, dir, counter_path);
  snprintf(pp, sizeof pp, "%s/keys/signing.pub", dir);
  journal__file_counter_init(c, cp, NULL, journal_pubkey_load(pp, pk) == 0 ? pk : NULL);
}

void journal__file_counter_deinit(struct journal_file_counter *c)
{
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  if (c->have_hw && c->hw.close) c->hw.close(c->hw.ctx);
  c->hw.close = NULL;
}
