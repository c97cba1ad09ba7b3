/*
 * bench_fleet.c — `hems bench fleet --db URL --broker URL [--records N] [--dir DIR]`: the fleet
 * path measured on this machine against a running PostgreSQL and MQTT broker the caller names
 * (tests/cli/test_collect.py starts both in a temp dir and runs this too; docs/fleet.md "Sizing").
 *
 * A journal of N records of the 48-branch panel is synthesised (bench_synth.c) and cut into
 * batches as `hems ship` cuts them when catching up (ship_batch.c: at the first seal after 512
 * records or 128 KiB), and its device registered under a fresh id. Then, in one run:
 *   - end to end: the envelopes published with QoS 1 on hems/ID/records, a `hems collect` child
 *     in a group of its own verifies and inserts them; records/s from the first publish until the
 *     device's stored head is N;
 * The synthesised journal has a device id of its own, registered anew each run (its rows are
 * removed at the end).
 *   - the collector alone: the same envelopes through collect_batch() in this process after the
 *     device's rows are removed (decode, decompress, chain, seals, tree, COPY, commit per batch);
 *     then once more, the rows removed again, with the windows decoded (--decode-windows: rows
 *     of window_powers too);
 *   - a plain COPY of the same rows, batch by batch, into a temporary table like records;
 *   - bytes per record on the wire (envelopes over records) and raw.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <mosquitto.h>
#include <sodium.h>
#include "cli.h"
#include "bridge.h"
#include "collect.h"
#include "collect_envelope.h"
#include "ship.h"

struct env { uint8_t *p; size_t n; };

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The journal's records as ship's catch-up batches: envelopes into *out (malloc'd). */
static int batches(const char *dir, uint8_t dev[16], struct env **out, size_t *n_out, uint64_t *records, uint64_t *raw)
{
  struct journal_reader *r;
  struct journal_iter *it;
  int rc = journal_reader_open(&r, dir, NULL, true);
  if (rc) return rc;
  uint64_t first = 0, last = 0;
  journal_reader_bounds(r, &first, &last);
  if ((rc = journal_iter_begin(r, 1, &it))) { journal_reader_close(r); return rc; }
  struct ship_batch b;
  ship_batch_init(&b);
  size_t cap = 64, n = 0;
  struct env *e = malloc(cap * sizeof *e);
  *records = *raw = 0;
  for (uint64_t s = 1; s <= last && !rc && e; s++) {
    const uint8_t *p;
    size_t len;
    if ((rc = journal_iter_get(it, s, &p, &len))) break;
    bool seal = ship_is_seal(p, len);
    if ((rc = ship_batch_add(&b, p, len, s, seal))) break;
    *records += 1;
    *raw += len;
    if (!seal || (!ship_batch_full(&b) && s != last)) continue;
    if (n == cap && !(e = realloc(e, (cap *= 2) * sizeof *e))) break;
    if ((rc = ship_batch_envelope(&b, dev, SHIP_LIVE, &e[n].p, &e[n].n))) break;
    n++;
    ship_batch_reset(&b);
  }
  /* records after the last seal are left out: a batch ends at a seal */
  *records -= b.count;
  *raw -= b.rec_bytes;
  ship_batch_deinit(&b);
  journal_iter_end(it);
  journal_reader_close(r);
  if (!e) return -ENOMEM;
  *out = e;
  *n_out = n;
  return rc;
}

static int q(PGconn *db, const char *sql) { return collect_db_exec(db, sql, "bench"); }

static int reset_device(PGconn *db, const char *id)
{
  char sql[400];
  snprintf(sql, sizeof sql, "DELETE FROM records WHERE device_id = '%s'; DELETE FROM checkpoints WHERE device_id = '%s'; "
           "UPDATE devices SET head_seq = 0, head_hash = NULL, tree_edge = '', key_current = pubkey WHERE device_id = '%s'",
           id, id, id);
  return q(db, sql);
}

static uint64_t head_of(PGconn *db, const char *id)
{
  const char *pv[1] = { id };
  PGresult *r = PQexecParams(db, "SELECT head_seq FROM devices WHERE device_id = $1", 1, NULL, pv, NULL, NULL, 0);
  if (collect_db_ok(r, "bench")) return 0;
  uint64_t h = PQntuples(r) ? strtoull(PQgetvalue(r, 0, 0), NULL, 10) : 0;
  PQclear(r);
  return h;
}

/* End to end through the broker and a `hems collect` child: seconds, or < 0. */
static double end_to_end(const char *broker, const char *db_url, PGconn *db, const char *id, const struct env *e,
                         size_t n, uint64_t records, const char *logpath)
{
  char group[64], host[256];
  snprintf(group, sizeof group, "bench%d", (int)getpid());
  const char *h;
  int port;
  bool tls;
  if (bridge_broker_url(broker, host, sizeof host, &h, &port, &tls) || tls) { cli_err("bench fleet: --broker: mqtt://HOST[:PORT]"); return -1; }
  pid_t pid = fork();
  if (pid == 0) {
    FILE *f = freopen(logpath, "w", stderr);
    (void)f;
    execl("/proc/self/exe", "hems", "collect", "--broker", broker, "--db", db_url, "--group", group, "--client-id", group,
          (char *)NULL);
    _exit(127);
  }
  if (pid < 0) return -1;
  mosquitto_lib_init();
  struct mosquitto *m = mosquitto_new(NULL, true, NULL);
  double t = -1;
  if (!m || mosquitto_connect(m, h, port, 30) != MOSQ_ERR_SUCCESS) { cli_err("bench fleet: cannot connect to %s", broker); goto out; }
  mosquitto_max_inflight_messages_set(m, 64);
  for (int i = 0; i < 100; i++) { /* the collector subscribed */
    char line[512];
    FILE *f = fopen(logpath, "r");
    bool up = false;
    while (f && fgets(line, sizeof line, f)) up |= strstr(line, "subscribed") != NULL;
    if (f) fclose(f);
    if (up) break;
    usleep(100000);
  }
  char topic[64];
  snprintf(topic, sizeof topic, "hems/%s/records", id);
  double t0 = now_s();
  for (size_t i = 0; i < n; i++) {
    mosquitto_publish(m, NULL, topic, (int)e[i].n, e[i].p, 1, false);
    mosquitto_loop(m, 0, 1);
  }
  while (now_s() - t0 < 600) {
    mosquitto_loop(m, 20, 1);
    if (head_of(db, id) >= records) { t = now_s() - t0; break; }
  }
  if (t < 0) cli_err("bench fleet: the collector did not store all records within 600 s (see %s)", logpath);
out:
  if (m) { mosquitto_disconnect(m); mosquitto_destroy(m); }
  mosquitto_lib_cleanup();
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
  return t;
}

/* The envelopes through collect_batch() in this process, the device's head 0 before: seconds, or < 0. */
static double collect_alone(PGconn *db, const char *id, const struct env *e, size_t n, uint64_t records, bool windows)
{
  struct collect_witness w = { .decode_windows = windows };
  double t0 = now_s(), t = -1;
  size_t i;
  for (i = 0; i < n; i++) {
    struct collect_result res;
    if (collect_batch(db, &w, id, e[i].p, e[i].n, &res) != COLLECT_STORED) { cli_err("bench fleet: batch %zu not stored", i); break; }
    free(res.cosigned);
  }
  if (i == n) t = now_s() - t0;
  if (t >= 0 && head_of(db, id) != records) { cli_err("bench fleet: the stored head is not %llu", (unsigned long long)records); t = -1; }
  return t;
}

int cli_bench_fleet(int argc, char **argv)
{
  enum { O_DB = 1000, O_BROKER, O_RECORDS, O_FORMAT, O_DIR };
  static const struct option lo[] = { { "db", required_argument, NULL, O_DB }, { "broker", required_argument, NULL, O_BROKER },
                                      { "records", required_argument, NULL, O_RECORDS }, { "format", required_argument, NULL, O_FORMAT },
                                      { "dir", required_argument, NULL, O_DIR }, { 0 } };
  const char *db_url = NULL, *broker = NULL, *base = NULL;
  uint64_t want = 20000;
  bool as_json = false;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DB) db_url = optarg;
    else if (opt == O_BROKER) broker = optarg;
    else if (opt == O_DIR) base = optarg;
    else if (opt == O_FORMAT && (!strcmp(optarg, "json") || !strcmp(optarg, "text"))) as_json = !strcmp(optarg, "json");
    else if (opt == O_RECORDS && !cli_parse_u64(optarg, &want) && want >= 1000 && want <= 10000000) continue;
    else return cli_usage(cli_find("bench"), false);
  }
  if (!db_url || !broker || optind != argc - 1 || strcmp(argv[optind], "fleet")) return cli_usage(cli_find("bench"), false);
  if (sodium_init() < 0) return CLI_ENV;
  char tmp[4096], jdir[4200], logpath[4200];
  snprintf(tmp, sizeof tmp, "%s/hems-bench-fleet-XXXXXX", base ? base : "/tmp");
  if (!mkdtemp(tmp)) { cli_err("bench fleet: %s: %s", tmp, strerror(errno)); return CLI_ENV; }
  snprintf(jdir, sizeof jdir, "%s/j", tmp);
  snprintf(logpath, sizeof logpath, "%s/collect.log", tmp);
  struct cli_synth_result sr;
  int rc = cli_bench_synth_journal(jdir, 0, 1, want, 1000000000ull, "fleet", &sr);
  if (rc) { cli_err("bench fleet: synthesising the journal: %s", journal_strerror(rc)); return CLI_ENV; }
  uint8_t dev[16] = { 0 };
  char id[33], pub[4300];
  struct env *e = NULL;
  size_t n = 0;
  uint64_t records = 0, raw = 0, wire = 0;
  /* the seals' checkpoints are signed under the journal's own device id: use it */
  struct journal_reader *rd;
  if (journal_reader_open(&rd, jdir, NULL, true) == 0) {
    char jid[33];
    if (journal_reader_device_id(rd, jid) == 0) sodium_hex2bin(dev, sizeof dev, jid, 32, NULL, NULL, NULL);
    journal_reader_close(rd);
  }
  journal_hex(dev, sizeof dev, id);
  if ((rc = batches(jdir, dev, &e, &n, &records, &raw))) { cli_err("bench fleet: reading the journal: %s", journal_strerror(rc)); return CLI_ENV; }
  for (size_t i = 0; i < n; i++) wire += e[i].n;
  snprintf(pub, sizeof pub, "%s/keys/signing.pub", jdir);
  PGconn *db = NULL;
  json_t *out = NULL;
  uint8_t pk[JOURNAL_PUBKEY_BYTES];
  if (journal_pubkey_load(pub, pk) != 0) { cli_err("bench fleet: %s: not a public key", pub); rc = CLI_ENV; goto done; }
  if ((rc = collect_db_connect("bench fleet", db_url, &db)) || (rc = collect_db_migrate(db))) goto done;
  rc = CLI_ENV;
  const char *pv[2] = { id, (const char *)pk };
  int pl[2] = { 0, JOURNAL_PUBKEY_BYTES }, pf[2] = { 0, 1 };
  PGresult *pr = PQexecParams(db, "INSERT INTO devices (device_id, pubkey, key_current) VALUES ($1, $2, $2) "
                                  "ON CONFLICT (device_id) DO UPDATE SET pubkey = $2, quarantined = false", 2, NULL, pv, pl, pf, 0);
  if (collect_db_ok(pr, "bench")) goto done;
  PQclear(pr);
  if (reset_device(db, id)) goto done;
  double e2e = end_to_end(broker, db_url, db, id, e, n, records, logpath);
  if (e2e < 0 || reset_device(db, id)) goto done;
  /* the collector's own work, in this process: as it runs by default, then with --decode-windows */
  double tv = collect_alone(db, id, e, n, records, false);
  double tw = tv < 0 || reset_device(db, id) ? -1 : collect_alone(db, id, e, n, records, true);
  if (tw < 0) goto done;
  /* a plain COPY of the same rows, batch by batch, one transaction each */
  if (q(db, "CREATE TEMP TABLE bench_copy (LIKE records INCLUDING DEFAULTS)")) goto done;
  double tc = 0;
  for (size_t i = 0; i < n; i++) {
    struct collect_envelope ce;
    const char *why;
    struct collect_copy g = { 0 };
    struct journal_record r;
    if (collect_envelope_decode(e[i].p, e[i].n, &ce, &why)) goto done;
    for (uint64_t k = 0; k < ce.count; k++) {
      journal_record_decode(ce.raw + ce.off[k], ce.len[k], &r);
      collect_copy_line(&g, id, &r, ce.raw + ce.off[k], ce.len[k]);
    }
    double c0 = now_s();
    int bad = q(db, "BEGIN") || collect_copy_in(db, "bench_copy (device_id, seq, type, wall_time, bytes)", &g) || q(db, "COMMIT");
    tc += now_s() - c0;
    free(g.p);
    collect_envelope_free(&ce);
    if (bad) goto done;
  }
  reset_device(db, id);
  snprintf(pub, sizeof pub, "DELETE FROM devices WHERE device_id = '%s'", id);
  q(db, pub);
  out = json_object();
  json_object_set_new(out, "records", json_integer((json_int_t)records));
  json_object_set_new(out, "batches", json_integer((json_int_t)n));
  json_object_set_new(out, "e2e_records_per_s", json_real((double)records / e2e));
  json_object_set_new(out, "collect_records_per_s", json_real((double)records / tv));
  json_object_set_new(out, "collect_decode_windows_records_per_s", json_real((double)records / tw));
  json_object_set_new(out, "copy_records_per_s", json_real((double)records / tc));
  json_object_set_new(out, "collect_vs_copy", json_real(tc / tv));
  json_object_set_new(out, "wire_bytes_per_record", json_real((double)wire / (double)records));
  json_object_set_new(out, "raw_bytes_per_record", json_real((double)raw / (double)records));
  cli_bench_emit(out, as_json);
  json_decref(out);
  rc = CLI_OK;
done:
  if (db) PQfinish(db);
  for (size_t i = 0; i < n; i++) free(e[i].p);
  free(e);
  if (rc == CLI_OK) cli_rm_rf(tmp);
  else cli_err("bench fleet: files kept in %s", tmp);
  return rc;
}
