/* The contrastive machinery the pretraining methods share (issue #5):
 *
 * InfoNCE (MoCo, He et al. 2020; QPT.md "The loss") over L2-normalised
 * embeddings: for query i, logits = [q_i.k_i, q_i.neg_1, ..., q_i.neg_m] / tau
 * and loss = mean_i cross_entropy(logits_i, 0). Entries listed in a mask are
 * removed from the softmax (set to -inf): SimCLR's NT-Xent drops each
 * sample itself (and its positive, which is column 0) from the in-batch
 * negatives; QPT drops the two patches of the query's own degraded image.
 *
 * The key bank: one buffer of [this batch's keys | a ring of K past keys]
 * (MoCo's queue), so the batch's keys and the queue form one contiguous
 * block of negatives: MoCo uses the ring only, QPT the whole block (other
 * images' patches in the batch and the same content under other chains
 * are negatives, QPT.md N_content and N_other). The ring starts with random
 * unit vectors, as MoCo's queue does, and enqueue overwrites its oldest
 * rows in order. */
#ifndef BIQA_METHODS_CONTRASTIVE_H
#define BIQA_METHODS_CONTRASTIVE_H

#include <stdint.h>

#include "core/error.h"
#include "kernels/backend.h"
#include "methods/optim.h"

typedef struct biqa_infonce {
    biqa_backend *be;
    void *logits, *dlogits; /* workspaces, grown on demand */
    size_t cap;             /* floats in each */
    int32_t *labels;        /* zeros: the positive is column 0 */
    int labels_cap;
} biqa_infonce;

void biqa_infonce_init(biqa_infonce *c, biqa_backend *be);
void biqa_infonce_free(biqa_infonce *c);

/* The loss of q (n, d) against positives k (n, d) and negatives neg
 * (m, d), with count entries (rows[i], 1 + cols[i]) of the logits masked
 * (cols index the negatives). Writes *loss and, where not NULL, dq, dk,
 * dneg (gradients of the loss, written). */
int biqa_infonce_loss(biqa_infonce *c, const biqa_tensor *q, const biqa_tensor *k,
                      const biqa_tensor *neg, const int32_t *rows, const int32_t *cols, int count,
                      float tau, float *loss, biqa_tensor *dq, biqa_tensor *dk, biqa_tensor *dneg,
                      biqa_error *err);

typedef struct biqa_key_bank {
    biqa_backend *be;
    int batch, capacity, dim;
    int ptr;     /* the ring row enqueue writes next */
    float *mem;  /* (batch + capacity) x dim, backend memory */
} biqa_key_bank;

/* Room for `batch` keys of this step and a ring of `capacity` past keys,
 * the ring filled with unit vectors drawn from seed (core/rng.h). */
int biqa_key_bank_init(biqa_key_bank *b, biqa_backend *be, int batch, int capacity, int dim,
                       uint64_t seed, biqa_error *err);
void biqa_key_bank_free(biqa_key_bank *b);
/* Where the key encoder writes this step's keys: (batch, dim). */
biqa_tensor biqa_key_bank_batch(const biqa_key_bank *b);
/* The ring alone (MoCo's negatives) or batch + ring (QPT's). */
biqa_tensor biqa_key_bank_ring(const biqa_key_bank *b);
biqa_tensor biqa_key_bank_all(const biqa_key_bank *b);
/* Copies this step's keys into the ring at ptr (wrapping), advances ptr. */
void biqa_key_bank_enqueue(biqa_key_bank *b);

/* MoCo's momentum encoder: key = m key + (1 - m) query, parameter by
 * parameter (the two lists in the same order, of the same shapes). */
void biqa_momentum_update(biqa_backend *be, biqa_param *key, const biqa_param *query, size_t n,
                          float m);

#endif
