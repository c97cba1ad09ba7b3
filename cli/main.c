/* main.c — placeholder entry until the CLI lands. */
#include <stdio.h>
int main(void) { fputs("hems: not built yet\n", stderr); return 3; }
