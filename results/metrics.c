#include "results/metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- sorting -------------------------------------------------------------
 * Ranks need each variable sorted with its indices. An LSD radix sort of
 * (key, index) pairs is several times faster than a comparison sort at 10^6
 * rows, and it is stable: equal values keep their input order. */

typedef struct keyed {
    uint64_t key;
    size_t idx;
} keyed;

/* Order-preserving map of a finite double onto an unsigned integer. -0.0 is
 * made +0.0 first: they are equal values, so they must tie as in scipy. */
static uint64_t sort_key(double v)
{
    v += 0.0;
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return (u >> 63) ? ~u : u | UINT64_C(1) << 63;
}

#define RADIX_BITS 11
#define RADIX_SIZE (1u << RADIX_BITS)
#define RADIX_PASSES ((64 + RADIX_BITS - 1) / RADIX_BITS)

/* Sorts a[0..n) by key using tmp (room for n); returns whichever of the two
 * holds the result, or NULL when the histogram cannot be allocated. */
static keyed *radix_sort(keyed *a, keyed *tmp, size_t n)
{
    size_t(*count)[RADIX_SIZE] = calloc(RADIX_PASSES, sizeof *count);
    if (!count)
        return NULL;
    for (size_t i = 0; i < n; i++)
        for (int p = 0; p < RADIX_PASSES; p++)
            count[p][(a[i].key >> (p * RADIX_BITS)) & (RADIX_SIZE - 1)]++;
    for (int p = 0; p < RADIX_PASSES; p++) {
        unsigned shift = (unsigned)p * RADIX_BITS;
        if (count[p][(a[0].key >> shift) & (RADIX_SIZE - 1)] == n)
            continue; /* every key has the same digit here */
        size_t sum = 0;
        for (size_t d = 0; d < RADIX_SIZE; d++) {
            size_t c = count[p][d];
            count[p][d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[p][(a[i].key >> shift) & (RADIX_SIZE - 1)]++] = a[i];
        keyed *t = a;
        a = tmp;
        tmp = t;
    }
    free(count);
    return a;
}

/* ---- ranks ----------------------------------------------------------------- */

typedef struct ranking {
    size_t *order; /* indices by increasing value */
    double *avg;   /* 1-based rank of each element, ties averaged (rankdata "average") */
    int64_t ties;  /* pairs of equal values: sum of c(c-1)/2 over groups of c */
} ranking;

static void ranking_free(ranking *r)
{
    free(r->order);
    free(r->avg);
}

/* Ranks v. Equal values keep the order they have in tie_order (a
 * permutation of 0..n-1), or index order when it is NULL. */
static int rank(const double *v, size_t n, const size_t *tie_order, ranking *r)
{
    keyed *a = malloc(n * sizeof *a), *tmp = malloc(n * sizeof *tmp), *s = NULL;
    *r = (ranking){malloc(n * sizeof *r->order), malloc(n * sizeof *r->avg), 0};
    if (a && tmp && r->order && r->avg) {
        for (size_t k = 0; k < n; k++) {
            size_t i = tie_order ? tie_order[k] : k;
            a[k] = (keyed){sort_key(v[i]), i};
        }
        s = radix_sort(a, tmp, n);
    }
    if (s) {
        for (size_t i = 0, j; i < n; i = j) {
            for (j = i + 1; j < n && s[j].key == s[i].key; j++)
                ;
            double avg = 0.5 * (double)(i + j + 1); /* mean of ranks i+1 .. j */
            for (size_t k = i; k < j; k++) {
                r->order[k] = s[k].idx;
                r->avg[s[k].idx] = avg;
            }
            r->ties += (int64_t)(j - i) * (int64_t)(j - i - 1) / 2;
        }
    } else {
        ranking_free(r);
    }
    free(a);
    free(tmp);
    return s ? 0 : -1;
}

/* Ranks y, then x with its ties in y order, as Kendall needs. */
static int rank_pair(const double *x, const double *y, size_t n, ranking *rx, ranking *ry)
{
    if (rank(y, n, NULL, ry) < 0)
        return -1;
    if (rank(x, n, ry->order, rx) < 0) {
        ranking_free(ry);
        return -1;
    }
    return 0;
}

/* ---- correlations ---------------------------------------------------------- */

static int is_constant(const double *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (v[i] != v[0])
            return 0;
    return 1;
}

static double mean(const double *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return s / (double)n;
}

/* scipy.stats.pearsonr: deviations from the means, NaN for constant input
 * (tested exactly: a computed mean need not equal the repeated value). */
static double pearson(const double *x, const double *y, size_t n)
{
    if (is_constant(x, n) || is_constant(y, n))
        return NAN;
    double mx = mean(x, n), my = mean(y, n), sxx = 0, syy = 0, sxy = 0;
    for (size_t i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
    }
    double r = sxy / (sqrt(sxx) * sqrt(syy));
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

/* Merges sorted a[lo, mid) and a[mid, hi) into o[lo, hi) and returns the
 * pairs (left l, right r) with l > r. Written without branches on the data
 * (unpredictable here), and from both ends at once: the front takes the
 * smallest, the back the largest, two independent chains that overlap. A
 * right element's inversions are the left elements above it: counted as
 * those not yet taken from the front, or those already taken from the back. */
static int64_t merge_count(const size_t *a, size_t *o, size_t lo, size_t mid, size_t hi)
{
    size_t i = lo, j = mid, k = lo, ib = mid, jb = hi, kb = hi;
    int64_t inv = 0;
    while (ib - i >= 2 && jb - j >= 2) { /* one step each leaves both sides non-empty */
        size_t x = a[i], y = a[j], r = y < x;
        o[k++] = r ? y : x;
        inv += (int64_t)(r * (mid - i));
        i += !r, j += r;
        size_t xb = a[ib - 1], yb = a[jb - 1], l = xb > yb;
        o[--kb] = l ? xb : yb;
        inv += (int64_t)(!l * (mid - ib));
        ib -= l, jb -= !l;
    }
    while (i < ib && j < jb) {
        size_t x = a[i], y = a[j], r = y < x;
        o[k++] = r ? y : x;
        inv += (int64_t)(r * (mid - i));
        i += !r, j += r;
    }
    inv += (int64_t)((mid - i) * (jb - j)); /* right elements left over, if any */
    memcpy(o + k, a + i, (ib - i) * sizeof *a);
    memcpy(o + k + (ib - i), a + j, (jb - j) * sizeof *a);
    return inv;
}

#define RUN 16

/* Counts the pairs i < j with a[i] > a[j], equal values not counted, by
 * merge sort (insertion sort of short runs, then bottom-up merges); a and
 * tmp (room for n) are clobbered. */
static int64_t count_inversions(size_t *a, size_t *tmp, size_t n)
{
    int64_t inv = 0;
    for (size_t lo = 0; lo < n; lo += RUN) {
        size_t hi = lo + RUN < n ? lo + RUN : n;
        for (size_t i = lo + 1; i < hi; i++) {
            size_t v = a[i], j = i;
            for (; j > lo && a[j - 1] > v; j--)
                a[j] = a[j - 1];
            a[j] = v;
            inv += (int64_t)(i - j);
        }
    }
    for (size_t w = RUN; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w)
            inv += merge_count(a, tmp, lo, lo + w < n ? lo + w : n, lo + 2 * w < n ? lo + 2 * w : n);
        size_t *t = a;
        a = tmp;
        tmp = t;
    }
    return inv;
}

/* Kendall tau-b as scipy.stats.kendalltau computes it (Knight 1966), from
 * rank_pair()'s rankings: in x order, ties by y, the discordant pairs are
 * the inversions of the y ranks; then
 *   tau = (tot - xtie - ytie + ntie - 2 dis) / sqrt(tot - xtie) / sqrt(tot - ytie)
 * with tot = n(n-1)/2 and ntie the pairs tied in both. Returns -1 when out of
 * memory. */
static int kendall(const ranking *rx, const ranking *ry, size_t n, double *tau)
{
    int64_t tot = (int64_t)n * (int64_t)(n - 1) / 2;
    if (rx->ties == tot || ry->ties == tot) {
        *tau = NAN;
        return 0;
    }
    size_t *seq = malloc(n * sizeof *seq), *tmp = malloc(n * sizeof *tmp);
    if (!seq || !tmp) {
        free(seq);
        free(tmp);
        return -1;
    }
    /* Twice an average rank is an integer, and integers merge faster. tmp
     * holds x's ranks until it becomes the merge's scratch. */
    int64_t ntie = 0;
    for (size_t k = 0, run = 0; k < n; k++) {
        size_t i = rx->order[k];
        seq[k] = (size_t)(2 * ry->avg[i]);
        tmp[k] = (size_t)(2 * rx->avg[i]);
        run = k > 0 && tmp[k] == tmp[k - 1] && seq[k] == seq[k - 1] ? run + 1 : 0;
        ntie += (int64_t)run; /* the new element ties with each of the run before it */
    }
    int64_t dis = count_inversions(seq, tmp, n);
    int64_t con_minus_dis = tot - rx->ties - ry->ties + ntie - 2 * dis;
    double t = (double)con_minus_dis / sqrt((double)(tot - rx->ties)) /
               sqrt((double)(tot - ry->ties));
    *tau = t > 1 ? 1 : t < -1 ? -1 : t;
    free(seq);
    free(tmp);
    return 0;
}

static int all_finite(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

static int defined(const double *x, const double *y, size_t n)
{
    return n >= 3 && all_finite(x, n) && all_finite(y, n);
}

double biqa_plcc(const double *x, const double *y, size_t n)
{
    return defined(x, y, n) ? pearson(x, y, n) : NAN;
}

double biqa_srcc(const double *x, const double *y, size_t n)
{
    ranking rx, ry;
    if (!defined(x, y, n) || rank_pair(x, y, n, &rx, &ry) < 0)
        return NAN;
    double r = pearson(rx.avg, ry.avg, n);
    ranking_free(&rx);
    ranking_free(&ry);
    return r;
}

double biqa_krcc(const double *x, const double *y, size_t n)
{
    ranking rx, ry;
    double tau;
    if (!defined(x, y, n) || rank_pair(x, y, n, &rx, &ry) < 0)
        return NAN;
    if (kendall(&rx, &ry, n, &tau) < 0)
        tau = NAN;
    ranking_free(&rx);
    ranking_free(&ry);
    return tau;
}

/* ---- all metrics -------------------------------------------------------- */

/* SRCC and KRCC from one ranking of each variable. */
static int rank_metrics(const double *mos, const double *pred, size_t n, biqa_scores *out)
{
    ranking rp, rm;
    if (rank_pair(pred, mos, n, &rp, &rm) < 0)
        return -1;
    out->srcc = pearson(rp.avg, rm.avg, n);
    int rc = kendall(&rp, &rm, n, &out->krcc);
    ranking_free(&rp);
    ranking_free(&rm);
    return rc;
}

/* VQEG: PLCC and RMSE between MOS and the logistic mapping of pred. A
 * mapping that came out constant (b1 = b2, or saturated everywhere) is a
 * failed fit: its PLCC is undefined. */
static void mapped_metrics(const double *mos, const double *pred, size_t n, biqa_scores *out)
{
    int it = biqa_logistic_fit(pred, mos, n, out->logistic, &out->fit_converged);
    double *f = it < 0 ? NULL : malloc(n * sizeof *f);
    int no_memory = it >= 0 && !f;
    if (f) {
        double se = 0;
        for (size_t i = 0; i < n; i++) {
            f[i] = biqa_logistic_eval(out->logistic, pred[i]);
            se += (f[i] - mos[i]) * (f[i] - mos[i]);
        }
        out->plcc_logistic = pearson(f, mos, n);
        out->rmse = isnan(out->plcc_logistic) ? NAN : sqrt(se / (double)n);
        free(f);
    }
    if (!isnan(out->plcc_logistic)) {
        out->fit_iterations = it;
        return;
    }
    out->flags |= no_memory ? BIQA_MF_NO_MEMORY : BIQA_MF_FIT_FAILED;
    for (int k = 0; k < 4; k++)
        out->logistic[k] = NAN;
}

int biqa_score(const double *mos, const double *pred, size_t n, biqa_scores *out)
{
    *out = (biqa_scores){.n = n,
                         .srcc = NAN, .plcc = NAN, .plcc_logistic = NAN, .krcc = NAN,
                         .rmse = NAN, .logistic = {NAN, NAN, NAN, NAN}};
    for (size_t i = 0; i < n; i++)
        if ((!isfinite(mos[i]) || !isfinite(pred[i])) && out->n_nonfinite++ == 0)
            out->first_nonfinite = i;
    if (n < 3)
        out->flags |= BIQA_MF_TOO_FEW;
    if (out->n_nonfinite)
        out->flags |= BIQA_MF_NONFINITE;
    if (out->flags)
        return 0;
    if (is_constant(pred, n))
        out->flags |= BIQA_MF_CONST_PRED;
    if (is_constant(mos, n))
        out->flags |= BIQA_MF_CONST_MOS;
    if (out->flags)
        return 0;
    out->plcc = pearson(pred, mos, n);
    if (rank_metrics(mos, pred, n, out) < 0) {
        out->flags |= BIQA_MF_NO_MEMORY;
        return 0;
    }
    mapped_metrics(mos, pred, n, out);
    return 0;
}

/* ---- flags ----------------------------------------------------------------- */

static const struct {
    unsigned flag;
    const char *name, *text;
} flag_info[] = {
    {BIQA_MF_TOO_FEW, "too_few", "fewer than 3 rows: no metric is defined"},
    {BIQA_MF_NONFINITE, "nonfinite", "a NaN or infinite value in mos or pred: no metric is defined"},
    {BIQA_MF_CONST_PRED, "constant_pred", "every prediction is equal: the correlations are undefined"},
    {BIQA_MF_CONST_MOS, "constant_mos", "every MOS is equal: the correlations are undefined"},
    {BIQA_MF_FIT_FAILED, "fit_failed",
     "the logistic mapping could not be fitted: plcc_logistic and rmse are undefined"},
    {BIQA_MF_NO_MEMORY, "no_memory", "out of memory: the metrics not yet computed are undefined"},
};

const char *biqa_metric_flag_name(unsigned flag)
{
    for (size_t i = 0; i < sizeof flag_info / sizeof flag_info[0]; i++)
        if (flag_info[i].flag == flag)
            return flag_info[i].name;
    return NULL;
}

const char *biqa_metric_flag_text(unsigned flag)
{
    for (size_t i = 0; i < sizeof flag_info / sizeof flag_info[0]; i++)
        if (flag_info[i].flag == flag)
            return flag_info[i].text;
    return NULL;
}
