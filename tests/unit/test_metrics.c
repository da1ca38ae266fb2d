#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "core/rng.h"
#include "results/metrics.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void assert_undefined(const biqa_scores *s)
{
    cr_assert(isnan(s->srcc) && isnan(s->plcc) && isnan(s->krcc));
    cr_assert(isnan(s->plcc_logistic) && isnan(s->rmse));
    for (int k = 0; k < 4; k++)
        cr_assert(isnan(s->logistic[k]));
}

Test(metrics, perfect_positive)
{
    double mos[] = {1, 2, 3, 4, 5, 6}, pred[] = {10, 20, 30, 40, 50, 60};
    cr_assert_float_eq(biqa_srcc(pred, mos, N(mos)), 1, 1e-15);
    cr_assert_float_eq(biqa_plcc(pred, mos, N(mos)), 1, 1e-15);
    cr_assert_float_eq(biqa_krcc(pred, mos, N(mos)), 1, 1e-15);
}

Test(metrics, negative_stays_negative)
{
    double mos[] = {5, 4, 3, 2, 1}, pred[] = {0.1, 0.2, 0.3, 0.4, 0.5};
    biqa_scores s;
    cr_assert_eq(biqa_score(mos, pred, N(mos), &s), 0);
    cr_assert_float_eq(s.srcc, -1, 1e-15);
    cr_assert_float_eq(s.plcc, -1, 1e-15);
    cr_assert_float_eq(s.krcc, -1, 1e-15);
}

/* x = 1 2 2 3, y = 1 2 3 3. Pairs: 4 concordant, 0 discordant, one tied in
 * x only, one in y only: tau-b = 4 / sqrt(5 * 5). Average ranks
 * (1, 2.5, 2.5, 4) and (1, 2, 3.5, 3.5): Spearman = 3.75 / 4.5. Pearson of
 * the values: 2 / sqrt(2 * 2.75). */
Test(metrics, ties_by_hand)
{
    double x[] = {1, 2, 2, 3}, y[] = {1, 2, 3, 3};
    cr_assert_float_eq(biqa_krcc(x, y, 4), 0.8, 1e-15);
    cr_assert_float_eq(biqa_srcc(x, y, 4), 3.75 / 4.5, 1e-15);
    cr_assert_float_eq(biqa_plcc(x, y, 4), 2 / sqrt(5.5), 1e-15);
}

/* Joint ties: (1,1) twice. Pairs: (1,1)(1,1) tied in both, 4 concordant,
 * 1 discordant ((2,3) vs (3,2)), x ties 1, y ties 1 (the joint pair counts
 * in both). tau-b = (4 - 1) / sqrt((6 - 1) * (6 - 1)). */
Test(metrics, joint_ties_by_hand)
{
    double x[] = {1, 1, 2, 3}, y[] = {1, 1, 3, 2};
    cr_assert_float_eq(biqa_krcc(x, y, 4), 3.0 / 5.0, 1e-15);
}

Test(metrics, signed_zeros_tie)
{
    double x[] = {-0.0, 0.0, 1, 2}, y[] = {1, 1, 2, 3};
    cr_assert_float_eq(biqa_krcc(x, y, 4), 1, 1e-15);
    cr_assert_float_eq(biqa_srcc(x, y, 4), 1, 1e-15);
}

/* O(n^2) definitions to check the O(n log n) code on data full of ties. */
static double brute_kendall(const double *x, const double *y, size_t n)
{
    double con = 0, dis = 0, xt = 0, yt = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            double dx = x[i] - x[j], dy = y[i] - y[j];
            if (dx == 0)
                xt++;
            if (dy == 0)
                yt++;
            if (dx * dy > 0)
                con++;
            else if (dx * dy < 0)
                dis++;
        }
    double tot = n * (n - 1) / 2.0;
    return (con - dis) / sqrt((tot - xt) * (tot - yt));
}

static void brute_ranks(const double *v, size_t n, double *r)
{
    for (size_t i = 0; i < n; i++) {
        double below = 0, equal = 0;
        for (size_t j = 0; j < n; j++) {
            below += v[j] < v[i];
            equal += v[j] == v[i];
        }
        r[i] = below + (equal + 1) / 2;
    }
}

Test(metrics, matches_quadratic_definitions)
{
    enum { n = 700 };
    static double x[n], y[n], rx[n], ry[n];
    uint64_t stream = biqa_rng_stream("test");
    for (size_t levels = 2; levels <= 1024; levels *= 8) {
        for (size_t i = 0; i < n; i++) {
            x[i] = floor(biqa_rng_uniform(1, stream, 2 * i) * (double)levels);
            y[i] = floor((x[i] + biqa_rng_uniform(2, stream, 2 * i + 1) * (double)levels) / 2);
        }
        brute_ranks(x, n, rx);
        brute_ranks(y, n, ry);
        cr_assert_float_eq(biqa_krcc(x, y, n), brute_kendall(x, y, n), 1e-13, "levels %zu", levels);
        cr_assert_float_eq(biqa_srcc(x, y, n), biqa_plcc(rx, ry, n), 1e-13, "levels %zu", levels);
    }
}

Test(metrics, too_few)
{
    double mos[] = {1, 2}, pred[] = {2, 1};
    biqa_scores s;
    cr_assert_eq(biqa_score(mos, pred, 2, &s), 0);
    cr_assert_eq(s.flags, BIQA_MF_TOO_FEW);
    cr_assert_eq(s.n, 2);
    assert_undefined(&s);
    cr_assert_eq(biqa_score(mos, pred, 0, &s), 0);
    cr_assert_eq(s.flags, BIQA_MF_TOO_FEW);
    cr_assert(isnan(biqa_srcc(mos, pred, 2)) && isnan(biqa_plcc(mos, pred, 2)) &&
              isnan(biqa_krcc(mos, pred, 2)));
}

Test(metrics, constant_columns)
{
    double mos[] = {1, 2, 3, 4}, pred[] = {0.1, 0.1, 0.1, 0.1};
    biqa_scores s;
    biqa_score(mos, pred, 4, &s);
    cr_assert_eq(s.flags, BIQA_MF_CONST_PRED);
    assert_undefined(&s);
    cr_assert_eq(s.fit_iterations, 0);
    biqa_score(pred, mos, 4, &s);
    cr_assert_eq(s.flags, BIQA_MF_CONST_MOS);
    assert_undefined(&s);
    biqa_score(pred, pred, 4, &s);
    cr_assert_eq(s.flags, BIQA_MF_CONST_PRED | BIQA_MF_CONST_MOS);
    cr_assert(isnan(biqa_srcc(mos, pred, 4)) && isnan(biqa_plcc(mos, pred, 4)) &&
              isnan(biqa_krcc(mos, pred, 4)));
}

Test(metrics, nonfinite_counted_not_dropped)
{
    double mos[] = {1, 2, NAN, 4, 5, 6}, pred[] = {1, 2, 3, 4, INFINITY, 6};
    biqa_scores s;
    biqa_score(mos, pred, 6, &s);
    cr_assert_eq(s.flags, BIQA_MF_NONFINITE);
    cr_assert_eq(s.n, 6);
    cr_assert_eq(s.n_nonfinite, 2);
    cr_assert_eq(s.first_nonfinite, 2);
    assert_undefined(&s);
    cr_assert(isnan(biqa_srcc(mos, pred, 6)) && isnan(biqa_plcc(mos, pred, 6)) &&
              isnan(biqa_krcc(mos, pred, 6)));
    double two[] = {NAN, 1};
    biqa_score(two, two, 2, &s);
    cr_assert_eq(s.flags, BIQA_MF_TOO_FEW | BIQA_MF_NONFINITE);
    cr_assert_eq(s.first_nonfinite, 0);
}

/* Noise-free data from a known mapping: the fit must give it back, and the
 * mapped predictions must equal MOS. */
static void check_recovery(const double b[4])
{
    enum { n = 41 };
    double x[n], y[n], fit[4];
    for (int i = 0; i < n; i++) {
        x[i] = -4 + 0.2 * i;
        y[i] = biqa_logistic_eval(b, x[i]);
    }
    int converged;
    int it = biqa_logistic_fit(x, y, n, fit, &converged);
    cr_assert_gt(it, 0);
    cr_assert_eq(converged, 1);
    for (int k = 0; k < 4; k++)
        cr_assert_float_eq(fit[k], b[k], 1e-6 * (1 + fabs(b[k])), "b%d = %.17g", k + 1, fit[k]);
    biqa_scores s;
    biqa_score(y, x, n, &s);
    cr_assert_eq(s.flags, 0);
    cr_assert_float_eq(s.plcc_logistic, 1, 1e-12);
    cr_assert_lt(s.rmse, 1e-8);
    cr_assert_eq(s.fit_iterations, it);
}

Test(logistic, recovers_increasing_mapping)
{
    check_recovery((double[]){80, 20, 0.5, 1.3});
}

Test(logistic, recovers_decreasing_mapping)
{
    check_recovery((double[]){10, 90, -0.3, 0.7}); /* b1 < b2: MOS falls as pred rises */
}

Test(logistic, fit_preconditions)
{
    double x[] = {1, 2, 3, 4, 5}, y[] = {1, 3, 2, 5, 4}, c[] = {2, 2, 2, 2, 2}, b[4];
    int converged;
    cr_assert_eq(biqa_logistic_fit(x, y, 3, b, &converged), -1); /* fewer points than parameters */
    cr_assert(isnan(b[0]) && isnan(b[3]));
    cr_assert_eq(biqa_logistic_fit(c, y, 5, b, &converged), -1);
    cr_assert_eq(biqa_logistic_fit(x, c, 5, b, &converged), -1);
    double nan_y[] = {1, 2, NAN, 4, 5};
    cr_assert_eq(biqa_logistic_fit(x, nan_y, 5, b, &converged), -1);
}

/* Near-linear data put the optimum at infinite parameters: the fit must end
 * by MINPACK's ftol test (as SciPy's curve_fit does), not fail, and the
 * mapping can only improve on the raw PLCC. */
Test(logistic, near_linear_data_converges_by_ftol)
{
    double mos[] = {1, 2, 3, 4, 5}, pred[] = {1.5, 2.5, 2.9, 4.4, 4.8};
    biqa_scores s;
    biqa_score(mos, pred, 5, &s);
    cr_assert_eq(s.flags, 0, "flags %u", s.flags);
    cr_assert_eq(s.fit_converged, 1);
    cr_assert_gt(s.fit_iterations, 100, "the optimum is far out: %d iterations", s.fit_iterations);
    cr_assert_geq(s.plcc_logistic, s.plcc - 1e-12);
    cr_assert_lt(s.plcc_logistic, 1);
}

Test(logistic, eval_uses_abs_b4)
{
    double b[] = {1, 0, 0, -2}, c[] = {1, 0, 0, 2};
    cr_assert_float_eq(biqa_logistic_eval(b, 0), 0.5, 1e-15);
    cr_assert_float_eq(biqa_logistic_eval(b, 3), biqa_logistic_eval(c, 3), 1e-15);
    cr_assert_gt(biqa_logistic_eval(b, 3), 0.8);
}

Test(metrics, three_rows_score_but_do_not_fit)
{
    double mos[] = {1, 3, 2}, pred[] = {1, 2, 3};
    biqa_scores s;
    biqa_score(mos, pred, 3, &s);
    cr_assert_eq(s.flags, BIQA_MF_FIT_FAILED);
    cr_assert_float_eq(s.srcc, 0.5, 1e-15);
    cr_assert_float_eq(s.krcc, 1.0 / 3, 1e-15);
    cr_assert(isnan(s.plcc_logistic) && isnan(s.rmse) && isnan(s.logistic[0]));
}

Test(metrics, flag_names)
{
    cr_assert_str_eq(biqa_metric_flag_name(BIQA_MF_TOO_FEW), "too_few");
    cr_assert_str_eq(biqa_metric_flag_name(BIQA_MF_NONFINITE), "nonfinite");
    cr_assert_str_eq(biqa_metric_flag_name(BIQA_MF_CONST_PRED), "constant_pred");
    cr_assert_str_eq(biqa_metric_flag_name(BIQA_MF_CONST_MOS), "constant_mos");
    cr_assert_str_eq(biqa_metric_flag_name(BIQA_MF_FIT_FAILED), "fit_failed");
    cr_assert_str_eq(biqa_metric_flag_name(BIQA_MF_NO_MEMORY), "no_memory");
    for (unsigned bit = 1; bit <= BIQA_MF_NO_MEMORY; bit <<= 1)
        cr_assert_not_null(biqa_metric_flag_text(bit));
    cr_assert_null(biqa_metric_flag_name(0));
    cr_assert_null(biqa_metric_flag_name(BIQA_MF_TOO_FEW | BIQA_MF_NONFINITE));
    cr_assert_null(biqa_metric_flag_text(1u << 31));
}
