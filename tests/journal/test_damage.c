/*
 * test_damage.c — trust issue item 16 through the CLI: a truncated or byte-damaged
 * DIR/journal/data.mdb never kills show, timeline, verify or status with a signal. Every
 * truncation point class (inside the meta pages, at, before and after page boundaries, inside
 * the B-tree pages, one byte short) makes each exit 1 or 3; exit 3 says
 * `hems: DIR/journal/data.mdb: damaged (…)` on one line. Random byte damage (fixed seed; half
 * aimed at page headers, where LMDB's own pointers live) exits 0, 1 or 3 — a byte in unused
 * page space changes nothing, and `show 1` does not read a damaged later record — never a
 * signal; the test checks that a good share of the damages was detected at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "jt_util.h"

#define PAGE 4096
#define TRUNCATIONS 50
#define BYTE_DAMAGES 40

static char *src; /* the intact data dir, built once */
static char *base;

static int setup(void **state)
{
  (void)state;
  base = jt_mkdtemp();
  src = strdup(jt_path("%s/src", base));
  struct jt_out o;
  jt_hems(&o, "init", "--dir", src, NULL);
  int rc = o.status;
  jt_out_free(&o);
  if (rc) return -1;
  jt_hems(&o, "run", "--dir", src, "--sim", "default", "--for", "2m", "--speed", "max", NULL);
  rc = o.status;
  jt_out_free(&o);
  return rc ? -1 : 0;
}

static int teardown(void **state)
{
  (void)state;
  jt_rm_rf(base);
  free(base);
  free(src);
  return 0;
}

struct tally { int exit0, exit1, exit3; };

/* Runs the four readers on dir; fails on a signal or an undocumented exit or message. */
static void run_readers(const char *dir, const char *what, bool allow_ok, struct tally *t)
{
  const char *cmds[][5] = { { "show", "--dir", dir, "1", NULL }, { "timeline", "--dir", dir, NULL, NULL },
                            { "verify", "--dir", dir, NULL, NULL }, { "status", "--dir", dir, NULL, NULL } };
  char want[4300];
  snprintf(want, sizeof want, "hems: %s/journal/data.mdb: damaged (", dir);
  for (size_t i = 0; i < 4; i++) {
    struct jt_out o;
    jt_hems(&o, cmds[i][0], cmds[i][1], cmds[i][2], cmds[i][3], NULL);
    switch (o.status) {
    case 0:
      if (!allow_ok) fail_msg("%s: %s exit 0 on a damaged store", what, cmds[i][0]);
      t->exit0++;
      break;
    case 1:
      if (strncmp(o.err, "hems: ", 6) != 0) fail_msg("%s: %s exit 1 without an error line: '%s'", what, cmds[i][0], o.err);
      t->exit1++;
      break;
    case 3:
      if (strncmp(o.err, want, strlen(want)) != 0 || jt_lines(o.err) != 1)
        fail_msg("%s: %s exit 3: stderr '%s', want one line '%s…)'", what, cmds[i][0], o.err, want);
      t->exit3++;
      break;
    default:
      fail_msg("%s: %s exit %d (%s): %s", what, cmds[i][0], o.status, o.status > 128 ? "signal" : "?", o.err);
    }
    jt_out_free(&o);
  }
}

static char *fresh_copy(void)
{
  char *d = strdup(jt_path("%s/work", base));
  assert_int_equal(jt_sh("rm -rf '%s' && cp -a '%s' '%s'", d, src, d), 0);
  return d;
}

static void test_truncations(void **state)
{
  (void)state;
  struct stat st;
  assert_int_equal(stat(jt_path("%s/journal/data.mdb", src), &st), 0);
  uint64_t size = (uint64_t)st.st_size;
  assert_true(size >= 64 * PAGE); /* big enough for every class below */
  uint64_t points[TRUNCATIONS];
  int n = 0;
  /* the meta pages and the first B-tree page */
  const uint64_t fixed[] = { 0, 1, 16, 100, PAGE - 1, PAGE, PAGE + 1, 2 * PAGE - 1, 2 * PAGE, 2 * PAGE + 1,
                             3 * PAGE, size - 1, size - PAGE, size - PAGE - 1, size - PAGE + 1 };
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) points[n++] = fixed[i];
  /* spread over the file: on a page boundary, one byte before, one byte after, mid-page */
  for (int k = 1; n < TRUNCATIONS; k++) {
    uint64_t p = (size * (uint64_t)k / 10) / PAGE * PAGE;
    const int64_t off[] = { 0, -1, 1, PAGE / 2 };
    for (int m = 0; m < 4 && n < TRUNCATIONS; m++) points[n++] = p + (uint64_t)off[m];
  }
  struct tally t = { 0 };
  for (int i = 0; i < n; i++) {
    assert_true(points[i] < size);
    char *d = fresh_copy();
    assert_int_equal(truncate(jt_path("%s/journal/data.mdb", d), (off_t)points[i]), 0);
    char what[64];
    snprintf(what, sizeof what, "truncated to %llu bytes", (unsigned long long)points[i]);
    run_readers(d, what, false, &t);
    free(d);
  }
  print_message("%d truncations: %d exits 1, %d exits 3\n", n, t.exit1, t.exit3);
}

static uint64_t xorshift(uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static void test_byte_damage(void **state)
{
  (void)state;
  uint64_t seed = 0x5eed0016u;
  struct stat st;
  assert_int_equal(stat(jt_path("%s/journal/data.mdb", src), &st), 0);
  uint64_t pages = (uint64_t)st.st_size / PAGE;
  struct tally t = { 0 };
  int detected = 0;
  for (int i = 0; i < BYTE_DAMAGES; i++) {
    char *d = fresh_copy();
    uint64_t page = 2 + xorshift(&seed) % (pages - 2); /* the meta pages have their own test above */
    uint64_t off = page * PAGE + xorshift(&seed) % (i % 2 ? 64 : PAGE);
    unsigned len = 1 + (unsigned)(xorshift(&seed) % 4);
    uint8_t bytes[4];
    for (unsigned b = 0; b < len; b++) bytes[b] = (uint8_t)xorshift(&seed);
    int fd = open(jt_path("%s/journal/data.mdb", d), O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, len, (off_t)off), (ssize_t)len);
    close(fd);
    char what[96];
    snprintf(what, sizeof what, "%u bytes damaged at %llu", len, (unsigned long long)off);
    int before = t.exit1 + t.exit3;
    run_readers(d, what, true, &t);
    if (t.exit1 + t.exit3 > before) detected++;
    free(d);
  }
  print_message("%d byte damages: %d detected; exits 0/1/3: %d/%d/%d\n", BYTE_DAMAGES, detected, t.exit0, t.exit1,
                t.exit3);
  /* records fill most pages: most damages must be seen by some reader */
  assert_true(detected >= BYTE_DAMAGES / 4);
}

/* The meta pages: each field LMDB relies on, damaged. */
static void test_meta_damage(void **state)
{
  (void)state;
  /* offsets inside a meta page: flags, magic, version, map size, page size, both roots,
   * last page, txn id */
  const unsigned fields[] = { 10, 16, 20, 32, 40, 80, 128, 136, 144 };
  struct tally t = { 0 };
  for (int meta = 0; meta < 2; meta++) {
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
      char *d = fresh_copy();
      int fd = open(jt_path("%s/journal/data.mdb", d), O_WRONLY);
      assert_true(fd >= 0);
      const uint8_t junk[8] = { 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f };
      assert_int_equal(pwrite(fd, junk, 8, (off_t)(meta * PAGE + fields[f])), 8);
      close(fd);
      char what[64];
      snprintf(what, sizeof what, "meta %d damaged at +%u", meta, fields[f]);
      run_readers(d, what, true, &t);
      free(d);
    }
  }
  print_message("meta damages: exits 0/1/3: %d/%d/%d\n", t.exit0, t.exit1, t.exit3);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_truncations),
    cmocka_unit_test(test_byte_damage),
    cmocka_unit_test(test_meta_damage),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
