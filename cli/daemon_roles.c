/*
 * daemon_roles.c — who a control-socket peer is: SO_PEERCRED uid/gid → role (CLI.md
 * "Control socket roles"; the table in docs/cli.md says what each role may ask).
 *
 * Only the kernel's word counts: the uid/gid the socket reports, never a name the client
 * sends. Roles come from the `roles` section of the config; without one, root and the
 * daemon's own uid are admin, members of group hems-operators operators, everyone else viewers.
 */
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>
#include "daemon.h"

/* Is the peer (uid, gid, user name) a member of group name? */
static bool in_group(const char *group, uint32_t uid, uint32_t gid, const char *user)
{
  struct group *g = getgrnam(group);
  if (!g) return false;
  if (g->gr_gid == gid) return true;
  if (!user) return false;
  for (char **m = g->gr_mem; *m; m++) if (!strcmp(*m, user)) return true;
  struct passwd *pw = getpwuid(uid);
  return pw && pw->pw_gid == g->gr_gid;
}

/* An entry of the roles section: a uid number, a user name, or "@group". */
static bool role_entry_matches(const json_t *e, uint32_t uid, uint32_t gid, const char *user)
{
  if (json_is_integer(e)) return json_integer_value(e) == (json_int_t)uid;
  const char *s = json_string_value(e);
  if (!s) return false;
  if (s[0] == '@') return in_group(s + 1, uid, gid, user);
  return user && !strcmp(s, user);
}

int daemon_role_of(const json_t *roles, bool have_cred, uint32_t uid, uint32_t gid)
{
  if (!have_cred) return ROLE_VIEWER;
  if (uid == 0 || uid == (uint32_t)getuid()) return ROLE_ADMIN;
  struct passwd *pw = getpwuid(uid);
  const char *user = pw ? pw->pw_name : NULL;
  for (int r = ROLE_ADMIN; r >= ROLE_VIEWER && roles; r--) {
    const json_t *list = json_object_get(roles, daemon_role_name(r));
    for (size_t k = 0; json_is_array(list) && k < json_array_size(list); k++)
      if (role_entry_matches(json_array_get(list, k), uid, gid, user)) return r;
  }
  if (in_group(DAEMON_OPERATORS_GROUP, uid, gid, user)) return ROLE_OPERATOR;
  return ROLE_VIEWER;
}

bool daemon_is_der_bridge(const json_t *roles, bool have_cred, uint32_t uid, uint32_t gid)
{
  if (!have_cred) return false;
  if (uid == 0 || uid == (uint32_t)getuid()) return true;
  const json_t *list = roles ? json_object_get(roles, "der_bridge") : NULL;
  if (!json_is_array(list)) return false;
  struct passwd *pw = getpwuid(uid);
  const char *user = pw ? pw->pw_name : NULL;
  for (size_t k = 0; k < json_array_size(list); k++)
    if (role_entry_matches(json_array_get(list, k), uid, gid, user)) return true;
  return false;
}

uint8_t daemon_role_journal(int role)
{
  switch (role) {
  case ROLE_ADMIN: return JOURNAL_ROLE_ADMIN;
  case ROLE_UTILITY: return JOURNAL_ROLE_UTILITY;
  case ROLE_OPERATOR: case ROLE_INSTALLER: case ROLE_AUTOMATION: return JOURNAL_ROLE_OPERATOR;
  default: return JOURNAL_ROLE_VIEWER;
  }
}
