/*
 * ship_req.h — private to cli/: the one message `hems ship` takes from the broker, a backfill
 * request on hems/<device id>/backfill (cli/ship_req.c; fuzz target tests/fuzz/fuzz_ship_req.c).
 *
 * Anything the broker lets publish can send any bytes there, so the payload is outside input.
 * Taken, exactly: a JSON object {"from": A, "to": B} (both keys, no other; integers, no
 * fraction or exponent), 1 <= A <= B <= head and B - A + 1 <= SHIP_BACKFILL_MAX, at most
 * SHIP_REQ_BYTES_MAX bytes. Anything else is refused with one printable line saying why.
 * Nothing here allocates outside jansson, logs or keeps state.
 */
#ifndef HEMS_CLI_SHIP_REQ_H
#define HEMS_CLI_SHIP_REQ_H

#include <stddef.h>
#include <stdint.h>

#define SHIP_BACKFILL_MAX 100000u /* records one backfill request may ask for */
#define SHIP_REQ_BYTES_MAX 256u   /* bytes of a backfill request */

struct ship_req {
  uint64_t from, to; /* 1 <= from <= to <= head */
};

/* Checks one backfill payload (len bytes, not NUL-terminated) against head, the newest durable
 * seq the shipper knows. 0 and *out; or -1 and one line in msg (printable ASCII, no newline). */
int ship_req_parse(const void *payload, size_t len, uint64_t head, struct ship_req *out, char *msg, size_t msg_cap);

#endif
