/*
 * pl_proc.h — process and file helpers of the power-loss simulator: running `hems` (with or
 * without the recording shim), reading its verdicts, small file utilities.
 */
#ifndef HEMS_PL_PROC_H
#define HEMS_PL_PROC_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

void pl_set_hems(const char *path);
void pl_set_shim(const char *path);
void pl_set_log(const char *log, const char *root); /* what the shim records, and where */
const char *pl_hems(void);

/* Start argv (argv[0] a path) with stdout/stderr to /dev/null; under the shim when shim. */
pid_t pl_spawn(const char *const *argv, bool shim);
/* Run argv to its end (killed after timeout_s); the start of its stdout/stderr into out/err
 * (NUL-terminated; either may be NULL). Returns its exit code, or -signal. */
int pl_run(const char *const *argv, bool shim, char *out, size_t out_cap, char *err, size_t err_cap, unsigned timeout_s);

/* `hems verify --dir DIR`: 0 with the verified seq range, else its exit code (or -signal) and
 * its first stderr line in err. */
int pl_verify_range_err(const char *dir, uint64_t *a, uint64_t *b, char *err, size_t err_cap);
int pl_verify_range(const char *dir, uint64_t *a, uint64_t *b);
/* `hems verify BUNDLE --pubkey PUB`: 0 with its seq range. */
int pl_verify_bundle(const char *path, const char *pub, uint64_t *a, uint64_t *b);

uint8_t *pl_slurp(const char *path, size_t *out_len); /* malloc'd, NULL on error */
size_t pl_list(const char *dir, const char *suffix, char ***out); /* sorted names, malloc'd */
void pl_rm_rf(const char *path);

#endif
