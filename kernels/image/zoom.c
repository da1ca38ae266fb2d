/* Zoom blur as in ImageNet-C: the mean of the image and its centred zooms
 * by 1.01, 1.02, ... up to the level's maximum (steps of 0.01, the maximum
 * included). A zoom by z samples the input bilinearly at
 * c + (x - c) / z about the centre c = (size - 1) / 2 in pixel-centre
 * coordinates, so it never reads outside the image. Bilinear sampling is
 * separable: each zoom is a horizontal then a vertical 2-tap pass. The
 * output goes row by row, each row summing every zoom in order; each zoom
 * makes the rows of its horizontal pass as its vertical pass needs them
 * (its source rows only move down), keeping the last two. */
#include <math.h>
#include <stdlib.h>

#include "kernels/image/filter.h"
#include "kernels/image/ops.h"

/* For output index i of n: the source index i0 (i0 + 1 clamped is the
 * second tap) and the weight f of that second tap. */
static void taps(int n, double z, int *i0, float *f)
{
    const double c = (n - 1) / 2.0;
    for (int i = 0; i < n; i++) {
        double s = c + (i - c) / z;
        int a = (int)floor(s);
        if (a > n - 1)
            a = n - 1;
        i0[i] = a;
        f[i] = (float)(s - a);
    }
}

/* t (3w values) = the horizontal pass over one row of the float input:
 * pixel x takes source pixels ix[x] and ix[x] + 1 with weight fx[x]:
 * a + f (b - a), as on bytes promoted (the difference of two bytes is exact
 * in float). ix[x] - x is constant along runs of pixels (ix grows by 0 or
 * 1 per pixel), so each run is a loop of unit-stride loads from the source
 * shifted by its offset: no gathers (which vector units do slowly). The
 * source row has its last pixel once more (the clamped tap). Run r is
 * pixels runs[2r] .. runs[2r + 2] - 1 at offset runs[2r + 1]; fe is fx per
 * value. */
BIQA_CLONES
static void hrow(const float *src, const int *runs, int nrun, const float *fe, float *restrict t)
{
    for (int r = 0; r < nrun; r++) {
        const int e0 = 3 * runs[2 * r], e1 = 3 * runs[2 * r + 2], k = 3 * runs[2 * r + 1];
#pragma omp simd
        for (int e = e0; e < e1; e++)
            t[e] = src[e + k] + fe[e] * (src[e + k + 3] - src[e + k]);
    }
}

BIQA_CLONES
static void vrow(const float *a, const float *b, float f, int n, float *restrict o)
{
#pragma omp simd
    for (int i = 0; i < n; i++)
        o[i] += a[i] + f * (b[i] - a[i]);
}

BIQA_CLONES
static void scale_to_u8(const float *acc, size_t n, float scale, uint8_t *out)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        out[i] = biqa_to_u8(acc[i] * scale);
}

/* One zoom: its taps (ix, fe, runs; iy, fy) and the last two rows of its
 * horizontal pass with their source rows. */
typedef struct zoom_pass {
    int *ix, *iy, *runs, nrun;
    float *fe, *fy, *buf[2];
    int held[2];
} zoom_pass;

/* The horizontal pass of source row y: from the buffer that holds it, or
 * made in the one not holding row keep (needed too). fin has rows of
 * 3 (w + 1) values. */
static const float *hpass(zoom_pass *zp, const float *fin, int w, int y, int keep)
{
    for (int s = 0; s < 2; s++)
        if (zp->held[s] == y)
            return zp->buf[s];
    const int s = zp->held[0] == keep ? 1 : 0;
    hrow(fin + (size_t)y * 3 * (w + 1), zp->runs, zp->nrun, zp->fe, zp->buf[s]);
    zp->held[s] = y;
    return zp->buf[s];
}

int biqa_op_zoom(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                 uint8_t *out, biqa_error *err)
{
    (void)seed, (void)stream;
    const int w = in->w, h = in->h, n3 = 3 * w;
    const int nzoom = (int)floor((p[0] - 1) * 100 + 1e-6);
    /* Floats: the input (rows of w + 1 pixels), the output row, per zoom
     * fe, fy and two rows. Ints per zoom: ix, iy, runs. */
    const size_t nfin = (size_t)(n3 + 3) * h, fper = 3 * (size_t)n3 + h;
    const size_t iper = 3 * (size_t)w + h + 1;
    float *fbuf = malloc((nfin + n3 + (size_t)nzoom * fper) * sizeof *fbuf);
    int *ibuf = malloc(((size_t)nzoom * iper + 1) * sizeof *ibuf);
    zoom_pass *zp = malloc(((size_t)nzoom + 1) * sizeof *zp);
    if (!fbuf || !ibuf || !zp) {
        free(fbuf);
        free(ibuf);
        free(zp);
        return biqa_fail(err, "out of memory for a %dx%d image", w, h);
    }
    float *fin = fbuf, *acc = fin + nfin;
    for (int y = 0; y < h; y++) {
        float *row = fin + (size_t)y * (n3 + 3);
        biqa_u8_to_float(in->px + (size_t)y * n3, (size_t)n3, row);
        row[n3] = row[n3 - 3], row[n3 + 1] = row[n3 - 2], row[n3 + 2] = row[n3 - 1];
    }
    for (int s = 0; s < nzoom; s++) {
        zoom_pass *z = &zp[s];
        z->fe = acc + n3 + s * fper;
        z->fy = z->fe + n3;
        z->buf[0] = z->fy + h;
        z->buf[1] = z->buf[0] + n3;
        z->ix = ibuf + s * iper;
        z->iy = z->ix + w;
        z->runs = z->iy + h;
        z->held[0] = z->held[1] = -1;
        const double f = 1 + 0.01 * (s + 1);
        taps(w, f, z->ix, z->fe);
        taps(h, f, z->iy, z->fy);
        z->nrun = 0;
        for (int x = 0; x < w; x++)
            if (x == 0 || z->ix[x] - x != z->runs[2 * z->nrun - 1]) {
                z->runs[2 * z->nrun] = x;
                z->runs[2 * z->nrun + 1] = z->ix[x] - x;
                z->nrun++;
            }
        z->runs[2 * z->nrun] = w;
        for (int x = w - 1; x >= 0; x--) /* fx per value, in place */
            z->fe[3 * x] = z->fe[3 * x + 1] = z->fe[3 * x + 2] = z->fe[x];
    }
    const float scale = 1.0f / (float)(nzoom + 1);
    for (int y = 0; y < h; y++) {
        biqa_u8_to_float(in->px + (size_t)y * n3, (size_t)n3, acc);
        for (int s = 0; s < nzoom; s++) {
            const int ya = zp[s].iy[y], yb = ya + (ya < h - 1);
            const float *a = hpass(&zp[s], fin, w, ya, yb);
            const float *b = hpass(&zp[s], fin, w, yb, ya);
            vrow(a, b, zp[s].fy[y], n3, acc);
        }
        scale_to_u8(acc, (size_t)n3, scale, out + (size_t)y * n3);
    }
    free(fbuf);
    free(ibuf);
    free(zp);
    return 0;
}
