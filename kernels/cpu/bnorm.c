/* Batch normalisation over (n, h, w) per channel, PyTorch semantics
 * (kernels/backend.h). Training-mode work is split by channel: a channel's
 * N planes are read once from memory for its statistics and again, mostly
 * from cache, for the output; every sum is accumulated in double in a fixed
 * order, so results are exact to float rounding and the same for any number
 * of workers. */
#include <math.h>

#include "kernels/cpu/cpu_impl.h"

/* Sum over channel c of x (n, C, hw) of x - shift. */
static double chan_sum(const float *x, int n, int C, long hw, int c, double shift)
{
    double s = 0;
    for (int i = 0; i < n; i++) {
        const float *p = x + ((long)i * C + c) * hw;
#pragma omp simd reduction(+ : s)
        for (long j = 0; j < hw; j++)
            s += (double)p[j] - shift;
    }
    return s;
}

/* Sum over channel c of (x - mean)^2. */
static double chan_sqdev(const float *x, int n, int C, long hw, int c, double mean)
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
static void chan_affine(const float *x, float *y, int n, int C, long hw, int c, split mean,
                        float scale, float beta)
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
#pragma omp parallel for num_threads(be->threads) schedule(static)
    for (int c = 0; c < C; c++) {
        /* Two passes (mean, then squared deviations): no cancellation. */
        double mean = chan_sum(px, N, C, hw, c, 0.0) / count;
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
        const float scale = (float)(g[c] / sqrt((double)rv[c] + (double)eps)), m = rm[c];
        const float *p = px + pl * hw;
        float *q = py + pl * hw;
#pragma omp simd
        for (long j = 0; j < hw; j++)
            q[j] = (p[j] - m) * scale + b[c];
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
#pragma omp parallel for num_threads(be->threads) schedule(static)
    for (int c = 0; c < C; c++) {
        const double m = pm[c], is = pis[c];
        double sum_dy = 0, sum_dy_xmu = 0; /* sum dy, sum dy (x - mean) */
        for (int i = 0; i < N; i++) {
            const float *p = px + ((long)i * C + c) * hw, *d = pdy + ((long)i * C + c) * hw;
#pragma omp simd reduction(+ : sum_dy, sum_dy_xmu)
            for (long j = 0; j < hw; j++) {
                sum_dy += d[j];
                sum_dy_xmu += (double)d[j] * ((double)p[j] - m);
            }
        }
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
        const float mf = pm[c]; /* x - mf is exact near the mean (Sterbenz) */
        for (int i = 0; i < N; i++) {
            const long off = ((long)i * C + c) * hw;
            const float *p = px + off, *d = pdy + off;
            float *o = biqa_f32(dx) + off;
#pragma omp simd
            for (long j = 0; j < hw; j++)
                o[j] = (d[j] - dmean - (p[j] - mf) * k) * scale;
        }
    }
}
