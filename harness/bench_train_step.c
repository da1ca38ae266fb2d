/* biqa bench train-step: one ResNet training step (forward, cross-entropy,
 * backward, SGD) on a backend, against the same step in PyTorch
 * (harness/bench/train_step_peer.py) with the same threads. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rng.h"
#include "harness/bench.h"
#include "harness/commands.h"
#include "methods/model.h"

#define CLASSES 1000 /* an ImageNet classifier, as the supervised baseline trains */

typedef struct step_setup {
    const char *backbone;
    int64_t size, batch, steps, warmup;
} step_setup;

/* Best images/s over the timed steps of biqa's training step. */
static int measure(biqa_backend *be, const step_setup *s, double *images_per_s, biqa_error *err)
{
    biqa_model_options opt = {.num_classes = CLASSES, .seed = 0};
    biqa_model *m = biqa_model_create(s->backbone, &opt, be, err);
    if (!m)
        return -1;
    size_t nx = (size_t)s->batch * 3 * s->size * s->size;
    float *host = malloc(nx * sizeof *host);
    int32_t *labels = malloc((size_t)s->batch * sizeof *labels);
    void *xmem = be->alloc(be, nx * sizeof(float));
    void *dmem = be->alloc(be, (size_t)s->batch * CLASSES * sizeof(float));
    biqa_param *params;
    size_t np = biqa_model_params(m, &params);
    biqa_optim_config cfg = {.kind = BIQA_OPTIM_SGD, .momentum = 0.9f, .weight_decay = 1e-4f};
    biqa_optim *o = biqa_optim_create(be, &cfg, params, np, err);
    int rc = host && labels && xmem && dmem && o ? 0 : -1;
    if (rc < 0 && o)
        biqa_fail(err, "bench train-step: out of memory");
    if (rc == 0) {
        uint64_t stream = biqa_rng_stream("bench-train-step");
        for (size_t i = 0; i < nx; i++)
            host[i] = (float)(2 * biqa_rng_uniform(1, stream, i) - 1);
        for (int64_t i = 0; i < s->batch; i++)
            labels[i] = (int32_t)biqa_rng_below(1, stream, nx + (uint64_t)i, CLASSES);
        be->upload(be, xmem, host, nx);
    }
    biqa_tensor x = biqa_view(xmem, (int)s->batch, 3, (int)s->size, (int)s->size);
    biqa_tensor dlogits = biqa_view(dmem, (int)s->batch, CLASSES, 1, 1);
    double best = INFINITY;
    for (int64_t i = 0; i < s->warmup + s->steps && rc == 0; i++) {
        const biqa_tensor *feat, *logits;
        float loss;
        double t0 = biqa_now_seconds();
        biqa_optim_zero_grad(o);
        rc = biqa_model_forward(m, &x, &feat, &logits, err);
        if (rc == 0) {
            be->xent(be, logits, labels, 1.0f, &loss, &dlogits);
            rc = biqa_model_backward(m, NULL, &dlogits, err);
        }
        if (rc == 0) {
            biqa_optim_step(o, 0.01f);
            if (i >= s->warmup)
                best = fmin(best, biqa_now_seconds() - t0);
            biqa_debug("bench train-step: step %lld loss %.4f", (long long)i, loss);
        }
    }
    *images_per_s = (double)s->batch / best;
    biqa_optim_destroy(o);
    if (xmem)
        be->free(be, xmem);
    if (dmem)
        be->free(be, dmem);
    free(host);
    free(labels);
    biqa_model_destroy(m);
    return rc;
}

int biqa_cmd_bench_train_step(biqa_cli *cli)
{
    const biqa_args *a = cli->args;
    step_setup s = {biqa_arg(a, "backbone") ? biqa_arg(a, "backbone") : "resnet18-w0.25", 64, 32,
                    3, 1};
    if (biqa_expect_args(cli, 0, 0, "") != 0 || biqa_arg_int64(a, "size", &s.size) < 0 ||
        biqa_arg_int64(a, "batch", &s.batch) < 0 || biqa_arg_int64(a, "steps", &s.steps) < 0 ||
        biqa_arg_int64(a, "warmup", &s.warmup) < 0)
        return BIQA_EXIT_USAGE;
    if (s.size < 32 || s.size > 1024 || s.batch < 1 || s.batch > 4096 || s.steps < 1 ||
        s.warmup < 0)
        return biqa_usage_error(a, "--size in 32..1024, --batch in 1..4096, --steps >= 1");
    const char *backend = cli->backend ? cli->backend : "cpu";
    biqa_error err = {{0}};
    biqa_backend *be = biqa_backend_create(backend, cli->threads, &err);
    double ours = 0, peer_rate = 0;
    cJSON *peer = NULL;
    int rc = BIQA_EXIT_FAIL;
    if (!be || measure(be, &s, &ours, &err) < 0)
        goto out;
    char args[256];
    snprintf(args, sizeof args, "'%s' %lld %lld %d %lld %lld %d", s.backbone, (long long)s.size,
             (long long)s.batch, be->threads, (long long)s.steps, (long long)s.warmup, CLASSES);
    peer = biqa_bench_peer("train_step_peer.py", args, &err);
    const cJSON *rate = cJSON_GetObjectItemCaseSensitive(peer, "images_per_s");
    const cJSON *who = cJSON_GetObjectItemCaseSensitive(peer, "peer");
    if (!peer)
        goto out;
    if (!cJSON_IsNumber(rate) || !cJSON_IsString(who)) {
        biqa_fail(&err, "bench train-step: the peer's JSON lacks images_per_s or peer");
        goto out;
    }
    peer_rate = rate->valuedouble;
    char measure_name[160], config[512], name[256];
    snprintf(measure_name, sizeof measure_name, "%s %lldpx batch %lld train step", s.backbone,
             (long long)s.size, (long long)s.batch);
    snprintf(config, sizeof config,
             "{\"bench\": {\"name\": \"train-step\", \"backbone\": \"%s\", \"size\": %lld, "
             "\"batch\": %lld, \"steps\": %lld, \"warmup\": %lld, \"backend\": \"%s\", "
             "\"threads\": %d, \"classes\": %d}}",
             s.backbone, (long long)s.size, (long long)s.batch, (long long)s.steps,
             (long long)s.warmup, backend, be->threads, CLASSES);
    snprintf(name, sizeof name, "%s; biqa %s backend, %d threads; best of %lld steps", who->valuestring,
             backend, be->threads, (long long)s.steps);
    biqa_bench_row row = {measure_name, "img/s", ours, peer_rate};
    rc = biqa_bench_report(cli, "train-step", name, config, &row, 1);
out:
    if (rc == BIQA_EXIT_FAIL && err.msg[0])
        biqa_error_line("%s", err.msg);
    cJSON_Delete(peer);
    biqa_backend_destroy(be);
    return rc;
}
