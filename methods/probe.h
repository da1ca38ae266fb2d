/* Linear probe: ridge regression of MOS on frozen backbone features
 * (paper/QPT.md, "Downstream protocol"; issue 5).
 *
 * Features: the backbone's pooled features in eval mode, the mean over the
 * deterministic test crops (methods/finetune.h: biqa_predict_crops).
 * Standardisation: each feature j gets z = (x - mean_j) / std_j with mean
 * and std (ddof 0) over the training rows only (std 0 -> 1).
 * Fit, closed form: w solves (Z^T Z + lambda I) w = Z^T (y - mean(y)) by
 * Cholesky (SPD for lambda > 0); the intercept is the training mean of y
 * (Z is centred), so pred = mean(y) + z . w.
 * Selection: lambda from the grid biqa_probe_grid (10^-3 .. 10^5, half
 * decades) by the SRCC on the validation rows; the first (smallest) lambda
 * wins a tie; NaN never wins (all NaN: the largest lambda). Test rows are
 * not an input of the selection.
 * The chosen fit is the one on the training rows (the validation rows are
 * never trained on, as in fine-tuning). */
#ifndef BIQA_METHODS_PROBE_H
#define BIQA_METHODS_PROBE_H

#include <stddef.h>

#include "core/error.h"

#define BIQA_PROBE_GRID 17

typedef struct biqa_ridge {
    size_t d;
    double lambda, bias;
    double *mean, *scale, *w; /* d each: feature means, 1/std, weights */
} biqa_ridge;

/* lambda_k = 10^(-3 + k/2), k = 0 .. BIQA_PROBE_GRID-1. */
double biqa_probe_grid(int k);

/* Fits on rows[0..n-1] of x (row-major, N x d) and y. */
int biqa_ridge_fit(const double *x, const double *y, size_t d, const size_t *rows, size_t n,
                   double lambda, biqa_ridge *out, biqa_error *err);
double biqa_ridge_predict(const biqa_ridge *r, const double *xrow);
void biqa_ridge_free(biqa_ridge *r);

/* Fits every grid lambda on the training rows, scores each on the
 * validation rows (val_srcc[k], may be NULL), keeps the best in out. */
int biqa_ridge_select(const double *x, const double *y, size_t d, const size_t *train,
                      size_t ntrain, const size_t *val, size_t nval, biqa_ridge *out,
                      double *val_srcc, biqa_error *err);

#endif
