/* Batch normalisation over (n, h, w) per channel on NHWC activations (the
 * ref backend's semantics, kernels/ref/ref_norm.c).
 *
 * Statistics: block (32 channels x 8 row lanes) tiles over rows; each
 * thread sums its rows in float relative to a per-channel shift (the
 * channel's first value), so that a mean far from zero costs no digits of
 * the variance; the per-block partial sums are combined per channel in
 * double (k_bn_finish). Fixed reduction order: results are the same on
 * every run. The normalisation itself is y = (x - mean) * (gamma invstd)
 * + beta in float, in that order for the same reason. */
#include <limits.h>

#include "kernels/cuda/cuda_impl.h"

#define LANES 32 /* channels per block */
#define ROWS 8   /* row lanes per block */
#define THREADS 256
#define MAX_GROUPS 1024

/* Per-channel coefficients handed from the statistics to the elementwise
 * pass: y = (x - mean) * scale + shift (forward), dx = scale (dy - b1 -
 * (x - mean) k) (backward). */
struct bn_coef {
    float mean, scale, shift, k;
};

/* part[g][ch] = {sum of (x - shift), sum of (x - shift)^2} over block row
 * group g (forward), or {sum dy, sum dy (x - mean) invstd} (backward, dy
 * given; mean and invstd given). */
template <typename T>
__global__ void k_bn_partial(size_t rows, int C, const T *x, const T *dy, const float *mean,
                             const float *invstd, float2 *part)
{
    __shared__ float s1[ROWS][LANES + 1], s2[ROWS][LANES + 1];
    int ch = blockIdx.x * LANES + threadIdx.x;
    float a = 0, b = 0;
    if (ch < C) {
        float shift = dy ? mean[ch] : cu_ld(x, (size_t)ch);
        float is = dy ? invstd[ch] : 0.0f;
        for (size_t r = blockIdx.y * (size_t)ROWS + threadIdx.y; r < rows;
             r += (size_t)gridDim.y * ROWS) {
            float d = cu_ld(x, r * C + ch) - shift;
            if (dy) {
                float g = cu_ld(dy, r * C + ch);
                a += g;
                b += g * d * is;
            } else {
                a += d;
                b += d * d;
            }
        }
    }
    s1[threadIdx.y][threadIdx.x] = a;
    s2[threadIdx.y][threadIdx.x] = b;
    __syncthreads();
    if (threadIdx.y == 0 && ch < C) {
        for (int r = 1; r < ROWS; r++) {
            a += s1[r][threadIdx.x];
            b += s2[r][threadIdx.x];
        }
        part[(size_t)blockIdx.y * C + ch] = make_float2(a, b);
    }
}

/* Training statistics per channel (ref_norm.c's formulas, in double):
 * mean, biased variance for normalising, unbiased for running_var. */
__global__ void k_bn_finish_train(int C, int groups, size_t rows, const void *x, int x_bf16,
                                  const float2 *part, const float *gamma, const float *beta,
                                  float *run_mean, float *run_var, float momentum, float eps,
                                  float *save_mean, float *save_invstd, bn_coef *coef)
{
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= C)
        return;
    double s1 = 0, s2 = 0, m = (double)rows;
    for (int g = 0; g < groups; g++) {
        float2 p = part[(size_t)g * C + ch];
        s1 += p.x;
        s2 += p.y;
    }
    double shift = x_bf16 ? (double)cu_ld((const bf16 *)x, (size_t)ch)
                          : (double)cu_ld((const float *)x, (size_t)ch);
    double mean = shift + s1 / m, var = (s2 - s1 * s1 / m) / m;
    if (var < 0)
        var = 0;
    double invstd = 1.0 / sqrt(var + (double)eps);
    if (run_mean)
        run_mean[ch] = (float)((1.0 - momentum) * run_mean[ch] + momentum * mean);
    if (run_var)
        run_var[ch] = (float)((1.0 - momentum) * run_var[ch] + momentum * var * m / (m - 1));
    if (save_mean)
        save_mean[ch] = (float)mean;
    if (save_invstd)
        save_invstd[ch] = (float)invstd;
    coef[ch] = bn_coef{(float)mean, (float)(gamma[ch] * invstd), beta[ch], 0.0f};
}

__global__ void k_bn_finish_eval(int C, const float *gamma, const float *beta,
                                 const float *run_mean, const float *run_var, float eps,
                                 bn_coef *coef)
{
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= C)
        return;
    double invstd = 1.0 / sqrt((double)run_var[ch] + (double)eps);
    coef[ch] = bn_coef{run_mean[ch], (float)(gamma[ch] * invstd), beta[ch], 0.0f};
}

/* Backward sums -> dgamma, dbeta (+=) and the dx coefficients:
 * dx = gamma invstd (dy - sum_dy / M - (x - mean) invstd sum_dy_xhat / M)
 * with batch statistics, gamma invstd dy without. */
__global__ void k_bn_finish_bwd(int C, int groups, size_t rows, int batch_stats,
                                const float2 *part, const float *gamma, const float *mean,
                                const float *invstd, float *dgamma, float *dbeta, bn_coef *coef)
{
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= C)
        return;
    double sdy = 0, sdyx = 0, m = (double)rows;
    for (int g = 0; g < groups; g++) {
        float2 p = part[(size_t)g * C + ch];
        sdy += p.x;
        sdyx += p.y;
    }
    if (dgamma)
        dgamma[ch] += (float)sdyx;
    if (dbeta)
        dbeta[ch] += (float)sdy;
    double is = invstd[ch];
    coef[ch] = bn_coef{mean[ch], (float)(gamma[ch] * is), batch_stats ? (float)(sdy / m) : 0.0f,
                       batch_stats ? (float)(is * sdyx / m) : 0.0f};
}

/* I: the index type, 32-bit where the tensor allows (the channel of each
 * element is a division, several times cheaper in 32 bits). */
template <typename I, typename T>
__global__ void k_bn_apply(I n, I C, const T *x, const bn_coef *coef, T *y)
{
    for (I i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        bn_coef k = coef[i % C];
        cu_st(y, (size_t)i, (cu_ld(x, (size_t)i) - k.mean) * k.scale + k.shift);
    }
}

template <typename I, typename T>
__global__ void k_bn_dx(I n, I C, const T *x, const T *dy, const bn_coef *coef, T *dx)
{
    for (I i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        bn_coef k = coef[i % C];
        float d = cu_ld(dy, (size_t)i) - k.shift - (cu_ld(x, (size_t)i) - k.mean) * k.k;
        cu_st(dx, (size_t)i, k.scale * d);
    }
}

/* ---- launching ---- */

/* Row groups: enough blocks to fill the device, each thread still
 * summing many rows. */
static int row_groups(const cu_ctx *c, size_t rows, int C)
{
    int cblocks = (C + LANES - 1) / LANES;
    size_t want = (size_t)c->sms * 4 / (size_t)cblocks, most = (rows + ROWS - 1) / ROWS;
    if (want > most)
        want = most;
    if (want > MAX_GROUPS)
        want = MAX_GROUPS;
    return want < 1 ? 1 : (int)want;
}

static float2 *partials(cu_ctx *c, size_t rows, int C, const void *x, const void *dy,
                        const float *mean, const float *invstd, bool bf, int *groups)
{
    *groups = row_groups(c, rows, C);
    float2 *part = (float2 *)cu_scratch(c, (size_t)*groups * C * sizeof(float2));
    dim3 grid((unsigned)((C + LANES - 1) / LANES), (unsigned)*groups), block(LANES, ROWS);
    if (bf)
        k_bn_partial<bf16><<<grid, block, 0, c->stream>>>(rows, C, (const bf16 *)x,
                                                           (const bf16 *)dy, mean, invstd, part);
    else
        k_bn_partial<float><<<grid, block, 0, c->stream>>>(rows, C, (const float *)x,
                                                            (const float *)dy, mean, invstd, part);
    LAUNCH_CHECK("k_bn_partial");
    return part;
}

template <typename I, typename T>
static void launch_apply(cu_ctx *c, size_t n, int C, const void *x, const bn_coef *coef, void *y)
{
    k_bn_apply<I, T><<<cu_blocks(c, n, THREADS), THREADS, 0, c->stream>>>(
        (I)n, (I)C, (const T *)x, coef, (T *)y);
    LAUNCH_CHECK("k_bn_apply");
}

static void apply(cu_ctx *c, size_t n, int C, const void *x, const bn_coef *coef, void *y,
                  bool bf)
{
    bool narrow = n <= (size_t)INT_MAX;
    if (bf)
        narrow ? launch_apply<unsigned, bf16>(c, n, C, x, coef, y)
               : launch_apply<size_t, bf16>(c, n, C, x, coef, y);
    else
        narrow ? launch_apply<unsigned, float>(c, n, C, x, coef, y)
               : launch_apply<size_t, float>(c, n, C, x, coef, y);
}

template <typename I, typename T>
static void launch_dx(cu_ctx *c, size_t n, int C, const void *x, const void *dy,
                      const bn_coef *coef, void *dx)
{
    k_bn_dx<I, T><<<cu_blocks(c, n, THREADS), THREADS, 0, c->stream>>>(
        (I)n, (I)C, (const T *)x, (const T *)dy, coef, (T *)dx);
    LAUNCH_CHECK("k_bn_dx");
}

static const float *param(cu_ctx *c, const biqa_tensor *t)
{
    return t ? (const float *)cu_in(c, t, cu_plain()) : NULL;
}

static float *param_out(cu_ctx *c, biqa_tensor *t)
{
    return t ? cu_plain_inout(c, t) : NULL;
}

static unsigned chan_grid(int C) { return (unsigned)((C + THREADS - 1) / THREADS); }

void cu_bn_fwd_train(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *gamma,
                     const biqa_tensor *beta, biqa_tensor *running_mean, biqa_tensor *running_var,
                     float momentum, float eps, biqa_tensor *y, biqa_tensor *save_mean,
                     biqa_tensor *save_invstd)
{
    cu_ctx *c = cu_of(be);
    cu_begin(c);
    size_t n = biqa_numel(x), rows = n / (size_t)x->c;
    if (!n)
        return;
    cu_fmt act = cu_act(c);
    bool bf = act.dtype == DT_BF16;
    int C = x->c, groups;
    const void *px = cu_in(c, x, act);
    const float *pg = param(c, gamma), *pb = param(c, beta);
    float *rm = param_out(c, running_mean), *rv = param_out(c, running_var);
    float *sm = save_mean ? (float *)cu_out(c, save_mean, cu_plain()) : NULL;
    float *si = save_invstd ? (float *)cu_out(c, save_invstd, cu_plain()) : NULL;
    float2 *part = partials(c, rows, C, px, NULL, NULL, NULL, bf, &groups);
    bn_coef *coef = (bn_coef *)cu_scratch(c, (size_t)C * sizeof(bn_coef));
    k_bn_finish_train<<<chan_grid(C), THREADS, 0, c->stream>>>(
        C, groups, rows, px, bf, part, pg, pb, rm, rv, momentum, eps, sm, si, coef);
    LAUNCH_CHECK("k_bn_finish_train");
    apply(c, n, C, px, coef, cu_out(c, y, act), bf);
}

void cu_bn_fwd_eval(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *gamma,
                    const biqa_tensor *beta, const biqa_tensor *running_mean,
                    const biqa_tensor *running_var, float eps, biqa_tensor *y)
{
    cu_ctx *c = cu_of(be);
    cu_begin(c);
    size_t n = biqa_numel(x);
    if (!n)
        return;
    cu_fmt act = cu_act(c);
    int C = x->c;
    const void *px = cu_in(c, x, act);
    bn_coef *coef = (bn_coef *)cu_scratch(c, (size_t)C * sizeof(bn_coef));
    k_bn_finish_eval<<<chan_grid(C), THREADS, 0, c->stream>>>(
        C, param(c, gamma), param(c, beta), param(c, running_mean), param(c, running_var), eps,
        coef);
    LAUNCH_CHECK("k_bn_finish_eval");
    apply(c, n, C, px, coef, cu_out(c, y, act), act.dtype == DT_BF16);
}

void cu_bn_bwd(biqa_backend *be, int batch_stats, const biqa_tensor *x, const biqa_tensor *dy,
               const biqa_tensor *gamma, const biqa_tensor *mean, const biqa_tensor *invstd,
               biqa_tensor *dx, biqa_tensor *dgamma, biqa_tensor *dbeta)
{
    cu_ctx *c = cu_of(be);
    cu_begin(c);
    size_t n = biqa_numel(x), rows = n / (size_t)x->c;
    if (!n)
        return;
    cu_fmt act = cu_act(c);
    bool bf = act.dtype == DT_BF16;
    int C = x->c, groups;
    const void *px = cu_in(c, x, act), *pdy = cu_in(c, dy, act);
    const float *pm = param(c, mean), *pi = param(c, invstd), *pg = param(c, gamma);
    float *dg = param_out(c, dgamma), *db = param_out(c, dbeta);
    float2 *part = partials(c, rows, C, px, pdy, pm, pi, bf, &groups);
    bn_coef *coef = (bn_coef *)cu_scratch(c, (size_t)C * sizeof(bn_coef));
    k_bn_finish_bwd<<<chan_grid(C), THREADS, 0, c->stream>>>(C, groups, rows, batch_stats, part,
                                                             pg, pm, pi, dg, db, coef);
    LAUNCH_CHECK("k_bn_finish_bwd");
    if (!dx)
        return;
    void *pdx = cu_out(c, dx, act);
    bool narrow = n <= (size_t)INT_MAX;
    if (bf)
        narrow ? launch_dx<unsigned, bf16>(c, n, C, px, pdy, coef, pdx)
               : launch_dx<size_t, bf16>(c, n, C, px, pdy, coef, pdx);
    else
        narrow ? launch_dx<unsigned, float>(c, n, C, px, pdy, coef, pdx)
               : launch_dx<size_t, float>(c, n, C, px, pdy, coef, pdx);
}
