/*
 * cmd_checkpoint.c — `hems checkpoint [--dir DIR | BUNDLE] [--at SEQ]`: the signed checkpoint of
 * the newest seal (or of the seal at SEQ), exactly the C2SP signed-note text (../shared/CLI.md
 * "Proofs"; docs/journal.md "Checkpoints"). A seal of schema v 3 signs its checkpoint, so the
 * note is rebuilt from the seal (origin from the device id, size, tree root, state, head, time,
 * seal hash) with the seal's own signature; it is checked with the journal's key before it is
 * printed. Seals of schema v 1 sign the older seal message, not a checkpoint: refused (exit 1).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli.h"

enum { O_DIR = 1000, O_COUNTER, O_ACCEPT, O_FINGERPRINT, O_PUBKEY, O_AT, O_CLOSING, O_PROOF };

/* The newest seal with seq <= at (at == 0: the newest of all) of a bundle's proven records. */
static int bundle_seal(struct cli_source *s, uint64_t at, uint8_t **out, size_t *out_len)
{
  struct journal_record_source *src = cli_source_records(s, 1);
  if (!src) return -ENOMEM;
  uint64_t seq;
  const uint8_t *b;
  size_t len;
  const char *why = NULL;
  int got;
  *out = NULL;
  while ((got = src->next(src->ctx, &seq, &b, &len, &why)) > 0) {
    if (at && seq > at) break;
    struct journal_record r;
    if (journal_record_decode(b, len, &r) == 0 && r.type == JOURNAL_T_SEAL && (!at || seq == at)) {
      uint8_t *c = realloc(*out, len);
      if (!c) return -ENOMEM;
      memcpy(c, b, len);
      *out = c;
      *out_len = len;
    }
  }
  if (got < 0) { free(*out); *out = NULL; cli_source_damaged(s, why); return -EIO; }
  return 0;
}

int cli_cmd_checkpoint(int argc, char **argv)
{
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR },
                                      { "counter", required_argument, NULL, O_COUNTER },
                                      { "accept-rollback", no_argument, NULL, O_ACCEPT },
                                      { "fingerprint", required_argument, NULL, O_FINGERPRINT },
                                      { "pubkey", required_argument, NULL, O_PUBKEY },
                                      { "at", required_argument, NULL, O_AT },
                                      { "closing", no_argument, NULL, O_CLOSING },
                                      { "proof", no_argument, NULL, O_PROOF }, { 0 } };
  const char *fingerprint = NULL, *pubkey = NULL;
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  uint64_t at = 0;
  bool dir_given = false, closing = false, proof = false;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DIR) c.dir = optarg, dir_given = true;
    else if (opt == O_COUNTER) c.counter = optarg;
    else if (opt == O_ACCEPT) c.accept_rollback = true;
    else if (opt == O_FINGERPRINT) fingerprint = optarg;
    else if (opt == O_PUBKEY) pubkey = optarg;
    else if (opt == O_AT) {
      if (cli_parse_u64(optarg, &at) != 0 || at == 0) {
        cli_err("checkpoint: --at %s: not a seq (1 or more)", optarg);
        return CLI_USAGE;
      }
    } else if (opt == O_CLOSING) closing = true;
    else if (opt == O_PROOF) proof = true;
    else return cli_usage(cli_find("checkpoint"), false);
  }
  if ((closing || proof) && (at || closing == proof)) return cli_usage(cli_find("checkpoint"), false);
  if (argc - optind > 1 || (dir_given && argc - optind == 1)) return cli_usage(cli_find("checkpoint"), false);
  if (argc - optind == 1) {
    int prc = cli_source_arg("checkpoint", &c, argv[optind]);
    if (prc) return prc;
  }
  const char *where = c.bundle ? c.bundle : c.dir;
  struct cli_source s;
  int rc = cli_source_open(&c, pubkey, fingerprint, &s);
  if (rc) return rc;
  char id[33] = "";
  uint8_t *bytes = NULL;
  size_t len = 0;
  int ret = CLI_FAIL;
  if ((closing || proof) && !s.bundle) {
    cli_err("checkpoint: --%s: reads a bundle (hems checkpoint BUNDLE --%s)", proof ? "proof" : "closing", proof ? "proof" : "closing");
    ret = CLI_USAGE;
    goto out;
  }
  if (s.bundle) {
    const char *bid = journal_bundle_device_id(s.bundle);
    snprintf(id, sizeof id, "%s", strlen(bid) < sizeof id ? bid : "");
    /* format 3: the head at export is the bundle's newest checkpoint (cli/bundle_check.c) */
    struct cli_bundle_check bc = { 0 };
    bool head = !at && !closing;
    if (head && (rc = cli_bundle_check_begin(&s, where, NULL, &bc))) { ret = rc; goto out; }
    if (proof && !bc.t) {
      cli_err("checkpoint: %s: a bundle of format %u carries no consistency proof (export it again with this hems)", where,
              journal_bundle_format(s.bundle));
      goto out;
    }
    if (bundle_seal(&s, at, &bytes, &len) != 0) goto out; /* the damage was reported */
    if (head && bc.t) { ret = cli_bundle_head_print(&bc, proof); goto out; }
  } else {
    if (journal_reader_device_id(s.reader, id) != 0) id[0] = 0;
    uint64_t first, last;
    struct journal_iter *it;
    if ((rc = journal_reader_bounds(s.reader, &first, &last)) || (rc = journal_iter_begin(s.reader, 1, &it))) {
      cli_err("checkpoint: %s: %s", where, journal_strerror(rc));
      ret = journal_is_store_damage(rc) ? CLI_FAIL : CLI_ENV;
      goto out;
    }
    const uint8_t *b;
    size_t n;
    uint64_t want = at ? at : last;
    if (want && journal_iter_get(it, want, &b, &n) == 0 && (bytes = malloc(n))) {
      memcpy(bytes, b, n);
      len = n;
    }
    journal_iter_end(it);
  }
  struct journal_record r;
  if (!bytes || journal_record_decode(bytes, len, &r) != 0 || r.type != JOURNAL_T_SEAL) {
    if (at) {
      cli_err("checkpoint: %s: seq %llu is not a seal", where, (unsigned long long)at);
      ret = CLI_USAGE;
    } else {
      cli_err("checkpoint: %s: no seal (the journal holds no sealed records)", where);
      ret = CLI_USAGE;
    }
    goto out;
  }
  if (r.version < 3) {
    cli_err("checkpoint: %s: seal %llu is a schema-1 seal: its signature covers the seal message, not a "
            "checkpoint (seals sign checkpoints from journal format 3 on)", where, (unsigned long long)r.seq);
    goto out;
  }
  if (id[0] == 0) {
    cli_err("checkpoint: %s: no valid device id (the checkpoint origin)", where);
    goto out;
  }
  uint8_t kid[JOURNAL_KEYID_BYTES];
  journal_key_id(s.pubkey, kid);
  /* after a rotation the seal is a later key's: certified from the pinned one (dirs) */
  if (memcmp(kid, r.body.seal.key_id, sizeof kid) != 0 && s.reader &&
      cli_key_chain_find(&s, where, s.pubkey, r.body.seal.key_id, s.pubkey) == CLI_OK)
    journal_key_id(s.pubkey, kid);
  if (memcmp(kid, r.body.seal.key_id, sizeof kid) != 0) {
    char h[33];
    journal_hex(r.body.seal.key_id, sizeof kid, h);
    cli_err("checkpoint: %s: seal %llu is signed by key %s, not the journal's current key", where,
            (unsigned long long)r.seq, h);
    goto out;
  }
  if (journal_seal_verify(&r, id, s.pubkey) != 0) {
    cli_err("checkpoint: %s: seal %llu: its signature does not verify (first bad seq %llu)", where,
            (unsigned long long)r.seq, (unsigned long long)r.seq);
    goto out;
  }
  char note[JOURNAL_TLOG_NOTE_MAX];
  int nl = journal_seal_note(&r, id, s.pubkey, note, sizeof note);
  if (nl < 0) {
    cli_err("checkpoint: %s: seal %llu: %s", where, (unsigned long long)r.seq, journal_strerror(nl));
    goto out;
  }
  fwrite(note, 1, (size_t)nl, stdout);
  ret = fflush(stdout) == 0 ? CLI_OK : CLI_ENV;
out:
  free(bytes);
  cli_source_close(&s);
  return ret;
}
