/*
 * counter_tpm.c — `--counter tpm:NVINDEX`: the journal's hardware counter opener for a TPM 2.0
 * NV counter (hw/linux/tpm_counter.c), registered once in main(), and the error lines of the
 * counter kinds (cli_counter_error).
 *
 * The TCTI is `--tcti CONF` (taken out of argv by main() for every command, so no command parses
 * it) or $TPM2TOOLS_TCTI, else the tss2 loader's default (/dev/tpmrm0 on a board). The TSS's
 * own logging goes to stderr unless TSS2_LOG says otherwise: we set it to none when unset, so
 * every failure is one line of ours.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "hw.h"

static const char *tcti_conf;
static char open_error[256];

void cli_counter_set_tcti(const char *conf)
{
  tcti_conf = conf;
}

static int tpm_read(void *ctx, uint64_t *count)
{
  int rc = hw_tpm_counter_read(ctx, count);
  if (rc) snprintf(open_error, sizeof open_error, "%s", hw_tpm_counter_error());
  return rc ? JOURNAL_EHWCOUNT : 0;
}

static int tpm_increment(void *ctx, uint64_t *count)
{
  int rc = hw_tpm_counter_increment(ctx, count);
  if (rc) snprintf(open_error, sizeof open_error, "%s", hw_tpm_counter_error());
  return rc ? JOURNAL_EHWCOUNT : 0;
}

static void tpm_close(void *ctx)
{
  hw_tpm_counter_close(ctx);
}

/* "tpm:0x01500000": an NV index in the TPM's NV range (TPM2_HT_NV_INDEX, 0x01xxxxxx). */
static int parse_index(const char *spec, uint32_t *out)
{
  const char *p = spec + 4;
  char *end;
  errno = 0;
  unsigned long v = strtoul(p, &end, 0);
  if (errno || end == p || *end || (v >> 24) != 0x01) return -EINVAL;
  *out = (uint32_t)v;
  return 0;
}

static int tpm_open(const char *spec, bool define, struct journal_hwcount *out)
{
  uint32_t index;
  open_error[0] = 0;
  if (parse_index(spec, &index)) {
    snprintf(open_error, sizeof open_error, "not an NV index (expected tpm:0x01xxxxxx)");
    return JOURNAL_EHWCOUNT;
  }
  const char *conf = tcti_conf ? tcti_conf : getenv("TPM2TOOLS_TCTI");
  if (conf && !*conf) conf = NULL;
  setenv("TSS2_LOG", "all+none", 0);
  struct hw_tpm_counter *t;
  int rc = hw_tpm_counter_open(&t, conf, index, define);
  if (rc) {
    snprintf(open_error, sizeof open_error, "%s%s%s", hw_tpm_counter_error(), conf ? " via " : "", conf ? conf : "");
    return JOURNAL_EHWCOUNT;
  }
  out->read = tpm_read;
  out->increment = tpm_increment;
  out->close = tpm_close;
  out->ctx = t;
  snprintf(out->kind, sizeof out->kind, "tpm:0x%08x", index);
  return 0;
}

void cli_counter_register(void)
{
  journal_set_hwcount_opener(tpm_open);
}

int cli_counter_error(const char *dir, const char *counter, int rc)
{
  char kind[64];
  uint64_t f = 0, h = 0;
  switch (rc) {
  case JOURNAL_ECTRKIND:
    if (journal_counter_kind(dir, kind, sizeof kind) == 0 && kind[0])
      cli_err("%s: the journal was initialised with --counter %s; refusing to open it %s%s", dir, kind,
              counter ? "with --counter " : "without it (no fall back to a file counter)", counter ? counter : "");
    else
      cli_err("%s: the journal was initialised with a counter file, not %s (DIR/counter is of the other kind)", dir,
              counter ? counter : "a file");
    return CLI_FAIL;
  case JOURNAL_EHWBEHIND: case JOURNAL_EHWAHEAD:
    journal_counter_hw_info(dir, counter, &f, &h);
    cli_err("%s%s/counter holds TPM count %llu, %s is at %llu (%s)", rc == JOURNAL_EHWBEHIND ? "journal rollback: " : "",
            dir, (unsigned long long)f, counter, (unsigned long long)h,
            rc == JOURNAL_EHWBEHIND ? "the data dir and counter are an older copy; use --accept-rollback to proceed"
                                    : "ahead: another TPM, or its NV cleared; --accept-rollback replaces it and journals the fact");
    return CLI_FAIL;
  case JOURNAL_EHWCOUNT:
    cli_err("%s: %s: %s", counter ? counter : "counter", journal_strerror(rc), open_error[0] ? open_error : "no TPM support");
    return CLI_ENV;
  default:
    return -1;
  }
}
