/*
 * counter.c — the file-backed anti-rollback counter store (DESIGN.md invariant 5).
 *
 * Format: two 64-byte slots. Slot = magic "HEMSCTR1" (8) | seq u64 BE (8) | head hash (32) |
 * BLAKE2b-128 over the previous 48 bytes (16). A write goes to the slot not holding the
 * highest valid seq, then fdatasync; a torn write damages at most that slot, and the reader
 * takes the valid slot with the highest seq. The file is created 0600 on first write.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "journal.h"
#include "store_internal.h"

#define SLOT 64

static void seal_slot(uint8_t s[SLOT], uint64_t seq, const uint8_t hash[32])
{
  memcpy(s, "HEMSCTR1", 8);
  for (int i = 0; i < 8; i++) s[8 + i] = (uint8_t)(seq >> (56 - 8 * i));
  memcpy(s + 16, hash, 32);
  crypto_generichash(s + 48, 16, s, 48, NULL, 0);
}

static int slot_valid(const uint8_t s[SLOT], uint64_t *seq)
{
  uint8_t mac[16];
  if (memcmp(s, "HEMSCTR1", 8) != 0) return 0;
  crypto_generichash(mac, 16, s, 48, NULL, 0);
  if (sodium_memcmp(mac, s + 48, 16) != 0) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | s[8 + i];
  *seq = v;
  return 1;
}

/* -1 when no slot is valid; else the index of the best slot. */
static int best_slot(const uint8_t buf[2 * SLOT], ssize_t n, uint64_t *seq)
{
  int best = -1;
  uint64_t bs = 0, v;
  for (int i = 0; i < 2; i++) {
    if (n < (i + 1) * SLOT) break;
    if (slot_valid(buf + i * SLOT, &v) && (best < 0 || v > bs)) { best = i; bs = v; }
  }
  *seq = bs;
  return best;
}

static int file_read(void *ctx, uint64_t *seq, uint8_t hash[32])
{
  struct journal_file_counter *c = ctx;
  uint8_t buf[2 * SLOT];
  int fd = open(c->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t n = pread(fd, buf, sizeof buf, 0);
  close(fd);
  if (n < 0) return -EIO;
  int b = best_slot(buf, n, seq);
  if (b < 0) return n == 0 ? -ENOENT : JOURNAL_ECORRUPT;
  memcpy(hash, buf + b * SLOT + 16, 32);
  return 0;
}

static int file_write(void *ctx, uint64_t seq, const uint8_t hash[32])
{
  struct journal_file_counter *c = ctx;
  if (c->fd < 0) {
    c->fd = open(c->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (c->fd < 0) return -errno;
    uint8_t buf[2 * SLOT];
    uint64_t s;
    ssize_t n = pread(c->fd, buf, sizeof buf, 0);
    int b = n > 0 ? best_slot(buf, n, &s) : -1;
    c->next_slot = b == 0 ? 1 : 0;
  }
  uint8_t slot[SLOT];
  seal_slot(slot, seq, hash);
  if (pwrite(c->fd, slot, SLOT, (off_t)c->next_slot * SLOT) != SLOT) return -EIO;
  if (!c->no_sync && fdatasync(c->fd) != 0) return -errno;
  c->next_slot ^= 1;
  return 0;
}

void journal__file_counter_init(struct journal_file_counter *c, const char *path)
{
  memset(c, 0, sizeof *c);
  snprintf(c->path, sizeof c->path, "%s", path);
  c->fd = -1;
  c->ops.read = file_read;
  c->ops.write = file_write;
  c->ops.ctx = c;
}

void journal__file_counter_deinit(struct journal_file_counter *c)
{
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
}
