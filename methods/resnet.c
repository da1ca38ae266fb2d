/* torchvision's ResNets (v1.5: the stride of a bottleneck sits in its 3x3
 * conv) on any backend, forward and backward, with width-scaled variants.
 * Memory follows llm.c: one allocation for all parameters, one for all
 * gradients; activations are allocated for an input shape and reused while
 * the shape stays. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "methods/model_impl.h"

#define BN_MOMENTUM 0.1f /* torch.nn.BatchNorm2d defaults */
#define BN_EPS 1e-5f

typedef struct conv {
    biqa_param *w;
    int cin, cout, k;
    biqa_conv_params p;
} conv;

typedef struct bnorm {
    biqa_param *gamma, *beta;
    biqa_tensor mean, var, save_mean, save_invstd;
    int c;
} bnorm;

/* A tensor and its gradient, both in activation memory. */
typedef struct act {
    biqa_tensor t, g;
} act;

typedef struct block {
    conv c1, c2, c3, ds;
    bnorm b1, b2, b3, dsb;
    int bottleneck, has_ds;
    act a1, r1, a2, r2, a3, dsa, dsr, out, gx_tmp;
} block;

typedef struct resnet resnet;

struct resnet {
    biqa_backend *be;
    int training, num_classes, feature_dim;
    conv stem;
    bnorm stem_bn;
    block *blocks;
    int nblocks;
    biqa_param *fc_w, *fc_b;
    bnorm **bns; /* every batch norm, in state-dict order */
    int nbns;
    /* parameters: values and gradients, one allocation each */
    biqa_param *params;
    unsigned char *init; /* enum init of each parameter */
    size_t nparams;
    float *param_mem, *grad_mem, *buffer_mem;
    size_t param_floats, buffer_floats;
    int64_t batches_tracked;
    biqa_state_dict sd;
    /* activations for one input shape */
    int act_n, act_h, act_w;
    void **act_allocs;
    size_t nact_allocs, cap_act_allocs;
    const biqa_tensor *input;
    act c1, b1, pool, feat, logits, input_grad;
    int32_t *argmax;
    int want_input_grad;
};

static void resnet_destroy(resnet *m);

/* ---- architecture ---- */

typedef struct arch {
    const char *name;
    int layers[4];
    int bottleneck;
} arch;

static const arch archs[] = {
    {"resnet18", {2, 2, 2, 2}, 0},
    {"resnet34", {3, 4, 6, 3}, 0},
    {"resnet50", {3, 4, 6, 3}, 1},
    {"resnet101", {3, 4, 23, 3}, 1},
};

/* "resnet50" or "resnet18-w0.25": the architecture and the width factor. */
static const arch *parse_backbone(const char *name, double *width, biqa_error *err)
{
    *width = 1;
    const char *dash = strchr(name, '-');
    size_t base = dash ? (size_t)(dash - name) : strlen(name);
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++) {
        if (strlen(archs[i].name) != base || strncmp(archs[i].name, name, base) != 0)
            continue;
        if (dash) {
            char *end;
            *width = dash[1] == 'w' ? strtod(dash + 2, &end) : 0;
            if (dash[1] != 'w' || end == dash + 2 || *end || !(*width > 0 && *width <= 4)) {
                biqa_fail(err, "backbone '%s': width suffix must be -wF with 0 < F <= 4", name);
                return NULL;
            }
        }
        return &archs[i];
    }
    biqa_fail(err, "unknown backbone '%s' (resnet18, resnet34, resnet50, resnet101, "
                   "optionally -wF, e.g. resnet18-w0.25)", name);
    return NULL;
}

static int scaled(int channels, double width)
{
    int c = (int)lround(channels * width);
    return c > 0 ? c : 1;
}

/* ---- parameters ---- */

/* How a parameter starts (torchvision's schemes): convolutions
 * kaiming_normal_(mode='fan_out', nonlinearity='relu'); batch norm weight 1
 * and bias 0; the classifier as nn.Linear, U(-1/sqrt(fan_in), 1/sqrt(fan_in))
 * for weight and bias. Everything but convolution and classifier weights
 * is exempt from weight decay. */
enum init { INIT_CONV, INIT_ONE, INIT_ZERO, INIT_LINEAR_WEIGHT, INIT_LINEAR_BIAS };

/* Parameters are counted before they are made (count_params), so params
 * never moves and layers can point into it. */
static biqa_param *add_param(resnet *m, const char *name, int n, int c, int h, int w,
                             enum init init)
{
    m->init[m->nparams] = (unsigned char)init;
    biqa_param *p = &m->params[m->nparams++];
    p->name = strdup(name);
    p->value = biqa_view(NULL, n, c, h, w);
    p->grad = p->value;
    p->no_decay = init != INIT_CONV && init != INIT_LINEAR_WEIGHT;
    m->param_floats += biqa_numel(&p->value);
    return p->name ? p : NULL;
}

/* Every layer has at most one batch norm per parameter pair, so this also
 * bounds the batch norms. */
static size_t count_params(const arch *a, int num_classes)
{
    size_t n = 3; /* stem conv, bn weight and bias */
    for (int l = 0; l < 4; l++)
        n += (size_t)a->layers[l] * (a->bottleneck ? 9 : 6) + 3; /* + one downsample */
    if (!a->bottleneck)
        n -= 3; /* layer1 of a basic-block net keeps its width and stride: no downsample */
    return n + (num_classes > 0 ? 2 : 0);
}

static int make_conv(resnet *m, conv *c, const char *name, int cin, int cout, int k,
                     int stride, int pad)
{
    char key[96];
    snprintf(key, sizeof key, "%s.weight", name);
    c->cin = cin, c->cout = cout, c->k = k;
    c->p = (biqa_conv_params){stride, pad};
    c->w = add_param(m, key, cout, cin, k, k, INIT_CONV);
    return c->w ? 0 : -1;
}

static int make_bn(resnet *m, bnorm *b, const char *name, int c)
{
    char key[96];
    b->c = c;
    m->bns[m->nbns++] = b;
    snprintf(key, sizeof key, "%s.weight", name);
    b->gamma = add_param(m, key, c, 1, 1, 1, INIT_ONE);
    snprintf(key, sizeof key, "%s.bias", name);
    b->beta = add_param(m, key, c, 1, 1, 1, INIT_ZERO);
    m->buffer_floats += 4 * (size_t)c; /* running mean, var; saved mean, invstd */
    return b->gamma && b->beta ? 0 : -1;
}

static int make_block(resnet *m, block *b, int layer, int index, int cin, int planes,
                      int stride, int bottleneck)
{
    char name[64];
    int out = bottleneck ? planes * 4 : planes, rc = 0;
    b->bottleneck = bottleneck;
#define NAME(part) (snprintf(name, sizeof name, "layer%d.%d.%s", layer, index, part), name)
    if (bottleneck) {
        rc |= make_conv(m, &b->c1, NAME("conv1"), cin, planes, 1, 1, 0);
        rc |= make_bn(m, &b->b1, NAME("bn1"), planes);
        rc |= make_conv(m, &b->c2, NAME("conv2"), planes, planes, 3, stride, 1);
        rc |= make_bn(m, &b->b2, NAME("bn2"), planes);
        rc |= make_conv(m, &b->c3, NAME("conv3"), planes, out, 1, 1, 0);
        rc |= make_bn(m, &b->b3, NAME("bn3"), out);
    } else {
        rc |= make_conv(m, &b->c1, NAME("conv1"), cin, planes, 3, stride, 1);
        rc |= make_bn(m, &b->b1, NAME("bn1"), planes);
        rc |= make_conv(m, &b->c2, NAME("conv2"), planes, planes, 3, 1, 1);
        rc |= make_bn(m, &b->b2, NAME("bn2"), planes);
    }
    b->has_ds = stride != 1 || cin != out;
    if (b->has_ds) {
        rc |= make_conv(m, &b->ds, NAME("downsample.0"), cin, out, 1, stride, 0);
        rc |= make_bn(m, &b->dsb, NAME("downsample.1"), out);
    }
#undef NAME
    return rc ? -1 : 0;
}

/* ---- initialisation (torchvision's schemes, biqa's counter RNG) ---- */

static double normal(uint64_t seed, uint64_t stream, uint64_t i)
{
    /* Box-Muller on two uniforms of the same counter pair. */
    double u1 = biqa_rng_uniform(seed, stream, 2 * i), u2 = biqa_rng_uniform(seed, stream, 2 * i + 1);
    return sqrt(-2 * log(1 - u1)) * cos(2 * M_PI * u2);
}

/* Fills the host copy of every parameter by its enum init; each tensor's
 * random stream is its name. */
static void init_params(resnet *m, uint64_t seed, float *host)
{
    size_t off = 0;
    for (size_t i = 0; i < m->nparams; i++) {
        biqa_param *p = &m->params[i];
        size_t n = biqa_numel(&p->value);
        uint64_t stream = biqa_rng_stream(p->name);
        double fan_out = (double)p->value.n * p->value.h * p->value.w;
        for (size_t j = 0; j < n; j++) {
            double v = 0;
            switch ((enum init)m->init[i]) {
            case INIT_CONV:
                v = normal(seed, stream, j) * sqrt(2.0 / fan_out);
                break;
            case INIT_ONE:
                v = 1;
                break;
            case INIT_ZERO:
                break;
            case INIT_LINEAR_WEIGHT:
            case INIT_LINEAR_BIAS:
                v = (2 * biqa_rng_uniform(seed, stream, j) - 1) / sqrt(m->feature_dim);
                break;
            }
            host[off + j] = (float)v;
        }
        off += n;
    }
}

/* ---- creation ---- */

/* A vector of c values, or a parameter with its own 4-D shape (ndim 4). */
static int add_state(resnet *m, biqa_tensor *t, const char *name, int ndim, int c)
{
    int64_t shape[4] = {t->n, t->c, t->h, t->w};
    if (ndim == 1)
        shape[0] = c;
    return biqa_state_add(&m->sd, name, ndim, shape, t, NULL);
}

static int add_bn_state(resnet *m, bnorm *b)
{
    char prefix[96], key[128];
    const char *dot = strrchr(b->gamma->name, '.');
    snprintf(prefix, sizeof prefix, "%.*s", (int)(dot - b->gamma->name), b->gamma->name);
    int rc = add_state(m, &b->gamma->value, b->gamma->name, 1, b->c);
    rc |= add_state(m, &b->beta->value, b->beta->name, 1, b->c);
    snprintf(key, sizeof key, "%s.running_mean", prefix);
    rc |= add_state(m, &b->mean, key, 1, b->c);
    snprintf(key, sizeof key, "%s.running_var", prefix);
    rc |= add_state(m, &b->var, key, 1, b->c);
    snprintf(key, sizeof key, "%s.num_batches_tracked", prefix);
    rc |= biqa_state_add(&m->sd, key, 0, NULL, NULL, &m->batches_tracked);
    return rc ? -1 : 0;
}

static int add_conv_state(resnet *m, conv *c)
{
    return add_state(m, &c->w->value, c->w->name, 4, 0);
}

/* The state dict in torchvision's order. */
static int build_state_dict(resnet *m)
{
    int rc = add_conv_state(m, &m->stem) | add_bn_state(m, &m->stem_bn);
    for (int i = 0; i < m->nblocks; i++) {
        block *b = &m->blocks[i];
        rc |= add_conv_state(m, &b->c1) | add_bn_state(m, &b->b1);
        rc |= add_conv_state(m, &b->c2) | add_bn_state(m, &b->b2);
        if (b->bottleneck)
            rc |= add_conv_state(m, &b->c3) | add_bn_state(m, &b->b3);
        if (b->has_ds)
            rc |= add_conv_state(m, &b->ds) | add_bn_state(m, &b->dsb);
    }
    if (m->fc_w) {
        int64_t wshape[2] = {m->num_classes, m->feature_dim}, bshape[1] = {m->num_classes};
        rc |= biqa_state_add(&m->sd, "fc.weight", 2, wshape, &m->fc_w->value, NULL);
        rc |= biqa_state_add(&m->sd, "fc.bias", 1, bshape, &m->fc_b->value, NULL);
    }
    return rc ? -1 : 0;
}

/* Points every parameter, gradient and batch-norm buffer into the three
 * allocations, and sets the buffers as torch.nn.BatchNorm2d starts them
 * (running mean 0, running variance 1). */
static void assign_memory(resnet *m)
{
    size_t off = 0;
    for (size_t i = 0; i < m->nparams; i++) {
        biqa_param *p = &m->params[i];
        p->value.data = m->param_mem + off;
        p->grad.data = m->grad_mem + off;
        off += biqa_numel(&p->value);
    }
    off = 0;
    for (int i = 0; i < m->nbns; i++) {
        bnorm *b = m->bns[i];
        biqa_tensor *bufs[] = {&b->mean, &b->var, &b->save_mean, &b->save_invstd};
        for (int j = 0; j < 4; j++) {
            *bufs[j] = biqa_view(m->buffer_mem + off, b->c, 1, 1, 1);
            off += (size_t)b->c;
            m->be->fill(m->be, bufs[j], j == 1 ? 1.0f : 0.0f);
        }
    }
}

static void *alloc_floats(biqa_backend *be, size_t n)
{
    return be->alloc(be, (n ? n : 1) * sizeof(float));
}

static resnet *resnet_create(const char *backbone, const biqa_model_options *opt,
                              biqa_backend *be, biqa_error *err)
{
    double width;
    const arch *a = parse_backbone(backbone, &width, err);
    if (!a)
        return NULL;
    resnet *m = calloc(1, sizeof *m);
    if (!m)
        goto oom;
    m->be = be;
    m->training = 1;
    m->num_classes = opt ? opt->num_classes : 0;
    m->want_input_grad = opt && opt->input_grad;
    size_t cap = count_params(a, m->num_classes);
    m->params = calloc(cap, sizeof *m->params);
    m->init = calloc(cap, sizeof *m->init);
    m->bns = calloc(cap, sizeof *m->bns);
    m->nblocks = a->layers[0] + a->layers[1] + a->layers[2] + a->layers[3];
    m->blocks = calloc((size_t)m->nblocks, sizeof *m->blocks);
    if (!m->params || !m->init || !m->bns || !m->blocks)
        goto oom;
    int stem = scaled(64, width), rc = 0;
    rc |= make_conv(m, &m->stem, "conv1", 3, stem, 7, 2, 3);
    rc |= make_bn(m, &m->stem_bn, "bn1", stem);
    int cin = stem, bi = 0;
    for (int l = 0; l < 4; l++) {
        int planes = scaled(64 << l, width);
        for (int j = 0; j < a->layers[l]; j++) {
            int stride = (l > 0 && j == 0) ? 2 : 1;
            rc |= make_block(m, &m->blocks[bi++], l + 1, j, cin, planes, stride, a->bottleneck);
            cin = a->bottleneck ? planes * 4 : planes;
        }
    }
    m->feature_dim = cin;
    if (m->num_classes > 0) {
        m->fc_w = add_param(m, "fc.weight", m->num_classes, cin, 1, 1, INIT_LINEAR_WEIGHT);
        m->fc_b = add_param(m, "fc.bias", m->num_classes, 1, 1, 1, INIT_LINEAR_BIAS);
        rc |= !m->fc_w || !m->fc_b;
    }
    if (rc || build_state_dict(m) < 0)
        goto oom;
    m->param_mem = alloc_floats(be, m->param_floats);
    m->grad_mem = alloc_floats(be, m->param_floats);
    m->buffer_mem = alloc_floats(be, m->buffer_floats);
    float *host = malloc((m->param_floats ? m->param_floats : 1) * sizeof *host);
    if (!m->param_mem || !m->grad_mem || !m->buffer_mem || !host) {
        free(host);
        goto oom;
    }
    assign_memory(m);
    init_params(m, opt ? opt->seed : 0, host);
    be->upload(be, m->param_mem, host, m->param_floats);
    free(host);
    biqa_tensor all_grads = biqa_view(m->grad_mem, (int)m->param_floats, 1, 1, 1);
    be->fill(be, &all_grads, 0);
    return m;
oom:
    biqa_fail(err, "%s: out of memory creating the model", backbone);
    resnet_destroy(m);
    return NULL;
}

/* ---- activations ---- */

static void free_activations(resnet *m)
{
    for (size_t i = 0; i < m->nact_allocs; i++)
        m->be->free(m->be, m->act_allocs[i]);
    m->nact_allocs = 0;
    m->act_n = 0;
}

static int alloc_act(resnet *m, act *a, int n, int c, int h, int w)
{
    if (m->nact_allocs + 2 > m->cap_act_allocs) {
        size_t cap = m->cap_act_allocs ? m->cap_act_allocs * 2 : 128;
        void **grown = realloc(m->act_allocs, cap * sizeof *grown);
        if (!grown)
            return -1;
        m->act_allocs = grown;
        m->cap_act_allocs = cap;
    }
    size_t count = (size_t)n * c * h * w;
    void *t = alloc_floats(m->be, count), *g = alloc_floats(m->be, count);
    if (t)
        m->act_allocs[m->nact_allocs++] = t;
    if (g)
        m->act_allocs[m->nact_allocs++] = g;
    a->t = biqa_view(t, n, c, h, w);
    a->g = biqa_view(g, n, c, h, w);
    return t && g ? 0 : -1;
}

static int conv_out(int size, const conv *c)
{
    return (size + 2 * c->p.pad - c->k) / c->p.stride + 1;
}

/* Allocates every activation (and its gradient) for input n x 3 x h x w. */
static int ensure_activations(resnet *m, int n, int h, int w, biqa_error *err)
{
    if (m->act_n == n && m->act_h == h && m->act_w == w)
        return 0;
    free_activations(m);
    if (m->argmax)
        m->be->free(m->be, m->argmax);
    m->argmax = NULL;
    int rc = 0, in_h = h, in_w = w;
    h = conv_out(h, &m->stem), w = conv_out(w, &m->stem);
    rc |= alloc_act(m, &m->c1, n, m->stem.cout, h, w);
    rc |= alloc_act(m, &m->b1, n, m->stem.cout, h, w);
    h = (h + 2 - 3) / 2 + 1, w = (w + 2 - 3) / 2 + 1; /* max pool 3x3, stride 2, pad 1 */
    rc |= alloc_act(m, &m->pool, n, m->stem.cout, h, w);
    m->argmax = m->be->alloc(m->be, (size_t)n * m->stem.cout * h * w * sizeof(int32_t));
    for (int i = 0; i < m->nblocks && rc == 0; i++) {
        block *b = &m->blocks[i];
        int cin = b->c1.cin;
        rc |= alloc_act(m, &b->gx_tmp, n, cin, h, w);
        int h1 = conv_out(h, &b->c1), w1 = conv_out(w, &b->c1);
        rc |= alloc_act(m, &b->a1, n, b->c1.cout, h1, w1);
        rc |= alloc_act(m, &b->r1, n, b->c1.cout, h1, w1);
        int h2 = conv_out(h1, &b->c2), w2 = conv_out(w1, &b->c2);
        rc |= alloc_act(m, &b->a2, n, b->c2.cout, h2, w2);
        int cout = b->c2.cout;
        if (b->bottleneck) {
            rc |= alloc_act(m, &b->r2, n, b->c2.cout, h2, w2);
            rc |= alloc_act(m, &b->a3, n, b->c3.cout, h2, w2);
            cout = b->c3.cout;
        }
        if (b->has_ds) {
            int hd = conv_out(h, &b->ds), wd = conv_out(w, &b->ds);
            rc |= alloc_act(m, &b->dsa, n, b->ds.cout, hd, wd);
            rc |= alloc_act(m, &b->dsr, n, b->ds.cout, hd, wd);
        }
        rc |= alloc_act(m, &b->out, n, cout, h2, w2);
        h = h2, w = w2;
    }
    rc |= alloc_act(m, &m->feat, n, m->feature_dim, 1, 1);
    if (m->want_input_grad)
        rc |= alloc_act(m, &m->input_grad, n, 3, in_h, in_w);
    if (m->num_classes > 0)
        rc |= alloc_act(m, &m->logits, n, m->num_classes, 1, 1);
    if (rc || !m->argmax) {
        free_activations(m);
        return biqa_fail(err, "out of memory for activations of a %d x 3 x %d x %d batch", n,
                         in_h, in_w);
    }
    m->act_n = n, m->act_h = in_h, m->act_w = in_w;
    return 0;
}

/* ---- forward ---- */

static void conv_fwd(resnet *m, const conv *c, const biqa_tensor *x, biqa_tensor *y)
{
    m->be->conv2d_fwd(m->be, &c->p, x, &c->w->value, NULL, y);
}

static void bn_fwd(resnet *m, bnorm *b, const biqa_tensor *x, biqa_tensor *y)
{
    biqa_backend *be = m->be;
    if (m->training)
        be->bn_fwd_train(be, x, &b->gamma->value, &b->beta->value, &b->mean, &b->var,
                         BN_MOMENTUM, BN_EPS, y, &b->save_mean, &b->save_invstd);
    else
        be->bn_fwd_eval(be, x, &b->gamma->value, &b->beta->value, &b->mean, &b->var, BN_EPS, y);
}

static void block_fwd(resnet *m, block *b, const biqa_tensor *x)
{
    biqa_backend *be = m->be;
    conv_fwd(m, &b->c1, x, &b->a1.t);
    bn_fwd(m, &b->b1, &b->a1.t, &b->r1.t);
    be->relu_fwd(be, &b->r1.t, &b->r1.t);
    conv_fwd(m, &b->c2, &b->r1.t, &b->a2.t);
    if (b->bottleneck) {
        bn_fwd(m, &b->b2, &b->a2.t, &b->r2.t);
        be->relu_fwd(be, &b->r2.t, &b->r2.t);
        conv_fwd(m, &b->c3, &b->r2.t, &b->a3.t);
        bn_fwd(m, &b->b3, &b->a3.t, &b->out.t);
    } else {
        bn_fwd(m, &b->b2, &b->a2.t, &b->out.t);
    }
    if (b->has_ds) {
        conv_fwd(m, &b->ds, x, &b->dsa.t);
        bn_fwd(m, &b->dsb, &b->dsa.t, &b->dsr.t);
        be->add(be, &b->out.t, &b->dsr.t, &b->out.t);
    } else {
        be->add(be, &b->out.t, x, &b->out.t);
    }
    be->relu_fwd(be, &b->out.t, &b->out.t);
}

static int resnet_forward(resnet *m, const biqa_tensor *x, const biqa_tensor **features,
                       const biqa_tensor **logits, biqa_error *err)
{
    if (x->c != 3)
        return biqa_fail(err, "model input has %d channels, not 3", x->c);
    if (x->h < 32 || x->w < 32)
        return biqa_fail(err, "model input %d x %d is smaller than 32 x 32 (five halvings)",
                         x->h, x->w);
    if (ensure_activations(m, x->n, x->h, x->w, err) < 0)
        return -1;
    biqa_backend *be = m->be;
    m->input = x;
    conv_fwd(m, &m->stem, x, &m->c1.t);
    bn_fwd(m, &m->stem_bn, &m->c1.t, &m->b1.t);
    be->relu_fwd(be, &m->b1.t, &m->b1.t);
    biqa_pool_params pool = {3, 2, 1};
    be->maxpool_fwd(be, &pool, &m->b1.t, &m->pool.t, m->argmax);
    const biqa_tensor *h = &m->pool.t;
    for (int i = 0; i < m->nblocks; i++) {
        block_fwd(m, &m->blocks[i], h);
        h = &m->blocks[i].out.t;
    }
    be->avgpool_fwd(be, h, &m->feat.t);
    if (m->training)
        m->batches_tracked++;
    *features = &m->feat.t;
    if (logits)
        *logits = NULL;
    if (m->num_classes > 0) {
        be->linear_fwd(be, &m->feat.t, &m->fc_w->value, &m->fc_b->value, &m->logits.t);
        if (logits)
            *logits = &m->logits.t;
    }
    return 0;
}

/* ---- backward ---- */

/* In eval mode, batch norm's backward uses the running statistics as
 * constants: mean = running mean, invstd = 1 / sqrt(running var + eps). */
static void eval_stats(resnet *m, bnorm *b)
{
    float *host = malloc((size_t)b->c * sizeof *host);
    if (!host)
        return;
    m->be->download(m->be, host, b->var.data, (size_t)b->c);
    for (int i = 0; i < b->c; i++)
        host[i] = 1.0f / sqrtf(host[i] + BN_EPS);
    m->be->upload(m->be, b->save_invstd.data, host, (size_t)b->c);
    m->be->copy(m->be, &b->save_mean, &b->mean);
    free(host);
}

static void bn_bwd(resnet *m, bnorm *b, const biqa_tensor *x, const biqa_tensor *dy,
                   biqa_tensor *dx)
{
    if (!m->training)
        eval_stats(m, b);
    m->be->bn_bwd(m->be, m->training, x, dy, &b->gamma->value, &b->save_mean, &b->save_invstd,
                  dx, &b->gamma->grad, &b->beta->grad);
}

static void conv_bwd(resnet *m, const conv *c, const biqa_tensor *x, const biqa_tensor *dy,
                     biqa_tensor *dx)
{
    m->be->conv2d_bwd(m->be, &c->p, x, &c->w->value, dy, dx, &c->w->grad, NULL);
}

/* dout (in b->out.g) -> dx (written). */
static void block_bwd(resnet *m, block *b, const biqa_tensor *x, biqa_tensor *dx)
{
    biqa_backend *be = m->be;
    biqa_tensor *dsum = &b->out.g;
    be->relu_bwd(be, &b->out.t, dsum, dsum);
    if (b->bottleneck) {
        bn_bwd(m, &b->b3, &b->a3.t, dsum, &b->a3.g);
        conv_bwd(m, &b->c3, &b->r2.t, &b->a3.g, &b->r2.g);
        be->relu_bwd(be, &b->r2.t, &b->r2.g, &b->r2.g);
        bn_bwd(m, &b->b2, &b->a2.t, &b->r2.g, &b->a2.g);
    } else {
        bn_bwd(m, &b->b2, &b->a2.t, dsum, &b->a2.g);
    }
    conv_bwd(m, &b->c2, &b->r1.t, &b->a2.g, &b->r1.g);
    be->relu_bwd(be, &b->r1.t, &b->r1.g, &b->r1.g);
    bn_bwd(m, &b->b1, &b->a1.t, &b->r1.g, &b->a1.g);
    conv_bwd(m, &b->c1, x, &b->a1.g, dx);
    if (b->has_ds) {
        bn_bwd(m, &b->dsb, &b->dsa.t, dsum, &b->dsa.g);
        conv_bwd(m, &b->ds, x, &b->dsa.g, &b->gx_tmp.t);
        be->axpy(be, 1.0f, &b->gx_tmp.t, dx);
    } else {
        be->axpy(be, 1.0f, dsum, dx);
    }
}

static int resnet_backward(resnet *m, const biqa_tensor *dfeatures, const biqa_tensor *dlogits,
                           const biqa_tensor **dinput, biqa_error *err)
{
    if (!m->input)
        return biqa_fail(err, "backward before any forward");
    if (dlogits && m->num_classes <= 0)
        return biqa_fail(err, "backward from logits, but the model has no classifier");
    if (!dfeatures && !dlogits)
        return biqa_fail(err, "backward needs the gradient of the features or of the logits");
    biqa_backend *be = m->be;
    biqa_tensor *dfeat = &m->feat.g;
    if (dlogits) {
        be->linear_bwd(be, &m->feat.t, &m->fc_w->value, dlogits, dfeat, &m->fc_w->grad,
                       &m->fc_b->grad);
        if (dfeatures)
            be->axpy(be, 1.0f, dfeatures, dfeat);
    } else {
        be->copy(be, dfeat, dfeatures);
    }
    block *last = &m->blocks[m->nblocks - 1];
    be->avgpool_bwd(be, dfeat, &last->out.g);
    for (int i = m->nblocks - 1; i >= 0; i--) {
        const biqa_tensor *x = i ? &m->blocks[i - 1].out.t : &m->pool.t;
        biqa_tensor *dx = i ? &m->blocks[i - 1].out.g : &m->pool.g;
        block_bwd(m, &m->blocks[i], x, dx);
    }
    be->maxpool_bwd(be, &m->pool.g, m->argmax, &m->b1.g);
    be->relu_bwd(be, &m->b1.t, &m->b1.g, &m->b1.g);
    bn_bwd(m, &m->stem_bn, &m->c1.t, &m->b1.g, &m->c1.g);
    conv_bwd(m, &m->stem, m->input, &m->c1.g, dinput ? &m->input_grad.t : NULL);
    if (dinput)
        *dinput = &m->input_grad.t;
    return 0;
}

static void resnet_destroy(resnet *m)
{
    if (!m)
        return;
    free_activations(m);
    free(m->act_allocs);
    if (m->argmax)
        m->be->free(m->be, m->argmax);
    if (m->param_mem)
        m->be->free(m->be, m->param_mem);
    if (m->grad_mem)
        m->be->free(m->be, m->grad_mem);
    if (m->buffer_mem)
        m->be->free(m->be, m->buffer_mem);
    for (size_t i = 0; i < m->nparams; i++)
        free((char *)m->params[i].name);
    free(m->params);
    free(m->init);
    free(m->bns);
    free(m->blocks);
    biqa_state_free(&m->sd);
    free(m);
}

/* ---- the model interface ---- */

static int ops_forward(void *impl, const biqa_tensor *x, const biqa_tensor **features,
                       const biqa_tensor **logits, biqa_error *err)
{
    return resnet_forward(impl, x, features, logits, err);
}

static int ops_backward(void *impl, const biqa_tensor *dfeatures, const biqa_tensor *dlogits,
                        const biqa_tensor **dinput, biqa_error *err)
{
    return resnet_backward(impl, dfeatures, dlogits, dinput, err);
}

static void ops_set_training(void *impl, int training) { ((resnet *)impl)->training = training; }
static void ops_destroy(void *impl) { resnet_destroy(impl); }

static const biqa_model_ops resnet_ops = {ops_forward, ops_backward, ops_set_training,
                                          ops_destroy};

biqa_model *biqa_resnet_create(const char *backbone, const biqa_model_options *opt,
                               biqa_backend *be, biqa_error *err)
{
    resnet *m = resnet_create(backbone, opt, be, err);
    if (!m)
        return NULL;
    return biqa_model_wrap(&resnet_ops, m, be, m->num_classes, m->feature_dim, m->params,
                           m->nparams, &m->sd, opt, err);
}
