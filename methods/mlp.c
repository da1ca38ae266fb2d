/* MLP heads: linear layers with ReLU between them, as
 * nn.Sequential(Linear, ReLU, ..., Linear), composed after a backbone's
 * pooled features (MoCo v2's 2048-2048-128 projection, a regression head,
 * a classifier). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "methods/model_impl.h"

#define MLP_MAX_LAYERS 8

typedef struct mlp {
    biqa_backend *be;
    int nlayers, dims[MLP_MAX_LAYERS + 1];
    biqa_param params[2 * MLP_MAX_LAYERS]; /* weight, bias per layer */
    float *param_mem, *grad_mem;
    biqa_state_dict sd;
    int act_n;
    void *act_mem;
    biqa_tensor out[MLP_MAX_LAYERS], grad[MLP_MAX_LAYERS], dinput;
    const biqa_tensor *input;
} mlp;

static void mlp_destroy(void *impl)
{
    mlp *m = impl;
    if (!m)
        return;
    if (m->param_mem)
        m->be->free(m->be, m->param_mem);
    if (m->grad_mem)
        m->be->free(m->be, m->grad_mem);
    if (m->act_mem)
        m->be->free(m->be, m->act_mem);
    for (int i = 0; i < 2 * m->nlayers; i++)
        free((char *)m->params[i].name);
    biqa_state_free(&m->sd);
    free(m);
}

/* "2048-2048-128" -> dims; at least one layer. */
static int parse_spec(const char *spec, mlp *m, biqa_error *err)
{
    const char *p = spec;
    int n = 0;
    while (*p) {
        char *end;
        long d = strtol(p, &end, 10);
        if (end == p || d < 1 || d > (1 << 20) || n > MLP_MAX_LAYERS || (*end && *end != '-'))
            return biqa_fail(err, "head 'mlp:%s': want widths like mlp:2048-2048-128 (at most %d "
                                  "layers)", spec, MLP_MAX_LAYERS);
        m->dims[n++] = (int)d;
        p = *end ? end + 1 : end;
    }
    if (n < 2)
        return biqa_fail(err, "head 'mlp:%s': needs an input and an output width", spec);
    m->nlayers = n - 1;
    return 0;
}

/* Every tensor's place in the two allocations, the state dict, and
 * nn.Linear's init: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias. */
static int build(mlp *m, uint64_t seed, biqa_error *err)
{
    size_t total = 0;
    for (int l = 0; l < m->nlayers; l++)
        total += (size_t)m->dims[l + 1] * (m->dims[l] + 1);
    m->param_mem = m->be->alloc(m->be, total * sizeof(float));
    m->grad_mem = m->be->alloc(m->be, total * sizeof(float));
    float *host = malloc(total * sizeof *host);
    int rc = m->param_mem && m->grad_mem && host ? 0 : -1;
    size_t off = 0;
    for (int l = 0; l < m->nlayers && rc == 0; l++) {
        int in = m->dims[l], out = m->dims[l + 1];
        for (int k = 0; k < 2 && rc == 0; k++) {
            biqa_param *p = &m->params[2 * l + k];
            char name[32];
            snprintf(name, sizeof name, "%d.%s", 2 * l, k ? "bias" : "weight");
            size_t count = k ? (size_t)out : (size_t)out * in;
            p->name = strdup(name);
            p->value = biqa_view(m->param_mem + off, out, k ? 1 : in, 1, 1);
            p->grad = biqa_view(m->grad_mem + off, out, k ? 1 : in, 1, 1);
            p->no_decay = k;
            uint64_t stream = biqa_rng_stream(name);
            for (size_t j = 0; j < count; j++)
                host[off + j] = (float)((2 * biqa_rng_uniform(seed, stream, j) - 1) / sqrt(in));
            int64_t shape[2] = {out, in};
            rc = p->name ? biqa_state_add(&m->sd, name, k ? 1 : 2, shape, &p->value, NULL) : -1;
            off += count;
        }
    }
    if (rc == 0) {
        m->be->upload(m->be, m->param_mem, host, total);
        biqa_tensor grads = biqa_view(m->grad_mem, (int)total, 1, 1, 1);
        m->be->fill(m->be, &grads, 0);
    }
    free(host);
    return rc == 0 ? 0 : biqa_fail(err, "out of memory creating an MLP head");
}

static int ensure_activations(mlp *m, int n, biqa_error *err)
{
    if (m->act_n == n)
        return 0;
    if (m->act_mem)
        m->be->free(m->be, m->act_mem);
    size_t total = (size_t)n * m->dims[0]; /* the input gradient */
    for (int l = 0; l < m->nlayers; l++)
        total += 2 * (size_t)n * m->dims[l + 1];
    m->act_mem = m->be->alloc(m->be, total * sizeof(float));
    if (!m->act_mem) {
        m->act_n = 0;
        return biqa_fail(err, "out of memory for the activations of an MLP head");
    }
    float *p = m->act_mem;
    for (int l = 0; l < m->nlayers; l++) {
        m->out[l] = biqa_view(p, n, m->dims[l + 1], 1, 1);
        p += (size_t)n * m->dims[l + 1];
        m->grad[l] = biqa_view(p, n, m->dims[l + 1], 1, 1);
        p += (size_t)n * m->dims[l + 1];
    }
    m->dinput = biqa_view(p, n, m->dims[0], 1, 1);
    m->act_n = n;
    return 0;
}

static int mlp_forward(void *impl, const biqa_tensor *x, const biqa_tensor **features,
                       const biqa_tensor **logits, biqa_error *err)
{
    mlp *m = impl;
    if (x->c != m->dims[0] || x->h != 1 || x->w != 1)
        return biqa_fail(err, "MLP head input is %d x %d x %d per sample, wants %d x 1 x 1", x->c,
                         x->h, x->w, m->dims[0]);
    if (ensure_activations(m, x->n, err) < 0)
        return -1;
    biqa_backend *be = m->be;
    m->input = x;
    const biqa_tensor *h = x;
    for (int l = 0; l < m->nlayers; l++) {
        be->linear_fwd(be, h, &m->params[2 * l].value, &m->params[2 * l + 1].value, &m->out[l]);
        if (l + 1 < m->nlayers)
            be->relu_fwd(be, &m->out[l], &m->out[l]);
        h = &m->out[l];
    }
    *features = h;
    if (logits)
        *logits = NULL;
    return 0;
}

static int mlp_backward(void *impl, const biqa_tensor *dfeatures, const biqa_tensor *dlogits,
                        const biqa_tensor **dinput, biqa_error *err)
{
    mlp *m = impl;
    if (!m->input)
        return biqa_fail(err, "backward before any forward");
    if (dlogits || !dfeatures)
        return biqa_fail(err, "an MLP head's backward takes the gradient of its output");
    biqa_backend *be = m->be;
    const biqa_tensor *dy = dfeatures;
    for (int l = m->nlayers - 1; l >= 0; l--) {
        const biqa_tensor *x = l ? &m->out[l - 1] : m->input;
        biqa_tensor *dx = l ? &m->grad[l - 1] : dinput ? &m->dinput : NULL;
        be->linear_bwd(be, x, &m->params[2 * l].value, dy, dx, &m->params[2 * l].grad,
                       &m->params[2 * l + 1].grad);
        if (l) {
            be->relu_bwd(be, &m->out[l - 1], dx, dx);
            dy = dx;
        }
    }
    if (dinput)
        *dinput = &m->dinput;
    return 0;
}

static void mlp_set_training(void *impl, int training)
{
    (void)impl; /* no batch norm or dropout: the same in both modes */
    (void)training;
}

static const biqa_model_ops mlp_ops = {mlp_forward, mlp_backward, mlp_set_training, mlp_destroy};

biqa_model *biqa_mlp_create(const char *spec, const biqa_model_options *opt, biqa_backend *be,
                            biqa_error *err)
{
    mlp *m = calloc(1, sizeof *m);
    if (!m) {
        biqa_fail(err, "out of memory creating an MLP head");
        return NULL;
    }
    m->be = be;
    if (parse_spec(spec, m, err) < 0 || build(m, opt ? opt->seed : 0, err) < 0) {
        mlp_destroy(m);
        return NULL;
    }
    return biqa_model_wrap(&mlp_ops, m, be, 0, m->dims[m->nlayers], m->params,
                           (size_t)(2 * m->nlayers), &m->sd, opt, err);
}
