/*
 * device.c — the data dir's device id (meta "device_id", 16 random bytes as 32 lowercase hex,
 * written once by journal_create). It names the panel in checkpoint origins and note key names
 * ("hems/<device id>"), so what is read back is checked, not trusted.
 */
#include <string.h>
#include "store_internal.h"

int journal_reader_device_id(struct journal_reader *r, char out[33])
{
  MDB_txn *txn;
  char id[40];
  memset(out, 0, 33);
  int rc = journal__read_txn(r->env, &txn);
  if (rc) return rc;
  int n = journal__meta_get(txn, &r->db, "device_id", id, sizeof id);
  mdb_txn_abort(txn);
  if (n < 0) return n; /* JOURNAL_ENOTFOUND when absent */
  if (n != 32) return JOURNAL_ECORRUPT;
  for (int i = 0; i < 32; i++)
    if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) return JOURNAL_ECORRUPT;
  memcpy(out, id, 32);
  return 0;
}
