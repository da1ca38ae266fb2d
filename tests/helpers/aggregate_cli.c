/* aggregate_cli SEED RESAMPLES LEVEL < values: biqa_aggregate_compute over
 * the numbers on standard input (one per line), printed as JSON with %.17g
 * (null for NaN) for tests/ref/metrics_vs_scipy.py to compare with NumPy. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "results/aggregate.h"

static void field(const char *name, double v, const char *sep)
{
    if (isnan(v))
        printf("\"%s\": null%s", name, sep);
    else
        printf("\"%s\": %.17g%s", name, v, sep);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: aggregate_cli SEED RESAMPLES LEVEL < values\n");
        return 2;
    }
    uint64_t seed = strtoull(argv[1], NULL, 10);
    int resamples = atoi(argv[2]);
    double level = strtod(argv[3], NULL);
    size_t n = 0, cap = 0;
    double *v = NULL, x;
    biqa_aggregate a;
    while (scanf("%lf", &x) == 1) {
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            double *w = realloc(v, cap * sizeof *v);
            if (!w) {
                free(v);
                fprintf(stderr, "aggregate_cli: out of memory\n");
                return 1;
            }
            v = w;
        }
        v[n++] = x;
    }
    if (!feof(stdin)) {
        free(v);
        fprintf(stderr, "aggregate_cli: value %zu is not a number\n", n + 1);
        return 1;
    }
    if (biqa_aggregate_compute(v, n, seed, resamples, level, &a) < 0) {
        free(v);
        fprintf(stderr, "aggregate_cli: out of memory\n");
        return 1;
    }
    printf("{\"n\": %zu, \"n_nonfinite\": %zu, ", a.n, a.n_nonfinite);
    field("median", a.median, ", ");
    field("mean", a.mean, ", ");
    field("std", a.std, ", ");
    field("ci_lo", a.ci_lo, ", ");
    field("ci_hi", a.ci_hi, "}\n");
    free(v);
    return 0;
}
