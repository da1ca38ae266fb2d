/* Data-parallel training (issue #9): what the training loops call so that
 * R ranks with 1/R of each global batch train as one process with the whole
 * batch would. A NULL biqa_dist is one process: every function then does
 * exactly what the one-process code does (most return their input), so the
 * loops call them unconditionally and stay byte-identical without ranks.
 *
 * What is done across ranks, and how:
 *   - Data: the loader (datasets/loader.h) gives rank r the r-th slice of
 *     the global batch of the same (seed, epoch, index): R ranks with B/R
 *     images each see exactly the images one process with batch B sees.
 *   - Gradients: averaged after backward, packed into buckets of
 *     BIQA_DIST_BUCKET_MB (PyTorch DDP's 25 MB default; parameters from the
 *     last layer back, the order DDP fills them) with one allreduce per
 *     bucket. Not overlapped with backward: the model interface runs
 *     backward as one call with no per-layer hook to start a bucket early.
 *   - Batch norm: synchronised (SyncBN) over the global batch in every
 *     model that trains, through a backend decorator (methods/dist_bn.c),
 *     so statistics and their gradients are those of the whole batch;
 *     MoCo/QPT's key encoder instead uses shuffled BN, as MoCo does
 *     (methods/dist_keys.c).
 *   - Contrastive methods: keys of every rank enter the MoCo/QPT queue and
 *     QPT's in-batch negatives; SimCLR's negatives are every rank's
 *     embeddings, with gradients flowing back to the rank that made them
 *     (SimCLR's tpu_cross_replica_concat is differentiable:
 *     google-research/simclr issue #87).
 *   - Output: rank 0 alone writes checkpoints, snapshots and the run
 *     record; a resumed run's snapshot is read by rank 0 and broadcast.
 *   - Failures: a failure at a point every rank reaches (reading a batch,
 *     a non-finite loss, rank 0's writes) is agreed: every rank stops with
 *     "rank K of R: <message>", and rank 0 records it as the run's error.
 *     A failure inside a step (between collectives, e.g. out of memory)
 *     leaves the other ranks waiting in a collective that cannot complete:
 *     the failing rank prints its rank-named error and aborts the whole job
 *     through the communicator (biqa_dist_close), and the run, left
 *     "running", is marked interrupted by the next biqa command. */
#ifndef BIQA_METHODS_DIST_H
#define BIQA_METHODS_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "datasets/folder.h"
#include "datasets/loader.h"
#include "kernels/backend.h"
#include "kernels/comm.h"
#include "methods/optim.h"
#include "methods/snapshot.h"

#define BIQA_DIST_BUCKET_MB 25

typedef struct biqa_dist biqa_dist;

/* ---- lifetime (the harness) ---- */

/* Opens the communicator of comm_kind (compute.comm, kernels/comm.h) for
 * a run on backend (compute.backend); *out = NULL when there is none (one
 * process). Ranks other than 0 then log warnings and errors only. */
int biqa_dist_open(const char *comm_kind, const char *backend, biqa_dist **out, biqa_error *err);
/* Wraps a communicator the caller made (tests); d owns it. */
biqa_dist *biqa_dist_wrap(biqa_comm *comm, biqa_error *err);
/* After the backend exists: makes the SyncBN backend (with more than one
 * rank). be must outlive d. */
int biqa_dist_attach(biqa_dist *d, biqa_backend *be, biqa_error *err);
/* Prints err as the command's error line where it belongs: rank 0 prints
 * agreed failures (they already name the rank), every rank its own
 * unagreed one, prefixed "rank K of R: ". Without d: the plain line. */
void biqa_dist_report(const biqa_dist *d, const biqa_error *err);
/* Ends d: after an unagreed failure (failed and not agreed) aborts every
 * rank of the job (does not return); else closes the communicator. */
void biqa_dist_close(biqa_dist *d, int failed);

int biqa_dist_rank(const biqa_dist *d); /* 0 without d */
int biqa_dist_size(const biqa_dist *d); /* 1 without d */
biqa_comm *biqa_dist_comm(biqa_dist *d);

/* The backend models that train are made on: the SyncBN decorator with
 * more than one rank, else be. */
biqa_backend *biqa_dist_train_backend(biqa_dist *d, biqa_backend *be);
/* The plain backend under it (per-rank batch norm: MoCo's key encoder). */
biqa_backend *biqa_dist_local_backend(biqa_dist *d, biqa_backend *be);

/* ---- collectives of the loops ---- */

/* Every rank passes its rc; 0 when all are 0, else -1 with err = "rank K
 * of R: <rank K's message>" for the lowest failing K, on every rank.
 * Without d: returns rc (err untouched). */
int biqa_dist_agree(biqa_dist *d, int rc, biqa_error *err);
/* Averages the gradients of params over ranks (buckets, above) and sets
 * *loss = sum over ranks of loss_weight x *loss (loss_weight 1/R for equal
 * shares: the global mean). */
int biqa_dist_average(biqa_dist *d, biqa_param *params, size_t n, double *loss,
                      double loss_weight, biqa_error *err);
/* Rank 0's bytes to every rank (run ids, decisions). */
int biqa_dist_share(biqa_dist *d, void *buf, size_t bytes, biqa_error *err);
/* After rank 0 loaded snapshot s (rc its result, agreed first): every
 * tensor, counter and integer of s and *pos from rank 0 to all. */
int biqa_dist_share_snapshot(biqa_dist *d, biqa_snapshot *s, biqa_snapshot_pos *pos, int rc,
                             biqa_error *err);
/* Unreadable images: every rank passes the n failures its loader listed
 * since the last call; rank 0 calls report (when not NULL) for each item
 * no rank reported before, in global batch order (ranks in order, as one
 * process would list them), with the folder's path. Agreed. */
int biqa_dist_failures(biqa_dist *d, const biqa_folder *folder, const biqa_loader_failure *f,
                       int n, int (*report)(void *ctx, const char *item, const char *reason,
                                            biqa_error *err),
                       void *ctx, biqa_error *err);

/* ---- SyncBN (methods/dist_bn.c) ----
 * A backend that is base with batch norm synchronised over comm's ranks in
 * training mode (torch.nn.SyncBatchNorm): forward normalises by the mean
 * and biased variance of the global batch (the ranks' counts, means and
 * variances combined in rank order) and updates the running statistics
 * with them (unbiased variance over the global count); backward uses the
 * global sums of dy and dy xhat, and leaves dgamma and dbeta the local
 * sums (the gradient average makes them global). Ranks may hold different
 * batch sizes. Every other op is base's. A collective that fails inside an
 * op (ops return nothing) prints the error and aborts the job. */
biqa_backend *biqa_syncbn_create(biqa_backend *base, biqa_comm *comm, biqa_error *err);

/* ---- MoCo's shuffled batch norm and row gathers (methods/dist_keys.c) ---- */

/* Encodes rows x (n, ...) into keys (n, dim), both backend memory. */
typedef int (*biqa_encode_fn)(void *ctx, const biqa_tensor *x, biqa_tensor *keys,
                              biqa_error *err);

/* Shuffled BN (MoCo, He et al. 2020, Sec. 3.3): the global key batch is
 * permuted (a permutation drawn from (seed, epoch, batch index), the same
 * on every rank) and cut into `splits` equal parts, each encoded alone so
 * that its batch-norm statistics are its own; the keys are then put back
 * in batch order. Rank r encodes parts r k .. r k + k - 1 (k = splits / R)
 * of the gathered batch and the keys are gathered back: each rank ends
 * with every key of the global batch. One process with splits = R does
 * the same arithmetic (MoCo's SplitBatchNorm, which its CIFAR demo uses
 * to imitate several GPUs on one). */
typedef struct biqa_shuffle {
    biqa_dist *dist;
    biqa_backend *be;
    int splits, rows, dim;  /* global rows, key width */
    size_t row_floats;      /* floats per input row */
    uint64_t seed;
    int *perm;
    void *x_all, *chunk, *mine, *keys_shuf;
} biqa_shuffle;

/* splits 0: one per rank. Error unless splits is a multiple of the ranks
 * and divides rows into parts of at least 2 rows (batch norm needs two). */
int biqa_shuffle_init(biqa_shuffle *s, biqa_dist *d, biqa_backend *be, int splits, int rows,
                      size_t row_floats, int dim, uint64_t seed, biqa_error *err);
void biqa_shuffle_free(biqa_shuffle *s);
/* keys (rows, dim) = the keys of the global batch whose local rows are x
 * (rows / R of them, this rank's slice), for batch (epoch, index). With
 * one part and one rank: encode(x) itself. */
int biqa_shuffle_keys(biqa_shuffle *s, uint64_t epoch, int index, const biqa_tensor *x,
                      biqa_encode_fn encode, void *ctx, biqa_tensor *keys, biqa_error *err);

/* all (R x n rows of width dim) = every rank's rows (n, dim), rank-major;
 * rows and all are backend memory. */
int biqa_dist_gather_rows(biqa_dist *d, biqa_backend *be, const biqa_tensor *rows,
                          biqa_tensor *all, biqa_error *err);
/* The sum over ranks of t (in place). */
int biqa_dist_sum(biqa_dist *d, biqa_backend *be, biqa_tensor *t, biqa_error *err);

#endif
