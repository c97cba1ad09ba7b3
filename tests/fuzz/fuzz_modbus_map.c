/*
 * fuzz_modbus_map.c — fuzz target for the answer to one Modbus request PDU of `hems bridge
 * modbus` (cli/modbus_map.c): the input is the PDU (function code first) as libmodbus hands it
 * over, against a panel of 24 branches, branch 3 critical.
 * Properties: no crash or sanitizer report; an answer is at most 253 bytes; an exception is two
 * bytes, the function code with 0x80 and a code 1..4; a read answer is function 3 with 1..125
 * registers that lie inside the map and equal the image; a switch is only an exact write of the
 * command block's two registers naming a non-critical branch of the panel with desired 0 or 1,
 * and its answer echoes address and quantity. The corpus (tests/fuzz/corpus/modbus_map/)
 * holds one PDU per file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "modbus_map.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
  if (!ok) abort();
}

static struct modbus_state st;
static struct modbus_image img;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (!st.n) {
    st.n = 24;
    for (unsigned i = 0; i < st.n; i++)
      st.br[i] = (struct modbus_branch_state){ (uint16_t)(i + 1), i == 2, 1, true, true, 100 * (int64_t)i, 1000u * i, i, 0 };
    st.service = 1;
    modbus_map_build(&st, &img);
  }
  uint8_t *req = malloc(size ? size : 1); /* exactly size bytes: reads past it are caught */
  if (!req) return 0;
  memcpy(req, data, size);
  uint8_t rsp[MODBUS_MAP_PDU_MAX + 16];
  memset(rsp, 0x55, sizeof rsp);
  struct modbus_write w;
  size_t n = modbus_map_answer(&img, &st, req, size, rsp, &w);
  check(n >= 2 && n <= MODBUS_MAP_PDU_MAX);
  check(rsp[MODBUS_MAP_PDU_MAX] == 0x55);
  if (rsp[0] & 0x80) {
    check(n == 2 && !w.is_switch && rsp[1] >= 1 && rsp[1] <= 4);
    check(rsp[0] == ((size ? req[0] : 0) | 0x80));
  } else if (rsp[0] == 3) {
    unsigned addr = (unsigned)req[1] << 8 | req[2], count = (unsigned)req[3] << 8 | req[4];
    check(size == 5 && count >= 1 && count <= 125 && n == 2 + 2 * count && rsp[1] == 2 * count && !w.is_switch);
    check(addr >= MODBUS_MAP_BASE && addr + count <= MODBUS_MAP_BASE + img.n);
    for (unsigned i = 0; i < count; i++) check((rsp[2 + 2 * i] << 8 | rsp[3 + 2 * i]) == img.reg[addr - MODBUS_MAP_BASE + i]);
  } else {
    check(rsp[0] == 16 && n == 5 && size == 10 && w.is_switch && !memcmp(rsp, req, 5));
    check(((unsigned)req[1] << 8 | req[2]) == MODBUS_MAP_BASE + img.command + MODBUS_CMD_BRANCH);
    check(w.branch >= 1 && w.branch <= 24 && w.branch != 3 && w.on == (req[9] == 1) && req[8] == 0);
  }
  free(req);
  return 0;
}
