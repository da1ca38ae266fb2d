/* Batch normalisation over (n, h, w) per channel, PyTorch semantics
 * (kernels/backend.h). Training-mode work is split by channel: a channel's
 * N planes are read from memory for the mean, then twice more, mostly from
 * cache, for the squared deviations and the output. Every sum is taken in
 * double in a fixed order, so the statistics are accurate to float rounding
 * and do not depend on the number of workers. */
#include <math.h>

#include "kernels/cpu/cpu_impl.h"

/* Sum over channel c of x (n, C, hw). */
CPU_HOT static double chan_sum(const float *x, int n, int C, long hw, int c)
{
    double s = 0;
    for (int i = 0; i < n; i++) {
        const float *p = x + ((long)i * C + c) * hw;
#pragma omp simd reduction(+ : s)
        for (long j = 0; j < hw; j++)
            s += p[j];
    }
    return s;
}

/* Sum over channel c of (x - mean)^2. */
CPU_HOT static double chan_sqdev(const float *x, int n, int C, long hw, int c, double mean)
{
    double s = 0;
    for (int i = 0; i < n; i++) {
        const float *p = x + ((long)i * C + c) * hw;
#pragma omp simd reduction(+ : s)
        for (long j = 0; j < hw; j++) {
            double d = (double)p[j] - mean;
            s += d * d;
        }
    }
    return s;
}

/* The channel mean as hi + lo, two floats: x - hi - lo keeps the digits of
 * x - mean that float(mean) would lose when |mean| >> std (y = x * scale +
 * shift, PyTorch's form, cancels the same way). x - hi is exact for x
 * within a factor 2 of hi (Sterbenz), the case that matters. */
typedef struct split {
    float hi, lo;
} split;

static split split_of(double v)
{
    split s = {(float)v, 0};
    s.lo = (float)(v - s.hi);
    return s;
}

/* y = (x - mean) * scale + beta over channel c. */
CPU_HOT static void chan_affine(const float *x, float *y, int n, int C, long hw, int c,
                                split mean, float scale, float beta)
{
    for (int i = 0; i < n; i++) {
        const float *p = x + ((long)i * C + c) * hw;
        float *q = y + ((long)i * C + c) * hw;
#pragma omp simd
        for (long j = 0; j < hw; j++)
            q[j] = (p[j] - mean.hi - mean.lo) * scale + beta;
    }
}

void biqa_cpu_bn_fwd_train(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *gamma,
                           const biqa_tensor *beta, biqa_tensor *running_mean,
                           biqa_tensor *running_var, float momentum, float eps, biqa_tensor *y,
                           biqa_tensor *save_mean, biqa_tensor *save_invstd)
{
    const int N = x->n, C = x->c;
    const long hw = (long)x->h * x->w;
    const double count = (double)N * (double)hw;
    const float *px = biqa_f32(x), *g = biqa_f32(gamma), *b = biqa_f32(beta);
    float *py = biqa_f32(y);
#pragma omp parallel for num_threads(be->threads) schedule(static) if (count * C >= CPU_PAR_MIN)
    for (int c = 0; c < C; c++) {
        /* Two passes (mean, then squared deviations): no cancellation. */
        double mean = chan_sum(px, N, C, hw, c) / count;
        double var_sum = chan_sqdev(px, N, C, hw, c, mean);
        double invstd = 1.0 / sqrt(var_sum / count + (double)eps);
        chan_affine(px, py, N, C, hw, c, split_of(mean), (float)(g[c] * invstd), b[c]);
        if (save_mean)
            biqa_f32(save_mean)[c] = (float)mean;
        if (save_invstd)
            biqa_f32(save_invstd)[c] = (float)invstd;
        /* Running variance takes the unbiased estimate, as torch does. */
        if (running_mean)
            biqa_f32(running_mean)[c] =
                (float)((1.0 - momentum) * biqa_f32(running_mean)[c] + momentum * mean);
        if (running_var)
            biqa_f32(running_var)[c] = (float)((1.0 - momentum) * biqa_f32(running_var)[c] +
                                               momentum * var_sum / (count - 1.0));
    }
}

CPU_HOT static void plane_affine(const float *p, float *q, long hw, float mean, float scale,
                                 float beta)
{
#pragma omp simd
    for (long j = 0; j < hw; j++)
        q[j] = (p[j] - mean) * scale + beta;
}

void biqa_cpu_bn_fwd_eval(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *gamma,
                          const biqa_tensor *beta, const biqa_tensor *running_mean,
                          const biqa_tensor *running_var, float eps, biqa_tensor *y)
{
    const int C = x->c;
    const long hw = (long)x->h * x->w, planes = (long)x->n * C;
    const float *px = biqa_f32(x), *g = biqa_f32(gamma), *b = biqa_f32(beta);
    const float *rm = biqa_f32(running_mean), *rv = biqa_f32(running_var);
    float *py = biqa_f32(y);
#pragma omp parallel for num_threads(be->threads) schedule(static) if (planes * hw >= CPU_PAR_MIN)
    for (long pl = 0; pl < planes; pl++) {
        int c = (int)(pl % C);
        plane_affine(px + pl * hw, py + pl * hw, hw, rm[c],
                     (float)(g[c] / sqrt((double)rv[c] + (double)eps)), b[c]);
    }
}

/* Over channel c: sums[0] = sum dy, sums[1] = sum dy (x - mean). */
CPU_HOT static void chan_bwd_sums(const float *x, const float *dy, int n, int C, long hw, int c,
                                  double mean, double sums[2])
{
    double s0 = 0, s1 = 0;
    for (int i = 0; i < n; i++) {
        const float *p = x + ((long)i * C + c) * hw, *d = dy + ((long)i * C + c) * hw;
#pragma omp simd reduction(+ : s0, s1)
        for (long j = 0; j < hw; j++) {
            s0 += d[j];
            s1 += (double)d[j] * ((double)p[j] - mean);
        }
    }
    sums[0] = s0;
    sums[1] = s1;
}

/* dx = (dy - dmean - (x - mean) k) scale over channel c. */
CPU_HOT static void chan_bwd_dx(const float *x, const float *dy, float *dx, int n, int C, long hw,
                                int c, float mean, float dmean, float k, float scale)
{
    for (int i = 0; i < n; i++) {
        const long off = ((long)i * C + c) * hw;
        const float *p = x + off, *d = dy + off;
        float *o = dx + off;
#pragma omp simd
        for (long j = 0; j < hw; j++)
            o[j] = (d[j] - dmean - (p[j] - mean) * k) * scale;
    }
}

void biqa_cpu_bn_bwd(biqa_backend *be, int batch_stats, const biqa_tensor *x,
                     const biqa_tensor *dy, const biqa_tensor *gamma, const biqa_tensor *mean,
                     const biqa_tensor *invstd, biqa_tensor *dx, biqa_tensor *dgamma,
                     biqa_tensor *dbeta)
{
    const int N = x->n, C = x->c;
    const long hw = (long)x->h * x->w;
    const double count = (double)N * (double)hw;
    const float *px = biqa_f32(x), *pdy = biqa_f32(dy), *g = biqa_f32(gamma);
    const float *pm = biqa_f32(mean), *pis = biqa_f32(invstd);
#pragma omp parallel for num_threads(be->threads) schedule(static) if (count * C >= CPU_PAR_MIN)
    for (int c = 0; c < C; c++) {
        const double is = pis[c];
        double sums[2]; /* sum dy, sum dy (x - mean) */
        chan_bwd_sums(px, pdy, N, C, hw, c, pm[c], sums);
        const double sum_dy = sums[0], sum_dy_xmu = sums[1];
        if (dbeta)
            biqa_f32(dbeta)[c] += (float)sum_dy;
        if (dgamma)
            biqa_f32(dgamma)[c] += (float)(sum_dy_xmu * is);
        if (!dx)
            continue;
        /* Training (torch's batch_norm_backward): dx = (dy - mean(dy) -
         * (x - mean) * invstd^2 * mean(dy (x - mean))) * invstd * gamma.
         * Eval: the statistics are constants, dx = dy * invstd * gamma. */
        const float scale = (float)(is * g[c]);
        const float k = batch_stats ? (float)(sum_dy_xmu * is * is / count) : 0.0f;
        const float dmean = batch_stats ? (float)(sum_dy / count) : 0.0f;
        /* x - mean is exact near the mean (Sterbenz): mean is a float. */
        chan_bwd_dx(px, pdy, biqa_f32(dx), N, C, hw, c, pm[c], dmean, k, scale);
    }
}
