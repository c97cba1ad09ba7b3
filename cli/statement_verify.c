/*
 * statement_verify.c — `hems verify STATEMENT --fingerprint FP | --pubkey FILE` (docs/cli.md
 * "statement"): checks a statement offline, with nothing but the file and the pinned key.
 *
 *   1. the file decodes (replay_statement_decode: bounds, digest, nothing after the end);
 *   2. its public key is the pinned one (fingerprint or key file);
 *   3. both checkpoints are C2SP signed notes signed by that key under their origin
 *      "hems/<device id>" (the name seals of journal format 3 sign under), with the same origin;
 *   4. the end checkpoint's tree extends the start one's: RFC 9162 consistency proof;
 *   5. each state's BLAKE2b-256 equals its checkpoint's `state` line (the seal's state_hash);
 *   6. the seal times fit the month (UTC): the end seal inside (start, end], the start seal
 *      before it — at or before the month's start, or else said: the journal starts inside it;
 *   7. no branch's import or export decreases (the reducer's totals never do).
 * Then it prints the period and each branch's import and export in Wh (end − start, exact µWh).
 * Any failure: one line naming what, exit 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include "cli.h"
#include "replay.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

int cli_month_parse(const char *s, uint16_t *year, uint8_t *month)
{
  if (strlen(s) != 7 || s[4] != '-') return -EINVAL;
  unsigned y = 0, m = 0;
  for (int i = 0; i < 7; i++) {
    if (i == 4) continue;
    if (s[i] < '0' || s[i] > '9') return -EINVAL;
    if (i < 4) y = y * 10 + (unsigned)(s[i] - '0');
    else m = m * 10 + (unsigned)(s[i] - '0');
  }
  if (y < 1970 || m < 1 || m > 12) return -EINVAL;
  *year = (uint16_t)y;
  *month = (uint8_t)m;
  return 0;
}

void cli_month_bounds(uint16_t year, uint8_t month, int64_t *start_ns, int64_t *end_ns)
{
  int64_t a = days_from_civil(year, month, 1);
  int64_t b = month == 12 ? days_from_civil(year + 1, 1, 1) : days_from_civil(year, month + 1u, 1);
  *start_ns = a * 86400 * 1000000000ll;
  *end_ns = b * 86400 * 1000000000ll;
}

bool cli_statement_is(const char *path)
{
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  char m[REPLAY_STATEMENT_MAGIC_LEN];
  bool is = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && read(fd, m, sizeof m) == (ssize_t)sizeof m &&
            memcmp(m, REPLAY_STATEMENT_MAGIC, sizeof m) == 0;
  close(fd);
  return is;
}

/* One checkpoint: signed by pk under its own origin; its tree and hems lines. */
static int open_note(const char *note, size_t len, const uint8_t pk[JOURNAL_PUBKEY_BYTES], struct journal_tlog_checkpoint *cp,
                     struct journal_tlog_hems *e, const char **why)
{
  char origin[JOURNAL_TLOG_NAME_MAX + 1];
  size_t n = 0;
  while (n < len && n < JOURNAL_TLOG_NAME_MAX && note[n] != '\n') n++;
  if (n == len || note[n] != '\n') { *why = "is not a checkpoint (no origin line)"; return JOURNAL_ENOTE; }
  memcpy(origin, note, n);
  origin[n] = 0;
  struct journal_tlog_verifier v;
  size_t body_len;
  if (strncmp(origin, "hems/", 5) != 0 || journal_tlog_verifier_init(&v, origin, JOURNAL_TLOG_ED25519, pk) != 0) {
    *why = "is not a hems checkpoint (origin)";
    return JOURNAL_ENOTE;
  }
  int rc = journal_tlog_open(note, len, &v, &body_len, NULL);
  if (rc) { *why = rc == JOURNAL_EBADSIG ? "is not signed by the pinned key" : "is not a signed note"; return rc; }
  if (journal_tlog_checkpoint_parse(note, body_len, cp) != 0 || journal_tlog_hems_parse(cp->ext, e) != 0) {
    *why = "is not a hems checkpoint (body)";
    return JOURNAL_ENOTE;
  }
  return 0;
}

/* µWh as Wh with six decimals, exactly. */
static void wh(char *out, size_t cap, int64_t uwh)
{
  snprintf(out, cap, "%lld.%06lld", (long long)(uwh / 1000000), (long long)(uwh % 1000000));
}

int cli_statement_check(const uint8_t *b, size_t len, const char *where, const uint8_t *pinned)
{
  struct replay_statement st;
  char why[160];
  if (replay_statement_decode(b, len, &st, why, sizeof why) != 0) {
    cli_err("statement: %s: damaged: %s", where, why);
    return CLI_FAIL;
  }
  char fp[33], pfp[33];
  journal_fingerprint_hex(st.pubkey, fp);
  journal_fingerprint_hex(pinned, pfp);
  if (sodium_memcmp(st.pubkey, pinned, JOURNAL_PUBKEY_BYTES) != 0) {
    cli_err("statement: %s: its checkpoints name key %s, not the pinned key %s", where, fp, pfp);
    return CLI_FAIL;
  }
  static const char *const end_name[2] = { "start", "end" };
  struct journal_tlog_checkpoint cp[2];
  struct journal_tlog_hems e[2];
  struct replay_state_energy en[2];
  for (int k = 0; k < 2; k++) {
    const char *nwhy = "";
    if (open_note(st.note[k], st.note_len[k], pinned, &cp[k], &e[k], &nwhy) != 0) {
      cli_err("statement: %s: the %s checkpoint %s", where, end_name[k], nwhy);
      return CLI_FAIL;
    }
  }
  if (strcmp(cp[0].origin, cp[1].origin) != 0) {
    cli_err("statement: %s: the checkpoints are of two logs (%s, %s)", where, cp[0].origin, cp[1].origin);
    return CLI_FAIL;
  }
  if (cp[0].size >= cp[1].size) {
    cli_err("statement: %s: the end checkpoint (size %llu) does not extend the start one (size %llu)", where,
            (unsigned long long)cp[1].size, (unsigned long long)cp[0].size);
    return CLI_FAIL;
  }
  struct journal_merkle_hasher h;
  if (journal_merkle_hasher_init(&h) != 0) { cli_err("statement: out of memory"); return CLI_ENV; }
  int prc = journal_merkle_verify_consistency(&h, cp[0].size, cp[0].root, cp[1].size, cp[1].root,
                                              (const uint8_t(*)[JOURNAL_HASH_BYTES])st.proof, st.nproof);
  journal_merkle_hasher_deinit(&h);
  if (prc) {
    cli_err("statement: %s: the consistency proof from size %llu to %llu does not verify (RFC 9162)", where,
            (unsigned long long)cp[0].size, (unsigned long long)cp[1].size);
    return CLI_FAIL;
  }
  for (int k = 0; k < 2; k++) {
    uint8_t hh[32];
    crypto_generichash(hh, sizeof hh, st.state[k], st.state_len[k], NULL, 0);
    if (sodium_memcmp(hh, e[k].state_hash, sizeof hh) != 0) {
      cli_err("statement: %s: the %s state's hash is not the state its checkpoint (seal %llu) signed", where, end_name[k],
              (unsigned long long)cp[k].size + 1);
      return CLI_FAIL;
    }
    replay_state_energy_parse(st.state[k], st.state_len[k], &en[k]); /* decode parsed it already */
  }
  if (en[0].reducer_version != en[1].reducer_version) {
    cli_err("statement: %s: the states are of two reducer versions (%u, %u)", where, en[0].reducer_version, en[1].reducer_version);
    return CLI_FAIL;
  }
  int64_t ms, me;
  cli_month_bounds(st.year, st.month, &ms, &me);
  char ts[4][32];
  journal_format_time(ms, ts[0]);
  journal_format_time(me, ts[1]);
  journal_format_time(e[0].time_ns, ts[2]);
  journal_format_time(e[1].time_ns, ts[3]);
  if (e[1].time_ns <= ms || e[1].time_ns > me || e[0].time_ns >= e[1].time_ns) {
    cli_err("statement: %s: the seal times (%s, %s) do not bound month %04u-%02u (%s to %s, UTC)", where, ts[2], ts[3],
            st.year, st.month, ts[0], ts[1]);
    return CLI_FAIL;
  }
  unsigned nb = en[1].nbranches;
  if (st.branch > nb) {
    cli_err("statement: %s: names branch %u, the panel has %u", where, st.branch, nb);
    return CLI_FAIL;
  }
  for (unsigned i = 0; i < nb; i++)
    if (en[1].import_uwh[i] < en[0].import_uwh[i] || en[1].export_uwh[i] < en[0].export_uwh[i]) {
      cli_err("statement: %s: branch %u's energy total decreases between the two states", where, i + 1);
      return CLI_FAIL;
    }
  printf("statement: ok: month %04u-%02u, UTC (%s to %s), key %s, log %s\n", st.year, st.month, ts[0], ts[1], fp, cp[0].origin);
  printf("start: seal seq %llu (tree size %llu) at %s\n", (unsigned long long)cp[0].size + 1, (unsigned long long)cp[0].size, ts[2]);
  printf("end:   seal seq %llu (tree size %llu) at %s\n", (unsigned long long)cp[1].size + 1, (unsigned long long)cp[1].size, ts[3]);
  printf("proof: tree %llu is a prefix of tree %llu (RFC 9162 consistency, %u hashes); both states are the signed ones\n",
         (unsigned long long)cp[0].size, (unsigned long long)cp[1].size, st.nproof);
  if (e[0].time_ns > ms)
    printf("note: the start state is after the month's start: the journal starts inside the month (energy before %s is not counted)\n", ts[2]);
  if (e[1].time_ns < me)
    printf("note: the period ends at the end seal (%s), the newest before the month's end\n", ts[3]);
  printf("%-7s %18s %18s\n", "branch", "import_Wh", "export_Wh");
  for (unsigned i = 0; i < nb; i++) {
    if (st.branch && st.branch != i + 1) continue;
    char a[40], x[40];
    wh(a, sizeof a, en[1].import_uwh[i] - en[0].import_uwh[i]);
    wh(x, sizeof x, en[1].export_uwh[i] - en[0].export_uwh[i]);
    printf("%-7u %18s %18s\n", i + 1, a, x);
  }
  return fflush(stdout) == 0 ? CLI_OK : CLI_ENV;
}

int cli_statement_verify(const char *path, const char *pubkey_file, const char *fingerprint)
{
  if (!pubkey_file && !fingerprint) {
    cli_err("verify: %s: a statement is checked against a pinned key: pass --fingerprint FP or --pubkey FILE", path);
    return CLI_USAGE;
  }
  if (fingerprint && !cli_fingerprint_wellformed(fingerprint)) {
    cli_err("--fingerprint %s: not a key fingerprint (it is 32 hex digits, as 'hems init' prints)", fingerprint);
    return CLI_USAGE;
  }
  uint8_t pk[JOURNAL_PUBKEY_BYTES];
  if (pubkey_file) {
    int rc = journal_pubkey_load(pubkey_file, pk);
    if (rc) {
      cli_err("%s: %s", pubkey_file, rc == -ENOENT ? "no such public key file" : "not a public key file ('ed25519 <base64>')");
      return rc == -ENOENT ? CLI_ENV : CLI_USAGE;
    }
  }
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  struct stat sb;
  if (fd < 0 || fstat(fd, &sb) != 0) {
    cli_err("statement: %s: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    return CLI_ENV;
  }
  if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > REPLAY_STATEMENT_MAX) {
    cli_err("statement: %s: damaged: %s", path, S_ISREG(sb.st_mode) ? "longer than any statement" : "not a regular file");
    close(fd);
    return CLI_FAIL;
  }
  size_t len = (size_t)sb.st_size, got = 0;
  uint8_t *b = malloc(len ? len : 1);
  while (b && got < len) {
    ssize_t n = read(fd, b + got, len - got);
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  if (!b || got != len) {
    cli_err("statement: %s: %s", path, b ? "cannot read it" : "out of memory");
    free(b);
    return CLI_ENV;
  }
  if (fingerprint) {
    /* the key is the statement's own; it must be the pinned one */
    struct replay_statement st;
    char why[160];
    if (replay_statement_decode(b, len, &st, why, sizeof why) != 0) {
      cli_err("statement: %s: damaged: %s", path, why);
      free(b);
      return CLI_FAIL;
    }
    char fp[33];
    journal_fingerprint_hex(st.pubkey, fp);
    if (strcasecmp(fp, fingerprint) != 0) {
      cli_err("statement: %s: key fingerprint mismatch: expected %s, the statement's key is %s", path, fingerprint, fp);
      free(b);
      return CLI_FAIL;
    }
    memcpy(pk, st.pubkey, sizeof pk);
  }
  int rc = cli_statement_check(b, len, path, pk);
  free(b);
  return rc;
}
