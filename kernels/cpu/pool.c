/* Max pooling (with argmax) and global average pooling, one (n, c) plane per
 * work item: planes are independent, so results do not depend on the
 * number of workers. */
#include <math.h>
#include <string.h>

#include "kernels/cpu/cpu_impl.h"

/* The maximum of in over rows [h0, h1) and columns [w0, w1), with its flat
 * index. As PyTorch's CPU kernel: start at -inf with the window's first
 * element as index, strict > keeps the first maximum, and a NaN always
 * takes over. Branch-free selects: on random data a branch mispredicts. */
static inline float window_max(const float *in, int W, int h0, int h1, int w0, int w1,
                               int32_t *arg)
{
    float best = -INFINITY;
    int32_t bi = h0 * W + w0;
    for (int ih = h0; ih < h1; ih++)
        for (int iw = w0; iw < w1; iw++) {
            float v = in[ih * W + iw];
            int take = (v > best) | (v != v);
            best = take ? v : best;
            bi = take ? ih * W + iw : bi;
        }
    *arg = bi;
    return best;
}

static inline void take(const float *in, int32_t idx, float *best, int32_t *bi)
{
    const float v = in[idx];
    const int t = (v > *best) | (v != v);
    *best = t ? v : *best;
    *bi = t ? idx : *bi;
}

/* ResNet's pool, 3x3 stride 2, on windows inside the input: straight-line
 * code with constant offsets, which vectorises across outputs. The order of
 * the comparisons is window_max's (row-major), so ties and NaNs resolve the
 * same way. */
CPU_HOT static void max3x3s2_row(const float *in, int W, int h0, int ow_lo, int ow_hi, float *out,
                                 int32_t *arg, int pad)
{
#pragma omp simd
    for (int ow = ow_lo; ow < ow_hi; ow++) {
        const int base = h0 * W + 2 * ow - pad;
        float best = -INFINITY;
        int32_t bi = base;
        /* Unrolled by hand: GCC does not vectorise the outer loop of a nest. */
        take(in, base, &best, &bi);
        take(in, base + 1, &best, &bi);
        take(in, base + 2, &best, &bi);
        take(in, base + W, &best, &bi);
        take(in, base + W + 1, &best, &bi);
        take(in, base + W + 2, &best, &bi);
        take(in, base + 2 * W, &best, &bi);
        take(in, base + 2 * W + 1, &best, &bi);
        take(in, base + 2 * W + 2, &best, &bi);
        out[ow] = best;
        arg[ow] = bi;
    }
}

/* One (n, c) plane. Windows inside the input (columns [ow_lo, ow_hi) of
 * rows whose window fits) go through max3x3s2_row where the pool is 3x3
 * stride 2; the others clip their windows. */
CPU_HOT static void maxpool_plane(const float *in, float *out, int32_t *arg, int H, int W, int OH,
                                  int OW, const biqa_pool_params *p)
{
    const int k = p->kernel, s = p->stride, pad = p->pad;
    int ow_lo = (pad + s - 1) / s, ow_hi = (W - k + pad) / s + 1;
    ow_hi = ow_hi < OW ? ow_hi : OW;
    ow_lo = ow_lo < ow_hi ? ow_lo : ow_hi;
    const int fast = k == 3 && s == 2;
    for (int oh = 0; oh < OH; oh++) {
        const int top = oh * s - pad, h0 = top < 0 ? 0 : top, h1 = top + k < H ? top + k : H;
        float *o = out + (long)oh * OW;
        int32_t *a = arg + (long)oh * OW;
        const int inside = fast && top >= 0 && top + k <= H;
        for (int ow = 0; ow < OW; ow++) {
            if (inside && ow == ow_lo)
                ow = ow_hi;
            if (ow >= OW)
                break;
            int w0 = ow * s - pad, w1 = w0 + k < W ? w0 + k : W;
            w0 = w0 < 0 ? 0 : w0;
            o[ow] = window_max(in, W, h0, h1, w0, w1, &a[ow]);
        }
        if (inside)
            max3x3s2_row(in, W, top, ow_lo, ow_hi, o, a, pad);
    }
}

void biqa_cpu_maxpool_fwd(biqa_backend *be, const biqa_pool_params *p, const biqa_tensor *x,
                          biqa_tensor *y, int32_t *argmax)
{
    const int H = x->h, W = x->w, OH = y->h, OW = y->w;
    const long planes = (long)x->n * x->c;
    const float *px = biqa_f32(x);
    float *py = biqa_f32(y);
    const long work = planes * H * W;
#pragma omp parallel for num_threads(be->threads) schedule(static) if (work >= CPU_PAR_MIN)
    for (long pl = 0; pl < planes; pl++)
        maxpool_plane(px + pl * H * W, py + pl * OH * OW, argmax + pl * OH * OW, H, W, OH, OW, p);
}

void biqa_cpu_maxpool_bwd(biqa_backend *be, const biqa_tensor *dy, const int32_t *argmax,
                          biqa_tensor *dx)
{
    const long planes = (long)dx->n * dx->c, in = (long)dx->h * dx->w, out = (long)dy->h * dy->w;
    const float *pdy = biqa_f32(dy);
    float *pdx = biqa_f32(dx);
#pragma omp parallel for num_threads(be->threads) schedule(static) if (planes * in >= CPU_PAR_MIN)
    for (long pl = 0; pl < planes; pl++) {
        float *d = pdx + pl * in;
        const float *g = pdy + pl * out;
        const int32_t *arg = argmax + pl * out;
        memset(d, 0, (size_t)in * sizeof(float));
        for (long o = 0; o < out; o++)
            d[arg[o]] += g[o];
    }
}

CPU_HOT static float plane_mean(const float *in, long hw)
{
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (long i = 0; i < hw; i++)
        s += in[i];
    return (float)(s / (double)hw);
}

CPU_HOT static void plane_fill(float *d, long hw, float v)
{
#pragma omp simd
    for (long i = 0; i < hw; i++)
        d[i] = v;
}

void biqa_cpu_avgpool_fwd(biqa_backend *be, const biqa_tensor *x, biqa_tensor *y)
{
    const long planes = (long)x->n * x->c, hw = (long)x->h * x->w;
    const float *px = biqa_f32(x);
    float *py = biqa_f32(y);
#pragma omp parallel for num_threads(be->threads) schedule(static) if (planes * hw >= CPU_PAR_MIN)
    for (long pl = 0; pl < planes; pl++)
        py[pl] = plane_mean(px + pl * hw, hw);
}

void biqa_cpu_avgpool_bwd(biqa_backend *be, const biqa_tensor *dy, biqa_tensor *dx)
{
    const long planes = (long)dx->n * dx->c, hw = (long)dx->h * dx->w;
    const float *pdy = biqa_f32(dy);
    float *pdx = biqa_f32(dx);
#pragma omp parallel for num_threads(be->threads) schedule(static) if (planes * hw >= CPU_PAR_MIN)
    for (long pl = 0; pl < planes; pl++)
        plane_fill(pdx + pl * hw, hw, pdy[pl] / (float)hw);
}
