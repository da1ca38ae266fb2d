/* Elementwise ops: fill, copy, add, axpy, ReLU. Memory-bound loops over
 * contiguous slabs, one per worker; each element is independent, so outputs
 * may alias inputs. */
#include <string.h>

#include "kernels/cpu/cpu_impl.h"

void biqa_cpu_ranges(const biqa_backend *be, size_t n, cpu_range_fn fn, void *arg)
{
    if (n < CPU_PAR_MIN || be->threads == 1) {
        fn(arg, 0, n);
        return;
    }
    const int parts = be->threads;
#pragma omp parallel for num_threads(parts) schedule(static)
    for (int t = 0; t < parts; t++) {
        size_t lo = n * (size_t)t / (size_t)parts / 16 * 16;
        size_t hi = t == parts - 1 ? n : n * (size_t)(t + 1) / (size_t)parts / 16 * 16;
        if (hi > lo)
            fn(arg, lo, hi);
    }
}

/* The operands of one elementwise op. */
typedef struct elt {
    const float *a, *b;
    float *y;
    float alpha;
} elt;

CPU_HOT static void fill_range(void *arg, size_t lo, size_t hi)
{
    const elt *e = arg;
#pragma omp simd
    for (size_t i = lo; i < hi; i++)
        e->y[i] = e->alpha;
}

static void copy_range(void *arg, size_t lo, size_t hi)
{
    const elt *e = arg;
    memcpy(e->y + lo, e->a + lo, (hi - lo) * sizeof(float));
}

CPU_HOT static void add_range(void *arg, size_t lo, size_t hi)
{
    const elt *e = arg;
#pragma omp simd
    for (size_t i = lo; i < hi; i++)
        e->y[i] = e->a[i] + e->b[i];
}

CPU_HOT static void axpy_range(void *arg, size_t lo, size_t hi)
{
    const elt *e = arg;
#pragma omp simd
    for (size_t i = lo; i < hi; i++)
        e->y[i] += e->alpha * e->a[i];
}

/* `x < 0 ? 0 : x` keeps NaN, as torch.relu (clamp_min) does. */
CPU_HOT static void relu_range(void *arg, size_t lo, size_t hi)
{
    const elt *e = arg;
#pragma omp simd
    for (size_t i = lo; i < hi; i++) {
        float x = e->a[i];
        e->y[i] = x < 0.0f ? 0.0f : x;
    }
}

/* dx = dy where y > 0; both loads unconditional, so the loop is a blend. */
CPU_HOT static void relu_bwd_range(void *arg, size_t lo, size_t hi)
{
    const elt *e = arg;
#pragma omp simd
    for (size_t i = lo; i < hi; i++) {
        float y = e->a[i], dy = e->b[i];
        e->y[i] = y > 0.0f ? dy : 0.0f;
    }
}

void biqa_cpu_fill(biqa_backend *be, biqa_tensor *t, float value)
{
    elt e = {.y = biqa_f32(t), .alpha = value};
    biqa_cpu_ranges(be, biqa_numel(t), fill_range, &e);
}

void biqa_cpu_copy(biqa_backend *be, biqa_tensor *dst, const biqa_tensor *src)
{
    elt e = {.a = biqa_f32(src), .y = biqa_f32(dst)};
    biqa_cpu_ranges(be, biqa_numel(dst), copy_range, &e);
}

void biqa_cpu_add(biqa_backend *be, const biqa_tensor *a, const biqa_tensor *b, biqa_tensor *y)
{
    elt e = {.a = biqa_f32(a), .b = biqa_f32(b), .y = biqa_f32(y)};
    biqa_cpu_ranges(be, biqa_numel(y), add_range, &e);
}

void biqa_cpu_axpy(biqa_backend *be, float alpha, const biqa_tensor *x, biqa_tensor *y)
{
    elt e = {.a = biqa_f32(x), .y = biqa_f32(y), .alpha = alpha};
    biqa_cpu_ranges(be, biqa_numel(y), axpy_range, &e);
}

void biqa_cpu_relu_fwd(biqa_backend *be, const biqa_tensor *x, biqa_tensor *y)
{
    elt e = {.a = biqa_f32(x), .y = biqa_f32(y)};
    biqa_cpu_ranges(be, biqa_numel(y), relu_range, &e);
}

void biqa_cpu_relu_bwd(biqa_backend *be, const biqa_tensor *y, const biqa_tensor *dy,
                       biqa_tensor *dx)
{
    elt e = {.a = biqa_f32(y), .b = biqa_f32(dy), .y = biqa_f32(dx)};
    biqa_cpu_ranges(be, biqa_numel(dx), relu_bwd_range, &e);
}
