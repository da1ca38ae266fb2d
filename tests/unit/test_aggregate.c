#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "core/rng.h"
#include "results/aggregate.h"

Test(aggregate, odd_count_by_hand)
{
    double v[] = {3, 1, 2, 5, 4};
    biqa_aggregate a;
    cr_assert_eq(biqa_aggregate_compute(v, 5, 1, 200, 0.95, &a), 0);
    cr_assert_eq(a.n, 5);
    cr_assert_eq(a.n_nonfinite, 0);
    cr_assert_float_eq(a.median, 3, 0);
    cr_assert_float_eq(a.mean, 3, 1e-15);
    cr_assert_float_eq(a.std, sqrt(2.5), 1e-15); /* ddof = 1: (4 + 1 + 0 + 1 + 4) / 4 */
    cr_assert_eq(a.resamples, 200);
    cr_assert_float_eq(a.level, 0.95, 0);
}

Test(aggregate, even_count_by_hand)
{
    double v[] = {0.91, 0.89, 0.93, 0.90};
    biqa_aggregate a;
    biqa_aggregate_compute(v, 4, 1, 200, 0.95, &a);
    cr_assert_float_eq(a.median, (0.90 + 0.91) / 2, 0);
    cr_assert_float_eq(a.mean, 0.9075, 1e-15);
    cr_assert_float_eq(a.std, sqrt((0.0025 * 0.0025 + 0.0175 * 0.0175 + 0.0225 * 0.0225 +
                                    0.0075 * 0.0075) / 3), 1e-15);
}

Test(aggregate, interval_brackets_median_and_is_deterministic)
{
    enum { n = 50 }; /* enough distinct medians for the seed to move the interval */
    double v[n];
    uint64_t stream = biqa_rng_stream("test");
    for (int i = 0; i < n; i++)
        v[i] = 0.85 + 0.1 * biqa_rng_uniform(7, stream, (uint64_t)i);
    biqa_aggregate a, b, c;
    biqa_aggregate_compute(v, n, 42, BIQA_BOOTSTRAP_RESAMPLES, BIQA_BOOTSTRAP_LEVEL, &a);
    biqa_aggregate_compute(v, n, 42, BIQA_BOOTSTRAP_RESAMPLES, BIQA_BOOTSTRAP_LEVEL, &b);
    biqa_aggregate_compute(v, n, 43, BIQA_BOOTSTRAP_RESAMPLES, BIQA_BOOTSTRAP_LEVEL, &c);
    cr_assert(a.ci_lo <= a.median && a.median <= a.ci_hi, "%g <= %g <= %g", a.ci_lo, a.median,
              a.ci_hi);
    cr_assert_lt(a.ci_lo, a.ci_hi);
    cr_assert(a.ci_lo == b.ci_lo && a.ci_hi == b.ci_hi);
    cr_assert(a.ci_lo != c.ci_lo || a.ci_hi != c.ci_hi);
    cr_assert(a.median == c.median && a.mean == c.mean && a.std == c.std);
}

static int cmp_double(const void *pa, const void *pb)
{
    double x = *(const double *)pa, y = *(const double *)pb;
    return (x > y) - (x < y);
}

/* With one resample both ends of the interval are that resample's median;
 * drawn here literally as aggregate.h specifies. */
Test(aggregate, resample_follows_the_documented_draws)
{
    double v[] = {5, 1, 4, 2, 3, 9, 7}, draw[7];
    const uint64_t n = 7, seed = 99;
    for (uint64_t j = 0; j < n; j++)
        draw[j] = v[biqa_rng_below(seed, biqa_rng_stream("bootstrap"), 0 * n + j, n)];
    qsort(draw, n, sizeof *draw, cmp_double);
    biqa_aggregate a;
    biqa_aggregate_compute(v, n, seed, 1, 0.9, &a);
    cr_assert_float_eq(a.ci_lo, draw[3], 0);
    cr_assert_float_eq(a.ci_hi, draw[3], 0);
}

Test(aggregate, one_value)
{
    double v[] = {0.9};
    biqa_aggregate a;
    biqa_aggregate_compute(v, 1, 1, 100, 0.95, &a);
    cr_assert_float_eq(a.median, 0.9, 0);
    cr_assert_float_eq(a.mean, 0.9, 0);
    cr_assert(isnan(a.std));
    cr_assert_float_eq(a.ci_lo, 0.9, 0);
    cr_assert_float_eq(a.ci_hi, 0.9, 0);
}

Test(aggregate, nothing_or_nan_gives_nan)
{
    double v[] = {0.9, NAN, 0.8};
    biqa_aggregate a;
    biqa_aggregate_compute(v, 0, 1, 100, 0.95, &a);
    cr_assert(isnan(a.median) && isnan(a.mean) && isnan(a.std) && isnan(a.ci_lo));
    biqa_aggregate_compute(v, 3, 1, 100, 0.95, &a);
    cr_assert_eq(a.n, 3);
    cr_assert_eq(a.n_nonfinite, 1);
    cr_assert(isnan(a.median) && isnan(a.mean) && isnan(a.std) && isnan(a.ci_lo) &&
              isnan(a.ci_hi));
}

Test(aggregate, no_interval_when_not_asked)
{
    double v[] = {1, 2, 3};
    biqa_aggregate a;
    biqa_aggregate_compute(v, 3, 1, 0, 0.95, &a);
    cr_assert_float_eq(a.median, 2, 0);
    cr_assert(isnan(a.ci_lo) && isnan(a.ci_hi));
    biqa_aggregate_compute(v, 3, 1, 100, 1.0, &a);
    cr_assert(isnan(a.ci_lo) && isnan(a.ci_hi));
}

/* Values from numpy.quantile (default "linear" method). */
Test(aggregate, quantiles_as_numpy)
{
    double s[] = {1, 2, 3, 4}, t[] = {10, 20, 30};
    cr_assert_float_eq(biqa_quantile_sorted(s, 4, 0.25), 1.75, 0);
    cr_assert_float_eq(biqa_quantile_sorted(s, 4, 0.5), 2.5, 0);
    cr_assert_float_eq(biqa_quantile_sorted(s, 4, 0), 1, 0);
    cr_assert_float_eq(biqa_quantile_sorted(s, 4, 1), 4, 0);
    cr_assert_float_eq(biqa_quantile_sorted(t, 3, 0.1), 12, 1e-12);
    cr_assert_float_eq(biqa_quantile_sorted(t, 3, 0.975), 29.5, 1e-12);
    cr_assert_float_eq(biqa_quantile_sorted(t, 1, 0.3), 10, 0);
    cr_assert(isnan(biqa_quantile_sorted(t, 0, 0.5)));
}
