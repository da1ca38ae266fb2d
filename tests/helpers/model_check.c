/* Drives a model for the PyTorch comparison (tests/ref/resnet_vs_torch.py):
 *   model_check grad  BACKEND BACKBONE WEIGHTS CASE OUT
 *     forward CASE's `input` (metadata "mode": train|eval), backward from
 *     `dlogits`; OUT gets features, logits and grad.<name> of every
 *     parameter; OUT.state.safetensors the state dict afterwards (running
 *     statistics updated in train mode).
 *   model_check train BACKEND BACKBONE WEIGHTS CASE OUT
 *     metadata "steps" SGD steps (lr, momentum, weight_decay, nesterov) of
 *     softmax cross-entropy of `input` against `labels` (I32); OUT is the
 *     final checkpoint, the loss of every step in its metadata "losses". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods/model.h"
#include "methods/model_io.h"
#include "methods/optim.h"

static double meta_num(const biqa_safetensors *st, const char *key, biqa_error *err, int *bad)
{
    const char *v = biqa_st_meta(st, key);
    char *end;
    double x = v ? strtod(v, &end) : 0;
    if (!v || end == v || *end) {
        biqa_fail(err, "%s: metadata '%s' missing or not a number", st->path, key);
        *bad = 1;
    }
    return x;
}

static int write_grads(biqa_backend *be, biqa_model *m, const biqa_tensor *feat,
                       const biqa_tensor *logits, const char *path, biqa_error *err)
{
    biqa_param *params;
    size_t np = biqa_model_params(m, &params), n = np + 2;
    biqa_st_entry *e = calloc(n, sizeof *e);
    float **host = calloc(n, sizeof *host);
    char **names = calloc(n, sizeof *names);
    const biqa_tensor *ts[2] = {feat, logits};
    for (size_t i = 0; i < n; i++) {
        const biqa_tensor *t = i < 2 ? ts[i] : &params[i - 2].grad;
        size_t count = biqa_numel(t);
        host[i] = malloc(count * sizeof(float));
        be->download(be, host[i], t->data, count);
        if (i < 2) {
            names[i] = strdup(i ? "logits" : "features");
            e[i] = (biqa_st_entry){names[i], 2, {t->n, t->c}, host[i], NULL};
        } else {
            size_t len = strlen(params[i - 2].name) + 6;
            names[i] = malloc(len);
            snprintf(names[i], len, "grad.%s", params[i - 2].name);
            e[i] = (biqa_st_entry){names[i], 1, {(int64_t)count}, host[i], NULL};
        }
    }
    int rc = biqa_st_write(path, e, n, NULL, err);
    for (size_t i = 0; i < n; i++) {
        free(host[i]);
        free(names[i]);
    }
    free(host);
    free(names);
    free(e);
    return rc;
}

static int grad_mode(biqa_backend *be, biqa_model *m, biqa_safetensors *c, const char *out,
                     biqa_error *err)
{
    biqa_tensor x = {0}, dl = {0};
    const char *mode = biqa_st_meta(c, "mode");
    biqa_model_train(m, mode && strcmp(mode, "train") == 0);
    const biqa_tensor *feat, *logits;
    char state[512];
    snprintf(state, sizeof state, "%s.state.safetensors", out);
    int rc = biqa_tensor_from_st(c, "input", be, &x, err) < 0 ||
             biqa_tensor_from_st(c, "dlogits", be, &dl, err) < 0 ||
             biqa_model_forward(m, &x, &feat, &logits, err) < 0 ||
             biqa_model_backward(m, NULL, &dl, err) < 0 ||
             write_grads(be, m, feat, logits, out, err) < 0 ||
             biqa_model_save(m, state, NULL, err) < 0
                 ? -1
                 : 0;
    if (x.data)
        be->free(be, x.data);
    if (dl.data)
        be->free(be, dl.data);
    return rc;
}

static int train_mode(biqa_backend *be, biqa_model *m, biqa_safetensors *c, const char *out,
                      biqa_error *err)
{
    int bad = 0;
    int steps = (int)meta_num(c, "steps", err, &bad);
    float lr = (float)meta_num(c, "lr", err, &bad);
    biqa_optim_config cfg = {.kind = BIQA_OPTIM_SGD,
                             .momentum = (float)meta_num(c, "momentum", err, &bad),
                             .nesterov = (int)meta_num(c, "nesterov", err, &bad),
                             .weight_decay = (float)meta_num(c, "weight_decay", err, &bad)};
    const biqa_st_tensor *lt = biqa_st_find(c, "labels");
    if (bad)
        return -1;
    if (!lt || strcmp(lt->dtype, "I32") != 0)
        return biqa_fail(err, "%s: needs I32 tensor 'labels'", c->path);
    const int32_t *labels = (const int32_t *)(c->map + c->data_start + lt->offset);
    biqa_tensor x = {0};
    if (biqa_tensor_from_st(c, "input", be, &x, err) < 0)
        return -1;
    biqa_param *params;
    size_t np = biqa_model_params(m, &params);
    biqa_optim *o = biqa_optim_create(be, &cfg, params, np, err);
    int k = biqa_model_num_classes(m);
    void *dmem = be->alloc(be, (size_t)x.n * k * sizeof(float));
    biqa_tensor dlogits = biqa_view(dmem, x.n, k, 1, 1);
    char *losses = calloc((size_t)steps + 1, 32);
    int rc = o && dmem && losses ? 0 : biqa_fail(err, "out of memory");
    biqa_model_train(m, 1);
    for (int s = 0; s < steps && rc == 0; s++) {
        const biqa_tensor *feat, *logits;
        float loss;
        biqa_optim_zero_grad(o);
        rc = biqa_model_forward(m, &x, &feat, &logits, err);
        if (rc == 0) {
            be->xent(be, logits, labels, 1.0f, &loss, &dlogits);
            rc = biqa_model_backward(m, NULL, &dlogits, err);
            biqa_optim_step(o, lr);
            size_t used = strlen(losses);
            snprintf(losses + used, 32, "%s%.9g", s ? "," : "", loss);
        }
    }
    if (rc == 0) {
        char meta[64 + 32 * 64];
        snprintf(meta, sizeof meta, "{\"losses\": \"%.*s\"}", (int)sizeof meta - 32, losses);
        rc = biqa_model_save(m, out, meta, err);
    }
    free(losses);
    if (dmem)
        be->free(be, dmem);
    be->free(be, x.data);
    biqa_optim_destroy(o);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 7 || (strcmp(argv[1], "grad") && strcmp(argv[1], "train"))) {
        fprintf(stderr, "usage: model_check grad|train BACKEND BACKBONE WEIGHTS CASE OUT\n");
        return 2;
    }
    biqa_error err = {{0}};
    biqa_model_options opt = {0};
    biqa_safetensors c = {0};
    biqa_backend *be = NULL;
    biqa_model *m = NULL;
    int rc = -1;
    if (biqa_weights_classes(argv[4], &opt.num_classes, &err) == 0 &&
        (be = biqa_backend_create(argv[2], 0, &err)) &&
        (m = biqa_model_create(argv[3], &opt, be, &err)) &&
        biqa_model_load(m, argv[4], 1, &err) == 0 && biqa_st_open(argv[5], &c, &err) == 0)
        rc = strcmp(argv[1], "grad") == 0 ? grad_mode(be, m, &c, argv[6], &err)
                                          : train_mode(be, m, &c, argv[6], &err);
    if (rc < 0)
        fprintf(stderr, "model_check: %s\n", err.msg);
    biqa_st_close(&c);
    biqa_model_destroy(m);
    biqa_backend_destroy(be);
    return rc < 0 ? 1 : 0;
}
