/* methods/probe.h: ridge regression in closed form, and lambda chosen on the
 * validation rows only. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "core/rng.h"
#include "methods/probe.h"

Test(probe, one_feature_matches_the_closed_form)
{
    /* d = 1: z standardised, w = sum(z (y - ybar)) / (sum(z^2) + lambda)
     * with sum(z^2) = n; pred = ybar + z w. */
    const double x[5] = {1, 2, 4, 7, 11}, y[5] = {0.1, 0.3, 0.2, 0.8, 0.9};
    const size_t rows[5] = {0, 1, 2, 3, 4};
    double mx = 0, my = 0, sxx = 0, szy = 0;
    for (int i = 0; i < 5; i++)
        mx += x[i] / 5, my += y[i] / 5;
    for (int i = 0; i < 5; i++)
        sxx += (x[i] - mx) * (x[i] - mx);
    double sd = sqrt(sxx / 5);
    for (int i = 0; i < 5; i++)
        szy += (x[i] - mx) / sd * (y[i] - my);
    const double lambda = 0.7, w = szy / (5 + lambda);
    biqa_ridge r;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_ridge_fit(x, y, 1, rows, 5, lambda, &r, &e), 0, "%s", e.msg);
    for (int i = 0; i < 5; i++) {
        double want = my + (x[i] - mx) / sd * w;
        cr_assert_float_eq(biqa_ridge_predict(&r, &x[i]), want, 1e-12, "row %d", i);
    }
    biqa_ridge_free(&r);
}

Test(probe, solves_the_normal_equations)
{
    /* d = 6, n = 40 random rows (with a duplicated column: singular without
     * lambda): (Z^T Z + lambda I) w = Z^T (y - ybar) holds to rounding. */
    enum { N = 40, D = 6 };
    double x[N * D], y[N];
    size_t rows[N];
    for (int i = 0; i < N; i++) {
        rows[i] = (size_t)i;
        for (int j = 0; j < D; j++)
            x[i * D + j] = j == 5 ? x[i * D + 4] : 3 * biqa_rng_uniform(9, 1, (uint64_t)(i * D + j)) + j;
        y[i] = x[i * D] - 0.5 * x[i * D + 2] + 0.1 * biqa_rng_uniform(9, 2, (uint64_t)i);
    }
    biqa_ridge r;
    biqa_error e = {{0}};
    const double lambda = 0.3;
    cr_assert_eq(biqa_ridge_fit(x, y, D, rows, N, lambda, &r, &e), 0, "%s", e.msg);
    double ybar = 0, z[N][D];
    for (int i = 0; i < N; i++)
        ybar += y[i] / N;
    cr_assert_float_eq(r.bias, ybar, 1e-12);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++)
            z[i][j] = (x[i * D + j] - r.mean[j]) * r.scale[j];
    double worst = 0;
    for (int a = 0; a < D; a++) {
        double lhs = lambda * r.w[a], rhs = 0;
        for (int i = 0; i < N; i++) {
            rhs += z[i][a] * (y[i] - ybar);
            for (int b = 0; b < D; b++)
                lhs += z[i][a] * z[i][b] * r.w[b];
        }
        worst = fmax(worst, fabs(lhs - rhs));
    }
    cr_assert_lt(worst, 1e-9, "normal equations residual %g", worst);
    /* the two equal columns share their weight */
    cr_assert_float_eq(r.w[4], r.w[5], 1e-9);
    biqa_ridge_free(&r);
}

Test(probe, lambda_is_selected_on_validation_rows_only)
{
    /* 90 rows (40 train, 20 val, 30 "test"): y is linear in feature 0; 9 noise features. */
    enum { N = 90, D = 10 };
    double x[N * D], y[N], srcc[BIQA_PROBE_GRID];
    size_t train[40], val[20];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++)
            x[i * D + j] = biqa_rng_uniform(4, 1, (uint64_t)(i * D + j));
    for (int i = 0; i < N; i++)
        y[i] = x[i * D] + 0.3 * biqa_rng_uniform(4, 2, (uint64_t)i);
    for (int i = 0; i < 40; i++)
        train[i] = (size_t)i;
    for (int i = 0; i < 20; i++)
        val[i] = (size_t)(40 + i);
    biqa_ridge a, b;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_ridge_select(x, y, D, train, 40, val, 20, &a, srcc, &e), 0, "%s", e.msg);
    int k = 0;
    while (biqa_probe_grid(k) != a.lambda)
        k++;
    for (int g = 0; g < BIQA_PROBE_GRID; g++)
        cr_assert(!(srcc[g] > srcc[k]), "lambda %g beats the chosen %g on validation",
                  biqa_probe_grid(g), a.lambda);
    for (int g = 0; g < k; g++)
        cr_assert_lt(srcc[g], srcc[k], "ties go to the first (smallest) lambda");
    /* rows outside train and val (the test part) do not matter */
    for (int i = 60; i < N; i++)
        y[i] = -y[i] * 100;
    cr_assert_eq(biqa_ridge_select(x, y, D, train, 40, val, 20, &b, NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(a.lambda, b.lambda);
    cr_assert_eq(memcmp(a.w, b.w, D * sizeof(double)), 0);
    biqa_ridge_free(&b);
    /* validation labels do: reversed validation ranks choose differently */
    for (int i = 40; i < 60; i++)
        y[i] = -y[i];
    cr_assert_eq(biqa_ridge_select(x, y, D, train, 40, val, 20, &b, srcc, &e), 0, "%s", e.msg);
    cr_assert_neq(a.lambda, b.lambda, "selection follows the validation SRCC");
    biqa_ridge_free(&a), biqa_ridge_free(&b);
}

Test(probe, refuses_degenerate_input)
{
    const double x[2] = {1, 2}, y[2] = {0, 1};
    const size_t rows[2] = {0, 1};
    biqa_ridge r;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_ridge_fit(x, y, 1, rows, 1, 1.0, &r, &e), -1);
    cr_assert_eq(biqa_ridge_fit(x, y, 1, rows, 2, 0.0, &r, &e), -1);
    cr_assert(strstr(e.msg, "lambda"), "%s", e.msg);
    cr_assert_eq(biqa_ridge_select(x, y, 1, rows, 2, rows, 2, &r, NULL, &e), -1);
    cr_assert(strstr(e.msg, "validation"), "%s", e.msg);
}
