/*
 * space.c — what the journal's LMDB file holds: its size and the bytes of its pages in use.
 * LMDB reuses freed pages and never shrinks data.mdb, so a retention cut lowers the pages in
 * use (the freelist grows) while the file keeps its size; quotas count the pages in use.
 * in use = (last page + 1 − pages on the freelist) × page size, read in one snapshot.
 * journal_preallocate allocates blocks past the end of data.mdb (FALLOC_FL_KEEP_SIZE: the file's
 * size, which LMDB and envcheck.c read, does not change): LMDB appends pages at the end of the
 * file, so the journal grows into blocks that are already its own and no other writer on the
 * filesystem can take.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include "store_internal.h"

static int space_of(MDB_env *env, const struct journal_dbs *db, struct journal_space *out)
{
  memset(out, 0, sizeof *out);
  MDB_txn *txn;
  int rc = journal__read_txn(env, &txn);
  if (rc) return rc;
  MDB_envinfo ei;
  MDB_stat ms;
  MDB_cursor *c;
  MDB_val k, v;
  uint64_t free_pages = 0;
  if ((rc = mdb_env_info(env, &ei)) || (rc = mdb_env_stat(env, &ms))) goto done;
  /* the freelist (dbi 0): each value is an ID list whose first word is its length */
  if ((rc = mdb_cursor_open(txn, 0, &c))) goto done;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
    if (v.mv_size >= sizeof(size_t)) {
      size_t n;
      memcpy(&n, v.mv_data, sizeof n);
      free_pages += n;
    }
  mdb_cursor_close(c);
  if (rc != MDB_NOTFOUND) goto done;
  rc = 0;
  out->page_bytes = ms.ms_psize;
  uint64_t pages = (uint64_t)ei.me_last_pgno + 1;
  out->used_bytes = (pages > free_pages ? pages - free_pages : 0) * ms.ms_psize;
  int fd;
  struct stat st;
  if (mdb_env_get_fd(env, &fd) == 0 && fstat(fd, &st) == 0) out->file_bytes = (uint64_t)st.st_size;
  rc = journal__rec_bounds(txn, db, &out->first_seq, &out->last_seq);
  if (rc == MDB_NOTFOUND || rc == JOURNAL_ENOTFOUND) rc = 0;
done:
  mdb_txn_abort(txn);
  return rc > 0 ? journal__lmdb_err(rc) : rc;
}

int journal_space_get(struct journal *j, struct journal_space *out) { return space_of(j->env, &j->db, out); }

int journal_reader_space(struct journal_reader *r, struct journal_space *out) { return space_of(r->env, &r->db, out); }

int journal_preallocate(struct journal *j, uint64_t bytes)
{
  int fd;
  struct stat st;
  if (mdb_env_get_fd(j->env, &fd) != 0 || fstat(fd, &st) != 0) return -EBADF;
  if (!bytes) return 0;
  return fallocate(fd, FALLOC_FL_KEEP_SIZE, st.st_size, (off_t)bytes) == 0 ? 0 : -errno;
}
