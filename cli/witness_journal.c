/*
 * witness_journal.c — witness cosignatures in the journal: `hems witness add [--dir DIR] --witness
 * WVKEY COSIGNED` journals a witness record, and `hems verify --dir DIR --witness WVKEY` checks them
 * (docs/cli.md "witness").
 *
 * A cosignature is only journaled if it verifies over the checkpoint the journal itself signed at
 * that size: the seal at seq size + 1 (format 3: the seal signs its checkpoint), checked with the
 * journal's key, whose note body must equal the cosigned body byte for byte. COSIGNED is the
 * checkpoint with the witness's line appended (what `hems witness … cp.txt >> cp.txt` leaves);
 * the line alone carries only a 4-byte key hash, so the witness's verifier key is given too.
 * `verify --witness` rebuilds each journaled cosignature of that key as a signature line under
 * the seal's checkpoint and opens it with the same code a witness client would
 * (journal_tlog_open).
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "cli.h"

enum { O_DIR = 1000, O_COUNTER, O_ACCEPT, O_WITNESS };
enum { O_SIGNER = 1100 };
static const char em_dash_space[] = "\xe2\x80\x94 ";

/* The body of the checkpoint the journal signed at tree size `size` (the seal at seq size + 1)
 * into body (NUL-terminated): 0, or CLI_FAIL with *why set. */
static int seal_body(struct journal_reader *r, const uint8_t pk[JOURNAL_PUBKEY_BYTES], uint64_t size, char *body,
                     size_t cap, size_t *blen, const char **why)
{
  char id[33];
  if (journal_reader_device_id(r, id) != 0) { *why = "the journal has no valid device id"; return CLI_FAIL; }
  struct journal_iter *it;
  const uint8_t *b;
  size_t n;
  struct journal_record rec;
  char note[JOURNAL_TLOG_NOTE_MAX];
  int nl = -1;
  if (size == 0 || size == UINT64_MAX || journal_iter_begin(r, size + 1, &it) != 0) {
    *why = "no seal in the journal at that size";
    return CLI_FAIL;
  }
  int rc = journal_iter_get(it, size + 1, &b, &n);
  if (rc == 0 && journal_record_decode(b, n, &rec) == 0 && rec.type == JOURNAL_T_SEAL && rec.version >= 3 &&
      rec.body.seal.sealed_seq == size) {
    uint8_t kid[JOURNAL_KEYID_BYTES];
    journal_key_id(pk, kid);
    if (memcmp(kid, rec.body.seal.key_id, sizeof kid) != 0) *why = "the seal at that size is signed by another key";
    else if (journal_seal_verify(&rec, id, pk) != 0) *why = "the seal at that size does not verify";
    else nl = journal_seal_note(&rec, id, pk, note, sizeof note);
  } else {
    *why = "no seal of journal format 3 at that size (record size + 1 is not one)";
  }
  journal_iter_end(it);
  if (nl < 0) { if (!*why) *why = "the seal's checkpoint cannot be rebuilt"; return CLI_FAIL; }
  const char *split = strstr(note, "\n\n");
  if (!split || (size_t)(split + 1 - note) >= cap) { *why = "the seal's checkpoint is malformed"; return CLI_FAIL; }
  *blen = (size_t)(split + 1 - note);
  memcpy(body, note, *blen);
  body[*blen] = 0;
  return 0;
}

/* The first signature line of wv in the note's signatures (journal_tlog_open has verified
 * every one): its timestamp and Ed25519 signature. 0 or -1. */
static int find_cosig(const char *note, size_t len, size_t blen, const struct journal_tlog_verifier *wv,
                      uint64_t *ts, uint8_t sig[JOURNAL_SIG_BYTES])
{
  size_t nlen = strlen(wv->name), off = blen + 1;
  while (off < len) {
    const char *line = note + off, *end = memchr(line, '\n', len - off);
    if (!end) return -1;
    size_t pre = sizeof em_dash_space - 1;
    if ((size_t)(end - line) > pre + nlen + 1 && !memcmp(line, em_dash_space, pre) &&
        !memcmp(line + pre, wv->name, nlen) && line[pre + nlen] == ' ') {
      const char *b = line + pre + nlen + 1;
      uint8_t raw[4 + 8 + JOURNAL_SIG_BYTES];
      size_t got = 0;
      if (sodium_base642bin(raw, sizeof raw, b, (size_t)(end - b), NULL, &got, NULL,
                            sodium_base64_VARIANT_ORIGINAL) == 0 && got == sizeof raw &&
          ((uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 | (uint32_t)raw[2] << 8 | raw[3]) == wv->key_hash) {
        *ts = 0;
        for (int i = 0; i < 8; i++) *ts = *ts << 8 | raw[4 + i];
        memcpy(sig, raw + 12, JOURNAL_SIG_BYTES);
        return 0;
      }
    }
    off = (size_t)(end - note) + 1;
  }
  return -1;
}

int cli_witness_record(struct journal_reader *rd, const uint8_t pk[JOURNAL_PUBKEY_BYTES], const char *note, size_t len,
                       const struct journal_tlog_verifier *wv, struct journal_record *r, const char **why)
{
  uint64_t ts = 0;
  uint8_t sig[JOURNAL_SIG_BYTES];
  struct journal_tlog_checkpoint cp;
  size_t blen;
  int rc = journal_tlog_open(note, len, wv, &blen, &ts);
  if (rc == 0 && journal_tlog_checkpoint_parse(note, blen, &cp) != 0) rc = JOURNAL_ENOTE;
  if (rc == 0 && find_cosig(note, len, blen, wv, &ts, sig) != 0) rc = JOURNAL_ENOTE;
  if (rc) {
    *why = rc == JOURNAL_EBADSIG ? "no valid cosignature by the --witness key"
                                 : "not a cosigned checkpoint (the checkpoint with the witness's line appended)";
    return CLI_FAIL;
  }
  static char body[JOURNAL_TLOG_BODY_MAX + 1], whybuf[200];
  size_t sblen = 0;
  const char *w2 = NULL;
  if (seal_body(rd, pk, cp.size, body, sizeof body, &sblen, &w2)) {
    snprintf(whybuf, sizeof whybuf, "size %llu: %s; not journaled", (unsigned long long)cp.size, w2);
    *why = whybuf;
    return CLI_FAIL;
  }
  if (sblen != blen || memcmp(body, note, blen) != 0) {
    snprintf(whybuf, sizeof whybuf, "the cosigned checkpoint of size %llu is not the one the journal signed at that size; "
             "not journaled", (unsigned long long)cp.size);
    *why = whybuf;
    return CLI_FAIL;
  }
  memset(r, 0, sizeof *r);
  r->type = JOURNAL_T_WITNESS;
  r->source.kind = JOURNAL_SRC_OPERATOR;
  r->body.witness.name = (struct journal_slice){ (const uint8_t *)wv->name, (uint32_t)strlen(wv->name) };
  memcpy(r->body.witness.pubkey, wv->pubkey, JOURNAL_PUBKEY_BYTES);
  r->body.witness.timestamp = ts;
  r->body.witness.tree_size = cp.size;
  memcpy(r->body.witness.sig, sig, JOURNAL_SIG_BYTES);
  return 0;
}

int cli_witness_add(int argc, char **argv)
{
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR },
                                      { "counter", required_argument, NULL, O_COUNTER },
                                      { "accept-rollback", no_argument, NULL, O_ACCEPT },
                                      { "witness", required_argument, NULL, O_WITNESS },
                                      CLI_SIGNER_OPTION(O_SIGNER), { 0 } };
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  const char *wkey = NULL;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DIR) c.dir = optarg;
    else if (opt == O_COUNTER) c.counter = optarg;
    else if (opt == O_ACCEPT) c.accept_rollback = true;
    else if (opt == O_WITNESS) wkey = optarg;
    else if (opt == O_SIGNER) cli_signer_option(optarg);
    else return cli_usage(cli_find("witness"), false);
  }
  if (!wkey || optind != argc - 1) {
    cli_err("witness add: want [--dir DIR] --witness WVKEY COSIGNED (see 'hems witness --help')");
    return CLI_USAGE;
  }
  const char *path = argv[optind];
  struct journal_tlog_verifier wv;
  int rc = cli_witness_vkey_arg("--witness", wkey, JOURNAL_TLOG_COSIG_V1, &wv);
  if (rc) return rc;
  char note[JOURNAL_TLOG_NOTE_MAX + 1];
  size_t len;
  if ((rc = cli_witness_read_file(path, note, sizeof note, &len))) {
    cli_err("witness add: %s: %s", path, rc == -EFBIG ? "larger than a signed note may be" : strerror(-rc));
    return rc == -EFBIG ? CLI_FAIL : CLI_ENV;
  }
  /* against the checkpoint the journal signed at that size */
  struct cli_source s;
  if ((rc = cli_source_open(&c, NULL, NULL, &s))) return rc;
  struct journal_record r;
  const char *why = NULL;
  rc = cli_witness_record(s.reader, s.pubkey, note, len, &wv, &r, &why);
  cli_source_close(&s);
  if (rc) {
    cli_err("witness add: %s: %s", path, why);
    return CLI_FAIL;
  }

  /* journal it (directly, under the writer lock: a running daemon holds it) */
  struct journal *j;
  int pid = 0;
  rc = cli_open_direct(&c, &j, &pid);
  if (rc == JOURNAL_EINUSE) {
    cli_err("witness add: %s: in use by pid %d (journal cosignatures while no daemon runs)", c.dir, pid);
    return CLI_ENV;
  }
  if (rc) return rc;
  return cli_append_close(j, &r, "witness add");
}

/* One journaled cosignature against the journal's checkpoint at its size: 0 or CLI_FAIL (why). */
static int check_record(struct journal_reader *r, const uint8_t pk[JOURNAL_PUBKEY_BYTES],
                        const struct journal_tlog_verifier *wv, const struct journal_witness *w, const char **why)
{
  char note[JOURNAL_TLOG_NOTE_MAX];
  size_t blen, got;
  if (seal_body(r, pk, w->tree_size, note, sizeof note, &blen, why)) return CLI_FAIL;
  uint8_t raw[4 + 8 + JOURNAL_SIG_BYTES];
  for (int i = 0; i < 4; i++) raw[i] = (uint8_t)(wv->key_hash >> (24 - 8 * i));
  for (int i = 0; i < 8; i++) raw[4 + i] = (uint8_t)(w->timestamp >> (56 - 8 * i));
  memcpy(raw + 12, w->sig, JOURNAL_SIG_BYTES);
  char b64[128];
  sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
  int n = snprintf(note + blen, sizeof note - blen, "\n%s%s %s\n", em_dash_space, wv->name, b64);
  if (n < 0 || (size_t)n >= sizeof note - blen) { *why = "the cosigned note is too long"; return CLI_FAIL; }
  if (journal_tlog_open(note, blen + (size_t)n, wv, &got, NULL) != 0) {
    *why = "the cosignature does not verify over the journal's checkpoint at that size";
    return CLI_FAIL;
  }
  return 0;
}

int cli_witness_verify_dir(struct journal_reader *r, const uint8_t pk[JOURNAL_PUBKEY_BYTES],
                           const struct journal_tlog_verifier *wv)
{
  uint64_t first = 0, last = 0, seq, count = 0, best = 0, best_seq = 0, best_ts = 0;
  struct journal_iter *it;
  int rc = journal_reader_bounds(r, &first, &last);
  if (rc == 0) rc = journal_iter_begin(r, first ? first : 1, &it);
  if (rc) { cli_err("verify: --witness: %s", journal_strerror(rc)); return CLI_ENV; }
  const uint8_t *b;
  size_t len;
  int ret = 0;
  while ((rc = journal_iter_next(it, &seq, &b, &len)) == 1) {
    uint64_t pseq;
    unsigned type;
    uint8_t prev[JOURNAL_HASH_BYTES];
    if (journal_record_peek(b, len, &pseq, &type, prev) != 0 || type != JOURNAL_T_WITNESS) continue;
    struct journal_record rec;
    if (journal_record_decode(b, len, &rec) != 0) continue; /* verify has passed: cannot happen */
    const struct journal_witness *w = &rec.body.witness;
    if (w->name.len != strlen(wv->name) || memcmp(w->name.ptr, wv->name, w->name.len) ||
        memcmp(w->pubkey, wv->pubkey, JOURNAL_PUBKEY_BYTES))
      continue; /* another witness */
    const char *why = NULL;
    if (check_record(r, pk, wv, w, &why)) {
      printf("witness: first bad seq %llu: %s (size %llu)\n", (unsigned long long)seq, why,
             (unsigned long long)w->tree_size);
      cli_err("verify: --witness %s: first bad seq %llu: %s", wv->name, (unsigned long long)seq, why);
      ret = CLI_FAIL;
      break;
    }
    count++;
    if (w->tree_size >= best) best = w->tree_size, best_seq = seq, best_ts = w->timestamp;
  }
  journal_iter_end(it);
  if (ret) return ret;
  if (rc < 0) { cli_err("verify: --witness: %s", journal_strerror(rc)); return CLI_ENV; }
  if (!count) {
    printf("witness: no cosignature by %s\n", wv->name);
    cli_err("verify: --witness %s: the journal holds no cosignature by this witness", wv->name);
    return CLI_FAIL;
  }
  char t[32];
  journal_format_time(best_ts < INT64_MAX / 1000000000 ? (int64_t)best_ts * 1000000000 : INT64_MAX, t);
  printf("witness: ok: %llu cosignature%s by %s; records 1..%llu witnessed (cosigned %s, journaled at seq %llu); "
         "records %llu..%llu not yet\n", (unsigned long long)count, count == 1 ? "" : "s", wv->name,
         (unsigned long long)best, t, (unsigned long long)best_seq, (unsigned long long)best + 1,
         (unsigned long long)last);
  return CLI_OK;
}
