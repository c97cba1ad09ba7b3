/*
 * tpm_counter.c — a TPM 2.0 NV counter (TPM2_NT_COUNTER, 8 bytes) through libtss2-esys: the
 * hardware half of the journal's anti-rollback counter (journal/counter_hw.c).
 *
 * The TCTI comes from a tss2 loader configuration string ("device:/dev/tpmrm0",
 * "swtpm:host=127.0.0.1,port=2321"; NULL: the loader's default). The index is authorised with
 * its own (empty) auth value through a password session, so reading and incrementing need no
 * hierarchy password; defining it (hw_tpm_counter_open with define) is done under the owner
 * hierarchy with an empty owner password — a board whose owner password is set provisions the
 * index with tpm2_nvdefine instead (docs/operations.md). An index that exists but is not an
 * 8-byte counter is refused: its value would not be monotonic. A counter never incremented
 * reads as 0 (the TPM refuses to read it: TPM2_RC_NV_UNINITIALIZED).
 *
 * Errors are -EIO (the TPM or the TCTI said no), -ENOENT (no such index, not defining),
 * -EINVAL (an index that is not a counter); the TSS's text for the last one is kept per thread
 * for the caller's message (hw_tpm_counter_error).
 */
#include "hw.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HEMS_HAVE_TSS2
/* A build without libtss2-esys (a cross build whose target could not get it, CMakeLists.txt):
 * every open fails with this one reason, so `--counter tpm:…` is refused by name. */
static const char no_tss2[] = "this build of hems has no TPM 2.0 support (libtss2-esys was missing when it was built)";
const char *hw_tpm_counter_error(void) { return no_tss2; }
int hw_tpm_counter_open(struct hw_tpm_counter **out, const char *tcti_conf, uint32_t nv_index, bool define)
{
  (void)tcti_conf; (void)nv_index; (void)define;
  *out = NULL;
  return -ENOTSUP;
}
int hw_tpm_counter_read(struct hw_tpm_counter *t, uint64_t *count) { (void)t; (void)count; return -ENOTSUP; }
int hw_tpm_counter_increment(struct hw_tpm_counter *t, uint64_t *count) { (void)t; (void)count; return -ENOTSUP; }
void hw_tpm_counter_close(struct hw_tpm_counter *t) { (void)t; }
#else
#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

struct hw_tpm_counter {
  TSS2_TCTI_CONTEXT *tcti;
  ESYS_CONTEXT *esys;
  ESYS_TR nv;
  uint32_t index;
};

static __thread char last_error[200];

const char *hw_tpm_counter_error(void)
{
  return last_error;
}

static int fail(const char *what, TSS2_RC rc)
{
  snprintf(last_error, sizeof last_error, "%s: %s", what, Tss2_RC_Decode(rc));
  return -EIO;
}

/* The TPM's response code without the layer (a TPM error, not a TSS one), format-1 parameter
 * or handle numbers cleared. */
static TSS2_RC tpm_rc(TSS2_RC rc)
{
  if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER) return rc;
  rc &= ~TSS2_RC_LAYER_MASK;
  return (rc & TPM2_RC_FMT1) ? (rc & (TPM2_RC_FMT1 | 0x3f)) : rc;
}

static int define_index(struct hw_tpm_counter *t)
{
  TPM2B_AUTH auth = { .size = 0 };
  TPM2B_NV_PUBLIC pub = {
    .size = 0,
    .nvPublic = {
      .nvIndex = t->index,
      .nameAlg = TPM2_ALG_SHA256,
      .attributes = ((TPMA_NV)TPM2_NT_COUNTER << TPMA_NV_TPM2_NT_SHIFT) | TPMA_NV_OWNERWRITE | TPMA_NV_OWNERREAD |
                    TPMA_NV_AUTHWRITE | TPMA_NV_AUTHREAD | TPMA_NV_NO_DA,
      .authPolicy = { .size = 0 },
      .dataSize = 8,
    },
  };
  TSS2_RC rc = Esys_NV_DefineSpace(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &auth, &pub,
                                   &t->nv);
  return rc ? fail("defining the NV counter (owner hierarchy)", rc) : 0;
}

/* The index must be an 8-byte counter. */
static int check_index(struct hw_tpm_counter *t)
{
  TPM2B_NV_PUBLIC *pub = NULL;
  TPM2B_NAME *name = NULL;
  TSS2_RC rc = Esys_NV_ReadPublic(t->esys, t->nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, &name);
  if (rc) return fail("reading the NV index's public area", rc);
  TPMA_NV a = pub->nvPublic.attributes;
  bool ok = ((a & TPMA_NV_TPM2_NT_MASK) >> TPMA_NV_TPM2_NT_SHIFT) == TPM2_NT_COUNTER && pub->nvPublic.dataSize == 8 &&
            (a & TPMA_NV_AUTHREAD) && (a & TPMA_NV_AUTHWRITE);
  Esys_Free(pub);
  Esys_Free(name);
  if (!ok) {
    snprintf(last_error, sizeof last_error, "NV index 0x%08x is not an 8-byte counter readable and writable with its own auth",
             t->index);
    return -EINVAL;
  }
  return 0;
}

int hw_tpm_counter_open(struct hw_tpm_counter **out, const char *tcti_conf, uint32_t nv_index, bool define)
{
  *out = NULL;
  last_error[0] = 0;
  struct hw_tpm_counter *t = calloc(1, sizeof *t);
  if (!t) return -ENOMEM;
  t->index = nv_index;
  t->nv = ESYS_TR_NONE;
  TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti_conf, &t->tcti);
  int err = 0;
  if (rc) err = fail("TCTI", rc);
  if (!err && (rc = Esys_Initialize(&t->esys, t->tcti, NULL))) err = fail("connecting to the TPM", rc);
  if (!err) {
    rc = Esys_TR_FromTPMPublic(t->esys, nv_index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &t->nv);
    if (rc && tpm_rc(rc) == TPM2_RC_HANDLE && define) err = define_index(t);
    else if (rc && tpm_rc(rc) == TPM2_RC_HANDLE) {
      snprintf(last_error, sizeof last_error, "no NV index 0x%08x (hems init --counter defines it)", nv_index);
      err = -ENOENT;
    } else if (rc)
      err = fail("opening the NV index", rc);
  }
  if (!err) err = check_index(t);
  if (err) {
    hw_tpm_counter_close(t);
    return err;
  }
  *out = t;
  return 0;
}

int hw_tpm_counter_read(struct hw_tpm_counter *t, uint64_t *count)
{
  TPM2B_MAX_NV_BUFFER *data = NULL;
  TSS2_RC rc = Esys_NV_Read(t->esys, t->nv, t->nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, 8, 0, &data);
  if (rc && tpm_rc(rc) == TPM2_RC_NV_UNINITIALIZED) {
    *count = 0;
    return 0;
  }
  if (rc) return fail("reading the NV counter", rc);
  uint64_t v = 0;
  for (unsigned i = 0; i < 8 && i < data->size; i++) v = v << 8 | data->buffer[i];
  bool whole = data->size == 8;
  Esys_Free(data);
  if (!whole) {
    snprintf(last_error, sizeof last_error, "NV counter 0x%08x read short", t->index);
    return -EIO;
  }
  *count = v;
  return 0;
}

int hw_tpm_counter_increment(struct hw_tpm_counter *t, uint64_t *count)
{
  TSS2_RC rc = Esys_NV_Increment(t->esys, t->nv, t->nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
  if (rc) return fail("incrementing the NV counter", rc);
  return hw_tpm_counter_read(t, count);
}

void hw_tpm_counter_close(struct hw_tpm_counter *t)
{
  if (!t) return;
  if (t->esys) {
    if (t->nv != ESYS_TR_NONE) Esys_TR_Close(t->esys, &t->nv);
    Esys_Finalize(&t->esys);
  }
  if (t->tcti) Tss2_TctiLdr_Finalize(&t->tcti);
  free(t);
}
#endif /* HEMS_HAVE_TSS2 */
