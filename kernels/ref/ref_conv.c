/* 2-D convolution (cross-correlation, as torch.nn.functional.conv2d) with
 * OIHW weights, symmetric zero padding, dilation 1, one group. Every output
 * and gradient element is a gather summed in double: slow, obviously right. */
#include "kernels/ref/ref_ops.h"

static size_t at(const biqa_tensor *t, int n, int c, int h, int w)
{
    return (((size_t)n * (size_t)t->c + (size_t)c) * (size_t)t->h + (size_t)h) * (size_t)t->w +
           (size_t)w;
}

void biqa_ref_conv2d_fwd(biqa_backend *be, const biqa_conv_params *p, const biqa_tensor *x,
                         const biqa_tensor *w, const biqa_tensor *b, biqa_tensor *y)
{
    (void)be;
    const float *px = biqa_f32(x), *pw = biqa_f32(w);
    float *py = biqa_f32(y);
    for (int n = 0; n < y->n; n++)
        for (int o = 0; o < y->c; o++)
            for (int oy = 0; oy < y->h; oy++)
                for (int ox = 0; ox < y->w; ox++) {
                    double s = b ? biqa_f32(b)[o] : 0.0;
                    for (int i = 0; i < x->c; i++)
                        for (int ky = 0; ky < w->h; ky++) {
                            int iy = oy * p->stride - p->pad + ky;
                            if (iy < 0 || iy >= x->h)
                                continue;
                            for (int kx = 0; kx < w->w; kx++) {
                                int ix = ox * p->stride - p->pad + kx;
                                if (ix < 0 || ix >= x->w)
                                    continue;
                                s += (double)px[at(x, n, i, iy, ix)] * pw[at(w, o, i, ky, kx)];
                            }
                        }
                    py[at(y, n, o, oy, ox)] = (float)s;
                }
}

/* dx[n,i,iy,ix] = sum over (o, ky, kx) of dy[n,o,oy,ox] w[o,i,ky,kx] where
 * oy * stride - pad + ky = iy (and likewise for x) has an integer solution
 * inside the output. */
static void conv_dx(const biqa_conv_params *p, const biqa_tensor *w, const biqa_tensor *dy,
                    biqa_tensor *dx)
{
    const float *pw = biqa_f32(w), *pdy = biqa_f32(dy);
    float *pdx = biqa_f32(dx);
    for (int n = 0; n < dx->n; n++)
        for (int i = 0; i < dx->c; i++)
            for (int iy = 0; iy < dx->h; iy++)
                for (int ix = 0; ix < dx->w; ix++) {
                    double s = 0;
                    for (int o = 0; o < dy->c; o++)
                        for (int ky = 0; ky < w->h; ky++) {
                            int ty = iy + p->pad - ky;
                            if (ty < 0 || ty % p->stride || ty / p->stride >= dy->h)
                                continue;
                            for (int kx = 0; kx < w->w; kx++) {
                                int tx = ix + p->pad - kx;
                                if (tx < 0 || tx % p->stride || tx / p->stride >= dy->w)
                                    continue;
                                s += (double)pdy[at(dy, n, o, ty / p->stride, tx / p->stride)] *
                                     pw[at(w, o, i, ky, kx)];
                            }
                        }
                    pdx[at(dx, n, i, iy, ix)] = (float)s;
                }
}

/* dw[o,i,ky,kx] += sum over (n, oy, ox) of dy[n,o,oy,ox] x[n,i,iy,ix]. */
static void conv_dw(const biqa_conv_params *p, const biqa_tensor *x, const biqa_tensor *dy,
                    biqa_tensor *dw)
{
    const float *px = biqa_f32(x), *pdy = biqa_f32(dy);
    float *pdw = biqa_f32(dw);
    for (int o = 0; o < dw->n; o++)
        for (int i = 0; i < dw->c; i++)
            for (int ky = 0; ky < dw->h; ky++)
                for (int kx = 0; kx < dw->w; kx++) {
                    double s = 0;
                    for (int n = 0; n < dy->n; n++)
                        for (int oy = 0; oy < dy->h; oy++) {
                            int iy = oy * p->stride - p->pad + ky;
                            if (iy < 0 || iy >= x->h)
                                continue;
                            for (int ox = 0; ox < dy->w; ox++) {
                                int ix = ox * p->stride - p->pad + kx;
                                if (ix < 0 || ix >= x->w)
                                    continue;
                                s += (double)pdy[at(dy, n, o, oy, ox)] * px[at(x, n, i, iy, ix)];
                            }
                        }
                    pdw[at(dw, o, i, ky, kx)] += (float)s;
                }
}

static void conv_db(const biqa_tensor *dy, biqa_tensor *db)
{
    const float *pdy = biqa_f32(dy);
    float *pdb = biqa_f32(db);
    for (int o = 0; o < dy->c; o++) {
        double s = 0;
        for (int n = 0; n < dy->n; n++)
            for (int oy = 0; oy < dy->h; oy++)
                for (int ox = 0; ox < dy->w; ox++)
                    s += pdy[at(dy, n, o, oy, ox)];
        pdb[o] += (float)s;
    }
}

void biqa_ref_conv2d_bwd(biqa_backend *be, const biqa_conv_params *p, const biqa_tensor *x,
                         const biqa_tensor *w, const biqa_tensor *dy, biqa_tensor *dx,
                         biqa_tensor *dw, biqa_tensor *db)
{
    (void)be;
    if (dx)
        conv_dx(p, w, dy, dx);
    if (dw)
        conv_dw(p, x, dy, dw);
    if (db)
        conv_db(dy, db);
}
