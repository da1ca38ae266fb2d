/* Fine-tuning a backbone + regression head (methods/finetune.h). */
#include "methods/finetune.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "methods/dist.h"
#include "methods/model_io.h"
#include "methods/snapshot.h"
#include "results/metrics.h"

/* torchvision's ImageNet normalisation (transforms.Normalize). */
static const float pixel_mean[3] = {0.485f, 0.456f, 0.406f};
static const float pixel_std[3] = {0.229f, 0.224f, 0.225f};

void biqa_crop_to_chw(const biqa_image *im, int x, int y, int patch, int flip, float *dst)
{
    for (int c = 0; c < 3; c++) {
        const float scale = 1.0f / (255.0f * pixel_std[c]), shift = pixel_mean[c] / pixel_std[c];
        float *plane = dst + (size_t)c * patch * patch;
        for (int r = 0; r < patch; r++) {
            const uint8_t *src = im->px + 3 * ((size_t)(y + r) * im->w + x) + c;
            float *row = plane + (size_t)r * patch;
            for (int k = 0; k < patch; k++)
                row[flip ? patch - 1 - k : k] = (float)src[3 * k] * scale - shift;
        }
    }
}

void biqa_crop_origin(int w, int h, int patch, int c, int crops, int *x, int *y)
{
    const int mx = w - patch, my = h - patch;
    if (crops <= 5) {
        static const int fx[5] = {1, 0, 2, 0, 2}, fy[5] = {1, 0, 0, 2, 2}; /* halves of mx, my */
        *x = fx[c] * mx / 2, *y = fy[c] * my / 2;
        return;
    }
    int g = (int)ceil(sqrt((double)crops));
    *x = (c % g) * mx / (g - 1), *y = (c / g) * my / (g - 1);
}

int biqa_predict_crops(biqa_backend *be, biqa_model *backbone, biqa_model *head,
                       const biqa_image *images, const size_t *rows, size_t n, int patch,
                       int crops, int batch, double *out, biqa_error *err)
{
    const int width = head ? 1 : biqa_model_feature_dim(backbone);
    const size_t per = (size_t)3 * patch * patch, cap = (size_t)batch * crops;
    float *host = malloc(cap * per * sizeof *host);
    float *res = malloc(cap * (size_t)width * sizeof *res);
    void *dev = be->alloc(be, cap * per * sizeof(float));
    int rc = host && res && dev ? 0 : biqa_fail(err, "predicting: out of memory");
    biqa_model_train(backbone, 0);
    if (head)
        biqa_model_train(head, 0);
    for (size_t at = 0; rc == 0 && at < n; at += (size_t)batch) {
        size_t m = n - at < (size_t)batch ? n - at : (size_t)batch, k = 0;
        for (size_t i = 0; i < m; i++) {
            const biqa_image *im = &images[rows[at + i]];
            for (int c = 0; c < crops; c++, k++) {
                int x, y;
                biqa_crop_origin(im->w, im->h, patch, c, crops, &x, &y);
                biqa_crop_to_chw(im, x, y, patch, 0, host + k * per);
            }
        }
        be->upload(be, dev, host, k * per);
        biqa_tensor xt = biqa_view(dev, (int)k, 3, patch, patch);
        const biqa_tensor *feat, *logits, *pred;
        rc = biqa_model_forward(backbone, &xt, &feat, &logits, err);
        if (rc == 0 && head)
            rc = biqa_model_forward(head, feat, &pred, &logits, err);
        if (rc < 0)
            break;
        be->download(be, res, (head ? pred : feat)->data, k * (size_t)width);
        for (size_t i = 0; i < m; i++)
            for (int j = 0; j < width; j++) {
                double s = 0;
                for (int c = 0; c < crops; c++)
                    s += res[(i * crops + c) * width + j];
                out[(at + i) * width + j] = s / crops;
            }
    }
    if (dev)
        be->free(be, dev);
    free(host);
    free(res);
    return rc;
}

char *biqa_finetune_head_path(const char *ckpt_path)
{
    size_t len = strlen(ckpt_path), ext = strlen(".safetensors");
    if (len >= ext && !strcmp(ckpt_path + len - ext, ".safetensors"))
        len -= ext;
    char *p = malloc(len + sizeof ".head.safetensors");
    if (p)
        sprintf(p, "%.*s.head.safetensors", (int)len, ckpt_path);
    return p;
}

static int save_pair(biqa_model *backbone, biqa_model *head, const biqa_finetune_config *cfg,
                     const char *path, const char *head_path, biqa_error *err)
{
    char meta[512];
    snprintf(meta, sizeof meta,
             "{\"format\": \"biqa-finetune\", \"backbone\": \"%s\", \"head\": \"mlp:%d-1\", "
             "\"run_id\": \"%lld\"}",
             cfg->backbone, biqa_model_feature_dim(backbone), cfg->run_id);
    if (biqa_model_save(backbone, path, meta, err) < 0)
        return -1;
    return biqa_model_save(head, head_path, meta, err);
}

/* Creates a backbone with the classifier its weights have (so a strict load
 * takes a supervised checkpoint as it is) and loads them. */
static biqa_model *backbone_from(biqa_backend *be, const char *name, const char *weights,
                                 uint64_t seed, biqa_error *err)
{
    biqa_model_options opt = {.num_classes = 0, .seed = seed};
    if (weights && biqa_weights_classes(weights, &opt.num_classes, err) < 0)
        return NULL;
    biqa_model *m = biqa_model_create(name, &opt, be, err);
    if (m && weights && biqa_model_load(m, weights, 1, err) < 0) {
        biqa_model_destroy(m);
        return NULL;
    }
    return m;
}

int biqa_finetune_load(biqa_backend *be, const char *ckpt_path, biqa_model **backbone,
                       biqa_model **head, biqa_error *err)
{
    *backbone = *head = NULL;
    biqa_safetensors st;
    if (biqa_st_open(ckpt_path, &st, err) < 0)
        return -1;
    const char *fmt = biqa_st_meta(&st, "format"), *name = biqa_st_meta(&st, "backbone");
    const char *head_name = biqa_st_meta(&st, "head");
    char *head_path = biqa_finetune_head_path(ckpt_path);
    int rc = 0;
    if (!fmt || strcmp(fmt, "biqa-finetune") || !name || !head_name)
        rc = biqa_fail(err, "%s: not a biqa fine-tuned checkpoint (its metadata lacks format "
                            "\"biqa-finetune\", backbone and head)", ckpt_path);
    else if (!head_path)
        rc = biqa_fail(err, "%s: out of memory", ckpt_path);
    if (rc == 0 && !(*backbone = backbone_from(be, name, ckpt_path, 0, err)))
        rc = -1;
    biqa_model_options hopt = {0};
    if (rc == 0 && (!(*head = biqa_model_create(head_name, &hopt, be, err)) ||
                    biqa_model_load(*head, head_path, 1, err) < 0))
        rc = -1;
    if (rc < 0) {
        biqa_model_destroy(*backbone);
        biqa_model_destroy(*head);
        *backbone = *head = NULL;
    }
    free(head_path);
    biqa_st_close(&st);
    return rc;
}

void biqa_finetune_result_free(biqa_finetune_result *r)
{
    free(r->train_loss);
    free(r->val_srcc);
    free(r->pred);
    memset(r, 0, sizeof *r);
}

/* The training state of one fine-tuning. */
typedef struct trainer {
    biqa_backend *be;
    const biqa_finetune_config *cfg;
    const biqa_ds_data *d;
    biqa_model *backbone, *head;
    biqa_optim *optim;
    biqa_param *params; /* backbone's then head's */
    size_t nparams;
    float *host, *host_y;
    void *x_dev, *y_dev, *dy_dev;
} trainer;

/* One epoch over the training rows; *loss = the mean batch loss. */
static int train_epoch(trainer *t, int epoch, const size_t *train, size_t ntrain, double *loss,
                       biqa_error *err)
{
    const biqa_finetune_config *cfg = t->cfg;
    const int p = cfg->patch;
    const size_t per = (size_t)3 * p * p;
    size_t *order = malloc(ntrain * sizeof *order);
    if (!order)
        return biqa_fail(err, "fine-tuning: out of memory");
    memcpy(order, train, ntrain * sizeof *order);
    const uint64_t s_order = biqa_rng_stream("finetune/order");
    const uint64_t s_crop = biqa_rng_stream("finetune/crop");
    for (size_t i = ntrain; i-- > 1;) {
        size_t j = (size_t)biqa_rng_below(cfg->seed, s_order, ((uint64_t)epoch << 32) + i, i + 1);
        size_t tmp = order[i];
        order[i] = order[j], order[j] = tmp;
    }
    biqa_model_train(t->backbone, 1);
    biqa_model_train(t->head, 1);
    const size_t ranks = (size_t)biqa_dist_size(cfg->dist);
    const size_t rank = (size_t)biqa_dist_rank(cfg->dist);
    double sum = 0;
    int batches = 0, rc = 0;
    for (size_t at = 0; rc == 0 && at + 1 < ntrain; at += (size_t)cfg->batch_size) {
        size_t all = ntrain - at < (size_t)cfg->batch_size ? ntrain - at : (size_t)cfg->batch_size;
        if (all < 2 || all < ranks)
            break;
        /* This rank's slice of the batch (all of it without ranks). */
        const size_t lo = all * rank / ranks, m = all * (rank + 1) / ranks - lo;
        for (size_t i = 0; i < m; i++) {
            size_t item = order[at + lo + i];
            const biqa_image *im = &t->d->images[item];
            uint64_t key = ((uint64_t)epoch << 40) + 4 * (uint64_t)item;
            int x = (int)biqa_rng_below(cfg->seed, s_crop, key, (uint64_t)(im->w - p + 1));
            int y = (int)biqa_rng_below(cfg->seed, s_crop, key + 1, (uint64_t)(im->h - p + 1));
            int flip = (int)biqa_rng_below(cfg->seed, s_crop, key + 2, 2);
            biqa_crop_to_chw(im, x, y, p, flip, t->host + i * per);
            t->host_y[i] = (float)t->d->mos[item];
        }
        t->be->upload(t->be, t->x_dev, t->host, m * per);
        t->be->upload(t->be, t->y_dev, t->host_y, m);
        biqa_tensor x = biqa_view(t->x_dev, (int)m, 3, p, p);
        biqa_tensor y = biqa_view(t->y_dev, (int)m, 1, 1, 1);
        biqa_tensor dy = biqa_view(t->dy_dev, (int)m, 1, 1, 1);
        const biqa_tensor *feat, *logits, *pred;
        float l = 0;
        biqa_optim_zero_grad(t->optim);
        rc = biqa_model_forward(t->backbone, &x, &feat, &logits, err);
        if (rc == 0)
            rc = biqa_model_forward(t->head, feat, &pred, &logits, err);
        /* A rank's gradient counts by its share m / all of the batch: scaled
         * by m R / all here, then averaged over the R ranks. */
        const float dloss = ranks > 1 ? (float)((double)m * (double)ranks / (double)all) : 1.0f;
        if (rc == 0) {
            t->be->regress(t->be, cfg->loss, 1.0f, pred, &y, dloss, &l, &dy);
            rc = biqa_model_backward(t->head, &dy, NULL, err);
        }
        if (rc == 0)
            rc = biqa_model_backward(t->backbone, biqa_model_input_grad(t->head), NULL, err);
        if (rc == 0 && cfg->dist) {
            double gl = l;
            rc = biqa_dist_average(cfg->dist, t->params, t->nparams, &gl,
                                   (double)m / (double)all, err);
            l = (float)gl;
        }
        if (rc == 0) {
            biqa_optim_step(t->optim, (float)cfg->lr);
            sum += l;
            batches++;
        }
    }
    free(order);
    *loss = batches ? sum / batches : NAN;
    return rc;
}

/* Model selection after an epoch (rank 0's work with ranks). */
typedef struct selection {
    const size_t *val;
    size_t nval;
    double *vpred, *vmos, best;
    const char *ckpt_path, *head_path;
    biqa_snapshot *snap;
} selection;

/* Validation SRCC of epoch e, the checkpoint when it is the best so far,
 * the curve to epoch_done, the snapshot. */
static int epoch_end(trainer *t, selection *s, int e, biqa_finetune_result *out, biqa_error *err)
{
    const biqa_finetune_config *cfg = t->cfg;
    int rc = 0;
    out->val_srcc[e] = NAN;
    if (s->nval) {
        rc = biqa_predict_crops(t->be, t->backbone, t->head, t->d->images, s->val, s->nval,
                                cfg->patch, cfg->crops, cfg->batch_size, s->vpred, err);
        for (size_t i = 0; i < s->nval; i++)
            s->vmos[i] = t->d->mos[s->val[i]];
        if (rc == 0)
            out->val_srcc[e] = biqa_srcc(s->vmos, s->vpred, s->nval);
    }
    /* Keep the best validation SRCC; without validation, the last epoch. */
    int keep = out->best_epoch < 0 || (s->nval ? out->val_srcc[e] > s->best : 1);
    if (rc == 0 && keep) {
        out->best_epoch = e;
        if (s->nval && !isnan(out->val_srcc[e]))
            s->best = out->val_srcc[e];
        rc = save_pair(t->backbone, t->head, cfg, s->ckpt_path, s->head_path, err);
    }
    if (rc == 0)
        biqa_info("finetune: epoch %d/%d loss %.5f val SRCC %.4f%s", e + 1, cfg->epochs,
                  out->train_loss[e], out->val_srcc[e], keep ? " (kept)" : "");
    if (rc == 0 && cfg->epoch_done)
        rc = cfg->epoch_done(cfg->epoch_ctx, e, out->train_loss[e], out->val_srcc[e], err);
    /* After the kept checkpoint is on disk, so the two always agree. */
    if (rc == 0 && cfg->snapshot_path) {
        biqa_snapshot_pos at = {.epoch = e + 1, .best_epoch = out->best_epoch,
                                .best_score = s->best};
        rc = biqa_snapshot_save(s->snap, t->be, cfg->snapshot_path, &at, err);
    }
    return rc;
}

static int check_config(const biqa_finetune_config *cfg, const biqa_ds_data *d, biqa_error *err)
{
    if (cfg->loss < BIQA_LOSS_L1 || cfg->loss > BIQA_LOSS_MSE)
        return biqa_fail(err, "finetune.loss: unknown loss %d", cfg->loss);
    if (cfg->epochs < 1 || cfg->batch_size < 2 || cfg->patch < 16 || cfg->crops < 1)
        return biqa_fail(err, "finetune: epochs >= 1, batch_size >= 2, patch_size >= 16 and "
                              "test_crops >= 1 are needed (got %d, %d, %d, %d)",
                         cfg->epochs, cfg->batch_size, cfg->patch, cfg->crops);
    if (!(cfg->lr > 0) || !(cfg->weight_decay >= 0))
        return biqa_fail(err, "finetune: lr > 0 and weight_decay >= 0 are needed");
    for (size_t i = 0; i < d->n; i++)
        if (d->images[i].w < cfg->patch || d->images[i].h < cfg->patch)
            return biqa_fail(err, "finetune.patch_size %d: image %zu is only %d x %d", cfg->patch,
                             i, d->images[i].w, d->images[i].h);
    return 0;
}

/* Rows of part p (malloc'd). */
static size_t *rows_of(const biqa_ds_data *d, int p, size_t *n)
{
    size_t *rows = malloc((d->n ? d->n : 1) * sizeof *rows);
    *n = 0;
    for (size_t i = 0; rows && i < d->n; i++)
        if (d->part[i] == p)
            rows[(*n)++] = i;
    return rows;
}

int biqa_finetune(biqa_backend *be, const biqa_finetune_config *cfg, const biqa_ds_data *d,
                  const char *ckpt_path, biqa_finetune_result *out, biqa_error *err)
{
    memset(out, 0, sizeof *out);
    if (check_config(cfg, d, err) < 0)
        return -1;
    const int lead = biqa_dist_rank(cfg->dist) == 0;
    be = biqa_dist_train_backend(cfg->dist, be); /* synchronised batch norm with ranks */
    trainer t = {.be = be, .cfg = cfg, .d = d};
    size_t ntrain, nval;
    size_t *train = rows_of(d, BIQA_DS_TRAIN, &ntrain), *val = rows_of(d, BIQA_DS_VAL, &nval);
    size_t *all = malloc((d->n ? d->n : 1) * sizeof *all);
    char *head_path = biqa_finetune_head_path(ckpt_path);
    double *vpred = malloc((nval ? nval : 1) * sizeof *vpred), *vmos = malloc((nval ? nval : 1) * sizeof *vmos);
    out->epochs = cfg->epochs;
    out->train_loss = malloc((size_t)cfg->epochs * sizeof(double));
    out->val_srcc = malloc((size_t)cfg->epochs * sizeof(double));
    out->pred = malloc((d->n ? d->n : 1) * sizeof(double));
    const size_t per = (size_t)3 * cfg->patch * cfg->patch, b = (size_t)cfg->batch_size;
    t.host = malloc(b * per * sizeof(float));
    t.host_y = malloc(b * sizeof(float));
    t.x_dev = be->alloc(be, b * per * sizeof(float));
    t.y_dev = be->alloc(be, b * sizeof(float));
    t.dy_dev = be->alloc(be, b * sizeof(float));
    int rc = train && val && all && head_path && vpred && vmos && out->train_loss &&
                     out->val_srcc && out->pred && t.host && t.host_y && t.x_dev && t.y_dev &&
                     t.dy_dev
                 ? 0
                 : biqa_fail(err, "fine-tuning: out of memory");
    if (rc == 0 && ntrain < 2)
        rc = biqa_fail(err, "fine-tuning: %zu training images; at least 2 are needed", ntrain);
    if (rc == 0 && !(t.backbone = backbone_from(be, cfg->backbone, cfg->init_weights, cfg->seed, err)))
        rc = -1;
    char head_name[64];
    if (rc == 0) {
        snprintf(head_name, sizeof head_name, "mlp:%d-1", biqa_model_feature_dim(t.backbone));
        biqa_model_options hopt = {.seed = biqa_rng_u64(cfg->seed, biqa_rng_stream("finetune/head"), 0),
                                   .input_grad = 1};
        if (!(t.head = biqa_model_create(head_name, &hopt, be, err)))
            rc = -1;
    }
    biqa_param *combined = NULL;
    if (rc == 0) {
        biqa_param *pb, *ph;
        size_t nb = biqa_model_params(t.backbone, &pb), nh = biqa_model_params(t.head, &ph);
        /* The head's bias starts at the training MOS mean: training starts
         * from the best constant predictor instead of spending its first
         * steps on the offset. */
        double mean = 0;
        for (size_t i = 0; i < ntrain; i++)
            mean += d->mos[train[i]] / (double)ntrain;
        for (size_t i = 0; i < nh; i++)
            if (!strcmp(ph[i].name, "0.bias"))
                be->fill(be, &ph[i].value, (float)mean);
        combined = malloc((nb + nh) * sizeof *combined);
        if (!combined) {
            rc = biqa_fail(err, "fine-tuning: out of memory");
        } else {
            memcpy(combined, pb, nb * sizeof *pb);
            memcpy(combined + nb, ph, nh * sizeof *ph);
            t.params = combined, t.nparams = nb + nh;
            biqa_optim_config oc = {.kind = BIQA_OPTIM_ADAMW, .weight_decay = (float)cfg->weight_decay,
                                    .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
            if (!(t.optim = biqa_optim_create(be, &oc, combined, nb + nh, err)))
                rc = -1;
        }
    }
    selection sel = {.val = val, .nval = nval, .vpred = vpred, .vmos = vmos, .best = -INFINITY,
                     .ckpt_path = ckpt_path, .head_path = head_path};
    out->best_epoch = -1;
    biqa_snapshot snap;
    biqa_snapshot_init(&snap);
    biqa_snapshot_pos pos = {0};
    for (int e = 0; e < cfg->epochs && out->train_loss; e++)
        out->train_loss[e] = out->val_srcc[e] = NAN;
    if (rc == 0 && cfg->snapshot_path &&
        (biqa_snapshot_model(&snap, "backbone.", t.backbone, err) < 0 ||
         biqa_snapshot_model(&snap, "head.", t.head, err) < 0 ||
         biqa_snapshot_optim(&snap, "optim.", t.optim, err) < 0))
        rc = -1;
    sel.snap = &snap;
    if (cfg->dist) /* every rank set up, or none trains */
        rc = biqa_dist_agree(cfg->dist, rc, err);
    if (rc == 0 && cfg->snapshot_path && cfg->resume) {
        /* Rank 0 reads the snapshot and hands it to the others. */
        int lrc = lead ? biqa_snapshot_load(&snap, be, cfg->snapshot_path, &pos, err) : 0;
        rc = biqa_dist_share_snapshot(cfg->dist, &snap, &pos, lrc, err);
        out->best_epoch = (int)pos.best_epoch, sel.best = pos.best_score;
        if (rc == 0)
            biqa_info("finetune: resuming after epoch %lld from %s", (long long)pos.epoch,
                      cfg->snapshot_path);
    }
    for (int e = (int)pos.epoch; rc == 0 && e < cfg->epochs; e++) {
        rc = train_epoch(&t, e, train, ntrain, &out->train_loss[e], err);
        if (rc == 0) /* rank 0 selects and writes; every rank learns how that went */
            rc = biqa_dist_agree(cfg->dist, lead ? epoch_end(&t, &sel, e, out, err) : 0, err);
    }
    biqa_snapshot_free(&snap);
    const int trained = rc == 0;
    /* Reload the selected epoch and predict every item with it (rank 0). */
    if (lead && rc == 0 && out->best_epoch != cfg->epochs - 1 &&
        (biqa_model_load(t.backbone, ckpt_path, 1, err) < 0 ||
         biqa_model_load(t.head, head_path, 1, err) < 0))
        rc = -1;
    for (size_t i = 0; i < d->n && all; i++)
        all[i] = i;
    if (lead && rc == 0)
        rc = biqa_predict_crops(be, t.backbone, t.head, d->images, all, d->n, cfg->patch,
                                cfg->crops, cfg->batch_size, out->pred, err);
    if (trained && cfg->dist)
        rc = biqa_dist_agree(cfg->dist, rc, err);
    biqa_optim_destroy(t.optim);
    free(combined);
    biqa_model_destroy(t.head);
    biqa_model_destroy(t.backbone);
    if (t.x_dev)
        be->free(be, t.x_dev);
    if (t.y_dev)
        be->free(be, t.y_dev);
    if (t.dy_dev)
        be->free(be, t.dy_dev);
    free(t.host), free(t.host_y), free(train), free(val), free(all), free(head_path);
    free(vpred), free(vmos);
    if (rc < 0)
        biqa_finetune_result_free(out);
    return rc;
}
