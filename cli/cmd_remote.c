/*
 * cmd_remote.c — `hems remote`: signed remote commands (remote.h, docs/fleet.md).
 *   hems remote keygen --key FILE                      a new issuer key; prints its public key
 *   hems remote pubkey --key FILE                      that public key (base64) and kid (hex) again
 *   hems remote sign --key FILE --aud DEVICE_ID --seq N --request JSON [--iss NAME] [--ttl 300s]
 *                    [--iat UNIX_S] [--cti HEX] > CMD.cose
 *   hems remote apply [--dir DIR] CMD.cose             hands the bytes to the running daemon
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include "cli.h"
#include "remote.h"

enum { O_KEY = 1000, O_AUD, O_SEQ, O_REQUEST, O_ISS, O_TTL, O_IAT, O_CTI, O_DIR };

static int load_key(const char *path, struct journal_file_signer *fs)
{
  int rc = journal_file_signer_load_path(fs, path, NULL, 0);
  if (rc) {
    cli_err("remote: --key %s: %s", path, rc == JOURNAL_ENOKEY ? "no such file" : journal_strerror(rc));
    journal_file_signer_wipe(fs);
    return rc == JOURNAL_ENOKEY ? CLI_ENV : CLI_FAIL;
  }
  return 0;
}

static void print_pubkey(const uint8_t pk[JOURNAL_PUBKEY_BYTES])
{
  char b64[64], kid_hex[2 * REMOTE_KID_BYTES + 1];
  uint8_t kid[JOURNAL_KEYID_BYTES];
  journal_key_id(pk, kid);
  sodium_bin2base64(b64, sizeof b64, pk, JOURNAL_PUBKEY_BYTES, sodium_base64_VARIANT_ORIGINAL);
  sodium_bin2hex(kid_hex, sizeof kid_hex, kid, REMOTE_KID_BYTES);
  printf("{\"pubkey\":\"%s\",\"kid\":\"%s\"}\n", b64, kid_hex);
}

static int keyfile_cmd(int argc, char **argv, bool create)
{
  const char *key;
  int urc = cli_key_only_args(argc, argv, "remote", &key);
  if (urc) return urc;
  if (create) {
    int rc = journal_key_file_create(key, NULL, NULL);
    if (rc) {
      cli_err("remote keygen: --key %s: %s", key, rc == -EEXIST ? "exists (never overwritten)" : strerror(-rc));
      return CLI_ENV;
    }
  }
  struct journal_file_signer fs;
  int rc = load_key(key, &fs);
  if (rc) return rc;
  print_pubkey(fs.signer.pubkey);
  journal_file_signer_wipe(&fs);
  return CLI_OK;
}

static int sign_cmd(int argc, char **argv)
{
  static const struct option lo[] = { { "key", required_argument, NULL, O_KEY }, { "aud", required_argument, NULL, O_AUD },
                                      { "seq", required_argument, NULL, O_SEQ }, { "request", required_argument, NULL, O_REQUEST },
                                      { "iss", required_argument, NULL, O_ISS }, { "ttl", required_argument, NULL, O_TTL },
                                      { "iat", required_argument, NULL, O_IAT }, { "cti", required_argument, NULL, O_CTI }, { 0 } };
  const char *key = NULL, *aud = NULL, *request = NULL, *iss = NULL, *cti = NULL;
  uint64_t seq = 0, iat = (uint64_t)time(NULL);
  int64_t ttl_ns = 300000000000ll;
  bool have_seq = false;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_KEY) key = optarg;
    else if (opt == O_AUD) aud = optarg;
    else if (opt == O_REQUEST) request = optarg;
    else if (opt == O_ISS) iss = optarg;
    else if (opt == O_CTI) cti = optarg;
    else if (opt == O_SEQ) {
      if (cli_parse_u64(optarg, &seq) || seq == 0 || seq > INT64_MAX) { cli_err("remote sign: --seq must be 1..2^63-1"); return CLI_USAGE; }
      have_seq = true;
    } else if (opt == O_TTL) {
      if (cli_parse_duration_ns(optarg, &ttl_ns) || ttl_ns < 1000000000ll || ttl_ns > REMOTE_MAX_TTL_S * 1000000000ll) {
        cli_err("remote sign: --ttl must be a duration of 1s..1d");
        return CLI_USAGE;
      }
    } else if (opt == O_IAT) {
      if (cli_parse_u64(optarg, &iat) || iat > INT64_MAX / 2) { cli_err("remote sign: --iat must be seconds since the Unix epoch"); return CLI_USAGE; }
    } else return cli_usage(cli_find("remote"), false);
  }
  if (!key || !aud || !have_seq || !request || optind != argc) return cli_usage(cli_find("remote"), false);
  struct remote_claims c;
  memset(&c, 0, sizeof c);
  json_error_t je;
  json_t *rj = json_loads(request, JSON_REJECT_DUPLICATES, &je);
  bool parsed = rj != NULL, is_obj = json_is_object(rj);
  json_decref(rj);
  if (!is_obj) { cli_err("remote sign: --request: not one JSON object (%s)", parsed ? "another JSON value" : je.text); return CLI_USAGE; }
  if (strlen(request) > REMOTE_REQ_MAX) { cli_err("remote sign: --request: longer than %d bytes", REMOTE_REQ_MAX); return CLI_USAGE; }
  if (strlen(aud) > REMOTE_TEXT_MAX || (iss && (strlen(iss) > REMOTE_TEXT_MAX || !*iss))) {
    cli_err("remote sign: --aud and --iss must be 1..%d bytes", REMOTE_TEXT_MAX);
    return CLI_USAGE;
  }
  if (cti) {
    size_t n = 0;
    if (strlen(cti) > 2 * REMOTE_CTI_MAX || sodium_hex2bin(c.cti, sizeof c.cti, cti, strlen(cti), NULL, &n, NULL) || n == 0 ||
        n * 2 != strlen(cti)) {
      cli_err("remote sign: --cti must be 1..32 bytes in hex");
      return CLI_USAGE;
    }
    c.cti_len = n;
  } else {
    randombytes_buf(c.cti, 16);
    c.cti_len = 16;
  }
  struct journal_file_signer fs;
  int rc = load_key(key, &fs);
  if (rc) return rc;
  uint8_t kid[JOURNAL_KEYID_BYTES];
  journal_key_id(fs.signer.pubkey, kid);
  if (iss) snprintf(c.iss, sizeof c.iss, "%s", iss);
  else sodium_bin2hex(c.iss, sizeof c.iss, kid, REMOTE_KID_BYTES);
  snprintf(c.aud, sizeof c.aud, "%s", aud);
  c.iat = (int64_t)iat;
  c.exp = (int64_t)iat + ttl_ns / 1000000000ll;
  c.seq = seq;
  c.req = request;
  c.req_len = strlen(request);
  static uint8_t payload[REMOTE_MSG_MAX], sigs[REMOTE_MSG_MAX + 128], out[REMOTE_MSG_MAX + 256];
  uint8_t prot[32], sig[REMOTE_SIG_BYTES];
  size_t pl = remote_protected_encode(kid, prot);
  long n = remote_claims_encode(&c, payload, sizeof payload), m = -1, o = -1;
  if (n > 0) m = remote_sig_structure(prot, pl, payload, (size_t)n, sigs, sizeof sigs);
  if (m > 0 && fs.signer.sign(fs.signer.ctx, sigs, (size_t)m, sig) == 0)
    o = remote_sign1_encode(prot, pl, payload, (size_t)n, sig, out, sizeof out);
  journal_file_signer_wipe(&fs);
  if (o < 0 || o > REMOTE_MSG_MAX) { cli_err("remote sign: the message would exceed %d bytes", REMOTE_MSG_MAX); return CLI_USAGE; }
  if (fwrite(out, 1, (size_t)o, stdout) != (size_t)o || fflush(stdout)) { cli_err("remote sign: stdout: %s", strerror(errno)); return CLI_ENV; }
  return CLI_OK;
}

static int apply_cmd(int argc, char **argv)
{
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR }, { 0 } };
  const char *dir = cli_default_dir();
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DIR) dir = optarg;
    else return cli_usage(cli_find("remote"), false);
  }
  if (argc - optind != 1) return cli_usage(cli_find("remote"), false);
  const char *path = argv[optind];
  static char buf[REMOTE_MSG_MAX + 1];
  size_t len = 0;
  int rc = cli_witness_read_file(path, buf, sizeof buf, &len);
  if (rc) {
    cli_err("remote apply: %s: %s", path, rc == -EFBIG ? "longer than 8192 bytes" : strerror(-rc));
    return rc == -EFBIG ? CLI_USAGE : CLI_ENV;
  }
  char b64[((REMOTE_MSG_MAX + 2) / 3) * 4 + 1];
  sodium_bin2base64(b64, sizeof b64, (const uint8_t *)buf, len, sodium_base64_VARIANT_ORIGINAL);
  json_t *req = json_pack("{s:s, s:s}", "op", "remote", "cose", b64), *o;
  if ((rc = cli_daemon_request(dir, req, 30000, &o))) return rc;
  rc = cli_policy_outcome("remote apply", o);
  json_decref(o);
  return rc;
}

int cli_cmd_remote(int argc, char **argv)
{
  if (argc < 2 || argv[1][0] == '-') return cli_usage(cli_find("remote"), false);
  if (!strcmp(argv[1], "sign")) return sign_cmd(argc - 1, argv + 1);
  if (!strcmp(argv[1], "apply")) return apply_cmd(argc - 1, argv + 1);
  if (!strcmp(argv[1], "keygen")) return keyfile_cmd(argc - 1, argv + 1, true);
  if (!strcmp(argv[1], "pubkey")) return keyfile_cmd(argc - 1, argv + 1, false);
  cli_err("remote: %s: unknown subcommand (see 'hems remote --help')", argv[1]);
  return CLI_USAGE;
}
