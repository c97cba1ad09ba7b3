/*
 * cli.h — shared parts of the `hems` program: exit codes, option helpers, time parsing,
 * opening data dirs and bundles with the contract's error lines, progress bars.
 *
 * Exit codes (CLI.md): 0 success · 1 check failed / refused · 2 usage · 3 I/O or environment.
 * Every error is one line on stderr, "hems: <what>: <why>", details after.
 */
#ifndef HEMS_CLI_H
#define HEMS_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "journal.h"
#include <jansson.h>
#include "read_filter.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_ENV = 3 };

#define HEMS_FIRMWARE_VERSION "hems " HEMS_VERSION_STRING
#ifndef HEMS_VERSION_STRING /* one place: project(hems VERSION …) in CMakeLists.txt */
#error "HEMS_VERSION_STRING comes from the CMake project version (cli/CMakeLists.txt)"
#endif

struct cli_cmd {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *usage; /* full --help text */
};

/* Common options every data-dir command accepts. */
struct cli_common {
  const char *dir;
  const char *counter;
  bool accept_rollback;
  const char *bundle; /* positional path when it is a bundle */
};

/* --signer URI, for the commands that sign (cli/signer.c): the option's entry, and where its
 * value goes (one command per process, like the writer lock; NULL or "file": DIR/keys/). */
#define CLI_SIGNER_OPTION(val) { "signer", required_argument, NULL, (val) }
void cli_signer_option(const char *uri);
/* The signer --signer names, for journal_options.signer: NULL for `file` (the journal loads
 * DIR/keys/signing.key itself), else the token's, opened once per process and kept until
 * cli_signer_release(); a token whose key is not DIR/keys/signing.pub is refused. 0, or the
 * exit code after one error line (2 a malformed URI, 3 a module/token/PIN/key that cannot be
 * used, 1 another key). */
int cli_signer_get(const struct cli_common *c, const struct journal_signer **out);
/* journal_strerror(rc), with what the token answered when rc is JOURNAL_ESIGNER (static). */
const char *cli_signer_why(int rc);
/* The signer of a bundle: s (cli_signer_get's token) or else DIR/keys/signing.key loaded into
 * fs (journal_file_signer_wipe it after; fs is zeroed when s is used). 0 or the journal's error. */
int cli_signer_or_file(const struct journal_signer *s, const char *dir, struct journal_file_signer *fs,
                       const struct journal_signer **out);
/* Closes the token (main(), after the command returned: its journal is closed). */
void cli_signer_release(void);

/* Prints "hems: <fmt>" and a newline to stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints usage text for a command to stdout (help) and returns 0, or a one-line pointer to
 * --help on stderr and returns CLI_USAGE. */
int cli_usage(const struct cli_cmd *cmd, bool help);
/* cmd_key_rotate.c: `hems key rotate` and `hems key revoke` (argv[0] is the subcommand). */
int cli_cmd_key_rotate(int argc, char **argv);
/* cmd_seal.c: `hems key recipient`, `hems decrypt`, and export --encrypt-to: the recipient's
 * public key (a file or x25519:BASE64; says why not, returns the exit code), an unnamed file
 * for the plain bundle (NULL: said), and that file sealed into out (exit code; says what). */
int cli_cmd_key_recipient(int argc, char **argv);
int cli_cmd_decrypt(int argc, char **argv);
int cli_seal_pubkey(const char *what, const char *arg, uint8_t pk[32]);
int cli_seal_secret(const char *what, const char *arg, uint8_t sk[32]); /* a secret key file (hems key recipient --out) */
FILE *cli_seal_begin(const char *out);
int cli_seal_finish(FILE *plain, const char *out, const uint8_t pk[32]); /* silent on success */
bool cli_file_is_sealed(const char *path);
void cli_seal_said(const char *out, const uint8_t pk[32]);
int cli_cmd_key_revoke(int argc, char **argv);
/* A second token signer (key rotate --to): opened as --signer is, without the dir-key check;
 * the caller closes *p. CLI_OK, or the exit code after one error line. */
struct journal_pkcs11_signer;
int cli_signer_open_other(const struct cli_common *c, const char *uri, struct journal_pkcs11_signer **p,
                          const struct journal_signer **out);
struct cli_source;
/* The public key of want_id if the journal's key records certify it from root (a rotation's
 * chain; revocations aside): CLI_OK, CLI_FAIL when not, or the exit code after one error line. */
/* After a writer opened: CLI_OK when its signer is the journal's key in force (the newest key
 * record that is not a revocation), else CLI_FAIL after one line (the caller closes j unused). */
int cli_key_in_force_check(struct journal *j, const char *dir);
/* Whether the bundle at path certifies want from root through its key records (a later key's
 * signatures on a bundle exported after a rotation). */
bool cli_bundle_key_certified(const char *path, const uint8_t root[JOURNAL_PUBKEY_BYTES],
                              const uint8_t want[JOURNAL_PUBKEY_BYTES]);
int cli_key_chain_find(struct cli_source *s, const char *dir, const uint8_t root[JOURNAL_PUBKEY_BYTES],
                       const uint8_t want_id[JOURNAL_KEYID_BYTES], uint8_t out_pk[JOURNAL_PUBKEY_BYTES]);
/* commands.c: the command table, the overview (hems --help), a command by name, and the one
 * a mistyped name most likely meant (NULL when none or ambiguous). */
extern const char cli_main_usage[];
const struct cli_cmd *cli_find(const char *name);
const char *cli_nearest_command(const char *name);
/* commands_net.c: the network commands' part of the table. */
extern const struct cli_cmd cli_net_cmds[];
extern const size_t cli_net_ncmds;

/* $HEMS_DIR, else ./hems-data */
const char *cli_default_dir(void);

/* Maps a journal error from opening DIR to the contract's message and exit code. */
int cli_open_error(const char *dir, const char *counter, int rc, int pid);
/* cli/counter_tpm.c: `--counter tpm:NVINDEX` (registered by main) and `--tcti CONF`. */
void cli_counter_register(void);
void cli_counter_set_tcti(const char *conf);
/* The error line of a counter-kind or hardware-counter code and the exit code; -1 for others. */
int cli_counter_error(const char *dir, const char *counter, int rc);

/* From here on, a SIGBUS/SIGSEGV inside the map of DIR/journal/data.mdb prints
 * "hems: DIR/journal/data.mdb: damaged (…)" and exits 3 (cli/damage_guard.c). */
void cli_damage_guard(const char *dir);

/* Opens DIR read-only, mapping errors (prints them). */
int cli_open_reader(const struct cli_common *c, struct journal_reader **out);
/* Opens c->dir for one direct append (no daemon answered): 0; JOURNAL_EINUSE with *pid, for the
 * caller to say who holds the writer lock; else the exit code after cli_open_error's line.
 * A rollback accepted with --accept-rollback is said on stderr. */
int cli_open_direct(const struct cli_common *c, struct journal **j, int *pid);
/* Appends r, closes j and prints the record's seq: CLI_OK, or CLI_ENV after "<what>: not
 * recorded: <why>". */
int cli_append_close(struct journal *j, const struct journal_record *r, const char *what);
/* A note record by this process: its uid, gid and user name (or "uid:N", written to self),
 * and text; r points into self and text. */
void cli_note_self(struct journal_record *r, char self[64], const char *text);
/* Opens DIR for writing (prints errors). */
int cli_open_writer(const struct cli_common *c, struct journal **out, struct journal_open_info *info);

/* Parses RFC 3339 (the offset optional: UTC), "2026-12-04 15:15:24", a date (its midnight UTC),
 * @UNIX or relative (-15m, -1h30m, -7d) into wall ns. 0 or -EINVAL. */
int cli_parse_time(const char *s, int64_t now_ns, int64_t *out_ns);
/* "SEQ|T": a bare integer is a seq (is_seq=1), otherwise a time. */
int cli_parse_seq_or_time(const char *s, int64_t now_ns, uint64_t *seq, int64_t *t, bool *is_seq);
/* Durations: "5m", "30s", "24h", "7d", "3y" (365 d), "250ms", and sums "1h30m", "2d12h". */
int cli_parse_duration_ns(const char *s, int64_t *out_ns);
int64_t cli_now_ns(void);
/* The kernel's count of bytes this process caused to be sent to storage (/proc/self/io
 * write_bytes; includes reaped children's), 0 if unavailable. */
uint64_t cli_proc_write_bytes(void);
/* A JSON file of the data dir (config.json): NULL when absent, not a regular file (never
 * blocks on a FIFO), over 16 MiB or not JSON. */
json_t *cli_load_json_file(const char *path);
/* CLOCK_MONOTONIC in seconds (benchmarks). */
double cli_mono_s(void);
double cli_thread_cpu_s(void); /* CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID) */
/* Removes a directory tree (benchmark scratch dirs). */
void cli_rm_rf(const char *path);
/* The length of the longest prefix of the UTF-8 text s of at most max bytes that ends between
 * characters (a record's text must stay valid UTF-8 when cut). */
size_t cli_utf8_prefix(const char *s, size_t max);
/* Rename tmp over path durably (fsync tmp, rename, fsync dir); tmp is removed on failure.
 * Returns 0 or -errno. */
int cli_replace_durably(const char *tmp, const char *path, const char *dir);
int cli_parse_u64(const char *s, uint64_t *out);

/* Progress bar on stderr when stderr is a TTY. */
struct cli_progress { bool on; uint64_t total; const char *what; };
void cli_progress_init(struct cli_progress *p, const char *what, uint64_t total);
void cli_progress_cb(void *ctx, uint64_t done);
void cli_progress_done(struct cli_progress *p);

/* Verifies a data dir or bundle and, for readers of bundles, the seq up to which records are
 * proven. Prints nothing; fills res. trusted_pk: from --pubkey/--fingerprint or the dir. */
struct cli_source {
  struct journal_reader *reader;
  struct journal_bundle *bundle;
  struct journal_dir_source dir_src;
  struct journal_checked *checked; /* a bundle's records, checked as they are read */
  uint8_t pubkey[JOURNAL_PUBKEY_BYTES];
  bool pinned; /* the key came from the user or the dir, not only the bundle */
};
/* Opens whichever the arguments name (bundle path or dir). */
/* A positional DIR-or-BUNDLE argument into c->dir or c->bundle: 0; else one error line
 * ("[cmd: ]ARG: why") and CLI_ENV (cannot stat) or CLI_FAIL (neither). cmd may be NULL. */
int cli_source_arg(const char *cmd, struct cli_common *c, const char *arg);
/* A pin is the full fingerprint: 32 hex digits (either case). */
bool cli_fingerprint_wellformed(const char *fp);
int cli_source_open(const struct cli_common *c, const char *pubkey_file, const char *fingerprint,
                    struct cli_source *s);

/* Reading a data dir one does not own (cli/read_daemon.c): through the daemon's read API. */
bool cli_read_through_daemon(const char *dir); /* not root and not the dir's owner */
/* The record seq's exact bytes (malloc'd): CLI_OK, or the exit code after one error line
 * (CLI_ENV when no daemon answers). */
int cli_daemon_show(const char *dir, uint64_t seq, uint8_t **b, size_t *len);
/* One record handed to a reader's callback: 0 goes on, nonzero stops (standard output closed). */
typedef int (*cli_walk_fn)(void *ctx, const uint8_t *b, size_t len);
/* The records the filter passes, up to limit (0: all), each handed to emit (a nonzero return
 * stops); CLI_OK or the exit code after one error line. */
int cli_daemon_timeline(const char *dir, const struct cli_filter *f, uint64_t limit, cli_walk_fn emit, void *ctx);
/* The records of an opened source (cli/read_walk.c) the filter passes, in seq order, up to
 * limit (0: all), through the dir's indexes when the filter allows and they are complete (a
 * warning line naming dir when not), a bundle read to its end (its exit status says it is
 * whole); CLI_OK or the exit code after one error line. dir: for messages. */
int cli_walk_source(struct cli_source *s, const char *dir, const struct cli_filter *f, uint64_t limit,
                    cli_walk_fn emit, void *ctx);
/* The long-horizon log's copies of main-log records before main_first (read_history.c), as
 * cli_walk_source hands them; *passed counts them. 1 when emit stopped the listing, else 0 (a
 * history that cannot be read is a warning line: the main log is listed alone). */
int cli_walk_history(const char *dir, uint64_t main_first, const struct cli_filter *f, uint64_t limit, cli_walk_fn emit,
                     void *ctx, uint64_t *passed);
/* cli_walk_source, or the daemon's timeline op when c names a dir this user reads through the
 * daemon: opens and closes the source itself (pin: --pubkey FILE / --fingerprint FP or NULL). */
int cli_walk(const struct cli_common *c, const char *pubkey, const char *fpr, const struct cli_filter *f,
             uint64_t limit, cli_walk_fn emit, void *ctx);
/* `hems export` through the daemon (cli/read_daemon.c): the bundle of [since, until] (the
 * command's own strings, NULL: open) written to out (O_EXCL, 0600); CLI_OK or the exit code
 * after one error line. */
int cli_daemon_export(const char *dir, const char *since, const char *until, const char *out);
/* export's bounds and start checkpoint (cmd_journal.c), shared with the daemon's export op:
 * SEQ|T into a seq bound (until: the last record at or before T); the folded checkpoint. */
int cli_export_bound(struct journal_reader *r, const char *arg, bool until, uint64_t *out);
int cli_export_checkpoint(void *ctx, struct journal_reader *r, uint64_t seq, uint8_t **data, size_t *len);
void cli_source_close(struct cli_source *s);
/* The records: a dir's from from_seq, or a bundle's through a checked source (only records a
 * verified seal proves, against s->pubkey; damage ends it with <0 and why). NULL: no memory. */
struct journal_record_source *cli_source_records(struct cli_source *s, uint64_t from_seq);
/* After a bundle's records ended with <0: "hems: bundle damaged after seq N: why" (N: the last
 * proven seq, everything up to it was handed out). Returns CLI_FAIL. */
int cli_source_damaged(const struct cli_source *s, const char *why);

/* Branch names (cli/names.c) from the newest `config` record holding the panel's "branches". */
struct cli_names {
  unsigned count; /* branch[0..count) */
  char **branch;  /* by branch number; NULL: unnamed */
};
/* Loads them from whichever c names (no config: none, still 0); 0 or the exit code after one
 * error line. */
int cli_names_load(const struct cli_common *c, const char *pubkey, const char *fpr, struct cli_names *out);
int cli_names_from_config(const char *json, size_t len, struct cli_names *out); /* 0, -ENOENT, -ENOMEM */
/* The panel config the journal holds (its newest `config` record with "branches"): *out, or
 * NULL when there is none; 0 or the exit code after one error line. */
int cli_config_load(const struct cli_common *c, const char *pubkey, const char *fpr, json_t **out);
void cli_names_free(struct cli_names *n);
const char *cli_branch_name(const struct cli_names *n, unsigned branch); /* NULL: unnamed */
/* A --branch argument, a number (1..65535) or a configured name: 0, -ERANGE or -ENOENT; and
 * the error line for those, listing the panel's names. */
int cli_branch_arg(const struct cli_names *n, const char *arg, uint16_t *out);
void cli_branch_arg_error(const char *cmd, const struct cli_names *n, const char *arg, int rc);

/* A record (its JSON object, as journal_record_to_json gives it) for a person (cli/render.c):
 * `hems show`'s text; a table line's body (fields that matter first, units, names, defaults
 * hidden); the source with the branch's name. */
void cli_render_show(const json_t *rec, const struct cli_names *n);
void cli_render_summary(const json_t *rec, const struct cli_names *n, char *buf, size_t cap);
void cli_render_source(const json_t *rec, const struct cli_names *n, char *buf, size_t cap);
/* The waveform capture record SEQ names (a pq_event or trip_tap; cli/cmd_ingest.c): the blob's
 * bytes (malloc'd), read through the dir's index or a bundle checked to its end. 0; <0 an I/O
 * error; else the exit code after one error line ("capture: …"). */
int cli_capture_fetch(struct cli_source *s, uint64_t want, uint8_t **blob, size_t *blen);
/* The capture record SEQ names, decoded: *codes malloc'd (channel-major, cap->v points into
 * it). 0, or the exit code after one error line ("cmd: …"). */
struct ingest_capture;
int cli_capture_load(const struct cli_common *c, const char *pubkey, const char *fpr, const char *cmd, uint64_t seq,
                     struct ingest_capture *cap, int32_t **codes);

/* SVG (cli/svg.c): a document with its style sheet; text escaped. */
void cli_svg_escape(FILE *f, const char *s);
void cli_svg_begin(FILE *f, double w, double h, const char *title, bool standalone);
void cli_svg_end(FILE *f);
void cli_svg_text(FILE *f, double x, double y, const char *anchor, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void cli_svg_line(FILE *f, double x1, double y1, double x2, double y2, const char *cls);
void cli_svg_rect(FILE *f, double x, double y, double w, double h, const char *cls);
void cli_svg_polyline(FILE *f, const char *cls, const double *x, const double *y, size_t n);
/* The pictures (cli/plot_capture.c, cli/plot_energy.c), into f: the capture of record seq with
 * its half-cycle RMS, thresholds and the branch timeline; per-branch energy of [since, until]
 * (0: open). 0 or the exit code after one error line. */
int cli_plot_capture(const struct cli_common *c, const char *pubkey, const char *fpr, uint64_t seq, FILE *f, bool standalone);
int cli_plot_energy(const struct cli_common *c, const char *pubkey, const char *fpr, int64_t since_ns, int64_t until_ns,
                    FILE *f, bool standalone, json_t **totals);

/* `hems diagnose`'s findings (cli/cmd_diagnose.c) as a JSON array (*findings, owned by the
 * caller), records from since_ns on, one branch or all (0); the exit code of reading them. */
int cli_diagnose_run(const struct cli_common *c, const char *pubkey, const char *fpr, int64_t since_ns, uint16_t only_branch,
                     const struct cli_names *names, json_t **findings);

/* `timeline --format csv` (cli/render_csv.c): begin prints the header for the filter's types. */
struct cli_csv;
struct cli_csv *cli_csv_begin(const struct cli_filter *f, const struct cli_names *n);
void cli_csv_row(struct cli_csv *c, const json_t *rec);
void cli_csv_end(struct cli_csv *c);

/* Human units (cli/units.c) for a body field whose name carries its unit (`supply_mv`,
 * `duration_us`, `import_uwh`, `start_ns`…): text ("230.04 V", "256.7 ms", an RFC 3339 time
 * for an instant), CSV (exact, in the base unit of the header), the CSV header ("supply [V]").
 * false: the name carries no unit. */
bool cli_unit_text(const char *key, int64_t v, char *buf, size_t n);
bool cli_unit_csv(const char *key, int64_t v, char *buf, size_t n);
void cli_unit_header(const char *key, char *buf, size_t n);
size_t cli_unit_stem(const char *key); /* length of the name without its unit suffix; 0: none */

/* Sends one request (ownership of req taken) to the daemon of dir; prints the error line and
 * returns CLI_ENV when no daemon answers, else 0 with the answer object in *out. */
int cli_daemon_request(const char *dir, json_t *req, int timeout_ms, json_t **out);
/* One error line for a daemon_call/daemon_stream error rc: CLI_ENV. */
int cli_daemon_unreachable(const char *dir, int rc);

/* `hems verify --dir`: the full index check (cmd_reindex.c); prints the outcome and returns
 * 0, 1 (index damaged) or 3. verified_it: the iterator journal_verify_opt has just read through
 * verified_last (records not hashed again), or NULL (a snapshot of its own, checked). */
int cli_verify_indexes(struct journal_reader *r, struct journal_iter *verified_it, uint64_t verified_last, const char *dir);
/* verify --dir: the long-horizon log against the same key and the main log (verify_history.c) */
int cli_verify_history(struct journal_reader *main, const char *dir, const uint8_t pubkey[JOURNAL_PUBKEY_BYTES]);
/* The same check, quiet: the verdict in line (and the cross-reference's in line2, "" when not
 * reached); CLI_OK (also without a history), CLI_FAIL or CLI_ENV. */
int cli_history_check(struct journal_reader *main, const char *dir, const uint8_t pubkey[JOURNAL_PUBKEY_BYTES], char *line,
                      size_t cap, char *line2, size_t cap2);

/* `hems witness` (cmd_witness.c, witness_cosign.c, witness_add.c). A whole small file into buf
 * (NUL-terminated): 0, -EFBIG when it has cap bytes or more, -errno. */
int cli_witness_read_file(const char *path, char *buf, size_t cap, size_t *len);
/* A verifier key given as text or as a file holding it (--verifier, --witness) of the given type
 * (JOURNAL_TLOG_ED25519 or JOURNAL_TLOG_COSIG_V1); 0 or the exit code after one error line. */
int cli_witness_vkey_arg(const char *what, const char *arg, uint8_t type, struct journal_tlog_verifier *v);
/* A witness key file ("ed25519-seed …\nname NAME\n"): the signer and its cosignature verifier;
 * 0 or the exit code after one error line (fs is wiped then). */
int cli_witness_key_load(const char *path, struct journal_file_signer *fs, struct journal_tlog_verifier *v);
/* A subcommand whose only argument is --key FILE (witness vkey, remote keygen|pubkey): 0 and
 * *key, or the usage exit code (cmd_witness.c). */
int cli_key_only_args(int argc, char **argv, const char *cmd, const char **key);
int cli_witness_cosign(int argc, char **argv);
int cli_witness_add(int argc, char **argv);
/* A cosigned checkpoint (note, len bytes) by the witness wv, checked against the checkpoint the
 * journal rd (key pk) signed at its size, as the witness record to append (r's name points into
 * wv): 0, or CLI_FAIL with *why (witness add; the daemon's "witness" op, run_witness.c). */
int cli_witness_record(struct journal_reader *rd, const uint8_t pk[JOURNAL_PUBKEY_BYTES], const char *note, size_t len,
                       const struct journal_tlog_verifier *wv, struct journal_record *r, const char **why);
/* `hems verify --dir DIR --witness WVKEY`, after the journal verified: every witness record of
 * that key verifies over the journal's checkpoint at its size, and there is one; prints
 * "witness: ok: …" or the first bad seq; CLI_OK, CLI_FAIL or CLI_ENV. */
int cli_witness_verify_dir(struct journal_reader *r, const uint8_t pk[JOURNAL_PUBKEY_BYTES],
                           const struct journal_tlog_verifier *wv);

/* Subcommands */
int cli_cmd_witness(int argc, char **argv);
int cli_cmd_remote(int argc, char **argv);
/* A policy request's answer from the daemon (refusal / accepted / command + sense-back) printed
 * for `what`: the exit code (cmd_control.c). */
int cli_policy_outcome(const char *what, json_t *o);

/* `hems verify BUNDLE` for a format-3 bundle (bundle_check.c): begin() before the records are
 * read (takes the tree entry, opens --checkpoint FILE with the pinned key, asks for the root at
 * its size); end() after they verified: prints the range, the closing checkpoint and the head,
 * checks the head's signature, the embedded consistency proof and the kept checkpoint. Both
 * return CLI_OK or the exit code after one error line. */
struct cli_bundle_check {
  const struct journal_bundle_tree *t;  /* NULL: format 1 or 2 */
  const char *where, *kept_path;
  bool have_kept;
  struct journal_tlog_checkpoint kept;
  struct journal_tlog_verifier v;       /* the pinned key under "hems/<device id>" */
  const struct journal_tlog_verifier *wv; /* --witness WVKEY, or NULL */
  uint8_t pinned_pk[JOURNAL_PUBKEY_BYTES], bundle_pk[JOURNAL_PUBKEY_BYTES]; /* after a rotation they differ */
};
int cli_bundle_check_begin(struct cli_source *s, const char *where, const char *kept_path, struct cli_bundle_check *bc);
int cli_bundle_check_end(struct cli_bundle_check *bc);
/* `hems checkpoint BUNDLE` of a format-3 bundle, after its records were read: the head note
 * (checked with the pinned key), or with proof the embedded consistency proof from the closing
 * size to the head as `hems prove --from --to` prints it (checked first). */
int cli_bundle_head_print(struct cli_bundle_check *bc, bool proof);
/* The head note of a format-3 bundle after its records were read, signed by the pinned key and
 * proven consistent with the closing checkpoint: 0, or CLI_FAIL after one error line. */
int cli_bundle_head_note(struct cli_bundle_check *bc, const char **note, size_t *len);
/* `hems export --since-checkpoint FILE`: the size of a checkpoint the journal's key signed. */
int cli_export_kept_size(struct journal_reader *r, const uint8_t pk[JOURNAL_PUBKEY_BYTES], const char *path, uint64_t *size);
int cli_cmd_init(int argc, char **argv);
int cli_cmd_reindex(int argc, char **argv);
int cli_cmd_migrate(int argc, char **argv);
int cli_cmd_stats(int argc, char **argv);
int cli_cmd_note(int argc, char **argv);
int cli_cmd_verify(int argc, char **argv);
int collect_verify_db(int argc, char **argv); /* hems verify --db (collect_audit.c) */
int cli_cmd_export(int argc, char **argv);
int cli_cmd_show(int argc, char **argv);
int cli_cmd_timeline(int argc, char **argv);
int cli_cmd_bench(int argc, char **argv);
int cli_cmd_replay(int argc, char **argv);
int cli_cmd_status(int argc, char **argv);
/* `hems bench replay` (cli/bench_replay.c); argv as given to `hems bench`. */
int cli_bench_replay(int argc, char **argv);
int cli_bench_verify(int argc, char **argv);
/* The options `bench replay` and `bench verify` share (--dir, --format, --days, --records,
 * --record-bytes accepted and ignored), parsed from argv; then the scratch dir made under --dir
 * (or $TMPDIR, else /tmp) as <name>-XXXXXX, its path in base (cap bytes) and the data dir
 * base/data in dir. 0, or the exit code after one error line (CLI_USAGE, CLI_ENV). */
struct cli_synth_args { bool json; double days; uint64_t max_records; };
int cli_bench_synth_args(int argc, char **argv, const char *name, struct cli_synth_args *a, char *base, size_t cap,
                         char *dir, size_t dcap);
/* Writes `days` (at most max_records, 0: no limit) of the 48-branch panel into dir through the
 * replay harness (cli/bench_synth.c): live state hashes in every seal, hourly checkpoints;
 * format: journal_options.format (0: format 3; 2: the previous format, for the same-run
 * comparison); group_span_ns: the record time one commit group may span (1 s: the daemon's). */
struct cli_synth_result { uint64_t appended, checkpoints; double gen_s; };
int cli_bench_synth_journal(const char *dir, unsigned format, double days, uint64_t max_records,
                            uint64_t group_span_ns, const char *what, struct cli_synth_result *out);
/* The format-2 journal the replay and verify benches measure beside format 3 in the same run:
 * as long as the format-3 one, at most 1 day (a format-2 day of the panel is ~1.2 GB). */
#define CLI_BENCH_FORMAT2_DAYS_MAX 1.0
/* Whether a benchmark's journal was read from memory: the size of DIR/journal/data.mdb, how
 * much of it is in the page cache now (mincore), and MemAvailable from /proc/meminfo (0 if
 * unknown); resident: at least 99 % of it is cached (a few pages LMDB never touched may not
 * be). Returns 0, or a negative errno. */
struct cli_residency { uint64_t journal_bytes, resident_bytes, mem_available_bytes; bool resident; };
int cli_journal_residency(const char *dir, struct cli_residency *out);
/* Drops DIR/journal/data.mdb from the page cache (written back first): the next read of it
 * comes from storage. 0 or -errno. */
int cli_journal_drop_cache(const char *dir);
int cli_cmd_retention(int argc, char **argv);
int cli_cmd_run(int argc, char **argv);
int cli_cmd_switch(int argc, char **argv);
int cli_bench_query(int argc, char **argv);
int cli_bench_daemon(int argc, char **argv);
int cli_cmd_service(int argc, char **argv);
int cli_cmd_alarm(int argc, char **argv);
int cli_cmd_der(int argc, char **argv);
int cli_cmd_dr(int argc, char **argv);
int cli_bench_decision(int argc, char **argv);
int cli_cmd_analyze(int argc, char **argv);
int cli_cmd_capture(int argc, char **argv);
int cli_cmd_key(int argc, char **argv);           /* cli/cmd_key.c */
int cli_cmd_checkpoint(int argc, char **argv);    /* cli/cmd_checkpoint.c */
int cli_cmd_prove(int argc, char **argv);         /* cli/cmd_prove.c */
int cli_bench_merkle(int argc, char **argv);      /* cli/bench_merkle.c */
int cli_bench_codec(int argc, char **argv);       /* cli/bench_codec.c */
int cli_bench_fleet(int argc, char **argv);       /* cli/bench_fleet.c */
int cli_bench_analyze(int argc, char **argv);     /* cli/bench_analyze.c */
/* A bench's figures: one JSON line, or `name value` lines (cli/bench.c). */
void cli_bench_emit(json_t *o, bool as_json);
int cli_cmd_statement(int argc, char **argv);     /* cli/cmd_statement.c */
int cli_cmd_commission(int argc, char **argv);    /* cli/cmd_commission.c */
int cli_cmd_calibrate(int argc, char **argv);     /* cli/cmd_calibrate.c */
int cli_cmd_diagnose(int argc, char **argv);      /* cli/cmd_diagnose.c */
int cli_cmd_plot(int argc, char **argv);          /* cli/cmd_plot.c */
int cli_cmd_report(int argc, char **argv);        /* cli/cmd_report.c */
int cli_cmd_bridge(int argc, char **argv);        /* cli/bridge_mqtt.c: hems bridge mqtt */

/* Statements (cli/statement_verify.c). "YYYY-MM" (1970 or later): 0 or -EINVAL; its bounds in
 * UTC: [first day 00:00, first day of the next month 00:00) as wall ns. */
int cli_month_parse(const char *s, uint16_t *year, uint8_t *month);
void cli_month_bounds(uint16_t year, uint8_t month, int64_t *start_ns, int64_t *end_ns);
/* Whether path is a regular file that starts with the statement magic (`hems verify` routes it). */
bool cli_statement_is(const char *path);
/* `hems verify STATEMENT`: the pinned key from --pubkey FILE or --fingerprint FP (one is
 * required); prints the check and the energies: CLI_OK, CLI_FAIL (one line naming what), 2, 3. */
int cli_statement_verify(const char *path, const char *pubkey_file, const char *fingerprint);
/* The checks of a statement's bytes against the key pinned (32 bytes), and the printout; where
 * names it in errors. */
int cli_statement_check(const uint8_t *b, size_t len, const char *where, const uint8_t *pinned);

#endif
