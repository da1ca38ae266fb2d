/* SyncBN as a backend decorator (methods/dist.h): a copy of the base
 * backend's table whose two training-mode batch-norm ops combine the
 * ranks' statistics, built from the base's own ops so that it works on any
 * backend:
 *
 * forward:  base bn_fwd_train gives this rank's mean and 1/sqrt(var + eps)
 *           (into scratch running statistics); the ranks' (count, mean,
 *           biased var) are gathered and combined in rank order (Chan et
 *           al.'s pairwise formula, in double); y = base bn_fwd_eval with
 *           the global mean and variance; save_mean/save_invstd hold the
 *           global ones for backward; running statistics get PyTorch's
 *           update with the global mean and the unbiased global variance.
 * backward: base bn_bwd with the statistics as constants gives
 *           dx0 = gamma invstd dy and the local sums of dy and dy xhat;
 *           those sums are summed over ranks (S1, S2 over N elements), and
 *           dx = dx0 - gamma invstd (S1 / N + xhat S2 / N), the correction
 *           made by base bn_fwd_eval of x with weight -gamma invstd S2 / N
 *           and bias -gamma invstd S1 / N (it computes weight xhat + bias).
 *           dgamma, dbeta += the local sums (PyTorch's SyncBatchNorm too:
 *           the gradient average completes them).
 * The host round trips are per-channel vectors (C floats); the two extra
 * normalisation passes are the price of using only the backend's ops.
 * Precision: a rank's mean travels as a float (as in PyTorch's
 * SyncBatchNorm), so a channel with |mean| = k std loses about k ulp of
 * relative precision in x - mean (tests/unit/test_dist_bn.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "methods/dist.h"

typedef struct syncbn {
    biqa_backend pub; /* first: the table the models call */
    biqa_backend *base;
    biqa_comm *comm;
    float eps;        /* the forward's (every batch norm of a model shares it) */
    void *vec;        /* 6 per-channel vectors, backend memory */
    int vec_c;
    void *scratch;    /* one activation (the backward's correction) */
    size_t scratch_bytes;
    double *host;     /* per-channel host work */
    size_t host_cap;  /* doubles */
} syncbn;

/* Ops return nothing (kernels/backend.h): a failed collective or
 * allocation here cannot be handed back, and the other ranks wait in the
 * same collective, so the job ends (as the cuda backend ends on a device
 * error). */
static void fatal(syncbn *s, const char *what)
{
    biqa_error_line("rank %d of %d: synchronised batch norm: %s", s->comm->rank, s->comm->size,
                    what);
    s->comm->abort(s->comm, 1);
}

static biqa_tensor vec(syncbn *s, int i, int c)
{
    return biqa_view((float *)s->vec + (size_t)i * (size_t)c, c, 1, 1, 1);
}

static void reserve(syncbn *s, int c, size_t host_doubles)
{
    biqa_backend *b = s->base;
    if (c > s->vec_c) {
        if (s->vec)
            b->free(b, s->vec);
        if (!(s->vec = b->alloc(b, 6 * (size_t)c * sizeof(float))))
            fatal(s, "out of memory");
        s->vec_c = c;
    }
    if (host_doubles > s->host_cap) {
        double *h = realloc(s->host, host_doubles * sizeof *h);
        if (!h)
            fatal(s, "out of memory");
        s->host = h, s->host_cap = host_doubles;
    }
}

static void download(syncbn *s, float *dst, const biqa_tensor *t, int c)
{
    s->base->download(s->base, dst, t->data, (size_t)c);
}

static void fwd_train(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *gamma,
                      const biqa_tensor *beta, biqa_tensor *running_mean,
                      biqa_tensor *running_var, float momentum, float eps, biqa_tensor *y,
                      biqa_tensor *save_mean, biqa_tensor *save_invstd)
{
    syncbn *s = (syncbn *)be;
    biqa_backend *b = s->base;
    const int C = x->c, R = s->comm->size;
    const double count = (double)x->n * x->h * x->w;
    /* host: send (1 + 2C) | all (R (1 + 2C)) | unbiased (C) | 3C floats */
    const size_t per = 1 + 2 * (size_t)C;
    reserve(s, C, per * (1 + (size_t)R) + 3 * (size_t)C);
    double *send = s->host, *all = send + per, *unbiased = all + per * (size_t)R;
    float *f = (float *)(unbiased + C), *g = f + C, *h = g + C;
    s->eps = eps;
    biqa_tensor rm = vec(s, 0, C), rv = vec(s, 1, C), var = vec(s, 2, C);
    b->bn_fwd_train(b, x, gamma, beta, &rm, &rv, 0.0f, eps, y, save_mean, save_invstd);
    download(s, f, save_mean, C);
    download(s, g, save_invstd, C);
    send[0] = count;
    for (int c = 0; c < C; c++) {
        send[1 + c] = f[c];
        send[1 + C + c] = 1.0 / ((double)g[c] * g[c]) - eps; /* biased variance */
    }
    biqa_error err = {{0}};
    if (s->comm->allgather_host(s->comm, send, all, per * sizeof *send, &err) < 0)
        fatal(s, err.msg);
    /* Combine rank by rank: n, mean, M2 = n var (Chan et al. 1979). */
    for (int c = 0; c < C; c++) {
        double n = 0, mean = 0, m2 = 0;
        for (int r = 0; r < R; r++) {
            const double *a = all + (size_t)r * per, nb = a[0], mb = a[1 + c];
            const double vb = a[1 + C + c] > 0 ? a[1 + C + c] : 0, delta = mb - mean;
            const double nn = n + nb;
            mean += delta * nb / nn;
            m2 += vb * nb + delta * delta * n * nb / nn;
            n = nn;
        }
        f[c] = (float)mean, g[c] = (float)(m2 / n), h[c] = (float)(1.0 / sqrt(m2 / n + eps));
        unbiased[c] = m2 / (n > 1 ? n - 1 : 1); /* for the running estimate */
    }
    b->upload(b, save_mean->data, f, (size_t)C);
    b->upload(b, var.data, g, (size_t)C);
    b->upload(b, save_invstd->data, h, (size_t)C);
    b->bn_fwd_eval(b, x, gamma, beta, save_mean, &var, eps, y);
    if (running_mean && running_var) {
        download(s, g, running_mean, C);
        download(s, h, running_var, C);
        for (int c = 0; c < C; c++) {
            g[c] = (float)((1.0 - momentum) * g[c] + momentum * (double)f[c]);
            h[c] = (float)((1.0 - momentum) * h[c] + momentum * unbiased[c]);
        }
        b->upload(b, running_mean->data, g, (size_t)C);
        b->upload(b, running_var->data, h, (size_t)C);
    }
}

static void bwd(biqa_backend *be, int batch_stats, const biqa_tensor *x, const biqa_tensor *dy,
                const biqa_tensor *gamma, const biqa_tensor *mean, const biqa_tensor *invstd,
                biqa_tensor *dx, biqa_tensor *dgamma, biqa_tensor *dbeta)
{
    syncbn *s = (syncbn *)be;
    biqa_backend *b = s->base;
    if (!batch_stats) {
        b->bn_bwd(b, 0, x, dy, gamma, mean, invstd, dx, dgamma, dbeta);
        return;
    }
    const int C = x->c;
    const size_t per = 1 + 2 * (size_t)C;
    reserve(s, C, per + 2 * (size_t)C);
    double *sums = s->host;
    float *f = (float *)(sums + per), *g = f + C;
    biqa_tensor sdg = vec(s, 0, C), sdb = vec(s, 1, C), w = vec(s, 2, C), bias = vec(s, 3, C);
    biqa_tensor var = vec(s, 4, C);
    b->fill(b, &sdg, 0.0f);
    b->fill(b, &sdb, 0.0f);
    /* dx = gamma invstd dy; sdg, sdb = this rank's sums of dy xhat, dy */
    b->bn_bwd(b, 0, x, dy, gamma, mean, invstd, dx, &sdg, &sdb);
    if (dgamma)
        b->axpy(b, 1.0f, &sdg, dgamma);
    if (dbeta)
        b->axpy(b, 1.0f, &sdb, dbeta);
    if (!dx)
        return;
    download(s, f, &sdg, C);
    download(s, g, &sdb, C);
    sums[0] = (double)x->n * x->h * x->w;
    for (int c = 0; c < C; c++)
        sums[1 + c] = f[c], sums[1 + C + c] = g[c];
    biqa_error err = {{0}};
    if (biqa_comm_sum_host(s->comm, sums, per, &err) < 0)
        fatal(s, err.msg);
    const double n = sums[0];
    download(s, f, gamma, C);
    download(s, g, invstd, C);
    for (int c = 0; c < C; c++) {
        const double k = (double)f[c] * g[c] / n, iv = g[c];
        f[c] = (float)(-k * sums[1 + c]);     /* weight of xhat */
        g[c] = (float)(-k * sums[1 + C + c]); /* bias */
        sums[c] = 1.0 / (iv * iv) - s->eps;   /* the variance whose invstd is iv */
    }
    b->upload(b, w.data, f, (size_t)C);
    b->upload(b, bias.data, g, (size_t)C);
    for (int c = 0; c < C; c++)
        f[c] = (float)sums[c];
    b->upload(b, var.data, f, (size_t)C);
    const size_t bytes = biqa_numel(dx) * sizeof(float);
    if (bytes > s->scratch_bytes) {
        if (s->scratch)
            b->free(b, s->scratch);
        if (!(s->scratch = b->alloc(b, bytes)))
            fatal(s, "out of memory");
        s->scratch_bytes = bytes;
    }
    biqa_tensor corr = *dx;
    corr.data = s->scratch;
    b->bn_fwd_eval(b, x, &w, &bias, mean, &var, s->eps, &corr);
    b->axpy(b, 1.0f, &corr, dx);
}

static void destroy(biqa_backend *be)
{
    syncbn *s = (syncbn *)be;
    if (s->vec)
        s->base->free(s->base, s->vec);
    if (s->scratch)
        s->base->free(s->base, s->scratch);
    free(s->host);
    free(s);
}

biqa_backend *biqa_syncbn_create(biqa_backend *base, biqa_comm *comm, biqa_error *err)
{
    syncbn *s = calloc(1, sizeof *s);
    if (!s) {
        biqa_fail(err, "synchronised batch norm: out of memory");
        return NULL;
    }
    s->pub = *base; /* same ctx: every other op runs as the base's */
    s->base = base, s->comm = comm;
    s->pub.bn_fwd_train = fwd_train;
    s->pub.bn_bwd = bwd;
    s->pub.destroy = destroy;
    return &s->pub;
}
