/*
 * test_expiry.c — a request's expiry end to end, through the real binary (HEMS_BIN): `hems
 * switch|dr --expires T` against a running daemon. A request whose expiry is already past when
 * the daemon journals it is refused `expired` (the refusal journaled, nothing actuated); one
 * that expires later acts and is proven; the same request id with another expiry is another
 * body (`conflict`); a T that is not a time is a usage error (exit 2) that appends nothing; and
 * `replay --check` agrees with every decision. The journaled `expiry_ns` is checked against the
 * times given (an absolute date, and the panel's clock plus the +DURATION asked for).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cli_test.h"

static int setup(void **state)
{
  (void)state;
  return cli_test_setup("expiry");
}

static pid_t daemon_pid;

static int stop_daemon(void **state)
{
  (void)state;
  if (daemon_pid > 0) {
    kill(daemon_pid, SIGTERM);
    waitpid(daemon_pid, NULL, 0);
    daemon_pid = 0;
  }
  return 0;
}

/* Starts DIR's daemon and waits for its socket. */
static void start_daemon(const char *dir)
{
  pid_t pid = cli_spawn_daemon(dir);
  assert_true(pid > 0);
  daemon_pid = pid;
  char sock[400];
  snprintf(sock, sizeof sock, "%s/control.sock", dir);
  if (cli_wait_for_socket(sock) != 0) fail_msg("the daemon's socket %s never answered", sock);
}

/* The first request record with request_id rid: its expiry_ns and its record time (the
 * timeline's RFC 3339 time, to the millisecond, as ns); and the reason of the refusal answering
 * it (or "none") into why. */
static void request_of(const char *dir, const char *rid, long long *expiry, long long *wall, char *why, size_t cap)
{
  char line[256];
  assert_int_equal(sh_line(line, sizeof line,
                           "%s timeline --dir %s --format jsonl | /usr/bin/python3 -c \"import json,sys\n"
                           "recs = [json.loads(l) for l in sys.stdin]\n"
                           "req = [r for r in recs if r['type'] == 'request' and r['body'].get('request_id') == '%s']\n"
                           "assert req\n"
                           "ref = [r for r in recs if r['type'] == 'refusal' and r['body'].get('cause_seq') == req[0]['seq']]\n"
                           "from datetime import datetime\n"
                           "t = datetime.strptime(req[0]['time'], '%%Y-%%m-%%dT%%H:%%M:%%S.%%fZ')\n"
                           "ms = (t - datetime(1970, 1, 1)) // __import__('datetime').timedelta(milliseconds=1)\n"
                           "print(req[0]['body'].get('expiry_ns', 0), ms * 1000000, ref[0]['body']['reason'] if ref else 'none')\"",
                           bin, dir, rid),
                   0);
  char w[64];
  if (sscanf(line, "%lld %lld %63s", expiry, wall, w) != 3) fail_msg("unexpected line: %s", line);
  snprintf(why, cap, "%s", w);
}

static void switch_expiry(void **state)
{
  (void)state;
  char d[300], out[512];
  snprintf(d, sizeof d, "%s/sw", tmp);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, d), 0);
  start_daemon(d);
  /* already past (1 s after the epoch): refused `expired`, exit 1, the branch stays as it was */
  assert_int_equal(sh_line(out, sizeof out, "%s switch --dir %s 3 off --request-id x-past --expires @1 2>/dev/null", bin, d), 1);
  assert_non_null(strstr(out, "refused: expired"));
  char st[64];
  assert_int_equal(status_branch(d, 3, "commanded", st, sizeof st), 0);
  assert_string_not_equal(st, "off");
  /* an RFC 3339 date in the past: the same */
  assert_int_equal(sh_line(out, sizeof out, "%s switch --dir %s 3 off --request-id x-2000 --expires 2000-01-01T00:00:00Z 2>/dev/null",
                           bin, d), 1);
  assert_non_null(strstr(out, "refused: expired"));
  /* an hour from now on the panel's clock: acts, and the sense-back confirms it */
  assert_int_equal(sh_line(out, sizeof out, "%s switch --dir %s 3 off --request-id x-hour --expires +1h", bin, d), 0);
  assert_non_null(strstr(out, "sense-back confirmed"));
  assert_int_equal(status_branch(d, 3, "commanded", st, sizeof st), 0);
  assert_string_equal(st, "off");
  /* the same id with another expiry is another body: conflict, not a second actuation */
  assert_int_equal(sh_line(out, sizeof out, "%s switch --dir %s 3 off --request-id x-hour --expires +2h 2>/dev/null", bin, d), 1);
  assert_non_null(strstr(out, "refused: conflict"));
  /* a dr request carries it too (the fold's expiry rule precedes the DR rules) */
  assert_int_equal(sh_line(out, sizeof out, "%s dr cancel --dir %s --event ev-1 --request-id x-dr --expires @1 2>/dev/null", bin, d), 1);
  assert_non_null(strstr(out, "refused: expired"));
  /* not a time: usage error naming the option, nothing journaled */
  assert_int_equal(sh("%s switch --dir %s 3 on --request-id x-bad --expires tomorrow 2>%s/bad.err >/dev/null", bin, d, tmp), 2);
  assert_int_equal(sh("grep -q -- \"--expires: 'tomorrow' is not a time\" %s/bad.err", tmp), 0);
  stop_daemon(NULL);

  long long expiry, wall;
  char why[64];
  request_of(d, "x-past", &expiry, &wall, why, sizeof why);
  assert_int_equal(expiry, 1000000000LL);
  assert_string_equal(why, "expired");
  request_of(d, "x-2000", &expiry, &wall, why, sizeof why);
  assert_int_equal(expiry, 946684800LL * 1000000000LL); /* 2000-01-01T00:00:00Z, POSIX time */
  assert_string_equal(why, "expired");
  request_of(d, "x-hour", &expiry, &wall, why, sizeof why);
  /* journaled as the panel's clock when the daemon read the request plus 3600 s; the record's
   * time (to the ms) is that moment or a little later */
  assert_true(expiry - wall > 3590LL * 1000000000LL);
  assert_true(expiry - wall <= 3600LL * 1000000000LL + 1000000LL);
  assert_string_equal(why, "none");
  request_of(d, "x-dr", &expiry, &wall, why, sizeof why);
  assert_int_equal(expiry, 1000000000LL);
  assert_string_equal(why, "expired");
  assert_int_equal(sh("%s timeline --dir %s --type request --format jsonl | grep -q x-bad", bin, d), 1);
  /* the fold reaches the same decisions from the records alone */
  assert_int_equal(sh("%s replay --check --dir %s | grep -q ' 0 divergence'", bin, d), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown(switch_expiry, stop_daemon),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
