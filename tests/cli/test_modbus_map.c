/*
 * test_modbus_map.c — the register map of `hems bridge modbus` (cli/modbus_map.c) without
 * sockets. Expected values come from the standards, not from the map: the SunSpec marker "SunS"
 * (0x5375 0x6E53) at 40000, the common block (model 1) of length 66 so the next block starts at
 * 40070, blocks walked by their lengths to the end block 0xFFFF 0, not-implemented values
 * (0xFFFF, 0x80000000); the Modbus application protocol (V1.1b3, 6.3 and 6.12): 1..125 registers
 * per read else exception 3, an address outside the map exception 2, an unknown function
 * exception 1, write multiple registers echoes address and quantity.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "modbus_map.h"

static struct modbus_state st;
static struct modbus_image img;

static void panel(void)
{
  memset(&st, 0, sizeof st);
  snprintf(st.model, sizeof st.model, "default");
  snprintf(st.version, sizeof st.version, "0.9.0");
  snprintf(st.device_id, sizeof st.device_id, "488dc1efec7b9eb8e8501e3fc6c9556d");
  st.have_v[0] = st.have_v[1] = true;
  st.v_mv[0] = 230040;   /* 230.04 V: 2300 in 0.1 V */
  st.v_mv[1] = 229960;   /* 229.96 V: 2300 */
  st.have_freq = true;
  st.freq_mhz = 50020;   /* 50.02 Hz: 5002 in 0.01 Hz */
  st.service = 1;
  st.head_seq = 0x0102030405060708ull;
  st.durable_seq = 1000;
  st.n = 3;
  st.br[0] = (struct modbus_branch_state){ 1, false, 1, true, true, 300, 5000000000ull, 7, 0 };
  st.br[1] = (struct modbus_branch_state){ 2, true, 1, true, true, -1500, 12, 0, 1 };
  st.br[2] = (struct modbus_branch_state){ 9, false, -1, false, false, 0, 0, 0, 0 };
  modbus_map_build(&st, &img);
}

static uint16_t reg(unsigned addr) { return img.reg[addr - MODBUS_MAP_BASE]; }

static size_t read_regs(unsigned addr, unsigned count, uint8_t *rsp)
{
  uint8_t q[5] = { 3, (uint8_t)(addr >> 8), (uint8_t)addr, (uint8_t)(count >> 8), (uint8_t)count };
  struct modbus_write w;
  return modbus_map_answer(&img, &st, q, sizeof q, rsp, &w);
}

/* The block with model id, found by walking from 40002 by lengths: its ID register, or 0. */
static unsigned find_block(uint16_t id)
{
  unsigned a = MODBUS_MAP_BASE + 2;
  while (reg(a) != 0xFFFF) {
    if (reg(a) == id) return a;
    a += 2u + reg(a + 1);
    assert_true(a < MODBUS_MAP_BASE + img.n);
  }
  return 0;
}

static void sunspec_layout(void **state)
{
  (void)state;
  panel();
  assert_int_equal(reg(40000), 0x5375);
  assert_int_equal(reg(40001), 0x6E53);
  assert_int_equal(reg(40002), 1);
  assert_int_equal(reg(40003), 66);
  assert_int_equal(reg(40004), ('h' << 8) | 'e'); /* Mn "hems" */
  assert_int_equal(reg(40005), ('m' << 8) | 's');
  assert_int_equal(reg(40006), 0);
  assert_int_equal(reg(40004 + 48), ('4' << 8) | '8'); /* SN starts after Mn, Md, Opt, Vr (16+16+8+8) */
  assert_int_equal(reg(40068), 1);                      /* DA */
  assert_int_equal(find_block(MODBUS_MODEL_PANEL), 40070);
  unsigned end = MODBUS_MAP_BASE + img.n - 2;
  assert_int_equal(reg(end), 0xFFFF);
  assert_int_equal(reg(end + 1), 0);
  assert_int_equal(find_block(0xFFFF), 0);
}

static void values(void **state)
{
  (void)state;
  panel();
  unsigned p = find_block(MODBUS_MODEL_PANEL);
  assert_int_equal(reg(p + 2), 2300);
  assert_int_equal(reg(p + 3), 2300);
  assert_int_equal(reg(p + 4), 0xFFFF);            /* phase C unknown: not implemented */
  assert_int_equal(reg(p + 5), 5002);
  assert_int_equal((int16_t)reg(p + 6), -1);
  assert_int_equal((int16_t)reg(p + 7), -2);
  assert_int_equal(reg(p + 10), 1);
  assert_int_equal(reg(p + 11), 3);
  assert_int_equal(reg(p + 12), 0x0102);
  assert_int_equal(reg(p + 15), 0x0708);
  assert_int_equal(reg(p + 19), 1000);
  assert_int_equal(reg(p + 20), 0xFFFF);           /* no checkpoint seen yet */
  unsigned b = find_block(MODBUS_MODEL_BRANCHES);
  assert_int_equal(reg(b + 1), 2 + 3 * 10);
  unsigned b1 = b + 4, b2 = b1 + 10, b9 = b2 + 10;
  assert_int_equal(reg(b1), 1);
  assert_int_equal(reg(b1 + 1), 2 | 4);            /* sensed, on */
  assert_int_equal(reg(b1 + 3), 300);
  /* 5 000 000 000 Wh mod 2^32 = 705 032 704 = 0x2A05F200: an acc32 wraps */
  assert_int_equal(reg(b1 + 4), 0x2A05);
  assert_int_equal(reg(b1 + 5), 0xF200);
  assert_int_equal(reg(b1 + 7), 7);
  assert_int_equal(reg(b2 + 1), 1 | 2 | 4);        /* critical */
  assert_int_equal(reg(b2 + 2), 0xFFFF);           /* -1500 W as int32 */
  assert_int_equal(reg(b2 + 3), (uint16_t)-1500);
  assert_int_equal(reg(b2 + 8), 1);
  assert_int_equal(reg(b9), 9);
  assert_int_equal(reg(b9 + 1), 0);                /* state unknown */
  assert_int_equal(reg(b9 + 2), 0x8000);           /* int32 not implemented */
  assert_int_equal(reg(b9 + 3), 0);
  assert_int_equal(find_block(MODBUS_MODEL_COMMAND), MODBUS_MAP_BASE + img.command);
}

static void reads(void **state)
{
  (void)state;
  panel();
  uint8_t r[MODBUS_MAP_PDU_MAX];
  assert_int_equal(read_regs(40000, 2, r), 6);
  assert_memory_equal(r, "\x03\x04SunS", 6);
  assert_int_equal(read_regs(40000, 125, r), 2 + 250);
  assert_int_equal(r[1], 250);
  assert_int_equal(read_regs(40000, 126, r), 2);
  assert_memory_equal(r, "\x83\x03", 2);
  assert_int_equal(read_regs(40000, 0, r), 2);
  assert_memory_equal(r, "\x83\x03", 2);
  assert_int_equal(read_regs(39999, 2, r), 2);
  assert_memory_equal(r, "\x83\x02", 2);
  assert_int_equal(read_regs(0, 1, r), 2);
  assert_memory_equal(r, "\x83\x02", 2);
  unsigned last = MODBUS_MAP_BASE + img.n - 1;
  assert_int_equal(read_regs(last, 1, r), 4);
  assert_memory_equal(r, "\x03\x02\x00\x00", 4);
  assert_int_equal(read_regs(last, 2, r), 2);
  assert_memory_equal(r, "\x83\x02", 2);
  assert_int_equal(read_regs(65535, 125, r), 2);  /* past 65535: no wrap to 0 */
  assert_memory_equal(r, "\x83\x02", 2);
  struct modbus_write w;
  uint8_t q4[5] = { 4, 0x9c, 0x40, 0, 2 };
  assert_int_equal(modbus_map_answer(&img, &st, q4, 5, r, &w), 2);
  assert_memory_equal(r, "\x84\x01", 2);
  uint8_t short_q[3] = { 3, 0x9c, 0x40 };
  assert_int_equal(modbus_map_answer(&img, &st, short_q, 3, r, &w), 2);
  assert_memory_equal(r, "\x83\x03", 2);
}

static size_t write_cmd(unsigned addr, uint16_t branch, uint16_t desired, uint8_t *r, struct modbus_write *w)
{
  uint8_t q[10] = { 16, (uint8_t)(addr >> 8), (uint8_t)addr, 0, 2, 4, (uint8_t)(branch >> 8), (uint8_t)branch, 0,
                    (uint8_t)desired };
  return modbus_map_answer(&img, &st, q, sizeof q, r, w);
}

static void writes(void **state)
{
  (void)state;
  panel();
  uint8_t r[MODBUS_MAP_PDU_MAX];
  struct modbus_write w;
  unsigned c = MODBUS_MAP_BASE + img.command + MODBUS_CMD_BRANCH;
  assert_int_equal(write_cmd(c, 9, 0, r, &w), 5);
  assert_true(w.is_switch);
  assert_int_equal(w.branch, 9);
  assert_false(w.on);
  uint8_t echo[5] = { 16, (uint8_t)(c >> 8), (uint8_t)c, 0, 2 };
  assert_memory_equal(r, echo, 5);
  assert_int_equal(write_cmd(c, 1, 1, r, &w), 5);
  assert_true(w.on);
  assert_int_equal(write_cmd(c, 2, 0, r, &w), 2);   /* critical: server device failure */
  assert_memory_equal(r, "\x90\x04", 2);
  assert_false(w.is_switch);
  assert_int_equal(write_cmd(c, 3, 0, r, &w), 2);   /* no such branch */
  assert_memory_equal(r, "\x90\x03", 2);
  assert_int_equal(write_cmd(c, 1, 2, r, &w), 2);
  assert_memory_equal(r, "\x90\x03", 2);
  assert_int_equal(write_cmd(40000, 1, 0, r, &w), 2); /* read-only */
  assert_memory_equal(r, "\x90\x02", 2);
  assert_int_equal(write_cmd(c + 1, 1, 0, r, &w), 2);
  assert_memory_equal(r, "\x90\x02", 2);
  uint8_t bad_count[10] = { 16, (uint8_t)(c >> 8), (uint8_t)c, 0, 2, 3, 0, 1, 0, 0 };
  assert_int_equal(modbus_map_answer(&img, &st, bad_count, 10, r, &w), 2);
  assert_memory_equal(r, "\x90\x03", 2);
  assert_false(w.is_switch);
  uint8_t single[5] = { 6, (uint8_t)(c >> 8), (uint8_t)c, 0, 1 };
  assert_int_equal(modbus_map_answer(&img, &st, single, 5, r, &w), 2);
  assert_memory_equal(r, "\x86\x02", 2);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(sunspec_layout),
    cmocka_unit_test(values),
    cmocka_unit_test(reads),
    cmocka_unit_test(writes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
