/*
 * pl_log.h — the power-loss log shared by the shim (plshim.c) and its reader (powerloss.c).
 *
 * A log is a sequence of records, each a struct pl_rec header (host byte order: writer and
 * reader are the same machine) followed by `plen` bytes of NUL-terminated path(s) and `len`
 * bytes of data, then zero bytes up to a multiple of 8 (so every header is aligned when the
 * log is read in place). `ino` names a file by inode in the live data dir; paths are relative to the
 * data dir. Record kinds:
 *   INIT    ino, path, data      the file as it was (durable) before the workloads ran
 *   INITDIR path                 a directory that existed before
 *   WRITE   ino, off, data       bytes that reached the page cache at file offset off
 *   TRUNC   ino, off             the file's size set to off
 *   SYNC    ino                  fsync/fdatasync returned (or a write on an O_DSYNC fd)
 *   SYNCALL                      sync()/syncfs(): every file and the namespace
 *   DIRSYNC                      fsync of a directory: the namespace so far is durable
 *   CREATE  ino, path            a new name for a new file
 *   RENAME  path "old\0", data "new\0"
 *   UNLINK  path;  MKDIR path
 *   UNSUP   path = why           something the log cannot represent (the log is refused)
 *   MARK    off = workload id    written by powerloss between workloads
 *   ACK     off = seq            written by powerloss: every record up to seq was acknowledged
 *                                durable before this point of the log
 */
#ifndef HEMS_PL_LOG_H
#define HEMS_PL_LOG_H
#include <stddef.h>
#include <stdint.h>

#define PL_MAGIC 0x504c4f47u /* "PLOG" */

enum pl_op {
  PL_INIT = 1, PL_INITDIR, PL_WRITE, PL_TRUNC, PL_SYNC, PL_SYNCALL, PL_DIRSYNC,
  PL_CREATE, PL_RENAME, PL_UNLINK, PL_MKDIR, PL_UNSUP, PL_MARK, PL_ACK,
};

struct pl_rec {
  uint32_t magic, op, plen, pad;
  uint64_t ino, off, len;
};
_Static_assert(sizeof(struct pl_rec) == 40, "pl_rec is 40 bytes");

#define PL_ALIGN(n) (((n) + 7u) & ~(size_t)7u)

#endif
