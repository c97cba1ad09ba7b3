/*
 * modbus_map.h — the register map of `hems bridge modbus` (docs/modbus.md) and the answer to one
 * Modbus request PDU, as pure functions: no sockets, no daemon, so tests and the fuzz target
 * (tests/fuzz/fuzz_modbus_map.c) run the bridge's own mapping. libmodbus frames the request
 * (MBAP header, length); everything after the function code is checked here.
 *
 * Addresses are PDU addresses (0-based), SunSpec-style from 40000: "SunS", the common block
 * (model 1), the panel block (64200), the branch block (64201), the command block (64202), the
 * end block (0xFFFF, 0). Function 3 (read holding registers) reads any range inside the map;
 * function 16 (write multiple registers) of exactly the command block's two registers asks to
 * switch a branch; anything else is an exception.
 */
#ifndef HEMS_CLI_MODBUS_MAP_H
#define HEMS_CLI_MODBUS_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MODBUS_MAP_BASE 40000u
#define MODBUS_MAP_BRANCHES 64
#define MODBUS_MAP_REGS (2 + 68 + 24 + 4 + 10 * MODBUS_MAP_BRANCHES + 10 + 2)
#define MODBUS_MAP_READ_MAX 125 /* registers per read (Modbus application protocol 1.1b3, 6.3) */
#define MODBUS_MAP_PDU_MAX 253

/* SunSpec model ids of the blocks (64000..65535 are vendor models). */
enum { MODBUS_MODEL_COMMON = 1, MODBUS_MODEL_PANEL = 64200, MODBUS_MODEL_BRANCHES = 64201, MODBUS_MODEL_COMMAND = 64202 };
/* Register offsets inside the command block (from its ID register). */
enum { MODBUS_CMD_BRANCH = 2, MODBUS_CMD_DESIRED = 3, MODBUS_CMD_REQUEST = 4 /* uint64 */, MODBUS_CMD_LAST_BRANCH = 8,
       MODBUS_CMD_RESULT = 9 };
/* The command block's result register. */
enum { MODBUS_RESULT_NONE = 0, MODBUS_RESULT_PENDING = 1, MODBUS_RESULT_CONFIRMED = 2, MODBUS_RESULT_NOT_CONFIRMED = 3,
       MODBUS_RESULT_REFUSED = 4, MODBUS_RESULT_FAILED = 5 };
/* Exception codes. */
enum { MODBUS_EX_FUNCTION = 1, MODBUS_EX_ADDRESS = 2, MODBUS_EX_VALUE = 3, MODBUS_EX_FAILURE = 4, MODBUS_EX_BUSY = 6 };

struct modbus_branch_state {
  uint16_t number;
  bool critical;
  int sensed;              /* -1 unknown, 0 off, 1 on (the proven sense-back) */
  bool have_power, have_energy;
  int64_t power_w;
  uint64_t import_wh, export_wh; /* the daemon's durable folded totals, whole Wh */
  uint16_t alarms;         /* bits as in docs/modbus.md */
};

/* What the bridge knows of the panel, as numbers (filled from the daemon's status). */
struct modbus_state {
  char model[64], version[32], device_id[65];
  bool have_v[3], have_freq;
  int32_t v_mv[3];
  uint32_t freq_mhz;
  uint32_t alarms;         /* panel alarm bits */
  int service;             /* -1 unknown, 0 disconnected, 1 connected, 2 ready_for_reconnection */
  uint64_t head_seq, durable_seq;
  bool have_checkpoint;
  uint64_t checkpoint_size;
  unsigned n;
  struct modbus_branch_state br[MODBUS_MAP_BRANCHES];
  uint64_t request_n;      /* the command block's read side: the last request modbus-<n> */
  uint16_t request_branch, request_result;
};

struct modbus_image {
  uint16_t reg[MODBUS_MAP_REGS];
  unsigned n;              /* registers from MODBUS_MAP_BASE */
  unsigned command;        /* the command block's ID register (offset from the base) */
};

/* What a request asks of the bridge beyond its answer. */
struct modbus_write {
  bool is_switch;
  uint16_t branch;
  bool on;
};

void modbus_map_build(const struct modbus_state *s, struct modbus_image *img);
/* Answers one request PDU (function code first). Writes the answer PDU into rsp (at least
 * MODBUS_MAP_PDU_MAX bytes) and returns its length (an exception is 2 bytes: function | 0x80,
 * code). A switch request fills *w; its answer is the write's echo, which the caller replaces
 * by an exception when it cannot ask the daemon. Never reads outside req[0..len). */
size_t modbus_map_answer(const struct modbus_image *img, const struct modbus_state *s, const uint8_t *req, size_t len,
                         uint8_t *rsp, struct modbus_write *w);
/* An exception answer for function fc: 2. */
size_t modbus_map_exception(uint8_t fc, uint8_t code, uint8_t *rsp);

#endif
