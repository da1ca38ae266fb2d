/* Batch normalisation (torch.nn.functional.batch_norm) and row-wise L2
 * normalisation (torch.nn.functional.normalize, p = 2, dim = 1). Per-channel
 * and per-row sums are taken in double, the variance in two passes. */
#include <math.h>

#include "kernels/ref/ref_ops.h"

/* Element j (0 .. n*h*w - 1) of channel c in an NCHW tensor. */
static size_t chan_at(const biqa_tensor *t, int c, size_t j)
{
    size_t hw = (size_t)t->h * (size_t)t->w, n = j / hw;
    return (n * (size_t)t->c + (size_t)c) * hw + j % hw;
}

static size_t chan_count(const biqa_tensor *t)
{
    return (size_t)t->n * (size_t)t->h * (size_t)t->w;
}

void biqa_ref_bn_fwd_train(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *gamma,
                           const biqa_tensor *beta, biqa_tensor *running_mean,
                           biqa_tensor *running_var, float momentum, float eps, biqa_tensor *y,
                           biqa_tensor *save_mean, biqa_tensor *save_invstd)
{
    (void)be;
    const float *px = biqa_f32(x);
    float *py = biqa_f32(y);
    size_t count = chan_count(x);
    for (int c = 0; c < x->c; c++) {
        double mean = 0, var = 0;
        for (size_t j = 0; j < count; j++)
            mean += px[chan_at(x, c, j)];
        mean /= (double)count;
        for (size_t j = 0; j < count; j++) {
            double d = px[chan_at(x, c, j)] - mean;
            var += d * d;
        }
        double biased = var / (double)count, invstd = 1.0 / sqrt(biased + eps);
        double g = biqa_f32(gamma)[c], b = biqa_f32(beta)[c];
        for (size_t j = 0; j < count; j++) {
            size_t i = chan_at(x, c, j);
            py[i] = (float)((px[i] - mean) * invstd * g + b);
        }
        /* PyTorch keeps the unbiased variance (divisor count - 1) in the
         * running estimate but normalises by the biased one. */
        if (running_mean)
            biqa_f32(running_mean)[c] =
                (float)((1.0 - momentum) * biqa_f32(running_mean)[c] + momentum * mean);
        if (running_var)
            biqa_f32(running_var)[c] = (float)((1.0 - momentum) * biqa_f32(running_var)[c] +
                                               momentum * var / (double)(count - 1));
        if (save_mean)
            biqa_f32(save_mean)[c] = (float)mean;
        if (save_invstd)
            biqa_f32(save_invstd)[c] = (float)invstd;
    }
}

void biqa_ref_bn_fwd_eval(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *gamma,
                          const biqa_tensor *beta, const biqa_tensor *running_mean,
                          const biqa_tensor *running_var, float eps, biqa_tensor *y)
{
    (void)be;
    const float *px = biqa_f32(x);
    float *py = biqa_f32(y);
    size_t count = chan_count(x);
    for (int c = 0; c < x->c; c++) {
        double mean = biqa_f32(running_mean)[c];
        double invstd = 1.0 / sqrt((double)biqa_f32(running_var)[c] + eps);
        double g = biqa_f32(gamma)[c], b = biqa_f32(beta)[c];
        for (size_t j = 0; j < count; j++) {
            size_t i = chan_at(x, c, j);
            py[i] = (float)((px[i] - mean) * invstd * g + b);
        }
    }
}

/* With xhat = (x - mean) invstd and M elements per channel:
 *   dbeta += sum dy,  dgamma += sum dy xhat,
 *   dx = gamma invstd (dy - sum(dy) / M - xhat sum(dy xhat) / M)  (batch statistics),
 *   dx = gamma invstd dy                                          (constant statistics). */
void biqa_ref_bn_bwd(biqa_backend *be, int batch_stats, const biqa_tensor *x,
                     const biqa_tensor *dy, const biqa_tensor *gamma, const biqa_tensor *mean,
                     const biqa_tensor *invstd, biqa_tensor *dx, biqa_tensor *dgamma,
                     biqa_tensor *dbeta)
{
    (void)be;
    const float *px = biqa_f32(x), *pdy = biqa_f32(dy);
    size_t count = chan_count(x);
    for (int c = 0; c < x->c; c++) {
        double mu = biqa_f32(mean)[c], is = biqa_f32(invstd)[c];
        double sum_dy = 0, sum_dy_xhat = 0;
        for (size_t j = 0; j < count; j++) {
            size_t i = chan_at(x, c, j);
            sum_dy += pdy[i];
            sum_dy_xhat += pdy[i] * (px[i] - mu) * is;
        }
        if (dgamma)
            biqa_f32(dgamma)[c] += (float)sum_dy_xhat;
        if (dbeta)
            biqa_f32(dbeta)[c] += (float)sum_dy;
        if (!dx)
            continue;
        double scale = biqa_f32(gamma)[c] * is;
        for (size_t j = 0; j < count; j++) {
            size_t i = chan_at(x, c, j);
            double d = pdy[i];
            if (batch_stats)
                d -= (sum_dy + (px[i] - mu) * is * sum_dy_xhat) / (double)count;
            biqa_f32(dx)[i] = (float)(scale * d);
        }
    }
}

static double row_norm(const float *x, size_t d)
{
    double s = 0;
    for (size_t j = 0; j < d; j++)
        s += (double)x[j] * x[j];
    return sqrt(s);
}

void biqa_ref_l2norm_fwd(biqa_backend *be, const biqa_tensor *x, float eps, biqa_tensor *y)
{
    (void)be;
    size_t d = biqa_numel(x) / (size_t)x->n;
    for (int r = 0; r < x->n; r++) {
        const float *px = biqa_f32(x) + (size_t)r * d;
        float *py = biqa_f32(y) + (size_t)r * d;
        double norm = row_norm(px, d), denom = norm > eps ? norm : eps;
        for (size_t j = 0; j < d; j++)
            py[j] = (float)(px[j] / denom);
    }
}

/* y = x / max(|x|, eps). Where |x| >= eps (PyTorch's clamp_min passes the
 * gradient at equality): dx = (dy - y (y . dy)) / |x|; below: dx = dy / eps. */
void biqa_ref_l2norm_bwd(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *dy,
                         float eps, biqa_tensor *dx)
{
    (void)be;
    size_t d = biqa_numel(x) / (size_t)x->n;
    for (int r = 0; r < x->n; r++) {
        const float *px = biqa_f32(x) + (size_t)r * d, *pdy = biqa_f32(dy) + (size_t)r * d;
        float *pdx = biqa_f32(dx) + (size_t)r * d;
        double norm = row_norm(px, d);
        if (norm < eps) {
            for (size_t j = 0; j < d; j++)
                pdx[j] = (float)(pdy[j] / (double)eps);
            continue;
        }
        double ydy = 0;
        for (size_t j = 0; j < d; j++)
            ydy += px[j] / norm * pdy[j];
        for (size_t j = 0; j < d; j++)
            pdx[j] = (float)((pdy[j] - px[j] / norm * ydy) / norm);
    }
}
