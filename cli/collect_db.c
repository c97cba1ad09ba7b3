/*
 * collect_db.c — the head-end's PostgreSQL side (libpq; docs/fleet.md "PostgreSQL schema"):
 * connecting, the migrations of schemas/fleet/ (compiled in, applied in one transaction under an
 * advisory lock and recorded in schema_version, so collectors starting together apply each once),
 * a device's verification state, quarantine rows, and `hems collect --register`.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "cli.h"
#include "collect.h"

/* cli/CMakeLists.txt writes these from schemas/fleet/NNN_*.sql, in name order. */
struct collect_migration { const char *name; const char *sql; };
extern const struct collect_migration collect_migrations[];
extern const unsigned collect_migration_count;

int collect_db_connect(const char *who, const char *url, PGconn **out)
{
  if (strncmp(url, "postgresql://", 13) && strncmp(url, "postgres://", 11)) {
    cli_err("%s: --db %s: expected postgresql://…", who, url);
    return CLI_USAGE;
  }
  PGconn *db = PQconnectdb(url);
  if (PQstatus(db) != CONNECTION_OK) {
    const char *m = PQerrorMessage(db);
    cli_err("%s: --db: %.*s", who, (int)strcspn(m, "\n"), m);
    PQfinish(db);
    return CLI_ENV;
  }
  PQclear(PQexec(db, "SET client_min_messages = warning"));
  *out = db;
  return CLI_OK;
}

int collect_db_ok(PGresult *r, const char *what)
{
  ExecStatusType s = PQresultStatus(r);
  if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_COPY_IN) return 0;
  const char *m = PQresultErrorMessage(r);
  cli_err("collect: database: %s: %.*s", what, (int)strcspn(m, "\n"), m);
  PQclear(r);
  return -1;
}

int collect_db_exec(PGconn *db, const char *sql, const char *what)
{
  PGresult *r = PQexec(db, sql);
  if (collect_db_ok(r, what)) return -1;
  PQclear(r);
  return 0;
}

int collect_db_migrate(PGconn *db)
{
  char sql[256];
  if (collect_db_exec(db, "BEGIN", "begin")) return CLI_ENV;
  snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%lld)", (long long)COLLECT_LOCK_MIGRATE);
  if (collect_db_exec(db, sql, "the migration lock") ||
      collect_db_exec(db, "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, name text NOT NULL, "
                          "applied_at timestamptz NOT NULL DEFAULT now())", "schema_version"))
    goto fail;
  PGresult *r = PQexec(db, "SELECT coalesce(max(version), 0) FROM schema_version");
  if (collect_db_ok(r, "schema_version")) goto fail;
  unsigned have = (unsigned)atoi(PQgetvalue(r, 0, 0));
  PQclear(r);
  if (have > collect_migration_count) {
    cli_err("collect: --db: schema version %u is newer than this hems knows (%u)", have, collect_migration_count);
    goto fail;
  }
  for (unsigned v = have + 1; v <= collect_migration_count; v++) {
    const struct collect_migration *m = &collect_migrations[v - 1];
    if (collect_db_exec(db, m->sql, m->name)) goto fail;
    const char *pv[2];
    char num[16];
    snprintf(num, sizeof num, "%u", v);
    pv[0] = num;
    pv[1] = m->name;
    r = PQexecParams(db, "INSERT INTO schema_version (version, name) VALUES ($1, $2)", 2, NULL, pv, NULL, NULL, 0);
    if (collect_db_ok(r, "schema_version")) goto fail;
    PQclear(r);
    cli_err("collect: schema migration %s applied", m->name);
  }
  if (collect_db_exec(db, "COMMIT", "commit")) return CLI_ENV;
  return CLI_OK;
fail:
  PQclear(PQexec(db, "ROLLBACK"));
  return CLI_ENV;
}

int collect_db_bytea(PGresult *r, int row, int col, uint8_t *out, size_t n)
{
  if (PQgetisnull(r, row, col)) return -1;
  size_t len = 0;
  unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &len);
  if (!b) return -1;
  int rc = len == n ? 0 : -1;
  if (!rc) memcpy(out, b, n);
  PQfreemem(b);
  return rc;
}

int collect_db_load(PGconn *db, const char *id, struct collect_dev *d)
{
  const char *pv[1] = { id };
  PGresult *r = PQexecParams(db, "SELECT pubkey, key_current, head_seq, head_hash, tree_edge, quarantined "
                                 "FROM devices WHERE device_id = $1 FOR UPDATE", 1, NULL, pv, NULL, NULL, 0);
  if (collect_db_ok(r, "devices")) return -1;
  if (PQntuples(r) == 0) { PQclear(r); return 0; }
  memset(d, 0, sizeof *d);
  snprintf(d->id, sizeof d->id, "%s", id);
  int rc = 1;
  uint64_t head = strtoull(PQgetvalue(r, 0, 2), NULL, 10);
  size_t elen = 0;
  unsigned char *edge = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 4), &elen);
  if (collect_db_bytea(r, 0, 0, d->pk, sizeof d->pk) || collect_db_bytea(r, 0, 1, d->key, sizeof d->key) ||
      (head && collect_db_bytea(r, 0, 3, d->head_hash, sizeof d->head_hash)) || !edge ||
      elen != (size_t)__builtin_popcountll(head) * JOURNAL_HASH_BYTES) {
    cli_err("collect: database: device %s: a damaged devices row", id);
    rc = -1;
  } else {
    size_t at = 0;
    for (unsigned k = 0; k < 64; k++)
      if ((head >> k) & 1) { memcpy(d->edge[k], edge + at, JOURNAL_HASH_BYTES); at += JOURNAL_HASH_BYTES; }
    d->head = head;
    d->quarantined = PQgetvalue(r, 0, 5)[0] == 't';
  }
  PQfreemem(edge);
  PQclear(r);
  return rc;
}

int collect_db_save(PGconn *db, const struct collect_dev *d)
{
  uint8_t edge[64 * JOURNAL_HASH_BYTES];
  size_t n = 0;
  for (unsigned k = 0; k < 64; k++)
    if ((d->head >> k) & 1) { memcpy(edge + n, d->edge[k], JOURNAL_HASH_BYTES); n += JOURNAL_HASH_BYTES; }
  char head[24];
  snprintf(head, sizeof head, "%" PRIu64, d->head);
  const char *pv[5] = { d->id, head, (const char *)d->head_hash, (const char *)edge, (const char *)d->key };
  int pl[5] = { 0, 0, JOURNAL_HASH_BYTES, (int)n, JOURNAL_PUBKEY_BYTES };
  int pf[5] = { 0, 0, 1, 1, 1 };
  PGresult *r = PQexecParams(db, "UPDATE devices SET head_seq = $2, head_hash = $3, tree_edge = $4, key_current = $5, "
                                 "updated_at = now() WHERE device_id = $1", 5, NULL, pv, pl, pf, 0);
  if (collect_db_ok(r, "devices update")) return -1;
  PQclear(r);
  return 0;
}

int collect_db_quarantine(PGconn *db, const char *id, const char *reason, uint64_t seq, const uint8_t *stored_hash,
                          const uint8_t *received_hash, const uint8_t *received, size_t received_len,
                          const char *evidence)
{
  char s[24];
  snprintf(s, sizeof s, "%" PRIu64, seq);
  const char *pv[7] = { id, reason, s, (const char *)stored_hash, (const char *)received_hash, (const char *)received, evidence };
  int pl[7] = { 0, 0, 0, stored_hash ? JOURNAL_HASH_BYTES : 0, received_hash ? JOURNAL_HASH_BYTES : 0, (int)received_len, 0 };
  int pf[7] = { 0, 0, 0, 1, 1, 1, 0 };
  PGresult *r = PQexecParams(db, "INSERT INTO quarantine (device_id, reason, seq, stored_hash, received_hash, received, "
                                 "evidence) VALUES ($1, $2, $3, $4, $5, $6, $7)", 7, NULL, pv, pl, pf, 0);
  if (collect_db_ok(r, "quarantine")) return -1;
  PQclear(r);
  r = PQexecParams(db, "UPDATE devices SET quarantined = true, updated_at = now() WHERE device_id = $1", 1, NULL, pv,
                   NULL, NULL, 0);
  if (collect_db_ok(r, "quarantine")) return -1;
  PQclear(r);
  cli_err("collect: device %s quarantined: %s (seq %" PRIu64 ")", id, reason, seq);
  return 0;
}

static bool hex32(const char *s)
{
  if (strlen(s) != 32) return false;
  for (const char *p = s; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
  return true;
}

int collect_register(const char *url, const char *id, const char *pubkey_path, const char *fpr)
{
  if (!hex32(id)) { cli_err("collect: --register %s: a device id is 32 lowercase hex", id); return CLI_USAGE; }
  if (!pubkey_path) {
    /* a fingerprint names a key without giving it: nothing to verify seals with */
    cli_err("collect: --register: --fingerprint %s alone cannot verify seals; give --pubkey FILE (its fingerprint "
            "is checked against --fingerprint when both are given)", fpr ? fpr : "");
    return CLI_USAGE;
  }
  uint8_t pk[JOURNAL_PUBKEY_BYTES];
  int rc = journal_pubkey_load(pubkey_path, pk);
  if (rc) { cli_err("collect: --pubkey %s: %s", pubkey_path, journal_strerror(rc)); return CLI_ENV; }
  if (fpr) {
    char fp[33];
    journal_fingerprint_hex(pk, fp);
    if (!cli_fingerprint_wellformed(fpr)) { cli_err("collect: --fingerprint %s: 32 hex digits", fpr); return CLI_USAGE; }
    if (strcasecmp(fp, fpr)) { cli_err("collect: --pubkey %s has fingerprint %s, not %s", pubkey_path, fp, fpr); return CLI_FAIL; }
  }
  PGconn *db;
  if ((rc = collect_db_connect("collect", url, &db))) return rc;
  if ((rc = collect_db_migrate(db))) { PQfinish(db); return rc; }
  const char *pv[2] = { id, (const char *)pk };
  int pl[2] = { 0, JOURNAL_PUBKEY_BYTES }, pf[2] = { 0, 1 };
  PGresult *r = PQexecParams(db, "INSERT INTO devices (device_id, pubkey, key_current) VALUES ($1, $2, $2) "
                                 "ON CONFLICT (device_id) DO NOTHING RETURNING device_id", 2, NULL, pv, pl, pf, 0);
  if (collect_db_ok(r, "register")) { PQfinish(db); return CLI_ENV; }
  int added = PQntuples(r);
  PQclear(r);
  if (!added) {
    r = PQexecParams(db, "SELECT 1 FROM devices WHERE device_id = $1 AND pubkey = $2", 2, NULL, pv, pl, pf, 0);
    int same = !collect_db_ok(r, "register") && PQntuples(r) == 1;
    if (same) PQclear(r);
    PQfinish(db);
    if (!same) { cli_err("collect: --register %s: registered already with another key (not changed)", id); return CLI_FAIL; }
    printf("%s registered already with this key\n", id);
    return CLI_OK;
  }
  PQfinish(db);
  char fp[33];
  journal_fingerprint_hex(pk, fp);
  printf("%s registered, key %s\n", id, fp);
  return CLI_OK;
}
