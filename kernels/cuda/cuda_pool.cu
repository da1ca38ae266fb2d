/* Max pooling with argmax indices, and global average pooling, on NHWC
 * activations (the ref backend's semantics, kernels/ref/ref_pool.c).
 *
 * The indices are what the interface says (the flat position h * W + w of
 * each maximum within its (n, c) plane), stored in the order of y (NHWC)
 * and tagged as such, so a download reads them in NCHW order like every
 * other tensor. Backward gathers instead of scattering: each input element
 * sums, in output order, the gradients of the windows whose maximum it was
 * (the ref backend's order of additions, without atomics). */
#include <math.h>

#include "kernels/cuda/cuda_impl.h"

#define THREADS 256

template <typename T>
__global__ void k_maxpool(size_t total, int C, int H, int W, int OH, int OW, int k, int s, int p,
                          const T *x, T *y, int32_t *arg)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t t = i / C;
        int ch = (int)(i % C), ox = (int)(t % OW), oy = (int)(t / OW % OH);
        size_t n = t / OW / OH;
        int y0 = oy * s - p, x0 = ox * s - p;
        int y1 = y0 + k < H ? y0 + k : H, x1 = x0 + k < W ? x0 + k : W;
        y0 = y0 > 0 ? y0 : 0;
        x0 = x0 > 0 ? x0 : 0;
        /* The window's first valid position starts the search; a larger
         * value or a NaN moves it (PyTorch's CPU kernel). */
        float best = -INFINITY;
        int idx = y0 * W + x0;
        for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++) {
                float v = cu_ld(x, ((n * H + iy) * W + ix) * C + ch);
                if (v > best || isnan(v)) {
                    best = v;
                    idx = iy * W + ix;
                }
            }
        cu_st(y, i, best);
        arg[i] = idx;
    }
}

/* Windows oy with oy s - p <= iy < oy s - p + k hold input row iy; with
 * scan_all (the pooling is unknown) every output of the plane is a
 * candidate, which finds the same windows, only slower. */
template <typename T>
__global__ void k_maxpool_bwd(size_t total, int C, int H, int W, int OH, int OW, int k, int s,
                              int p, int scan_all, const T *dy, const int32_t *arg, T *dx)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t t = i / C;
        int ch = (int)(i % C), ix = (int)(t % W), iy = (int)(t / W % H);
        size_t n = t / W / H;
        int lo_y = 0, lo_x = 0, hi_y = OH - 1, hi_x = OW - 1;
        if (!scan_all) {
            lo_y = iy + p - k + 1 > 0 ? (iy + p - k + 1 + s - 1) / s : 0;
            lo_x = ix + p - k + 1 > 0 ? (ix + p - k + 1 + s - 1) / s : 0;
            hi_y = (iy + p) / s < hi_y ? (iy + p) / s : hi_y;
            hi_x = (ix + p) / s < hi_x ? (ix + p) / s : hi_x;
        }
        int here = iy * W + ix;
        float sum = 0;
        for (int oy = lo_y; oy <= hi_y; oy++)
            for (int ox = lo_x; ox <= hi_x; ox++) {
                size_t o = ((n * OH + oy) * OW + ox) * C + ch;
                if (arg[o] == here)
                    sum += cu_ld(dy, o);
            }
        cu_st(dx, i, sum);
    }
}

/* y (n, c) = mean over the HW positions, in double. */
template <typename T>
__global__ void k_avgpool(size_t nc, int C, size_t HW, const T *x, float *y)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < nc;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t n = i / C, ch = i % C;
        double s = 0;
        for (size_t j = 0; j < HW; j++)
            s += cu_ld(x, (n * HW + j) * C + ch);
        y[i] = (float)(s / (double)HW);
    }
}

template <typename T>
__global__ void k_avgpool_bwd(size_t total, int C, size_t HW, const float *dy, T *dx)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t ch = i % C, n = i / C / HW;
        cu_st(dx, i, (float)(dy[n * C + ch] / (double)HW));
    }
}

static biqa_tensor index_view(const biqa_tensor *y, const int32_t *argmax)
{
    return biqa_view((void *)argmax, y->n, y->c, y->h, y->w);
}

void cu_maxpool_fwd(biqa_backend *be, const biqa_pool_params *p, const biqa_tensor *x,
                    biqa_tensor *y, int32_t *argmax)
{
    cu_ctx *c = cu_of(be);
    cu_begin(c);
    size_t n = biqa_numel(y);
    if (!n)
        return;
    cu_fmt act = cu_act(c);
    const void *px = cu_in(c, x, act);
    void *py = cu_out(c, y, act);
    biqa_tensor iv = index_view(y, argmax);
    int32_t *pa = (int32_t *)cu_out(c, &iv, cu_fmt{LY_NHWC, DT_I32}, DT_I32);
    /* Tagged even where NHWC and NCHW coincide: the tag carries the
     * pooling to backward, and goes when anything else writes there. */
    c->tags[(uintptr_t)argmax] = cu_tag{y->n, y->c, y->h, y->w, {LY_NHWC, DT_I32}, *p};
    unsigned grid = cu_blocks(c, n, THREADS);
    if (act.dtype == DT_BF16)
        k_maxpool<bf16><<<grid, THREADS, 0, c->stream>>>(n, x->c, x->h, x->w, y->h, y->w,
                                                         p->kernel, p->stride, p->pad,
                                                         (const bf16 *)px, (bf16 *)py, pa);
    else
        k_maxpool<float><<<grid, THREADS, 0, c->stream>>>(n, x->c, x->h, x->w, y->h, y->w,
                                                          p->kernel, p->stride, p->pad,
                                                          (const float *)px, (float *)py, pa);
    LAUNCH_CHECK("k_maxpool");
}

/* Backward is not told the pooling: the indices' tag, written by forward,
 * carries it; indices from anywhere else are searched for over the plane. */
void cu_maxpool_bwd(biqa_backend *be, const biqa_tensor *dy, const int32_t *argmax,
                    biqa_tensor *dx)
{
    cu_ctx *c = cu_of(be);
    cu_begin(c);
    size_t n = biqa_numel(dx);
    if (!n)
        return;
    cu_fmt act = cu_act(c);
    biqa_tensor iv = index_view(dy, argmax);
    const int32_t *pa = (const int32_t *)cu_in(c, &iv, cu_fmt{LY_NHWC, DT_I32}, DT_I32);
    auto tag = c->tags.find((uintptr_t)argmax);
    biqa_pool_params pool = {0, 0, 0};
    if (pa == argmax && tag != c->tags.end() && tag->second.n == dy->n &&
        tag->second.c == dy->c && tag->second.h == dy->h && tag->second.w == dy->w)
        pool = tag->second.pool;
    int scan_all = pool.kernel < 1 || pool.stride < 1;
    const void *pdy = cu_in(c, dy, act);
    void *pdx = cu_out(c, dx, act);
    unsigned grid = cu_blocks(c, n, THREADS);
    if (act.dtype == DT_BF16)
        k_maxpool_bwd<bf16><<<grid, THREADS, 0, c->stream>>>(
            n, dx->c, dx->h, dx->w, dy->h, dy->w, pool.kernel, pool.stride, pool.pad, scan_all,
            (const bf16 *)pdy, pa, (bf16 *)pdx);
    else
        k_maxpool_bwd<float><<<grid, THREADS, 0, c->stream>>>(
            n, dx->c, dx->h, dx->w, dy->h, dy->w, pool.kernel, pool.stride, pool.pad, scan_all,
            (const float *)pdy, pa, (float *)pdx);
    LAUNCH_CHECK("k_maxpool_bwd");
}

void cu_avgpool_fwd(biqa_backend *be, const biqa_tensor *x, biqa_tensor *y)
{
    cu_ctx *c = cu_of(be);
    cu_begin(c);
    size_t nc = (size_t)x->n * x->c, hw = (size_t)x->h * x->w;
    if (!nc)
        return;
    cu_fmt act = cu_act(c);
    const void *px = cu_in(c, x, act);
    float *py = (float *)cu_out(c, y, cu_plain());
    unsigned grid = cu_blocks(c, nc, THREADS);
    if (act.dtype == DT_BF16)
        k_avgpool<bf16><<<grid, THREADS, 0, c->stream>>>(nc, x->c, hw, (const bf16 *)px, py);
    else
        k_avgpool<float><<<grid, THREADS, 0, c->stream>>>(nc, x->c, hw, (const float *)px, py);
    LAUNCH_CHECK("k_avgpool");
}

void cu_avgpool_bwd(biqa_backend *be, const biqa_tensor *dy, biqa_tensor *dx)
{
    cu_ctx *c = cu_of(be);
    cu_begin(c);
    size_t n = biqa_numel(dx), hw = (size_t)dx->h * dx->w;
    if (!n)
        return;
    cu_fmt act = cu_act(c);
    const float *pdy = (const float *)cu_in(c, dy, cu_plain());
    void *pdx = cu_out(c, dx, act);
    unsigned grid = cu_blocks(c, n, THREADS);
    if (act.dtype == DT_BF16)
        k_avgpool_bwd<bf16><<<grid, THREADS, 0, c->stream>>>(n, dx->c, hw, pdy, (bf16 *)pdx);
    else
        k_avgpool_bwd<float><<<grid, THREADS, 0, c->stream>>>(n, dx->c, hw, pdy, (float *)pdx);
    LAUNCH_CHECK("k_avgpool_bwd");
}
