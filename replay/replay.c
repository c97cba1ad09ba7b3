/* replay.c — placeholder translation unit until replay lands. */
#include "replay.h"
int replay__placeholder(void);
int replay__placeholder(void) { return 0; }
