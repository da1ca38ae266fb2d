/* Max pooling (torch.nn.functional.max_pool2d, ceil_mode off) with argmax
 * indices for backward, and global average pooling. */
#include <math.h>

#include "kernels/ref/ref_ops.h"

/* Windows visit only positions inside the input, so padding never wins
 * (it counts as -inf). As PyTorch's CPU kernel, the index starts at the
 * window's first valid position and moves on `v > best || isnan(v)`: the
 * first maximum wins ties and a NaN propagates. */
void biqa_ref_maxpool_fwd(biqa_backend *be, const biqa_pool_params *p, const biqa_tensor *x,
                          biqa_tensor *y, int32_t *argmax)
{
    (void)be;
    size_t in_plane = (size_t)x->h * (size_t)x->w, out_plane = (size_t)y->h * (size_t)y->w;
    for (size_t nc = 0; nc < (size_t)y->n * (size_t)y->c; nc++) {
        const float *px = biqa_f32(x) + nc * in_plane;
        float *py = biqa_f32(y) + nc * out_plane;
        int32_t *pa = argmax + nc * out_plane;
        for (int oy = 0; oy < y->h; oy++)
            for (int ox = 0; ox < y->w; ox++) {
                int y0 = oy * p->stride - p->pad, x0 = ox * p->stride - p->pad;
                int y1 = y0 + p->kernel < x->h ? y0 + p->kernel : x->h;
                int x1 = x0 + p->kernel < x->w ? x0 + p->kernel : x->w;
                y0 = y0 > 0 ? y0 : 0;
                x0 = x0 > 0 ? x0 : 0;
                float best = -INFINITY;
                int32_t idx = y0 * x->w + x0;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) {
                        float v = px[iy * x->w + ix];
                        if (v > best || isnan(v)) {
                            best = v;
                            idx = iy * x->w + ix;
                        }
                    }
                py[oy * y->w + ox] = best;
                pa[oy * y->w + ox] = idx;
            }
    }
}

/* Windows overlap when stride < kernel, so contributions are summed. */
void biqa_ref_maxpool_bwd(biqa_backend *be, const biqa_tensor *dy, const int32_t *argmax,
                          biqa_tensor *dx)
{
    (void)be;
    size_t in_plane = (size_t)dx->h * (size_t)dx->w, out_plane = (size_t)dy->h * (size_t)dy->w;
    for (size_t nc = 0; nc < (size_t)dy->n * (size_t)dy->c; nc++) {
        const float *pdy = biqa_f32(dy) + nc * out_plane;
        const int32_t *pa = argmax + nc * out_plane;
        float *pdx = biqa_f32(dx) + nc * in_plane;
        for (size_t i = 0; i < in_plane; i++)
            pdx[i] = 0;
        for (size_t o = 0; o < out_plane; o++)
            pdx[pa[o]] += pdy[o];
    }
}

void biqa_ref_avgpool_fwd(biqa_backend *be, const biqa_tensor *x, biqa_tensor *y)
{
    (void)be;
    size_t plane = (size_t)x->h * (size_t)x->w;
    for (size_t nc = 0; nc < (size_t)x->n * (size_t)x->c; nc++) {
        const float *px = biqa_f32(x) + nc * plane;
        double s = 0;
        for (size_t i = 0; i < plane; i++)
            s += px[i];
        biqa_f32(y)[nc] = (float)(s / (double)plane);
    }
}

void biqa_ref_avgpool_bwd(biqa_backend *be, const biqa_tensor *dy, biqa_tensor *dx)
{
    (void)be;
    size_t plane = (size_t)dx->h * (size_t)dx->w;
    for (size_t nc = 0; nc < (size_t)dx->n * (size_t)dx->c; nc++) {
        float g = (float)(biqa_f32(dy)[nc] / (double)plane);
        for (size_t i = 0; i < plane; i++)
            biqa_f32(dx)[nc * plane + i] = g;
    }
}
