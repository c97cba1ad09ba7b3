/*
 * bench_merkle.c — `hems bench merkle`: the cost of the Merkle tree on one core.
 *
 * leaf hashes/s: SHA-256(0x00 || record) over N records of --record-bytes (default 1 M of 200
 * bytes, the size of a journal record), through OpenSSL's libcrypto (journal_merkle_leaf_hash:
 * SHA-NI / ARMv8 crypto where the CPU has them) and, in the same run over the same bytes,
 * libsodium's crypto_hash_sha256 (portable C) — the two must agree on every digest.
 * tree appends/s: leaf hash + right-edge update + tile emission into in-memory tiles, i.e. what
 * the store pays per record. Each figure is the best of three rounds.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "cli.h"

#define RING 4096 /* distinct records hashed in turn (a counter in each keeps them distinct) */

static bool cpu_has_sha(void)
{
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[4096];
  bool yes = false;
  while (f && !yes && fgets(line, sizeof line, f))
    if (!strncmp(line, "flags", 5) || !strncmp(line, "Features", 8)) yes = strstr(line, " sha_ni") || strstr(line, " sha2");
  if (f) fclose(f);
  return yes;
}

static volatile uint8_t bench_merkle_sink;

struct bench_merkle_result { double openssl_per_s, sodium_per_s, appends_per_s; };

static int run(uint64_t n, size_t bytes, struct bench_merkle_result *out)
{
  struct journal_merkle_hasher h;
  struct journal_merkle_memtiles mt;
  struct journal_merkle_appender *a = malloc(sizeof *a);
  uint8_t *ring = malloc((size_t)RING * (bytes + 1)), d1[32], d2[32], acc = 0;
  if (!a || !ring || journal_merkle_hasher_init(&h)) { free(a); free(ring); return CLI_ENV; }
  for (size_t i = 0; i < (size_t)RING * (bytes + 1); i++) ring[i] = (uint8_t)(i * 2654435761u >> 13);
  for (size_t r = 0; r < RING; r++) ring[r * (bytes + 1)] = 0x00; /* the leaf prefix, for libsodium */
  memset(out, 0, sizeof *out);
  int rc = CLI_OK;
  for (int round = 0; round < 3 && rc == CLI_OK; round++) {
    double t0 = cli_mono_s();
    for (uint64_t i = 0; i < n; i++) {
      uint8_t *rec = ring + (size_t)(i % RING) * (bytes + 1);
      memcpy(rec + 1, &i, sizeof i);
      journal_merkle_leaf_hash(&h, rec + 1, bytes, d1);
      acc ^= d1[0];
    }
    double t1 = cli_mono_s();
    for (uint64_t i = 0; i < n; i++) {
      uint8_t *rec = ring + (size_t)(i % RING) * (bytes + 1);
      memcpy(rec + 1, &i, sizeof i);
      crypto_hash_sha256(d2, rec, bytes + 1);
      acc ^= d2[0];
    }
    double t2 = cli_mono_s();
    journal_merkle_memtiles_init(&mt);
    journal_merkle_appender_init(a, &h, journal_merkle_memtiles_put, &mt);
    for (uint64_t i = 0; i < n && rc == CLI_OK; i++) {
      uint8_t *rec = ring + (size_t)(i % RING) * (bytes + 1);
      memcpy(rec + 1, &i, sizeof i);
      journal_merkle_leaf_hash(&h, rec + 1, bytes, d1);
      if (journal_merkle_append(a, d1)) rc = CLI_ENV;
    }
    if (rc == CLI_OK && journal_merkle_flush(a)) rc = CLI_ENV;
    double t3 = cli_mono_s();
    journal_merkle_memtiles_deinit(&mt);
    if (n / (t1 - t0) > out->openssl_per_s) out->openssl_per_s = (double)n / (t1 - t0);
    if (n / (t2 - t1) > out->sodium_per_s) out->sodium_per_s = (double)n / (t2 - t1);
    if (n / (t3 - t2) > out->appends_per_s) out->appends_per_s = (double)n / (t3 - t2);
  }
  /* the two implementations agree (the last record of the last round) */
  uint8_t *last = ring + (size_t)((n - 1) % RING) * (bytes + 1);
  journal_merkle_leaf_hash(&h, last + 1, bytes, d1);
  crypto_hash_sha256(d2, last, bytes + 1);
  if (memcmp(d1, d2, 32) || h.failed) rc = CLI_FAIL;
  bench_merkle_sink = acc; /* keeps the loops' digests alive */
  journal_merkle_hasher_deinit(&h);
  free(a);
  free(ring);
  return rc;
}

int cli_bench_merkle(int argc, char **argv)
{
  enum { O_FORMAT = 1000, O_RECORDS, O_BYTES, O_DIR };
  static const struct option lo[] = { { "format", required_argument, NULL, O_FORMAT },
                                      { "records", required_argument, NULL, O_RECORDS },
                                      { "record-bytes", required_argument, NULL, O_BYTES },
                                      { "dir", required_argument, NULL, O_DIR }, { 0 } };
  const char *format = "text";
  uint64_t n = 1000000, bytes = 200;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_FORMAT) {
      format = optarg;
      if (strcmp(format, "text") && strcmp(format, "json")) { cli_err("bench: --format takes text or json"); return CLI_USAGE; }
    } else if (opt == O_RECORDS) {
      if (cli_parse_u64(optarg, &n) || n < 1000 || n > 100000000) { cli_err("bench: --records takes 1000..100000000"); return CLI_USAGE; }
    } else if (opt == O_BYTES) {
      if (cli_parse_u64(optarg, &bytes) || bytes < 16 || bytes > 60000) { cli_err("bench: --record-bytes takes 16..60000"); return CLI_USAGE; }
    } else if (opt != O_DIR) { /* --dir: nothing is written to disk */
      return cli_usage(cli_find("bench"), false);
    }
  }
  if (optind != argc - 1 || strcmp(argv[optind], "merkle")) return cli_usage(cli_find("bench"), false);
  if (sodium_init() < 0) { cli_err("bench merkle: libsodium failed to initialise"); return CLI_ENV; }
  struct bench_merkle_result r;
  int rc = run(n, (size_t)bytes, &r);
  if (rc == CLI_FAIL) { cli_err("bench merkle: OpenSSL and libsodium SHA-256 disagree"); return rc; }
  if (rc) { cli_err("bench merkle: out of memory or no SHA-256 in libcrypto"); return rc; }
  bool sha = cpu_has_sha();
  if (!strcmp(format, "json"))
    printf("{\"bench\":\"merkle\",\"records\":%llu,\"record_bytes\":%llu,\"cpu_sha_extensions\":%s,"
           "\"openssl_leaf_hashes_per_s\":%.0f,\"sodium_leaf_hashes_per_s\":%.0f,\"openssl_speedup\":%.2f,"
           "\"tree_appends_per_s\":%.0f}\n",
           (unsigned long long)n, (unsigned long long)bytes, sha ? "true" : "false", r.openssl_per_s, r.sodium_per_s,
           r.openssl_per_s / r.sodium_per_s, r.appends_per_s);
  else
    printf("merkle leaf hashes (SHA-256 of 0x00 || %llu-byte record), one core, best of 3 over %llu records:\n"
           "  OpenSSL libcrypto   %.2f M/s%s\n"
           "  libsodium           %.2f M/s  (OpenSSL %.2fx)\n"
           "tree appends (leaf hash + right edge + tiles): %.2f M/s\n",
           (unsigned long long)bytes, (unsigned long long)n, r.openssl_per_s / 1e6,
           sha ? "  (the CPU has SHA extensions)" : "  (no SHA extensions on this CPU)", r.sodium_per_s / 1e6,
           r.openssl_per_s / r.sodium_per_s, r.appends_per_s / 1e6);
  return CLI_OK;
}
