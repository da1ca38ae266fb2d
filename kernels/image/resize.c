#include "kernels/image/resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/image/filter.h"
#include "kernels/image/ops.h"

/* Taps of output coordinate i: index[i * nt + j] (source position) and
 * weight[i * nt + j], j < nt. */
static void make_taps(int nin, int nout, int interp, int nt, int *index, float *weight)
{
    const double scale = 1.0 / ((double)nout / nin); /* as cv2.resize computes it */
    const int64_t fixed = (((int64_t)nin << 16) + nout / 2) / nout, fixed0 = fixed / 2 - 1;
    for (int i = 0; i < nout; i++) {
        int *ix = index + i * nt;
        float *wt = weight + i * nt;
        if (interp == BIQA_INTER_NEAREST) {
            int64_t s = (fixed * i + fixed0) >> 16;
            ix[0] = s < 0 ? 0 : s < nin - 1 ? (int)s : nin - 1;
            wt[0] = 1;
            continue;
        }
        float f = (float)((i + 0.5) * scale - 0.5);
        int s = (int)floorf(f);
        f -= (float)s;
        if (interp == BIQA_INTER_LINEAR) {
            if (s < 0)
                s = 0, f = 0;
            if (s >= nin - 1)
                s = nin - 1, f = 0;
            ix[0] = s;
            ix[1] = s + 1 < nin ? s + 1 : nin - 1;
            wt[0] = 1 - f;
            wt[1] = f;
        } else {
            const float a = -0.75f;
            wt[0] = ((a * (f + 1) - 5 * a) * (f + 1) + 8 * a) * (f + 1) - 4 * a;
            wt[1] = ((a + 2) * f - (a + 3)) * f * f + 1;
            wt[2] = ((a + 2) * (1 - f) - (a + 3)) * (1 - f) * (1 - f) + 1;
            wt[3] = 1 - wt[0] - wt[1] - wt[2];
            for (int j = 0; j < 4; j++) {
                int k = s - 1 + j;
                ix[j] = k < 0 ? 0 : k > nin - 1 ? nin - 1 : k;
            }
        }
    }
}

/* dst row (3 wout floats) = the taps of src row (3 win floats), one pixel
 * at a time: v = w0 a + w1 b, then for four taps v += w2 c + w3 d. */
static void hpass(const float *src, int wout, int nt, const int *ix, const float *wt, float *dst)
{
    if (nt == 2) {
        for (int x = 0; x < wout; x++, ix += 2, wt += 2) {
            const float *a = src + 3 * ix[0], *b = src + 3 * ix[1];
            const float w0 = wt[0], w1 = wt[1];
            dst[3 * x] = w0 * a[0] + w1 * b[0];
            dst[3 * x + 1] = w0 * a[1] + w1 * b[1];
            dst[3 * x + 2] = w0 * a[2] + w1 * b[2];
        }
        return;
    }
    for (int x = 0; x < wout; x++, ix += 4, wt += 4) {
        const float *a = src + 3 * ix[0], *b = src + 3 * ix[1], *c = src + 3 * ix[2],
                    *d = src + 3 * ix[3];
        const float w0 = wt[0], w1 = wt[1], w2 = wt[2], w3 = wt[3];
        for (int k = 0; k < 3; k++) {
            float v = w0 * a[k] + w1 * b[k];
            v += w2 * c[k] + w3 * d[k];
            dst[3 * x + k] = v;
        }
    }
}

/* dst row (n floats) = the taps of rows of src (bytes, rows of n):
 * ((wa a + wb b) + wc c) + wd d. */
BIQA_CLONES
static void vpass_from_u8(const uint8_t *src, size_t n, int nt, const int *iy, const float *wt,
                          float *restrict dst)
{
    const uint8_t *a = src + iy[0] * n, *b = src + iy[1] * n;
    const float wa = wt[0], wb = wt[1];
    if (nt == 2) {
#pragma omp simd
        for (size_t i = 0; i < n; i++)
            dst[i] = wa * a[i] + wb * b[i];
        return;
    }
    const uint8_t *c = src + iy[2] * n, *d = src + iy[3] * n;
    const float wc = wt[2], wd = wt[3];
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        dst[i] = wa * a[i] + wb * b[i] + wc * c[i] + wd * d[i];
}

/* The same from rows of floats, rounded to bytes. */
BIQA_CLONES
static void vpass_to_u8(const float *src, size_t n, int nt, const int *iy, const float *wt,
                        uint8_t *restrict dst)
{
    const float *a = src + iy[0] * n, *b = src + iy[1] * n;
    const float wa = wt[0], wb = wt[1];
    if (nt == 2) {
#pragma omp simd
        for (size_t i = 0; i < n; i++)
            dst[i] = biqa_to_u8(wa * a[i] + wb * b[i]);
        return;
    }
    const float *c = src + iy[2] * n, *d = src + iy[3] * n;
    const float wc = wt[2], wd = wt[3];
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        dst[i] = biqa_to_u8(wa * a[i] + wb * b[i] + wc * c[i] + wd * d[i]);
}

static int resize_into(const biqa_image *in, int w, int h, int interp, uint8_t *out,
                       biqa_error *err)
{
    const int nt = interp == BIQA_INTER_NEAREST ? 1 : interp == BIQA_INTER_LINEAR ? 2 : 4;
    const int win = in->w, hin = in->h, wmax = win > w ? win : w;
    /* The taps, their weights, the half-way rows (floats: one when the
     * vertical pass is first, every one otherwise), a row. */
    const size_t nmid = h < hin ? (size_t)3 * win : (size_t)3 * w * hin;
    const int need_f = interp != BIQA_INTER_NEAREST;
    int *index = malloc((size_t)nt * (w + h) * sizeof *index);
    float *weight =
        malloc(((size_t)nt * (w + h) + (need_f ? nmid + 3 * (size_t)wmax : 0)) * sizeof *weight);
    if (!index || !weight) {
        free(index);
        free(weight);
        return biqa_fail(err, "out of memory resizing to %dx%d", w, h);
    }
    int *xi = index, *yi = index + nt * w;
    float *xw = weight, *yw = weight + nt * w;
    make_taps(win, w, interp, nt, xi, xw);
    make_taps(hin, h, interp, nt, yi, yw);
    if (interp == BIQA_INTER_NEAREST) {
        for (int y = 0; y < h; y++) {
            const uint8_t *src = in->px + (size_t)yi[y] * 3 * win;
            uint8_t *o = out + (size_t)y * 3 * w;
            for (int x = 0; x < w; x++)
                memcpy(o + 3 * x, src + 3 * xi[x], 3);
        }
    } else {
        /* The horizontal pass gathers, the vertical one streams: gather on
         * whichever of the input and output has fewer rows. */
        float *mid = yw + nt * h, *row = mid + nmid;
        const size_t win3 = (size_t)3 * win, w3 = (size_t)3 * w;
        if (h < hin) {
            for (int y = 0; y < h; y++) {
                vpass_from_u8(in->px, win3, nt, yi + y * nt, yw + y * nt, mid);
                hpass(mid, w, nt, xi, xw, row);
                biqa_float_to_u8(row, w3, out + y * w3);
            }
        } else {
            for (int y = 0; y < hin; y++) {
                biqa_u8_to_float(in->px + y * win3, win3, row);
                hpass(row, w, nt, xi, xw, mid + y * w3);
            }
            for (int y = 0; y < h; y++)
                vpass_to_u8(mid, w3, nt, yi + y * nt, yw + y * nt, out + y * w3);
        }
    }
    free(index);
    free(weight);
    return 0;
}

int biqa_image_resize(const biqa_image *in, int w, int h, int interp, biqa_image *out,
                      biqa_error *err)
{
    if (interp != BIQA_INTER_NEAREST && interp != BIQA_INTER_LINEAR && interp != BIQA_INTER_CUBIC)
        return biqa_fail(err, "resize: unknown interpolation %d", interp);
    if (biqa_image_alloc(out, w, h, "resize", err) < 0)
        return -1;
    if (resize_into(in, w, h, interp, out->px, err) < 0) {
        biqa_image_free(out);
        return -1;
    }
    return 0;
}

/* Down-up resize by factor f: to floor(size / f + 0.5) (at least 1) and
 * back, both with the same interpolation; the small image is 8-bit, as
 * when two cv2.resize calls are chained. */
static int down_up(const biqa_image *in, double f, int interp, uint8_t *out, biqa_error *err)
{
    int w = (int)floor(in->w / f + 0.5), h = (int)floor(in->h / f + 0.5);
    biqa_image small;
    if (biqa_image_resize(in, w < 1 ? 1 : w, h < 1 ? 1 : h, interp, &small, err) < 0)
        return -1;
    int rc = resize_into(&small, in->w, in->h, interp, out, err);
    biqa_image_free(&small);
    return rc;
}

int biqa_op_resize_nearest(const biqa_image *in, const double *p, uint64_t seed,
                           uint64_t stream, uint8_t *out, biqa_error *err)
{
    (void)seed, (void)stream;
    return down_up(in, p[0], BIQA_INTER_NEAREST, out, err);
}

int biqa_op_resize_bilinear(const biqa_image *in, const double *p, uint64_t seed,
                            uint64_t stream, uint8_t *out, biqa_error *err)
{
    (void)seed, (void)stream;
    return down_up(in, p[0], BIQA_INTER_LINEAR, out, err);
}

int biqa_op_resize_bicubic(const biqa_image *in, const double *p, uint64_t seed,
                           uint64_t stream, uint8_t *out, biqa_error *err)
{
    (void)seed, (void)stream;
    return down_up(in, p[0], BIQA_INTER_CUBIC, out, err);
}
