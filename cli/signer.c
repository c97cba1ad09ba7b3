/*
 * signer.c — `--signer file|pkcs11:URI` (CLI.md "Keys and counter in hardware"): which signer
 * the commands that sign hand to the journal.
 *
 * `file` (the default) is the journal's own DIR/keys/signing.key: the journal loads it (NULL
 * here), so its errors stay where they were. A pkcs11: URI opens the token once per process
 * (a token session is a process resource, like the writer lock) and keeps it until main()
 * releases it after the command has closed its journal. A token whose key is not the data
 * dir's (DIR/keys/signing.pub) is refused before anything is written. Exit codes: a malformed
 * URI is a usage error (2); a module, token, PIN or key that cannot be used is the environment
 * (3); a token holding another key fails the check (1).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"

static struct {
  const char *option;             /* --signer as given */
  char uri[JOURNAL_PKCS11_URI_MAX + 1];
  struct journal_pkcs11_signer *p11;
} g_signer;

void cli_signer_option(const char *uri) { g_signer.option = uri; }

static int check_dir_key(const char *dir, const struct journal_signer *s)
{
  char path[4200], fp_dir[33], fp_tok[33];
  uint8_t pk[JOURNAL_PUBKEY_BYTES];
  if (!dir) return 0;
  snprintf(path, sizeof path, "%s/keys/signing.pub", dir);
  if (journal_pubkey_load(path, pk) != 0) return 0; /* none yet (init), or the journal says why */
  if (!memcmp(pk, s->pubkey, sizeof pk)) return 0;
  journal_fingerprint_hex(pk, fp_dir);
  journal_fingerprint_hex(s->pubkey, fp_tok);
  cli_err("--signer: the token's key (fingerprint %s) is not this data dir's key (%s, fingerprint %s)", fp_tok, path, fp_dir);
  return CLI_FAIL;
}

/* A URI without module-path= takes the module from DIR/config.json "signer": {"pkcs11_module":
 * "/ABS/PATH.so"}. Loading a module runs its code in this process, so both must be beyond the
 * reach of anyone but root and the data dir's owner: config.json a regular file of this user
 * or root, writable by no one else; the module a regular file owned by root, writable by no
 * one else. Writes the completed URI to buf; 0, or the exit code after one error line. */
static int module_from_config(const char *dir, const char *uri, char *buf, size_t cap)
{
  const char *q = strchr(uri, '?');
  if ((q && strstr(q, "module-path=")) || !dir) { snprintf(buf, cap, "%s", uri); return 0; }
  char path[4200];
  snprintf(path, sizeof path, "%s/config.json", dir);
  struct stat st;
  if (lstat(path, &st) != 0) { snprintf(buf, cap, "%s", uri); return 0; } /* the parser names what is missing */
  if (!S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 022)) {
    cli_err("--signer: %s: not trusted for the PKCS#11 module (a regular file of root or uid %u, writable by no one else)",
            path, (unsigned)geteuid());
    return CLI_ENV;
  }
  json_t *cfg = cli_load_json_file(path);
  const char *mod = json_string_value(json_object_get(json_object_get(cfg, "signer"), "pkcs11_module"));
  if (!mod) { json_decref(cfg); snprintf(buf, cap, "%s", uri); return 0; }
  int rc = 0;
  /* the module itself (symlinks resolved) and the directory it is in */
  char real[4096], parent[4096];
  struct stat dst;
  bool ok = mod[0] == '/' && !strpbrk(mod, "&?;#%") && realpath(mod, real) && !strpbrk(real, "&?;#%") && stat(real, &st) == 0 &&
            S_ISREG(st.st_mode) && st.st_uid == 0 && !(st.st_mode & 022);
  if (ok) {
    snprintf(parent, sizeof parent, "%s", real);
    *strrchr(parent, '/') = 0;
    ok = stat(parent[0] ? parent : "/", &dst) == 0 && dst.st_uid == 0 && !(dst.st_mode & 022);
  }
  if (!ok) {
    cli_err("--signer: %s: signer.pkcs11_module '%s': not an absolute path to a regular file that root owns and no one "
            "else can write (nor its directory)", path, mod);
    rc = CLI_ENV;
  } else if ((size_t)snprintf(buf, cap, "%s%smodule-path=%s", uri, q ? "&" : "?", real) >= cap) {
    cli_err("--signer: the URI with the module path is too long");
    rc = CLI_USAGE;
  }
  json_decref(cfg);
  return rc;
}

int cli_signer_get(const struct cli_common *c, const struct journal_signer **out)
{
  *out = NULL;
  const char *uri = g_signer.option;
  if (!uri || !strcmp(uri, "file")) return 0;
  if (strncasecmp(uri, "pkcs11:", 7) != 0) {
    cli_err("--signer: expected 'file' or a pkcs11: URI (RFC 7512)");
    return CLI_USAGE;
  }
  static char full[JOURNAL_PKCS11_URI_MAX + 1];
  int mrc = module_from_config(c->dir, uri, full, sizeof full);
  if (mrc) return mrc;
  uri = full;
  if (g_signer.p11 && !strcmp(g_signer.uri, uri)) {
    *out = journal_pkcs11_signer_get(g_signer.p11);
    return check_dir_key(c->dir, *out);
  }
  if (g_signer.p11) { cli_err("--signer: a second token in one command"); return CLI_USAGE; }
  static struct journal_pkcs11_uri u; /* 12 KiB: not on the daemon's stack */
  char why[512];
  int rc = journal_pkcs11_uri_parse(uri, &u, why, sizeof why);
  if (rc) { cli_err("--signer: %s", why); return CLI_USAGE; }
  rc = journal_pkcs11_signer_open(&u, &g_signer.p11, why, sizeof why);
  if (rc) {
    cli_err("--signer: %s", rc == JOURNAL_ESIGNER ? why : journal_strerror(rc));
    return CLI_ENV;
  }
  snprintf(g_signer.uri, sizeof g_signer.uri, "%s", uri);
  *out = journal_pkcs11_signer_get(g_signer.p11);
  return check_dir_key(c->dir, *out);
}

int cli_signer_open_other(const struct cli_common *c, const char *uri, struct journal_pkcs11_signer **p,
                          const struct journal_signer **out)
{
  *p = NULL;
  *out = NULL;
  if (strncasecmp(uri, "pkcs11:", 7) != 0) {
    cli_err("--to: expected a pkcs11: URI (RFC 7512)");
    return CLI_USAGE;
  }
  static char full[JOURNAL_PKCS11_URI_MAX + 1];
  int rc = module_from_config(c->dir, uri, full, sizeof full);
  if (rc) return rc;
  static struct journal_pkcs11_uri u;
  char why[512];
  if ((rc = journal_pkcs11_uri_parse(full, &u, why, sizeof why))) { cli_err("--to: %s", why); return CLI_USAGE; }
  if ((rc = journal_pkcs11_signer_open(&u, p, why, sizeof why))) {
    cli_err("--to: %s", rc == JOURNAL_ESIGNER ? why : journal_strerror(rc));
    return CLI_ENV;
  }
  *out = journal_pkcs11_signer_get(*p);
  return 0;
}

const char *cli_signer_why(int rc)
{
  static char line[320];
  if (rc != JOURNAL_ESIGNER || !g_signer.p11) return journal_strerror(rc);
  const char *w = journal_pkcs11_signer_why(g_signer.p11);
  if (!w[0]) return journal_strerror(rc);
  snprintf(line, sizeof line, "%s (%s)", journal_strerror(rc), w);
  return line;
}

int cli_signer_or_file(const struct journal_signer *s, const char *dir, struct journal_file_signer *fs,
                       const struct journal_signer **out)
{
  memset(fs, 0, sizeof *fs);
  *out = s;
  if (s) return 0;
  int rc = journal_file_signer_load(fs, dir);
  if (!rc) *out = &fs->signer;
  return rc;
}

void cli_signer_release(void)
{
  journal_pkcs11_signer_close(g_signer.p11);
  g_signer.p11 = NULL;
  g_signer.uri[0] = 0;
}
