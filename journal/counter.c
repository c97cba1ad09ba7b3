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
 * Format 1 ("HEMSCTR1", 64-byte slots, an unkeyed BLAKE2b-128 checksum) is not read as a
 * counter: anyone could write one. It is reported as JOURNAL_ECTRFORMAT and replaced only by a
 * writer opened with accept_rollback, which journals the fact (docs/journal.md). The file is
 * created 0600 on first write, never through a symbolic link.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include "journal.h"
#include "store_internal.h"

#define SLOT 128
#define SIGNED_BYTES 64
static const char COUNTER_DOMAIN[16] = "hems.counter.v2"; /* NUL-padded to 16 */

_Static_assert(8 + 8 + JOURNAL_HASH_BYTES + JOURNAL_KEYID_BYTES == SIGNED_BYTES, "counter slot layout");
_Static_assert(SIGNED_BYTES + JOURNAL_SIG_BYTES == SLOT, "counter slot size");

static void slot_message(const uint8_t s[SLOT], uint8_t msg[16 + SIGNED_BYTES])
{
  memcpy(msg, COUNTER_DOMAIN, 16);
  memcpy(msg + 16, s, SIGNED_BYTES);
}

static int seal_slot(const struct journal_signer *signer, uint8_t s[SLOT], uint64_t seq, const uint8_t hash[32])
{
  memcpy(s, "HEMSCTR2", 8);
  journal__be64(s + 8, seq);
  memcpy(s + 16, hash, 32);
  memcpy(s + 48, signer->key_id, JOURNAL_KEYID_BYTES);
  uint8_t msg[16 + SIGNED_BYTES];
  slot_message(s, msg);
  return signer->sign(signer->ctx, msg, sizeof msg, s + SIGNED_BYTES);
}

static int slot_valid(const struct journal_file_counter *c, const uint8_t s[SLOT], uint64_t *seq)
{
  uint8_t msg[16 + SIGNED_BYTES];
  if (memcmp(s, "HEMSCTR2", 8) != 0) return 0;
  if (memcmp(s + 48, c->key_id, JOURNAL_KEYID_BYTES) != 0) return 0;
  slot_message(s, msg);
  if (crypto_sign_verify_detached(s + SIGNED_BYTES, msg, sizeof msg, c->pubkey) != 0) return 0;
  *seq = journal__rd64(s + 8);
  return 1;
}

/* -1 when no slot is valid; else the index of the best slot. */
static int best_slot(const struct journal_file_counter *c, const uint8_t buf[2 * SLOT], ssize_t n, uint64_t *seq)
{
  int best = -1;
  uint64_t bs = 0, v;
  for (int i = 0; i < 2; i++) {
    if (n < (i + 1) * SLOT) break;
    if (slot_valid(c, buf + i * SLOT, &v) && (best < 0 || v > bs)) { best = i; bs = v; }
  }
  *seq = bs;
  return best;
}

static int file_read(void *ctx, uint64_t *seq, uint8_t hash[32])
{
  struct journal_file_counter *c = ctx;
  uint8_t buf[2 * SLOT];
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
  if (!c->have_pubkey) return JOURNAL_ECTRKEY;
  int b = best_slot(c, buf, n, seq);
  if (b < 0) return JOURNAL_ECTRSIG;
  memcpy(hash, buf + b * SLOT + 16, 32);
  return 0;
}

static int file_write(void *ctx, uint64_t seq, const uint8_t hash[32])
{
  struct journal_file_counter *c = ctx;
  if (!c->signer) return JOURNAL_ENOKEY;
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
    uint8_t buf[2 * SLOT];
    uint64_t s;
    ssize_t n = pread(c->fd, buf, sizeof buf, 0);
    int b = n > 0 ? best_slot(c, buf, n, &s) : -1;
    c->next_slot = b == 0 ? 1 : 0;
  }
  uint8_t slot[SLOT];
  int rc = seal_slot(c->signer, slot, seq, hash);
  if (rc) return rc;
  if (pwrite(c->fd, slot, SLOT, (off_t)c->next_slot * SLOT) != SLOT) return -EIO;
  if (!c->no_sync && fdatasync(c->fd) != 0) return -errno;
  c->next_slot ^= 1;
  return 0;
}

void journal__file_counter_init(struct journal_file_counter *c, const char *path, const struct journal_signer *signer,
                                const uint8_t *pubkey)
{
  memset(c, 0, sizeof *c);
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
  if (counter_path) snprintf(cp, sizeof cp, "%s", counter_path);
  else snprintf(cp, sizeof cp, "%s/counter", dir);
  snprintf(pp, sizeof pp, "%s/keys/signing.pub", dir);
  journal__file_counter_init(c, cp, NULL, journal_pubkey_load(pp, pk) == 0 ? pk : NULL);
}

void journal__file_counter_deinit(struct journal_file_counter *c)
{
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
}
