/* Fully connected layer (torch.nn.functional.linear): y = x w^T + b with
 * x (n, in) (any NCHW tensor, flattened per sample), w (out, in), b (out). */
#include "kernels/ref/ref_ops.h"

void biqa_ref_linear_fwd(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *w,
                         const biqa_tensor *b, biqa_tensor *y)
{
    (void)be;
    size_t in = biqa_numel(x) / (size_t)x->n, out = (size_t)w->n;
    const float *px = biqa_f32(x), *pw = biqa_f32(w);
    for (int n = 0; n < x->n; n++)
        for (size_t o = 0; o < out; o++) {
            double s = b ? biqa_f32(b)[o] : 0.0;
            for (size_t i = 0; i < in; i++)
                s += (double)px[(size_t)n * in + i] * pw[o * in + i];
            biqa_f32(y)[(size_t)n * out + o] = (float)s;
        }
}

/* dx = dy w (written); dw += dy^T x; db += column sums of dy. */
void biqa_ref_linear_bwd(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *w,
                         const biqa_tensor *dy, biqa_tensor *dx, biqa_tensor *dw,
                         biqa_tensor *db)
{
    (void)be;
    size_t in = biqa_numel(x) / (size_t)x->n, out = (size_t)w->n;
    const float *px = biqa_f32(x), *pw = biqa_f32(w), *pdy = biqa_f32(dy);
    if (dx)
        for (int n = 0; n < x->n; n++)
            for (size_t i = 0; i < in; i++) {
                double s = 0;
                for (size_t o = 0; o < out; o++)
                    s += (double)pdy[(size_t)n * out + o] * pw[o * in + i];
                biqa_f32(dx)[(size_t)n * in + i] = (float)s;
            }
    if (dw)
        for (size_t o = 0; o < out; o++)
            for (size_t i = 0; i < in; i++) {
                double s = 0;
                for (int n = 0; n < x->n; n++)
                    s += (double)pdy[(size_t)n * out + o] * px[(size_t)n * in + i];
                biqa_f32(dw)[o * in + i] += (float)s;
            }
    if (db)
        for (size_t o = 0; o < out; o++) {
            double s = 0;
            for (int n = 0; n < x->n; n++)
                s += pdy[(size_t)n * out + o];
            biqa_f32(db)[o] += (float)s;
        }
}
