/* Elementwise ops: fill, copy, add, axpy, ReLU forward and backward. Each
 * works in the format of its first operand that holds an activation (or
 * float32 NCHW when none does), converting the others, so that a chain of
 * activations stays NHWC / bfloat16 and plain tensors stay plain. */
#include "kernels/cuda/cuda_impl.h"

#define THREADS 256
#define GRID_STRIDE(i, n) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); \
         i += (size_t)gridDim.x * blockDim.x)

__global__ void k_fill(size_t n, float v, float *y)
{
    GRID_STRIDE(i, n) y[i] = v;
}

template <typename T>
__global__ void k_add(size_t n, const T *a, const T *b, T *y)
{
    GRID_STRIDE(i, n) cu_st(y, i, cu_ld(a, i) + cu_ld(b, i));
}

template <typename T>
__global__ void k_axpy(size_t n, float alpha, const T *x, T *y)
{
    GRID_STRIDE(i, n) cu_st(y, i, cu_ld(y, i) + alpha * cu_ld(x, i));
}

/* max(x, 0) as `x > 0 ? x : 0`: NaN gives 0, as the ref backend. */
template <typename T>
__global__ void k_relu(size_t n, const T *x, T *y)
{
    GRID_STRIDE(i, n)
    {
        float v = cu_ld(x, i);
        cu_st(y, i, v > 0 ? v : 0.0f);
    }
}

/* PyTorch's threshold_backward: the gradient passes where y > 0. */
template <typename T>
__global__ void k_relu_bwd(size_t n, const T *y, const T *dy, T *dx)
{
    GRID_STRIDE(i, n) cu_st(dx, i, cu_ld(y, i) > 0 ? cu_ld(dy, i) : 0.0f);
}

/* The working format: the first operand stored as an activation, else plain. */
static cu_fmt working(cu_ctx *c, const biqa_tensor *a, const biqa_tensor *b)
{
    cu_fmt f = cu_fmt_of(c, a);
    if (cu_same(f, cu_plain(), a) && b)
        f = cu_fmt_of(c, b);
    return cu_same(f, cu_plain(), a) ? cu_plain() : f;
}

void cu_fill(biqa_backend *be, biqa_tensor *t, float value)
{
    cu_ctx *c = cu_of(be);
    size_t n = biqa_numel(t);
    cu_begin(c);
    cu_untag_range(c, t->data, n * sizeof(float));
    if (!n)
        return;
    k_fill<<<cu_blocks(c, n, THREADS), THREADS, 0, c->stream>>>(n, value, (float *)t->data);
    LAUNCH_CHECK("k_fill");
}

void cu_copy(biqa_backend *be, biqa_tensor *dst, const biqa_tensor *src)
{
    cu_ctx *c = cu_of(be);
    size_t n = biqa_numel(dst);
    cu_begin(c);
    if (!n)
        return;
    cu_fmt f = cu_fmt_of(c, src);
    /* A tagged source keeps its format when dst has its shape; otherwise
     * both sides are plain floats. */
    bool same_shape = dst->n == src->n && dst->c == src->c && dst->h == src->h && dst->w == src->w;
    if (!same_shape)
        f = cu_plain();
    const void *s = cu_in(c, src, f);
    void *d = cu_out(c, dst, f);
    if (s != d)
        CUDA_CHECK(cudaMemcpyAsync(d, s, n * cu_dtype_size(f.dtype), cudaMemcpyDeviceToDevice,
                                   c->stream));
}

void cu_add(biqa_backend *be, const biqa_tensor *a, const biqa_tensor *b, biqa_tensor *y)
{
    cu_ctx *c = cu_of(be);
    size_t n = biqa_numel(y);
    cu_begin(c);
    if (!n)
        return;
    cu_fmt f = working(c, a, b);
    const void *pa = cu_in(c, a, f), *pb = cu_in(c, b, f);
    void *py = cu_out(c, y, f);
    unsigned grid = cu_blocks(c, n, THREADS);
    if (f.dtype == DT_BF16)
        k_add<bf16><<<grid, THREADS, 0, c->stream>>>(n, (const bf16 *)pa, (const bf16 *)pb,
                                                     (bf16 *)py);
    else
        k_add<float><<<grid, THREADS, 0, c->stream>>>(n, (const float *)pa, (const float *)pb,
                                                      (float *)py);
    LAUNCH_CHECK("k_add");
}

void cu_axpy(biqa_backend *be, float alpha, const biqa_tensor *x, biqa_tensor *y)
{
    cu_ctx *c = cu_of(be);
    size_t n = biqa_numel(y);
    cu_begin(c);
    if (!n)
        return;
    /* y is read and written in its own format. */
    cu_fmt f = cu_fmt_of(c, y);
    const void *px = cu_in(c, x, f);
    unsigned grid = cu_blocks(c, n, THREADS);
    if (f.dtype == DT_BF16)
        k_axpy<bf16><<<grid, THREADS, 0, c->stream>>>(n, alpha, (const bf16 *)px, (bf16 *)y->data);
    else
        k_axpy<float><<<grid, THREADS, 0, c->stream>>>(n, alpha, (const float *)px,
                                                       (float *)y->data);
    LAUNCH_CHECK("k_axpy");
}

void cu_relu_fwd(biqa_backend *be, const biqa_tensor *x, biqa_tensor *y)
{
    cu_ctx *c = cu_of(be);
    size_t n = biqa_numel(y);
    cu_begin(c);
    if (!n)
        return;
    cu_fmt f = working(c, x, NULL);
    const void *px = cu_in(c, x, f);
    void *py = cu_out(c, y, f);
    unsigned grid = cu_blocks(c, n, THREADS);
    if (f.dtype == DT_BF16)
        k_relu<bf16><<<grid, THREADS, 0, c->stream>>>(n, (const bf16 *)px, (bf16 *)py);
    else
        k_relu<float><<<grid, THREADS, 0, c->stream>>>(n, (const float *)px, (float *)py);
    LAUNCH_CHECK("k_relu");
}

void cu_relu_bwd(biqa_backend *be, const biqa_tensor *y, const biqa_tensor *dy, biqa_tensor *dx)
{
    cu_ctx *c = cu_of(be);
    size_t n = biqa_numel(dx);
    cu_begin(c);
    if (!n)
        return;
    cu_fmt f = working(c, dy, y);
    const void *py = cu_in(c, y, f), *pdy = cu_in(c, dy, f);
    void *pdx = cu_out(c, dx, f);
    unsigned grid = cu_blocks(c, n, THREADS);
    if (f.dtype == DT_BF16)
        k_relu_bwd<bf16><<<grid, THREADS, 0, c->stream>>>(n, (const bf16 *)py, (const bf16 *)pdy,
                                                          (bf16 *)pdx);
    else
        k_relu_bwd<float><<<grid, THREADS, 0, c->stream>>>(n, (const float *)py,
                                                           (const float *)pdy, (float *)pdx);
    LAUNCH_CHECK("k_relu_bwd");
}
