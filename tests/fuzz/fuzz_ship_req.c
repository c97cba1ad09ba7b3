/*
 * fuzz_ship_req.c — fuzz target for the backfill requests `hems ship` takes from the broker
 * (cli/ship_req.c), the input being the whole payload, checked against a durable head of
 * HEAD (so that every refusal — beyond the head, too many records — is reachable).
 * Properties: no crash or sanitizer report; an accepted request has 1 <= from <= to <= HEAD and
 * at most SHIP_BACKFILL_MAX records, and its payload is at most SHIP_REQ_BYTES_MAX bytes and
 * holds the decimal text of both seqs; a refused one gets one line starting "bad backfill
 * request" of printable ASCII only (a payload cannot forge log lines).
 * The corpus (tests/fuzz/corpus/ship_req/) holds one payload per file.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ship_req.h"

#define HEAD 150000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
  if (!ok) abort();
}

static bool holds(const uint8_t *data, size_t size, uint64_t v)
{
  char t[24];
  int n = snprintf(t, sizeof t, "%llu", (unsigned long long)v);
  for (size_t i = 0; i + (size_t)n <= size; i++)
    if (!memcmp(data + i, t, (size_t)n)) return true;
  return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct ship_req r;
  char msg[300];
  memset(msg, 0x55, sizeof msg);
  if (ship_req_parse(data, size, HEAD, &r, msg, sizeof msg)) {
    size_t n = strnlen(msg, sizeof msg);
    check(n < sizeof msg && !strncmp(msg, "bad backfill request", 20));
    for (size_t i = 0; i < n; i++) check((unsigned char)msg[i] >= 0x20 && (unsigned char)msg[i] < 0x7f);
    return 0;
  }
  check(size <= SHIP_REQ_BYTES_MAX);
  check(r.from >= 1 && r.from <= r.to && r.to <= HEAD && r.to - r.from < SHIP_BACKFILL_MAX);
  check(holds(data, size, r.from) && holds(data, size, r.to));
  return 0;
}
