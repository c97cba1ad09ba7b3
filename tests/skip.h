/* tests/skip.h — the one way a test may leave a part out: say so. hems_skip() prints
 * `HEMS-SKIP <id>: <why>` on stdout, which CTest keeps in Testing/Temporary/LastTest.log;
 * .ci/run fails CI on any skip id that is not on its list of allowed skips (with their
 * reasons). Never cmocka's skip(): that fails the test (tests/CMakeLists.txt). */
#ifndef HEMS_TESTS_SKIP_H
#define HEMS_TESTS_SKIP_H

#include <stdio.h>

static inline void hems_skip(const char *id, const char *why)
{
  printf("HEMS-SKIP %s: %s\n", id, why);
  fflush(stdout);
}

#endif
