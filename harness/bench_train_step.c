/* biqa bench train-step: one ResNet training step (forward, cross-entropy,
 * backward, SGD) on a backend, against the same step in PyTorch
 * (harness/bench/train_step_peer.py) in the same session.
 *
 * On the CPU backends the peer runs with the same threads. On cuda (issue
 * #7) the defaults become ResNet-50, 224 px, batch 256, bf16, and the
 * bench also reports:
 * - biqa's step replayed as a CUDA graph (be->graph_begin .. graph_end;
 *   the eager rate is printed too), against PyTorch eager (channels_last,
 *   bf16 autocast) and torch.compile on the same GPU;
 * - achieved TFLOP/s: the matrix FLOPs of one step counted analytically
 *   from the shapes the model hands its backend (a counting copy of the
 *   backend's table, 2 FLOPs per multiply-add of every convolution and
 *   linear layer, forward and both backward products), times images/s;
 *   and that as a fraction of the bf16 matrix peak measured in the same
 *   run (cuBLASLt, kernels/cuda/cuda_peak.cu);
 * - peak device memory of each side;
 * - one QPT pretraining step (query forward + backward, key forward, the
 *   InfoNCE loss over batch keys and queue, SGD, momentum update, enqueue)
 *   on --batch views of QPT's 160 px patches, against
 *   harness/bench/qpt_step_peer.py, eager on both sides (the queue
 *   position moves every step, so it is not a static graph). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rng.h"
#include "harness/bench.h"
#include "harness/commands.h"
#include "kernels/cuda/biqa_cuda.h"
#include "methods/method.h"
#include "methods/model.h"

#define CLASSES 1000 /* an ImageNet classifier, as the supervised baseline trains */
#define LR 0.01f
#define PEAK_N 8192 /* the bf16 peak's product size and repetitions */
#define PEAK_REPS 20
#define QPT_QUEUE 65536 /* QPT's knobs at their defaults (harness/knobs.c) */
#define QPT_TAU 0.2
#define QPT_KEY_MOMENTUM 0.999
#define QPT_PROJ_HIDDEN 2048
#define QPT_PROJ_DIM 128
#define QPT_VARIANTS 2
#define QPT_SIZE 160 /* qpt.patch_size: QPT's views are 160 px patches */

typedef struct step_setup {
    const char *backbone;
    int64_t size, batch, steps, warmup;
    enum biqa_precision precision;
} step_setup;

typedef struct step_result {
    double images_per_s;     /* what the table reports: graph replay where there is one */
    double eager_per_s;      /* eager steps */
    double flops_per_image;  /* matrix FLOPs of one training step per image */
    size_t peak_bytes;       /* device memory (cuda) */
    int graph;               /* whether images_per_s is a graph replay */
} step_result;

/* ---- the analytic FLOP count ---- */

/* The backend's table with convolution and linear replaced by counters:
 * ops receive &counter->be, so it is the first member. */
typedef struct flop_counter {
    biqa_backend be;
    double flops;
} flop_counter;

static double conv_macs(const biqa_tensor *w, const biqa_tensor *y)
{
    return (double)biqa_numel(y) * w->c * w->h * w->w;
}

static void count_conv_fwd(biqa_backend *be, const biqa_conv_params *p, const biqa_tensor *x,
                           const biqa_tensor *w, const biqa_tensor *b, biqa_tensor *y)
{
    (void)p, (void)x, (void)b;
    ((flop_counter *)be)->flops += 2 * conv_macs(w, y);
}

static void count_conv_bwd(biqa_backend *be, const biqa_conv_params *p, const biqa_tensor *x,
                           const biqa_tensor *w, const biqa_tensor *dy, biqa_tensor *dx,
                           biqa_tensor *dw, biqa_tensor *db)
{
    (void)p, (void)x, (void)db;
    ((flop_counter *)be)->flops += 2 * conv_macs(w, dy) * ((dx != NULL) + (dw != NULL));
}

static void count_linear_fwd(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *w,
                             const biqa_tensor *b, biqa_tensor *y)
{
    (void)x, (void)b;
    ((flop_counter *)be)->flops += 2.0 * (double)biqa_numel(y) * (double)w->c;
}

static void count_linear_bwd(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *w,
                             const biqa_tensor *dy, biqa_tensor *dx, biqa_tensor *dw,
                             biqa_tensor *db)
{
    (void)x, (void)db;
    ((flop_counter *)be)->flops +=
        2.0 * (double)biqa_numel(dy) * (double)w->c * ((dx != NULL) + (dw != NULL));
}

/* FLOPs of one training step of one image: a batch-1 forward and backward
 * through the counting table (the other ops run, on what the counters
 * leave in memory; their results are not used). Matrix FLOPs are linear
 * in the batch. */
static int count_flops(biqa_backend *real, const step_setup *s, double *flops, biqa_error *err)
{
    flop_counter fc = {*real, 0};
    fc.be.conv2d_fwd = count_conv_fwd;
    fc.be.conv2d_bwd = count_conv_bwd;
    fc.be.linear_fwd = count_linear_fwd;
    fc.be.linear_bwd = count_linear_bwd;
    biqa_backend *be = &fc.be;
    biqa_model_options opt = {.num_classes = CLASSES, .seed = 0};
    biqa_model *m = biqa_model_create(s->backbone, &opt, be, err);
    if (!m)
        return -1;
    size_t nx = 3 * (size_t)s->size * (size_t)s->size;
    void *xmem = be->alloc(be, nx * sizeof(float)), *dmem = be->alloc(be, CLASSES * sizeof(float));
    int rc = xmem && dmem ? 0 : biqa_fail(err, "bench train-step: out of memory");
    if (rc == 0) {
        biqa_tensor x = biqa_view(xmem, 1, 3, (int)s->size, (int)s->size);
        biqa_tensor dl = biqa_view(dmem, 1, CLASSES, 1, 1);
        be->fill(be, &x, 0.5f);
        be->fill(be, &dl, 1.0f);
        const biqa_tensor *feat, *logits;
        rc = biqa_model_forward(m, &x, &feat, &logits, err);
        if (rc == 0)
            rc = biqa_model_backward(m, NULL, &dl, err);
    }
    if (xmem)
        be->free(be, xmem);
    if (dmem)
        be->free(be, dmem);
    biqa_model_destroy(m);
    *flops = fc.flops;
    return rc;
}

/* ---- the supervised step ---- */

typedef struct step_state {
    biqa_backend *be;
    biqa_model *m;
    biqa_optim *o;
    biqa_tensor x, dlogits;
    int32_t *labels;
} step_state;

static int one_step(step_state *t, float *loss, biqa_error *err)
{
    const biqa_tensor *feat, *logits;
    biqa_optim_zero_grad(t->o);
    if (biqa_model_forward(t->m, &t->x, &feat, &logits, err) < 0)
        return -1;
    t->be->xent(t->be, logits, t->labels, 1.0f, loss, &t->dlogits);
    if (biqa_model_backward(t->m, NULL, &t->dlogits, err) < 0)
        return -1;
    biqa_optim_step(t->o, LR);
    return 0;
}

static int wait_for(biqa_backend *be, biqa_error *err)
{
    return be->sync ? be->sync(be, err) : 0;
}

/* Best images/s over `steps` timed runs of run(). */
static int timed(biqa_backend *be, int64_t batch, int64_t steps, int graph, step_state *t,
                 float *loss, double *rate, biqa_error *err)
{
    double best = INFINITY;
    for (int64_t i = 0; i < steps; i++) {
        double t0 = biqa_now_seconds();
        int rc = graph ? be->graph_replay(be, err) : one_step(t, loss, err);
        if (rc < 0 || wait_for(be, err) < 0)
            return -1;
        best = fmin(best, biqa_now_seconds() - t0);
        if (!isfinite(*loss))
            return biqa_fail(err, "bench train-step: the loss is %g at step %lld", *loss,
                             (long long)i);
        biqa_debug("bench train-step: %s step %lld loss %.4f", graph ? "graph" : "eager",
                   (long long)i, *loss);
    }
    *rate = (double)batch / best;
    return 0;
}

static int measure(biqa_backend *be, const step_setup *s, step_result *r, biqa_error *err)
{
    memset(r, 0, sizeof *r);
    step_state t = {.be = be};
    biqa_model_options opt = {.num_classes = CLASSES, .seed = 0};
    if (!(t.m = biqa_model_create(s->backbone, &opt, be, err)))
        return -1;
    size_t nx = (size_t)s->batch * 3 * s->size * s->size;
    float *host = malloc(nx * sizeof *host);
    t.labels = malloc((size_t)s->batch * sizeof *t.labels);
    void *xmem = be->alloc(be, nx * sizeof(float));
    void *dmem = be->alloc(be, (size_t)s->batch * CLASSES * sizeof(float));
    biqa_param *params;
    size_t np = biqa_model_params(t.m, &params);
    biqa_optim_config cfg = {.kind = BIQA_OPTIM_SGD, .momentum = 0.9f, .weight_decay = 1e-4f};
    t.o = biqa_optim_create(be, &cfg, params, np, err);
    int rc = host && t.labels && xmem && dmem && t.o ? 0 : -1;
    if (rc < 0 && t.o)
        biqa_fail(err, "bench train-step: out of memory");
    if (rc == 0) {
        uint64_t stream = biqa_rng_stream("bench-train-step");
        for (size_t i = 0; i < nx; i++)
            host[i] = (float)(2 * biqa_rng_uniform(1, stream, i) - 1);
        for (int64_t i = 0; i < s->batch; i++)
            t.labels[i] = (int32_t)biqa_rng_below(1, stream, nx + (uint64_t)i, CLASSES);
        be->upload(be, xmem, host, nx);
    }
    t.x = biqa_view(xmem, (int)s->batch, 3, (int)s->size, (int)s->size);
    t.dlogits = biqa_view(dmem, (int)s->batch, CLASSES, 1, 1);
    float loss = 0;
    for (int64_t i = 0; i < s->warmup && rc == 0; i++)
        rc = one_step(&t, &loss, err);
    if (rc == 0)
        rc = timed(be, s->batch, s->steps, 0, &t, &loss, &r->eager_per_s, err);
    r->images_per_s = r->eager_per_s;
    /* The recorded step writes its loss into graph_loss at each replay. */
    float graph_loss = NAN;
    if (rc == 0 && be->graph_begin) {
        rc = be->graph_begin(be, err);
        if (rc == 0) {
            rc = one_step(&t, &graph_loss, err);
            int end = be->graph_end(be, err);
            rc = rc < 0 ? rc : end;
        }
        if (rc == 0)
            rc = timed(be, s->batch, s->steps, 1, &t, &graph_loss, &r->images_per_s, err);
        r->graph = rc == 0;
    }
    size_t now;
    biqa_cuda_memory(be, &now, &r->peak_bytes);
    biqa_optim_destroy(t.o);
    if (xmem)
        be->free(be, xmem);
    if (dmem)
        be->free(be, dmem);
    free(host);
    free(t.labels);
    biqa_model_destroy(t.m);
    return rc;
}

/* ---- the QPT step ---- */

static int measure_qpt(biqa_backend *be, const step_setup *s, double *rate, biqa_error *err)
{
    int views = (int)s->batch, items = views / (2 * QPT_VARIANTS);
    biqa_pretrain_config cfg = {.method = "qpt", .backbone = s->backbone, .seed = 1, .epochs = 1,
                                .batch_size = items, .size = QPT_SIZE, .lr = 0.03,
                                .momentum = 0.9, .weight_decay = 1e-4,
                                .schedule = BIQA_SCHED_COSINE, .queue_size = QPT_QUEUE,
                                .key_momentum = QPT_KEY_MOMENTUM, .temperature = QPT_TAU,
                                .proj_hidden = QPT_PROJ_HIDDEN, .proj_dim = QPT_PROJ_DIM,
                                .variants = QPT_VARIANTS, .progress_every = 1};
    biqa_pretrainer p;
    if (biqa_pretrainer_init(&p, &biqa_method_qpt, &cfg, 0, be, err) < 0)
        return -1;
    size_t nx = (size_t)views * 3 * QPT_SIZE * QPT_SIZE;
    float *host = malloc(nx * sizeof *host);
    int *group = malloc((size_t)views * sizeof *group);
    void *xmem = be->alloc(be, nx * sizeof(float));
    int rc = host && group && xmem ? 0 : biqa_fail(err, "bench train-step: out of memory");
    if (rc == 0) {
        uint64_t stream = biqa_rng_stream("bench-qpt-step");
        for (size_t i = 0; i < nx; i++)
            host[i] = (float)(2 * biqa_rng_uniform(1, stream, i) - 1);
        for (int v = 0; v < views; v++)
            group[v] = v / 2; /* the two patches of a degraded image (datasets/loader.h) */
        be->upload(be, xmem, host, nx);
    }
    biqa_batch b = {.items = items, .views = views, .size = QPT_SIZE, .group = group};
    biqa_tensor x = biqa_view(xmem, views, 3, QPT_SIZE, QPT_SIZE);
    double best = INFINITY;
    for (int64_t i = 0; i < s->warmup + s->steps && rc == 0; i++) {
        float loss = NAN;
        double t0 = biqa_now_seconds();
        biqa_optim_zero_grad(p.optim);
        rc = p.method->step(p.state, &b, &x, &loss, err);
        if (rc == 0) {
            biqa_optim_step(p.optim, (float)cfg.lr);
            p.method->after_update(p.state);
            rc = wait_for(be, err);
        }
        if (rc == 0 && !isfinite(loss))
            rc = biqa_fail(err, "bench train-step: the QPT loss is %g at step %lld", loss,
                           (long long)i);
        if (rc == 0 && i >= s->warmup)
            best = fmin(best, biqa_now_seconds() - t0);
        biqa_debug("bench train-step: QPT step %lld loss %.4f", (long long)i, loss);
    }
    *rate = (double)views / best;
    if (xmem)
        be->free(be, xmem);
    free(host);
    free(group);
    biqa_pretrainer_free(&p);
    return rc;
}

/* ---- the command ---- */

static double number(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static int parse(biqa_cli *cli, const char *backend, step_setup *s)
{
    const biqa_args *a = cli->args;
    int gpu = strcmp(backend, "cuda") == 0;
    const char *prec = biqa_arg(a, "precision");
    biqa_error err;
    *s = (step_setup){gpu ? "resnet50" : "resnet18-w0.25", gpu ? 224 : 64, gpu ? 256 : 32,
                      gpu ? 20 : 3, gpu ? 3 : 1, gpu ? BIQA_PREC_BF16 : BIQA_PREC_FP32};
    if (biqa_arg(a, "backbone"))
        s->backbone = biqa_arg(a, "backbone");
    if (biqa_expect_args(cli, 0, 0, "") != 0 || biqa_arg_int64(a, "size", &s->size) < 0 ||
        biqa_arg_int64(a, "batch", &s->batch) < 0 || biqa_arg_int64(a, "steps", &s->steps) < 0 ||
        biqa_arg_int64(a, "warmup", &s->warmup) < 0)
        return BIQA_EXIT_USAGE;
    if (prec && biqa_precision_parse(prec, &s->precision, &err) < 0)
        return biqa_usage_error(a, "%s", err.msg);
    if (s->size < 32 || s->size > 1024 || s->batch < 1 || s->batch > 4096 || s->steps < 1 ||
        s->warmup < 0)
        return biqa_usage_error(a, "--size in 32..1024, --batch in 1..4096, --steps >= 1");
    if (gpu && (s->batch % (2 * QPT_VARIANTS) || s->warmup < 1))
        return biqa_usage_error(a, "--backend cuda needs --batch divisible by %d (the QPT step's "
                                   "views) and --warmup >= 1 (before the graph is recorded)",
                                2 * QPT_VARIANTS);
    return -1;
}

/* Prints the GPU figures that are not rows of the table (stderr). */
static void report_gpu(const step_setup *s, const step_result *r, const cJSON *peer,
                       double peak_tflops)
{
    double f = r->flops_per_image / 1e12;
    double eager = number(peer, "images_per_s"), compiled = number(peer, "compile_images_per_s");
    biqa_info("bench train-step: %.3g GFLOP per image per step (matrix products, counted)",
              r->flops_per_image / 1e9);
    biqa_info("bench train-step: bf16 matrix peak (cuBLASLt %d^3) %.1f TFLOP/s", PEAK_N,
              peak_tflops);
    biqa_info("bench train-step: biqa %s: %.1f img/s, %.1f TFLOP/s, %.1f%% of peak "
              "(eager %.1f img/s)",
              r->graph ? "graph replay" : "eager", r->images_per_s, r->images_per_s * f,
              100 * r->images_per_s * f / peak_tflops, r->eager_per_s);
    biqa_info("bench train-step: PyTorch eager %.1f img/s, %.1f%% of peak; torch.compile "
              "%.1f img/s, %.1f%% of peak",
              eager, 100 * eager * f / peak_tflops, compiled, 100 * compiled * f / peak_tflops);
    biqa_info("bench train-step: peak device memory: biqa %.2f GiB, PyTorch eager %.2f GiB, "
              "torch.compile %.2f GiB",
              r->peak_bytes / 1073741824.0, number(peer, "peak_bytes") / 1073741824.0,
              number(peer, "compile_peak_bytes") / 1073741824.0);
    (void)s;
}

int biqa_cmd_bench_train_step(biqa_cli *cli)
{
    const char *backend = cli->backend ? cli->backend : "cpu";
    int gpu = strcmp(backend, "cuda") == 0;
    step_setup s;
    int rc = parse(cli, backend, &s);
    if (rc >= 0)
        return rc;
    rc = BIQA_EXIT_FAIL;
    biqa_error err = {{0}};
    biqa_backend *be = biqa_backend_create_with(backend, cli->threads, s.precision, &err);
    step_result r;
    double qpt_rate = 0, peak = NAN;
    cJSON *peer = NULL, *qpeer = NULL;
    if (!be || measure(be, &s, &r, &err) < 0)
        goto out;
    if (gpu && (count_flops(be, &s, &r.flops_per_image, &err) < 0 ||
                measure_qpt(be, &s, &qpt_rate, &err) < 0 ||
                biqa_cuda_bf16_peak(PEAK_N, PEAK_REPS, &peak, &err) < 0))
        goto out;
    const char *prec = biqa_precision_name(s.precision);
    char args[320];
    snprintf(args, sizeof args, "'%s' %lld %lld %d %lld %lld %d%s%s", s.backbone,
             (long long)s.size, (long long)s.batch, be->threads, (long long)s.steps,
             (long long)s.warmup, CLASSES, gpu ? " cuda " : "", gpu ? prec : "");
    if (!(peer = biqa_bench_peer("train_step_peer.py", args, &err)))
        goto out;
    const cJSON *who = cJSON_GetObjectItemCaseSensitive(peer, "peer");
    if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(peer, "images_per_s")) ||
        !cJSON_IsString(who)) {
        biqa_fail(&err, "bench train-step: the peer's JSON lacks images_per_s or peer");
        goto out;
    }
    if (gpu) {
        snprintf(args, sizeof args, "'%s' %d %lld %lld %lld %d %g %g %d %d %s", s.backbone,
                 QPT_SIZE, (long long)s.batch, (long long)s.steps, (long long)s.warmup,
                 QPT_QUEUE, QPT_TAU, QPT_KEY_MOMENTUM, QPT_PROJ_HIDDEN, QPT_PROJ_DIM, prec);
        if (!(qpeer = biqa_bench_peer("qpt_step_peer.py", args, &err)))
            goto out;
        if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(qpeer, "images_per_s"))) {
            biqa_fail(&err, "bench train-step: the QPT peer's JSON lacks images_per_s");
            goto out;
        }
        report_gpu(&s, &r, peer, peak);
    }
    char step_name[200], config[768], name[320];
    snprintf(step_name, sizeof step_name, "%s %lldpx batch %lld train step", s.backbone,
             (long long)s.size, (long long)s.batch);
    snprintf(config, sizeof config,
             "{\"bench\": {\"name\": \"train-step\", \"backbone\": \"%s\", \"size\": %lld, "
             "\"batch\": %lld, \"steps\": %lld, \"warmup\": %lld, \"backend\": \"%s\", "
             "\"precision\": \"%s\", \"threads\": %d, \"classes\": %d, \"graph\": %s}}",
             s.backbone, (long long)s.size, (long long)s.batch, (long long)s.steps,
             (long long)s.warmup, backend, prec, be->threads, CLASSES, r.graph ? "true" : "false");
    snprintf(name, sizeof name, "%s; biqa %s backend (%s%s), %d threads; best of %lld steps",
             who->valuestring, backend, prec, r.graph ? ", CUDA graph" : "", be->threads,
             (long long)s.steps);
    if (!gpu) {
        biqa_bench_row row = {step_name, "img/s", r.images_per_s, number(peer, "images_per_s")};
        rc = biqa_bench_report(cli, "train-step", name, config, &row, 1);
        goto out;
    }
    char n_compile[240], n_flops[240], n_frac[240], n_qpt[240];
    double f = r.flops_per_image / 1e12, eager = number(peer, "images_per_s");
    snprintf(n_compile, sizeof n_compile, "%s (vs torch.compile)", step_name);
    snprintf(n_flops, sizeof n_flops, "%s achieved", step_name);
    snprintf(n_frac, sizeof n_frac, "%s fraction of bf16 peak (%.0f TFLOP/s)", step_name, peak);
    snprintf(n_qpt, sizeof n_qpt, "QPT step %s %lld views %dpx (queue %d)", s.backbone,
             (long long)s.batch, QPT_SIZE, QPT_QUEUE);
    biqa_bench_row rows[5] = {
        {step_name, "img/s", r.images_per_s, eager},
        {n_compile, "img/s", r.images_per_s, number(peer, "compile_images_per_s")},
        {n_flops, "TFLOP/s", r.images_per_s * f, eager * f},
        {n_frac, "of peak", r.images_per_s * f / peak, eager * f / peak},
        {n_qpt, "img/s", qpt_rate, number(qpeer, "images_per_s")},
    };
    rc = biqa_bench_report(cli, "train-step", name, config, rows, 5);
out:
    if (rc == BIQA_EXIT_FAIL && err.msg[0])
        biqa_error_line("%s", err.msg);
    cJSON_Delete(peer);
    cJSON_Delete(qpeer);
    biqa_backend_destroy(be);
    return rc;
}
