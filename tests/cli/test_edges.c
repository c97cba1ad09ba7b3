/*
 * test_edges.c — small doors around the journal, through the real binary (HEMS_BIN):
 * time arguments that would overflow or read past the string are usage errors; status says
 * which head is durable; the daemon's storage-write figure counts its own I/O only; a
 * config.json that is a FIFO blocks neither `stats` nor the daemon; a counter file with a second
 * name (hard link) is refused, and the other name's bytes stay as they were.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cli_test.h"

static int setup(void **state)
{
  (void)state;
  if (cli_test_setup("edges")) return -1;
  return sh("%s init --dir %s/d >/dev/null 2>&1", bin, tmp) == 0 ? 0 : -1;
}

/* Runs a timeline with --since S; returns the exit status and keeps stderr in err. */
static int since(const char *s, char *err, size_t cap)
{
  char path[400];
  snprintf(path, sizeof path, "%s/err.txt", tmp);
  int rc = sh("%s timeline --dir %s/d --format jsonl --since '%s' >/dev/null 2>%s", bin, tmp, s, path);
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(err, 1, cap - 1, f) : 0;
  err[n] = 0;
  if (f) fclose(f);
  return rc;
}

static void test_time_arguments(void **state)
{
  (void)state;
  char err[1024];
  /* strtod takes these; their cast to int64 nanoseconds is undefined behaviour */
  static const char *const bad[] = {
    "@nan", "@inf", "@-inf", "@1e30", "@0x10", "@99999999999999999999", "@", "@1.", "@ 5",
    "-nanh", "-infm", "-1e300d",
    /* offsets must be ±HH:MM: these read past the string or mean nothing */
    "2026-11-21T14:02:00+5:30", "2026-11-21T14:02:00+05", "2026-11-21T14:02:00+05:3",
    "2026-11-21T14:02:00+24:00", "2026-11-21T14:02:00+05:60", "2026-11-21T14:02:00+",
    "99999999-01-01T00:00:00Z", "2026-11-21T", "2026-11-21x", "2026-11-21 14", "-1h30", "-1hm", "-1h-30m",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = since(bad[i], err, sizeof err);
    if (rc != 2) fprintf(stderr, "--since '%s': exit %d, stderr: %s\n", bad[i], rc, err);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(err, "hems: "));
  }
  static const char *const good[] = {
    "@1763733720", "@1763733720.5", "@0", "-15m", "-2h", "-7d", "-1.5h",
    "2026-11-21T14:02:00Z", "2026-11-21T14:02:00.123Z", "2026-11-21T14:02:00+05:30",
    "2026-11-21T14:02:00-08:00", "2026-11-21 14:02:00Z",
    /* a time without offset is UTC (as hems prints every time); a date is its midnight */
    "2026-11-21T14:02:00", "2026-11-21 14:02:00", "2026-11-21", "-1h30m", "-2d12h", "-1m30s", "-1y",
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    int rc = since(good[i], err, sizeof err);
    if (rc != 0) fprintf(stderr, "--since '%s': exit %d, stderr: %s\n", good[i], rc, err);
    assert_int_equal(rc, 0);
  }
  /* +05:30 is 5 h 30 min ahead of UTC: both spellings select the same records */
  assert_int_equal(sh("test \"$(%s timeline --dir %s/d --format jsonl --since 2026-11-21T14:02:00+05:30 | wc -l)\" = "
                      "\"$(%s timeline --dir %s/d --format jsonl --since 2026-11-21T08:32:00Z | wc -l)\"",
                      bin, tmp, bin, tmp), 0);
  /* the spellings of one instant select the same records as its RFC 3339 form: the time of a
   * record in the middle of the journal, so the selection is neither everything nor nothing */
  assert_int_equal(sh("cd %s && %s init --dir t >/dev/null && %s run --dir t --for 20s --speed max >/dev/null 2>&1", tmp, bin, bin), 0);
  assert_int_equal(sh("cd %s && %s timeline --dir t --format jsonl > all.jsonl && n=$(wc -l < all.jsonl) && "
                      "t=$(sed -n \"$((n / 2))p\" all.jsonl | sed 's/.*\"time\":\"\\([^\"]*\\)Z\".*/\\1/') && "
                      "a=$(%s timeline --dir t --format jsonl --since \"${t}Z\" | wc -l) && "
                      "b=$(%s timeline --dir t --format jsonl --since \"$(echo $t | tr T ' ')\" | wc -l) && "
                      "c=$(%s timeline --dir t --format jsonl --since \"$t\" | wc -l) && "
                      "test $a -gt 0 && test $a -lt $n && test $a = $b && test $a = $c",
                      tmp, bin, bin, bin, bin), 0);
}

/* Offline status (no daemon): everything read comes from committed transactions, so the
 * durable seq equals the head; the text names both. */
static void test_status_durable_offline(void **state)
{
  (void)state;
  assert_int_equal(sh("%s status --dir %s/d --format json > %s/st.json", bin, tmp, tmp), 0);
  assert_int_equal(sh("/usr/bin/python3 -c \"import json,sys; o=json.load(open('%s/st.json')); "
                      "sys.exit(0 if o['durable_seq'] == o['head_seq'] > 0 else 1)\"", tmp), 0);
  assert_int_equal(sh("%s status --dir %s/d --format text | grep -q 'durable'", bin, tmp), 0);
}

/* From a running daemon: durable_seq is present, never ahead of head_seq, and the text output
 * says it. A real-time run keeps the 15 s commit hold, so head and durable can differ. */
static void test_status_durable_daemon(void **state)
{
  (void)state;
  assert_int_equal(sh("%s init --dir %s/live >/dev/null 2>&1", bin, tmp), 0);
  assert_int_equal(sh("(%s run --dir %s/live --for 30s >/dev/null 2>&1 &) ; "
                      "for i in $(seq 100); do %s status --dir %s/live --format json 2>/dev/null | grep -q '\"source\": \"daemon\"' && exit 0; sleep 0.1; done; exit 1",
                      bin, tmp, bin, tmp), 0);
  assert_int_equal(sh("%s status --dir %s/live --format json > %s/live.json", bin, tmp, tmp), 0);
  assert_int_equal(sh("/usr/bin/python3 -c \"import json,sys; o=json.load(open('%s/live.json')); "
                      "sys.exit(0 if o['source'] == 'daemon' and 0 < o['durable_seq'] <= o['head_seq'] else 1)\"", tmp), 0);
  assert_int_equal(sh("%s status --dir %s/live --format text | grep -q 'durable'", bin, tmp), 0);
  sh("pkill -TERM -f -- '--dir %s/live' ; sleep 0.5", tmp);
}

/* /proc/self/io counts the I/O of children reaped by whoever exec'd the daemon: a shell that
 * first writes 64 MiB through a child (synced, so it reaches storage) and then execs
 * `hems run` must not have those bytes reported as the daemon's. Its own figure for a short
 * simulated run is a few MB at most. */
static void test_write_bytes_own_only(void **state)
{
  (void)state;
  assert_int_equal(sh("%s init --dir %s/w >/dev/null 2>&1", bin, tmp), 0);
  assert_int_equal(sh("sh -c 'dd if=/dev/zero of=%s/junk bs=1M count=64 conv=fsync 2>/dev/null; rm -f %s/junk; "
                      "exec %s run --dir %s/w --for 20s --speed max' 2> %s/run.err >/dev/null", tmp, tmp, bin, tmp, tmp), 0);
  FILE *f;
  char path[400], line[2048];
  unsigned long long wb = 0;
  int found = 0;
  snprintf(path, sizeof path, "%s/run.err", tmp);
  assert_non_null(f = fopen(path, "r"));
  while (fgets(line, sizeof line, f)) {
    char *p = strstr(line, "storage_write_bytes ");
    if (p && sscanf(p, "storage_write_bytes %llu", &wb) == 1) found = 1;
  }
  fclose(f);
  assert_true(found);
  /* The premise, checked the same way: a program exec'd after the same child write sees the
   * 64 MiB in its own /proc/self/io (so the figure above would include them if not corrected). */
  assert_int_equal(sh("sh -c 'dd if=/dev/zero of=%s/junk bs=1M count=64 conv=fsync 2>/dev/null; rm -f %s/junk; "
                      "exec cat /proc/self/io' | awk '/^write_bytes:/ { exit !($2 >= 64 * 1048576) }'", tmp, tmp), 0);
  fprintf(stderr, "daemon storage_write_bytes after a 64 MiB child write: %llu\n", wb);
  assert_true(wb < 32ull << 20);
}

/* `show` prints a record's text fields for a terminal: a note (any operator's, or any record of a
 * bundle someone else made) whose text holds a newline, ESC sequences or a C1 control must not
 * forge lines that look like other records, move the cursor over earlier output or drive the
 * terminal. Such a string is printed quoted with those characters escaped as in JSON (RFC 8259
 * \n and \u00XX; DEL and C1 U+0080..U+009F too); plain text stays as it was. */
static void test_show_text_escapes_controls(void **state)
{
  (void)state;
  char out[400], buf[4096];
  snprintf(out, sizeof out, "%s/show.txt", tmp);
  assert_int_equal(sh("%s note --dir %s/d \"$(printf 'ok\\nseq 99  command  forged\\033[1A\\302\\233x\\177')\" > %s", bin, tmp, out), 0);
  FILE *f = fopen(out, "r");
  assert_non_null(f);
  unsigned long long seq = 0;
  assert_int_equal(fscanf(f, "%llu", &seq), 1);
  fclose(f);
  assert_int_equal(sh("%s note --dir %s/d 'plain text, \"quoted\" stays' > %s", bin, tmp, out), 0);
  unsigned long long seq2 = 0;
  f = fopen(out, "r");
  assert_non_null(f);
  assert_int_equal(fscanf(f, "%llu", &seq2), 1);
  fclose(f);
  assert_int_equal(sh("%s show --dir %s/d %llu > %s && %s show --dir %s/d %llu >> %s", bin, tmp, seq, out, bin, tmp, seq2, out), 0);
  f = fopen(out, "rb");
  assert_non_null(f);
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  size_t lines = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)buf[i];
    lines += ch == '\n';
    if ((ch < 0x20 && ch != '\n') || ch == 0x7f) fail_msg("control byte 0x%02x at %zu in:\n%s", ch, i, buf);
    if (ch == 0xc2 && i + 1 < n && (unsigned char)buf[i + 1] >= 0x80 && (unsigned char)buf[i + 1] <= 0x9f)
      fail_msg("C1 control at %zu in:\n%s", i, buf);
  }
  if (!strstr(buf, "\n  text: \"ok\\nseq 99  command  forged\\u001b[1A\\u009bx\\u007f\"\n")) fail_msg("escaped text not found in:\n%s", buf);
  if (!strstr(buf, "\n  text: plain text, \"quoted\" stays\n")) fail_msg("plain text changed in:\n%s", buf);
  assert_int_equal(lines, 12); /* two records: header, gid, uid, who, text, footer each */
  assert_null(strstr(buf, "\nseq 99"));
}

/* DIR/config.json is a file of the data dir, so untrusted: a FIFO there (no writer ever comes)
 * must not hang `hems stats` (which reads the retention quota) or the daemon (roles at start,
 * rewrite for the panel in use). Both finish well inside the outer timeout, and the daemon
 * writes its records as usual. */
static void test_config_fifo(void **state)
{
  (void)state;
  assert_int_equal(sh("%s init --dir %s/fifo >/dev/null 2>&1", bin, tmp), 0);
  assert_int_equal(sh("rm -f %s/fifo/config.json && mkfifo %s/fifo/config.json", tmp, tmp), 0);
  int rc = sh("timeout 60 %s stats --dir %s/fifo > %s/stats.txt 2>&1", bin, tmp, tmp);
  if (rc == 124) fail_msg("hems stats blocked on a FIFO config.json");
  assert_int_equal(rc, 0);
  assert_int_equal(sh("grep -q '^records ' %s/stats.txt", tmp), 0);
  rc = sh("timeout 60 %s run --dir %s/fifo --for 3s --speed max >/dev/null 2>%s/fifo.err", bin, tmp, tmp);
  if (rc == 124) fail_msg("hems run blocked on a FIFO config.json");
  assert_int_equal(rc, 0);
  assert_int_equal(sh("%s timeline --dir %s/fifo --format jsonl --type window | grep -q window", bin, tmp), 0);
}

/* DIR/counter is rewritten on every commit. If it has a second name, whoever made the link
 * could read our slots elsewhere or have us write over a file of their choosing: refused
 * (exit 3, the file named), and the other name keeps its bytes. The link is made to a copy of a
 * valid counter, so the refusal is about the link and not about the content. */
static void test_counter_hard_link(void **state)
{
  (void)state;
  assert_int_equal(sh("%s init --dir %s/ctr >/dev/null 2>&1", bin, tmp), 0);
  assert_int_equal(sh("cp %s/ctr/counter %s/other && rm %s/ctr/counter && ln %s/other %s/ctr/counter", tmp, tmp, tmp, tmp, tmp), 0);
  assert_int_equal(sh("cp %s/other %s/other.orig", tmp, tmp), 0);
  int rc = sh("%s note --dir %s/ctr 'through a hard link' >/dev/null 2>%s/ctr.err", bin, tmp, tmp);
  assert_int_equal(rc, 3);
  if (sh("grep -q 'counter: counter file is a link, has other names or is not a plain file' %s/ctr.err", tmp) != 0) {
    (void)sh("cat %s/ctr.err >&2", tmp);
    fail_msg("no error line naming the counter file");
  }
  assert_int_equal(sh("cmp -s %s/other %s/other.orig", tmp, tmp), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_time_arguments),
    cmocka_unit_test(test_status_durable_offline),
    cmocka_unit_test(test_status_durable_daemon),
    cmocka_unit_test(test_write_bytes_own_only),
    cmocka_unit_test(test_show_text_escapes_controls),
    cmocka_unit_test(test_config_fifo),
    cmocka_unit_test(test_counter_hard_link),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
