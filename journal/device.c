/*
 * device.c — the data dir's device id (meta "device_id", 16 random bytes as 32 lowercase hex,
 * written once by journal_create). It names the panel in checkpoint origins and note key names
 * ("hems/<device id>"), so what is read back is checked, not trusted.
 */
#include <string.h>
#include "store_internal.h"

static int device_id_in(MDB_txn *txn, const struct journal_dbs *db, char out[33])
{
  char id[40];
  memset(out, 0, 33);
  int n = journal__meta_get(txn, db, "device_id", id, sizeof id);
  if (n < 0) return n; /* JOURNAL_ENOTFOUND when absent */
  if (n != 32) return JOURNAL_ECORRUPT;
  for (int i = 0; i < 32; i++)
    if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) return JOURNAL_ECORRUPT;
  memcpy(out, id, 32);
  return 0;
}

int journal_reader_device_id(struct journal_reader *r, char out[33])
{
  MDB_txn *txn;
  memset(out, 0, 33);
  int rc = journal__read_txn(r->env, &txn);
  if (rc) return rc;
  rc = device_id_in(txn, &r->db, out);
  mdb_txn_abort(txn);
  return rc;
}

int journal_iter_device_id(struct journal_iter *it, char out[33])
{
  return device_id_in(it->txn, &it->r->db, out);
}
