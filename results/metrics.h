/* BIQA agreement metrics between subjective scores (MOS) and predictions.
 *
 * SRCC  Spearman rank correlation, tied values get the average of their ranks
 *       (scipy.stats.spearmanr).
 * PLCC  Pearson linear correlation of the raw predictions (scipy.stats.pearsonr).
 * PLCC after the VQEG 4-parameter logistic mapping of predictions onto MOS
 *       (VQEG FR-TV Phase II final report, 2003):
 *         f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2
 *       fitted by least squares with Levenberg-Marquardt; RMSE is between MOS
 *       and f(pred), also after the mapping, as VQEG reports it.
 * KRCC  Kendall tau-b (scipy.stats.kendalltau default), O(n log n).
 *
 * Degenerate input is flagged, never hidden: the affected metrics are NaN and
 * flags say why. No sample is ever dropped; a negative correlation stays
 * negative. */
#ifndef BIQA_RESULTS_METRICS_H
#define BIQA_RESULTS_METRICS_H

#include <stddef.h>

enum biqa_metric_flag {
    BIQA_MF_TOO_FEW = 1u << 0,    /* n < 3: every metric undefined */
    BIQA_MF_NONFINITE = 1u << 1,  /* a NaN or infinity in mos or pred: every metric undefined */
    BIQA_MF_CONST_PRED = 1u << 2, /* all predictions equal: correlations undefined */
    BIQA_MF_CONST_MOS = 1u << 3,  /* all MOS equal: correlations undefined */
    BIQA_MF_FIT_FAILED = 1u << 4, /* logistic fit did not converge: plcc_logistic, rmse undefined */
    BIQA_MF_NO_MEMORY = 1u << 5,  /* an allocation failed: the metrics not yet computed are undefined */
};

typedef struct biqa_scores {
    size_t n;
    size_t n_nonfinite;       /* rows with a NaN/inf in mos or pred */
    size_t first_nonfinite;   /* 0-based index of the first such row (valid when n_nonfinite > 0) */
    double srcc, plcc, plcc_logistic, krcc, rmse;
    double logistic[4];       /* b1, b2, b3, b4 of the fitted mapping (NaN when not fitted) */
    int fit_iterations;
    int fit_converged;        /* 0: stopped at the iteration budget, see biqa_logistic_fit */
    unsigned flags;           /* enum biqa_metric_flag bits */
} biqa_scores;

/* Computes every metric. Always returns 0 and fills out; degenerate input
 * shows in out->flags with the undefined metrics set to NaN. With a constant
 * pred or MOS the mapping is not fitted (logistic NaN, fit_iterations 0). */
int biqa_score(const double *mos, const double *pred, size_t n, biqa_scores *out);

/* Single metrics; NaN where undefined (n < 3, zero variance, non-finite
 * input) and when an allocation fails. */
double biqa_srcc(const double *x, const double *y, size_t n);
double biqa_plcc(const double *x, const double *y, size_t n);
double biqa_krcc(const double *x, const double *y, size_t n);

/* Fits the 4-parameter logistic mapping x -> y. Returns the number of
 * iterations, or -1 when the fit fails (non-finite, singular, no step lowers
 * the cost). *converged is 1 when a convergence test ended the fit, 0 when
 * it stopped at its iteration budget with the cost still falling: the
 * optimum then lies at infinite parameters (data with no sigmoid shape), b
 * is the best mapping found, and its PLCC is close to the limit's.
 * Initial values: b1 = max(y), b2 = min(y), b3 = mean(x), b4 = std(x).
 * Singular includes n < 4 (fewer points than parameters, as scipy's
 * curve_fit) and a constant x or y (the parameters are not identifiable).
 * std is numpy's default (ddof = 0); the returned b4 is |b4|, which is what
 * the mapping uses. */
int biqa_logistic_fit(const double *x, const double *y, size_t n, double b[4], int *converged);
double biqa_logistic_eval(const double b[4], double x);

/* Short machine name of one flag bit ("too_few", "nonfinite", "constant_pred",
 * "constant_mos", "fit_failed", "no_memory"), and a human sentence for it;
 * NULL for a value that is not a single flag bit. */
const char *biqa_metric_flag_name(unsigned flag);
const char *biqa_metric_flag_text(unsigned flag);

#endif
