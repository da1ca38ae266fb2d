/* Max pooling (with argmax) and global average pooling, one (n, c) plane per
 * work item: planes are independent, so results do not depend on the
 * number of workers. */
#include <math.h>
#include <string.h>

#include "kernels/cpu/cpu_impl.h"

void biqa_cpu_maxpool_fwd(biqa_backend *be, const biqa_pool_params *p, const biqa_tensor *x,
                          biqa_tensor *y, int32_t *argmax)
{
    const int H = x->h, W = x->w, OH = y->h, OW = y->w, k = p->kernel, s = p->stride;
    const long planes = (long)x->n * x->c;
    const float *px = biqa_f32(x);
    float *py = biqa_f32(y);
#pragma omp parallel for num_threads(be->threads) schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        const float *in = px + pl * H * W;
        float *out = py + pl * OH * OW;
        int32_t *arg = argmax + pl * OH * OW;
        for (int oh = 0; oh < OH; oh++) {
            int h0 = oh * s - p->pad, h1 = h0 + k < H ? h0 + k : H;
            h0 = h0 < 0 ? 0 : h0;
            for (int ow = 0; ow < OW; ow++) {
                int w0 = ow * s - p->pad, w1 = w0 + k < W ? w0 + k : W;
                w0 = w0 < 0 ? 0 : w0;
                /* As PyTorch's CPU kernel: start at -inf with the window's
                 * first element as index, strict > keeps the first maximum,
                 * and a NaN always takes over. */
                float best = -INFINITY;
                int32_t bi = h0 * W + w0;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) {
                        float v = in[ih * W + iw];
                        if (v > best || isnan(v)) {
                            best = v;
                            bi = ih * W + iw;
                        }
                    }
                out[oh * OW + ow] = best;
                arg[oh * OW + ow] = bi;
            }
        }
    }
}

void biqa_cpu_maxpool_bwd(biqa_backend *be, const biqa_tensor *dy, const int32_t *argmax,
                          biqa_tensor *dx)
{
    const long planes = (long)dx->n * dx->c, in = (long)dx->h * dx->w, out = (long)dy->h * dy->w;
    const float *pdy = biqa_f32(dy);
    float *pdx = biqa_f32(dx);
#pragma omp parallel for num_threads(be->threads) schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        float *d = pdx + pl * in;
        const float *g = pdy + pl * out;
        const int32_t *arg = argmax + pl * out;
        memset(d, 0, (size_t)in * sizeof(float));
        for (long o = 0; o < out; o++)
            d[arg[o]] += g[o];
    }
}

void biqa_cpu_avgpool_fwd(biqa_backend *be, const biqa_tensor *x, biqa_tensor *y)
{
    const long planes = (long)x->n * x->c, hw = (long)x->h * x->w;
    const float *px = biqa_f32(x);
    float *py = biqa_f32(y);
#pragma omp parallel for num_threads(be->threads) schedule(static) if (planes * hw >= CPU_PAR_MIN)
    for (long pl = 0; pl < planes; pl++) {
        const float *in = px + pl * hw;
        double s = 0;
#pragma omp simd reduction(+ : s)
        for (long i = 0; i < hw; i++)
            s += in[i];
        py[pl] = (float)(s / (double)hw);
    }
}

void biqa_cpu_avgpool_bwd(biqa_backend *be, const biqa_tensor *dy, biqa_tensor *dx)
{
    const long planes = (long)dx->n * dx->c, hw = (long)dx->h * dx->w;
    const float *pdy = biqa_f32(dy);
    float *pdx = biqa_f32(dx);
#pragma omp parallel for num_threads(be->threads) schedule(static) if (planes * hw >= CPU_PAR_MIN)
    for (long pl = 0; pl < planes; pl++) {
        float g = pdy[pl] / (float)hw, *d = pdx + pl * hw;
        for (long i = 0; i < hw; i++)
            d[i] = g;
    }
}
