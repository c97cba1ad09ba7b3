/* actuators.c — placeholder translation unit until the proof loop lands. */
#include "actuators.h"
int actuator__placeholder(void);
int actuator__placeholder(void) { return 0; }
