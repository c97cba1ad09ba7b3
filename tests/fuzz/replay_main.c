/*
 * replay_main.c — runs a fuzz target over its committed corpus as a regular CTest test.
 *
 * Usage: fuzzreplay_NAME CORPUS_DIR [FILE…]. Every file in the corpus is fed to
 * LLVMFuzzerTestOneInput once; the test fails if the corpus is missing or empty (a corpus that
 * silently vanished would make the test unable to fail) or if the target crashes (the
 * sanitizer build turns memory errors into failures).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f) { fprintf(stderr, "fuzzreplay: %s: cannot open\n", path); return -1; }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
  if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
    fprintf(stderr, "fuzzreplay: %s: read failed\n", path);
    fclose(f); free(buf); return -1;
  }
  fclose(f);
  LLVMFuzzerTestOneInput(buf, (size_t)n);
  free(buf);
  return 0;
}

int main(int argc, char **argv)
{
  if (argc < 2) { fprintf(stderr, "usage: %s CORPUS_DIR [FILE...]\n", argv[0]); return 2; }
  if (argc > 2) {
    for (int i = 2; i < argc; i++) if (run_file(argv[i]) != 0) return 1;
    printf("%d passed, 0 failed\n", argc - 2);
    return 0;
  }
  DIR *d = opendir(argv[1]);
  if (!d) { fprintf(stderr, "fuzzreplay: corpus %s: missing\n", argv[1]); return 1; }
  int count = 0;
  struct dirent *e;
  char path[4096];
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (run_file(path) != 0) { closedir(d); return 1; }
    count++;
  }
  closedir(d);
  if (count == 0) { fprintf(stderr, "fuzzreplay: corpus %s: empty\n", argv[1]); return 1; }
  printf("corpus %s: %d inputs replayed\n", argv[1], count);
  return 0;
}
