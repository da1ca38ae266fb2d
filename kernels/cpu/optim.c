/* Optimiser updates (kernels/backend.h), elementwise over one parameter,
 * in the order of operations of torch.optim's single-tensor code paths. */
#include <math.h>

#include "kernels/cpu/cpu_impl.h"

void biqa_cpu_sgd_step(biqa_backend *be, biqa_tensor *p, const biqa_tensor *grad,
                       biqa_tensor *velocity, float lr, float momentum, float weight_decay,
                       int nesterov)
{
    float *w = biqa_f32(p), *v = biqa_f32(velocity);
    const float *g = biqa_f32(grad);
    size_t n = biqa_numel(p);
#pragma omp parallel for simd num_threads(be->threads) schedule(static) if (parallel : n >= CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + weight_decay * w[i];
        float vi = momentum * v[i] + gi;
        v[i] = vi;
        w[i] -= lr * (nesterov ? gi + momentum * vi : vi);
    }
}

void biqa_cpu_adamw_step(biqa_backend *be, biqa_tensor *p, const biqa_tensor *grad,
                         biqa_tensor *m, biqa_tensor *v, float lr, float beta1, float beta2,
                         float eps, float weight_decay, int step)
{
    float *w = biqa_f32(p), *pm = biqa_f32(m), *pv = biqa_f32(v);
    const float *g = biqa_f32(grad);
    size_t n = biqa_numel(p);
    /* torch: step_size = lr / bias_correction1; denom = sqrt(v) /
     * sqrt(bias_correction2) + eps; p -= step_size * m / denom. */
    float step_size = (float)(lr / (1.0 - pow(beta1, step)));
    float bc2_sqrt = (float)sqrt(1.0 - pow(beta2, step));
    float decay = 1.0f - lr * weight_decay;
#pragma omp parallel for simd num_threads(be->threads) schedule(static) if (parallel : n >= CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = beta1 * pm[i] + (1.0f - beta1) * gi;
        float vi = beta2 * pv[i] + (1.0f - beta2) * gi * gi;
        pm[i] = mi;
        pv[i] = vi;
        w[i] = w[i] * decay - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
    }
}

void biqa_cpu_ema(biqa_backend *be, biqa_tensor *dst, const biqa_tensor *src, float momentum)
{
    float *d = biqa_f32(dst);
    const float *s = biqa_f32(src);
    size_t n = biqa_numel(dst);
    float rest = 1.0f - momentum;
#pragma omp parallel for simd num_threads(be->threads) schedule(static) if (parallel : n >= CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        d[i] = d[i] * momentum + s[i] * rest;
}
