/* Synchronised batch norm (methods/dist_bn.c) against the oracle: plain
 * batch norm of the same backend over the whole batch. R ranks (threads,
 * tests/unit/thread_comm.h) hold consecutive slices of one batch, possibly
 * of different sizes; each runs the SyncBN backend's training forward and
 * backward on its slice. Their outputs (y, dx, the saved statistics, the
 * running statistics) must equal the whole-batch op's rows, and the sum
 * over ranks of their dgamma/dbeta increments the whole-batch ones, within
 * the normalised error TOL of tests/unit/test_cpu_vs_ref.c. Every case also
 * checks that plain per-rank batch norm is far from the oracle (> 1e-2), so
 * the comparison can fail. Channel 0 has |mean| = 100 std, where x - mean
 * cancels: each rank's mean travels as a float (as in PyTorch's
 * SyncBatchNorm), which costs about ulp(mean) / std of relative precision
 * (1e-7 x 100 here; at |mean| = 1000 std it reaches 1e-5). */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "kernels/backend.h"
#include "methods/dist.h"
#include "tests/unit/thread_comm.h"

#define TOL 1e-5

typedef struct bn_case {
    const char *backend;
    int ranks, counts[TC_MAX], c, h, w;
} bn_case;

/* Whole-batch host data and every rank's results. */
typedef struct bn_data {
    const bn_case *k;
    int n;
    float *x, *dy, *gamma, *beta, *rm0, *rv0, *acc0;      /* inputs */
    float *y, *dx, *rm, *rv, *mean, *invstd, *dgamma, *dbeta; /* results */
    float *plain_y;                                       /* per-rank plain BN */
    tc_shared sh;
} bn_data;

typedef struct rank_arg {
    bn_data *d;
    int rank, sync;
} rank_arg;

static float *fill(int count, uint64_t stream, float lo, float hi)
{
    float *v = malloc((size_t)count * sizeof *v);
    for (int i = 0; i < count; i++)
        v[i] = lo + (hi - lo) * (float)biqa_rng_uniform(9, stream, (uint64_t)i);
    return v;
}

static void *dev(biqa_backend *be, const float *host, size_t count)
{
    void *p = be->alloc(be, count * sizeof(float));
    cr_assert(p);
    if (host)
        be->upload(be, p, host, count);
    return p;
}

/* Runs training forward + backward on be for rows off .. off + n of the
 * batch, writing results at those rows (and this rank's statistics at
 * slot `slot`). */
static void run_bn(biqa_backend *be, bn_data *d, int off, int n, int slot, float *y_out)
{
    const bn_case *k = d->k;
    const int C = k->c;
    const size_t plane = (size_t)k->h * k->w, per = (size_t)C * plane, cnt = (size_t)n * per;
    biqa_tensor x = biqa_view(dev(be, d->x + off * per, cnt), n, C, k->h, k->w);
    biqa_tensor dy = biqa_view(dev(be, d->dy + off * per, cnt), n, C, k->h, k->w);
    biqa_tensor y = biqa_view(dev(be, NULL, cnt), n, C, k->h, k->w);
    biqa_tensor dx = biqa_view(dev(be, NULL, cnt), n, C, k->h, k->w);
    biqa_tensor g = biqa_view(dev(be, d->gamma, C), C, 1, 1, 1);
    biqa_tensor b = biqa_view(dev(be, d->beta, C), C, 1, 1, 1);
    biqa_tensor rm = biqa_view(dev(be, d->rm0, C), C, 1, 1, 1);
    biqa_tensor rv = biqa_view(dev(be, d->rv0, C), C, 1, 1, 1);
    biqa_tensor sm = biqa_view(dev(be, NULL, C), C, 1, 1, 1);
    biqa_tensor si = biqa_view(dev(be, NULL, C), C, 1, 1, 1);
    biqa_tensor dg = biqa_view(dev(be, d->acc0, C), C, 1, 1, 1);
    biqa_tensor db = biqa_view(dev(be, d->acc0, C), C, 1, 1, 1);
    be->bn_fwd_train(be, &x, &g, &b, &rm, &rv, 0.1f, 1e-5f, &y, &sm, &si);
    be->bn_bwd(be, 1, &x, &dy, &g, &sm, &si, &dx, &dg, &db);
    be->download(be, y_out + off * per, y.data, cnt);
    be->download(be, d->dx + off * per, dx.data, cnt);
    be->download(be, d->rm + (size_t)slot * C, rm.data, (size_t)C);
    be->download(be, d->rv + (size_t)slot * C, rv.data, (size_t)C);
    be->download(be, d->mean + (size_t)slot * C, sm.data, (size_t)C);
    be->download(be, d->invstd + (size_t)slot * C, si.data, (size_t)C);
    be->download(be, d->dgamma + (size_t)slot * C, dg.data, (size_t)C);
    be->download(be, d->dbeta + (size_t)slot * C, db.data, (size_t)C);
    biqa_tensor *all[12] = {&x, &dy, &y, &dx, &g, &b, &rm, &rv, &sm, &si, &dg, &db};
    for (int i = 0; i < 12; i++)
        be->free(be, all[i]->data);
}

static void *rank_main(void *p)
{
    rank_arg *a = p;
    bn_data *d = a->d;
    biqa_error err = {{0}};
    biqa_backend *base = biqa_backend_create(d->k->backend, 1, &err);
    cr_assert(base, "%s", err.msg);
    biqa_comm *c = tc_comm(&d->sh, a->rank);
    biqa_backend *be = a->sync ? biqa_syncbn_create(base, c, &err) : base;
    cr_assert(be, "%s", err.msg);
    int off = 0;
    for (int r = 0; r < a->rank; r++)
        off += d->k->counts[r];
    run_bn(be, d, off, d->k->counts[a->rank], 1 + a->rank, a->sync ? d->y : d->plain_y);
    if (a->sync)
        biqa_backend_destroy(be);
    biqa_backend_destroy(base);
    c->destroy(c);
    return NULL;
}

static double nerr(const float *a, const float *b, size_t n)
{
    double worst = 0, scale = 1;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)b[i]));
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs((double)a[i] - b[i]));
    return worst / scale;
}

static void check_case(const bn_case *k)
{
    bn_data d = {.k = k};
    for (int r = 0; r < k->ranks; r++)
        d.n += k->counts[r];
    const int C = k->c, slots = 1 + k->ranks;
    const size_t total = (size_t)d.n * C * k->h * k->w;
    d.x = fill((int)total, 1, -1, 1);
    /* channel 0 far from zero with a small spread: x - mean cancels */
    const size_t plane = (size_t)k->h * k->w;
    for (int i = 0; i < d.n; i++)
        for (size_t j = 0; j < plane; j++)
            d.x[(size_t)i * C * plane + j] = 30.0f + 0.5f * d.x[(size_t)i * C * plane + j];
    d.dy = fill((int)total, 2, -1, 1);
    d.gamma = fill(C, 3, 0.5f, 1.5f), d.beta = fill(C, 4, -0.5f, 0.5f);
    d.rm0 = fill(C, 5, -0.2f, 0.2f), d.rv0 = fill(C, 6, 0.5f, 1.5f), d.acc0 = fill(C, 7, -1, 1);
    float **outs[9] = {&d.y,    &d.dx,   &d.plain_y, &d.rm,   &d.rv,
                       &d.mean, &d.invstd, &d.dgamma, &d.dbeta};
    for (int i = 0; i < 9; i++)
        *outs[i] = calloc(i < 3 ? total : (size_t)slots * C, sizeof(float));
    /* the oracle: slot 0, the whole batch */
    biqa_error err = {{0}};
    biqa_backend *be = biqa_backend_create(k->backend, 1, &err);
    cr_assert(be, "%s", err.msg);
    float *ref_y = calloc(total, sizeof *ref_y), *ref_dx = calloc(total, sizeof *ref_dx);
    run_bn(be, &d, 0, d.n, 0, ref_y);
    memcpy(ref_dx, d.dx, total * sizeof *ref_dx);
    biqa_backend_destroy(be);
    for (int sync = 0; sync < 2; sync++) {
        tc_shared_init(&d.sh, k->ranks);
        pthread_t t[TC_MAX];
        rank_arg args[TC_MAX];
        for (int r = 0; r < k->ranks; r++) {
            args[r] = (rank_arg){&d, r, sync};
            pthread_create(&t[r], NULL, rank_main, &args[r]);
        }
        for (int r = 0; r < k->ranks; r++)
            pthread_join(t[r], NULL);
        tc_shared_free(&d.sh);
    }
    cr_expect_gt(nerr(d.plain_y, ref_y, total), 1e-2, "%s: per-rank BN is not the global one",
                 k->backend);
    cr_expect_leq(nerr(d.y, ref_y, total), TOL, "%s y: %g", k->backend, nerr(d.y, ref_y, total));
    cr_expect_leq(nerr(d.dx, ref_dx, total), TOL, "%s dx: %g", k->backend,
                  nerr(d.dx, ref_dx, total));
    float *sum_g = calloc((size_t)C, sizeof *sum_g), *sum_b = calloc((size_t)C, sizeof *sum_b);
    float *ref_g = calloc((size_t)C, sizeof *ref_g), *ref_b = calloc((size_t)C, sizeof *ref_b);
    for (int c = 0; c < C; c++) {
        ref_g[c] = d.dgamma[c] - d.acc0[c], ref_b[c] = d.dbeta[c] - d.acc0[c];
        for (int r = 1; r < slots; r++) {
            sum_g[c] += d.dgamma[(size_t)r * C + c] - d.acc0[c];
            sum_b[c] += d.dbeta[(size_t)r * C + c] - d.acc0[c];
        }
    }
    cr_expect_leq(nerr(sum_g, ref_g, (size_t)C), TOL, "%s dgamma", k->backend);
    cr_expect_leq(nerr(sum_b, ref_b, (size_t)C), TOL, "%s dbeta", k->backend);
    for (int r = 1; r < slots; r++) {
        const size_t at = (size_t)r * C;
        cr_expect_leq(nerr(d.rm + at, d.rm, (size_t)C), TOL, "%s running mean, rank %d",
                      k->backend, r - 1);
        cr_expect_leq(nerr(d.rv + at, d.rv, (size_t)C), TOL, "%s running var, rank %d",
                      k->backend, r - 1);
        cr_expect_leq(nerr(d.mean + at, d.mean, (size_t)C), TOL, "%s saved mean", k->backend);
        cr_expect_leq(nerr(d.invstd + at, d.invstd, (size_t)C), TOL, "%s saved invstd",
                      k->backend);
    }
    free(sum_g), free(sum_b), free(ref_g), free(ref_b), free(ref_y), free(ref_dx);
    float *ins[7] = {d.x, d.dy, d.gamma, d.beta, d.rm0, d.rv0, d.acc0};
    for (int i = 0; i < 7; i++)
        free(ins[i]);
    for (int i = 0; i < 9; i++)
        free(*outs[i]);
}

Test(syncbn, two_equal_ranks_ref)
{
    bn_case k = {"ref", 2, {3, 3}, 5, 4, 3};
    check_case(&k);
}

Test(syncbn, three_unequal_ranks_ref)
{
    bn_case k = {"ref", 3, {2, 1, 4}, 6, 3, 3};
    check_case(&k);
}

Test(syncbn, two_ranks_cpu)
{
    bn_case k = {"cpu", 2, {4, 4}, 7, 5, 5};
    check_case(&k);
}

Test(syncbn, three_unequal_ranks_cpu_one_by_one)
{
    bn_case k = {"cpu", 3, {1, 3, 2}, 9, 1, 1};
    check_case(&k);
}

Test(syncbn, layer4_shape_cpu)
{
    bn_case k = {"cpu", 2, {16, 16}, 32, 2, 2};
    check_case(&k);
}
