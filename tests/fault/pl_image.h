/*
 * pl_image.h — the disk model of the power-loss simulator: replays a power-loss log
 * (pl_log.h) up to a cut point and writes one post-cut disk image as a directory.
 *
 * Model (what a power cut at log position C may leave; every choice drawn from a seeded PRNG):
 *  - File data: every write before the file's last sync (fsync/fdatasync, an O_DSYNC write,
 *    sync/syncfs) before C is on disk. Writes after it are pending: each is dropped, kept, or
 *    torn at 512-byte sectors (sector-aligned in the file; each sector whole, old or new —
 *    sectors are the unit a disk writes atomically). The policy per cut is one of: none kept,
 *    all kept, an in-order prefix whose last write is torn, an arbitrary subset with tears.
 *    A truncate is pending like a write.
 *  - Namespace (creates, renames, unlinks, mkdirs): durable up to the last directory fsync (or
 *    sync) before C; the later ones reach the disk as an in-order prefix of random length (the
 *    ordered metadata journal of ext4/XFS; POSIX promises less, never more). A file whose name
 *    is not durable is absent, whatever its data.
 * Cuts must be visited in increasing order (the durable state is advanced incrementally).
 */
#ifndef HEMS_PL_IMAGE_H
#define HEMS_PL_IMAGE_H
#include <stddef.h>
#include <stdint.h>
#include "pl_log.h"

enum pl_data_policy { PL_KEEP_NONE, PL_KEEP_ALL, PL_KEEP_PREFIX, PL_KEEP_SUBSET, PL_POLICIES };

struct pl_model;

/* The log's records, indexed. Returns 0, or -1 with a reason in why (an UNSUP record, a bad
 * record). The buffer is borrowed for the model's life. */
int pl_model_init(struct pl_model **out, const uint8_t *log, size_t len, char *why, size_t why_cap);
void pl_model_free(struct pl_model *m);
size_t pl_model_records(const struct pl_model *m);
const struct pl_rec *pl_model_rec(const struct pl_model *m, size_t i);

/* Advance the durable state to cut position c (records [0, c) happened); c never decreases.
 * out_ack: the highest seq acknowledged before c; out_mark: the workload running at c. */
void pl_model_advance(struct pl_model *m, size_t c, uint64_t *out_ack, uint64_t *out_mark);

/* Write the image of a power cut at the current position into dir (created; must not exist).
 * Returns 0 or -errno. *rng is the PRNG state. out_pending: writes that were at risk. */
int pl_model_materialise(struct pl_model *m, const char *dir, enum pl_data_policy pol, uint64_t *rng,
                         unsigned *out_pending);

uint64_t pl_rand(uint64_t *s);

#endif
