/*
 * envcheck.c — checks DIR/journal/data.mdb against its own LMDB meta pages before LMDB maps it.
 *
 * LMDB trusts its file: a root page beyond the end of a truncated file, or beyond the meta's
 * last page, makes the first read of the map fault (SIGBUS/SIGSEGV inside liblmdb). So before
 * mdb_env_open this reads both meta pages with pread and checks each the way LMDB will use it.
 * Layout (LMDB 0.9; liblmdb's mdb.c, struct MDB_page and struct MDB_meta):
 *
 *   page header: pgno (W) | pad u16 | flags u16 (P_META 0x08) | lower u16 | upper u16
 *   meta: magic u32 (0xBEEFC0DE) | version u32 (1) | address (W) | mapsize (W) |
 *         dbs[2] of (pad u32 — page size in dbs[0] | flags u16 | depth u16 | branch_pages (W) |
 *                    leaf_pages (W) | overflow_pages (W) | entries (W) | root (W)) |
 *         last_pg (W) | txnid (W)
 *
 * W is LMDB's word (pgno_t, size_t) of the machine that wrote the file: 8 on x86-64 and arm64,
 * 4 on 32-bit ARM — this build's, since LMDB only opens files of its own word size. Host byte
 * order (LMDB writes native integers). Meta 0 is page 0; meta 1 starts at meta 0's page size.
 * Damage deeper in the B-trees is not visible here: the store's readers bound every value
 * length, and the CLI catches a fault inside the map (cli/damage_guard.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "store_internal.h"

#define W ((unsigned)sizeof(size_t))
#define HDR (W + 8)                  /* page header */
#define DBS (HDR + 8 + 2 * W)        /* mm_dbs[0] */
#define DB_BYTES (8 + 5 * W)         /* one MDB_db */
#define LAST_PG (DBS + 2 * DB_BYTES) /* mm_last_pg; mm_txnid follows */
#define META_BYTES (LAST_PG + 2 * 8)
#define P_META 0x08
#define MDB_MAGIC_V 0xBEEFC0DEu
#define P_INVALID ((uint64_t)SIZE_MAX)

struct meta {
  uint32_t psize;
  uint64_t mapsize, last_pg, txnid, root[2];
};

static uint64_t ldw(const uint8_t *p)
{
  size_t v;
  memcpy(&v, p, sizeof v);
  return (uint64_t)v;
}
static uint32_t ld32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t ld16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

static int parse_meta(const uint8_t b[META_BYTES], struct meta *m)
{
  if (!(ld16(b + W + 2) & P_META)) return JOURNAL_EMDBMETA;
  if (ld32(b + HDR) != MDB_MAGIC_V) return JOURNAL_EMDBMETA;
  if (ld32(b + HDR + 4) != 1) return JOURNAL_EMDBMETA;
  m->mapsize = ldw(b + HDR + 8 + W);
  m->psize = ld32(b + DBS);                         /* dbs[0].md_pad */
  m->root[0] = ldw(b + DBS + 8 + 4 * W);            /* dbs[0].md_root */
  m->root[1] = ldw(b + DBS + DB_BYTES + 8 + 4 * W); /* dbs[1].md_root */
  m->last_pg = ldw(b + LAST_PG);
  m->txnid = ldw(b + LAST_PG + W);
  return 0;
}

/* The file must hold both meta pages and both root pages. It need not reach last_pg: LMDB never
 * writes a page that was allocated and freed in the same transaction ("loose" pages), so the
 * pages after the last written one may be free and absent. A truncation that cuts only pages
 * below last_pg but above the roots is found when a read reaches them (a fault in the map,
 * reported as damage by the CLI's guard). */
static int check_meta(const struct meta *m, uint32_t psize, uint64_t file_bytes)
{
  if (m->psize != psize) return JOURNAL_EMDBMETA;
  if (m->last_pg < 1 || m->last_pg > (UINT64_MAX / psize) - 1) return JOURNAL_EMDBMETA;
  uint64_t need = 2ull * psize;
  for (int i = 0; i < 2; i++) {
    if (m->root[i] == P_INVALID) continue;
    if (m->root[i] < 2 || m->root[i] > m->last_pg) return JOURNAL_EMDBMETA;
    if ((m->root[i] + 1) * psize > need) need = (m->root[i] + 1) * psize;
  }
  if (m->mapsize < (m->last_pg + 1) * psize) return JOURNAL_EMDBMETA;
  if (file_bytes < need) return JOURNAL_EMDBSHORT;
  return 0;
}

int journal__env_check(const char *data_path)
{
  int fd = open(data_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return errno == ENOENT ? JOURNAL_ENOJOURNAL : -errno;
  struct stat st;
  uint8_t b[META_BYTES];
  struct meta m0 = { 0 }, m1 = { 0 };
  int rc = 0;
  /* Metas first, size after: a writer may commit in between, and the file only grows. */
  ssize_t n = pread(fd, b, sizeof b, 0);
  if (n < 0) rc = -errno;
  else if (n != (ssize_t)sizeof b) rc = JOURNAL_EMDBSHORT;
  else rc = parse_meta(b, &m0);
  uint32_t ps = rc ? 0 : m0.psize;
  if (!rc && (ps < 512 || ps > 65536 || (ps & (ps - 1)))) rc = JOURNAL_EMDBMETA;
  if (!rc && (n = pread(fd, b, sizeof b, ps)) != (ssize_t)sizeof b) rc = n < 0 ? -errno : JOURNAL_EMDBSHORT;
  if (!rc) rc = parse_meta(b, &m1);
  if (!rc && fstat(fd, &st) != 0) rc = -errno;
  if (!rc && !S_ISREG(st.st_mode)) rc = JOURNAL_EMDBMETA;
  close(fd);
  if (!rc) rc = check_meta(&m0, ps, (uint64_t)st.st_size);
  if (!rc) rc = check_meta(&m1, ps, (uint64_t)st.st_size);
  return rc;
}
