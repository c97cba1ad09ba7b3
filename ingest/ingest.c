/* ingest.c — placeholder translation unit until ingest lands. */
#include "ingest.h"
int ingest__placeholder(void);
int ingest__placeholder(void) { return 0; }
