/* The batch loader of every pretraining method (issue 5, "Data loading"):
 * worker threads read, decode and augment (datasets/augment.h) whole
 * batches ahead of training into a bounded queue of prefetch + 1 batch
 * buffers (one held by the caller, prefetch being built or waiting).
 *
 * Determinism: a batch is a pure function of (config, epoch, index), so its
 * bytes are the same for any thread count or prefetch depth.
 *   - Epoch order: a Fisher-Yates permutation of the folder's items drawn
 *     with biqa_rng_below(u64(seed, "loader/epoch", epoch), "loader/perm", j).
 *   - Batch i holds permutation positions k = i B .. i B + B - 1; there are
 *     floor(n / B) batches per epoch (the remainder is dropped, as
 *     DataLoader(drop_last = True) in MoCo's training).
 *   - Position k is augmented with biqa_augment(recipe, image,
 *     u64(seed, "loader/augment", epoch), k).
 *   - An unreadable item (read/decode error, or an image the recipe cannot
 *     use, e.g. smaller than the QPT patch) is replaced by the item at the
 *     next permutation position, (k + 1) mod n, (k + 2) mod n, ..., the
 *     first one that works, still augmented as position k; so a batch is
 *     never shortened. Every failed attempt is listed in the batch; when no
 *     item of the folder works, the batch is an error.
 * Shards (data-parallel ranks, methods/dist.h): with shards = R, shard r
 * takes positions i B + r B/R .. i B + (r + 1) B/R - 1 of batch i (B the
 * global batch, a multiple of R), augmented and substituted exactly as
 * above; so R shards hold, in rank order, the very batch one loader with
 * shards <= 1 builds, and every shard has the same batch count.
 * Failures reach the caller in delivery order (deterministic): each batch's
 * attempts (`fail`), and the loader's list of distinct failed items with
 * their first error, for biqa_run_add_failure (results/runs.h).
 *
 * Batch layout (host memory): x is float32 NCHW, views x 3 x S x S, item
 * major: view = item * V + j, V = biqa_recipe_views(recipe), j as in
 * augment.h (QPT: j = 2 v + p, the two patches of a variant adjacent, the
 * variants of one image adjacent). */
#ifndef BIQA_DATASETS_LOADER_H
#define BIQA_DATASETS_LOADER_H

#include <stdint.h>

#include "core/error.h"
#include "datasets/augment.h"
#include "datasets/folder.h"

typedef struct biqa_loader_config {
    const biqa_folder *folder; /* borrowed: must outlive the loader */
    biqa_recipe recipe;
    int batch;    /* source images per batch (all shards together), 1..n */
    int threads;  /* worker threads; 0: the online cores */
    int prefetch; /* batches built ahead, >= 1 */
    uint64_t seed;
    int shard, shards; /* this shard of shards (0, 0 or 0, 1: the whole batch) */
} biqa_loader_config;

typedef struct biqa_loader_failure {
    int item;         /* folder item index */
    const char *path; /* the folder's path of it */
    char error[1024];
} biqa_loader_failure;

typedef struct biqa_batch {
    uint64_t epoch;
    int index;       /* within the epoch */
    int items;       /* source images (config batch / shards) */
    int views;       /* items x V: x's N */
    int size;        /* S: x's H and W */
    float *x;        /* views x 3 x S x S */
    int *item;       /* per item: the folder item used (after any substitution) */
    int *label;      /* per item: its class id */
    int *source;     /* per view: the item within the batch */
    int *group;      /* per view: positive-pair group, unique in the batch:
                        QPT item * variants + v; others the item */
    char (*chain)[BIQA_CHAIN_TEXT]; /* per view: QPT chain text, else "" */
    uint64_t *chain_seed;           /* per view: QPT chain apply seed, else 0 */
    int nfail;                      /* failed attempts while filling this batch */
    biqa_loader_failure *fail;
} biqa_batch;

typedef struct biqa_loader biqa_loader;

/* Checks the config, allocates the buffers and starts the workers (idle
 * until biqa_loader_epoch). Errors name the field. */
int biqa_loader_create(const biqa_loader_config *cfg, biqa_loader **out, biqa_error *err);
/* Batches per epoch. */
int biqa_loader_batches(const biqa_loader *L);
/* Starts (or restarts) building epoch's batches from index 0; a running
 * epoch is abandoned after its in-flight batches finish. */
void biqa_loader_epoch(biqa_loader *L, uint64_t epoch);
/* The same from batch index first (0 <= first <= batches): a resumed
 * training continues with the very batches it would have had. */
void biqa_loader_seek(biqa_loader *L, uint64_t epoch, int first);
/* Next batch of the epoch, in index order: 1 and *out (valid until the next
 * call on L), 0 at the epoch's end, -1 on error (err says which batch). */
int biqa_loader_next(biqa_loader *L, const biqa_batch **out, biqa_error *err);
/* Distinct failed items so far, in delivery order, and the failed attempts
 * counted over every delivered batch. */
const biqa_loader_failure *biqa_loader_failures(const biqa_loader *L, int *n);
long biqa_loader_failed_reads(const biqa_loader *L);
/* Stops the workers (mid-epoch too) and frees everything; NULL is fine. */
void biqa_loader_destroy(biqa_loader *L);

#endif
