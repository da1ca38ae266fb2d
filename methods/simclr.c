/* simclr: SimCLR (Chen et al. 2020) with NT-Xent over in-batch negatives.
 * One encoder = backbone + MLP projection mlp:D-H-P, embeddings z
 * L2-normalised; two MOCO_V2 views per image (SimCLR's own recipe differs
 * in its blur and jitter strength: 0.8 vs 0.4 [harness choice: one generic
 * recipe for both generic contrastive baselines]). For each of the 2N views
 * the positive is the other view of its image and the negatives are all 2N
 * embeddings with itself and its partner masked: exactly NT-Xent's
 * denominator of 2N - 1 terms (the positive is column 0). No queue, no
 * momentum encoder: the gradient reaches the encoder through the queries,
 * the positives and the negatives alike (dz = dq + dneg + dk permuted).
 *
 * Ranks (methods/dist.h): the negatives are every rank's embeddings (the
 * global batch's 2N, gathered in rank order), each rank's queries its own
 * slice; the negatives' gradients are summed over ranks and each rank takes
 * the rows of its own embeddings, as differentiating through SimCLR's
 * cross-replica concatenation does (google-research/simclr issue #87), so
 * R ranks compute the one-process gradient of the global batch.
 *
 * Knobs: model.backbone, run.seed, pretrain.* [assumed], moco.temperature
 * [assumed] (the contrastive temperature of every method; SimCLR's paper
 * uses 0.1-0.5), moco.proj_hidden [assumed], moco.proj_dim [assumed],
 * qpt.patch_size [assumed] (the view side of every method). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "methods/contrastive.h"
#include "methods/dist.h"
#include "methods/method.h"

#define L2_EPS 1e-12f /* F.normalize's default */

typedef struct simclr {
    biqa_backend *be;
    biqa_dist *dist;
    int views, dim;
    int global, off;     /* views of the global batch; this rank's first */
    void *z_all, *dneg_all; /* global x dim: every rank's embeddings, their gradients */
    float tau;
    biqa_model *bb, *head;
    biqa_param *params;
    size_t nbb, nhead;
    biqa_infonce nce;
    void *z, *pos, *dq, *dk, *dneg, *dz; /* views x dim each */
    int32_t *rows, *cols;
    int *partner;
} simclr;

enum { NBUF = 6 };

static void destroy(void *p)
{
    simclr *s = p;
    biqa_model_destroy(s->bb), biqa_model_destroy(s->head);
    biqa_infonce_free(&s->nce);
    void *bufs[NBUF] = {s->z, s->pos, s->dq, s->dk, s->dneg, s->dz};
    for (int i = 0; i < NBUF; i++)
        if (bufs[i])
            s->be->free(s->be, bufs[i]);
    if (s->z_all)
        s->be->free(s->be, s->z_all);
    if (s->dneg_all)
        s->be->free(s->be, s->dneg_all);
    free(s->params), free(s->rows), free(s->cols), free(s->partner);
    free(s);
}

static int create(const biqa_pretrain_config *cfg, int num_classes, biqa_backend *be, void **out,
                  biqa_error *err)
{
    (void)num_classes;
    if (cfg->proj_dim < 1 || cfg->proj_hidden < 0 || !(cfg->temperature > 0))
        return biqa_fail(err, "moco.proj_dim >= 1, moco.proj_hidden >= 0 and moco.temperature "
                              "> 0 are needed");
    simclr *s = calloc(1, sizeof *s);
    if (!s)
        return biqa_fail(err, "simclr: out of memory");
    const int ranks = biqa_dist_size(cfg->dist);
    s->be = be, s->dist = cfg->dist, s->global = 2 * cfg->batch_size, s->dim = cfg->proj_dim;
    s->views = s->global / ranks, s->off = biqa_dist_rank(cfg->dist) * s->views;
    s->tau = (float)cfg->temperature;
    biqa_infonce_init(&s->nce, be);
    biqa_model_options opt = {.seed = cfg->seed};
    int rc = (s->bb = biqa_model_create(cfg->backbone, &opt, be, err)) ? 0 : -1;
    if (rc == 0) {
        int d = biqa_model_feature_dim(s->bb), h = cfg->proj_hidden > 0 ? cfg->proj_hidden : d;
        char name[64];
        snprintf(name, sizeof name, "mlp:%d-%d-%d", d, h, cfg->proj_dim);
        biqa_model_options hopt = {
            .seed = biqa_rng_u64(cfg->seed, biqa_rng_stream("pretrain/head"), 0), .input_grad = 1};
        rc = (s->head = biqa_model_create(name, &hopt, be, err)) ? 0 : -1;
    }
    if (rc == 0) {
        biqa_model_train(s->bb, 1), biqa_model_train(s->head, 1);
        biqa_param *pb, *ph;
        s->nbb = biqa_model_params(s->bb, &pb), s->nhead = biqa_model_params(s->head, &ph);
        s->params = malloc((s->nbb + s->nhead) * sizeof *s->params);
        if (s->params) {
            memcpy(s->params, pb, s->nbb * sizeof *pb);
            memcpy(s->params + s->nbb, ph, s->nhead * sizeof *ph);
        }
        size_t bytes = (size_t)s->views * s->dim * sizeof(float);
        void **bufs[NBUF] = {&s->z, &s->pos, &s->dq, &s->dk, &s->dneg, &s->dz};
        int ok = s->params != NULL;
        for (int i = 0; i < NBUF; i++)
            ok &= (*bufs[i] = be->alloc(be, bytes)) != NULL;
        s->rows = malloc(2 * (size_t)s->views * sizeof *s->rows);
        s->cols = malloc(2 * (size_t)s->views * sizeof *s->cols);
        s->partner = malloc((size_t)s->views * sizeof *s->partner);
        if (ranks > 1) {
            size_t all = (size_t)s->global * s->dim * sizeof(float);
            ok &= (s->z_all = be->alloc(be, all)) != NULL;
            ok &= (s->dneg_all = be->alloc(be, all)) != NULL;
        }
        if (!ok || !s->rows || !s->cols || !s->partner)
            rc = biqa_fail(err, "simclr: out of memory");
    }
    if (rc < 0) {
        destroy(s);
        return -1;
    }
    *out = s;
    return 0;
}

static biqa_tensor row(void *base, int r, int d)
{
    return biqa_view((float *)base + (size_t)r * d, 1, d, 1, 1);
}

static int step(void *p, const biqa_batch *b, const biqa_tensor *x, float *loss, biqa_error *err)
{
    simclr *s = p;
    biqa_backend *be = s->be;
    if (b->views != s->views)
        return biqa_fail(err, "simclr: batch of %d views, expected %d", b->views, s->views);
    if (biqa_pair_partners(b, s->partner, err) < 0)
        return -1;
    const int n = s->views, d = s->dim;
    const biqa_tensor *f, *zr, *logits;
    if (biqa_model_forward(s->bb, x, &f, &logits, err) < 0 ||
        biqa_model_forward(s->head, f, &zr, &logits, err) < 0)
        return -1;
    biqa_tensor z = biqa_view(s->z, n, d, 1, 1), pos = biqa_view(s->pos, n, d, 1, 1);
    biqa_tensor dq = biqa_view(s->dq, n, d, 1, 1), dk = biqa_view(s->dk, n, d, 1, 1);
    biqa_tensor dneg = biqa_view(s->dneg, n, d, 1, 1), dz = biqa_view(s->dz, n, d, 1, 1);
    be->l2norm_fwd(be, zr, L2_EPS, &z);
    for (int v = 0; v < n; v++) {
        biqa_tensor dst = row(s->pos, v, d), src = row(s->z, s->partner[v], d);
        be->copy(be, &dst, &src);
    }
    int count = biqa_pair_mask(b, s->rows, s->cols);
    if (s->z_all) { /* ranks: the global batch's embeddings are the negatives */
        biqa_tensor z_all = biqa_view(s->z_all, s->global, d, 1, 1);
        biqa_tensor dneg_all = biqa_view(s->dneg_all, s->global, d, 1, 1);
        for (int i = 0; i < count; i++)
            s->cols[i] += s->off;
        if (biqa_dist_gather_rows(s->dist, be, &z, &z_all, err) < 0 ||
            biqa_infonce_loss(&s->nce, &z, &pos, &z_all, s->rows, s->cols, count, s->tau, loss,
                              &dq, &dk, &dneg_all, err) < 0 ||
            biqa_dist_sum(s->dist, be, &dneg_all, err) < 0)
            return -1;
        biqa_tensor own = biqa_view((float *)s->dneg_all + (size_t)s->off * d, n, d, 1, 1);
        be->copy(be, &dneg, &own);
    } else if (biqa_infonce_loss(&s->nce, &z, &pos, &z, s->rows, s->cols, count, s->tau, loss,
                                 &dq, &dk, &dneg, err) < 0) {
        return -1;
    }
    /* dz = dq + dneg, plus dk[v] into the row it was copied from */
    be->add(be, &dq, &dneg, &dq);
    for (int v = 0; v < n; v++) {
        biqa_tensor src = row(s->dk, v, d), dst = row(s->dq, s->partner[v], d);
        be->axpy(be, 1.0f, &src, &dst);
    }
    be->l2norm_bwd(be, zr, &dq, L2_EPS, &dz);
    if (biqa_model_backward(s->head, &dz, NULL, err) < 0)
        return -1;
    return biqa_model_backward(s->bb, biqa_model_input_grad(s->head), NULL, err);
}

static size_t params(void *p, biqa_param **out)
{
    simclr *s = p;
    *out = s->params;
    return s->nbb + s->nhead;
}

static biqa_model *backbone(void *p) { return ((simclr *)p)->bb; }

static int snapshot(void *p, biqa_snapshot *snap, biqa_error *err)
{
    simclr *s = p;
    if (biqa_snapshot_model(snap, "backbone.", s->bb, err) < 0)
        return -1;
    return biqa_snapshot_model(snap, "head.", s->head, err);
}

const biqa_method biqa_method_simclr = {
    .name = "simclr", .summary = "SimCLR: NT-Xent with in-batch negatives",
    .recipe = BIQA_RECIPE_MOCO, .create = create, .destroy = destroy, .step = step,
    .params = params, .backbone = backbone, .snapshot = snapshot};
