/* supervised: classification of the pretraining folder's class labels
 * (the ImageNet-supervised baseline in miniature): backbone with a
 * classifier fc of one output per class folder, softmax cross-entropy,
 * CLASSIFY recipe (RandomResizedCrop + flip, datasets/augment.h). The
 * checkpoint keeps the fc, as torchvision's supervised weights do;
 * fine-tuning and the probe load it and use the pooled features.
 * Knobs: model.backbone, run.seed, pretrain.epochs, pretrain.batch_size,
 * pretrain.lr [assumed], pretrain.momentum [assumed],
 * pretrain.weight_decay [assumed], pretrain.schedule [assumed],
 * pretrain.warmup_epochs, qpt.patch_size [assumed] (the view side of every
 * method). */
#include <stdlib.h>

#include "methods/method.h"

typedef struct state {
    biqa_backend *be;
    biqa_model *model;
    void *dlogits;
    int cap; /* rows of dlogits */
    int classes;
    int32_t *labels;
} state;

static void destroy(void *p)
{
    state *s = p;
    if (s->dlogits)
        s->be->free(s->be, s->dlogits);
    biqa_model_destroy(s->model);
    free(s->labels);
    free(s);
}

static int create(const biqa_pretrain_config *cfg, int num_classes, biqa_backend *be, void **out,
                  biqa_error *err)
{
    if (num_classes < 2)
        return biqa_fail(err, "supervised: the pretraining folder has %d class(es); at least 2 "
                              "are needed", num_classes);
    state *s = calloc(1, sizeof *s);
    if (!s)
        return biqa_fail(err, "supervised: out of memory");
    s->be = be, s->classes = num_classes;
    biqa_model_options opt = {.num_classes = num_classes, .seed = cfg->seed};
    if (!(s->model = biqa_model_create(cfg->backbone, &opt, be, err))) {
        destroy(s);
        return -1;
    }
    biqa_model_train(s->model, 1);
    *out = s;
    return 0;
}

static int step(void *p, const biqa_batch *b, const biqa_tensor *x, float *loss, biqa_error *err)
{
    state *s = p;
    if (b->views > s->cap) {
        int32_t *l = realloc(s->labels, (size_t)b->views * sizeof *l);
        if (l)
            s->labels = l;
        if (s->dlogits)
            s->be->free(s->be, s->dlogits);
        s->dlogits = s->be->alloc(s->be, (size_t)b->views * s->classes * sizeof(float));
        s->cap = l && s->dlogits ? b->views : 0;
        if (!s->cap)
            return biqa_fail(err, "supervised: out of memory");
    }
    for (int v = 0; v < b->views; v++)
        s->labels[v] = b->label[b->source[v]];
    const biqa_tensor *feat, *logits;
    if (biqa_model_forward(s->model, x, &feat, &logits, err) < 0)
        return -1;
    biqa_tensor dl = biqa_view(s->dlogits, b->views, s->classes, 1, 1);
    s->be->xent(s->be, logits, s->labels, 1.0f, loss, &dl);
    return biqa_model_backward(s->model, NULL, &dl, err);
}

static size_t params(void *p, biqa_param **out) { return biqa_model_params(((state *)p)->model, out); }
static biqa_model *backbone(void *p) { return ((state *)p)->model; }

static int snapshot(void *p, biqa_snapshot *snap, biqa_error *err)
{
    return biqa_snapshot_model(snap, "backbone.", ((state *)p)->model, err);
}

const biqa_method biqa_method_supervised = {
    .name = "supervised", .summary = "classification of the pretraining set's class labels",
    .recipe = BIQA_RECIPE_CLASSIFY, .create = create, .destroy = destroy, .step = step,
    .params = params, .backbone = backbone, .snapshot = snapshot};
