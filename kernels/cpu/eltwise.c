/* Elementwise ops: fill, copy, add, axpy, ReLU. Memory-bound loops split
 * statically over the workers; each element is independent, so outputs may
 * alias inputs. */
#include <string.h>

#include "kernels/cpu/cpu_impl.h"

void biqa_cpu_fill(biqa_backend *be, biqa_tensor *t, float value)
{
    float *p = biqa_f32(t);
    size_t n = biqa_numel(t);
#pragma omp parallel for simd num_threads(be->threads) schedule(static) if (parallel : n >= CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        p[i] = value;
}

void biqa_cpu_copy(biqa_backend *be, biqa_tensor *dst, const biqa_tensor *src)
{
    char *d = dst->data;
    const char *s = src->data;
    size_t bytes = biqa_numel(src) * sizeof(float);
    int parts = bytes >= CPU_PAR_MIN * sizeof(float) ? be->threads : 1;
    /* Contiguous slabs, one per worker (memcpy beats an element loop). */
#pragma omp parallel for num_threads(parts) schedule(static)
    for (int t = 0; t < parts; t++) {
        size_t lo = bytes * (size_t)t / (size_t)parts, hi = bytes * (size_t)(t + 1) / (size_t)parts;
        memcpy(d + lo, s + lo, hi - lo);
    }
}

void biqa_cpu_add(biqa_backend *be, const biqa_tensor *a, const biqa_tensor *b, biqa_tensor *y)
{
    const float *pa = biqa_f32(a), *pb = biqa_f32(b);
    float *py = biqa_f32(y);
    size_t n = biqa_numel(y);
#pragma omp parallel for simd num_threads(be->threads) schedule(static) if (parallel : n >= CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        py[i] = pa[i] + pb[i];
}

void biqa_cpu_axpy(biqa_backend *be, float alpha, const biqa_tensor *x, biqa_tensor *y)
{
    const float *px = biqa_f32(x);
    float *py = biqa_f32(y);
    size_t n = biqa_numel(y);
#pragma omp parallel for simd num_threads(be->threads) schedule(static) if (parallel : n >= CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        py[i] += alpha * px[i];
}

void biqa_cpu_relu_fwd(biqa_backend *be, const biqa_tensor *x, biqa_tensor *y)
{
    const float *px = biqa_f32(x);
    float *py = biqa_f32(y);
    size_t n = biqa_numel(y);
    /* `x < 0 ? 0 : x` keeps NaN, as torch.relu (clamp_min) does. */
#pragma omp parallel for simd num_threads(be->threads) schedule(static) if (parallel : n >= CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        py[i] = px[i] < 0.0f ? 0.0f : px[i];
}

void biqa_cpu_relu_bwd(biqa_backend *be, const biqa_tensor *y, const biqa_tensor *dy,
                       biqa_tensor *dx)
{
    const float *py = biqa_f32(y), *pdy = biqa_f32(dy);
    float *pdx = biqa_f32(dx);
    size_t n = biqa_numel(dx);
#pragma omp parallel for simd num_threads(be->threads) schedule(static) if (parallel : n >= CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        pdx[i] = py[i] > 0.0f ? pdy[i] : 0.0f;
}
