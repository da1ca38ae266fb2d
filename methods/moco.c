/* moco: MoCo v2 (Chen et al. 2020, "Improved Baselines with Momentum
 * Contrastive Learning"), and the machinery qpt.c reuses.
 *
 * Query encoder = backbone + MLP projection mlp:D-H-P (ReLU between),
 * embeddings L2-normalised (F.normalize); key encoder = a copy of both,
 * starting equal to the query encoder and updated after every optimiser
 * step by key = m key + (1 - m) query (no gradient). Each source image gives
 * two views (MOCO_V2 recipe: crop, colour jitter, grayscale, blur, flip);
 * every view is a query whose positive is the key of the other view of the
 * same image (the symmetrised loss), and the negatives are the queue of past
 * keys (methods/contrastive.h's ring). After each step this step's keys are
 * enqueued. InfoNCE with temperature tau.
 *
 * Shuffled BN: MoCo shuffles the key batch across GPUs so that batch-norm
 * statistics cannot leak which key is the positive. With R ranks
 * (methods/dist.h) the key encoder runs on the plain backend (its own batch
 * norm) over a shuffled 1/R of the global key batch, and the keys of every
 * rank are gathered back (biqa_shuffle_keys); moco.bn_splits = N cuts the
 * shuffled batch into N parts instead (N/R per rank). On one process with
 * the default, the key encoder's BN runs on the whole key batch (as
 * single-GPU MoCo re-implementations do); moco.bn_splits = 2 there does
 * what 2 ranks do (MoCo's SplitBatchNorm). The query encoder's batch norm
 * is synchronised over ranks (SyncBN), so it sees the global batch either
 * way.
 *
 * Ranks: the queue, QPT's in-batch negatives and the positives come from
 * the keys of the global batch, identical on every rank; each rank's
 * queries are its own slice (views off .. off + n of the global batch).
 *
 * QPT (negatives_all = 1) differs only in the negatives: this batch's keys
 * and the ring, with the two keys of the query's own degraded image masked
 * (biqa_pair_mask), so the same content under other chains and other images
 * are negatives.
 *
 * Knobs: model.backbone, run.seed, pretrain.epochs, pretrain.batch_size,
 * pretrain.lr [assumed], pretrain.momentum [assumed], pretrain.weight_decay
 * [assumed], pretrain.schedule [assumed], pretrain.warmup_epochs,
 * moco.queue_size [assumed], moco.momentum [assumed], moco.temperature
 * [assumed], moco.proj_hidden [assumed], moco.proj_dim [assumed],
 * qpt.patch_size [assumed] (the view side of every method). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "methods/contrastive.h"
#include "methods/dist.h"
#include "methods/method.h"

#define L2_EPS 1e-12f /* F.normalize's default */

typedef struct moco {
    biqa_backend *be;
    int negatives_all, views, dim;
    int off;             /* this rank's first view in the global batch */
    biqa_shuffle shuffle; /* the key encoder's batch norm parts */
    float tau, m;
    biqa_model *qb, *qh, *kb, *kh;
    biqa_param *params; /* qb's then qh's, for the optimiser */
    size_t nqb, nqh;
    biqa_key_bank bank;
    biqa_infonce nce;
    void *q, *dq, *dz, *pos; /* views x dim each */
    int32_t *rows, *cols;
    int *partner;
} moco;

void biqa_moco_destroy(void *p)
{
    moco *s = p;
    biqa_model_destroy(s->qb), biqa_model_destroy(s->qh);
    biqa_model_destroy(s->kb), biqa_model_destroy(s->kh);
    if (s->bank.mem)
        biqa_key_bank_free(&s->bank);
    if (s->shuffle.be)
        biqa_shuffle_free(&s->shuffle);
    biqa_infonce_free(&s->nce);
    void *bufs[4] = {s->q, s->dq, s->dz, s->pos};
    for (int i = 0; i < 4; i++)
        if (bufs[i])
            s->be->free(s->be, bufs[i]);
    free(s->params), free(s->rows), free(s->cols), free(s->partner);
    free(s);
}

/* Backbone + head of the config; the head takes the gradient of its input. */
static int encoder(const biqa_pretrain_config *cfg, biqa_backend *be, biqa_model **bb,
                   biqa_model **head, biqa_error *err)
{
    biqa_model_options opt = {.seed = cfg->seed};
    if (!(*bb = biqa_model_create(cfg->backbone, &opt, be, err)))
        return -1;
    int d = biqa_model_feature_dim(*bb), h = cfg->proj_hidden > 0 ? cfg->proj_hidden : d;
    char name[64];
    snprintf(name, sizeof name, "mlp:%d-%d-%d", d, h, cfg->proj_dim);
    biqa_model_options hopt = {.seed = biqa_rng_u64(cfg->seed, biqa_rng_stream("pretrain/head"), 0),
                               .input_grad = 1};
    return (*head = biqa_model_create(name, &hopt, be, err)) ? 0 : -1;
}

static void copy_params(biqa_backend *be, biqa_model *dst, biqa_model *src)
{
    biqa_param *d, *s;
    size_t n = biqa_model_params(dst, &d);
    biqa_model_params(src, &s);
    for (size_t i = 0; i < n; i++)
        be->copy(be, &d[i].value, &s[i].value);
}

int biqa_moco_create(const biqa_pretrain_config *cfg, int negatives_all, biqa_backend *be,
                     void **out, biqa_error *err)
{
    if (cfg->proj_dim < 1 || cfg->proj_hidden < 0 || cfg->queue_size < 1)
        return biqa_fail(err, "moco.proj_dim >= 1, moco.proj_hidden >= 0 and moco.queue_size "
                              ">= 1 are needed");
    if (!(cfg->temperature > 0) || !(cfg->key_momentum >= 0 && cfg->key_momentum <= 1))
        return biqa_fail(err, "moco.temperature > 0 and moco.momentum in [0, 1] are needed");
    moco *s = calloc(1, sizeof *s);
    if (!s)
        return biqa_fail(err, "moco: out of memory");
    s->be = be, s->negatives_all = negatives_all;
    s->tau = (float)cfg->temperature, s->m = (float)cfg->key_momentum, s->dim = cfg->proj_dim;
    /* views of the global batch (the key bank's batch rows) and this rank's */
    const int global = cfg->batch_size * (negatives_all ? 2 * cfg->variants : 2);
    const int ranks = biqa_dist_size(cfg->dist);
    s->views = global / ranks, s->off = biqa_dist_rank(cfg->dist) * s->views;
    biqa_infonce_init(&s->nce, be);
    int rc = encoder(cfg, be, &s->qb, &s->qh, err);
    /* The key encoder keeps its own batch norm on every rank (shuffled BN). */
    biqa_backend *kbe = biqa_dist_local_backend(cfg->dist, be);
    if (rc == 0)
        rc = encoder(cfg, kbe, &s->kb, &s->kh, err);
    if (rc == 0)
        rc = biqa_shuffle_init(&s->shuffle, cfg->dist, kbe, cfg->bn_splits, global,
                               3 * (size_t)cfg->size * cfg->size, s->dim, cfg->seed, err);
    if (rc == 0) {
        /* The same seed already gives the same init; copying makes "starts
         * equal" a fact of this file, not of the init code. */
        copy_params(be, s->kb, s->qb);
        copy_params(be, s->kh, s->qh);
        biqa_model_train(s->qb, 1), biqa_model_train(s->qh, 1);
        biqa_model_train(s->kb, 1), biqa_model_train(s->kh, 1);
        biqa_param *pb, *ph;
        s->nqb = biqa_model_params(s->qb, &pb), s->nqh = biqa_model_params(s->qh, &ph);
        s->params = malloc((s->nqb + s->nqh) * sizeof *s->params);
        if (s->params) {
            memcpy(s->params, pb, s->nqb * sizeof *pb);
            memcpy(s->params + s->nqb, ph, s->nqh * sizeof *ph);
        }
        rc = biqa_key_bank_init(&s->bank, be, global, cfg->queue_size, s->dim,
                                biqa_rng_u64(cfg->seed, biqa_rng_stream("pretrain/queue"), 0), err);
    }
    if (rc == 0) {
        size_t bytes = (size_t)s->views * s->dim * sizeof(float);
        s->q = be->alloc(be, bytes), s->dq = be->alloc(be, bytes);
        s->dz = be->alloc(be, bytes), s->pos = be->alloc(be, bytes);
        s->rows = malloc(2 * (size_t)s->views * sizeof *s->rows);
        s->cols = malloc(2 * (size_t)s->views * sizeof *s->cols);
        s->partner = malloc((size_t)s->views * sizeof *s->partner);
        if (!s->params || !s->q || !s->dq || !s->dz || !s->pos || !s->rows || !s->cols ||
            !s->partner)
            rc = biqa_fail(err, "moco: out of memory");
    }
    if (rc < 0) {
        biqa_moco_destroy(s);
        return -1;
    }
    *out = s;
    return 0;
}

/* The key encoder on rows x, L2-normalised into keys (no gradient). */
static int encode_keys(void *p, const biqa_tensor *x, biqa_tensor *keys, biqa_error *err)
{
    moco *s = p;
    const biqa_tensor *f, *z, *logits;
    if (biqa_model_forward(s->kb, x, &f, &logits, err) < 0 ||
        biqa_model_forward(s->kh, f, &z, &logits, err) < 0)
        return -1;
    s->shuffle.be->l2norm_fwd(s->shuffle.be, z, L2_EPS, keys);
    return 0;
}

int biqa_moco_step(void *p, const biqa_batch *b, const biqa_tensor *x, float *loss,
                   biqa_error *err)
{
    moco *s = p;
    biqa_backend *be = s->be;
    if (b->views != s->views)
        return biqa_fail(err, "moco: batch of %d views, the key bank was sized for %d", b->views,
                         s->views);
    if (biqa_pair_partners(b, s->partner, err) < 0)
        return -1;
    const int n = s->views, d = s->dim;
    const biqa_tensor *f, *logits;
    /* keys of the global batch: no gradient, straight into the bank's batch rows */
    biqa_tensor keys = biqa_key_bank_batch(&s->bank);
    if (biqa_shuffle_keys(&s->shuffle, b->epoch, b->index, x, encode_keys, s, &keys, err) < 0)
        return -1;
    /* queries */
    const biqa_tensor *qz;
    if (biqa_model_forward(s->qb, x, &f, &logits, err) < 0 ||
        biqa_model_forward(s->qh, f, &qz, &logits, err) < 0)
        return -1;
    biqa_tensor q = biqa_view(s->q, n, d, 1, 1), dq = biqa_view(s->dq, n, d, 1, 1);
    biqa_tensor dz = biqa_view(s->dz, n, d, 1, 1), pos = biqa_view(s->pos, n, d, 1, 1);
    be->l2norm_fwd(be, qz, L2_EPS, &q);
    for (int v = 0; v < n; v++) {
        biqa_tensor dst = biqa_view((float *)s->pos + (size_t)v * d, 1, d, 1, 1);
        biqa_tensor src =
            biqa_view((float *)keys.data + (size_t)(s->off + s->partner[v]) * d, 1, d, 1, 1);
        be->copy(be, &dst, &src);
    }
    biqa_tensor neg = s->negatives_all ? biqa_key_bank_all(&s->bank) : biqa_key_bank_ring(&s->bank);
    int count = s->negatives_all ? biqa_pair_mask(b, s->rows, s->cols) : 0;
    for (int i = 0; i < count; i++) /* the global batch's key columns */
        s->cols[i] += s->off;
    if (biqa_infonce_loss(&s->nce, &q, &pos, &neg, s->rows, s->cols, count, s->tau, loss, &dq,
                          NULL, NULL, err) < 0)
        return -1;
    be->l2norm_bwd(be, qz, &dq, L2_EPS, &dz);
    if (biqa_model_backward(s->qh, &dz, NULL, err) < 0)
        return -1;
    return biqa_model_backward(s->qb, biqa_model_input_grad(s->qh), NULL, err);
}

void biqa_moco_after_update(void *p)
{
    moco *s = p;
    biqa_param *kp, *qp;
    size_t n = biqa_model_params(s->kb, &kp);
    biqa_model_params(s->qb, &qp);
    biqa_momentum_update(s->be, kp, qp, n, s->m);
    n = biqa_model_params(s->kh, &kp);
    biqa_model_params(s->qh, &qp);
    biqa_momentum_update(s->be, kp, qp, n, s->m);
    biqa_key_bank_enqueue(&s->bank);
}

size_t biqa_moco_params(void *p, biqa_param **out)
{
    moco *s = p;
    *out = s->params;
    return s->nqb + s->nqh;
}

biqa_model *biqa_moco_backbone(void *p) { return ((moco *)p)->qb; }

void biqa_moco_key_encoder(void *p, biqa_model **backbone, biqa_model **head)
{
    *backbone = ((moco *)p)->kb, *head = ((moco *)p)->kh;
}

void biqa_moco_query_encoder(void *p, biqa_model **backbone, biqa_model **head)
{
    *backbone = ((moco *)p)->qb, *head = ((moco *)p)->qh;
}

static int create(const biqa_pretrain_config *cfg, int num_classes, biqa_backend *be, void **out,
                  biqa_error *err)
{
    (void)num_classes;
    return biqa_moco_create(cfg, 0, be, out, err);
}

int biqa_moco_snapshot(void *p, biqa_snapshot *snap, biqa_error *err)
{
    moco *s = p;
    biqa_tensor ring = biqa_view(s->bank.mem, s->bank.batch + s->bank.capacity, s->bank.dim, 1, 1);
    if (biqa_snapshot_model(snap, "query.backbone.", s->qb, err) < 0 ||
        biqa_snapshot_model(snap, "query.head.", s->qh, err) < 0 ||
        biqa_snapshot_model(snap, "key.backbone.", s->kb, err) < 0 ||
        biqa_snapshot_model(snap, "key.head.", s->kh, err) < 0 ||
        biqa_snapshot_tensor(snap, "bank.keys", &ring, err) < 0)
        return -1;
    return biqa_snapshot_int(snap, "bank.ptr", &s->bank.ptr, err);
}

const biqa_method biqa_method_moco = {
    .name = "moco", .summary = "MoCo v2: momentum encoder, queue, generic augmentations",
    .recipe = BIQA_RECIPE_MOCO, .create = create, .destroy = biqa_moco_destroy,
    .step = biqa_moco_step, .after_update = biqa_moco_after_update, .params = biqa_moco_params,
    .backbone = biqa_moco_backbone, .snapshot = biqa_moco_snapshot};
