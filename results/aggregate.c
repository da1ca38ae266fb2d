#include "results/aggregate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

typedef struct ranked {
    double v;
    size_t idx;
} ranked;

static int cmp_ranked(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    return (a->v > b->v) - (a->v < b->v);
}

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

double biqa_quantile_sorted(const double *sorted, size_t n, double q)
{
    if (n == 0 || isnan(q))
        return NAN;
    double h = (double)(n - 1) * q; /* numpy "linear": virtual index (n-1) q */
    if (h >= (double)(n - 1))
        return sorted[n - 1];
    if (h < 0)
        return sorted[0];
    size_t i = (size_t)h;
    double t = h - (double)i, a = sorted[i], b = sorted[i + 1], d = b - a;
    return t >= 0.5 ? b - d * (1 - t) : a + d * t; /* numpy's _lerp, from the nearer end */
}

/* numpy.median: the middle value, or the mean of the two middle values. */
static double median_of(double lo, double hi, size_t n)
{
    return n % 2 ? lo : (lo + hi) / 2;
}

/* Median of resample r. The draws are indices into v; count[] tallies them
 * by sorted position (pos[i] is where v[i] sits in sorted[]), so the middle
 * order statistics come from one walk instead of a sort. */
static double resample_median(const double *sorted, const size_t *pos, size_t *count, size_t n,
                              uint64_t seed, uint64_t stream, uint64_t r)
{
    memset(count, 0, n * sizeof *count);
    for (size_t j = 0; j < n; j++)
        count[pos[biqa_rng_below(seed, stream, r * n + j, n)]]++;
    size_t i = 0, seen = 0; /* seen: draws at sorted positions before i */
    while (seen + count[i] <= (n - 1) / 2)
        seen += count[i++];
    double lo = sorted[i];
    while (seen + count[i] <= n / 2)
        seen += count[i++];
    return median_of(lo, sorted[i], n);
}

/* Percentile bootstrap interval of the median, as aggregate.h specifies. */
static int bootstrap(const double *sorted, const size_t *pos, size_t n, uint64_t seed,
                     biqa_aggregate *out)
{
    size_t *count = malloc(n * sizeof *count);
    double *med = malloc((size_t)out->resamples * sizeof *med);
    if (count && med) {
        uint64_t stream = biqa_rng_stream("bootstrap");
        for (int r = 0; r < out->resamples; r++)
            med[r] = resample_median(sorted, pos, count, n, seed, stream, (uint64_t)r);
        qsort(med, (size_t)out->resamples, sizeof *med, cmp_double);
        out->ci_lo = biqa_quantile_sorted(med, (size_t)out->resamples, (1 - out->level) / 2);
        out->ci_hi = biqa_quantile_sorted(med, (size_t)out->resamples, (1 + out->level) / 2);
    }
    free(med);
    free(count);
    return count && med ? 0 : -1;
}

int biqa_aggregate_compute(const double *v, size_t n, uint64_t seed, int resamples,
                           double level, biqa_aggregate *out)
{
    *out = (biqa_aggregate){.n = n, .median = NAN, .mean = NAN, .std = NAN, .ci_lo = NAN,
                            .ci_hi = NAN, .level = level, .resamples = resamples};
    for (size_t i = 0; i < n; i++)
        out->n_nonfinite += !isfinite(v[i]);
    if (n == 0 || out->n_nonfinite)
        return 0;
    double sum = 0, ss = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    out->mean = sum / (double)n;
    for (size_t i = 0; i < n; i++)
        ss += (v[i] - out->mean) * (v[i] - out->mean);
    if (n > 1)
        out->std = sqrt(ss / (double)(n - 1));

    ranked *rk = malloc(n * sizeof *rk);
    double *sorted = malloc(n * sizeof *sorted);
    size_t *pos = malloc(n * sizeof *pos);
    int rc = rk && sorted && pos ? 0 : -1;
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            rk[i] = (ranked){v[i], i};
        qsort(rk, n, sizeof *rk, cmp_ranked);
        for (size_t k = 0; k < n; k++) {
            sorted[k] = rk[k].v;
            pos[rk[k].idx] = k;
        }
        out->median = median_of(sorted[(n - 1) / 2], sorted[n / 2], n);
        if (resamples > 0 && level > 0 && level < 1)
            rc = bootstrap(sorted, pos, n, seed, out);
    }
    free(rk);
    free(sorted);
    free(pos);
    return rc;
}
