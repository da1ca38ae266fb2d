/* Fine-tuning for BIQA (paper/QPT.md, "Downstream protocol"): a backbone
 * (random init, or a pretraining checkpoint) followed by a linear
 * regression head "mlp:D-1", trained end to end against MOS on 0..1.
 *
 * Training: AdamW (PyTorch defaults betas 0.9/0.999, eps 1e-8; decay off for
 * batch-norm parameters and biases, methods/optim.h) at a constant learning
 * rate; each epoch visits the training items in a seeded Fisher-Yates order
 * (key (seed, "finetune/order", epoch 2^32 + i)) in batches of batch_size
 * (a final batch of one item is left out: batch norm needs two); each visit
 * takes one random patch x patch crop at a uniform position with a
 * horizontal flip of probability 1/2, keyed by (seed, "finetune/crop",
 * epoch 2^40 + 4 item + {0: x, 1: y, 2: flip}), so crops do not depend on
 * batch order or threads.
 * The head's bias starts at the training MOS mean (the constant predictor).
 * Loss: l1, smooth_l1 (beta 1, F.smooth_l1_loss's default) or mse.
 * Prediction: eval mode, the mean over `crops` deterministic crops
 * (biqa_crop_origin). Model selection: after every epoch the validation
 * items are predicted and their SRCC computed; the epoch with the highest
 * SRCC (the first on ties; NaN never wins) is saved, and at the end that
 * checkpoint is reloaded and every item predicted. With no validation
 * items the last epoch is kept. Test items are never looked at before.
 *
 * Pixels: RGB / 255, normalised per channel by ImageNet's mean and std
 * (torchvision's convention, which the supervised weights expect).
 *
 * Ranks (methods/dist.h): each batch is cut into R contiguous slices, one
 * per rank (a final batch of fewer than R items is left out), batch norm
 * synchronised, gradients averaged with each rank weighted by its share;
 * rank 0 alone validates, saves, snapshots and predicts (out is filled on
 * rank 0 only) and calls epoch_done, and the others learn its outcome.
 *
 * Checkpoints: two safetensors files, the backbone under torchvision's names
 * (loadable by torchvision) and the head ("0.weight", "0.bias") beside it
 * under biqa_finetune_head_path(backbone path); both carry metadata
 * {"format": "biqa-finetune", "backbone": NAME, "head": "mlp:D-1", "run_id": ID}. */
#ifndef BIQA_METHODS_FINETUNE_H
#define BIQA_METHODS_FINETUNE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "kernels/backend.h"
#include "kernels/image/image.h"
#include "methods/model.h"

/* Which part of a split an item is in (the values of datasets/splits.h). */
enum { BIQA_DS_TRAIN = 0, BIQA_DS_VAL = 1, BIQA_DS_TEST = 2 };

/* A dataset in memory: decoded images, MOS on 0..1, part per item. */
typedef struct biqa_ds_data {
    const biqa_image *images;
    const double *mos;
    const unsigned char *part;
    size_t n;
} biqa_ds_data;

typedef struct biqa_dist biqa_dist; /* methods/dist.h */

typedef struct biqa_finetune_config {
    const char *backbone;     /* "resnet18-w0.25", ... */
    const char *init_weights; /* NULL: random init from seed; else strict load */
    int loss;                 /* enum biqa_regress_kind */
    int epochs, batch_size, patch, crops;
    double lr, weight_decay;
    uint64_t seed;
    long long run_id;         /* > 0: recorded as "run_id" in the checkpoints' metadata */
    /* Training snapshots (methods/snapshot.h) after every epoch, at
     * snapshot_path (NULL: none); with resume, training continues from
     * the one there (earlier epochs' results are NaN in out: their
     * epoch_done calls were made by the interrupted process). */
    const char *snapshot_path;
    int resume;
    /* Called after every epoch (may be NULL): the curves reach the caller
     * as they are made, not only at the end. */
    int (*epoch_done)(void *ctx, int epoch, double train_loss, double val_srcc,
                      biqa_error *err);
    void *epoch_ctx;
    biqa_dist *dist; /* data-parallel ranks; NULL: one process */
} biqa_finetune_config;

typedef struct biqa_finetune_result {
    int epochs, best_epoch;    /* best_epoch 0-based */
    double *train_loss;        /* per epoch: mean loss over its batches */
    double *val_srcc;          /* per epoch (NaN without validation items) */
    double *pred;              /* per item: the selected model's prediction */
} biqa_finetune_result;

/* Fine-tunes and writes the selected checkpoint to ckpt_path (and its head
 * beside it). Fills out (free with biqa_finetune_result_free). */
int biqa_finetune(biqa_backend *be, const biqa_finetune_config *cfg, const biqa_ds_data *d,
                  const char *ckpt_path, biqa_finetune_result *out, biqa_error *err);
void biqa_finetune_result_free(biqa_finetune_result *r);

/* "<path without .safetensors>.head.safetensors" (malloc'd). */
char *biqa_finetune_head_path(const char *ckpt_path);

/* Loads a fine-tuned backbone + head pair written by biqa_finetune (the
 * backbone name from the checkpoint's metadata). */
int biqa_finetune_load(biqa_backend *be, const char *ckpt_path, biqa_model **backbone,
                       biqa_model **head, biqa_error *err);

/* Top-left corner of deterministic test crop c of `crops` on a w x h
 * image: 1 crop: the centre; 2..5: the first `crops` of (centre, top-left,
 * top-right, bottom-left, bottom-right); more: a g x g grid (g =
 * ceil(sqrt(crops))) of evenly spaced positions from the top-left to the
 * bottom-right corner, row-major, the first `crops` of them. */
void biqa_crop_origin(int w, int h, int patch, int c, int crops, int *x, int *y);

/* Writes crop (x, y, patch, flip) of im into dst (3 x patch x patch, NCHW),
 * ImageNet-normalised. */
void biqa_crop_to_chw(const biqa_image *im, int x, int y, int patch, int flip, float *dst);

/* Eval-mode forward of items rows[0..n-1], each the mean over `crops`
 * deterministic crops: with a head, out[i] is the head's output (its width
 * must be 1); without, out[i * D .. + D] the backbone's pooled features.
 * batch: images per forward. */
int biqa_predict_crops(biqa_backend *be, biqa_model *backbone, biqa_model *head,
                       const biqa_image *images, const size_t *rows, size_t n, int patch,
                       int crops, int batch, double *out, biqa_error *err);

#endif
