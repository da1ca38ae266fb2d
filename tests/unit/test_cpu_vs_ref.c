/* The cpu backend against the ref backend (the oracle), op by op.
 *
 * Each case runs one op (forward and backward where it has one) on the ref
 * backend and on the cpu backend with 1 and with 2 workers, from the same
 * random inputs (core/rng.h), and compares every output by the normalised
 * error max|cpu - ref| / max(1, max|ref|) <= TOL = 1e-5. float32 arithmetic
 * in a different order (blocked convolutions, BLAS, double accumulators)
 * differs by 1e-8 to 1e-6 here, 3e-6 for the weight gradient that sums 33,000
 * products per weight; a wrong index, a missing term or a forgotten element
 * is off by O(1). Besides:
 * - written outputs start as NaN, so an element the op does not write shows
 *   up; accumulated parameter gradients (dw, db, dgamma, dbeta) start from
 *   random values, so the expected value is init + gradient (+=);
 * - every case runs twice on the same cpu backend (the second time with its
 *   convolution plans and workspace warm) and the two results must be
 *   bitwise identical, and the 2-worker results must be within TOL of the
 *   1-worker ones;
 * - max pool indices must match exactly, and every output of the oracle must
 *   be nonzero somewhere, so that no comparison is vacuous.
 * Shapes are small (this file also runs under ASan+UBSan) but cover odd
 * sizes, batch 1, stride 2, 1x1 / 3x3 / 7x7 kernels with ResNet's padding,
 * channel counts that are not multiples of 8 or 16, each convolution layout
 * path of kernels/cpu/conv.c, and element counts on both sides of the
 * threshold where the cpu backend's loops go parallel. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "kernels/backend.h"

#define TOL 1e-5
#define MAXT 10
#define MAXHOST 256

/* A host tensor: its shape and values (an input, or an output's initial
 * values); exact: compare bitwise (max pool indices). */
typedef struct host {
    int n, c, h, w;
    float *v;
    int exact;
} host;

typedef struct op_case op_case;
/* Runs the op on be: in and out are the case's tensors on be. */
typedef void (*op_fn)(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                      float *loss);

struct op_case {
    const char *name;
    op_fn fn;
    host in[MAXT], out[MAXT];
    int nin, nout, has_loss;
    /* op parameters, by op */
    biqa_conv_params conv;
    biqa_pool_params pool;
    int bias, no_dx, no_extra, kind, nesterov, step;
    float alpha, eps, momentum, lr, wd, beta1, beta2, tau, dloss, beta;
    int32_t *labels;
};

static void *allocs[MAXHOST];
static int nallocs;

static void *track(size_t bytes)
{
    cr_assert_lt(nallocs, MAXHOST);
    void *p = malloc(bytes ? bytes : 1);
    cr_assert_not_null(p);
    return allocs[nallocs++] = p;
}

static void release(void)
{
    for (int i = 0; i < nallocs; i++)
        free(allocs[i]);
    nallocs = 0;
}

TestSuite(cpu_vs_ref, .fini = release);

static size_t count(const host *t) { return (size_t)t->n * t->c * t->h * t->w; }

/* An output the op writes: starts as NaN. */
static host written(int n, int c, int h, int w)
{
    host t = {n, c, h, w, NULL, 0};
    t.v = track(count(&t) * sizeof(float));
    for (size_t i = 0; i < count(&t); i++)
        t.v[i] = NAN;
    return t;
}

/* Uniform in [lo, hi), keyed by (case, tag). */
static host uniform(const op_case *oc, const char *tag, int n, int c, int h, int w, double lo,
                    double hi)
{
    host t = written(n, c, h, w);
    uint64_t seed = biqa_rng_stream(oc->name), s = biqa_rng_stream(tag);
    for (size_t i = 0; i < count(&t); i++)
        t.v[i] = (float)(lo + (hi - lo) * biqa_rng_uniform(seed, s, i));
    return t;
}

static void add_in(op_case *oc, host t) { oc->in[oc->nin++] = t; }
static void add_out(op_case *oc, host t) { oc->out[oc->nout++] = t; }

/* ---- running and comparing -------------------------------------------------- */

static biqa_tensor on_backend(biqa_backend *be, const host *t)
{
    biqa_tensor d = biqa_view(be->alloc(be, count(t) * sizeof(float)), t->n, t->c, t->h, t->w);
    cr_assert_not_null(d.data);
    be->upload(be, d.data, t->v, count(t));
    return d;
}

/* Runs oc on be; res[i] receives output i, *loss the loss. */
static void run_on(biqa_backend *be, const op_case *oc, float **res, float *loss)
{
    biqa_tensor in[MAXT], out[MAXT];
    for (int i = 0; i < oc->nin; i++)
        in[i] = on_backend(be, &oc->in[i]);
    for (int i = 0; i < oc->nout; i++)
        out[i] = on_backend(be, &oc->out[i]);
    *loss = NAN;
    oc->fn(be, oc, in, out, loss);
    for (int i = 0; i < oc->nout; i++) {
        be->download(be, res[i], out[i].data, count(&oc->out[i]));
        be->free(be, out[i].data);
    }
    for (int i = 0; i < oc->nin; i++)
        be->free(be, in[i].data);
}

/* max|a - b| / max(1, max|b|) over the finite values; infinite where
 * exactly one is NaN, where the infinities differ, or, when exact, where the
 * bits differ. */
static double nerr(const float *a, const float *b, size_t n, int exact)
{
    if (exact)
        return memcmp(a, b, n * sizeof(float)) ? INFINITY : 0;
    double diff = 0, mag = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) != isnan(b[i]) || ((isinf(a[i]) || isinf(b[i])) && a[i] != b[i]))
            return INFINITY;
        if (isfinite(b[i])) {
            diff = fmax(diff, fabs((double)a[i] - b[i]));
            mag = fmax(mag, fabs((double)b[i]));
        }
    }
    return diff / fmax(1, mag);
}

static int nonzero(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] != 0 && !isnan(v[i]))
            return 1;
    return 0;
}

static float **results(const op_case *oc)
{
    float **r = track(MAXT * sizeof(float *));
    for (int i = 0; i < oc->nout; i++)
        r[i] = track(count(&oc->out[i]) * sizeof(float));
    return r;
}

static biqa_backend *backend(const char *name, int threads)
{
    biqa_error err;
    biqa_backend *be = biqa_backend_create(name, threads, &err);
    cr_assert_not_null(be, "%s", err.msg);
    return be;
}

static void check(const op_case *oc)
{
    float **ref = results(oc), **one = results(oc), **a = results(oc), **b = results(oc);
    float ref_loss, one_loss = NAN, la, lb;
    biqa_backend *r = backend("ref", 1);
    run_on(r, oc, ref, &ref_loss);
    biqa_backend_destroy(r);
    for (int i = 0; i < oc->nout; i++)
        cr_assert(nonzero(ref[i], count(&oc->out[i])),
                  "%s: output %d of the oracle is all zero: the check would be vacuous", oc->name,
                  i);
    double worst = 0;
    for (int threads = 1; threads <= 2; threads++) {
        biqa_backend *be = backend("cpu", threads);
        cr_assert_eq(be->threads, threads);
        run_on(be, oc, a, &la);
        run_on(be, oc, b, &lb);
        biqa_backend_destroy(be);
        for (int i = 0; i < oc->nout; i++) {
            size_t n = count(&oc->out[i]);
            double e = nerr(a[i], ref[i], n, oc->out[i].exact);
            worst = fmax(worst, e);
            cr_expect_leq(e, TOL, "%s, %d thread(s): output %d differs from ref by %.3g",
                          oc->name, threads, i, e);
            cr_expect(memcmp(a[i], b[i], n * sizeof(float)) == 0,
                      "%s, %d thread(s): output %d differs between two runs", oc->name, threads,
                      i);
            if (threads == 1)
                memcpy(one[i], a[i], n * sizeof(float));
            else
                cr_expect_leq(nerr(a[i], one[i], n, oc->out[i].exact), TOL,
                              "%s: output %d differs between 1 and 2 threads", oc->name, i);
        }
        if (oc->has_loss) {
            double e = nerr(&la, &ref_loss, 1, 0);
            worst = fmax(worst, e);
            cr_expect_leq(e, TOL, "%s, %d thread(s): loss %.9g, ref %.9g", oc->name, threads,
                          la, ref_loss);
            cr_expect(memcmp(&la, &lb, sizeof la) == 0, "%s: loss differs between two runs",
                      oc->name);
            if (threads == 1)
                one_loss = la;
            else
                cr_expect_leq(nerr(&la, &one_loss, 1, 0), TOL,
                              "%s: loss differs between 1 and 2 threads", oc->name);
        }
    }
    cr_log_info("%s: max normalised error %.2e", oc->name, worst);
}

/* ---- elementwise ------------------------------------------------------------- */

static void f_add(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                  float *loss)
{
    (void)oc, (void)loss;
    be->add(be, &in[0], &in[1], &out[0]);
    be->add(be, &out[1], &in[1], &out[1]); /* in place: out[1] starts as a copy of a */
}

static void f_axpy(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                   float *loss)
{
    (void)loss;
    be->axpy(be, oc->alpha, &in[0], &out[0]);
}

static void f_fill_copy(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                        float *loss)
{
    (void)loss;
    be->fill(be, &out[0], oc->alpha);
    be->copy(be, &out[1], &in[0]);
}

/* Forward into out[0], in place into out[2] (a copy of x), backward of
 * out[0] into out[1]. */
static void f_relu(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                   float *loss)
{
    (void)oc, (void)loss;
    be->relu_fwd(be, &in[0], &out[0]);
    be->relu_bwd(be, &out[0], &in[1], &out[1]);
    be->relu_fwd(be, &out[2], &out[2]);
}

static void elementwise(const char *name, int n, int c, int h, int w)
{
    op_case add = {.name = name, .fn = f_add};
    add_in(&add, uniform(&add, "a", n, c, h, w, -1, 1));
    add_in(&add, uniform(&add, "b", n, c, h, w, -1, 1));
    add_out(&add, written(n, c, h, w));
    add_out(&add, add.in[0]);
    check(&add);

    op_case axpy = {.name = name, .fn = f_axpy, .alpha = -0.37f};
    add_in(&axpy, uniform(&axpy, "x", n, c, h, w, -1, 1));
    add_out(&axpy, uniform(&axpy, "y", n, c, h, w, -1, 1));
    check(&axpy);

    op_case fc = {.name = name, .fn = f_fill_copy, .alpha = 0.625f};
    add_in(&fc, uniform(&fc, "x", n, c, h, w, -1, 1));
    add_out(&fc, written(n, c, h, w));
    add_out(&fc, written(n, c, h, w));
    check(&fc);

    op_case relu = {.name = name, .fn = f_relu};
    add_in(&relu, uniform(&relu, "x", n, c, h, w, -1, 1));
    add_in(&relu, uniform(&relu, "dy", n, c, h, w, -1, 1));
    add_out(&relu, written(n, c, h, w));
    add_out(&relu, written(n, c, h, w));
    add_out(&relu, relu.in[0]);
    check(&relu);
}

Test(cpu_vs_ref, elementwise_small) { elementwise("elementwise_small", 3, 5, 7, 3); }
Test(cpu_vs_ref, elementwise_parallel) { elementwise("elementwise_parallel", 2, 3, 100, 61); }

/* ---- convolution ------------------------------------------------------------- */

static void f_conv(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                   float *loss)
{
    (void)loss;
    int o = 0;
    be->conv2d_fwd(be, &oc->conv, &in[0], &in[1], oc->bias ? &in[3] : NULL, &out[o++]);
    biqa_tensor *dx = oc->no_dx ? NULL : &out[o++];
    biqa_tensor *dw = &out[o++];
    biqa_tensor *db = oc->bias ? &out[o++] : NULL;
    be->conv2d_bwd(be, &oc->conv, &in[0], &in[1], &in[2], dx, dw, db);
}

static void conv_setup(op_case *oc, int n, int c, int h, int w, int o, int k)
{
    const int oh = (h + 2 * oc->conv.pad - k) / oc->conv.stride + 1;
    const int ow = (w + 2 * oc->conv.pad - k) / oc->conv.stride + 1;
    add_in(oc, uniform(oc, "x", n, c, h, w, -1, 1));
    add_in(oc, uniform(oc, "w", o, c, k, k, -0.5, 0.5));
    add_in(oc, uniform(oc, "dy", n, o, oh, ow, -1, 1));
    if (oc->bias)
        add_in(oc, uniform(oc, "b", o, 1, 1, 1, -0.5, 0.5));
    add_out(oc, written(n, o, oh, ow));
    if (!oc->no_dx)
        add_out(oc, written(n, c, h, w));
    add_out(oc, uniform(oc, "dw0", o, c, k, k, -1, 1));
    if (oc->bias)
        add_out(oc, uniform(oc, "db0", o, 1, 1, 1, -1, 1));
}

static void conv(const char *name, int n, int c, int h, int w, int o, int k, int stride,
                 int pad, int bias, int no_dx)
{
    op_case oc = {.name = name, .fn = f_conv, .conv = {stride, pad}, .bias = bias,
                  .no_dx = no_dx};
    conv_setup(&oc, n, c, h, w, o, k);
    check(&oc);
}

/* Blocked layouts with reorders on every operand. */
Test(cpu_vs_ref, conv1x1_s1) { conv("conv1x1_s1", 2, 5, 7, 9, 6, 1, 1, 0, 0, 0); }
Test(cpu_vs_ref, conv1x1_s2_downsample) { conv("conv1x1_s2", 3, 6, 9, 8, 10, 1, 2, 0, 0, 0); }
Test(cpu_vs_ref, conv3x3_s1_bias) { conv("conv3x3_s1_bias", 2, 7, 9, 11, 12, 3, 1, 1, 1, 0); }
Test(cpu_vs_ref, conv3x3_s2_batch1) { conv("conv3x3_s2_batch1", 1, 9, 10, 13, 17, 3, 2, 1, 0, 0); }
Test(cpu_vs_ref, conv3x3_wide) { conv("conv3x3_wide", 2, 24, 6, 5, 40, 3, 1, 1, 0, 0); }
/* Without dx, dy is converted for the weight gradient alone. */
Test(cpu_vs_ref, conv3x3_no_dx) { conv("conv3x3_no_dx", 2, 7, 8, 8, 9, 3, 1, 1, 0, 1); }
/* The stem: NCHW source, plain layout for the data gradient (3 channels). */
Test(cpu_vs_ref, conv7x7_s2_stem) { conv("conv7x7_s2_stem", 2, 3, 23, 21, 9, 7, 2, 3, 1, 0); }
/* N*OH*OW > 32768: the weight gradient in two calls (images 0-1, then 2)
 * added into dw in turn, each reading its images of the dy copy that the
 * data gradient made. */
Test(cpu_vs_ref, conv3x3_chunked) { conv("conv3x3_chunked", 3, 16, 105, 105, 10, 3, 1, 1, 0, 0); }
/* 1x1 stride 1 on a map of >= 400 pixels: plain NCHW GEMM in every stage. */
Test(cpu_vs_ref, conv1x1_plain) { conv("conv1x1_plain", 2, 5, 21, 20, 7, 1, 1, 0, 1, 0); }

/* Several shapes on one backend: plans are found again, the workspace grows
 * and is reused by a smaller shape afterwards. */
static void f_conv_seq(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                       float *loss)
{
    (void)loss;
    const biqa_conv_params s1 = {1, 1}, s2 = {2, 1};
    be->conv2d_fwd(be, &s1, &in[0], &in[1], NULL, &out[0]);
    be->conv2d_fwd(be, &s2, &in[2], &in[3], NULL, &out[1]);
    be->conv2d_bwd(be, &s2, &in[2], &in[3], &out[1], &out[2], &out[3], NULL);
    be->conv2d_fwd(be, &s1, &in[0], &in[1], NULL, &out[4]);
    be->conv2d_bwd(be, &s1, &in[0], &in[1], &out[4], &out[5], &out[6], NULL);
    (void)oc;
}

Test(cpu_vs_ref, conv_plans_and_workspace)
{
    op_case oc = {.name = "conv_plans_and_workspace", .fn = f_conv_seq};
    add_in(&oc, uniform(&oc, "x1", 2, 5, 6, 7, -1, 1));
    add_in(&oc, uniform(&oc, "w1", 6, 5, 3, 3, -0.5, 0.5));
    add_in(&oc, uniform(&oc, "x2", 3, 11, 19, 17, -1, 1));
    add_in(&oc, uniform(&oc, "w2", 13, 11, 3, 3, -0.5, 0.5));
    add_out(&oc, written(2, 6, 6, 7));
    add_out(&oc, written(3, 13, 10, 9));
    add_out(&oc, written(3, 11, 19, 17));
    add_out(&oc, uniform(&oc, "dw2", 13, 11, 3, 3, -1, 1));
    add_out(&oc, written(2, 6, 6, 7));
    add_out(&oc, written(2, 5, 6, 7));
    add_out(&oc, uniform(&oc, "dw1", 6, 5, 3, 3, -1, 1));
    check(&oc);
}

/* ---- batch norm --------------------------------------------------------------- */

/* Training forward, then its backward through the batch statistics. */
static void f_bn_train(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                       float *loss)
{
    (void)loss;
    be->bn_fwd_train(be, &in[0], &in[1], &in[2], &out[1], &out[2], oc->momentum, oc->eps,
                     &out[0], &out[3], &out[4]);
    be->bn_bwd(be, 1, &in[0], &in[3], &in[1], &out[3], &out[4], &out[5], &out[6], &out[7]);
}

static void bn_train(const char *name, int n, int c, int h, int w, double lo, double hi)
{
    op_case oc = {.name = name, .fn = f_bn_train, .momentum = 0.1f, .eps = 1e-5f};
    add_in(&oc, uniform(&oc, "x", n, c, h, w, lo, hi));
    add_in(&oc, uniform(&oc, "gamma", c, 1, 1, 1, 0.5, 1.5));
    add_in(&oc, uniform(&oc, "beta", c, 1, 1, 1, -0.5, 0.5));
    add_in(&oc, uniform(&oc, "dy", n, c, h, w, -1, 1));
    add_out(&oc, written(n, c, h, w));
    add_out(&oc, uniform(&oc, "running_mean", c, 1, 1, 1, -0.5, 0.5));
    add_out(&oc, uniform(&oc, "running_var", c, 1, 1, 1, 0.5, 1.5));
    add_out(&oc, written(c, 1, 1, 1));
    add_out(&oc, written(c, 1, 1, 1));
    add_out(&oc, written(n, c, h, w));
    add_out(&oc, uniform(&oc, "dgamma0", c, 1, 1, 1, -1, 1));
    add_out(&oc, uniform(&oc, "dbeta0", c, 1, 1, 1, -1, 1));
    check(&oc);
}

Test(cpu_vs_ref, bn_train) { bn_train("bn_train", 3, 5, 7, 9, -2, 3); }
Test(cpu_vs_ref, bn_train_batch1) { bn_train("bn_train_batch1", 1, 6, 5, 7, -1, 1); }
Test(cpu_vs_ref, bn_train_1x1) { bn_train("bn_train_1x1", 8, 10, 1, 1, -1, 1); }
Test(cpu_vs_ref, bn_train_parallel) { bn_train("bn_train_parallel", 4, 6, 40, 37, -1, 2); }
/* A mean 300 times the spread: a one-pass E[x^2] - E[x]^2 in float would
 * lose every digit of the variance. */
Test(cpu_vs_ref, bn_train_offset) { bn_train("bn_train_offset", 2, 3, 9, 9, 299, 301); }

/* Eval forward with the running stats, backward with them as constants. */
static void f_bn_eval(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                      float *loss)
{
    (void)loss;
    be->bn_fwd_eval(be, &in[0], &in[1], &in[2], &in[3], &in[4], oc->eps, &out[0]);
    be->bn_bwd(be, 0, &in[0], &in[5], &in[1], &in[3], &in[6], &out[1], &out[2], &out[3]);
}

static void bn_eval(const char *name, int n, int c, int h, int w)
{
    op_case oc = {.name = name, .fn = f_bn_eval, .eps = 1e-5f};
    add_in(&oc, uniform(&oc, "x", n, c, h, w, -2, 2));
    add_in(&oc, uniform(&oc, "gamma", c, 1, 1, 1, 0.5, 1.5));
    add_in(&oc, uniform(&oc, "beta", c, 1, 1, 1, -0.5, 0.5));
    add_in(&oc, uniform(&oc, "running_mean", c, 1, 1, 1, -0.5, 0.5));
    add_in(&oc, uniform(&oc, "running_var", c, 1, 1, 1, 0.5, 1.5));
    add_in(&oc, uniform(&oc, "dy", n, c, h, w, -1, 1));
    host invstd = written(c, 1, 1, 1);
    for (int i = 0; i < c; i++)
        invstd.v[i] = (float)(1.0 / sqrt((double)oc.in[4].v[i] + oc.eps));
    add_in(&oc, invstd);
    add_out(&oc, written(n, c, h, w));
    add_out(&oc, written(n, c, h, w));
    add_out(&oc, uniform(&oc, "dgamma0", c, 1, 1, 1, -1, 1));
    add_out(&oc, uniform(&oc, "dbeta0", c, 1, 1, 1, -1, 1));
    check(&oc);
}

Test(cpu_vs_ref, bn_eval) { bn_eval("bn_eval", 3, 5, 7, 9); }
Test(cpu_vs_ref, bn_eval_parallel) { bn_eval("bn_eval_parallel", 4, 6, 40, 37); }

/* ---- pooling ------------------------------------------------------------------ */

static void f_maxpool(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                      float *loss)
{
    (void)loss;
    int32_t *arg = out[1].data; /* indices in a float-sized buffer */
    be->maxpool_fwd(be, &oc->pool, &in[0], &out[0], arg);
    be->maxpool_bwd(be, &in[1], arg, &out[2]);
}

/* ties: values on a grid of 1/4, so windows hold equal maxima; with
 * ties = 2 also NaNs, some windows holding two (the last NaN wins). */
static void maxpool(const char *name, int n, int c, int h, int w, int k, int s, int p, int ties)
{
    op_case oc = {.name = name, .fn = f_maxpool, .pool = {k, s, p}};
    const int oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
    host x = uniform(&oc, "x", n, c, h, w, -1, 1);
    for (size_t i = 0; ties && i < count(&x); i++)
        x.v[i] = ties == 2 && (i % 23 == 4 || i % 23 == 6) ? NAN : floorf(x.v[i] * 4) / 4;
    add_in(&oc, x);
    add_in(&oc, uniform(&oc, "dy", n, c, oh, ow, -1, 1));
    add_out(&oc, written(n, c, oh, ow));
    host arg = written(n, c, oh, ow);
    arg.exact = 1;
    add_out(&oc, arg);
    add_out(&oc, written(n, c, h, w));
    check(&oc);
}

Test(cpu_vs_ref, maxpool3x3_s2_p1) { maxpool("maxpool3x3_s2_p1", 2, 3, 11, 12, 3, 2, 1, 0); }
Test(cpu_vs_ref, maxpool2x2_s2_batch1) { maxpool("maxpool2x2_s2", 1, 4, 8, 9, 2, 2, 0, 0); }
Test(cpu_vs_ref, maxpool3x3_s1_ties) { maxpool("maxpool3x3_s1_ties", 2, 3, 7, 6, 3, 1, 1, 1); }
Test(cpu_vs_ref, maxpool3x3_s2_ties) { maxpool("maxpool3x3_s2_ties", 2, 5, 13, 10, 3, 2, 1, 1); }
Test(cpu_vs_ref, maxpool3x3_s2_nan) { maxpool("maxpool3x3_s2_nan", 2, 3, 12, 11, 3, 2, 1, 2); }
Test(cpu_vs_ref, maxpool3x3_s2_parallel) { maxpool("maxpool3x3_s2_par", 3, 7, 41, 40, 3, 2, 1, 0); }

static void f_avgpool(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                      float *loss)
{
    (void)oc, (void)loss;
    be->avgpool_fwd(be, &in[0], &out[0]);
    be->avgpool_bwd(be, &in[1], &out[1]);
}

static void avgpool(const char *name, int n, int c, int h, int w)
{
    op_case oc = {.name = name, .fn = f_avgpool};
    add_in(&oc, uniform(&oc, "x", n, c, h, w, -1, 1));
    add_in(&oc, uniform(&oc, "dy", n, c, 1, 1, -1, 1));
    add_out(&oc, written(n, c, 1, 1));
    add_out(&oc, written(n, c, h, w));
    check(&oc);
}

Test(cpu_vs_ref, avgpool) { avgpool("avgpool", 3, 5, 7, 6); }
Test(cpu_vs_ref, avgpool_1x1) { avgpool("avgpool_1x1", 2, 4, 1, 1); }
Test(cpu_vs_ref, avgpool_parallel) { avgpool("avgpool_parallel", 4, 9, 31, 30); }

/* ---- linear, L2 norm, InfoNCE -------------------------------------------------- */

static void f_linear(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                     float *loss)
{
    (void)loss;
    const biqa_tensor *b = oc->bias ? &in[3] : NULL;
    be->linear_fwd(be, &in[0], &in[1], b, &out[0]);
    be->linear_bwd(be, &in[0], &in[1], &in[2], &out[1], &out[2], oc->bias ? &out[3] : NULL);
}

/* x is (n, c, h, w), flattened to (n, c h w) rows. */
static void linear(const char *name, int n, int c, int h, int w, int o, int bias)
{
    op_case oc = {.name = name, .fn = f_linear, .bias = bias};
    const int in = c * h * w;
    add_in(&oc, uniform(&oc, "x", n, c, h, w, -1, 1));
    add_in(&oc, uniform(&oc, "w", o, in, 1, 1, -0.5, 0.5));
    add_in(&oc, uniform(&oc, "dy", n, o, 1, 1, -1, 1));
    if (bias)
        add_in(&oc, uniform(&oc, "b", o, 1, 1, 1, -0.5, 0.5));
    add_out(&oc, written(n, o, 1, 1));
    add_out(&oc, written(n, c, h, w));
    add_out(&oc, uniform(&oc, "dw0", o, in, 1, 1, -1, 1));
    if (bias)
        add_out(&oc, uniform(&oc, "db0", o, 1, 1, 1, -1, 1));
    check(&oc);
}

Test(cpu_vs_ref, linear) { linear("linear", 7, 13, 1, 1, 11, 1); }
Test(cpu_vs_ref, linear_nobias_batch1) { linear("linear_nobias_batch1", 1, 9, 1, 1, 5, 0); }
Test(cpu_vs_ref, linear_from_nchw) { linear("linear_from_nchw", 4, 3, 2, 5, 6, 1); }
/* Large enough for the products to be split across the workers. */
Test(cpu_vs_ref, linear_split) { linear("linear_split", 64, 300, 1, 1, 70, 1); }

static void f_l2norm(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                     float *loss)
{
    (void)loss;
    be->l2norm_fwd(be, &in[0], oc->eps, &out[0]);
    be->l2norm_bwd(be, &in[0], &in[1], oc->eps, &out[1]);
}

Test(cpu_vs_ref, l2norm)
{
    op_case oc = {.name = "l2norm", .fn = f_l2norm, .eps = 1e-2f};
    host x = uniform(&oc, "x", 6, 17, 1, 1, -1, 1);
    for (int j = 0; j < 17; j++) { /* rows 1 and 4 have norms below eps */
        x.v[17 + j] *= 1e-3f;
        x.v[4 * 17 + j] *= 1e-3f;
    }
    add_in(&oc, x);
    add_in(&oc, uniform(&oc, "dy", 6, 17, 1, 1, -1, 1));
    add_out(&oc, written(6, 17, 1, 1));
    add_out(&oc, written(6, 17, 1, 1));
    check(&oc);
}

static void f_infonce(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                      float *loss)
{
    (void)loss;
    be->infonce_fwd(be, &in[0], &in[1], &in[2], oc->tau, &out[0]);
    be->infonce_bwd(be, &in[0], &in[1], &in[2], oc->tau, &in[3], &out[1],
                    oc->no_extra ? NULL : &out[2], oc->no_extra ? NULL : &out[3]);
}

static void infonce(const char *name, int n, int d, int m, int no_extra)
{
    op_case oc = {.name = name, .fn = f_infonce, .tau = 0.07f, .no_extra = no_extra};
    add_in(&oc, uniform(&oc, "q", n, d, 1, 1, -0.3, 0.3));
    add_in(&oc, uniform(&oc, "k", n, d, 1, 1, -0.3, 0.3));
    add_in(&oc, uniform(&oc, "neg", m, d, 1, 1, -0.3, 0.3));
    add_in(&oc, uniform(&oc, "dlogits", n, 1 + m, 1, 1, -0.1, 0.1));
    add_out(&oc, written(n, 1 + m, 1, 1));
    add_out(&oc, written(n, d, 1, 1));
    if (!no_extra) {
        add_out(&oc, written(n, d, 1, 1));
        add_out(&oc, written(m, d, 1, 1));
    }
    check(&oc);
}

Test(cpu_vs_ref, infonce) { infonce("infonce", 5, 16, 37, 0); }
Test(cpu_vs_ref, infonce_dq_only_batch1) { infonce("infonce_dq_only", 1, 9, 6, 1); }
Test(cpu_vs_ref, infonce_split) { infonce("infonce_split", 32, 128, 300, 0); }

/* ---- losses -------------------------------------------------------------------- */

static void f_xent(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                   float *loss)
{
    be->xent(be, &in[0], oc->labels, oc->dloss, loss, &out[0]);
    float only;
    be->xent(be, &in[0], oc->labels, oc->dloss, &only, NULL);
    cr_expect(memcmp(&only, loss, sizeof only) == 0, "%s: loss without dlogits differs",
              oc->name);
}

static void xent(const char *name, int n, int k, double scale)
{
    op_case oc = {.name = name, .fn = f_xent, .dloss = 0.75f, .has_loss = 1};
    add_in(&oc, uniform(&oc, "logits", n, k, 1, 1, -scale, scale));
    oc.labels = track((size_t)n * sizeof(int32_t));
    for (int i = 0; i < n; i++)
        oc.labels[i] = (int32_t)biqa_rng_below(3, biqa_rng_stream(name), (uint64_t)i, (uint64_t)k);
    add_out(&oc, written(n, k, 1, 1));
    check(&oc);
}

Test(cpu_vs_ref, xent) { xent("xent", 7, 10, 3); }
Test(cpu_vs_ref, xent_batch1) { xent("xent_batch1", 1, 5, 3); }
Test(cpu_vs_ref, xent_large_logits) { xent("xent_large_logits", 6, 9, 60); }
Test(cpu_vs_ref, xent_parallel) { xent("xent_parallel", 40, 1001, 5); }

/* The contrastive pattern: entries masked to -inf in place, then the
 * cross-entropy over the masked logits (no gradient at masked entries). */
static void f_mask_xent(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                        float *loss)
{
    (void)in;
    const int n = out[0].n, k = out[0].c;
    int32_t rows[16], cols[16];
    for (int i = 0; i < n; i++) { /* two entries per row, never the label */
        rows[2 * i] = rows[2 * i + 1] = i;
        cols[2 * i] = (oc->labels[i] + 1) % k;
        cols[2 * i + 1] = (oc->labels[i] + 3) % k;
    }
    be->mask(be, &out[0], rows, cols, 2 * n, -INFINITY);
    be->xent(be, &out[0], oc->labels, oc->dloss, loss, &out[1]);
}

Test(cpu_vs_ref, mask_then_xent)
{
    op_case oc = {.name = "mask_then_xent", .fn = f_mask_xent, .dloss = 1.0f, .has_loss = 1};
    add_out(&oc, uniform(&oc, "logits", 6, 9, 1, 1, -3, 3));
    add_out(&oc, written(6, 9, 1, 1));
    oc.labels = track(6 * sizeof(int32_t));
    for (int i = 0; i < 6; i++)
        oc.labels[i] = (int32_t)biqa_rng_below(3, biqa_rng_stream(oc.name), (uint64_t)i, 9);
    check(&oc);
}

static void f_regress(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                      float *loss)
{
    be->regress(be, oc->kind, oc->beta, &in[0], &in[1], oc->dloss, loss, &out[0]);
}

static void regress(const char *name, int kind, float beta, int n, int c)
{
    op_case oc = {.name = name, .fn = f_regress, .kind = kind, .beta = beta, .dloss = 1.5f,
                  .has_loss = 1};
    host pred = uniform(&oc, "pred", n, c, 1, 1, -2, 2);
    host target = uniform(&oc, "target", n, c, 1, 1, -2, 2);
    for (size_t i = 0; i < count(&pred); i += 5) /* d = 0 exactly: the subgradient */
        pred.v[i] = target.v[i];
    add_in(&oc, pred);
    add_in(&oc, target);
    add_out(&oc, written(n, c, 1, 1));
    check(&oc);
}

Test(cpu_vs_ref, l1) { regress("l1", BIQA_LOSS_L1, 0, 9, 1); }
Test(cpu_vs_ref, smooth_l1) { regress("smooth_l1", BIQA_LOSS_SMOOTH_L1, 1.0f, 9, 1); }
Test(cpu_vs_ref, smooth_l1_beta03) { regress("smooth_l1_b03", BIQA_LOSS_SMOOTH_L1, 0.3f, 5, 3); }
Test(cpu_vs_ref, smooth_l1_beta0) { regress("smooth_l1_b0", BIQA_LOSS_SMOOTH_L1, 0.0f, 7, 1); }
Test(cpu_vs_ref, mse) { regress("mse", BIQA_LOSS_MSE, 0, 6, 2); }
Test(cpu_vs_ref, mse_parallel) { regress("mse_parallel", BIQA_LOSS_MSE, 0, 40000, 1); }

/* ---- optimisers ------------------------------------------------------------------ */

/* Two steps with gradients in[0], in[1]. */
static void f_sgd(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                  float *loss)
{
    (void)loss;
    for (int s = 0; s < 2; s++)
        be->sgd_step(be, &out[0], &in[s], &out[1], oc->lr, oc->momentum, oc->wd, oc->nesterov);
}

static void sgd(const char *name, int n, float momentum, float wd, int nesterov)
{
    op_case oc = {.name = name, .fn = f_sgd, .lr = 0.1f, .momentum = momentum, .wd = wd,
                  .nesterov = nesterov};
    add_in(&oc, uniform(&oc, "g1", n, 1, 1, 1, -1, 1));
    add_in(&oc, uniform(&oc, "g2", n, 1, 1, 1, -1, 1));
    add_out(&oc, uniform(&oc, "p", n, 1, 1, 1, -1, 1));
    add_out(&oc, uniform(&oc, "v", n, 1, 1, 1, -0.5, 0.5));
    check(&oc);
}

Test(cpu_vs_ref, sgd_plain) { sgd("sgd_plain", 37, 0, 0, 0); }
Test(cpu_vs_ref, sgd_momentum_wd) { sgd("sgd_momentum_wd", 41, 0.9f, 1e-2f, 0); }
Test(cpu_vs_ref, sgd_nesterov_parallel) { sgd("sgd_nesterov", 40000, 0.9f, 1e-4f, 1); }

static void f_adamw(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                    float *loss)
{
    (void)loss;
    for (int s = 0; s < 2; s++)
        be->adamw_step(be, &out[0], &in[s], &out[1], &out[2], oc->lr, oc->beta1, oc->beta2,
                       oc->eps, oc->wd, oc->step + s);
}

static void adamw(const char *name, int n, float wd, int step)
{
    op_case oc = {.name = name, .fn = f_adamw, .lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f,
                  .eps = 1e-8f, .wd = wd, .step = step};
    add_in(&oc, uniform(&oc, "g1", n, 1, 1, 1, -1, 1));
    add_in(&oc, uniform(&oc, "g2", n, 1, 1, 1, -1, 1));
    add_out(&oc, uniform(&oc, "p", n, 1, 1, 1, -1, 1));
    if (step == 1) { /* a fresh optimiser: m = v = 0 */
        add_out(&oc, written(n, 1, 1, 1));
        add_out(&oc, written(n, 1, 1, 1));
        memset(oc.out[1].v, 0, (size_t)n * sizeof(float));
        memset(oc.out[2].v, 0, (size_t)n * sizeof(float));
    } else {
        add_out(&oc, uniform(&oc, "m", n, 1, 1, 1, -0.1, 0.1));
        add_out(&oc, uniform(&oc, "v", n, 1, 1, 1, 0, 0.01));
    }
    check(&oc);
}

Test(cpu_vs_ref, adamw_fresh) { adamw("adamw_fresh", 33, 1e-2f, 1); }
Test(cpu_vs_ref, adamw_resume_parallel) { adamw("adamw_resume", 40000, 0.05f, 7); }
Test(cpu_vs_ref, adamw_no_wd) { adamw("adamw_no_wd", 19, 0, 3); }

static void f_ema(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                  float *loss)
{
    (void)loss;
    be->ema(be, &out[0], &in[0], oc->momentum);
}

static void ema(const char *name, int n, float momentum)
{
    op_case oc = {.name = name, .fn = f_ema, .momentum = momentum};
    add_in(&oc, uniform(&oc, "src", n, 1, 1, 1, -1, 1));
    add_out(&oc, uniform(&oc, "dst", n, 1, 1, 1, -1, 1));
    check(&oc);
}

Test(cpu_vs_ref, ema) { ema("ema", 29, 0.999f); }
Test(cpu_vs_ref, ema_parallel) { ema("ema_parallel", 40000, 0.5f); }

/* ---- the backend itself ------------------------------------------------------------ */

Test(cpu_vs_ref, threads_and_errors)
{
    biqa_error err;
    biqa_backend *be = biqa_backend_create("cpu", 0, &err);
    cr_assert_not_null(be, "%s", err.msg);
    cr_expect_geq(be->threads, 1, "0 threads means every core, at least one");
    cr_expect_str_eq(be->name, "cpu");
    void *p = be->alloc(be, 0);
    cr_expect_not_null(p, "an empty allocation is not out of memory");
    cr_expect_eq((uintptr_t)p % 64, 0);
    be->free(be, p);
    biqa_backend_destroy(be);
    cr_expect_null(biqa_backend_create("cpu", -1, &err));
    cr_expect_str_eq(err.msg, "cpu backend: threads must be >= 0 (0: every core), got -1");
}
