/* The cuda backend against the ref backend (the oracle), op by op, at
 * each precision (issue #7). Skipped, with the reason, where no CUDA
 * device is usable (tests/unit/test_cuda_common.h).
 *
 * Each case runs one op (forward and backward where it has one) on the ref
 * backend and on the cuda backend at fp32, tf32 and bf16, from the same
 * random inputs (core/rng.h), and compares every output by the normalised
 * error max|cuda - ref| / max(1, max|ref|) against a tolerance by what the
 * output went through:
 * - fp32 everywhere (losses, optimiser updates, L2 norm, mask, and the
 *   elementwise ops on plain tensors): 1e-5 at every precision;
 * - activations (batch norm, pooling, elementwise ops on activations):
 *   1e-5, except bf16: 2e-2 (stored as bfloat16, whose rounding is 2^-9
 *   relative; inputs are rounded on the way in as well);
 * - matrix products (convolution, linear, InfoNCE): 1e-5 at fp32; 1e-2 at
 *   tf32 (operands rounded to 2^-11 relative: about 1e-3 per product,
 *   3e-3 seen in the worst element of sums of random products); 3e-2 at
 *   bf16 (operands rounded to 2^-9: four times that, and the output
 *   rounded once more when it is an activation).
 * A wrong index, a missing term or a forgotten element is off by O(1).
 * Besides:
 * - written outputs start as NaN, so an element the op does not write shows
 *   up; accumulated parameter gradients start from random values, so the
 *   expected value is init + gradient (+=);
 * - at fp32 every case runs twice on the same backend (the second time with
 *   its convolution plans and scratch warm) and the two results must be
 *   bitwise identical (deterministic algorithms and reductions only);
 * - max pool indices must match exactly: inputs lie on a grid of 1/64,
 *   which bfloat16 holds exactly, so no precision changes a maximum;
 * - every output of the oracle must be nonzero somewhere, so that no
 *   comparison is vacuous.
 * Beyond the ops: chains of ops on activations (which the cuda backend
 * keeps NHWC and, at bf16, in bfloat16), views of such tensors through
 * other shapes and pointers, partial uploads into them, and a step
 * recorded as a CUDA graph and replayed. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "kernels/backend.h"
#include "tests/unit/test_cuda_common.h"

#define MAXT 16
#define MAXHOST 320

enum tol_class { T_F32 = 0, T_ACT = 1, T_MAT = 2, T_CHAIN = 3 };

/* Tolerance by class (rows) and precision (columns: fp32, tf32, bf16). */
static const double tolerance[4][3] = {
    {1e-5, 1e-5, 1e-5},
    {1e-5, 1e-5, 2e-2},
    {1e-5, 1e-2, 3e-2},
    /* a chain of activation ops compounds each one's bfloat16 rounding */
    {1e-5, 1e-5, 5e-2},
};

typedef struct host {
    int n, c, h, w;
    float *v;
    int exact;
} host;

typedef struct op_case op_case;
typedef void (*op_fn)(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                      float *loss);

struct op_case {
    const char *name;
    op_fn fn;
    enum tol_class cls;
    host in[MAXT], out[MAXT];
    int nin, nout, has_loss, skip_bf16;
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

TestSuite(cuda_vs_ref, .init = cuda_device_or_skip, .fini = release);

static size_t count(const host *t) { return (size_t)t->n * t->c * t->h * t->w; }

static host written(int n, int c, int h, int w)
{
    host t = {n, c, h, w, NULL, 0};
    t.v = track(count(&t) * sizeof(float));
    for (size_t i = 0; i < count(&t); i++)
        t.v[i] = NAN;
    return t;
}

static host uniform(const op_case *oc, const char *tag, int n, int c, int h, int w, double lo,
                    double hi)
{
    host t = written(n, c, h, w);
    uint64_t seed = biqa_rng_stream(oc->name), s = biqa_rng_stream(tag);
    for (size_t i = 0; i < count(&t); i++)
        t.v[i] = (float)(lo + (hi - lo) * biqa_rng_uniform(seed, s, i));
    return t;
}

/* Uniform values rounded to a grid of 1/q (exact in bfloat16 for |v| <= 1
 * and q <= 128). */
static host grid(const op_case *oc, const char *tag, int n, int c, int h, int w, float q)
{
    host t = uniform(oc, tag, n, c, h, w, -1, 1);
    for (size_t i = 0; i < count(&t); i++)
        t.v[i] = floorf(t.v[i] * q) / q;
    return t;
}

static void add_in(op_case *oc, host t) { oc->in[oc->nin++] = t; }
static void add_out(op_case *oc, host t) { oc->out[oc->nout++] = t; }

/* ---- running and comparing ---- */

static biqa_tensor on_backend(biqa_backend *be, const host *t)
{
    biqa_tensor d = biqa_view(be->alloc(be, count(t) * sizeof(float)), t->n, t->c, t->h, t->w);
    cr_assert_not_null(d.data);
    be->upload(be, d.data, t->v, count(t));
    return d;
}

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
    if (be->sync) {
        biqa_error err;
        cr_assert_eq(be->sync(be, &err), 0, "%s: %s", oc->name, err.msg);
    }
}

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

static biqa_backend *backend(const char *name, enum biqa_precision p)
{
    biqa_error err;
    biqa_backend *be = biqa_backend_create_with(name, 1, p, &err);
    cr_assert_not_null(be, "%s", err.msg);
    return be;
}

static void check(const op_case *oc)
{
    float **ref = results(oc), **a = results(oc), **b = results(oc);
    float ref_loss, la, lb;
    biqa_backend *r = backend("ref", BIQA_PREC_FP32);
    run_on(r, oc, ref, &ref_loss);
    biqa_backend_destroy(r);
    for (int i = 0; i < oc->nout; i++)
        cr_assert(nonzero(ref[i], count(&oc->out[i])),
                  "%s: output %d of the oracle is all zero: the check would be vacuous", oc->name,
                  i);
    for (int p = BIQA_PREC_FP32; p <= BIQA_PREC_BF16; p++) {
        if (p == BIQA_PREC_BF16 && oc->skip_bf16)
            continue;
        const char *pname = biqa_precision_name((enum biqa_precision)p);
        double tol = tolerance[oc->cls][p], worst = 0;
        biqa_backend *be = backend("cuda", (enum biqa_precision)p);
        run_on(be, oc, a, &la);
        if (p == BIQA_PREC_FP32)
            run_on(be, oc, b, &lb);
        biqa_backend_destroy(be);
        for (int i = 0; i < oc->nout; i++) {
            size_t n = count(&oc->out[i]);
            double e = nerr(a[i], ref[i], n, oc->out[i].exact);
            worst = fmax(worst, e);
            cr_expect_leq(e, tol, "%s, %s: output %d differs from ref by %.3g (tolerance %g)",
                          oc->name, pname, i, e, tol);
            if (p == BIQA_PREC_FP32)
                cr_expect(memcmp(a[i], b[i], n * sizeof(float)) == 0,
                          "%s, fp32: output %d differs between two runs", oc->name, i);
        }
        if (oc->has_loss) {
            double e = nerr(&la, &ref_loss, 1, 0);
            worst = fmax(worst, e);
            cr_expect_leq(e, tol, "%s, %s: loss %.9g, ref %.9g", oc->name, pname, la, ref_loss);
            if (p == BIQA_PREC_FP32)
                cr_expect(memcmp(&la, &lb, sizeof la) == 0, "%s: loss differs between two runs",
                          oc->name);
        }
        cr_log_info("%s, %s: max normalised error %.2e (tolerance %g)", oc->name, pname, worst,
                    tol);
    }
}

/* ---- elementwise (plain tensors: fp32 at every precision) ---- */

static void f_add(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                  float *loss)
{
    (void)oc, (void)loss;
    be->add(be, &in[0], &in[1], &out[0]);
    be->add(be, &out[1], &in[1], &out[1]);
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
    op_case add = {.name = name, .fn = f_add, .cls = T_F32};
    add_in(&add, uniform(&add, "a", n, c, h, w, -1, 1));
    add_in(&add, uniform(&add, "b", n, c, h, w, -1, 1));
    add_out(&add, written(n, c, h, w));
    add_out(&add, add.in[0]);
    check(&add);

    op_case axpy = {.name = name, .fn = f_axpy, .cls = T_F32, .alpha = -0.37f};
    add_in(&axpy, uniform(&axpy, "x", n, c, h, w, -1, 1));
    add_out(&axpy, uniform(&axpy, "y", n, c, h, w, -1, 1));
    check(&axpy);

    op_case fc = {.name = name, .fn = f_fill_copy, .cls = T_F32, .alpha = 0.625f};
    add_in(&fc, uniform(&fc, "x", n, c, h, w, -1, 1));
    add_out(&fc, written(n, c, h, w));
    add_out(&fc, written(n, c, h, w));
    check(&fc);

    op_case relu = {.name = name, .fn = f_relu, .cls = T_F32};
    add_in(&relu, uniform(&relu, "x", n, c, h, w, -1, 1));
    add_in(&relu, uniform(&relu, "dy", n, c, h, w, -1, 1));
    add_out(&relu, written(n, c, h, w));
    add_out(&relu, written(n, c, h, w));
    add_out(&relu, relu.in[0]);
    check(&relu);
}

Test(cuda_vs_ref, elementwise_small) { elementwise("elementwise_small", 3, 5, 7, 3); }
Test(cuda_vs_ref, elementwise_large) { elementwise("elementwise_large", 2, 3, 100, 61); }

/* ---- convolution ---- */

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

static void conv(const char *name, int n, int c, int h, int w, int o, int k, int stride,
                 int pad, int bias, int no_dx)
{
    op_case oc = {.name = name, .fn = f_conv, .cls = T_MAT, .conv = {stride, pad}, .bias = bias,
                  .no_dx = no_dx};
    const int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    add_in(&oc, uniform(&oc, "x", n, c, h, w, -1, 1));
    add_in(&oc, uniform(&oc, "w", o, c, k, k, -0.5, 0.5));
    add_in(&oc, uniform(&oc, "dy", n, o, oh, ow, -1, 1));
    if (bias)
        add_in(&oc, uniform(&oc, "b", o, 1, 1, 1, -0.5, 0.5));
    add_out(&oc, written(n, o, oh, ow));
    if (!no_dx)
        add_out(&oc, written(n, c, h, w));
    add_out(&oc, uniform(&oc, "dw0", o, c, k, k, -1, 1));
    if (bias)
        add_out(&oc, uniform(&oc, "db0", o, 1, 1, 1, -1, 1));
    check(&oc);
}

Test(cuda_vs_ref, conv1x1_s1) { conv("conv1x1_s1", 2, 5, 7, 9, 6, 1, 1, 0, 0, 0); }
Test(cuda_vs_ref, conv1x1_s2_downsample) { conv("conv1x1_s2", 3, 6, 9, 8, 10, 1, 2, 0, 0, 0); }
Test(cuda_vs_ref, conv3x3_s1_bias) { conv("conv3x3_s1_bias", 2, 7, 9, 11, 12, 3, 1, 1, 1, 0); }
Test(cuda_vs_ref, conv3x3_s2_batch1) { conv("conv3x3_s2_batch1", 1, 9, 10, 13, 17, 3, 2, 1, 0, 0); }
Test(cuda_vs_ref, conv3x3_wide) { conv("conv3x3_wide", 2, 32, 6, 5, 64, 3, 1, 1, 0, 0); }
Test(cuda_vs_ref, conv3x3_no_dx) { conv("conv3x3_no_dx", 2, 7, 8, 8, 9, 3, 1, 1, 0, 1); }
Test(cuda_vs_ref, conv7x7_s2_stem) { conv("conv7x7_s2_stem", 2, 3, 23, 21, 9, 7, 2, 3, 1, 0); }
/* The weight gradient sums 33,000 products per weight. */
Test(cuda_vs_ref, conv3x3_many_rows) { conv("conv3x3_many_rows", 3, 16, 105, 105, 10, 3, 1, 1, 0, 0); }

/* Several shapes on one backend: plans found per shape and reused, the
 * scratch grows and is reused by a smaller shape afterwards. */
static void f_conv_seq(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                       float *loss)
{
    (void)loss, (void)oc;
    const biqa_conv_params s1 = {1, 1}, s2 = {2, 1};
    be->conv2d_fwd(be, &s1, &in[0], &in[1], NULL, &out[0]);
    be->conv2d_fwd(be, &s2, &in[2], &in[3], NULL, &out[1]);
    be->conv2d_bwd(be, &s2, &in[2], &in[3], &out[1], &out[2], &out[3], NULL);
    be->conv2d_fwd(be, &s1, &in[0], &in[1], NULL, &out[4]);
    be->conv2d_bwd(be, &s1, &in[0], &in[1], &out[4], &out[5], &out[6], NULL);
}

Test(cuda_vs_ref, conv_plans_and_scratch)
{
    op_case oc = {.name = "conv_plans_and_scratch", .fn = f_conv_seq, .cls = T_MAT};
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

/* ---- batch norm ---- */

static void f_bn_train(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                       float *loss)
{
    (void)loss;
    be->bn_fwd_train(be, &in[0], &in[1], &in[2], &out[1], &out[2], oc->momentum, oc->eps,
                     &out[0], &out[3], &out[4]);
    be->bn_bwd(be, 1, &in[0], &in[3], &in[1], &out[3], &out[4], &out[5], &out[6], &out[7]);
}

static op_case bn_train_case(const char *name, int n, int c, int h, int w, double lo, double hi)
{
    op_case oc = {.name = name, .fn = f_bn_train, .cls = T_ACT, .momentum = 0.1f, .eps = 1e-5f};
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
    return oc;
}

static void bn_train(const char *name, int n, int c, int h, int w, double lo, double hi)
{
    op_case oc = bn_train_case(name, n, c, h, w, lo, hi);
    check(&oc);
}

Test(cuda_vs_ref, bn_train) { bn_train("bn_train", 3, 5, 7, 9, -2, 3); }
Test(cuda_vs_ref, bn_train_batch1) { bn_train("bn_train_batch1", 1, 6, 5, 7, -1, 1); }
Test(cuda_vs_ref, bn_train_1x1) { bn_train("bn_train_1x1", 8, 10, 1, 1, -1, 1); }
/* More rows than one block's lanes and more channels than one block's 32. */
Test(cuda_vs_ref, bn_train_many) { bn_train("bn_train_many", 4, 70, 40, 37, -1, 2); }
/* A mean 300 times the spread: float sums of x and x^2 would lose every
 * digit of the variance. Not at bf16, whose 8 significant bits quantise
 * values near 300 in steps of 2, more than the spread itself. */
Test(cuda_vs_ref, bn_train_offset)
{
    op_case oc = bn_train_case("bn_train_offset", 2, 3, 9, 9, 299, 301);
    oc.skip_bf16 = 1;
    check(&oc);
}

static void f_bn_eval(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                      float *loss)
{
    (void)loss;
    be->bn_fwd_eval(be, &in[0], &in[1], &in[2], &in[3], &in[4], oc->eps, &out[0]);
    be->bn_bwd(be, 0, &in[0], &in[5], &in[1], &in[3], &in[6], &out[1], &out[2], &out[3]);
}

static void bn_eval(const char *name, int n, int c, int h, int w)
{
    op_case oc = {.name = name, .fn = f_bn_eval, .cls = T_ACT, .eps = 1e-5f};
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

Test(cuda_vs_ref, bn_eval) { bn_eval("bn_eval", 3, 5, 7, 9); }
Test(cuda_vs_ref, bn_eval_many) { bn_eval("bn_eval_many", 4, 40, 40, 37); }

/* ---- pooling ---- */

static void f_maxpool(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                      float *loss)
{
    (void)loss;
    int32_t *arg = out[1].data; /* indices in a float-sized buffer */
    be->maxpool_fwd(be, &oc->pool, &in[0], &out[0], arg);
    be->maxpool_bwd(be, &in[1], arg, &out[2]);
}

/* ties: values on a grid of 1/4, so windows hold equal maxima; with
 * ties = 2 also NaNs (the last NaN of a window wins). */
static void maxpool(const char *name, int n, int c, int h, int w, int k, int s, int p, int ties)
{
    op_case oc = {.name = name, .fn = f_maxpool, .cls = T_ACT, .pool = {k, s, p}};
    const int oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
    host x = grid(&oc, "x", n, c, h, w, ties ? 4.0f : 64.0f);
    for (size_t i = 0; ties == 2 && i < count(&x); i++)
        if (i % 23 == 4 || i % 23 == 6)
            x.v[i] = NAN;
    add_in(&oc, x);
    add_in(&oc, uniform(&oc, "dy", n, c, oh, ow, -1, 1));
    add_out(&oc, written(n, c, oh, ow));
    host arg = written(n, c, oh, ow);
    arg.exact = 1;
    add_out(&oc, arg);
    add_out(&oc, written(n, c, h, w));
    check(&oc);
}

Test(cuda_vs_ref, maxpool3x3_s2_p1) { maxpool("maxpool3x3_s2_p1", 2, 3, 11, 12, 3, 2, 1, 0); }
Test(cuda_vs_ref, maxpool2x2_s2_batch1) { maxpool("maxpool2x2_s2", 1, 4, 8, 9, 2, 2, 0, 0); }
Test(cuda_vs_ref, maxpool3x3_s1_ties) { maxpool("maxpool3x3_s1_ties", 2, 3, 7, 6, 3, 1, 1, 1); }
Test(cuda_vs_ref, maxpool3x3_s2_ties) { maxpool("maxpool3x3_s2_ties", 2, 5, 13, 10, 3, 2, 1, 1); }
Test(cuda_vs_ref, maxpool3x3_s2_nan) { maxpool("maxpool3x3_s2_nan", 2, 3, 12, 11, 3, 2, 1, 2); }
Test(cuda_vs_ref, maxpool3x3_s2_many) { maxpool("maxpool3x3_s2_many", 3, 40, 41, 40, 3, 2, 1, 0); }

/* Indices the backend did not write (uploaded): backward finds the
 * windows without knowing the pooling. */
static void f_maxpool_bwd_only(biqa_backend *be, const op_case *oc, biqa_tensor *in,
                               biqa_tensor *out, float *loss)
{
    (void)oc, (void)loss;
    be->maxpool_bwd(be, &in[0], in[1].data, &out[0]);
}

Test(cuda_vs_ref, maxpool_bwd_from_uploaded_indices)
{
    op_case oc = {.name = "maxpool_bwd_uploaded", .fn = f_maxpool_bwd_only, .cls = T_ACT};
    const int n = 2, c = 3, h = 9, w = 8, oh = 5, ow = 4; /* 3x3, stride 2, pad 1 */
    add_in(&oc, uniform(&oc, "dy", n, c, oh, ow, -1, 1));
    host idx = written(n, c, oh, ow);
    int32_t *iv = (int32_t *)idx.v;
    for (int p = 0; p < n * c; p++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) { /* a valid position in each window */
                int r = (int)biqa_rng_below(5, 7, (uint64_t)((p * oh + oy) * ow + ox), 9);
                int iy = oy * 2 - 1 + r / 3, ix = ox * 2 - 1 + r % 3;
                iy = iy < 0 ? 0 : iy >= h ? h - 1 : iy;
                ix = ix < 0 ? 0 : ix >= w ? w - 1 : ix;
                iv[(p * oh + oy) * ow + ox] = iy * w + ix;
            }
    add_in(&oc, idx);
    add_out(&oc, written(n, c, h, w));
    check(&oc);
}

static void f_avgpool(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                      float *loss)
{
    (void)oc, (void)loss;
    be->avgpool_fwd(be, &in[0], &out[0]);
    be->avgpool_bwd(be, &in[1], &out[1]);
}

static void avgpool(const char *name, int n, int c, int h, int w)
{
    op_case oc = {.name = name, .fn = f_avgpool, .cls = T_ACT};
    add_in(&oc, uniform(&oc, "x", n, c, h, w, -1, 1));
    add_in(&oc, uniform(&oc, "dy", n, c, 1, 1, -1, 1));
    add_out(&oc, written(n, c, 1, 1));
    add_out(&oc, written(n, c, h, w));
    check(&oc);
}

Test(cuda_vs_ref, avgpool) { avgpool("avgpool", 3, 5, 7, 6); }
Test(cuda_vs_ref, avgpool_1x1) { avgpool("avgpool_1x1", 2, 4, 1, 1); }
Test(cuda_vs_ref, avgpool_many) { avgpool("avgpool_many", 4, 9, 31, 30); }

/* ---- linear, L2 norm, InfoNCE ---- */

static void f_linear(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                     float *loss)
{
    (void)loss;
    be->linear_fwd(be, &in[0], &in[1], oc->bias ? &in[3] : NULL, &out[0]);
    be->linear_bwd(be, &in[0], &in[1], &in[2], &out[1], &out[2], oc->bias ? &out[3] : NULL);
}

static void linear(const char *name, int n, int c, int h, int w, int o, int bias)
{
    op_case oc = {.name = name, .fn = f_linear, .cls = T_MAT, .bias = bias};
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

Test(cuda_vs_ref, linear) { linear("linear", 7, 13, 1, 1, 11, 1); }
Test(cuda_vs_ref, linear_nobias_batch1) { linear("linear_nobias_batch1", 1, 9, 1, 1, 5, 0); }
Test(cuda_vs_ref, linear_from_nchw) { linear("linear_from_nchw", 4, 3, 2, 5, 6, 1); }
Test(cuda_vs_ref, linear_large) { linear("linear_large", 64, 300, 1, 1, 70, 1); }

static void f_l2norm(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                     float *loss)
{
    (void)loss;
    be->l2norm_fwd(be, &in[0], oc->eps, &out[0]);
    be->l2norm_bwd(be, &in[0], &in[1], oc->eps, &out[1]);
}

Test(cuda_vs_ref, l2norm)
{
    op_case oc = {.name = "l2norm", .fn = f_l2norm, .cls = T_F32, .eps = 1e-2f};
    host x = uniform(&oc, "x", 6, 300, 1, 1, -1, 1);
    for (int j = 0; j < 300; j++) { /* rows 1 and 4 have norms below eps */
        x.v[300 + j] *= 1e-5f;
        x.v[4 * 300 + j] *= 1e-5f;
    }
    add_in(&oc, x);
    add_in(&oc, uniform(&oc, "dy", 6, 300, 1, 1, -1, 1));
    add_out(&oc, written(6, 300, 1, 1));
    add_out(&oc, written(6, 300, 1, 1));
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
    op_case oc = {.name = name, .fn = f_infonce, .cls = T_MAT, .tau = 0.07f,
                  .no_extra = no_extra};
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

Test(cuda_vs_ref, infonce) { infonce("infonce", 5, 16, 37, 0); }
Test(cuda_vs_ref, infonce_dq_only_batch1) { infonce("infonce_dq_only", 1, 9, 6, 1); }
Test(cuda_vs_ref, infonce_large) { infonce("infonce_large", 32, 128, 300, 0); }

/* ---- losses (fp32 at every precision) ---- */

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
    op_case oc = {.name = name, .fn = f_xent, .cls = T_F32, .dloss = 0.75f, .has_loss = 1};
    add_in(&oc, uniform(&oc, "logits", n, k, 1, 1, -scale, scale));
    oc.labels = track((size_t)n * sizeof(int32_t));
    for (int i = 0; i < n; i++)
        oc.labels[i] = (int32_t)biqa_rng_below(3, biqa_rng_stream(name), (uint64_t)i, (uint64_t)k);
    add_out(&oc, written(n, k, 1, 1));
    check(&oc);
}

Test(cuda_vs_ref, xent) { xent("xent", 7, 10, 3); }
Test(cuda_vs_ref, xent_batch1) { xent("xent_batch1", 1, 5, 3); }
Test(cuda_vs_ref, xent_large_logits) { xent("xent_large_logits", 6, 9, 60); }
Test(cuda_vs_ref, xent_wide) { xent("xent_wide", 40, 4097, 5); }

static void f_mask_xent(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                        float *loss)
{
    (void)in;
    const int n = out[0].n, k = out[0].c;
    int32_t rows[16], cols[16];
    for (int i = 0; i < n; i++) {
        rows[2 * i] = rows[2 * i + 1] = i;
        cols[2 * i] = (oc->labels[i] + 1) % k;
        cols[2 * i + 1] = (oc->labels[i] + 3) % k;
    }
    be->mask(be, &out[0], rows, cols, 2 * n, -INFINITY);
    be->xent(be, &out[0], oc->labels, oc->dloss, loss, &out[1]);
}

Test(cuda_vs_ref, mask_then_xent)
{
    op_case oc = {.name = "mask_then_xent", .fn = f_mask_xent, .cls = T_F32, .dloss = 1.0f,
                  .has_loss = 1};
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
    op_case oc = {.name = name, .fn = f_regress, .cls = T_F32, .kind = kind, .beta = beta,
                  .dloss = 1.5f, .has_loss = 1};
    host pred = uniform(&oc, "pred", n, c, 1, 1, -2, 2);
    host target = uniform(&oc, "target", n, c, 1, 1, -2, 2);
    for (size_t i = 0; i < count(&pred); i += 5)
        pred.v[i] = target.v[i];
    add_in(&oc, pred);
    add_in(&oc, target);
    add_out(&oc, written(n, c, 1, 1));
    check(&oc);
}

Test(cuda_vs_ref, l1) { regress("l1", BIQA_LOSS_L1, 0, 9, 1); }
Test(cuda_vs_ref, smooth_l1) { regress("smooth_l1", BIQA_LOSS_SMOOTH_L1, 1.0f, 9, 1); }
Test(cuda_vs_ref, smooth_l1_beta03) { regress("smooth_l1_b03", BIQA_LOSS_SMOOTH_L1, 0.3f, 5, 3); }
Test(cuda_vs_ref, smooth_l1_beta0) { regress("smooth_l1_b0", BIQA_LOSS_SMOOTH_L1, 0.0f, 7, 1); }
Test(cuda_vs_ref, mse_large) { regress("mse_large", BIQA_LOSS_MSE, 0, 40000, 1); }

/* ---- optimisers (fp32 at every precision) ---- */

static void f_sgd(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                  float *loss)
{
    (void)loss;
    for (int s = 0; s < 2; s++)
        be->sgd_step(be, &out[0], &in[s], &out[1], oc->lr, oc->momentum, oc->wd, oc->nesterov);
}

static void sgd(const char *name, int n, float momentum, float wd, int nesterov)
{
    op_case oc = {.name = name, .fn = f_sgd, .cls = T_F32, .lr = 0.1f, .momentum = momentum,
                  .wd = wd, .nesterov = nesterov};
    add_in(&oc, uniform(&oc, "g1", n, 1, 1, 1, -1, 1));
    add_in(&oc, uniform(&oc, "g2", n, 1, 1, 1, -1, 1));
    add_out(&oc, uniform(&oc, "p", n, 1, 1, 1, -1, 1));
    add_out(&oc, uniform(&oc, "v", n, 1, 1, 1, -0.5, 0.5));
    check(&oc);
}

Test(cuda_vs_ref, sgd_plain) { sgd("sgd_plain", 37, 0, 0, 0); }
Test(cuda_vs_ref, sgd_momentum_wd) { sgd("sgd_momentum_wd", 41, 0.9f, 1e-2f, 0); }
Test(cuda_vs_ref, sgd_nesterov_large) { sgd("sgd_nesterov", 40000, 0.9f, 1e-4f, 1); }

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
    op_case oc = {.name = name, .fn = f_adamw, .cls = T_F32, .lr = 1e-2f, .beta1 = 0.9f,
                  .beta2 = 0.999f, .eps = 1e-8f, .wd = wd, .step = step};
    add_in(&oc, uniform(&oc, "g1", n, 1, 1, 1, -1, 1));
    add_in(&oc, uniform(&oc, "g2", n, 1, 1, 1, -1, 1));
    add_out(&oc, uniform(&oc, "p", n, 1, 1, 1, -1, 1));
    if (step == 1) {
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

Test(cuda_vs_ref, adamw_fresh) { adamw("adamw_fresh", 33, 1e-2f, 1); }
Test(cuda_vs_ref, adamw_resume_large) { adamw("adamw_resume", 40000, 0.05f, 7); }

static void f_ema(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                  float *loss)
{
    (void)loss;
    be->ema(be, &out[0], &in[0], oc->momentum);
}

Test(cuda_vs_ref, ema)
{
    op_case oc = {.name = "ema", .fn = f_ema, .cls = T_F32, .momentum = 0.999f};
    add_in(&oc, uniform(&oc, "src", 40000, 1, 1, 1, -1, 1));
    add_out(&oc, uniform(&oc, "dst", 40000, 1, 1, 1, -1, 1));
    check(&oc);
}

/* ---- activations through chains of ops ---- */

/* Every op after the first reads tensors an earlier op wrote (kept NHWC,
 * bfloat16 at bf16): pool, batch norm, ReLU in place, copy, add, axpy,
 * ReLU backward, average pooling, and back through batch norm and pooling.
 * The input lies on a grid so that max pooling picks the same maxima. */
static void f_chain(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                    float *loss)
{
    (void)loss;
    int32_t *arg = out[1].data;
    be->maxpool_fwd(be, &oc->pool, &in[0], &out[0], arg);
    be->bn_fwd_train(be, &out[0], &in[1], &in[2], &out[2], &out[3], 0.1f, 1e-5f, &out[4],
                     &out[5], &out[6]);
    be->relu_fwd(be, &out[4], &out[4]);
    be->copy(be, &out[7], &out[4]);
    be->add(be, &out[4], &out[7], &out[8]);
    be->axpy(be, -0.5f, &out[4], &out[8]);
    be->relu_bwd(be, &out[4], &out[8], &out[9]);
    be->avgpool_fwd(be, &out[9], &out[10]);
    be->avgpool_bwd(be, &in[3], &out[11]);
    be->axpy(be, 1.0f, &out[9], &out[11]);
    be->bn_bwd(be, 1, &out[0], &out[11], &in[1], &out[5], &out[6], &out[12], &out[13], &out[14]);
    be->maxpool_bwd(be, &out[12], arg, &out[15]);
}

Test(cuda_vs_ref, chain_of_activation_ops)
{
    op_case oc = {.name = "chain", .fn = f_chain, .cls = T_CHAIN, .pool = {3, 2, 1}};
    const int n = 3, c = 37, h = 13, w = 12, oh = 7, ow = 6;
    add_in(&oc, grid(&oc, "x", n, c, h, w, 64.0f));
    add_in(&oc, uniform(&oc, "gamma", c, 1, 1, 1, 0.5, 1.5));
    add_in(&oc, uniform(&oc, "beta", c, 1, 1, 1, -0.5, 0.5));
    add_in(&oc, uniform(&oc, "dyf", n, c, 1, 1, -1, 1));
    add_out(&oc, written(n, c, oh, ow));
    host arg = written(n, c, oh, ow);
    arg.exact = 1;
    add_out(&oc, arg);
    add_out(&oc, uniform(&oc, "rm", c, 1, 1, 1, -0.5, 0.5));
    add_out(&oc, uniform(&oc, "rv", c, 1, 1, 1, 0.5, 1.5));
    add_out(&oc, written(n, c, oh, ow));
    add_out(&oc, written(c, 1, 1, 1));
    add_out(&oc, written(c, 1, 1, 1));
    for (int i = 0; i < 3; i++)
        add_out(&oc, written(n, c, oh, ow));
    add_out(&oc, written(n, c, 1, 1));
    add_out(&oc, written(n, c, oh, ow));
    add_out(&oc, written(n, c, oh, ow));
    add_out(&oc, uniform(&oc, "dg0", c, 1, 1, 1, -1, 1));
    add_out(&oc, uniform(&oc, "db0", c, 1, 1, 1, -1, 1));
    add_out(&oc, written(n, c, h, w));
    check(&oc);
}

/* ---- the same memory through other views ---- */

/* A convolution output read through a view of its second image (a
 * pointer inside it), flattened into a linear layer (its pointer, another
 * shape), overwritten in part by an upload, then used whole again. */
static void f_views(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                    float *loss)
{
    (void)loss;
    biqa_tensor *y = &out[0];
    size_t image = (size_t)y->c * y->h * y->w;
    be->conv2d_fwd(be, &oc->conv, &in[0], &in[1], NULL, y);
    biqa_tensor second = biqa_view((float *)y->data + image, 1, y->c, y->h, y->w);
    be->copy(be, &out[1], &second);
    be->conv2d_fwd(be, &oc->conv, &in[0], &in[1], NULL, y);
    biqa_tensor flat = biqa_view(y->data, y->n, (int)image, 1, 1);
    be->linear_fwd(be, &flat, &in[2], NULL, &out[2]);
    be->conv2d_fwd(be, &oc->conv, &in[0], &in[1], NULL, y);
    const float patch[5] = {7, -7, 0.5f, 3, -2};
    be->upload(be, (float *)y->data + image + 3, patch, 5);
    be->relu_fwd(be, y, &out[3]);
}

Test(cuda_vs_ref, tensors_read_through_other_views)
{
    op_case oc = {.name = "views", .fn = f_views, .cls = T_MAT, .conv = {1, 1}};
    const int n = 3, c = 5, h = 6, w = 7, o = 8, lin = 4;
    add_in(&oc, uniform(&oc, "x", n, c, h, w, -1, 1));
    add_in(&oc, uniform(&oc, "w", o, c, 3, 3, -0.5, 0.5));
    add_in(&oc, uniform(&oc, "lw", lin, o * h * w, 1, 1, -0.1, 0.1));
    add_out(&oc, written(n, o, h, w));
    add_out(&oc, written(1, o, h, w));
    add_out(&oc, written(n, lin, 1, 1));
    add_out(&oc, written(n, o, h, w));
    check(&oc);
}

/* ---- a recorded step ---- */

/* Three executions of a small step: one eager (so that every library call
 * has been made once before recording, as before any capture), then
 * recorded once and replayed twice where the backend has graphs; three
 * eager ones otherwise. The loss of the last replay reaches *loss through
 * the graph's host node. */
static void small_step(biqa_backend *be, biqa_tensor *in, biqa_tensor *out, const int32_t *labels,
                       float *loss)
{
    be->axpy(be, 0.5f, &in[0], &out[0]);
    be->relu_fwd(be, &out[0], &out[0]);
    be->linear_fwd(be, &out[0], &in[1], NULL, &out[1]);
    be->xent(be, &out[1], labels, 1.0f, loss, &out[2]);
}

static void f_graph(biqa_backend *be, const op_case *oc, biqa_tensor *in, biqa_tensor *out,
                    float *loss)
{
    small_step(be, in, out, oc->labels, loss);
    if (!be->graph_begin) {
        small_step(be, in, out, oc->labels, loss);
        small_step(be, in, out, oc->labels, loss);
        return;
    }
    biqa_error err;
    *loss = NAN;
    cr_assert_eq(be->graph_begin(be, &err), 0, "%s", err.msg);
    small_step(be, in, out, oc->labels, loss);
    cr_assert_eq(be->graph_end(be, &err), 0, "%s", err.msg);
    cr_assert(isnan(*loss), "recording ran the step");
    for (int i = 0; i < 2; i++)
        cr_assert_eq(be->graph_replay(be, &err), 0, "%s", err.msg);
}

Test(cuda_vs_ref, graph_replays_the_recorded_step)
{
    op_case oc = {.name = "graph", .fn = f_graph, .cls = T_MAT, .has_loss = 1};
    add_in(&oc, uniform(&oc, "x", 6, 20, 1, 1, -1, 1));
    add_in(&oc, uniform(&oc, "w", 5, 20, 1, 1, -0.5, 0.5));
    add_out(&oc, uniform(&oc, "y", 6, 20, 1, 1, -1, 1));
    add_out(&oc, written(6, 5, 1, 1));
    add_out(&oc, written(6, 5, 1, 1));
    oc.labels = track(6 * sizeof(int32_t));
    for (int i = 0; i < 6; i++)
        oc.labels[i] = i % 5;
    check(&oc);
}

/* ---- the backend itself ---- */

Test(cuda_vs_ref, backend_reports_its_name_precision_and_memory)
{
    biqa_error err;
    biqa_backend *be = biqa_backend_create("cuda:tf32", 0, &err);
    cr_assert_not_null(be, "%s", err.msg);
    cr_expect_str_eq(be->name, "cuda");
    cr_expect_eq(be->precision, BIQA_PREC_TF32);
    cr_expect(be->sync && be->graph_begin && be->graph_end && be->graph_replay);
    void *p = be->alloc(be, 0);
    cr_expect_not_null(p, "an empty allocation is not out of memory");
    be->free(be, p);
    cr_expect_null(be->alloc(be, (size_t)1 << 62), "an impossible allocation is NULL");
    cr_expect_eq(be->sync(be, &err), 0, "a refused allocation leaves no error behind: %s",
                 err.msg);
    cr_expect_neq(be->graph_replay(be, &err), 0);
    cr_expect(strstr(err.msg, "without a recorded graph"), "%s", err.msg);
    biqa_backend_destroy(be);
}
