/*
 * test_decode_window.c — the window body's compiled-layout decoder (journal/codec_v3window.c)
 * against the general walks, on a journal written by the daemon (`hems run --sim full-panel`):
 * every record decodes through journal_record_decode exactly as through the reference decoder
 * (libcbor's tokenizer under the table walk: the same return code, the same struct byte for
 * byte); the compiled-layout path itself accepts every window the daemon wrote (so the layout
 * check passed and the path is the one taken); journal_record_decode_reuse, decoding every record
 * into one struct, gives the same envelope and the same body member of the record's type; and
 * copies of the windows with bytes changed (fixed seed) decode the same both ways, whichever of
 * the two paths ends up deciding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "jt_util.h"
#include "codec_internal.h"

#define DAMAGED_PER_WINDOW 6
#define DAMAGED_WINDOWS 3000

static char *base, *dir;

static int setup(void **state)
{
  (void)state;
  dir = jt_init_dir(&base, NULL, NULL);
  struct jt_out o;
  jt_hems(&o, "run", "--dir", dir, "--sim", "full-panel", "--for", "2m", "--speed", "max", NULL);
  int rc = o.status;
  if (rc) fprintf(stderr, "hems run: exit %d: %s\n", rc, o.err);
  jt_out_free(&o);
  return rc ? -1 : 0;
}

static int teardown(void **state)
{
  (void)state;
  jt_rm_rf(base);
  free(base);
  free(dir);
  return 0;
}

/* The offset of the body (the value of envelope key 9) in a canonical record. */
static size_t body_at(const uint8_t *b, size_t len)
{
  struct cr c = { b, len, 0, 0 };
  struct ctok t;
  assert_int_equal(journal__cr_next(&c, &t), 0);
  for (int k = 0; k < 9; k++) {
    assert_int_equal(journal__cr_next(&c, &t), 0);
    assert_int_equal(journal__cr_skip(&c, 0), 0);
  }
  assert_int_equal(journal__cr_next(&c, &t), 0);
  assert_true(t.kind == CT_UINT && t.u == 9);
  return c.pos;
}

/* journal_record_decode and the reference agree on b; returns the code. */
static int agree(const uint8_t *b, size_t n)
{
  static struct journal_record fast, ref;
  int a = journal_record_decode(b, n, &fast), r = journal__record_decode_ref(b, n, &ref);
  assert_int_equal(a, r);
  if (a == 0) assert_memory_equal(&fast, &ref, sizeof fast);
  return a;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/* The first typed array of the window body at b+at written in the longer head forms the
 * shortest-form rule refuses (a two-byte tag, a one-byte length under 24), and in the forms it
 * allows: each decodes the same both ways. */
static void head_forms(const uint8_t *b, size_t n, size_t at)
{
  size_t i = at;
  while (i + 3 < n && !(b[i] == 0xd8 && b[i + 1] >= 64 && b[i + 1] <= 75 && b[i + 2] >> 5 == 2)) i++;
  assert_true(i + 3 < n);
  static uint8_t v[JOURNAL_RECORD_MAX + 8];
  /* tag 0xd9 00 tt: not the shortest */
  memcpy(v, b, i);
  v[i] = 0xd9; v[i + 1] = 0x00; v[i + 2] = b[i + 1];
  memcpy(v + i + 3, b + i + 2, n - i - 2);
  assert_int_equal(agree(v, n + 1), JOURNAL_EBADREC);
  /* a short length written as 0x58 len: not the shortest */
  if (b[i + 2] != 0x58) {
    memcpy(v, b, i + 2);
    v[i + 2] = 0x58; v[i + 3] = b[i + 2] & 31;
    memcpy(v + i + 4, b + i + 3, n - i - 3);
    assert_int_equal(agree(v, n + 1), JOURNAL_EBADREC);
  }
  /* the record cut inside the array's head and data */
  for (size_t cut = i + 1; cut < i + 6 && cut < n; cut++) assert_int_equal(agree(b, cut), JOURNAL_EBADREC);
}

static void test_daemon_journal_both_ways(void **state)
{
  (void)state;
  struct journal_reader *rd;
  assert_int_equal(journal_reader_open(&rd, dir, NULL, false), 0);
  struct journal_iter *it;
  assert_int_equal(journal_iter_begin(rd, 1, &it), 0);
  const struct jdesc *wd = journal__body_desc(JOURNAL_T_WINDOW);
  assert_non_null(wd);
  static struct journal_record r, reused;
  static uint8_t copy[JOURNAL_RECORD_MAX];
  uint64_t seq;
  const uint8_t *b;
  size_t n;
  unsigned records = 0, windows = 0, damaged = 0, damaged_ok = 0;
  while (journal_iter_next(it, &seq, &b, &n) > 0) {
    records++;
    assert_int_equal(agree(b, n), 0);
    assert_int_equal(journal_record_decode(b, n, &r), 0);
    assert_int_equal(journal_record_decode_reuse(b, n, &reused), 0);
    assert_memory_equal(&reused, &r, offsetof(struct journal_record, body));
    if (r.type != JOURNAL_T_WINDOW) {
      assert_memory_equal(&reused, &r, sizeof r); /* other types clear the whole body */
      continue;
    }
    assert_memory_equal(&reused.body.window, &r.body.window, sizeof r.body.window);
    assert_int_equal(r.version, JOURNAL_SCHEMA_V3);
    windows++;
    /* the compiled-layout path alone accepts it, ending where the record ends, with the body
     * the reference gives */
    size_t at = body_at(b, n);
    const uint8_t *p = b + at;
    static struct journal_window w;
    memset(&w, 0, sizeof w);
    assert_true(journal__fast_window3(&p, b + n, wd, &w));
    assert_ptr_equal(p, b + n);
    assert_memory_equal(&w, &r.body.window, sizeof w);
    if (windows <= 50) head_forms(b, n, at);
    if (windows > DAMAGED_WINDOWS) continue;
    /* bytes of the body changed: a new value, or a bit flipped */
    for (int k = 0; k < DAMAGED_PER_WINDOW; k++) {
      memcpy(copy, b, n);
      size_t off = at + (size_t)(next_rand() % (n - at));
      uint64_t x = next_rand();
      copy[off] = (x & 1) ? (uint8_t)(x >> 8) : (uint8_t)(copy[off] ^ (1u << ((x >> 8) & 7)));
      damaged++;
      if (agree(copy, n) == 0) damaged_ok++;
    }
  }
  journal_iter_end(it);
  journal_reader_close(rd);
  /* 2 panel minutes of 16 AFEs: 16 windows a second */
  assert_true(windows >= 1900);
  assert_true(records > windows);
  /* most changes are refused; some (a value that still fits) decode, the same both ways */
  assert_true(damaged_ok > 0 && damaged_ok < damaged);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_daemon_journal_both_ways),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
