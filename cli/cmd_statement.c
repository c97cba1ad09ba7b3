/*
 * cmd_statement.c — `hems statement [--dir DIR] --month YYYY-MM [--branch B] --out FILE`
 * (docs/cli.md "statement"; the file: replay.h "statements", docs/replay.md "Statements").
 *
 * A month is a calendar month in UTC: [YYYY-MM-01T00:00Z, first of the next month). Its start
 * state is the one the last seal at or before the month's start signed — or, when the journal
 * starts inside the month, the first seal's (said in the output) — and its end state the last
 * seal's at or before the month's end. Only seals that sign a checkpoint (schema v 3) with a
 * state hash and a tree root count. Each state is folded (replay_checkpoint_fold: from the newest
 * authenticated replay checkpoint before it, as `replay --until`) to the record before its seal,
 * hashed, and must equal the seal's state_hash before anything is written; the seals' signed
 * notes and the RFC 9162 consistency proof between their trees (from the tiles, verified) go
 * with them. The file written is then checked as `hems verify FILE` would (with the data dir's
 * key) and that check's output is printed.
 * Exit: 0; 1 no data (a month before the journal, or no seal inside it), a seal that does not
 * verify or a state that differs from the signed one, the proof cannot be made; 2 usage; 3 I/O.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "replay.h"

enum { O_DIR = 1000, O_COUNTER, O_ACCEPT, O_MONTH, O_BRANCH, O_OUT };

struct end {
  uint64_t seq;               /* the seal's */
  struct journal_record seal;
};

/* The seal at seq q when it can anchor a statement: v 3, a state hash, a tree root. */
static bool usable_seal(struct journal_iter *it, uint64_t q, struct journal_record *r)
{
  static const uint8_t zero[JOURNAL_HASH_BYTES];
  const uint8_t *b;
  size_t len;
  return journal_iter_get(it, q, &b, &len) == 0 && journal_record_decode(b, len, r) == 0 && r->type == JOURNAL_T_SEAL &&
         r->version >= 3 && memcmp(r->body.seal.state_hash, zero, sizeof zero) != 0 &&
         memcmp(r->body.seal.tree_root, zero, sizeof zero) != 0;
}

/* The last usable seal with wall time <= t: 1, 0 (none), <0 error. Starts at the group before the
 * first one whose records reach past t (journal_seek_time) and walks back group by group. */
static int seal_at_or_before(struct journal_iter *it, uint64_t first, uint64_t last, int64_t t, struct end *out)
{
  uint64_t q = 0;
  int rc = journal_seek_time(it, t == INT64_MAX ? t : t + 1, &q);
  if (rc && rc != JOURNAL_ENOTFOUND) return rc;
  uint64_t g = q == 0 || q > last ? last : q - 1;
  while (g >= first && g > 0) {
    uint64_t gf, gl;
    if (journal_group_of(it, g, &gf, &gl) != 0 || gl < g || gf > g) gf = gl = g; /* the unsealed tail */
    if (usable_seal(it, gl, &out->seal) && out->seal.wall_ns <= t) {
      out->seq = gl;
      return 1;
    }
    g = gf - 1;
  }
  return 0;
}

/* The first usable seal: 1, 0 (none up to `limit`). */
static int first_seal(struct journal_iter *it, uint64_t first, uint64_t limit, struct end *out)
{
  for (uint64_t g = first; g && g <= limit;) {
    uint64_t gf, gl;
    if (journal_group_of(it, g, &gf, &gl) != 0 || gl < g) gl = g;
    if (usable_seal(it, gl, &out->seal)) {
      out->seq = gl;
      return 1;
    }
    g = gl + 1;
  }
  return 0;
}

/* The state the seal at e->seq signed, checked, serialised into a malloc'd buffer. */
static int signed_state(struct journal_reader *rd, const struct end *e, const uint8_t *pk, const char *where,
                        uint8_t **out, size_t *out_len)
{
  uint8_t *ck = malloc(REPLAY_CHECKPOINT_BYTES);
  struct replay_state *st = malloc(sizeof *st);
  int ret = CLI_FAIL;
  uint64_t cseq;
  int rc = !ck || !st ? -ENOMEM : replay_checkpoint_fold(rd, e->seq - 1, pk, ck);
  if (!rc) rc = replay_checkpoint_decode(ck, REPLAY_CHECKPOINT_BYTES, 0, st, &cseq);
  if (rc) {
    cli_err("statement: %s: cannot fold the state before seal %llu: %s", where, (unsigned long long)e->seq, journal_strerror(rc));
    ret = rc == -ENOMEM ? CLI_ENV : CLI_FAIL;
    goto out;
  }
  uint8_t h[JOURNAL_HASH_BYTES];
  replay_state_hash(st, h);
  if (memcmp(h, e->seal.body.seal.state_hash, sizeof h) != 0) {
    cli_err("statement: %s: the state after seq %llu differs from the one seal %llu signed (another reducer version?)", where,
            (unsigned long long)e->seq - 1, (unsigned long long)e->seq);
    goto out;
  }
  *out_len = replay_state_serialise(st, NULL, 0);
  if (!(*out = malloc(*out_len)) || replay_state_serialise(st, *out, *out_len) != *out_len) {
    cli_err("statement: out of memory");
    ret = CLI_ENV;
    goto out;
  }
  ret = CLI_OK;
out:
  free(ck);
  free(st);
  return ret;
}

static int write_file(const char *path, const uint8_t *b, size_t len)
{
  char tmp[4200], dir[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, (int)getpid());
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) *(slash == dir ? slash + 1 : slash) = 0;
  else snprintf(dir, sizeof dir, ".");
  FILE *f = fopen(tmp, "wbx");
  if (!f) return -errno;
  bool ok = fwrite(b, 1, len, f) == len;
  if (fclose(f) != 0) ok = false;
  if (!ok) { unlink(tmp); return -EIO; }
  return cli_replace_durably(tmp, path, dir);
}

int cli_cmd_statement(int argc, char **argv)
{
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR }, { "counter", required_argument, NULL, O_COUNTER },
                                      { "accept-rollback", no_argument, NULL, O_ACCEPT },
                                      { "month", required_argument, NULL, O_MONTH }, { "branch", required_argument, NULL, O_BRANCH },
                                      { "out", required_argument, NULL, O_OUT }, { 0 } };
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  const char *month = NULL, *outp = NULL, *branch_arg = NULL;
  uint16_t branch = 0;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DIR) c.dir = optarg;
    else if (opt == O_COUNTER) c.counter = optarg;
    else if (opt == O_ACCEPT) c.accept_rollback = true;
    else if (opt == O_MONTH) month = optarg;
    else if (opt == O_OUT) outp = optarg;
    else if (opt == O_BRANCH) branch_arg = optarg;
    else return cli_usage(cli_find("statement"), false);
  }
  if (optind != argc) return cli_usage(cli_find("statement"), false);
  if (!month || !outp) {
    cli_err("statement: %s missing (see 'hems statement --help')", !month && !outp ? "--month YYYY-MM and --out FILE"
                                                                    : !month ? "--month YYYY-MM" : "--out FILE");
    return CLI_USAGE;
  }
  if (branch_arg) {
    /* a number or the configured name */
    struct cli_names names;
    int nrc = cli_names_load(&c, NULL, NULL, &names);
    if (nrc) return nrc;
    int brc = cli_branch_arg(&names, branch_arg, &branch);
    if (brc == 0 && (branch > REPLAY_BRANCHES_MAX || (names.count && !cli_branch_name(&names, branch)))) brc = -ENOENT;
    if (brc) cli_branch_arg_error("statement", &names, branch_arg, brc);
    cli_names_free(&names);
    if (brc) return CLI_USAGE;
  }
  struct replay_statement st;
  memset(&st, 0, sizeof st);
  if (cli_month_parse(month, &st.year, &st.month) != 0) {
    cli_err("statement: --month %s: not a month (YYYY-MM, 1970 or later)", month);
    return CLI_USAGE;
  }
  st.branch = branch;
  int64_t ms, me;
  cli_month_bounds(st.year, st.month, &ms, &me);
  struct cli_source s;
  int rc = cli_source_open(&c, NULL, NULL, &s);
  if (rc) return rc;
  const char *where = c.dir;
  struct end *e = calloc(2, sizeof *e);
  struct journal_iter *it = NULL;
  uint8_t *state[2] = { NULL, NULL }, *file = NULL;
  struct journal_merkle_hasher h = { 0 };
  struct journal_merkle_records rs;
  char id[33], note[2][JOURNAL_TLOG_NOTE_MAX], mon[16];
  int ret = CLI_FAIL;
  uint64_t first, last;
  snprintf(mon, sizeof mon, "%04u-%02u", st.year, st.month);
  if (!e || journal_merkle_hasher_init(&h)) { cli_err("statement: out of memory"); ret = CLI_ENV; goto out; }
  if ((rc = journal_reader_bounds(s.reader, &first, &last)) || (rc = journal_iter_begin(s.reader, 1, &it))) {
    cli_err("statement: %s: %s", where, journal_strerror(rc));
    ret = journal_is_store_damage(rc) ? CLI_FAIL : CLI_ENV;
    goto out;
  }
  if (journal_reader_device_id(s.reader, id) != 0) {
    cli_err("statement: %s: no valid device id (the checkpoints' origin)", where);
    goto out;
  }
  char ts[2][32];
  journal_format_time(ms, ts[0]);
  journal_format_time(me, ts[1]);
  rc = seal_at_or_before(it, first, last, me, &e[1]);
  if (rc <= 0) {
    if (rc < 0) cli_err("statement: %s: %s", where, journal_strerror(rc));
    else cli_err("statement: %s: month %s is before the journal: no signed state at or before %s", where, mon, ts[1]);
    goto out;
  }
  rc = seal_at_or_before(it, first, last, ms, &e[0]);
  if (rc == 0) rc = first_seal(it, first, e[1].seq, &e[0]);
  if (rc < 0) { cli_err("statement: %s: %s", where, journal_strerror(rc)); goto out; }
  if (e[0].seq >= e[1].seq) {
    cli_err("statement: %s: no data in month %s: no seal signed a state between %s and %s (UTC)", where, mon, ts[0], ts[1]);
    goto out;
  }
  for (int k = 0; k < 2; k++) {
    const struct journal_record *r = &e[k].seal;
    uint8_t kid[JOURNAL_KEYID_BYTES];
    journal_key_id(s.pubkey, kid);
    if (memcmp(kid, r->body.seal.key_id, sizeof kid) != 0 || journal_seal_verify(r, id, s.pubkey) != 0) {
      cli_err("statement: %s: seal %llu does not verify with the journal's current key (a statement spans no key rotation)",
              where, (unsigned long long)e[k].seq);
      goto out;
    }
    int nl = journal_seal_note(r, id, s.pubkey, note[k], sizeof note[k]);
    if (nl < 0) { cli_err("statement: %s: seal %llu: %s", where, (unsigned long long)e[k].seq, journal_strerror(nl)); goto out; }
    st.note[k] = note[k];
    st.note_len[k] = (size_t)nl;
    if ((ret = signed_state(s.reader, &e[k], s.pubkey, where, &state[k], &st.state_len[k])) != CLI_OK) goto out;
    ret = CLI_FAIL;
    st.state[k] = state[k];
  }
  uint64_t sz[2] = { e[0].seal.body.seal.sealed_seq, e[1].seal.body.seal.sealed_seq };
  uint8_t proof[JOURNAL_MERKLE_PROOF_MAX][JOURNAL_HASH_BYTES];
  struct journal_merkle_tile_reader trd = journal_iter_tile_reader(it, &h, &rs);
  if ((rc = journal_merkle_prove_consistency(&h, &trd, sz[0], sz[1], proof, &st.nproof)) ||
      (rc = journal_merkle_verify_consistency(&h, sz[0], e[0].seal.body.seal.tree_root, sz[1], e[1].seal.body.seal.tree_root,
                                              (const uint8_t(*)[JOURNAL_HASH_BYTES])proof, st.nproof))) {
    cli_err("statement: %s: cannot prove tree %llu consistent with tree %llu: %s", where, (unsigned long long)sz[0],
            (unsigned long long)sz[1], journal_strerror(rc));
    goto out;
  }
  st.proof = &proof[0][0];
  memcpy(st.pubkey, s.pubkey, sizeof st.pubkey);
  struct replay_state_energy en;
  if (branch && (replay_state_energy_parse(state[1], st.state_len[1], &en) != 0 || branch > en.nbranches)) {
    cli_err("statement: --branch %llu: the panel has %u branches", (unsigned long long)branch, en.nbranches);
    ret = CLI_USAGE;
    goto out;
  }
  long n = (file = malloc(REPLAY_STATEMENT_MAX)) ? replay_statement_encode(&st, file, REPLAY_STATEMENT_MAX) : -ENOMEM;
  if (n < 0) { cli_err("statement: cannot encode it: %s", journal_strerror((int)n)); ret = CLI_ENV; goto out; }
  if ((rc = write_file(outp, file, (size_t)n)) != 0) {
    cli_err("statement: %s: not written: %s", outp, strerror(-rc));
    ret = CLI_ENV;
    goto out;
  }
  ret = cli_statement_check(file, (size_t)n, outp, s.pubkey);
out:
  if (it) journal_iter_end(it);
  journal_merkle_hasher_deinit(&h);
  free(file);
  free(state[0]);
  free(state[1]);
  free(e);
  cli_source_close(&s);
  return ret;
}
