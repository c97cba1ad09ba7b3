/*
 * test_reduce_symbols.c — the reducers link nothing but libc memory functions and BLAKE2b:
 * `nm -u` on libhems_reduce.a must list only allowlisted symbols (no clock, file, socket,
 * allocator, logging, floating-point helpers or journal functions; on 32-bit ARM the
 * libgcc integer-division helpers are allowed). A symbol one member of the archive needs and
 * another defines (the fold is split into several files) is the library's own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static const char *const allow[] = {
  "memcpy", "memset", "memcmp", "memmove", "strlen", /* gcc turns byte loops into these */
  "crypto_generichash", "crypto_generichash_init", "crypto_generichash_update", "crypto_generichash_final",
  "__stack_chk_fail", "__stack_chk_guard",
  /* 32-bit ARM (armhf): integer division is a libgcc call where the core has no divide
   * instruction — integer-only, so still deterministic; the float helpers stay forbidden */
  "__aeabi_idiv", "__aeabi_uidiv", "__aeabi_idivmod", "__aeabi_uidivmod",
  "__aeabi_ldivmod", "__aeabi_uldivmod",
  NULL
};

static char own[256][128]; /* symbols the archive defines */
static int nown;

static void read_own(void)
{
  FILE *p = popen("nm --defined-only " REDUCE_LIB, "r");
  assert_non_null(p);
  char line[512], addr[64], kind[8], sym[400];
  while (fgets(line, sizeof line, p))
    if (sscanf(line, " %63s %7s %399s", addr, kind, sym) == 3 && strchr("TDBR", kind[0]) && nown < 256 && strlen(sym) < 128)
      memcpy(own[nown++], sym, strlen(sym) + 1); /* fits: checked above */
  assert_int_equal(pclose(p), 0);
  assert_true(nown > 0);
}

static int allowed(const char *sym)
{
  for (int i = 0; i < nown; i++)
    if (!strcmp(sym, own[i])) return 1;
  if (!strncmp(sym, "__asan_", 7) || !strncmp(sym, "__ubsan_", 8) || !strncmp(sym, "__sanitizer_", 12))
    return 1; /* sanitizer builds instrument every function */
  for (int i = 0; allow[i]; i++)
    if (!strcmp(sym, allow[i])) return 1;
  return 0;
}

static void test_nm_undefined(void **st)
{
  (void)st;
  read_own();
  FILE *p = popen("nm -u " REDUCE_LIB, "r");
  assert_non_null(p);
  char line[512];
  int n = 0, bad = 0;
  while (fgets(line, sizeof line, p)) {
    char kind[8], sym[400];
    if (sscanf(line, " %7s %399s", kind, sym) != 2 || strcmp(kind, "U") != 0) continue;
    char *at = strchr(sym, '@');
    if (at) *at = 0;
    n++;
    if (!allowed(sym)) { printf("reduce library needs a forbidden symbol: %s\n", sym); bad++; }
  }
  assert_int_equal(pclose(p), 0);
  assert_true(n > 0); /* nm ran and saw the library */
  assert_int_equal(bad, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = { cmocka_unit_test(test_nm_undefined) };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
