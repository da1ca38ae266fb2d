/* Optimiser updates (kernels/backend.h), elementwise over one parameter,
 * in the order of operations of torch.optim's single-tensor code paths. */
#include <math.h>

#include "kernels/cpu/cpu_impl.h"

typedef struct upd {
    float *p, *m, *v;
    const float *g;
    float lr, momentum, wd, beta1, beta2, eps, step_size, bc2_sqrt;
    int nesterov;
} upd;

CPU_HOT static void sgd_range(void *arg, size_t lo, size_t hi)
{
    const upd *u = arg;
    const float mu = u->momentum;
    if (u->nesterov) {
#pragma omp simd
        for (size_t i = lo; i < hi; i++) {
            float g = u->g[i] + u->wd * u->p[i];
            float v = mu * u->v[i] + g;
            u->v[i] = v;
            u->p[i] -= u->lr * (g + mu * v);
        }
    } else {
#pragma omp simd
        for (size_t i = lo; i < hi; i++) {
            float v = mu * u->v[i] + (u->g[i] + u->wd * u->p[i]);
            u->v[i] = v;
            u->p[i] -= u->lr * v;
        }
    }
}

void biqa_cpu_sgd_step(biqa_backend *be, biqa_tensor *p, const biqa_tensor *grad,
                       biqa_tensor *velocity, float lr, float momentum, float weight_decay,
                       int nesterov)
{
    upd u = {.p = biqa_f32(p), .v = biqa_f32(velocity), .g = biqa_f32(grad), .lr = lr,
             .momentum = momentum, .wd = weight_decay, .nesterov = nesterov};
    biqa_cpu_ranges(be, biqa_numel(p), sgd_range, &u);
}

/* torch: p *= 1 - lr wd; step_size = lr / bias_correction1; denom = sqrt(v)
 * / sqrt(bias_correction2) + eps; p -= step_size m / denom. (Not
 * vectorised: sqrtf's errno path keeps the loop scalar under the build's
 * strict math flags.) */
static void adamw_range(void *arg, size_t lo, size_t hi)
{
    const upd *u = arg;
    const float decay = 1.0f - u->lr * u->wd;
#pragma omp simd
    for (size_t i = lo; i < hi; i++) {
        float g = u->g[i];
        float m = u->beta1 * u->m[i] + (1.0f - u->beta1) * g;
        float v = u->beta2 * u->v[i] + (1.0f - u->beta2) * g * g;
        u->m[i] = m;
        u->v[i] = v;
        u->p[i] = u->p[i] * decay - u->step_size * m / (sqrtf(v) / u->bc2_sqrt + u->eps);
    }
}

void biqa_cpu_adamw_step(biqa_backend *be, biqa_tensor *p, const biqa_tensor *grad,
                         biqa_tensor *m, biqa_tensor *v, float lr, float beta1, float beta2,
                         float eps, float weight_decay, int step)
{
    upd u = {.p = biqa_f32(p), .m = biqa_f32(m), .v = biqa_f32(v), .g = biqa_f32(grad),
             .lr = lr, .wd = weight_decay, .beta1 = beta1, .beta2 = beta2, .eps = eps,
             .step_size = (float)(lr / (1.0 - pow(beta1, step))),
             .bc2_sqrt = (float)sqrt(1.0 - pow(beta2, step))};
    biqa_cpu_ranges(be, biqa_numel(p), adamw_range, &u);
}

CPU_HOT static void ema_range(void *arg, size_t lo, size_t hi)
{
    const upd *u = arg;
    const float rest = 1.0f - u->momentum;
#pragma omp simd
    for (size_t i = lo; i < hi; i++)
        u->p[i] = u->p[i] * u->momentum + u->g[i] * rest;
}

void biqa_cpu_ema(biqa_backend *be, biqa_tensor *dst, const biqa_tensor *src, float momentum)
{
    upd u = {.p = biqa_f32(dst), .g = biqa_f32(src), .momentum = momentum};
    biqa_cpu_ranges(be, biqa_numel(dst), ema_range, &u);
}
