/*
 * cmd_seal.c — bundles sealed to a recipient (journal/bundle_seal.c): `hems key recipient`
 * (an X25519 key pair for whoever is to read bundles), `hems export --encrypt-to PUBKEY` (the
 * export written through an unnamed temporary file, sealed into FILE), `hems decrypt` (back to
 * the bundle, written under a temporary name and renamed only once the final chunk has
 * authenticated, so a damaged or cut file never leaves plaintext behind as if it were whole).
 *
 * Key files are one text line: "x25519 BASE64" (public) and "x25519-secret BASE64" (secret,
 * mode 0600), standard base64 of the 32 bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"

#define PUB_PREFIX "x25519 "
#define SEC_PREFIX "x25519-secret "

/* "PREFIX BASE64" (one line, an optional trailing newline) into 32 bytes. */
static bool parse_key_line(const char *text, size_t len, const char *prefix, uint8_t out[32])
{
  size_t pl = strlen(prefix);
  if (len && text[len - 1] == '\n') len--;
  if (len <= pl || strncmp(text, prefix, pl) != 0) return false;
  size_t got = 0;
  const char *end = NULL;
  if (sodium_base642bin(out, 32, text + pl, len - pl, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) != 0) return false;
  return got == 32 && end == text + len;
}

/* A key from FILE, or the public key given inline as "x25519:BASE64". */
static int read_key(const char *what, const char *arg, const char *prefix, uint8_t out[32])
{
  if (!strcmp(prefix, PUB_PREFIX) && !strncmp(arg, "x25519:", 7)) {
    char line[128];
    snprintf(line, sizeof line, PUB_PREFIX "%s", arg + 7);
    if (parse_key_line(line, strlen(line), prefix, out)) return CLI_OK;
    cli_err("%s: %s: not an X25519 public key (x25519:BASE64 of 32 bytes)", what, arg);
    return CLI_USAGE;
  }
  char buf[256];
  FILE *f = fopen(arg, "rb");
  if (!f) { cli_err("%s: %s: %s", what, arg, strerror(errno)); return CLI_ENV; }
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  bool ok = n < sizeof buf && parse_key_line(buf, n, prefix, out);
  sodium_memzero(buf, sizeof buf);
  if (!ok) {
    cli_err("%s: %s: not an X25519 %s key file (one line '%sBASE64'; made by 'hems key recipient')", what, arg,
            strcmp(prefix, PUB_PREFIX) ? "secret" : "public", prefix);
    return CLI_FAIL;
  }
  return CLI_OK;
}

int cli_seal_pubkey(const char *what, const char *arg, uint8_t pk[32])
{
  return read_key(what, arg, PUB_PREFIX, pk);
}

int cli_seal_secret(const char *what, const char *arg, uint8_t sk[32])
{
  return read_key(what, arg, SEC_PREFIX, sk);
}

/* An unnamed file for the plain bundle: never visible under a name, gone with the process. */
static FILE *unnamed_file(const char *out)
{
  char *d = strdup(out);
  int fd = d ? open(dirname(d), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600) : -1;
  free(d);
  if (fd < 0) fd = memfd_create("hems-export", MFD_CLOEXEC);
  FILE *f = fd < 0 ? NULL : fdopen(fd, "w+b");
  if (!f && fd >= 0) close(fd);
  return f;
}

FILE *cli_seal_begin(const char *out)
{
  FILE *f = unnamed_file(out);
  if (!f) cli_err("export: %s: no temporary file for the plain bundle: %s", out, strerror(errno));
  return f;
}

/* out.tmp (its name in tmp) opened for writing with flags and mode; NULL said, as cmd. */
static FILE *open_tmp(const char *cmd, const char *out, char tmp[4200], int flags, mode_t mode)
{
  snprintf(tmp, 4200, "%s.tmp", out);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_CLOEXEC | flags, mode);
  FILE *f = fd < 0 ? NULL : fdopen(fd, "wb");
  if (!f) {
    cli_err("%s: %s: %s", cmd, tmp, strerror(errno));
    if (fd >= 0) close(fd);
  }
  return f;
}

/* f (out.tmp) made durable and renamed to out when rc is 0, else removed; rc or the failure. */
static int commit_tmp(FILE *f, const char *tmp, const char *out, int rc)
{
  if (!rc && fsync(fileno(f)) != 0) rc = -errno;
  if (fclose(f) != 0 && !rc) rc = -EIO;
  if (!rc && rename(tmp, out) != 0) rc = -errno;
  if (rc) unlink(tmp);
  return rc;
}

/* plain (read from its start) sealed to pk into out, through out.tmp and a rename. */
int cli_seal_finish(FILE *plain, const char *out, const uint8_t pk[32])
{
  char tmp[4200];
  FILE *f = open_tmp("export", out, tmp, O_TRUNC, 0644);
  if (!f) return CLI_ENV;
  int rc = fseek(plain, 0, SEEK_SET) != 0 ? -errno : journal_seal_stream(plain, f, pk);
  rc = commit_tmp(f, tmp, out, rc);
  if (rc) {
    if (rc == JOURNAL_EBADSIG) { cli_err("export: --encrypt-to: the key is not a usable X25519 public key (nothing written)"); return CLI_FAIL; }
    cli_err("export: %s: %s (nothing written)", out, journal_strerror(rc));
    return CLI_ENV;
  }
  return CLI_OK;
}

void cli_seal_said(const char *out, const uint8_t pk[32])
{
  uint8_t id[JOURNAL_SEAL_KEYID_BYTES];
  char hex[2 * JOURNAL_SEAL_KEYID_BYTES + 1];
  journal_seal_keyid(pk, id);
  sodium_bin2hex(hex, sizeof hex, id, sizeof id);
  printf("sealed to recipient key %s (decrypt with 'hems decrypt --key FILE %s --out BUNDLE')\n", hex, out);
}

bool cli_file_is_sealed(const char *path)
{
  uint8_t head[8];
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(head, 1, sizeof head, f) : 0;
  if (f) fclose(f);
  return journal_is_sealed(head, n);
}

/* ------------------------------------------------------------------ hems key recipient */

static int write_line(const char *path, mode_t mode, const char *prefix, const uint8_t k[32])
{
  char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)], line[128];
  sodium_bin2base64(b64, sizeof b64, k, 32, sodium_base64_VARIANT_ORIGINAL);
  int n = snprintf(line, sizeof line, "%s%s\n", prefix, b64);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return -errno;
  int rc = write(fd, line, (size_t)n) == n && fsync(fd) == 0 ? 0 : -EIO;
  close(fd);
  sodium_memzero(line, sizeof line);
  sodium_memzero(b64, sizeof b64);
  if (rc) unlink(path);
  return rc;
}

int cli_cmd_key_recipient(int argc, char **argv)
{
  enum { O_OUT = 1 };
  static const struct option lo[] = { { "out", required_argument, NULL, O_OUT }, { 0 } };
  const char *out = NULL;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_OUT) out = optarg;
    else return cli_usage(cli_find("key"), false);
  }
  if (!out || optind != argc) return cli_usage(cli_find("key"), false);
  if (sodium_init() < 0) return CLI_ENV;
  char pub[4200];
  snprintf(pub, sizeof pub, "%s.pub", out);
  uint8_t pk[32], sk[32];
  crypto_box_keypair(pk, sk);
  int rc = write_line(out, 0600, SEC_PREFIX, sk);
  sodium_memzero(sk, sizeof sk);
  if (rc) { cli_err("key recipient: %s: %s (an existing key is never overwritten)", out, strerror(-rc)); return CLI_ENV; }
  if ((rc = write_line(pub, 0644, PUB_PREFIX, pk))) {
    cli_err("key recipient: %s: %s (an existing key is never overwritten)", pub, strerror(-rc));
    unlink(out);
    return CLI_ENV;
  }
  uint8_t id[JOURNAL_SEAL_KEYID_BYTES];
  char hex[2 * JOURNAL_SEAL_KEYID_BYTES + 1];
  journal_seal_keyid(pk, id);
  sodium_bin2hex(hex, sizeof hex, id, sizeof id);
  printf("recipient key %s: secret %s (0600), public %s ('hems export --encrypt-to %s')\n", hex, out, pub, pub);
  return CLI_OK;
}

/* ------------------------------------------------------------------ hems decrypt */

int cli_cmd_decrypt(int argc, char **argv)
{
  enum { O_KEY = 1, O_OUT };
  static const struct option lo[] = { { "key", required_argument, NULL, O_KEY }, { "out", required_argument, NULL, O_OUT }, { 0 } };
  const char *keyf = NULL, *out = NULL;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_KEY) keyf = optarg;
    else if (opt == O_OUT) out = optarg;
    else return cli_usage(cli_find("decrypt"), false);
  }
  if (!keyf || !out || optind != argc - 1) return cli_usage(cli_find("decrypt"), false);
  const char *in = argv[optind];
  if (sodium_init() < 0) return CLI_ENV;
  uint8_t pk[32], sk[32];
  int rc = read_key("decrypt: --key", keyf, SEC_PREFIX, sk);
  if (rc) return rc;
  crypto_scalarmult_base(pk, sk);
  FILE *fi = fopen(in, "rb");
  if (!fi) { sodium_memzero(sk, sizeof sk); cli_err("decrypt: %s: %s", in, strerror(errno)); return CLI_ENV; }
  char tmp[4200], why[200] = "";
  FILE *fo = open_tmp("decrypt", out, tmp, O_EXCL, 0600);
  rc = fo ? journal_unseal_stream(fi, fo, pk, sk, why, sizeof why) : CLI_ENV;
  sodium_memzero(sk, sizeof sk);
  fclose(fi);
  if (!fo) return CLI_ENV;
  int crc = commit_tmp(fo, tmp, out, rc);
  if (!rc && crc) { rc = crc; snprintf(why, sizeof why, "%s", journal_strerror(rc)); }
  if (rc) {
    cli_err("decrypt: %s: %s (nothing written)", in, why[0] ? why : journal_strerror(rc));
    return rc > -30000 ? CLI_ENV : CLI_FAIL; /* a negated errno: I/O; a journal code: the file */
  }
  printf("decrypted %s to %s; verify it with 'hems verify %s --fingerprint FP'\n", in, out, out);
  return CLI_OK;
}
