/* Convolutions through oneDNN primitives. A ResNet has few distinct
 * convolution shapes, so each shape gets a plan, built on first use and kept
 * in the backend: three stages (forward, backward data, backward weights),
 * each a oneDNN primitive with the reorders that bring its operands from and
 * to the NCHW / OIHW layouts of the interface. Blocked copies and oneDNN's
 * scratchpad live in the backend's shared workspace. */
#include <omp.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_impl.h"

typedef struct conv_key {
    int n, ic, ih, iw, oc, kh, kw, oh, ow, stride, pad, bias;
} conv_key;

/* One tensor argument of a primitive. When the primitive wants another
 * layout than the interface's, `user` is the interface view, `reorder`
 * converts (user -> inner for inputs, inner -> user for outputs) and the
 * inner copy lives in workspace slot `slot`. */
typedef struct operand {
    dnnl_memory_desc_t md; /* the primitive's layout */
    dnnl_memory_t inner, user;
    dnnl_primitive_t reorder;
    enum cpu_ws_slot slot;
    size_t bytes;
} operand;

typedef struct stage {
    int ready;
    dnnl_primitive_t prim;
    operand src, wei, dst; /* fwd: x, w, y; bwd data: dx, w, dy; bwd weights: x, dw, dy */
    dnnl_memory_t bias, scratch;
    size_t scratch_bytes;
} stage;

enum stage_kind { FWD, BWD_DATA, BWD_WEIGHTS };

struct cpu_conv_plan {
    conv_key key;
    stage st[3];
    cpu_conv_plan *next;
};

static void check(dnnl_status_t s, const char *what)
{
    if (s != dnnl_success)
        biqa_cpu_die(what, dnnl_status2str(s));
}

/* oneDNN's OpenMP runtime sizes its parallel regions (and tunes its kernels
 * at creation) by omp_get_max_threads() of the calling thread: set it to the
 * backend's worker count around every oneDNN call, then restore it. */
static int threads_enter(const cpu_ctx *c)
{
    int old = omp_get_max_threads();
    omp_set_num_threads(c->threads);
    return old;
}

static void set_handle(dnnl_memory_t m, const void *p)
{
    check(dnnl_memory_set_data_handle(m, (void *)p), "oneDNN set_data_handle");
}

static void run(cpu_ctx *c, dnnl_primitive_t prim, int nargs, const dnnl_exec_arg_t *args)
{
    check(dnnl_primitive_execute(prim, c->stream, nargs, args), "oneDNN execute");
    check(dnnl_stream_wait(c->stream), "oneDNN stream wait");
}

/* Layout choice, from timing both layouts' primitives (and their
 * reorders) at batch 32 on every ResNet-50 shape, 2 AVX-512 cores: oneDNN's
 * blocked (nChw16c) kernels beat its NCHW path (im2col + GEMM) by 1.3-2x
 * even counting the reorders, except (a) 1x1 stride-1 convolutions on maps of 20x20 and more,
 * where NCHW is a plain GEMM per image and the reorders of the large maps
 * cost more than the blocked kernels save (NCHW: 44 ms vs 65 ms for
 * 64->256 at 56x56, forward + both backwards), and (b) the data gradient of
 * a stem convolution with few input channels, which the blocked kernels
 * handle badly (48 ms vs 140 ms for 3->64 7x7/2 at 224). */
static int plain_layout(const conv_key *k, enum stage_kind s)
{
    if (k->kh == 1 && k->kw == 1 && k->stride == 1 && k->pad == 0 && k->oh * k->ow >= 400)
        return 1;
    return s == BWD_DATA && k->ic < 8;
}

static void md_init(dnnl_memory_desc_t *md, int a, int b, int c, int d, dnnl_format_tag_t tag)
{
    dnnl_dims_t dims = {a, b, c, d};
    check(dnnl_memory_desc_init_by_tag(md, 4, dims, dnnl_f32, tag), "oneDNN memory desc");
}

/* The convolution descriptor of stage s with layouts chosen by oneDNN
 * (blocked) or fixed to NCHW/OIHW (plain). */
static void conv_desc(const conv_key *k, enum stage_kind s, int plain, dnnl_convolution_desc_t *cd)
{
    dnnl_memory_desc_t x, w, y, b;
    dnnl_format_tag_t act = plain ? dnnl_nchw : dnnl_format_tag_any;
    md_init(&x, k->n, k->ic, k->ih, k->iw, act);
    md_init(&w, k->oc, k->ic, k->kh, k->kw, plain ? dnnl_oihw : dnnl_format_tag_any);
    md_init(&y, k->n, k->oc, k->oh, k->ow, act);
    dnnl_dims_t bd = {k->oc}, strides = {k->stride, k->stride}, pad = {k->pad, k->pad};
    check(dnnl_memory_desc_init_by_tag(&b, 1, bd, dnnl_f32, dnnl_a), "oneDNN memory desc");
    dnnl_status_t st;
    if (s == FWD)
        st = dnnl_convolution_forward_desc_init(cd, dnnl_forward_training, dnnl_convolution_direct,
                                                &x, &w, k->bias ? &b : NULL, &y, strides, pad,
                                                pad);
    else if (s == BWD_DATA)
        st = dnnl_convolution_backward_data_desc_init(cd, dnnl_convolution_direct, &x, &w, &y,
                                                      strides, pad, pad);
    else /* the bias gradient is summed by conv2d_bwd itself */
        st = dnnl_convolution_backward_weights_desc_init(cd, dnnl_convolution_direct, &x, &w,
                                                         NULL, &y, strides, pad, pad);
    check(st, "oneDNN convolution descriptor");
}

static void operand_init(cpu_ctx *c, operand *op, const dnnl_memory_desc_t *inner,
                         const dnnl_memory_desc_t *user, int output, int accumulate,
                         enum cpu_ws_slot slot)
{
    check(dnnl_memory_create(&op->inner, inner, c->engine, DNNL_MEMORY_NONE), "oneDNN memory");
    op->md = *inner;
    op->slot = slot;
    /* An accumulated output (dw += ...) always goes through a reorder with a
     * sum post-op, which adds the primitive's result into the user tensor. */
    if (!accumulate && dnnl_memory_desc_equal(inner, user))
        return;
    op->bytes = dnnl_memory_desc_get_size(inner);
    check(dnnl_memory_create(&op->user, user, c->engine, DNNL_MEMORY_NONE), "oneDNN memory");
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    if (accumulate) {
        check(dnnl_primitive_attr_create(&attr), "oneDNN attr");
        check(dnnl_post_ops_create(&po), "oneDNN post-ops");
        check(dnnl_post_ops_append_sum(po, 1.0f), "oneDNN post-ops");
        check(dnnl_primitive_attr_set_post_ops(attr, po), "oneDNN attr");
    }
    dnnl_primitive_desc_t pd;
    check(dnnl_reorder_primitive_desc_create(&pd, output ? inner : user, c->engine,
                                             output ? user : inner, c->engine, attr),
          "oneDNN reorder");
    check(dnnl_primitive_create(&op->reorder, pd), "oneDNN reorder");
    dnnl_primitive_desc_destroy(pd);
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
}

static void operand_free(operand *op)
{
    if (op->reorder)
        dnnl_primitive_destroy(op->reorder);
    if (op->user)
        dnnl_memory_destroy(op->user);
    if (op->inner)
        dnnl_memory_destroy(op->inner);
}

/* An input: points the primitive at the user tensor, or at `copy` when the
 * converted tensor is already there, or converts it into the workspace. */
static dnnl_memory_t operand_in(cpu_ctx *c, operand *op, const void *data, void *copy)
{
    if (!op->user) {
        set_handle(op->inner, data);
        return op->inner;
    }
    if (copy) {
        set_handle(op->inner, copy);
        return op->inner;
    }
    set_handle(op->inner, biqa_cpu_ws(c, op->slot, op->bytes));
    set_handle(op->user, data);
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, op->user}, {DNNL_ARG_TO, op->inner}};
    run(c, op->reorder, 2, a);
    return op->inner;
}

/* An output: where the primitive writes; operand_out_end moves it to the
 * user tensor. */
static dnnl_memory_t operand_out(cpu_ctx *c, operand *op, void *data)
{
    if (!op->user) {
        set_handle(op->inner, data);
        return op->inner;
    }
    set_handle(op->inner, biqa_cpu_ws(c, op->slot, op->bytes));
    set_handle(op->user, data);
    return op->inner;
}

static void operand_out_end(cpu_ctx *c, operand *op)
{
    if (!op->user)
        return;
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, op->inner}, {DNNL_ARG_TO, op->user}};
    run(c, op->reorder, 2, a);
}

static void stage_init(cpu_ctx *c, const conv_key *k, enum stage_kind s, stage *st)
{
    const int plain = plain_layout(k, s);
    dnnl_primitive_attr_t attr;
    check(dnnl_primitive_attr_create(&attr), "oneDNN attr");
    check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user),
          "oneDNN attr");
    dnnl_convolution_desc_t cd, fd;
    dnnl_primitive_desc_t pd, hint = NULL;
    conv_desc(k, s, plain, &cd);
    if (s != FWD) { /* backward stages are created from a forward hint */
        conv_desc(k, FWD, plain, &fd);
        check(dnnl_primitive_desc_create(&hint, &fd, attr, c->engine, NULL), "oneDNN convolution");
    }
    check(dnnl_primitive_desc_create(&pd, &cd, attr, c->engine, hint), "oneDNN convolution");
    if (hint)
        dnnl_primitive_desc_destroy(hint);
    dnnl_primitive_attr_destroy(attr);
    check(dnnl_primitive_create(&st->prim, pd), "oneDNN convolution");

    dnnl_memory_desc_t ux, uw, uy;
    md_init(&ux, k->n, k->ic, k->ih, k->iw, dnnl_nchw);
    md_init(&uw, k->oc, k->ic, k->kh, k->kw, dnnl_oihw);
    md_init(&uy, k->n, k->oc, k->oh, k->ow, dnnl_nchw);
    const dnnl_query_t qx = s == BWD_DATA ? dnnl_query_diff_src_md : dnnl_query_src_md;
    const dnnl_query_t qw = s == BWD_WEIGHTS ? dnnl_query_diff_weights_md : dnnl_query_weights_md;
    const dnnl_query_t qy = s == FWD ? dnnl_query_dst_md : dnnl_query_diff_dst_md;
    operand_init(c, &st->src, dnnl_primitive_desc_query_md(pd, qx, 0), &ux, s == BWD_DATA, 0,
                 CPU_WS_SRC);
    operand_init(c, &st->wei, dnnl_primitive_desc_query_md(pd, qw, 0), &uw, s == BWD_WEIGHTS,
                 s == BWD_WEIGHTS, s == BWD_WEIGHTS ? CPU_WS_DWEI : CPU_WS_WEI);
    operand_init(c, &st->dst, dnnl_primitive_desc_query_md(pd, qy, 0), &uy, s == FWD, 0,
                 s == BWD_WEIGHTS ? CPU_WS_DST2 : CPU_WS_DST);
    if (s == FWD && k->bias) {
        const dnnl_memory_desc_t *bmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1);
        check(dnnl_memory_create(&st->bias, bmd, c->engine, DNNL_MEMORY_NONE), "oneDNN memory");
    }
    const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    st->scratch_bytes = dnnl_memory_desc_get_size(sp);
    check(dnnl_memory_create(&st->scratch, sp, c->engine, DNNL_MEMORY_NONE), "oneDNN memory");
    dnnl_primitive_desc_destroy(pd);
    st->ready = 1;
}

static void stage_free(stage *st)
{
    if (!st->ready)
        return;
    dnnl_primitive_destroy(st->prim);
    operand_free(&st->src);
    operand_free(&st->wei);
    operand_free(&st->dst);
    if (st->bias)
        dnnl_memory_destroy(st->bias);
    dnnl_memory_destroy(st->scratch);
}

void biqa_cpu_conv_free_plans(cpu_ctx *c)
{
    while (c->plans) {
        cpu_conv_plan *p = c->plans;
        c->plans = p->next;
        for (int s = 0; s < 3; s++)
            stage_free(&p->st[s]);
        free(p);
    }
}

/* The plan of this shape with stage s ready, built on first use. */
static stage *plan_stage(cpu_ctx *c, const biqa_conv_params *cp, const biqa_tensor *x,
                         const biqa_tensor *w, const biqa_tensor *y, int bias, enum stage_kind s)
{
    const conv_key k = {x->n, x->c, x->h, x->w, w->n,    w->h,
                        w->w, y->h, y->w, cp->stride, cp->pad, s == FWD && bias};
    cpu_conv_plan *p = c->plans;
    while (p && memcmp(&p->key, &k, sizeof k) != 0)
        p = p->next;
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p)
            biqa_cpu_die("convolution plan", "out of memory");
        p->key = k;
        p->next = c->plans;
        c->plans = p;
    }
    if (!p->st[s].ready)
        stage_init(c, &k, s, &p->st[s]);
    return &p->st[s];
}

static dnnl_memory_t scratch(cpu_ctx *c, stage *st)
{
    set_handle(st->scratch, biqa_cpu_ws(c, CPU_WS_SCRATCH, st->scratch_bytes));
    return st->scratch;
}

void biqa_cpu_conv2d_fwd(biqa_backend *be, const biqa_conv_params *p, const biqa_tensor *x,
                         const biqa_tensor *w, const biqa_tensor *b, biqa_tensor *y)
{
    cpu_ctx *c = cpu_of(be);
    int old = threads_enter(c);
    stage *st = plan_stage(c, p, x, w, y, b != NULL, FWD);
    dnnl_exec_arg_t a[5] = {{DNNL_ARG_SRC, operand_in(c, &st->src, x->data, NULL)},
                            {DNNL_ARG_WEIGHTS, operand_in(c, &st->wei, w->data, NULL)},
                            {DNNL_ARG_DST, operand_out(c, &st->dst, y->data)},
                            {DNNL_ARG_SCRATCHPAD, scratch(c, st)},
                            {DNNL_ARG_BIAS, st->bias}};
    if (b)
        set_handle(st->bias, b->data);
    run(c, st->prim, b ? 5 : 4, a);
    operand_out_end(c, &st->dst);
    omp_set_num_threads(old);
}

/* db += sum of dy over (n, h, w), per output channel. */
static void bias_grad(biqa_backend *be, const biqa_tensor *dy, biqa_tensor *db)
{
    const int N = dy->n, C = dy->c;
    const long hw = (long)dy->h * dy->w;
    const float *g = biqa_f32(dy);
    float *d = biqa_f32(db);
#pragma omp parallel for num_threads(be->threads) schedule(static) if (N * C * hw >= CPU_PAR_MIN)
    for (int c = 0; c < C; c++) {
        double s = 0;
        for (int i = 0; i < N; i++) {
            const float *p = g + ((long)i * C + c) * hw;
#pragma omp simd reduction(+ : s)
            for (long j = 0; j < hw; j++)
                s += p[j];
        }
        d[c] += (float)s;
    }
}

/* Images per call of the weight-gradient primitive. Its kernels add the
 * N*OH*OW products of each weight in float, one long chain per worker, and
 * the rounding error grows with the chain: at batch 32 against float64, 1.1e-5
 * relative for 64->64 3x3 at 56x56 and 1.9e-5 for the 7x7 stem at 224
 * (PyTorch, on the same oneDNN kernels: 6.8e-6 and 1.25e-5). Calls over at
 * most CHAIN products, added into dw one after the other, bring these to 3e-6
 * and 5e-6; maps of 28x28 and smaller take the batch of 32 in one call. */
enum { CHAIN = 32768 };

static int chunk_images(int n, long ohw)
{
    long calls = ((long)n * ohw + CHAIN - 1) / CHAIN;
    return (int)((n + calls - 1) / calls);
}

/* x (or dy) restricted to images [n0, n0 + count): NCHW keeps them
 * contiguous. */
static biqa_tensor images(const biqa_tensor *t, int n0, int count)
{
    biqa_tensor s = *t;
    s.n = count;
    s.data = biqa_f32(t) + (size_t)n0 * t->c * t->h * t->w;
    return s;
}

/* The blocked copy of dy that the data gradient made, at image n0, when
 * the weight gradient wants the same layout (its images are outermost, so
 * a chunk of images is a contiguous piece); else NULL. */
static void *shared_dy(cpu_ctx *c, const stage *data, const stage *wgt, int n0)
{
    if (!data || !data->dst.user || !wgt->dst.user)
        return NULL;
    dnnl_memory_desc_t md = data->dst.md;
    const dnnl_blocking_desc_t *b = &md.format_desc.blocking;
    if (md.format_kind != dnnl_blocked)
        return NULL;
    for (int i = 0; i < b->inner_nblks; i++)
        if (b->inner_idxs[i] == 0)
            return NULL;
    for (int d = 1; d < md.ndims; d++)
        if (b->strides[d] > b->strides[0])
            return NULL;
    md.dims[0] = md.padded_dims[0] = wgt->dst.md.dims[0];
    if (!dnnl_memory_desc_equal(&md, &wgt->dst.md))
        return NULL;
    return (float *)c->ws[data->dst.slot] + (size_t)n0 * (size_t)b->strides[0];
}

void biqa_cpu_conv2d_bwd(biqa_backend *be, const biqa_conv_params *p, const biqa_tensor *x,
                         const biqa_tensor *w, const biqa_tensor *dy, biqa_tensor *dx,
                         biqa_tensor *dw, biqa_tensor *db)
{
    cpu_ctx *c = cpu_of(be);
    int old = threads_enter(c);
    const stage *data = NULL;
    if (dx) {
        stage *st = plan_stage(c, p, x, w, dy, 0, BWD_DATA);
        dnnl_exec_arg_t a[4] = {{DNNL_ARG_DIFF_DST, operand_in(c, &st->dst, dy->data, NULL)},
                                {DNNL_ARG_WEIGHTS, operand_in(c, &st->wei, w->data, NULL)},
                                {DNNL_ARG_DIFF_SRC, operand_out(c, &st->src, dx->data)},
                                {DNNL_ARG_SCRATCHPAD, scratch(c, st)}};
        run(c, st->prim, 4, a);
        operand_out_end(c, &st->src);
        data = st;
    }
    const int chunk = chunk_images(x->n, (long)dy->h * dy->w);
    for (int n0 = 0; dw && n0 < x->n; n0 += chunk) {
        const int count = x->n - n0 < chunk ? x->n - n0 : chunk;
        const biqa_tensor xs = images(x, n0, count), dys = images(dy, n0, count);
        stage *st = plan_stage(c, p, &xs, w, &dys, 0, BWD_WEIGHTS);
        dnnl_exec_arg_t a[4] = {
            {DNNL_ARG_SRC, operand_in(c, &st->src, xs.data, NULL)},
            {DNNL_ARG_DIFF_DST, operand_in(c, &st->dst, dys.data, shared_dy(c, data, st, n0))},
            {DNNL_ARG_DIFF_WEIGHTS, operand_out(c, &st->wei, dw->data)},
            {DNNL_ARG_SCRATCHPAD, scratch(c, st)}};
        run(c, st->prim, 4, a);
        operand_out_end(c, &st->wei); /* dw += this chunk's gradient */
    }
    if (db)
        bias_grad(be, dy, db);
    omp_set_num_threads(old);
}
