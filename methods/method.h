/* The pretraining method interface (issue 5): every method (scratch,
 * supervised, moco, simclr, qpt) is a row of one table, looked up by name,
 * and trains through the common model interface (methods/model.h) only.
 *
 * A method names the loader recipe it needs and provides a training state:
 * create (models, heads, queues), step (forward, loss, backward of one batch
 * already on the backend; gradients were zeroed), after_update (what follows
 * the optimiser step: MoCo's momentum update and enqueue), the trainable
 * parameters (for the optimiser) and the backbone the checkpoint holds.
 * methods/pretrain.c runs the shared loop around it: epochs x batches from
 * the batch loader, SGD with momentum and weight decay (not on BN/bias),
 * lr = pretrain.lr * batch / 256 under pretrain.schedule with linear
 * warm-up, a progress line every progress_every steps, and the epoch losses
 * and unreadable images reported through a sink (the harness writes them to
 * the run: methods/ knows nothing of the results store).
 *
 * The config is filled from the knobs by the harness (harness/cmd_pretrain.c);
 * each method file's header lists the knobs it reads.
 *
 * Data-parallel (cfg->dist, methods/dist.h): the loop gives each rank its
 * slice of the global batch, averages the gradients after the method's
 * step, reports the global loss, and leaves writing to rank 0; the models
 * are made on the synchronised-BN backend; moco, qpt and simclr exchange
 * keys and embeddings themselves (their headers say how). */
#ifndef BIQA_METHODS_METHOD_H
#define BIQA_METHODS_METHOD_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "datasets/loader.h"
#include "kernels/backend.h"
#include "methods/model.h"
#include "methods/optim.h"
#include "methods/snapshot.h"

typedef struct biqa_dist biqa_dist; /* methods/dist.h */

typedef struct biqa_pretrain_config {
    const char *method;           /* the method's name (checkpoint metadata) */
    const char *backbone;         /* model.backbone */
    uint64_t seed;                /* run.seed: init, loader, key bank */
    int epochs;                   /* pretrain.epochs */
    int batch_size;               /* pretrain.batch_size: source images per step, over
                                     all ranks (each rank takes batch_size / ranks) */
    int size;                     /* view side S (qpt.patch_size, for every method) */
    double lr;                    /* pretrain.lr, per 256 source images */
    double momentum;              /* pretrain.momentum */
    double weight_decay;          /* pretrain.weight_decay */
    enum biqa_schedule_kind schedule; /* pretrain.schedule: cosine or step */
    int warmup_epochs;            /* pretrain.warmup_epochs */
    int queue_size;               /* moco.queue_size */
    double key_momentum;          /* moco.momentum */
    double temperature;           /* moco.temperature */
    int proj_hidden, proj_dim;    /* moco.proj_hidden (0: feature width), moco.proj_dim */
    int variants;                 /* qpt.variants */
    double iou_min, iou_max;      /* qpt.iou_min, qpt.iou_max */
    biqa_chain_sampler sampler;   /* degrade.* */
    int threads;                  /* loader workers (0: every core) */
    int progress_every;           /* steps between progress lines (>= 1) */
    int64_t run_id;               /* checkpoint metadata "run_id" */
    const char *snapshot_path;    /* training snapshots (methods/snapshot.h); NULL: none */
    int snapshot_every;           /* pretrain.snapshot_every: steps between snapshots, and
                                     one at every epoch end (0: at epoch ends only) */
    int resume;                   /* 1: continue from the snapshot at snapshot_path */
    biqa_dist *dist;              /* data-parallel ranks (methods/dist.h); NULL: one process */
    int bn_splits;                /* moco.bn_splits: key-encoder BN parts (0: one per rank) */
} biqa_pretrain_config;

/* Where the loop reports; either callback may be NULL. A resumed loop
 * reports only what comes after its snapshot (epoch losses from the
 * snapshot's epoch on, failures after the snapshot's count). */
typedef struct biqa_pretrain_sink {
    void *ctx;
    int (*epoch_loss)(void *ctx, int epoch, double loss, biqa_error *err);
    int (*failure)(void *ctx, const char *item, const char *reason, biqa_error *err);
} biqa_pretrain_sink;

typedef struct biqa_method {
    const char *name;
    const char *summary;
    enum biqa_recipe_kind recipe;
    /* num_classes: the folder's classes (supervised uses them). */
    int (*create)(const biqa_pretrain_config *cfg, int num_classes, biqa_backend *be,
                  void **state, biqa_error *err);
    void (*destroy)(void *state);
    /* NULL: the method does not train (scratch). x: b->views x 3 x S x S. */
    int (*step)(void *state, const biqa_batch *b, const biqa_tensor *x, float *loss,
                biqa_error *err);
    void (*after_update)(void *state); /* may be NULL */
    size_t (*params)(void *state, biqa_param **out);
    biqa_model *(*backbone)(void *state);
    /* Adds every tensor and integer of the training state (all models,
     * key encoders, the key ring) to a snapshot (methods/snapshot.h);
     * NULL when the method does not train. */
    int (*snapshot)(void *state, biqa_snapshot *s, biqa_error *err);
} biqa_method;

/* The table: NULL when name is unknown. */
const biqa_method *biqa_method_find(const char *name);
int biqa_method_count(void);
const biqa_method *biqa_method_at(int i);

/* The methods (one file each). */
extern const biqa_method biqa_method_scratch, biqa_method_supervised, biqa_method_moco,
    biqa_method_simclr, biqa_method_qpt;

/* ---- the shared loop (methods/pretrain.c) ---- */

/* A method's state with its optimiser and a device buffer for one batch:
 * what the loop drives, and what tests drive on a fixed batch. */
typedef struct biqa_pretrainer {
    const biqa_method *method;
    const biqa_pretrain_config *cfg;
    biqa_backend *be;
    void *state;
    biqa_param *params;
    size_t nparams;
    biqa_optim *optim;
    void *x_dev;
    size_t x_cap; /* floats */
} biqa_pretrainer;

int biqa_pretrainer_init(biqa_pretrainer *p, const biqa_method *m, const biqa_pretrain_config *cfg,
                         int num_classes, biqa_backend *be, biqa_error *err);
void biqa_pretrainer_free(biqa_pretrainer *p);
/* Uploads b->x, zeroes the gradients, runs the method's step, updates with
 * learning rate lr, then after_update. */
int biqa_pretrainer_step(biqa_pretrainer *p, const biqa_batch *b, float lr, float *loss,
                         biqa_error *err);

/* The method's whole pretraining on folder, writing the backbone to
 * ckpt_path (safetensors, atomic) with metadata {"method", "run_id"}. */
int biqa_pretrain(const biqa_method *m, const biqa_pretrain_config *cfg, const biqa_folder *data,
                  biqa_backend *be, const biqa_pretrain_sink *sink, const char *ckpt_path,
                  biqa_error *err);

/* ---- pairs and masks of the contrastive methods (methods/pretrain.c) ----
 * Views with the same batch group form a positive pair (datasets/loader.h:
 * MoCo/SimCLR the item, QPT the item's variant). partner[v] = the other view
 * of v's group; error unless every group has exactly two views. */
int biqa_pair_partners(const biqa_batch *b, int *partner, biqa_error *err);
/* Mask entries (row r, key column c) for every key c of r's own group (r
 * itself and its partner), keys indexed like the views: 2 per view. rows
 * and cols need room for 2 views entries; returns the count. */
int biqa_pair_mask(const biqa_batch *b, int32_t *rows, int32_t *cols);

/* ---- the MoCo machinery moco and qpt share (methods/moco.c) ----
 * negatives_all 0: the ring only (MoCo); 1: this batch's keys and the ring,
 * the query's own group masked (QPT). */
int biqa_moco_create(const biqa_pretrain_config *cfg, int negatives_all, biqa_backend *be,
                     void **state, biqa_error *err);
void biqa_moco_destroy(void *state);
int biqa_moco_step(void *state, const biqa_batch *b, const biqa_tensor *x, float *loss,
                   biqa_error *err);
void biqa_moco_after_update(void *state);
size_t biqa_moco_params(void *state, biqa_param **out);
int biqa_moco_snapshot(void *state, biqa_snapshot *snap, biqa_error *err);
biqa_model *biqa_moco_backbone(void *state);
/* The key encoder (backbone, head), for tests. */
void biqa_moco_key_encoder(void *state, biqa_model **backbone, biqa_model **head);
void biqa_moco_query_encoder(void *state, biqa_model **backbone, biqa_model **head);

#endif
