/*
 * keys.c — Ed25519 keys (libsodium) and the file-backed signer.
 *
 * DIR/keys/signing.key: one line "ed25519-seed <base64 of the 32-byte seed>", mode 0600,
 * created with O_EXCL so an existing key is never overwritten, refused when group or others
 * may read it, opened O_NOFOLLOW and checked with fstat on the open descriptor. The secret key
 * in memory lives in sodium_malloc'ed, mlock'ed, read-only pages; text copies are wiped. DIR/keys/signing.pub: one line "ed25519 <base64 of the 32-byte public key>".
 * The fingerprint (key id) is the first 16 bytes of BLAKE2b-256(public key).
 * Signing goes through struct journal_signer so a token can hold a non-exportable key
 * (keys_pkcs11.c); a token's public key is written as signing.pub the same way.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include "journal.h"

void journal_key_id(const uint8_t pk[JOURNAL_PUBKEY_BYTES], uint8_t out[JOURNAL_KEYID_BYTES])
{
  uint8_t h[32];
  crypto_generichash(h, sizeof h, pk, JOURNAL_PUBKEY_BYTES, NULL, 0);
  memcpy(out, h, JOURNAL_KEYID_BYTES);
}

void journal_fingerprint_hex(const uint8_t pk[JOURNAL_PUBKEY_BYTES], char fp_hex[33])
{
  uint8_t id[JOURNAL_KEYID_BYTES];
  journal_key_id(pk, id);
  journal_hex(id, sizeof id, fp_hex);
}

static int write_all(int fd, const char *s, size_t n)
{
  while (n) {
    ssize_t w = write(fd, s, n);
    if (w < 0) { if (errno == EINTR) continue; return -errno; }
    s += w; n -= (size_t)w;
  }
  return 0;
}

static int write_file_excl(const char *path, mode_t mode, const char *text)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return -errno;
  int rc = write_all(fd, text, strlen(text));
  if (!rc && fchmod(fd, mode) != 0) rc = -errno; /* umask must not widen or narrow it */
  if (!rc && fsync(fd) != 0) rc = -errno;
  close(fd);
  if (rc) unlink(path);
  return rc;
}

int journal_keys_create(const char *dir, const uint8_t *seed)
{
  char kdir[4096], path[4200];
  uint8_t sd[32], pk[32], sk[64];
  char b64[128], line[256];
  if (sodium_init() < 0) return -EIO;
  snprintf(kdir, sizeof kdir, "%s/keys", dir);
  if (mkdir(kdir, 0700) != 0 && errno != EEXIST) return -errno;
  if (seed) memcpy(sd, seed, 32);
  else randombytes_buf(sd, 32);
  crypto_sign_seed_keypair(pk, sk, sd);

  snprintf(path, sizeof path, "%s/signing.key", kdir);
  sodium_bin2base64(b64, sizeof b64, sd, 32, sodium_base64_VARIANT_ORIGINAL);
  snprintf(line, sizeof line, "ed25519-seed %s\n", b64);
  int rc = write_file_excl(path, 0600, line);
  sodium_memzero(b64, sizeof b64);
  sodium_memzero(sd, sizeof sd);
  sodium_memzero(sk, sizeof sk);
  sodium_memzero(line, sizeof line);
  if (rc) return rc;

  snprintf(path, sizeof path, "%s/signing.pub", kdir);
  unlink(path); /* a stale .pub without its key would be a lie */
  return journal_pubkey_create(dir, pk);
}

int journal_pubkey_create(const char *dir, const uint8_t pk[JOURNAL_PUBKEY_BYTES])
{
  char path[4200], b64[128], line[256];
  snprintf(path, sizeof path, "%s/keys", dir);
  if (mkdir(path, 0700) != 0 && errno != EEXIST) return -errno;
  snprintf(path, sizeof path, "%s/keys/signing.pub", dir);
  sodium_bin2base64(b64, sizeof b64, pk, JOURNAL_PUBKEY_BYTES, sodium_base64_VARIANT_ORIGINAL);
  snprintf(line, sizeof line, "ed25519 %s\n", b64);
  return write_file_excl(path, 0644, line);
}

/* Parses "<prefix> <base64>" from the text buf into out[n]. */
static int parse_b64_line(const char *buf, const char *prefix, uint8_t *out, size_t n)
{
  size_t pl = strlen(prefix);
  if (strncmp(buf, prefix, pl) != 0 || buf[pl] != ' ') return JOURNAL_EBADKEY;
  const char *b = buf + pl + 1;
  size_t bl = strcspn(b, "\r\n");
  size_t got = 0;
  if (sodium_base642bin(out, n, b, bl, NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 || got != n)
    return JOURNAL_EBADKEY;
  return 0;
}

/* Reads at most cap-1 bytes of the open fd into buf (NUL-terminated). */
static int read_small(int fd, char *buf, size_t cap)
{
  size_t have = 0;
  while (have < cap - 1) {
    ssize_t r = read(fd, buf + have, cap - 1 - have);
    if (r < 0) { if (errno == EINTR) continue; return -EIO; }
    if (r == 0) break;
    have += (size_t)r;
  }
  buf[have] = 0;
  return 0;
}

/* Reads "<prefix> <base64>" from path into out[n]. The open does not wait: a FIFO planted in
 * place of the file (no writer) reads as empty and is refused instead of hanging the reader;
 * a pipe that has its writer (--pubkey <(…)) is then read as usual, blocking. */
static int read_b64_line(const char *path, const char *prefix, uint8_t *out, size_t n, int *out_errno_fd)
{
  char buf[256];
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) { *out_errno_fd = errno; return -errno; }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) { close(fd); return -EIO; }
  int rc = read_small(fd, buf, sizeof buf);
  close(fd);
  if (!rc) rc = parse_b64_line(buf, prefix, out, n);
  return rc;
}

int journal_pubkey_load(const char *path, uint8_t pk[JOURNAL_PUBKEY_BYTES])
{
  int e = 0;
  int rc = read_b64_line(path, "ed25519", pk, JOURNAL_PUBKEY_BYTES, &e);
  if (rc < 0 && e == ENOENT) return -ENOENT;
  return rc;
}

static int file_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[JOURNAL_SIG_BYTES])
{
  struct journal_file_signer *fs = ctx;
  crypto_sign_detached(sig, NULL, msg, len, fs->sk);
  return 0;
}

/* Opens the key file without following a link and checks what was opened (no check/use race:
 * the mode and type are those of the descriptor that is then read). The base64 text is wiped
 * from the stack before returning. */
/* The lines after the seed line go into rest (NUL-terminated; rest may be NULL). */
static int read_seed_rest(const char *path, uint8_t seed[32], char *rest, size_t rest_cap)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return JOURNAL_ENOKEY;
    if (errno == ELOOP) return JOURNAL_EBADKEY; /* a symlink where the key should be */
    return -errno;
  }
  struct stat st;
  int rc = 0;
  if (fstat(fd, &st) != 0) rc = -errno;
  else if (!S_ISREG(st.st_mode)) rc = JOURNAL_EBADKEY;
  else if (st.st_mode & 077) rc = JOURNAL_EKEYPERM;
  char buf[256];
  if (!rc) rc = read_small(fd, buf, sizeof buf);
  close(fd);
  if (!rc) rc = parse_b64_line(buf, "ed25519-seed", seed, 32);
  if (!rc && rest && rest_cap) {
    const char *nl = strchr(buf, '\n');
    snprintf(rest, rest_cap, "%s", nl ? nl + 1 : "");
  }
  sodium_memzero(buf, sizeof buf);
  return rc;
}

int journal_file_signer_load(struct journal_file_signer *fs, const char *dir)
{
  char path[4200];
  snprintf(path, sizeof path, "%s/keys/signing.key", dir);
  return journal_file_signer_load_path(fs, path, NULL, 0);
}

int journal_key_file_create(const char *path, const uint8_t *seed, const char *rest)
{
  uint8_t sd[32];
  char b64[128], text[512];
  if (sodium_init() < 0) return -EIO;
  if (seed) memcpy(sd, seed, 32);
  else randombytes_buf(sd, 32);
  sodium_bin2base64(b64, sizeof b64, sd, 32, sodium_base64_VARIANT_ORIGINAL);
  int n = snprintf(text, sizeof text, "ed25519-seed %s\n%s", b64, rest ? rest : "");
  int rc = n < 0 || (size_t)n >= 256 ? -ENAMETOOLONG : write_file_excl(path, 0600, text);
  sodium_memzero(b64, sizeof b64);
  sodium_memzero(sd, sizeof sd);
  sodium_memzero(text, sizeof text);
  return rc;
}

int journal_file_signer_load_path(struct journal_file_signer *fs, const char *path, char *rest, size_t rest_cap)
{
  uint8_t seed[32];
  memset(fs, 0, sizeof *fs);
  if (sodium_init() < 0) return -EIO;
  int rc = read_seed_rest(path, seed, rest, rest_cap);
  if (rc) { sodium_memzero(seed, sizeof seed); return rc; }
  fs->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
  if (!fs->sk) { sodium_memzero(seed, sizeof seed); return -ENOMEM; }
  fs->sk_locked = sodium_mlock(fs->sk, crypto_sign_SECRETKEYBYTES) == 0;
#ifdef MADV_DONTDUMP
  /* sodium_malloc places the key at the end of its own page(s): keep them out of core dumps. */
  uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t lo = (uintptr_t)fs->sk & ~(pg - 1);
  uintptr_t hi = ((uintptr_t)fs->sk + crypto_sign_SECRETKEYBYTES + pg - 1) & ~(pg - 1);
  (void)madvise((void *)lo, hi - lo, MADV_DONTDUMP);
#endif
  crypto_sign_seed_keypair(fs->signer.pubkey, fs->sk, seed);
  sodium_memzero(seed, sizeof seed);
  sodium_mprotect_readonly(fs->sk);
  journal_key_id(fs->signer.pubkey, fs->signer.key_id);
  fs->signer.sign = file_sign;
  fs->signer.ctx = fs;
  return 0;
}

void journal_file_signer_wipe(struct journal_file_signer *fs)
{
  if (fs->sk) {
    sodium_mprotect_readwrite(fs->sk);
    if (fs->sk_locked) sodium_munlock(fs->sk, crypto_sign_SECRETKEYBYTES); /* zeroes, then unlocks */
    sodium_free(fs->sk); /* zeroes the region before unmapping it */
  }
  sodium_memzero(fs, sizeof *fs);
}
