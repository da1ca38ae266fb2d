/* The VQEG 4-parameter logistic mapping, fitted by Levenberg-Marquardt with
 * Moré's diagonal scaling and an analytic Jacobian.
 *
 * The fit runs on normalised data, u = (x - mean x) / std x and
 * v = (y - min y) / (max y - min y), where the header's initial values become
 * p = (1, 0, 0, 1). The mapping family is closed under this change of
 * variables, so the minimiser is the same; the normalisation only makes the
 * tolerances scale-free. One pass over the data at a trial point yields its
 * cost, J^T J and J^T r together, so an accepted step needs no further pass. */
#include "results/metrics.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* Iteration budget: WORK_POINTS point evaluations, at least MIN_ITER and at
 * most MAX_ITER iterations (one pass each). Small sets get SciPy-like
 * patience (curve_fit with maxfev = 10^4, as IQA code commonly calls it);
 * 10^6 rows get 50 passes, about 0.6 s on one core. */
#define WORK_POINTS 2e7
#define MIN_ITER 50
#define MAX_ITER 10000
#define MIN_LAMBDA 1e-12 /* relative to diag(d); regrowing from below wastes passes */
#define MAX_LAMBDA 1e32
#define XTOL 1e-10  /* relative step (scaled norm) */
#define NOISE 1e-12 /* relative cost change below rounding of the sum */
/* MINPACK's ftol (scipy.optimize.curve_fit's default, sqrt of double eps):
 * stop when both the actual and the predicted relative reductions of the
 * cost are below it. This is what ends the fit on near-linear data, where the
 * least-squares optimum lies at infinite parameters (the logistic flattening
 * into a line) and the cost creeps down forever; SciPy stops there too. */
#define FTOL 1.4901161193847656e-08
#define BLOCK 256

typedef struct problem {
    const double *x, *y;
    size_t n;
    double mx, isx, ymin, iry; /* u = (x - mx) * isx, v = (y - ymin) * iry */
} problem;

typedef struct state {
    double p[4];
    double cost;   /* sum of squared residuals */
    double jtj[4][4];
    double jtr[4]; /* J^T r with r = v - model: the Gauss-Newton right-hand side */
} state;

double biqa_logistic_eval(const double b[4], double x)
{
    return (b[0] - b[1]) / (1 + exp(-(x - b[2]) / fabs(b[3]))) + b[1];
}

/* Cost, J^T J and J^T r at s->p. With z = (u - p3) / |p4|, g = 1/(1 + e^-z),
 * model = p1 g + p2 (1 - g):
 *   d/dp1 = g, d/dp2 = 1 - g, d/dp3 = -(p1 - p2) g (1-g) / |p4|,
 *   d/dp4 = -(p1 - p2) g (1-g) z / |p4| * sign(p4).
 * These loops are the fit's whole cost, hence the blocks: exp() and the
 * Jacobian run over a block first, then the sums in two groups small
 * enough to stay in registers (fifteen running sums do not fit). */
static void evaluate(const problem *pb, state *s)
{
    const double *p = s->p;
    double is = 1 / fabs(p[3]), sgn = p[3] < 0 ? -1 : 1, diff = p[0] - p[1];
    double x0 = pb->mx + p[2] / pb->isx, k = pb->isx * is; /* z = (x - x0) k */
    double cost = 0, a00 = 0, a01 = 0, a02 = 0, a03 = 0, a11 = 0, a12 = 0, a13 = 0, a22 = 0,
           a23 = 0, a33 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
    for (size_t lo = 0; lo < pb->n; lo += BLOCK) {
        size_t m = pb->n - lo < BLOCK ? pb->n - lo : BLOCK;
        const double *x = pb->x + lo, *y = pb->y + lo;
        double g[BLOCK], h[BLOCK], j2[BLOCK], j3[BLOCK], r[BLOCK];
        for (size_t i = 0; i < m; i++)
            g[i] = exp(-fabs((x[i] - x0) * k)); /* e^-|z|: never overflows */
        for (size_t i = 0; i < m; i++) {
            double z = (x[i] - x0) * k, e = g[i], q = 1 / (1 + e);
            g[i] = z >= 0 ? q : e * q;
            h[i] = z >= 0 ? e * q : q; /* 1 - g, accurately */
            r[i] = (y[i] - pb->ymin) * pb->iry - (p[0] * g[i] + p[1] * h[i]);
            j2[i] = -diff * g[i] * h[i] * is;
            j3[i] = j2[i] * z * sgn;
        }
        for (size_t i = 0; i < m; i++) {
            a00 += g[i] * g[i], a01 += g[i] * h[i], a02 += g[i] * j2[i], a03 += g[i] * j3[i];
            a11 += h[i] * h[i], a12 += h[i] * j2[i], a13 += h[i] * j3[i];
        }
        for (size_t i = 0; i < m; i++) {
            a22 += j2[i] * j2[i], a23 += j2[i] * j3[i], a33 += j3[i] * j3[i];
            b0 += g[i] * r[i], b1 += h[i] * r[i], b2 += j2[i] * r[i], b3 += j3[i] * r[i];
            cost += r[i] * r[i];
        }
    }
    double a[4][4] = {{a00, a01, a02, a03}, {a01, a11, a12, a13}, {a02, a12, a22, a23},
                      {a03, a13, a23, a33}};
    memcpy(s->jtj, a, sizeof a);
    s->jtr[0] = b0, s->jtr[1] = b1, s->jtr[2] = b2, s->jtr[3] = b3;
    s->cost = cost;
}

/* Solves (J^T J + lambda diag(d)) delta = J^T r by Cholesky; -1 when the
 * matrix is not numerically positive definite. */
static int solve(const state *s, const double d[4], double lambda, double delta[4])
{
    double L[4][4] = {{0}}, w[4];
    for (int k = 0; k < 4; k++) {
        for (int l = 0; l <= k; l++) {
            double v = s->jtj[k][l] + (k == l ? lambda * d[k] : 0);
            for (int m = 0; m < l; m++)
                v -= L[k][m] * L[l][m];
            if (k == l) {
                if (!(v > 0))
                    return -1;
                L[k][k] = sqrt(v);
            } else {
                L[k][l] = v / L[l][l];
            }
        }
    }
    for (int k = 0; k < 4; k++) {
        w[k] = s->jtr[k];
        for (int m = 0; m < k; m++)
            w[k] -= L[k][m] * w[m];
        w[k] /= L[k][k];
    }
    for (int k = 3; k >= 0; k--) {
        delta[k] = w[k];
        for (int m = k + 1; m < 4; m++)
            delta[k] -= L[m][k] * delta[m];
        delta[k] /= L[k][k];
    }
    return 0;
}

static double scaled_norm(const double d[4], const double v[4])
{
    double s = 0;
    for (int k = 0; k < 4; k++)
        s += d[k] * v[k] * v[k];
    return sqrt(s);
}

/* Decrease of the cost that the linear model promises for step delta:
 * |r|^2 - |r - J delta|^2 = delta . (2 J^T r - J^T J delta). */
static double predicted_decrease(const state *s, const double delta[4])
{
    double pred = 0;
    for (int k = 0; k < 4; k++) {
        double jd = 0;
        for (int l = 0; l < 4; l++)
            jd += s->jtj[k][l] * delta[l];
        pred += delta[k] * (2 * s->jtr[k] - jd);
    }
    return pred;
}

/* Levenberg-Marquardt from s (Madsen, Nielsen & Tingleff, "Methods for
 * non-linear least squares problems", 2004, with Moré's scaling): returns the
 * iterations, or -1 when no step can reduce the cost. The damping follows
 * their gain-ratio rule, except that three steps in a row that the model
 * predicted well (rho > 0.75) cut it tenfold: near-linear data put the
 * optimum at the end of a long flat valley whose direction any damping
 * truncates (half the iterations there, and no more where the curve must
 * first turn over, as for b1 < b2).
 * Converged (*converged = 1) when the next step, nearly Gauss-Newton, is
 * below XTOL relative to p or promises less than the cost's rounding, or by
 * MINPACK's FTOL test. A summed cost cannot resolve changes below ~1e-13 of
 * itself at 10^6 rows, so a step whose promised decrease is under NOISE is
 * taken on the model's word instead of a cost comparison. Reaching max_iter
 * with every step still lowering the cost (*converged = 0) means the
 * parameters are running off: data with no sigmoid shape put the
 * least-squares optimum of the family at infinity, and s is the best
 * mapping found. */
static int levenberg_marquardt(const problem *pb, state *s, int max_iter, int *converged)
{
    double d[4] = {0}, lambda = 1e-3, nu = 2;
    int good = 0; /* steps in a row that the model predicted well */
    *converged = 0;
    for (int it = 1; it <= max_iter; it++) {
        for (int k = 0; k < 4; k++)
            if (s->jtj[k][k] > d[k])
                d[k] = s->jtj[k][k]; /* Moré: the largest column norm seen */
        for (;;) {
            state t;
            double delta[4];
            if (lambda > MAX_LAMBDA)
                return -1;
            if (solve(s, d, lambda, delta) < 0) {
                lambda *= nu, nu *= 2;
                continue;
            }
            double pred = predicted_decrease(s, delta);
            if (lambda < 1 && (scaled_norm(d, delta) <= XTOL * (scaled_norm(d, s->p) + XTOL) ||
                               pred <= DBL_EPSILON * s->cost)) {
                *converged = 1;
                return it;
            }
            for (int k = 0; k < 4; k++)
                t.p[k] = s->p[k] + delta[k];
            evaluate(pb, &t);
            double rho = (s->cost - t.cost) / pred;
            if (isfinite(t.cost) && (rho > 0 || pred <= NOISE * s->cost)) {
                double f = 2 * rho - 1, shrink = rho > 0 ? 1 - f * f * f : 0;
                int small = fabs(s->cost - t.cost) <= FTOL * s->cost && pred <= FTOL * s->cost &&
                            rho <= 2;
                good = rho > 0.75 ? good + 1 : 0;
                lambda *= good >= 3 ? 0.1 : shrink > 1.0 / 3 ? shrink : 1.0 / 3;
                lambda = lambda > MIN_LAMBDA ? lambda : MIN_LAMBDA;
                nu = 2;
                *s = t;
                if (small) {
                    *converged = 1;
                    return it;
                }
                break;
            }
            lambda *= nu, nu *= 2, good = 0;
        }
    }
    return max_iter;
}

int biqa_logistic_fit(const double *x, const double *y, size_t n, double b[4], int *converged)
{
    *converged = 0;
    for (int k = 0; k < 4; k++)
        b[k] = NAN;
    if (n < 4)
        return -1;
    double sx = 0, sxx = 0, ymin = y[0], ymax = y[0];
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i]))
            return -1;
        sx += x[i];
        ymin = y[i] < ymin ? y[i] : ymin;
        ymax = y[i] > ymax ? y[i] : ymax;
    }
    double mx = sx / (double)n;
    for (size_t i = 0; i < n; i++)
        sxx += (x[i] - mx) * (x[i] - mx);
    double std = sqrt(sxx / (double)n);
    if (!(std > 0) || !(ymax > ymin) || !isfinite(std) || !isfinite(ymax - ymin))
        return -1;
    problem pb = {x, y, n, mx, 1 / std, ymin, 1 / (ymax - ymin)};
    state s = {.p = {1, 0, 0, 1}};
    evaluate(&pb, &s);
    double budget = WORK_POINTS / (double)n;
    int max_iter = budget < MIN_ITER ? MIN_ITER : budget > MAX_ITER ? MAX_ITER : (int)budget;
    int it = levenberg_marquardt(&pb, &s, max_iter, converged);
    if (it < 0)
        return -1;
    double ry = ymax - ymin;
    b[0] = ymin + ry * s.p[0];
    b[1] = ymin + ry * s.p[1];
    b[2] = mx + std * s.p[2];
    b[3] = std * fabs(s.p[3]);
    return it;
}
