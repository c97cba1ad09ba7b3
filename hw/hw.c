/* hw.c — placeholder translation unit until the hardware boundary lands. */
#include "hw.h"
int hw__placeholder(void);
int hw__placeholder(void) { return 0; }
