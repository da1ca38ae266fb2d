/* Zoom blur as in ImageNet-C: the mean of the image and its centred zooms
 * by 1.01, 1.02, ... up to the level's maximum (steps of 0.01, the maximum
 * included). A zoom by z samples the input bilinearly at
 * c + (x - c) / z about the centre c = (size - 1) / 2 in pixel-centre
 * coordinates, so it never reads outside the image. Bilinear sampling is
 * separable: each zoom is a horizontal then a vertical 2-tap pass. */
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

int biqa_op_zoom(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                 uint8_t *out, biqa_error *err)
{
    (void)seed, (void)stream;
    const int w = in->w, h = in->h, n3 = 3 * w;
    const int nzoom = (int)floor((p[0] - 1) * 100 + 1e-6);
    const size_t n = (size_t)n3 * h;
    float *acc = malloc((2 * n + (size_t)w + h) * sizeof *acc);
    int *ix = malloc((size_t)(w + h) * sizeof *ix);
    if (!acc || !ix) {
        free(acc);
        free(ix);
        return biqa_fail(err, "out of memory for a %dx%d image", w, h);
    }
    float *tmp = acc + n, *fx = tmp + n, *fy = fx + w;
    int *iy = ix + w;
    biqa_u8_to_float(in->px, n, acc);
    for (int s = 1; s <= nzoom; s++) {
        const double z = 1 + 0.01 * s;
        taps(w, z, ix, fx);
        taps(h, z, iy, fy);
        for (int y = 0; y < h; y++) {
            const uint8_t *src = in->px + (size_t)y * n3;
            float *t = tmp + (size_t)y * n3;
            for (int x = 0; x < w; x++) {
                const uint8_t *a = src + 3 * ix[x], *b = src + 3 * (ix[x] + (ix[x] < w - 1));
                for (int c = 0; c < 3; c++)
                    t[3 * x + c] = a[c] + fx[x] * (b[c] - a[c]);
            }
        }
        for (int y = 0; y < h; y++) {
            const float *a = tmp + (size_t)iy[y] * n3;
            const float *b = tmp + (size_t)(iy[y] + (iy[y] < h - 1)) * n3;
            const float f = fy[y];
            float *o = acc + (size_t)y * n3;
#pragma omp simd
            for (int i = 0; i < n3; i++)
                o[i] += a[i] + f * (b[i] - a[i]);
        }
    }
    const float scale = 1.0f / (float)(nzoom + 1);
    for (size_t i = 0; i < n; i++)
        out[i] = biqa_to_u8(acc[i] * scale);
    free(acc);
    free(ix);
    return 0;
}
