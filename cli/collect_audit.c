/*
 * collect_audit.c — `hems verify --db URL --device ID`: the auditor's check of a device's records
 * as the head-end stores them. The rows are read in seq order (single-row mode: one row in
 * memory at a time) and put through journal_verify (the same checks as a data dir or a bundle:
 * chain, every seal's signature with the registered key and the key records certified from it,
 * and, from seq 1, every seal's tree root), then the device's stored head (seq and hash) must be
 * the last record's. A withheld row (ship --withhold: a leaf hash, no bytes) goes in as such:
 * its leaf in the tree, the chain links that need its bytes not checked.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "collect.h"

struct db_src {
  PGconn *db;
  PGresult *row;
  const char *why;
  uint8_t last_hash[JOURNAL_HASH_BYTES];
};

static int db_next(void *ctx, uint64_t *seq, const uint8_t **bytes, size_t *len, const char **why)
{
  struct db_src *s = ctx;
  if (s->row) { PQclear(s->row); s->row = NULL; }
  PGresult *r = PQgetResult(s->db);
  if (!r) return 0;
  if (PQresultStatus(r) == PGRES_TUPLES_OK) { PQclear(r); while ((r = PQgetResult(s->db))) PQclear(r); return 0; }
  if (PQresultStatus(r) != PGRES_SINGLE_TUPLE) {
    s->why = "reading the records failed";
    *why = s->why;
    cli_err("verify: database: %s", PQresultErrorMessage(r));
    PQclear(r);
    return -1;
  }
  uint64_t v = 0;
  const uint8_t *b = (const uint8_t *)PQgetvalue(r, 0, 0);
  for (int i = 0; i < 8; i++) v = v << 8 | b[i];
  *seq = v;
  s->row = r;
  if (PQgetisnull(r, 0, 1)) { /* withheld: its leaf hash only (journal_record_source) */
    *bytes = (const uint8_t *)PQgetvalue(r, 0, 2);
    *len = (size_t)PQgetlength(r, 0, 2);
    memset(s->last_hash, 0, sizeof s->last_hash);
    return 2;
  }
  *bytes = (const uint8_t *)PQgetvalue(r, 0, 1);
  *len = (size_t)PQgetlength(r, 0, 1);
  journal_record_hash(*bytes, *len, s->last_hash);
  return 1;
}

enum { O_DB = 1000, O_DEVICE };

int collect_verify_db(int argc, char **argv)
{
  static const struct option lo[] = { { "db", required_argument, NULL, O_DB }, { "device", required_argument, NULL, O_DEVICE }, { 0 } };
  const char *url = NULL, *dev = NULL;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DB) url = optarg;
    else if (opt == O_DEVICE) dev = optarg;
    else return cli_usage(cli_find("verify"), false);
  }
  if (!url || !dev || optind != argc) {
    cli_err("verify: --db URL goes with --device ID and nothing else");
    return CLI_USAGE;
  }
  PGconn *db;
  int rc = collect_db_connect("verify", url, &db);
  if (rc) return rc;
  struct collect_dev d;
  if (collect_db_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ", "begin")) { PQfinish(db); return CLI_ENV; }
  int f = collect_db_load(db, dev, &d);
  if (f <= 0) {
    if (f == 0) cli_err("verify: --device %s: not a registered device", dev);
    PQfinish(db);
    return f == 0 ? CLI_FAIL : CLI_ENV;
  }
  const char *pv[1] = { dev };
  if (!PQsendQueryParams(db, "SELECT seq, bytes, leaf FROM records WHERE device_id = $1 ORDER BY seq", 1, NULL, pv, NULL, NULL, 1) ||
      !PQsetSingleRowMode(db)) {
    cli_err("verify: database: %s", PQerrorMessage(db));
    PQfinish(db);
    return CLI_ENV;
  }
  struct db_src s = { .db = db };
  struct journal_record_source src = { .next = db_next, .ctx = &s, .device_id = d.id };
  struct journal_verify_result res;
  rc = journal_verify(&src, d.pk, NULL, &res, NULL, NULL);
  if (s.row) PQclear(s.row);
  PGresult *r;
  while ((r = PQgetResult(db))) PQclear(r);
  PQfinish(db);
  if (s.why) return CLI_ENV;
  if (rc) {
    if (res.bad_seq) printf("first bad seq %" PRIu64 ": %s\n", res.bad_seq, res.reason);
    else if (res.truncated) printf("truncated after seq %" PRIu64 "\n", res.last_sealed_seq);
    else printf("%s\n", res.reason[0] ? res.reason : journal_strerror(rc));
    return CLI_FAIL;
  }
  if (res.records && res.first_seq != 1) { printf("first bad seq 1: the store starts at seq %" PRIu64 "\n", res.first_seq); return CLI_FAIL; }
  if (res.last_seq != d.head || (d.head && memcmp(s.last_hash, d.head_hash, sizeof s.last_hash))) {
    printf("the device's stored head (seq %" PRIu64 ") is not the last record (seq %" PRIu64 ")\n", d.head, res.last_seq);
    return CLI_FAIL;
  }
  printf("ok: device %s, %" PRIu64 " records, seq 1..%" PRIu64 ", %" PRIu64 " seals%s\n", d.id, res.records, res.last_seq,
         res.seals, d.quarantined ? " (the device is quarantined: see the quarantine table)" : "");
  return CLI_OK;
}
