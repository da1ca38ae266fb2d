/* op_run BACKEND CASE.safetensors OUT.safetensors: one backend op, forward
 * and backward, on the inputs of a case file written by
 * tests/ref/ops_vs_torch.py, with every output and gradient written to OUT
 * for the script to compare with PyTorch.
 *
 * CASE holds F32 tensors (I32 for class labels) and "__metadata__" with
 * "op" and the op's scalar parameters as strings. Written outputs start as
 * NaN on the backend, so an element an op forgets to write shows up;
 * accumulated parameter gradients (dw, db, dgamma, dbeta) start from the
 * case's dw_init, db_init, ... so that the expected value is init + grad.
 * Every output is written as a 4-D NCHW F32 tensor; argmax as F32 indices
 * (exact below 2^24). An unknown op or a missing tensor or parameter is one
 * error line naming the case file, and exit status 1. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/safetensors.h"
#include "kernels/backend.h"

#define MAX_BUFS 64

typedef struct run {
    const char *case_path;
    biqa_safetensors st;
    int st_open;
    cJSON *header;
    const cJSON *meta;
    biqa_backend *be;
    void *dev[MAX_BUFS]; /* backend buffers */
    size_t ndev;
    biqa_st_entry out[MAX_BUFS];
    float *host[MAX_BUFS]; /* downloaded outputs, one per out entry */
    size_t nout;
} run;

static void cleanup(run *r)
{
    for (size_t i = 0; i < r->ndev; i++)
        r->be->free(r->be, r->dev[i]);
    for (size_t i = 0; i < r->nout; i++)
        free(r->host[i]);
    biqa_backend_destroy(r->be);
    cJSON_Delete(r->header);
    if (r->st_open)
        biqa_st_close(&r->st);
}

/* Prints "op_run: error: LINE", frees everything, exits 1. */
static _Noreturn void die(run *r, const char *line)
{
    fprintf(stderr, "op_run: error: %s\n", line);
    cleanup(r);
    exit(1);
}

/* die() with a message about the case file. */
static _Noreturn __attribute__((format(printf, 2, 3))) void fail(run *r, const char *fmt, ...)
{
    char msg[1024];
    int n = snprintf(msg, sizeof msg, "%s: ", r->case_path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    die(r, msg);
}

static void *track_host(run *r, void *p)
{
    if (!p)
        fail(r, "out of memory");
    return p;
}

/* ---- parameters from __metadata__ ---------------------------------------- */

static double param(run *r, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->meta, key);
    if (!cJSON_IsString(v))
        fail(r, "missing parameter '%s' in __metadata__", key);
    char *end;
    double d = strtod(v->valuestring, &end);
    if (end == v->valuestring || *end)
        fail(r, "parameter '%s' = '%s' is not a number", key, v->valuestring);
    return d;
}

static int param_int(run *r, const char *key)
{
    double d = param(r, key);
    if (d != floor(d) || fabs(d) > 1e9)
        fail(r, "parameter '%s' = %g is not an integer", key, d);
    return (int)d;
}

static int param_flag(run *r, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(r->meta, key) ? param_int(r, key) : 0;
}

/* ---- tensors ------------------------------------------------------------- */

static int has(run *r, const char *name)
{
    return biqa_st_find(&r->st, name) != NULL;
}

static const biqa_st_tensor *need(run *r, const char *name, const char *dtype)
{
    const biqa_st_tensor *t = biqa_st_find(&r->st, name);
    if (!t)
        fail(r, "missing tensor '%s'", name);
    if (strcmp(t->dtype, dtype) != 0)
        fail(r, "tensor '%s' is %s, expected %s", name, t->dtype, dtype);
    if (t->ndim > 4 || t->ndim < 1)
        fail(r, "tensor '%s' has %d dimensions (1 to 4)", name, t->ndim);
    return t;
}

/* A backend buffer of n*c*h*w floats, freed by cleanup(). */
static biqa_tensor dev_tensor(run *r, int n, int c, int h, int w)
{
    biqa_tensor t = biqa_view(NULL, n, c, h, w);
    if (r->ndev == MAX_BUFS)
        fail(r, "more than %d buffers", MAX_BUFS);
    t.data = r->be->alloc(r->be, biqa_numel(&t) * sizeof(float));
    if (!t.data)
        fail(r, "backend '%s': out of memory", r->be->name);
    r->dev[r->ndev++] = t.data;
    return t;
}

static void upload(run *r, biqa_tensor *t, const float *src)
{
    r->be->upload(r->be, t->data, src, biqa_numel(t));
}

/* The case tensor `name`, uploaded; shapes of fewer than 4 dimensions are
 * padded with trailing 1s ((rows, cols) -> (rows, cols, 1, 1)). */
static biqa_tensor input(run *r, const char *name)
{
    const biqa_st_tensor *s = need(r, name, "F32");
    int d[4] = {1, 1, 1, 1};
    for (int i = 0; i < s->ndim; i++)
        d[i] = (int)s->shape[i];
    biqa_tensor t = dev_tensor(r, d[0], d[1], d[2], d[3]);
    float *host = track_host(r, malloc(biqa_numel(&t) * sizeof(float) + 1));
    biqa_error err;
    if (biqa_st_read_f32(&r->st, s, host, &err) < 0) {
        free(host);
        die(r, err.msg);
    }
    upload(r, &t, host);
    free(host);
    return t;
}

/* The case tensor `name`, which must have as many elements as `like`
 * (gradients, initial values, targets), viewed with like's shape. */
static biqa_tensor input_as(run *r, const char *name, const biqa_tensor *like)
{
    biqa_tensor t = input(r, name);
    if (biqa_numel(&t) != biqa_numel(like))
        fail(r, "tensor '%s' has %zu elements, expected %zu", name, biqa_numel(&t),
             biqa_numel(like));
    t.n = like->n, t.c = like->c, t.h = like->h, t.w = like->w;
    return t;
}

/* A written output: every element NaN until the op writes it. */
static biqa_tensor output(run *r, int n, int c, int h, int w)
{
    biqa_tensor t = dev_tensor(r, n, c, h, w);
    size_t count = biqa_numel(&t);
    float *nan = track_host(r, malloc(count * sizeof(float) + 1));
    for (size_t i = 0; i < count; i++)
        nan[i] = NAN;
    upload(r, &t, nan);
    free(nan);
    return t;
}

static biqa_tensor output_like(run *r, const biqa_tensor *t)
{
    return output(r, t->n, t->c, t->h, t->w);
}

/* Class labels for the rows of logits: one int32 in [0, classes) per row. */
static int32_t *labels(run *r, const char *name, const biqa_tensor *logits)
{
    const biqa_st_tensor *s = need(r, name, "I32");
    size_t count = biqa_st_numel(s), classes = biqa_numel(logits) / (size_t)logits->n;
    if (count != (size_t)logits->n)
        fail(r, "tensor '%s' has %zu labels for %d rows", name, count, logits->n);
    const unsigned char *src = r->st.map + r->st.data_start + s->offset;
    for (size_t i = 0; i < count; i++) {
        int32_t v;
        memcpy(&v, src + i * sizeof v, sizeof v);
        if (v < 0 || (size_t)v >= classes)
            fail(r, "tensor '%s': label %zu = %d is not in [0, %zu)", name, i, v, classes);
    }
    int32_t *l = track_host(r, malloc(count * sizeof(int32_t) + 1));
    memcpy(l, src, count * sizeof(int32_t));
    return l;
}

/* Records host data (taken over) as output `name` of shape (n, c, h, w). */
static void emit_host(run *r, const char *name, float *data, int n, int c, int h, int w)
{
    if (r->nout == MAX_BUFS) {
        free(data);
        fail(r, "more than %d outputs", MAX_BUFS);
    }
    biqa_st_entry e = {.name = name, .ndim = 4, .shape = {n, c, h, w}, .data = data};
    r->out[r->nout] = e;
    r->host[r->nout++] = data;
}

static void emit(run *r, const char *name, const biqa_tensor *t)
{
    float *h = track_host(r, malloc(biqa_numel(t) * sizeof(float) + 1));
    r->be->download(r->be, h, t->data, biqa_numel(t));
    emit_host(r, name, h, t->n, t->c, t->h, t->w);
}

static void emit_scalar(run *r, const char *name, float v)
{
    float *h = track_host(r, malloc(sizeof(float)));
    *h = v;
    emit_host(r, name, h, 1, 1, 1, 1);
}

/* ---- the ops ------------------------------------------------------------- */

static void op_add(run *r)
{
    biqa_tensor a = input(r, "a"), b = input_as(r, "b", &a);
    biqa_tensor y = param_flag(r, "inplace") ? a : output_like(r, &a);
    r->be->add(r->be, &a, &b, &y);
    emit(r, "y", &y);
}

static void op_axpy(run *r)
{
    biqa_tensor x = input(r, "x"), y = input_as(r, "y", &x);
    r->be->axpy(r->be, (float)param(r, "alpha"), &x, &y);
    emit(r, "y", &y);
}

static void op_fill(run *r)
{
    biqa_tensor x = input(r, "x");
    r->be->fill(r->be, &x, (float)param(r, "value"));
    emit(r, "y", &x);
}

static void op_copy(run *r)
{
    biqa_tensor x = input(r, "x"), y = output_like(r, &x);
    r->be->copy(r->be, &y, &x);
    emit(r, "y", &y);
}

static void op_relu(run *r)
{
    biqa_tensor x = input(r, "x"), dy = input_as(r, "dy", &x);
    biqa_tensor y = param_flag(r, "inplace") ? x : output_like(r, &x);
    biqa_tensor dx = output_like(r, &x);
    r->be->relu_fwd(r->be, &x, &y);
    r->be->relu_bwd(r->be, &y, &dy, &dx);
    emit(r, "y", &y);
    emit(r, "dx", &dx);
}

static void op_conv2d(run *r)
{
    biqa_conv_params p = {param_int(r, "stride"), param_int(r, "pad")};
    int bias = has(r, "b");
    biqa_tensor x = input(r, "x"), w = input(r, "w"), vec = biqa_view(NULL, w.n, 1, 1, 1);
    biqa_tensor b = bias ? input_as(r, "b", &vec) : x;
    if (w.c != x.c)
        fail(r, "w has %d input channels, x has %d", w.c, x.c);
    int oh = (x.h + 2 * p.pad - w.h) / p.stride + 1, ow = (x.w + 2 * p.pad - w.w) / p.stride + 1;
    biqa_tensor y = output(r, x.n, w.n, oh, ow);
    r->be->conv2d_fwd(r->be, &p, &x, &w, bias ? &b : NULL, &y);
    emit(r, "y", &y);
    biqa_tensor dy = input_as(r, "dy", &y), dx = output_like(r, &x);
    biqa_tensor dw = input_as(r, "dw_init", &w), db = bias ? input_as(r, "db_init", &b) : x;
    r->be->conv2d_bwd(r->be, &p, &x, &w, &dy, &dx, &dw, bias ? &db : NULL);
    emit(r, "dx", &dx);
    emit(r, "dw", &dw);
    if (bias)
        emit(r, "db", &db);
}

static void op_bn_train(run *r)
{
    biqa_tensor x = input(r, "x"), vec = biqa_view(NULL, x.c, 1, 1, 1);
    biqa_tensor gamma = input_as(r, "gamma", &vec), beta = input_as(r, "beta", &vec);
    biqa_tensor rm = input_as(r, "running_mean", &vec), rv = input_as(r, "running_var", &vec);
    biqa_tensor y = output_like(r, &x), mean = output_like(r, &vec), invstd = output_like(r, &vec);
    r->be->bn_fwd_train(r->be, &x, &gamma, &beta, &rm, &rv, (float)param(r, "momentum"),
                        (float)param(r, "eps"), &y, &mean, &invstd);
    emit(r, "y", &y);
    emit(r, "save_mean", &mean);
    emit(r, "save_invstd", &invstd);
    emit(r, "running_mean", &rm);
    emit(r, "running_var", &rv);
    biqa_tensor dy = input_as(r, "dy", &x), dx = output_like(r, &x);
    biqa_tensor dgamma = input_as(r, "dgamma_init", &vec), dbeta = input_as(r, "dbeta_init", &vec);
    r->be->bn_bwd(r->be, 1, &x, &dy, &gamma, &mean, &invstd, &dx, &dgamma, &dbeta);
    emit(r, "dx", &dx);
    emit(r, "dgamma", &dgamma);
    emit(r, "dbeta", &dbeta);
}

/* Eval mode: backward treats the running mean and the caller's
 * invstd = 1/sqrt(running_var + eps) (tensor "invstd") as constants. */
static void op_bn_eval(run *r)
{
    biqa_tensor x = input(r, "x"), vec = biqa_view(NULL, x.c, 1, 1, 1);
    biqa_tensor gamma = input_as(r, "gamma", &vec), beta = input_as(r, "beta", &vec);
    biqa_tensor rm = input_as(r, "running_mean", &vec), rv = input_as(r, "running_var", &vec);
    biqa_tensor y = output_like(r, &x);
    r->be->bn_fwd_eval(r->be, &x, &gamma, &beta, &rm, &rv, (float)param(r, "eps"), &y);
    emit(r, "y", &y);
    biqa_tensor dy = input_as(r, "dy", &x), invstd = input_as(r, "invstd", &vec);
    biqa_tensor dx = output_like(r, &x);
    biqa_tensor dgamma = input_as(r, "dgamma_init", &vec), dbeta = input_as(r, "dbeta_init", &vec);
    r->be->bn_bwd(r->be, 0, &x, &dy, &gamma, &rm, &invstd, &dx, &dgamma, &dbeta);
    emit(r, "dx", &dx);
    emit(r, "dgamma", &dgamma);
    emit(r, "dbeta", &dbeta);
}

static void op_maxpool(run *r)
{
    biqa_pool_params p = {param_int(r, "kernel"), param_int(r, "stride"), param_int(r, "pad")};
    biqa_tensor x = input(r, "x");
    int oh = (x.h + 2 * p.pad - p.kernel) / p.stride + 1;
    int ow = (x.w + 2 * p.pad - p.kernel) / p.stride + 1;
    biqa_tensor y = output(r, x.n, x.c, oh, ow);
    /* argmax is int32 backend memory; a float-sized buffer moves it bit for bit. */
    biqa_tensor idx = dev_tensor(r, x.n, x.c, oh, ow);
    r->be->maxpool_fwd(r->be, &p, &x, &y, idx.data);
    emit(r, "y", &y);
    size_t count = biqa_numel(&y);
    float *h = track_host(r, malloc(count * sizeof(float)));
    r->be->download(r->be, h, idx.data, count);
    for (size_t i = 0; i < count; i++) {
        int32_t k;
        memcpy(&k, &h[i], sizeof k);
        h[i] = (float)k;
    }
    emit_host(r, "argmax", h, y.n, y.c, y.h, y.w);
    biqa_tensor dy = input_as(r, "dy", &y), dx = output_like(r, &x);
    r->be->maxpool_bwd(r->be, &dy, idx.data, &dx);
    emit(r, "dx", &dx);
}

static void op_avgpool(run *r)
{
    biqa_tensor x = input(r, "x"), y = output(r, x.n, x.c, 1, 1);
    r->be->avgpool_fwd(r->be, &x, &y);
    emit(r, "y", &y);
    biqa_tensor dy = input_as(r, "dy", &y), dx = output_like(r, &x);
    r->be->avgpool_bwd(r->be, &dy, &dx);
    emit(r, "dx", &dx);
}

static void op_linear(run *r)
{
    int bias = has(r, "b");
    biqa_tensor x = input(r, "x"), w = input(r, "w"), vec = biqa_view(NULL, w.n, 1, 1, 1);
    biqa_tensor b = bias ? input_as(r, "b", &vec) : x;
    if (biqa_numel(&w) != (size_t)w.n * (biqa_numel(&x) / (size_t)x.n))
        fail(r, "w is not (out, %zu)", biqa_numel(&x) / (size_t)x.n);
    biqa_tensor y = output(r, x.n, w.n, 1, 1);
    r->be->linear_fwd(r->be, &x, &w, bias ? &b : NULL, &y);
    emit(r, "y", &y);
    biqa_tensor dy = input_as(r, "dy", &y), dx = output_like(r, &x);
    biqa_tensor dw = input_as(r, "dw_init", &w), db = bias ? input_as(r, "db_init", &b) : x;
    r->be->linear_bwd(r->be, &x, &w, &dy, &dx, &dw, bias ? &db : NULL);
    emit(r, "dx", &dx);
    emit(r, "dw", &dw);
    if (bias)
        emit(r, "db", &db);
}

static void op_l2norm(run *r)
{
    float eps = (float)param(r, "eps");
    biqa_tensor x = input(r, "x"), y = output_like(r, &x);
    r->be->l2norm_fwd(r->be, &x, eps, &y);
    emit(r, "y", &y);
    biqa_tensor dy = input_as(r, "dy", &x), dx = output_like(r, &x);
    r->be->l2norm_bwd(r->be, &x, &dy, eps, &dx);
    emit(r, "dx", &dx);
}

static void op_infonce(run *r)
{
    float tau = (float)param(r, "tau");
    biqa_tensor q = input(r, "q"), k = input_as(r, "k", &q), neg = input(r, "neg");
    if (biqa_numel(&neg) != (size_t)neg.n * (biqa_numel(&q) / (size_t)q.n))
        fail(r, "neg is not (m, %zu)", biqa_numel(&q) / (size_t)q.n);
    biqa_tensor y = output(r, q.n, 1 + neg.n, 1, 1);
    r->be->infonce_fwd(r->be, &q, &k, &neg, tau, &y);
    emit(r, "y", &y);
    biqa_tensor dy = input_as(r, "dy", &y), dq = output_like(r, &q), dk = output_like(r, &k);
    biqa_tensor dneg = output_like(r, &neg);
    r->be->infonce_bwd(r->be, &q, &k, &neg, tau, &dy, &dq, &dk, &dneg);
    emit(r, "dq", &dq);
    emit(r, "dk", &dk);
    emit(r, "dneg", &dneg);
}

/* Also run without dlogits: the loss alone must come out the same. */
static void op_xent(run *r)
{
    float dloss = (float)param(r, "dloss"), loss = NAN, loss_only = NAN;
    biqa_tensor z = input(r, "logits"), dz = output_like(r, &z);
    int32_t *l = labels(r, "labels", &z);
    r->be->xent(r->be, &z, l, dloss, &loss, &dz);
    r->be->xent(r->be, &z, l, dloss, &loss_only, NULL);
    free(l);
    emit_scalar(r, "loss", loss);
    emit_scalar(r, "loss_only", loss_only);
    emit(r, "dlogits", &dz);
}

static void op_regress(run *r)
{
    int kind = param_int(r, "kind");
    float beta = (float)param(r, "beta"), dloss = (float)param(r, "dloss");
    float loss = NAN, loss_only = NAN;
    biqa_tensor pred = input(r, "pred"), target = input_as(r, "target", &pred);
    biqa_tensor dpred = output_like(r, &pred);
    r->be->regress(r->be, kind, beta, &pred, &target, dloss, &loss, &dpred);
    r->be->regress(r->be, kind, beta, &pred, &target, dloss, &loss_only, NULL);
    emit_scalar(r, "loss", loss);
    emit_scalar(r, "loss_only", loss_only);
    emit(r, "dpred", &dpred);
}

/* Optimisers run one step per row of "grads" (steps, numel of p). */
static void grad_of_step(run *r, biqa_tensor *g, int s)
{
    const biqa_st_tensor *t = need(r, "grads", "F32");
    size_t count = biqa_numel(g);
    if (biqa_st_numel(t) != (size_t)t->shape[0] * count)
        fail(r, "tensor 'grads' is not (steps, numel of p)");
    float *all = track_host(r, malloc(biqa_st_numel(t) * sizeof(float)));
    biqa_error err;
    if (biqa_st_read_f32(&r->st, t, all, &err) < 0) {
        free(all);
        die(r, err.msg);
    }
    upload(r, g, all + (size_t)s * count);
    free(all);
}

static void op_sgd(run *r)
{
    biqa_tensor p = input(r, "p"), v = input_as(r, "velocity", &p), g = output_like(r, &p);
    int steps = (int)need(r, "grads", "F32")->shape[0];
    for (int s = 0; s < steps; s++) {
        grad_of_step(r, &g, s);
        r->be->sgd_step(r->be, &p, &g, &v, (float)param(r, "lr"), (float)param(r, "momentum"),
                        (float)param(r, "weight_decay"), param_int(r, "nesterov"));
    }
    emit(r, "p", &p);
    emit(r, "velocity", &v);
}

/* "step" is the step number of the first update (1 for a fresh optimiser). */
static void op_adamw(run *r)
{
    biqa_tensor p = input(r, "p"), m = input_as(r, "m", &p), v = input_as(r, "v", &p);
    biqa_tensor g = output_like(r, &p);
    int steps = (int)need(r, "grads", "F32")->shape[0], first = param_int(r, "step");
    for (int s = 0; s < steps; s++) {
        grad_of_step(r, &g, s);
        r->be->adamw_step(r->be, &p, &g, &m, &v, (float)param(r, "lr"), (float)param(r, "beta1"),
                          (float)param(r, "beta2"), (float)param(r, "eps"),
                          (float)param(r, "weight_decay"), first + s);
    }
    emit(r, "p", &p);
    emit(r, "m", &m);
    emit(r, "v", &v);
}

static void op_ema(run *r)
{
    biqa_tensor dst = input(r, "dst"), src = input_as(r, "src", &dst);
    r->be->ema(r->be, &dst, &src, (float)param(r, "momentum"));
    emit(r, "dst", &dst);
}

static const struct {
    const char *name;
    void (*fn)(run *r);
} ops[] = {{"add", op_add},         {"axpy", op_axpy},         {"fill", op_fill},
           {"copy", op_copy},       {"relu", op_relu},         {"conv2d", op_conv2d},
           {"bn_train", op_bn_train}, {"bn_eval", op_bn_eval}, {"maxpool", op_maxpool},
           {"avgpool", op_avgpool}, {"linear", op_linear},     {"l2norm", op_l2norm},
           {"infonce", op_infonce}, {"xent", op_xent},         {"regress", op_regress},
           {"sgd", op_sgd},         {"adamw", op_adamw},       {"ema", op_ema}};

/* The case's JSON header (safetensors.h does not expose __metadata__). */
static void read_meta(run *r)
{
    r->header = cJSON_ParseWithLength((const char *)r->st.map + 8, r->st.data_start - 8);
    r->meta = cJSON_GetObjectItemCaseSensitive(r->header, "__metadata__");
    if (!cJSON_IsObject(r->meta))
        fail(r, "no __metadata__ object");
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: op_run BACKEND CASE.safetensors OUT.safetensors\n");
        return 2;
    }
    run r = {.case_path = argv[2]};
    biqa_error err;
    r.be = biqa_backend_create(argv[1], 1, &err);
    if (!r.be)
        die(&r, err.msg);
    if (biqa_st_open(argv[2], &r.st, &err) < 0)
        die(&r, err.msg);
    r.st_open = 1;
    read_meta(&r);
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(r.meta, "op");
    if (!cJSON_IsString(op))
        fail(&r, "missing parameter 'op' in __metadata__");
    size_t i = 0;
    while (i < sizeof ops / sizeof ops[0] && strcmp(ops[i].name, op->valuestring) != 0)
        i++;
    if (i == sizeof ops / sizeof ops[0])
        fail(&r, "unknown op '%s'", op->valuestring);
    ops[i].fn(&r);
    if (biqa_st_write(argv[3], r.out, r.nout, NULL, &err) < 0)
        die(&r, err.msg);
    cleanup(&r);
    return 0;
}
