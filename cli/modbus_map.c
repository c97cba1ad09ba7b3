/*
 * modbus_map.c — the register image of `hems bridge modbus` and the answer to one request PDU
 * (modbus_map.h; docs/modbus.md is the map). Not implemented values follow SunSpec: 0xFFFF for
 * uint16, 0x8000 for int16, 0x80000000 for int32, 0xFFFF… for uint64.
 */
#include <string.h>
#include "modbus_map.h"

struct put {
  struct modbus_image *img;
  unsigned at;
};

static void u16(struct put *p, uint16_t v) { p->img->reg[p->at++] = v; }
static void u32(struct put *p, uint32_t v) { u16(p, (uint16_t)(v >> 16)); u16(p, (uint16_t)v); }
static void u64(struct put *p, uint64_t v) { u32(p, (uint32_t)(v >> 32)); u32(p, (uint32_t)v); }

/* A SunSpec string: nregs registers, two characters each, high byte first, NUL padded. */
static void str(struct put *p, const char *s, unsigned nregs)
{
  size_t n = strlen(s);
  for (unsigned i = 0; i < nregs; i++) {
    uint8_t hi = 2 * i < n ? (uint8_t)s[2 * i] : 0, lo = 2 * i + 1 < n ? (uint8_t)s[2 * i + 1] : 0;
    u16(p, (uint16_t)(hi << 8 | lo));
  }
}

/* A block header: model id and length; returns where its length goes (filled by block_end). */
static unsigned block(struct put *p, uint16_t id)
{
  u16(p, id);
  u16(p, 0);
  return p->at - 1;
}

static void block_end(struct put *p, unsigned len_at) { p->img->reg[len_at] = (uint16_t)(p->at - len_at - 1); }

/* 0.1 V from mV, rounded; NI when unknown or out of range. */
static uint16_t deci_volts(bool have, int32_t mv)
{
  if (!have || mv < 0 || mv > 6553400) return 0xFFFF;
  return (uint16_t)((mv + 50) / 100);
}

void modbus_map_build(const struct modbus_state *s, struct modbus_image *img)
{
  memset(img, 0, sizeof *img);
  struct put p = { img, 0 };
  u16(&p, 0x5375); /* "Su" */
  u16(&p, 0x6E53); /* "nS" */
  unsigned l = block(&p, MODBUS_MODEL_COMMON);
  str(&p, "hems", 16);                 /* Mn */
  str(&p, s->model, 16);               /* Md */
  str(&p, "", 8);                      /* Opt */
  str(&p, s->version, 8);              /* Vr */
  str(&p, s->device_id, 16);           /* SN: the first 32 characters of the device id */
  u16(&p, 1);                          /* DA */
  u16(&p, 0x8000);                     /* Pad */
  block_end(&p, l);
  l = block(&p, MODBUS_MODEL_PANEL);
  for (int ph = 0; ph < 3; ph++) u16(&p, deci_volts(s->have_v[ph], s->v_mv[ph]));
  u16(&p, s->have_freq && s->freq_mhz < 655350 ? (uint16_t)((s->freq_mhz + 5) / 10) : 0xFFFF); /* 0.01 Hz */
  u16(&p, (uint16_t)-1);               /* V_SF */
  u16(&p, (uint16_t)-2);               /* Hz_SF */
  u32(&p, s->alarms);
  u16(&p, s->service >= 0 && s->service <= 2 ? (uint16_t)s->service : 0xFFFF);
  u16(&p, (uint16_t)s->n);
  u64(&p, s->head_seq);
  u64(&p, s->durable_seq);
  u64(&p, s->have_checkpoint ? s->checkpoint_size : UINT64_MAX);
  block_end(&p, l);
  l = block(&p, MODBUS_MODEL_BRANCHES);
  u16(&p, 0);                          /* W_SF */
  u16(&p, 0);                          /* Wh_SF */
  for (unsigned i = 0; i < s->n && i < MODBUS_MAP_BRANCHES; i++) {
    const struct modbus_branch_state *b = &s->br[i];
    u16(&p, b->number);
    u16(&p, (uint16_t)((b->critical ? 1u : 0u) | (b->sensed >= 0 ? 2u : 0u) | (b->sensed == 1 ? 4u : 0u)));
    bool fits = b->have_power && b->power_w >= -2147483647LL && b->power_w <= 2147483647LL;
    u32(&p, fits ? (uint32_t)(int32_t)b->power_w : 0x80000000u);
    u32(&p, b->have_energy ? (uint32_t)b->import_wh : 0); /* acc32: wraps; 0 is not implemented */
    u32(&p, b->have_energy ? (uint32_t)b->export_wh : 0);
    u16(&p, b->alarms);
    u16(&p, 0x8000);                   /* Pad */
  }
  block_end(&p, l);
  img->command = p.at;
  l = block(&p, MODBUS_MODEL_COMMAND);
  u16(&p, 0);                          /* branch (write) */
  u16(&p, 0);                          /* desired (write) */
  u64(&p, s->request_n);
  u16(&p, s->request_branch);
  u16(&p, s->request_result);
  block_end(&p, l);
  u16(&p, 0xFFFF);
  u16(&p, 0);
  img->n = p.at;
}

size_t modbus_map_exception(uint8_t fc, uint8_t code, uint8_t *rsp)
{
  rsp[0] = (uint8_t)(fc | 0x80);
  rsp[1] = code;
  return 2;
}

static uint16_t be16(const uint8_t *b) { return (uint16_t)(b[0] << 8 | b[1]); }

/* A switch: exactly the command block's branch and desired registers, a branch of the panel
 * that is not critical, desired 0 or 1. */
static size_t write_switch(const struct modbus_image *img, const struct modbus_state *s, const uint8_t *req, size_t len,
                           uint8_t *rsp, struct modbus_write *w)
{
  uint8_t fc = req[0];
  if (len < 6) return modbus_map_exception(fc, MODBUS_EX_VALUE, rsp);
  uint16_t addr = be16(req + 1), count = be16(req + 3);
  if (count < 1 || count > 123 || len != 6 + (size_t)count * 2 || req[5] != count * 2)
    return modbus_map_exception(fc, MODBUS_EX_VALUE, rsp);
  if (addr != MODBUS_MAP_BASE + img->command + MODBUS_CMD_BRANCH || count != 2)
    return modbus_map_exception(fc, MODBUS_EX_ADDRESS, rsp);
  uint16_t branch = be16(req + 6), desired = be16(req + 8);
  const struct modbus_branch_state *b = NULL;
  for (unsigned i = 0; i < s->n && i < MODBUS_MAP_BRANCHES && !b; i++)
    if (s->br[i].number == branch && branch) b = &s->br[i];
  if (!b || desired > 1) return modbus_map_exception(fc, MODBUS_EX_VALUE, rsp);
  if (b->critical) return modbus_map_exception(fc, MODBUS_EX_FAILURE, rsp);
  w->is_switch = true;
  w->branch = branch;
  w->on = desired == 1;
  memcpy(rsp, req, 5); /* the echo: function, address, count */
  return 5;
}

size_t modbus_map_answer(const struct modbus_image *img, const struct modbus_state *s, const uint8_t *req, size_t len,
                         uint8_t *rsp, struct modbus_write *w)
{
  memset(w, 0, sizeof *w);
  if (len < 1) return modbus_map_exception(0, MODBUS_EX_FUNCTION, rsp);
  uint8_t fc = req[0];
  if (fc == 16) return write_switch(img, s, req, len, rsp, w);
  if (fc == 6) {
    if (len != 5) return modbus_map_exception(fc, MODBUS_EX_VALUE, rsp);
    return modbus_map_exception(fc, MODBUS_EX_ADDRESS, rsp); /* no register takes a single write */
  }
  if (fc != 3) return modbus_map_exception(fc, MODBUS_EX_FUNCTION, rsp);
  if (len != 5) return modbus_map_exception(fc, MODBUS_EX_VALUE, rsp);
  uint16_t addr = be16(req + 1), count = be16(req + 3);
  if (count < 1 || count > MODBUS_MAP_READ_MAX) return modbus_map_exception(fc, MODBUS_EX_VALUE, rsp);
  if (addr < MODBUS_MAP_BASE || (uint32_t)addr + count > MODBUS_MAP_BASE + img->n)
    return modbus_map_exception(fc, MODBUS_EX_ADDRESS, rsp);
  rsp[0] = fc;
  rsp[1] = (uint8_t)(count * 2);
  for (unsigned i = 0; i < count; i++) {
    uint16_t v = img->reg[addr - MODBUS_MAP_BASE + i];
    rsp[2 + 2 * i] = (uint8_t)(v >> 8);
    rsp[3 + 2 * i] = (uint8_t)v;
  }
  return 2 + (size_t)count * 2;
}
