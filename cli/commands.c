/*
 * commands.c — the `hems` command table: each command's name, entry point and --help text
 * (CLI.md), the overview, and the lookup of a command by its name or its nearest misspelling.
 * The commands that talk to a network (witness, bridge, ship, collect, remote) are in
 * commands_net.c.
 */
#include <string.h>
#include "cli.h"

const char cli_main_usage[] =
  "usage: hems <command> [options]\n"
  "\n"
  "The home energy management panel controller: a signed, hash-chained journal of everything\n"
  "the panel sees, is asked and does.\n"
  "\n"
  "commands:\n"
  "  run        the panel controller (simulated panel by default)\n"
  "  init       create a data dir: keys, counter, journal (boot/config/key records)\n"
  "  note       append an operator note\n"
  "  switch     ask the daemon to switch a branch on or off\n"
  "  service    the service disconnect: disconnect, reconnect, confirm (COSEM class 70)\n"
  "  alarm      acknowledge an alarm whose condition no longer holds\n"
  "  dr         demand-response events: start, cancel, opt-out\n"
  "  der        command a SunSpec DER: connect, disconnect, limit, charge_limit, discharge_limit\n"
  "  verify     check chain, seals, gaps and order of a data dir or bundle\n"
  "  export     write a self-contained verifiable bundle\n"  "  decrypt    a bundle sealed to a recipient key (export --encrypt-to) back to the bundle\n"
  "  show       print one record\n"
  "  timeline   list records, filtered through indexes\n"
  "  retention  show or apply retention (archive, then cut)\n"
  "  reindex    rebuild the indexes from the records (never while a daemon runs)\n"
  "  migrate    move a format-2 journal to format 3 in place (verified first)\n"
  "  stats      what the journal costs: records, bytes on disk, per type, writes per day\n"
  "  analyze    run a COMTRADE file through the ingest pipeline\n"
  "  capture    export an event's waveform capture as COMTRADE\n"
  "  status     head, state hash, branch states, energy and alarms (folds the journal)\n"
  "  replay     rebuild derived state offline; --check against the live run; --incident\n"
  "  bench      measure journal and verification performance\n"
  "  key        the journal's keys: verifier (the checkpoint verifier key)\n"
  "  checkpoint the signed checkpoint (C2SP signed note) of the newest seal or of --at SEQ\n"
  "  prove      RFC 9162 inclusion (--seq N [--size S]) or consistency (--from S1 --to S2) proof\n"
  "  statement  a month's per-branch energy as the difference of two signed states (a file)\n"
  "  commission switch each branch with a known load: CT polarity and phase mapping\n"
  "  calibrate  a branch CT's gain from a known load, journaled as a config change\n"
  "  witness    cosign checkpoints that extend the last one cosigned (C2SP tlog-cosignature)\n"
  "  bridge     a separate process between the daemon's socket and a network: mqtt (Home Assistant),\n"
  "             modbus (a Modbus TCP server), sunspec (a SunSpec client of the PV inverter and battery)\n"
  "  ship       ship the journal's records to a fleet head-end over MQTT (batches, checkpoints, backfill)\n"
  "  remote     signed remote commands (COSE_Sign1, Ed25519): sign one, apply one to the daemon\n"
  "\n"
  "common options: --dir DIR (default $HEMS_DIR, else ./hems-data), --counter PATH|tpm:NVINDEX,\n"
  "--tcti CONF (the TPM of tpm:…; else $TPM2TOOLS_TCTI), --accept-rollback, --help; the commands\n"
  "that sign take --signer file|pkcs11:URI (the key in a PKCS#11 token). Exit codes: 0 ok,\n"
  "1 check failed or refused, 2 usage, 3 I/O or environment. 'hems <command> --help' for details.\n";

static const struct cli_cmd cmds[] = {
  { "init", cli_cmd_init,
    "usage: hems init [--dir DIR] [--config PANEL.json] [--counter PATH|tpm:NVINDEX] [--tcti CONF]\n"
    "                 [--force] [--signer URI]\n"
    "\n"
    "Create the data dir: DIR/keys/signing.key (0600) and signing.pub, DIR/counter (or --counter),\n"
    "DIR/config.json and DIR/journal/ with boot, config and key records; prints the public key\n"
    "fingerprint. On a dir that already holds a journal it refuses (exit 1) unless --force, which\n"
    "moves the old dir aside to DIR.bak-<time> (nothing is deleted). --counter tpm:0x01500000\n"
    "binds the counter to a TPM 2.0 NV counter (defined if absent; TCTI from --tcti CONF or\n"
    "$TPM2TOOLS_TCTI); the journal then opens only with that --counter.\n"
    "--signer pkcs11:token=LABEL;object=LABEL?module-path=/ABS/module.so&pin-source=file:/ABS/PIN\n"
    "(RFC 7512; pin-source=credential:NAME reads $CREDENTIALS_DIRECTORY/NAME) signs with the Ed25519\n"
    "key already in the token (CKM_EDDSA) instead: no signing.key is made, signing.pub is the\n"
    "token's public key. Every later command that signs (run, note, export, retention --run,\n"
    "reindex, migrate, witness add) then takes the same --signer; 'file' (the default) is DIR/keys/.\n" },
  { "note", cli_cmd_note,
    "usage: hems note [--dir DIR] [--counter PATH] [--accept-rollback] [--signer URI] [--who NAME] TEXT\n"
    "\n"
    "Append an operator note record (who, text). 'who' defaults to the login name.\n" },
  { "verify", cli_cmd_verify,
    "usage: hems verify [--dir DIR | BUNDLE] [--pubkey FILE | --fingerprint FP] [--from SEQ] [--all-seals]\n"
    "                   [--witness WVKEY] [--checkpoint FILE]\n"
    "       hems verify --db postgresql://… --device ID\n"
    "\n"
    "Check the hash chain, the seals' signatures, gaps and order. A data dir is read on two\n"
    "threads; from seq 1 its Merkle tree and every seal's state hash (the reducers' fold) are\n"
    "recomputed, and only the newest seal's signature is checked (the chain and the tree tie\n"
    "every record to it) unless --all-seals; any failure is re-checked with every seal's\n"
    "signature, so the first bad seq is the same either way. With a data dir the key is\n"
    "DIR/keys/signing.pub unless --pubkey; with a bundle, --pubkey or --fingerprint pins the key\n"
    "(otherwise the bundle's own key is used and said so); the header and end frame must be\n"
    "signed by the pinned key or one it certified. FP is the full 32 hex digits (anything else:\n"
    "exit 2). Exit 0 intact; 1 prints\n"
    "'first bad seq N: <reason>' or 'truncated after seq N'. A data dir's indexes are checked\n"
    "too (every record's keys present, every entry justified): 1 prints 'index damaged: <why>'.\n"
    "--witness WVKEY (a data dir): every witness record of that witness ('hems witness add') must\n"
    "verify over the journal's own checkpoint at its size, and there must be one: prints the\n"
    "witnessed range, else exit 1. A format-3 bundle carries the newest cosignature of each\n"
    "witness of a checkpoint at or after its last seal (with the proof to the head): one by\n"
    "WVKEY must verify, else exit 1.\n"
    "A bundle of format 3 also prints its seq and time range, its closing checkpoint and the\n"
    "panel's head at export (size, root, time; the seqs after the range not in the bundle); the\n"
    "head must be signed by the pinned key and the embedded consistency proof from the closing\n"
    "checkpoint to it must verify, else exit 1 naming it.\n"
    "A data dir's long-horizon log (DIR/history) is checked too, with the same key: its chain and\n"
    "seals, then every copy against the bytes and hash it names and, while the main log still\n"
    "holds the record, against it; a kept main-log record up to the newest copy without one is\n"
    "exit 1 ('history: copy at seq N (main seq M): <reason>').\n"
    "--checkpoint FILE (a bundle): a checkpoint kept earlier, signed by the pinned key; proves the\n"
    "head extends it (its size inside the range: root from the records; the head's size: same\n"
    "root; else a proof carried by 'export --since-checkpoint FILE'). Exit 1 'first inconsistent\n"
    "size K' on a fork, or naming what is missing when the bundle cannot prove it (K newer than\n"
    "the head, or no proof from K).\n"
    "hems verify STATEMENT (--fingerprint FP | --pubkey FILE): a file 'hems statement' wrote is\n"
    "checked offline ('hems statement --help'); prints the period and each branch's energy.\n"
    "hems verify --db URL --device ID: a device's records as 'hems collect' stored them, from seq 1,\n"
    "with the registered key (chain, seals, tree roots), and the stored head: 'ok: …' or exit 1.\n" },
  { "export", cli_cmd_export,
    "usage: hems export [--dir DIR] --out FILE [--since SEQ|T] [--until SEQ|T] [--since-checkpoint FILE]...\n"
    "                   [--encrypt-to PUBKEY] [--signer URI]\n"
    "\n"
    "Write a self-contained, verifiable bundle (format 3) of whole commit groups: signed header,\n"
    "zstd frames of records and their blobs, an end frame signing a hash of every byte. A bundle\n"
    "that starts after seq 1 carries the replay checkpoint of the state before its first record.\n"
    "It carries the journal's signed head (newest seal's checkpoint) and the consistency proof to\n"
    "it from its last seal; --since-checkpoint FILE (a kept checkpoint, up to 7) adds the proof\n"
    "from FILE's size, for 'verify BUNDLE --checkpoint FILE'. Exit 1 if FILE is not signed by the\n"
    "journal's key or is beyond its newest seal. (Format 2 when the newest seal is schema 1.)\n"
    "Times: RFC 3339, @UNIX or -15m/-2h/-7d. A user other than DIR's owner exports through the\n"
    "running daemon (at most 50000 records; no --since-checkpoint); FILE is then created 0600\n"
    "and never overwritten.\n"
    "--encrypt-to PUBKEY (a file made by 'hems key recipient', or x25519:BASE64) seals FILE to that\n"
    "recipient (libsodium sealed box of a stream key, XChaCha20-Poly1305 chunks; docs/journal.md\n"
    "\"Sealed bundles\"): unreadable without the recipient's secret key; 'hems decrypt' gives back\n"
    "the bundle, which verifies as any bundle does. The plain bundle is only ever in an unnamed\n"
    "temporary file. (Not through the daemon: the data dir's owner only.)\n" },
  { "decrypt", cli_cmd_decrypt,
    "usage: hems decrypt --key FILE SEALED --out BUNDLE\n"
    "\n"
    "Decrypt a sealed bundle (export --encrypt-to) with the recipient's secret key (FILE, from 'hems\n"
    "key recipient') into BUNDLE, then check it with 'hems verify BUNDLE'. BUNDLE appears only once\n"
    "every chunk has authenticated through the final one (it is written as BUNDLE.tmp and renamed;\n"
    "an existing BUNDLE.tmp is refused); a file sealed to another key, altered, reordered or cut\n"
    "short is refused naming the byte offset, and nothing is written. Exit 0 ok, 1 not for this\n"
    "key or damaged, 2 usage, 3 I/O.\n" },
  { "show", cli_cmd_show,
    "usage: hems show [--dir DIR | BUNDLE] [--pubkey FILE | --fingerprint FP] [--format text|json|cbor] SEQ\n"
    "\n"
    "Print one record, decoded; --format cbor writes its exact bytes (what the chain, the seals and\n"
    "the Merkle tree hash) to a file or pipe, nothing else. Exit 1 if there is no such seq. A bundle is checked as it is read\n"
    "(against the pinned key, else its own key and said so); on damage the record is printed only\n"
    "if a seal proved it, then 'bundle damaged after seq N: <why>', exit 1.\n" },
  { "timeline", cli_cmd_timeline,
    "usage: hems timeline [--dir DIR | BUNDLE] [--branch N|NAME] [--type T[,T...]] [--source SRC]\n"
    "                     [--since SEQ|T] [--until SEQ|T] [--format table|jsonl|csv] [--limit N]\n"
    "                     [--pubkey FILE | --fingerprint FP]\n"
    "\n"
    "Records in seq order, filtered through the type/source/branch and time indexes. SRC as in\n"
    "records: panel, branch:7, afe:2, der:pv, tap:rcd:3, operator, remote:NAME. An index whose\n"
    "blocks do not cover the journal is not trusted: a warning, then a full scan. A bundle is\n"
    "checked as it is read (pin its key with --pubkey/--fingerprint): only records a seal proved\n"
    "are listed, then on damage 'bundle damaged after seq N: <why>', exit 1.\n"
    "--format defaults to table on a TTY (limit 100), jsonl otherwise (no limit). table and\n"
    "show's text are for people (units, branch names, the fields that matter first); jsonl keeps\n"
    "the raw integers; csv flattens bodies into columns with units in the header (--type window:\n"
    "one row per branch). --branch takes a number or the configured name.\n" },
  { "retention", cli_cmd_retention,
    "usage: hems retention [--dir DIR] [--keep 30d] [--quota SIZE] [--run] [--signer URI]\n"
    "\n"
    "Show the journal's extent, its bytes, the archives and the retention policy (DIR/config.json\n"
    "\"retention\": windows, history, quota, high_water, reserve); with --run, archive whole commit\n"
    "groups older than --keep (default: the configured windows, else 30d; relative to the newest\n"
    "record) and, when the journal alone exceeds the quota, the oldest beyond it to\n"
    "DIR/archive/<first>-<cut>.hems (a verifiable bundle), append a sealed retention record\n"
    "attesting the cut, remove them, then delete the oldest archives while journal + archives\n"
    "exceed the quota (--quota overrides the config's).\n" },
  { "reindex", cli_cmd_reindex,
    "usage: hems reindex [--dir DIR] [--counter PATH] [--accept-rollback] [--signer URI]\n"
    "\n"
    "Rebuild the derived tables (groups, times, index, index blocks) from the records alone, in\n"
    "one transaction under the writer lock: refused while a daemon runs (exit 3). Says first what\n"
    "was wrong with the old index; 'hems verify --dir DIR' checks it without changing anything.\n" },
  { "migrate", cli_cmd_migrate,
    "usage: hems migrate [--dir DIR] [--counter PATH] [--signer URI]\n"
    "\n"
    "Move a format-2 journal (one LMDB value per record) to format 3 (packs) in place, under the\n"
    "writer lock: the whole journal is verified first (chain, seals, keys, from DIR/keys/\n"
    "signing.pub) and any damage refuses it with nothing changed ('first bad seq N', exit 1);\n"
    "then every record moves with its exact bytes and seq in one transaction, and a writer open\n"
    "builds the Merkle tiles. A format-3 journal is left as it is (exit 0).\n" },
  { "stats", cli_cmd_stats,
    "usage: hems stats [--dir DIR] [--format text|json]\n"
    "\n"
    "records, disk_bytes (the files of DIR/journal), bytes_per_record, by_type {type: {records,\n"
    "bytes}} (bytes: canonical record bytes, as hashed, before compression), write_bytes_per_day\n"
    "(the running daemon's own storage writes over its uptime; null when none answers) and\n"
    "horizon_days (DIR/config.json retention.quota over the journal's bytes per day of records;\n"
    "null without a quota); the bytes of each log: journal_bytes (LMDB pages in use), archive_bytes\n"
    "and archives (DIR/archive), long_horizon_bytes (null: none yet), quota.\n" },
  { "run", cli_cmd_run,
    "usage: hems run [--dir DIR] [--sim SCENARIO|PATH.json] [--hw PANEL.json] [--for DURATION]\n"
    "                [--speed X|max] [--seed N] [--window 200|1000|10000] [--socket PATH]\n"
    "                [--counter PATH|tpm:NVINDEX] [--tcti CONF] [--accept-rollback] [--signer URI]\n"
    "\n"
    "The panel controller. Without --sim or --hw: the simulated panel, 'default' scenario, real\n"
    "time, until stopped (Ctrl-C / SIGTERM: flush, seal, exit 0). Shipped scenarios: default,\n"
    "sag-and-inrush, welded-relay, grid-outage-transfer, reversed-ct, service-overload,\n"
    "full-panel; a path loads a scenario file (docs/scenarios.md). --for is panel (virtual) time;\n"
    "--speed max runs as fast as possible and is deterministic for a given dir, scenario and seed\n"
    "(default seed 1). The control socket is DIR/control.sock (docs/cli.md). With --counter\n"
    "tpm:NVINDEX the TPM counter is incremented at start, after each retention cut and at most\n"
    "once an hour of panel time, each count signed in the next seal.\n" },
  { "switch", cli_cmd_switch,
    "usage: hems switch [--dir DIR] BRANCH on|off [--request-id ID] [--reason TEXT] [--expires T]\n"
    "\n"
    "Ask the running daemon to switch a branch (number or configured name). The request is\n"
    "journaled; the fold decides: a command (then actuation and sense-back) or a refusal with its\n"
    "reason (role, breaker_open, rcd_tripped, backfeed, rate_limit, conflict, expired, ...).\n"
    "Prints the outcome. Exit 0 only when the sense-back is 'confirmed'; 1 on a refusal or any\n"
    "other verdict; 3 when no daemon answers. The same --request-id with the same body returns\n"
    "the stored outcome without a second actuation; with another body it is refused (conflict).\n"
    "--expires T: refused 'expired' if the daemon journals the request after T (RFC 3339, @UNIX,\n"
    "+DURATION from now on the panel clock, or -DURATION); service and dr take it too.\n" },
  { "service", cli_cmd_service,
    "usage: hems service disconnect|reconnect|confirm [--dir DIR] [--request-id ID] [--reason TEXT]\n"
    "                [--expires T]\n"
    "       hems service set-mode --mode N [--dir DIR] [--request-id ID] [--expires T]\n"
    "\n"
    "The service disconnect, with DLMS/COSEM disconnect-control (class 70) semantics: states\n"
    "connected, disconnected, ready_for_reconnection; control_mode 0..6 (default 1). disconnect\n"
    "and reconnect are the utility head-end's remote methods (role admin); in an arming mode\n"
    "(1, 3, 5, 6) a reconnect only arms (ready_for_reconnection, output still open) and the local\n"
    "confirmation -- 'confirm' (role operator) or the panel's button -- closes. set-mode writes\n"
    "control_mode. Prints the outcome: accepted (armed), a command with its sense-back, or a\n"
    "refusal with its reason (role, mode, backfeed, ...). Exit 0 on accepted or a 'confirmed'\n"
    "sense-back; 1 on a refusal or another verdict; 2 usage; 3 when no daemon answers.\n" },
  { "dr", cli_cmd_dr,
    "usage: hems dr start|cancel|opt-out [--dir DIR] --event ID [--modification N] [--start T]\n"
    "          [--duration D] [--randomize D] [--reduce-kw X | --branches LIST] [--mandatory]\n"
    "          [--request-id ID] [--expires T]\n"
    "\n"
    "Demand-response events (OpenADR 2.0b semantics). start (role admin: the utility) schedules\n"
    "event ID: active from --start (RFC 3339, @UNIX, or +DURATION from now; default now) plus a\n"
    "start randomisation drawn by the daemon from its seed within --randomize, for --duration;\n"
    "it opens the branches in LIST (numbers or names, comma separated) or enough of the\n"
    "lowest-priority non-critical branches to shed --reduce-kw; the end restores them (staggered).\n"
    "A higher --modification replaces the event, an equal one gets the stored reply, a lower one\n"
    "is refused (superseded). cancel (admin) ends it; opt-out (role operator) leaves a\n"
    "non-mandatory event (a mandatory one is refused: mandatory). Exit 0 accepted, 1 refused,\n"
    "2 usage, 3 when no daemon answers.\n" },
  { "alarm", cli_cmd_alarm,
    "usage: hems alarm ack [--dir DIR] BRANCH|panel ALARM [--request-id ID] [--reason TEXT]\n"
    "                [--expires T]\n"
    "\n"
    "Acknowledge an alarm (welded, ct_polarity, phase_map, unexplained_trip, der_mismatch on a\n"
    "branch, given by number or configured name; stale_der, backfeed_risk on the panel;\n"
    "leakage_high, over_temperature, temperature_rise on the tap's branch or the panel). The request\n"
    "is journaled; the fold clears the alarm only when its condition no longer holds -- a weld after\n"
    "a confirmed open, a trip once the breaker is reset, CT polarity once the branch reads positive,\n"
    "a phase map once it is measured on its first phase again, a measured leakage or temperature\n"
    "once it is back below its threshold minus the hysteresis -- else refuses it (alarm_active, or\n"
    "alarm_not_raised). Prints the outcome. Exit 0 accepted, 1 refused, 2 usage, 3 when no daemon\n"
    "answers.\n" },
  { "der", cli_cmd_der,
    "usage: hems der [--dir DIR] pv|ess ACTION [PERCENT] [--request-id ID] [--reason TEXT]\n"
    "                [--expires T]\n"
    "\n"
    "Command a DER source the SunSpec bridge reads (panel config der.pv / der.ess with \"sunspec\").\n"
    "ACTION: connect, disconnect (SunSpec model 123 Conn); limit PERCENT (model 123 WMaxLimPct, the\n"
    "output limit in percent of the rating); charge_limit / discharge_limit PERCENT (ess: model 124\n"
    "InWRte / OutWRte). The request is journaled and decided like any other (refused: role,\n"
    "expired, unknown_target before the bridge has reported the source, backfeed when connecting\n"
    "with the grid absent, interlock); the command is executed by `hems bridge sunspec`, and the\n"
    "answer comes at its sense-back: confirmed when a poll shows the change, no_feedback when the\n"
    "write failed or nothing showed it in time. Exit 0 confirmed, 1 refused or not confirmed,\n"
    "2 usage, 3 when no daemon answers.\n" },
  { "analyze", cli_cmd_analyze,
    "usage: hems analyze FILE.cfg|FILE.cff [--declared-voltage V] [--freq-band PCT] [--format jsonl]\n"
    "\n"
    "Run a COMTRADE waveform (IEEE C37.111 1999/2013; ASCII, BINARY, BINARY32, FLOAT32) through\n"
    "the ingest pipeline; print one JSON object per basic window and per pq_event. Events are\n"
    "judged against the declared voltage (default: from the .cfg's transformer ratio, else the\n"
    "standard nominal voltage nearest the median RMS, said on stderr). A frequency event starts\n"
    "when a 10-s frequency leaves nominal +/- PCT % (default 1; 0 = off). Malformed files: one\n"
    "error naming file, line and field, exit 1.\n" },
  { "capture", cli_cmd_capture,
    "usage: hems capture [--dir DIR | BUNDLE] SEQ --comtrade OUT [--binary32]\n"
    "\n"
    "Write the waveform capture of event SEQ as COMTRADE 2013 (OUT.cfg + OUT.dat, BINARY int16;\n"
    "--binary32 for lossless int32).\n" },
  { "status", cli_cmd_status,
    "usage: hems status [--dir DIR | BUNDLE] [--counter PATH] [--accept-rollback]\n"
    "                   [--format text|table|json|jsonl] [--pubkey FILE | --fingerprint FP]\n"
    "\n"
    "Head seq and hash, the reducer state hash, per-branch commanded/sensed/proven state, fault,\n"
    "power, energy (import/export), DER freshness, interlock status and alarms. With no daemon\n"
    "answering, the journal is folded offline from its newest valid checkpoint. JSON keys include\n"
    "state_hash, head_hash (lowercase hex), head_seq, reducer_version and state.\n" },
  { "replay", cli_cmd_replay,
    "usage: hems replay [--dir DIR | BUNDLE] [--until SEQ|T] [--check] [--incident SEQ]\n"
    "                   [--no-checkpoints] [--format text|table|json|jsonl] [--pubkey FILE | --fingerprint FP]\n"
    "\n"
    "Rebuild the derived state offline with the reducers and print it with its state hash.\n"
    "--until SEQ folds records 1..SEQ inclusive (seals are not folded), so a seal at seq N carries\n"
    "  the state hash that --until N-1 prints; --until T stops before the first record after T.\n"
    "  A data dir starts from its newest valid checkpoint at or before the bound (corrupted or\n"
    "  version-mismatched checkpoints are skipped; --no-checkpoints folds from seq 1).\n"
    "--check folds from seq 1 and compares every decision the reducers recompute for a request\n"
    "  with the command/refusal record the live run wrote, and every seal's state_hash with the\n"
    "  recomputed one; each divergence is named by seq on stderr; exit 1 on any.\n"
    "--incident SEQ prints the causal timeline around a record: the windows before it, requests\n"
    "  with the decision taken, commands and refusals with reasons, sense-backs, trip taps, DER\n"
    "  transitions, faults; then the derived state of its branches right after it.\n"
    "A bundle is checked as it is folded (pin its key with --pubkey/--fingerprint); one that\n"
    "  starts after seq 1 starts from the checkpoint it carries, trusted once the first seal with\n"
    "  a state hash reproduces it ('bundle damaged after seq N: its checkpoint ...' otherwise).\n"
    "The output names the reducer version used. Exit 0 ok, 1 divergence or damaged source,\n"
    "2 usage, 3 I/O.\n" },
  { "key", cli_cmd_key,
    "usage: hems key verifier [--dir DIR | BUNDLE] [--fingerprint FP]\n"
    "       hems key rotate [--dir DIR] [--signer file|pkcs11:URI] [--to pkcs11:URI]\n"
    "       hems key revoke [--dir DIR] [--signer file|pkcs11:URI] KEYID --reason TEXT\n"
    "       hems key recipient --out FILE\n"
    "\n"
    "rotate: make a new signing key (DIR/keys/signing.key afterwards) and journal it, certified by\n"
    "  the key in force (--signer, or DIR/keys/signing.key), which seals that record; every later\n"
    "  seal is the new key's, and verify refuses the old key's. --to: the new key is that token's\n"
    "  (a key file moves into a token). The daemon must be stopped. The key\n"
    "  an auditor pins stays the first key: verify follows the certified chain from it.\n"
    "revoke: journal that key KEYID (its 32-hex fingerprint; not the key in force) is revoked:\n"
    "  no seal or bundle signed by it is accepted after this record. Exit 0 ok, 1 no such key or\n"
    "  the key in force, 2 usage, 3 I/O or a held lock.\n"
    "recipient: make an X25519 key pair for reading sealed bundles (export --encrypt-to): FILE holds\n"
    "  the secret key (mode 0600, 'x25519-secret BASE64'), FILE.pub the public one ('x25519 BASE64')\n"
    "  to give to whoever exports. Neither file is ever overwritten. It is not a journal key: it\n"
    "  signs nothing and proves nothing; the journal key's signatures inside a bundle do.\n"
    "verifier: print the note verifier key of the journal's signing key, the line that checks its\n"
    "  checkpoints (C2SP signed notes; Go's golang.org/x/mod/sumdb/note reads it):\n"
    "  hems/<device id>+<8 hex key hash>+<base64(0x01 || Ed25519 public key)>. The name is the\n"
    "  checkpoint origin: 'hems/' and the data dir's device id. For a bundle the key is the bundle's\n"
    "  own: --fingerprint FP refuses (exit 1) unless it is the panel's; without it stderr says so.\n" },
  { "checkpoint", cli_cmd_checkpoint,
    "usage: hems checkpoint [--dir DIR | BUNDLE] [--at SEQ | --closing | --proof] [--pubkey FILE | --fingerprint FP]\n"
    "\n"
    "Prints the signed checkpoint of the newest seal, or of the seal at SEQ: exactly the C2SP\n"
    "  signed-note text (tlog-checkpoint body: origin hems/<device id>, tree size, base64 root,\n"
    "  then state, head, time and seal lines; a blank line; the signature line). The signature is\n"
    "  the seal's own (seals of journal format 3 sign their checkpoint) and is checked with the\n"
    "  journal's key before printing; 'hems key verifier' prints the key that checks it.\n"
    "A format-3 bundle's newest checkpoint is the head it carries (the journal's newest at\n"
    "  export); --closing prints its last seal's instead; --proof the embedded consistency proof\n"
    "  from that one to the head, as 'hems prove --from --to' prints it (bundles only).\n"
    "Exit 0 ok; 1 the seal does not verify, is a schema-1 seal (it signs no checkpoint) or the\n"
    "  source is damaged; 2 usage, SEQ is not a seal, or no seal at all (tree size 0); 3 I/O.\n" },
  { "prove", cli_cmd_prove,
    "usage: hems prove [--dir DIR | BUNDLE] --seq N [--size S] [--pubkey FILE | --fingerprint FP]\n"
    "       hems prove [--dir DIR | BUNDLE] --from S1 --to S2 [--pubkey FILE | --fingerprint FP]\n"
    "\n"
    "Prints an RFC 9162 proof as one JSON line: with --seq, the inclusion of record N (leaf N-1) in\n"
    "  the tree of size S (default: the newest checkpoint's), {\"leaf_index\", \"tree_size\", \"root\",\n"
    "  \"proof\"}; with --from/--to, the consistency of the trees of sizes S1 <= S2, {\"old_size\",\n"
    "  \"new_size\", \"old_root\", \"new_root\", \"proof\"}; hashes in base64. A data dir's proofs come\n"
    "  from its stored tiles, a bundle's tree (from seq 1) is rebuilt; the newest seal is checked\n"
    "  with the journal's key and every root and proof against its tree_root before printing.\n"
    "Exit 0; 1 when it cannot be proven (leaves cut and no tile covers them, tiles damaged, the\n"
    "  newest seal carries no root or does not verify); 2 usage or a size beyond the newest\n"
    "  checkpoint's; 3 I/O.\n" },
  { "diagnose", cli_cmd_diagnose,
    "usage: hems diagnose [--dir DIR | BUNDLE] [--since T] [--branch N|NAME] [--format text|json]\n"
    "                     [--pubkey FILE | --fingerprint FP]\n"
    "\n"
    "The field playbook over the journal: one finding per problem with the records it rests on\n"
    "(evidence seqs), the measurements that decided it and the first fix: ct_polarity, phase_map,\n"
    "welded, stuck_open, chatter, leakage, no_feedback, inrush_trip, overcurrent_trip,\n"
    "leakage_trip, unexplained_trip, log_gap, comms_on_switching, transfer_chatter, stale_der,\n"
    "der_mismatch, pq_load_drop, load_shed, afe_drift. 'no findings' on a healthy panel. json: one\n"
    "object a line. A bundle is checked as it is read. Exit 0 (findings or none), 1 a damaged bundle.\n" },
  { "plot", cli_cmd_plot,
    "usage: hems plot [--dir DIR | BUNDLE] SEQ --out FILE.svg\n"
    "       hems plot [--dir DIR | BUNDLE] --energy [--since T] [--until T] --out FILE.svg | --format json\n"
    "\n"
    "An SVG picture: the waveform capture of event SEQ (a pq_event or trip_tap) with each voltage's\n"
    "half-cycle RMS, the dip/swell thresholds and hysteresis band, the trigger and the branch\n"
    "timeline (commands, sense-backs, taps) on one time axis; or per-branch energy bars for a\n"
    "period (the windows' import and export; for intervals retention cut from the main log, their\n"
    "15-minute rollups, from the long-horizon log when need be). --format json prints the energy\n"
    "totals instead ([{branch, name, import_uwh, export_uwh}]). A bundle is checked as it is read.\n" },
  { "report", cli_cmd_report,
    "usage: hems report [--dir DIR | BUNDLE] [--since T] [--until T] --out FILE.html|FILE.txt\n"
    "                   [--pubkey FILE | --fingerprint FP]\n"
    "\n"
    "One self-contained file for someone who has never seen a record: the verification result\n"
    "(key fingerprint, covered range, head), per-branch energy, commands with their sense-backs,\n"
    "refusals, faults, PQ events with their pictures, alarms and diagnose's findings. HTML with\n"
    "inline SVG and no external resources, or plain text. Exit 1 when the journal does not verify\n"
    "(the report says so at its top).\n" },
  { "commission", cli_cmd_commission,
    "usage: hems commission [--dir DIR] [--branch N|NAME]... [--settle WINDOWS] [--include-critical]\n"
    "                       [--format text|json]\n"
    "\n"
    "The active commissioning check of CT polarity and phase mapping. Put a known resistive load\n"
    "(heater, kettle, lamp) on each branch; the running daemon switches each branch on and off\n"
    "through journaled requests (interlocks, the operations limit and sense-backs apply), and the\n"
    "journal's windows after each sense-back (the --settle'th, default 3) give the load's own\n"
    "change. Its angle says what the current follows: ok, ct_reversed, phase_map (naming the phase),\n"
    "no_load or inconclusive (not resistive). Critical branches only with --include-critical; DER\n"
    "branches are skipped. Each branch is left as found; the findings are journaled as a note.\n"
    "Exit 0 when every checked branch is ok, 1 when one is not (or a switch was refused), 3 when no\n"
    "daemon answers.\n" },
  { "calibrate", cli_cmd_calibrate,
    "usage: hems calibrate [--dir DIR] --branch N|NAME --reference-w W [--windows N]\n"
    "\n"
    "A branch CT's gain from a known load. Put a load of known real power W on the branch (a\n"
    "resistive heater read with a reference meter) and switch it on; the mean active power of the\n"
    "next N window records of the branch's AFE (default 10) is compared with W, and the running\n"
    "daemon sets the branch's gain to gain x W/measured: written to the AFE's xIGAIN (read back),\n"
    "journaled as a note naming who and from what and a config record, and kept in DIR/config.json.\n"
    "Prints what it measured, derived and changed. Needs the installer or admin role.\n"
    "Exit 0 changed; 1 refused (role, a gain outside [0.5, 2], a branch reading under 1 % of W, an\n"
    "AFE that does not take it, windows that do not come); 2 usage (an unknown branch, W not > 0,\n"
    "N not 1..1000); 3 no daemon answers.\n" },
  { "statement", cli_cmd_statement,
    "usage: hems statement [--dir DIR] --month YYYY-MM [--branch N|NAME] --out FILE\n"
    "\n"
    "Writes FILE: the month's per-branch import/export energy, proven. The month is a calendar month\n"
    "  in UTC, from its first day 00:00Z to the next month's. The file holds the two reducer states\n"
    "  seals signed (canonical serialisation; each hashes to its seal's state_hash): the last seal's\n"
    "  at or before the month's start (or the first seal's when the journal starts inside the\n"
    "  month: said in the output) and the last seal's at or before its end; those seals' signed\n"
    "  checkpoints (C2SP notes) and the RFC 9162 consistency proof between them. Energy = end\n"
    "  state - start state. --branch B: only branch B is printed (by number). The file is checked\n"
    "  as 'hems verify FILE' does (with DIR's key) and that output printed. Check it elsewhere with\n"
    "  'hems verify FILE --fingerprint FP' (or --pubkey FILE). Format: docs/replay.md 'Statements'.\n"
    "Exit 0; 1 no data (a month before the journal; no seal inside the month), a seal that does\n"
    "  not verify with the journal's current key, a state that differs from the signed one, no\n"
    "  proof; 2 usage (a bad month, a branch the panel does not have); 3 I/O.\n" },
  { "bench", cli_cmd_bench,
    "usage: hems bench journal|verify|sim|ingest|analyze|replay|merkle|codec|fleet [--dir DIR] [--format text|json] [--records N]\n"
    "                  [--record-bytes N]\n"
    "\n"
    "journal: durable signed appends/s of N records of --record-bytes (default 200) in groups of\n"
    "  1000 with production indexes and seals, against raw unsigned LMDB MDB_APPEND of the same\n"
    "  bytes in the same run (ratio), mean group size, p50/p99 latency from a critical record's\n"
    "  append to durable at 1 k records/s offered, bytes written to storage per record.\n"
    "verify [--days D]: records/s of hems verify (two threads, one thread, --all-seals on two and\n"
    "  one, the previous journal_verify) on a synthesised journal of a 48-branch panel.\n"
    "replay [--days D]: records/s decode + fold on one core over a synthesised journal of a\n"
    "  48-branch panel (default 1 day; 30 for the DESIGN figure), warm and cold cache, restart_s\n"
    "  from the newest checkpoint, and the state's memory.\n"
    "  verify and replay also write the same panel as a format-2 journal (at most 1 day) in the\n"
    "  same run and print its figures and bytes per record beside format 3's (format2, format3).\n"
    "sim: the simulated full-panel (48 current + 3 voltage channels at 8 kSPS) through the emulated\n"
    "  SPI and the real ADE9000 driver, as a multiple of real time on one core (target 50).\n"
    "ingest: the same channels through the waveform pipeline (windows, harmonics, Urms(1/2), PQ\n"
    "  events, capture rings), multiple of real time on one core (target 50), ring memory.\n"
    "analyze [--seconds S] [--runs N] [--reference DIR]: the whole `hems analyze` process on a\n"
    "  generated S-second (default 30) 6-channel 8 kSPS BINARY COMTRADE file beside pqopen-lib's\n"
    "  processing time alone on the same file, runs alternating, medians of N (default 3); DIR\n"
    "  (or HEMS_PQOPEN_PATH) holds the pqopen and daqopen packages, run with /usr/bin/python3\n"
    "  (or HEMS_PYTHON); without one the reference side is skipped and says why (target 20x).\n"
    "merkle [--records N] [--record-bytes N]: Merkle leaf hashes/s (SHA-256 of 0x00 || record) with\n"
    "  OpenSSL's libcrypto beside libsodium's crypto_hash_sha256 in the same run, and tree appends/s\n"
    "  (leaf hash + right edge + tiles) — one core.\n"
    "codec --dir DIR: every record of DIR's journal re-encoded in record schema v 1 and v 3 (format\n"
    "  3 bodies): mean bytes per record and per window record, and decode ns per window record.\n"
    "fleet --db postgresql://… --broker mqtt://HOST[:PORT] [--records N]: against a PostgreSQL and a\n"
    "  broker that run (it starts neither; tests/cli/test_collect.py runs it against its own): N\n"
    "  records (default 20000) of the 48-branch panel cut into ship's batches; records/s end to end\n"
    "  (published with QoS 1, a `hems collect` child stores them), the collector's verify+insert\n"
    "  records/s in process, by default and with --decode-windows\n"
    "  (collect_decode_windows_records_per_s), against a plain COPY of the same rows\n"
    "  (collect_vs_copy: the ratio, default), and\n"
    "  bytes per record on the wire and raw. Its device is registered and removed again.\n"
    "--dir says where to build the data (default: a temporary dir, removed afterwards).\n" },
};

/* Command i of both tables (this file's, then commands_net.c's), NULL past the last. */
static const struct cli_cmd *cmd_at(size_t i)
{
  size_t n = sizeof cmds / sizeof cmds[0];
  if (i < n) return &cmds[i];
  return i - n < cli_net_ncmds ? &cli_net_cmds[i - n] : NULL;
}

const struct cli_cmd *cli_find(const char *name)
{
  for (size_t i = 0; cmd_at(i); i++)
    if (strcmp(cmd_at(i)->name, name) == 0) return cmd_at(i);
  return NULL;
}

/* Edit distance (insertions, deletions, substitutions, adjacent swaps) of two short words,
 * capped: names past 31 bytes are not compared. */
static unsigned edit_distance(const char *a, const char *b)
{
  size_t n = strlen(a), m = strlen(b);
  if (n > 31 || m > 31) return 99;
  unsigned d[32][32];
  for (size_t i = 0; i <= n; i++) d[i][0] = (unsigned)i;
  for (size_t j = 0; j <= m; j++) d[0][j] = (unsigned)j;
  for (size_t i = 1; i <= n; i++)
    for (size_t j = 1; j <= m; j++) {
      unsigned v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < v) v = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v) v = d[i - 2][j - 2] + 1;
      d[i][j] = v;
    }
  return d[n][m];
}

/* The command a mistyped name most likely meant: within 2 edits (1 for names of 4 bytes or
 * less), or the only one it is a prefix of; NULL when none or ambiguous. */
const char *cli_nearest_command(const char *name)
{
  const char *best = NULL, *prefixed = NULL;
  unsigned bd = 99;
  int nprefix = 0;
  size_t nl = strlen(name);
  for (size_t i = 0; cmd_at(i); i++) {
    const char *cn = cmd_at(i)->name;
    unsigned dd = edit_distance(name, cn);
    if (dd < bd) { bd = dd; best = cn; }
    if (nl >= 2 && !strncmp(cn, name, nl)) { prefixed = cn; nprefix++; }
  }
  if (bd <= (nl <= 4 ? 1u : 2u)) return best;
  return nprefix == 1 ? prefixed : NULL;
}
