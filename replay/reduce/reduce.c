/* reduce.c — placeholder translation unit until the reducers land. */
#include "reduce.h"
int replay__reduce_placeholder(void);
int replay__reduce_placeholder(void) { return 0; }
