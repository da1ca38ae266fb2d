/* Gradients of the ref backend against central finite differences.
 *
 * Each op's scalar objective is L = sum(dy * y) with a random dy (for the
 * losses: L = dloss * loss), evaluated in double from the float32 outputs.
 * For every element x_i of every differentiated input, the derivative is
 * (L(x_i + h) - L(x_i - h)) / (x_i+ - x_i-), where x_i+- are the perturbed
 * values as actually rounded to float, and is compared with the backend's
 * gradient by max|fd - g| / max(1, max|g|).
 *
 * Step and tolerance: smooth ops use h = 1e-2 max(1, |x_i|); the truncation
 * error is h^2 |L'''| / 6, ~2e-5 for O(1) third derivatives (0 where the op
 * is linear in the input). Piecewise ops (relu, max pool, L1, smooth-L1)
 * use h = 1e-3 max(1, |x_i|) with inputs kept >= 1e-2 from every kink, so
 * no difference straddles one. Rounding: L is a sum of float32 values (or
 * one float32 loss), each off by up to 6e-8 relative, which the quotient
 * turns into ~6e-8 |L| / (2h), <= 3e-5 |L| for the smaller step. Measured:
 * <= 3e-5 for every op. TOL = 5e-4 leaves a margin > 10x, while a wrong
 * gradient (a missing term, a factor of 2, a transposed index) is off by
 * O(1). Accumulation is checked on the way:
 * parameter gradients start at ACC_INIT and must end at ACC_INIT + grad. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "core/rng.h"
#include "kernels/ref/ref.h"

#define TOL 5e-4
#define H_SMOOTH 1e-2
#define H_KINK 1e-3
#define ACC_INIT 0.5f
#define MAX_BUFS 32

static biqa_backend *be;
static void *bufs[MAX_BUFS];
static int nbufs;

static void setup(void)
{
    biqa_error err;
    be = biqa_ref_backend_create(&err);
    cr_assert_not_null(be, "%s", err.msg);
    nbufs = 0;
}

static void teardown(void)
{
    for (int i = 0; i < nbufs; i++)
        be->free(be, bufs[i]);
    be->destroy(be);
}

TestSuite(ops_fd, .init = setup, .fini = teardown);

/* ---- tensors (ref memory is host memory, read and written directly) ---- */

static biqa_tensor tensor(int n, int c, int h, int w)
{
    biqa_tensor t = biqa_view(NULL, n, c, h, w);
    cr_assert_lt(nbufs, MAX_BUFS);
    t.data = be->alloc(be, biqa_numel(&t) * sizeof(float));
    cr_assert_not_null(t.data);
    bufs[nbufs++] = t.data;
    return t;
}

/* Uniform in [lo, hi) from stream `name` of core/rng.h. */
static biqa_tensor uniform(int n, int c, int h, int w, const char *name, double lo, double hi)
{
    biqa_tensor t = tensor(n, c, h, w);
    uint64_t s = biqa_rng_stream(name);
    for (size_t i = 0; i < biqa_numel(&t); i++)
        biqa_f32(&t)[i] = (float)(lo + (hi - lo) * biqa_rng_uniform(7, s, i));
    return t;
}

/* Values at least `gap` from 0, either sign. */
static biqa_tensor away_from_zero(int n, int c, int h, int w, const char *name, double gap)
{
    biqa_tensor t = uniform(n, c, h, w, name, -1, 1);
    for (size_t i = 0; i < biqa_numel(&t); i++) {
        float *v = &biqa_f32(&t)[i];
        *v = *v < 0 ? *v - (float)gap : *v + (float)gap;
    }
    return t;
}

static biqa_tensor filled(int n, int c, int h, int w, float v)
{
    biqa_tensor t = tensor(n, c, h, w);
    be->fill(be, &t, v);
    return t;
}

/* ---- the check ---------------------------------------------------------- */

/* One op under test: forward() recomputes y (or loss) from the inputs. */
typedef struct fd_op {
    void (*forward)(struct fd_op *op);
    biqa_tensor in[4], aux[4], y, dy;
    int32_t *idx;
    int32_t labels[8];
    float eps, dloss, loss;
    int kind, is_loss;
    biqa_conv_params conv;
    biqa_pool_params pool;
} fd_op;

static double objective(fd_op *op)
{
    op->forward(op);
    if (op->is_loss)
        return (double)op->dloss * op->loss;
    double s = 0;
    for (size_t i = 0; i < biqa_numel(&op->y); i++)
        s += (double)biqa_f32(&op->dy)[i] * biqa_f32(&op->y)[i];
    return s;
}

/* Compares grad (minus `init`, for accumulated gradients) with central
 * differences of the objective in every element of x. */
static void check(fd_op *op, const char *what, biqa_tensor *x, const biqa_tensor *grad,
                  float init, double h)
{
    size_t n = biqa_numel(x);
    double gmax = 0, worst = 0;
    for (size_t i = 0; i < n; i++)
        gmax = fmax(gmax, fabs(biqa_f32(grad)[i] - init));
    for (size_t i = 0; i < n; i++) {
        float *v = &biqa_f32(x)[i], x0 = *v;
        float xp = (float)(x0 + h * fmax(1, fabs(x0))), xm = (float)(x0 - h * fmax(1, fabs(x0)));
        *v = xp;
        double lp = objective(op);
        *v = xm;
        double lm = objective(op);
        *v = x0;
        double fd = (lp - lm) / ((double)xp - xm);
        worst = fmax(worst, fabs(fd - (biqa_f32(grad)[i] - init)));
    }
    double err = worst / fmax(1, gmax);
    cr_log_info("%s: max normalised error %.2e (|grad| <= %.3g)", what, err, gmax);
    cr_expect_leq(err, TOL, "%s: finite differences differ from the gradient by %.3g (tol %g)",
                  what, err, TOL);
    cr_assert_gt(gmax, 1e-3, "%s: the gradient is ~0, so the check would be vacuous", what);
}

/* ---- ops ------------------------------------------------------------------- */

static void conv_fwd(fd_op *op)
{
    be->conv2d_fwd(be, &op->conv, &op->in[0], &op->in[1], &op->in[2], &op->y);
}

Test(ops_fd, conv2d)
{
    fd_op op = {.forward = conv_fwd, .conv = {2, 1}};
    op.in[0] = uniform(2, 3, 7, 6, "conv.x", -1, 1);
    op.in[1] = uniform(4, 3, 3, 3, "conv.w", -0.5, 0.5);
    op.in[2] = uniform(4, 1, 1, 1, "conv.b", -0.5, 0.5);
    op.y = tensor(2, 4, 4, 3);
    op.dy = uniform(2, 4, 4, 3, "conv.dy", -1, 1);
    biqa_tensor dx = tensor(2, 3, 7, 6), dw = filled(4, 3, 3, 3, ACC_INIT);
    biqa_tensor db = filled(4, 1, 1, 1, ACC_INIT);
    be->conv2d_bwd(be, &op.conv, &op.in[0], &op.in[1], &op.dy, &dx, &dw, &db);
    check(&op, "conv2d dx", &op.in[0], &dx, 0, H_SMOOTH);
    check(&op, "conv2d dw", &op.in[1], &dw, ACC_INIT, H_SMOOTH);
    check(&op, "conv2d db", &op.in[2], &db, ACC_INIT, H_SMOOTH);
}

static void bn_fwd(fd_op *op)
{
    be->bn_fwd_train(be, &op->in[0], &op->in[1], &op->in[2], &op->aux[0], &op->aux[1], 0.1f,
                     op->eps, &op->y, &op->aux[2], &op->aux[3]);
}

Test(ops_fd, batch_norm_train)
{
    fd_op op = {.forward = bn_fwd, .eps = 1e-5f};
    op.in[0] = uniform(2, 3, 3, 4, "bn.x", -2, 3);
    op.in[1] = uniform(3, 1, 1, 1, "bn.gamma", 0.5, 1.5);
    op.in[2] = uniform(3, 1, 1, 1, "bn.beta", -0.5, 0.5);
    op.aux[0] = filled(3, 1, 1, 1, 0);
    op.aux[1] = filled(3, 1, 1, 1, 1);
    op.aux[2] = tensor(3, 1, 1, 1);
    op.aux[3] = tensor(3, 1, 1, 1);
    op.y = tensor(2, 3, 3, 4);
    op.dy = uniform(2, 3, 3, 4, "bn.dy", -1, 1);
    bn_fwd(&op);
    biqa_tensor dx = tensor(2, 3, 3, 4), dg = filled(3, 1, 1, 1, ACC_INIT);
    biqa_tensor db = filled(3, 1, 1, 1, ACC_INIT);
    be->bn_bwd(be, 1, &op.in[0], &op.dy, &op.in[1], &op.aux[2], &op.aux[3], &dx, &dg, &db);
    check(&op, "batch norm dx", &op.in[0], &dx, 0, H_SMOOTH);
    check(&op, "batch norm dgamma", &op.in[1], &dg, ACC_INIT, H_SMOOTH);
    check(&op, "batch norm dbeta", &op.in[2], &db, ACC_INIT, H_SMOOTH);
}

static void linear_fwd(fd_op *op)
{
    be->linear_fwd(be, &op->in[0], &op->in[1], &op->in[2], &op->y);
}

Test(ops_fd, linear)
{
    fd_op op = {.forward = linear_fwd};
    op.in[0] = uniform(3, 7, 1, 1, "linear.x", -1, 1);
    op.in[1] = uniform(5, 7, 1, 1, "linear.w", -0.5, 0.5);
    op.in[2] = uniform(5, 1, 1, 1, "linear.b", -0.5, 0.5);
    op.y = tensor(3, 5, 1, 1);
    op.dy = uniform(3, 5, 1, 1, "linear.dy", -1, 1);
    biqa_tensor dx = tensor(3, 7, 1, 1), dw = filled(5, 7, 1, 1, ACC_INIT);
    biqa_tensor db = filled(5, 1, 1, 1, ACC_INIT);
    be->linear_bwd(be, &op.in[0], &op.in[1], &op.dy, &dx, &dw, &db);
    check(&op, "linear dx", &op.in[0], &dx, 0, H_SMOOTH);
    check(&op, "linear dw", &op.in[1], &dw, ACC_INIT, H_SMOOTH);
    check(&op, "linear db", &op.in[2], &db, ACC_INIT, H_SMOOTH);
}

static void l2norm_fwd(fd_op *op)
{
    be->l2norm_fwd(be, &op->in[0], op->eps, &op->y);
}

/* eps = 0.5: rows 0 and 2 (norm < 0.4) are divided by eps, rows 1 and 3
 * (norm > 0.6: the margin keeps x +- h on one side) by their norm, so both
 * branches are differentiated. */
Test(ops_fd, l2norm)
{
    fd_op op = {.forward = l2norm_fwd, .eps = 0.5f};
    op.in[0] = uniform(4, 6, 1, 1, "l2norm.x", -1, 1);
    for (int j = 0; j < 6; j++) {
        biqa_f32(&op.in[0])[j] *= 0.15f;
        biqa_f32(&op.in[0])[12 + j] *= 0.15f;
    }
    for (int r = 0; r < 4; r++) {
        double norm = 0;
        for (int j = 0; j < 6; j++)
            norm += pow(biqa_f32(&op.in[0])[6 * r + j], 2);
        cr_assert((sqrt(norm) < 0.4) == (r % 2 == 0), "row %d: norm %g", r, sqrt(norm));
    }
    op.y = tensor(4, 6, 1, 1);
    op.dy = uniform(4, 6, 1, 1, "l2norm.dy", -1, 1);
    biqa_tensor dx = tensor(4, 6, 1, 1);
    be->l2norm_bwd(be, &op.in[0], &op.dy, op.eps, &dx);
    check(&op, "l2norm dx", &op.in[0], &dx, 0, H_SMOOTH);
}

static void infonce_fwd(fd_op *op)
{
    be->infonce_fwd(be, &op->in[0], &op->in[1], &op->in[2], op->eps, &op->y);
}

Test(ops_fd, infonce)
{
    fd_op op = {.forward = infonce_fwd, .eps = 0.2f}; /* eps holds tau */
    op.in[0] = uniform(3, 5, 1, 1, "infonce.q", -0.5, 0.5);
    op.in[1] = uniform(3, 5, 1, 1, "infonce.k", -0.5, 0.5);
    op.in[2] = uniform(4, 5, 1, 1, "infonce.neg", -0.5, 0.5);
    op.y = tensor(3, 5, 1, 1);
    op.dy = uniform(3, 5, 1, 1, "infonce.dy", -1, 1);
    biqa_tensor dq = tensor(3, 5, 1, 1), dk = tensor(3, 5, 1, 1), dn = tensor(4, 5, 1, 1);
    be->infonce_bwd(be, &op.in[0], &op.in[1], &op.in[2], op.eps, &op.dy, &dq, &dk, &dn);
    check(&op, "infonce dq", &op.in[0], &dq, 0, H_SMOOTH);
    check(&op, "infonce dk", &op.in[1], &dk, 0, H_SMOOTH);
    check(&op, "infonce dneg", &op.in[2], &dn, 0, H_SMOOTH);
}

static void xent_fwd(fd_op *op)
{
    be->xent(be, &op->in[0], op->labels, op->dloss, &op->loss, NULL);
}

Test(ops_fd, cross_entropy)
{
    fd_op op = {.forward = xent_fwd, .is_loss = 1, .dloss = 0.7f, .labels = {2, 0, 4, 4}};
    op.in[0] = uniform(4, 5, 1, 1, "xent.z", -2, 2);
    biqa_tensor dz = tensor(4, 5, 1, 1);
    be->xent(be, &op.in[0], op.labels, op.dloss, &op.loss, &dz);
    check(&op, "cross-entropy dlogits", &op.in[0], &dz, 0, H_SMOOTH);
}

static void regress_fwd(fd_op *op)
{
    be->regress(be, op->kind, op->eps, &op->in[0], &op->in[1], op->dloss, &op->loss, NULL);
}

/* pred = target + d with |d| in [0.05, 1.05) and, for smooth-L1 with
 * beta = 0.5, |d| kept >= 0.02 from beta. */
static void check_regress(int kind, const char *what)
{
    fd_op op = {.forward = regress_fwd, .is_loss = 1, .dloss = 1.3f, .kind = kind, .eps = 0.5f};
    op.in[1] = uniform(6, 1, 1, 1, "regress.target", -2, 2);
    biqa_tensor d = away_from_zero(6, 1, 1, 1, "regress.d", 0.05);
    op.in[0] = tensor(6, 1, 1, 1);
    for (int i = 0; i < 6; i++) {
        float di = biqa_f32(&d)[i];
        if (fabsf(fabsf(di) - op.eps) < 0.02f)
            di *= 1.2f;
        biqa_f32(&op.in[0])[i] = biqa_f32(&op.in[1])[i] + di;
    }
    biqa_tensor dp = tensor(6, 1, 1, 1);
    be->regress(be, kind, op.eps, &op.in[0], &op.in[1], op.dloss, &op.loss, &dp);
    check(&op, what, &op.in[0], &dp, 0, kind == BIQA_LOSS_MSE ? H_SMOOTH : H_KINK);
}

Test(ops_fd, regress_l1)
{
    check_regress(BIQA_LOSS_L1, "l1 dpred");
}

Test(ops_fd, regress_smooth_l1)
{
    check_regress(BIQA_LOSS_SMOOTH_L1, "smooth-l1 dpred");
}

Test(ops_fd, regress_mse)
{
    check_regress(BIQA_LOSS_MSE, "mse dpred");
}

static void maxpool_fwd(fd_op *op)
{
    be->maxpool_fwd(be, &op->pool, &op->in[0], &op->y, op->idx);
}

/* Inputs are a shuffle of 0, 0.05, 0.1, ...: distinct by more than 2h, so
 * no perturbation changes a window's maximum. */
Test(ops_fd, maxpool)
{
    fd_op op = {.forward = maxpool_fwd, .pool = {3, 2, 1}};
    op.in[0] = tensor(2, 2, 7, 6);
    float *x = biqa_f32(&op.in[0]);
    size_t n = biqa_numel(&op.in[0]);
    for (size_t i = 0; i < n; i++)
        x[i] = 0.05f * (float)i;
    for (size_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        size_t j = biqa_rng_below(7, biqa_rng_stream("maxpool.shuffle"), i, i + 1);
        float t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
    op.y = tensor(2, 2, 4, 3);
    op.dy = uniform(2, 2, 4, 3, "maxpool.dy", -1, 1);
    int32_t idx[2 * 2 * 4 * 3];
    op.idx = idx;
    maxpool_fwd(&op);
    biqa_tensor dx = tensor(2, 2, 7, 6);
    be->maxpool_bwd(be, &op.dy, idx, &dx);
    check(&op, "maxpool dx", &op.in[0], &dx, 0, H_KINK);
}

static void avgpool_fwd(fd_op *op)
{
    be->avgpool_fwd(be, &op->in[0], &op->y);
}

Test(ops_fd, avgpool)
{
    fd_op op = {.forward = avgpool_fwd};
    op.in[0] = uniform(2, 3, 4, 5, "avgpool.x", -1, 1);
    op.y = tensor(2, 3, 1, 1);
    op.dy = uniform(2, 3, 1, 1, "avgpool.dy", -5, 5);
    biqa_tensor dx = tensor(2, 3, 4, 5);
    be->avgpool_bwd(be, &op.dy, &dx);
    check(&op, "avgpool dx", &op.in[0], &dx, 0, H_SMOOTH);
}

static void relu_fwd(fd_op *op)
{
    be->relu_fwd(be, &op->in[0], &op->y);
}

Test(ops_fd, relu)
{
    fd_op op = {.forward = relu_fwd};
    op.in[0] = away_from_zero(2, 3, 3, 3, "relu.x", 0.01);
    op.y = tensor(2, 3, 3, 3);
    op.dy = uniform(2, 3, 3, 3, "relu.dy", -1, 1);
    relu_fwd(&op);
    biqa_tensor dx = tensor(2, 3, 3, 3);
    be->relu_bwd(be, &op.y, &op.dy, &dx);
    check(&op, "relu dx", &op.in[0], &dx, 0, H_KINK);
}
