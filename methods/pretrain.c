/* The method table and the training loop every pretraining method shares
 * (methods/method.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "methods/dist.h"
#include "methods/method.h"

static const biqa_method *const table[] = {&biqa_method_scratch, &biqa_method_supervised,
                                           &biqa_method_moco, &biqa_method_simclr,
                                           &biqa_method_qpt};

int biqa_method_count(void) { return (int)(sizeof table / sizeof table[0]); }
const biqa_method *biqa_method_at(int i) { return table[i]; }

const biqa_method *biqa_method_find(const char *name)
{
    for (int i = 0; i < biqa_method_count(); i++)
        if (!strcmp(table[i]->name, name))
            return table[i];
    return NULL;
}

/* ---- pairs ---- */

int biqa_pair_partners(const biqa_batch *b, int *partner, biqa_error *err)
{
    for (int v = 0; v < b->views; v++) {
        int found = 0;
        for (int u = 0; u < b->views; u++)
            if (u != v && b->group[u] == b->group[v])
                partner[v] = u, found++;
        if (found != 1)
            return biqa_fail(err, "batch %d: view %d's group %d has %d other views, not 1",
                             b->index, v, b->group[v], found);
    }
    return 0;
}

int biqa_pair_mask(const biqa_batch *b, int32_t *rows, int32_t *cols)
{
    int n = 0;
    for (int r = 0; r < b->views; r++)
        for (int c = 0; c < b->views; c++)
            if (b->group[c] == b->group[r])
                rows[n] = r, cols[n] = c, n++;
    return n;
}

/* ---- the pretrainer ---- */

int biqa_pretrainer_init(biqa_pretrainer *p, const biqa_method *m, const biqa_pretrain_config *cfg,
                         int num_classes, biqa_backend *be, biqa_error *err)
{
    memset(p, 0, sizeof *p);
    p->method = m, p->cfg = cfg, p->be = be;
    if (m->create(cfg, num_classes, be, &p->state, err) < 0)
        return -1;
    if (!m->step)
        return 0;
    p->nparams = m->params(p->state, &p->params);
    biqa_optim_config oc = {.kind = BIQA_OPTIM_SGD, .momentum = (float)cfg->momentum,
                            .weight_decay = (float)cfg->weight_decay};
    if (!(p->optim = biqa_optim_create(be, &oc, p->params, p->nparams, err))) {
        biqa_pretrainer_free(p);
        return -1;
    }
    return 0;
}

void biqa_pretrainer_free(biqa_pretrainer *p)
{
    if (p->x_dev)
        p->be->free(p->be, p->x_dev);
    biqa_optim_destroy(p->optim);
    if (p->state)
        p->method->destroy(p->state);
    memset(p, 0, sizeof *p);
}

int biqa_pretrainer_step(biqa_pretrainer *p, const biqa_batch *b, float lr, float *loss,
                         biqa_error *err)
{
    size_t n = (size_t)b->views * 3 * b->size * b->size;
    if (n > p->x_cap) {
        if (p->x_dev)
            p->be->free(p->be, p->x_dev);
        p->x_dev = p->be->alloc(p->be, n * sizeof(float));
        p->x_cap = p->x_dev ? n : 0;
        if (!p->x_dev)
            return biqa_fail(err, "%s: out of memory for a batch of %d views", p->method->name,
                             b->views);
    }
    p->be->upload(p->be, p->x_dev, b->x, n);
    biqa_tensor x = biqa_view(p->x_dev, b->views, 3, b->size, b->size);
    biqa_optim_zero_grad(p->optim);
    if (p->method->step(p->state, b, &x, loss, err) < 0)
        return -1;
    if (p->cfg->dist) { /* every rank's gradients averaged, the loss of the global batch */
        double l = *loss;
        if (biqa_dist_average(p->cfg->dist, p->params, p->nparams, &l,
                              1.0 / biqa_dist_size(p->cfg->dist), err) < 0)
            return -1;
        *loss = (float)l;
    }
    if (!isfinite(*loss)) /* the same on every rank: agreed */
        return biqa_dist_agree(p->cfg->dist,
                               biqa_fail(err, "%s: the loss is %g at batch %d of epoch %llu "
                                              "(lower pretrain.lr?)", p->method->name, *loss,
                                         b->index, (unsigned long long)b->epoch), err);
    biqa_optim_step(p->optim, lr);
    if (p->method->after_update)
        p->method->after_update(p->state);
    return 0;
}

/* ---- the loop ---- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int check_config(const biqa_pretrain_config *c, biqa_error *err)
{
    if (c->epochs < 1 || c->batch_size < 2)
        return biqa_fail(err, "pretrain.epochs >= 1 and pretrain.batch_size >= 2 are needed "
                              "(got %d, %d)", c->epochs, c->batch_size);
    if (c->batch_size % biqa_dist_size(c->dist))
        return biqa_fail(err, "pretrain.batch_size %d: not a multiple of the %d ranks (each "
                              "takes an equal share)", c->batch_size, biqa_dist_size(c->dist));
    if (!(c->lr > 0) || !(c->momentum >= 0) || !(c->weight_decay >= 0) || c->warmup_epochs < 0)
        return biqa_fail(err, "pretrain.lr > 0, pretrain.momentum >= 0, pretrain.weight_decay "
                              ">= 0 and pretrain.warmup_epochs >= 0 are needed");
    if (c->warmup_epochs >= c->epochs)
        return biqa_fail(err, "pretrain.warmup_epochs %d: must be below pretrain.epochs %d",
                         c->warmup_epochs, c->epochs);
    return 0;
}

/* lr = pretrain.lr x batch / 256 (Goyal et al.'s linear scaling, as MoCo).
 * Cosine decays to 0 at the last step. "step" is StepLR with gamma 0.1
 * every third of the post-warm-up steps [harness choice; MoCo v1 divides
 * by 10 at epochs 120 and 160 of 200, a multi-step schedule optim.h lacks]. */
static int make_schedule(const biqa_pretrain_config *c, long per_epoch, biqa_schedule *s,
                         biqa_error *err)
{
    memset(s, 0, sizeof *s);
    s->kind = c->schedule;
    s->base_lr = c->lr * c->batch_size / 256.0;
    s->total_steps = per_epoch * c->epochs;
    s->warmup_steps = per_epoch * c->warmup_epochs;
    s->min_lr = 0;
    long post = s->total_steps - s->warmup_steps;
    s->step_size = post / 3 > 0 ? post / 3 : 1;
    s->gamma = 0.1;
    return biqa_schedule_check(s, err);
}

static void progress(const biqa_method *m, long step, long total, double t0, double loss,
                     int items)
{
    double el = now() - t0, rate = el > 0 ? step / el : 0;
    double eta = rate > 0 ? (total - step) / rate : 0;
    biqa_info("pretrain %s: step %ld/%ld, %.2f steps/s (%.1f images/s), ETA %.0f s, loss %.4f",
              m->name, step, total, rate, rate * items, eta, loss);
}

/* Rank 0 writes the snapshot; every rank learns how that went. */
static int save_snapshot(biqa_pretrainer *p, const biqa_snapshot *snap,
                         const biqa_snapshot_pos *at, biqa_error *err)
{
    const biqa_pretrain_config *c = p->cfg;
    int rc = biqa_dist_rank(c->dist) == 0
                 ? biqa_snapshot_save(snap, p->be, c->snapshot_path, at, err) : 0;
    return biqa_dist_agree(c->dist, rc, err);
}

/* The next batch: 1, 0 at the epoch's end (on every rank at once: every
 * rank has the same batch count), -1 when any rank could not read it. */
static int next_batch(const biqa_pretrain_config *c, biqa_loader *L, const biqa_batch **b,
                      biqa_error *err)
{
    int got = biqa_loader_next(L, b, err);
    return biqa_dist_agree(c->dist, got < 0 ? -1 : 0, err) < 0 ? -1 : got;
}

/* Unreadable images since the last call, to the sink (rank 0: every rank's). */
static int report_failures(const biqa_pretrain_config *c, const biqa_folder *data, biqa_loader *L,
                           const biqa_pretrain_sink *sink, int *reported, biqa_error *err)
{
    int nf, rc = 0;
    const biqa_loader_failure *f = biqa_loader_failures(L, &nf);
    if (c->dist) {
        rc = biqa_dist_failures(c->dist, data, f + *reported, nf - *reported,
                                sink ? sink->failure : NULL, sink ? sink->ctx : NULL, err);
        *reported = nf;
        return rc;
    }
    for (; rc == 0 && *reported < nf; (*reported)++)
        if (sink && sink->failure)
            rc = sink->failure(sink->ctx, f[*reported].path, f[*reported].error, err);
    return rc;
}

/* The snapshot of a pretrainer: the method's state and the optimiser's. */
static int snapshot_of(biqa_pretrainer *p, biqa_snapshot *snap, biqa_error *err)
{
    biqa_snapshot_init(snap);
    if (!p->method->snapshot)
        return biqa_fail(err, "%s: the method has no training snapshot", p->method->name);
    if (p->method->snapshot(p->state, snap, err) < 0 ||
        biqa_snapshot_optim(snap, "optim.", p->optim, err) < 0) {
        biqa_snapshot_free(snap);
        return -1;
    }
    return 0;
}

static int train(biqa_pretrainer *p, const biqa_folder *data, const biqa_pretrain_sink *sink,
                 biqa_error *err)
{
    const biqa_pretrain_config *c = p->cfg;
    biqa_recipe recipe = biqa_recipe_default(p->method->recipe, c->size);
    if (recipe.kind == BIQA_RECIPE_QPT) {
        recipe.variants = c->variants;
        recipe.iou_min = c->iou_min, recipe.iou_max = c->iou_max;
        recipe.sampler = c->sampler;
    }
    biqa_loader_config lc = {.folder = data, .recipe = recipe, .batch = c->batch_size,
                             .threads = c->threads, .prefetch = 2, .seed = c->seed,
                             .shard = biqa_dist_rank(c->dist),
                             .shards = biqa_dist_size(c->dist)};
    biqa_loader *L = NULL;
    biqa_snapshot snap;
    biqa_snapshot_pos pos = {0};
    if (biqa_recipe_check(&recipe, err) < 0)
        return -1;
    if (c->snapshot_path && snapshot_of(p, &snap, err) < 0)
        return -1;
    if (c->snapshot_path && c->resume) {
        /* Rank 0 reads it and hands it to the others. */
        int lrc = biqa_dist_rank(c->dist) == 0
                      ? biqa_snapshot_load(&snap, p->be, c->snapshot_path, &pos, err) : 0;
        if (biqa_dist_share_snapshot(c->dist, &snap, &pos, lrc, err) < 0) {
            biqa_snapshot_free(&snap);
            return -1;
        }
        biqa_info("pretrain %s: resuming at epoch %lld, batch %lld (step %lld) from %s",
                  p->method->name, (long long)pos.epoch + 1, (long long)pos.batch,
                  (long long)pos.step, c->snapshot_path);
    }
    if (biqa_loader_create(&lc, &L, err) < 0) {
        if (c->snapshot_path)
            biqa_snapshot_free(&snap);
        return -1;
    }
    const long per_epoch = biqa_loader_batches(L), total = per_epoch * c->epochs;
    biqa_schedule sched;
    int rc = make_schedule(c, per_epoch, &sched, err);
    int reported = 0; /* of this loader's failure list */
    long step = (long)pos.step;
    const long step0 = step;
    const double t0 = now();
    for (int e = (int)pos.epoch; rc == 0 && e < c->epochs; e++) {
        const int resumed = e == (int)pos.epoch;
        long batch = resumed ? (long)pos.batch : 0;
        biqa_loader_seek(L, (uint64_t)e, (int)batch);
        double sum = resumed ? pos.loss_sum : 0;
        long nb = resumed ? (long)pos.loss_n : 0;
        const biqa_batch *b;
        while (rc == 0 && (rc = next_batch(c, L, &b, err)) == 1) {
            float loss = 0;
            rc = biqa_pretrainer_step(p, b, (float)biqa_schedule_lr(&sched, step), &loss, err);
            if (rc < 0)
                break;
            sum += loss, nb++, step++, batch++;
            if (step % c->progress_every == 0 || step == total)
                progress(p->method, step - step0, total - step0, t0, loss,
                         b->items * biqa_dist_size(c->dist));
            rc = report_failures(c, data, L, sink, &reported, err);
            if (rc == 0 && c->snapshot_path && c->snapshot_every > 0 && batch < per_epoch &&
                step % c->snapshot_every == 0) {
                biqa_snapshot_pos at = {.epoch = e, .batch = batch, .step = step, .loss_n = nb,
                                        .failures = pos.failures + reported, .loss_sum = sum};
                rc = save_snapshot(p, &snap, &at, err);
            }
        }
        if (rc == 0) { /* the sink writes (rank 0's alone has one): agreed */
            const double mean = nb ? sum / nb : NAN;
            rc = biqa_dist_agree(c->dist, sink && sink->epoch_loss
                                              ? sink->epoch_loss(sink->ctx, e, mean, err) : 0,
                                 err);
        }
        if (rc == 0)
            biqa_info("pretrain %s: epoch %d/%d mean loss %.5f", p->method->name, e + 1,
                      c->epochs, nb ? sum / nb : NAN);
        if (rc == 0 && c->snapshot_path) {
            biqa_snapshot_pos at = {.epoch = e + 1, .step = step,
                                    .failures = pos.failures + reported};
            rc = save_snapshot(p, &snap, &at, err);
        }
    }
    if (rc == 0 && biqa_loader_failed_reads(L) > 0)
        biqa_warn("pretrain %s: %ld unreadable image reads replaced (recorded with the run)",
                  p->method->name, biqa_loader_failed_reads(L));
    biqa_loader_destroy(L);
    if (c->snapshot_path)
        biqa_snapshot_free(&snap);
    return rc;
}

int biqa_pretrain(const biqa_method *m, const biqa_pretrain_config *cfg, const biqa_folder *data,
                  biqa_backend *be, const biqa_pretrain_sink *sink, const char *ckpt_path,
                  biqa_error *err)
{
    if (cfg->progress_every < 1)
        return biqa_fail(err, "pretrain: progress_every must be >= 1");
    if (m->step && check_config(cfg, err) < 0)
        return -1;
    biqa_pretrainer p;
    /* With ranks, the models train with synchronised batch norm. */
    if (biqa_pretrainer_init(&p, m, cfg, data->nclasses, biqa_dist_train_backend(cfg->dist, be),
                             err) < 0)
        return -1;
    int rc = m->step ? train(&p, data, sink, err) : 0;
    if (rc == 0) { /* rank 0 writes the checkpoint, every rank learns how that went */
        char meta[256];
        snprintf(meta, sizeof meta, "{\"method\": \"%s\", \"run_id\": \"%lld\"}", m->name,
                 (long long)cfg->run_id);
        rc = biqa_dist_agree(cfg->dist, biqa_dist_rank(cfg->dist) == 0
                                            ? biqa_model_save(m->backbone(p.state), ckpt_path,
                                                              meta, err)
                                            : 0, err);
    }
    biqa_pretrainer_free(&p);
    return rc;
}
