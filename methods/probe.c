/* Ridge regression on frozen features (methods/probe.h). */
#include "methods/probe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "results/metrics.h"

double biqa_probe_grid(int k) { return pow(10.0, -3.0 + 0.5 * k); }

void biqa_ridge_free(biqa_ridge *r)
{
    free(r->mean), free(r->scale), free(r->w);
    memset(r, 0, sizeof *r);
}

/* In-place Cholesky of the d x d SPD matrix a (lower triangle), then
 * solves a w = b into b. Returns -1 when a is not positive definite. */
static int cholesky_solve(double *a, double *b, size_t d)
{
    for (size_t j = 0; j < d; j++) {
        double s = a[j * d + j];
        for (size_t k = 0; k < j; k++)
            s -= a[j * d + k] * a[j * d + k];
        if (!(s > 0))
            return -1;
        a[j * d + j] = sqrt(s);
        for (size_t i = j + 1; i < d; i++) {
            double t = a[i * d + j];
            for (size_t k = 0; k < j; k++)
                t -= a[i * d + k] * a[j * d + k];
            a[i * d + j] = t / a[j * d + j];
        }
    }
    for (size_t i = 0; i < d; i++) { /* L z = b */
        for (size_t k = 0; k < i; k++)
            b[i] -= a[i * d + k] * b[k];
        b[i] /= a[i * d + i];
    }
    for (size_t i = d; i-- > 0;) { /* L^T w = z */
        for (size_t k = i + 1; k < d; k++)
            b[i] -= a[k * d + i] * b[k];
        b[i] /= a[i * d + i];
    }
    return 0;
}

int biqa_ridge_fit(const double *x, const double *y, size_t d, const size_t *rows, size_t n,
                   double lambda, biqa_ridge *out, biqa_error *err)
{
    memset(out, 0, sizeof *out);
    if (n < 2 || d < 1)
        return biqa_fail(err, "ridge: %zu training rows of %zu features; at least 2 rows needed",
                         n, d);
    if (!(lambda > 0))
        return biqa_fail(err, "ridge: lambda %g must be > 0", lambda);
    out->d = d, out->lambda = lambda;
    out->mean = calloc(d, sizeof(double));
    out->scale = calloc(d, sizeof(double));
    out->w = calloc(d, sizeof(double));
    double *a = calloc(d * d, sizeof(double)), *z = malloc(d * sizeof(double));
    if (!out->mean || !out->scale || !out->w || !a || !z) {
        free(a), free(z);
        biqa_ridge_free(out);
        return biqa_fail(err, "ridge: out of memory (%zu features)", d);
    }
    double ymean = 0;
    for (size_t r = 0; r < n; r++) {
        ymean += y[rows[r]];
        for (size_t j = 0; j < d; j++)
            out->mean[j] += x[rows[r] * d + j];
    }
    ymean /= (double)n;
    for (size_t j = 0; j < d; j++)
        out->mean[j] /= (double)n;
    for (size_t r = 0; r < n; r++)
        for (size_t j = 0; j < d; j++) {
            double c = x[rows[r] * d + j] - out->mean[j];
            out->scale[j] += c * c;
        }
    for (size_t j = 0; j < d; j++) {
        double sd = sqrt(out->scale[j] / (double)n);
        out->scale[j] = sd > 0 ? 1 / sd : 1;
    }
    /* a = Z^T Z (lower triangle) + lambda I, w = Z^T (y - ymean) */
    for (size_t r = 0; r < n; r++) {
        const double *xr = x + rows[r] * d, yc = y[rows[r]] - ymean;
        for (size_t j = 0; j < d; j++)
            z[j] = (xr[j] - out->mean[j]) * out->scale[j];
        for (size_t i = 0; i < d; i++) {
            out->w[i] += z[i] * yc;
            for (size_t j = 0; j <= i; j++)
                a[i * d + j] += z[i] * z[j];
        }
    }
    for (size_t i = 0; i < d; i++)
        a[i * d + i] += lambda;
    int rc = cholesky_solve(a, out->w, d);
    free(a), free(z);
    if (rc < 0) {
        biqa_ridge_free(out);
        return biqa_fail(err, "ridge: the system is not positive definite (non-finite features?)");
    }
    out->bias = ymean;
    return 0;
}

double biqa_ridge_predict(const biqa_ridge *r, const double *xrow)
{
    double s = r->bias;
    for (size_t j = 0; j < r->d; j++)
        s += (xrow[j] - r->mean[j]) * r->scale[j] * r->w[j];
    return s;
}

int biqa_ridge_select(const double *x, const double *y, size_t d, const size_t *train,
                      size_t ntrain, const size_t *val, size_t nval, biqa_ridge *out,
                      double *val_srcc, biqa_error *err)
{
    memset(out, 0, sizeof *out);
    if (nval < 3)
        return biqa_fail(err, "ridge: %zu validation rows; at least 3 are needed to select "
                              "lambda by SRCC", nval);
    double *pred = malloc(nval * sizeof *pred), *truth = malloc(nval * sizeof *truth);
    if (!pred || !truth) {
        free(pred), free(truth);
        return biqa_fail(err, "ridge: out of memory");
    }
    for (size_t i = 0; i < nval; i++)
        truth[i] = y[val[i]];
    double best = -INFINITY;
    int rc = 0;
    for (int k = 0; k < BIQA_PROBE_GRID && rc == 0; k++) {
        biqa_ridge r;
        rc = biqa_ridge_fit(x, y, d, train, ntrain, biqa_probe_grid(k), &r, err);
        if (rc < 0)
            break;
        for (size_t i = 0; i < nval; i++)
            pred[i] = biqa_ridge_predict(&r, x + val[i] * d);
        double s = biqa_srcc(truth, pred, nval);
        if (val_srcc)
            val_srcc[k] = s;
        if (s > best || (k == BIQA_PROBE_GRID - 1 && !out->w)) {
            best = isnan(s) ? best : s;
            biqa_ridge_free(out);
            *out = r;
        } else {
            biqa_ridge_free(&r);
        }
    }
    free(pred), free(truth);
    if (rc < 0)
        biqa_ridge_free(out);
    return rc;
}
