/*
 * errors.c — actuator_strerror: one table (ACTUATOR_ERRORS in actuators.h) for this library's
 * codes; codes of the layers below (hw, journal, errno) are passed to their own tables so a
 * caller can print any error this library returns with one call.
 */
#include "actuators.h"

#include <string.h>

const char *actuator_strerror(int err)
{
  switch (err) {
  case 0: return "success";
#define ACTUATOR__STR(n, v, m) case n: return m;
  ACTUATOR_ERRORS(ACTUATOR__STR)
#undef ACTUATOR__STR
  default: break;
  }
  if (err <= -30900 && err > -31000) return journal_strerror(err);
  return hw_strerror(err); /* HW_E* and negated errno */
}
