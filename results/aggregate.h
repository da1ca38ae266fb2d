/* Aggregation of one metric over the repeated splits of a protocol (the BIQA
 * convention reports the median over 10 random 80/20 splits, QPT.md).
 *
 * median  numpy.median; mean; std with ddof = 1 (sample std, NaN for n = 1);
 * ci_lo, ci_hi: percentile bootstrap confidence interval of the median:
 *   for r in 0..resamples-1: draw n values with replacement, index j of
 *   resample r being v[biqa_rng_below(seed, biqa_rng_stream("bootstrap"),
 *   r * n + j, n)], and take its median; the interval is the
 *   (1-level)/2 and (1+level)/2 quantiles of those medians with numpy's
 *   default linear interpolation. Deterministic for a given seed. */
#ifndef BIQA_RESULTS_AGGREGATE_H
#define BIQA_RESULTS_AGGREGATE_H

#include <stddef.h>
#include <stdint.h>

typedef struct biqa_aggregate {
    size_t n;          /* values aggregated (all finite) */
    size_t n_nonfinite; /* NaN or inf values seen: they make every statistic NaN, never dropped */
    double median, mean, std, ci_lo, ci_hi;
    double level;      /* e.g. 0.95 */
    int resamples;
} biqa_aggregate;

#define BIQA_BOOTSTRAP_RESAMPLES 10000
#define BIQA_BOOTSTRAP_LEVEL 0.95

/* Returns 0; with n == 0 or any NaN every statistic is NaN. With
 * resamples < 1 or level outside (0, 1) there is no interval (ci_lo, ci_hi
 * NaN). Returns -1 only when an allocation fails. */
int biqa_aggregate_compute(const double *v, size_t n, uint64_t seed, int resamples,
                           double level, biqa_aggregate *out);

/* numpy-compatible quantile (linear interpolation) of sorted values. */
double biqa_quantile_sorted(const double *sorted, size_t n, double q);

#endif
