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

/* dst row (3 wout floats) = the taps of src row (3 win floats). */
static void hpass(const float *src, int wout, int nt, const int *ix, const float *wt, float *dst)
{
    for (int x = 0; x < wout; x++, ix += nt, wt += nt) {
        for (int c = 0; c < 3; c++) {
            float v = wt[0] * src[3 * ix[0] + c] + wt[1] * src[3 * ix[1] + c];
            if (nt == 4)
                v += wt[2] * src[3 * ix[2] + c] + wt[3] * src[3 * ix[3] + c];
            dst[3 * x + c] = v;
        }
    }
}

/* dst row (n floats) = the taps of rows of src (rows of n floats). */
static void vpass(const float *src, size_t n, int nt, const int *iy, const float *wt, float *dst)
{
    const float *a = src + iy[0] * n, *b = src + iy[1] * n;
    const float wa = wt[0], wb = wt[1];
    if (nt == 2) {
#pragma omp simd
        for (size_t i = 0; i < n; i++)
            dst[i] = wa * a[i] + wb * b[i];
        return;
    }
    const float *c = src + iy[2] * n, *d = src + iy[3] * n;
    const float wc = wt[2], wd = wt[3];
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        dst[i] = wa * a[i] + wb * b[i] + wc * c[i] + wd * d[i];
}

static int resize_into(const biqa_image *in, int w, int h, int interp, uint8_t *out,
                       biqa_error *err)
{
    const int nt = interp == BIQA_INTER_NEAREST ? 1 : interp == BIQA_INTER_LINEAR ? 2 : 4;
    /* Float buffers: the input, the half-way image, the output. */
    const size_t nin = (size_t)3 * in->w * in->h, nout = (size_t)3 * w * h;
    const size_t nmid = h < in->h ? (size_t)3 * in->w * h : (size_t)3 * w * in->h;
    const int need_f = interp != BIQA_INTER_NEAREST;
    int *index = malloc((size_t)nt * (w + h) * sizeof *index);
    float *weight = malloc(((size_t)nt * (w + h) + (need_f ? nin + nmid + nout : 0)) *
                           sizeof *weight);
    if (!index || !weight) {
        free(index);
        free(weight);
        return biqa_fail(err, "out of memory resizing to %dx%d", w, h);
    }
    int *xi = index, *yi = index + nt * w;
    float *xw = weight, *yw = weight + nt * w;
    make_taps(in->w, w, interp, nt, xi, xw);
    make_taps(in->h, h, interp, nt, yi, yw);
    if (interp == BIQA_INTER_NEAREST) {
        for (int y = 0; y < h; y++) {
            const uint8_t *src = in->px + (size_t)yi[y] * 3 * in->w;
            uint8_t *o = out + (size_t)y * 3 * w;
            for (int x = 0; x < w; x++)
                memcpy(o + 3 * x, src + 3 * xi[x], 3);
        }
    } else {
        /* The horizontal pass gathers, the vertical one streams: gather on
         * whichever of the input and output has fewer rows. */
        float *fin = yw + nt * h, *mid = fin + nin, *fout = mid + nmid;
        biqa_u8_to_float(in->px, nin, fin);
        const size_t win3 = (size_t)3 * in->w, w3 = (size_t)3 * w;
        if (h < in->h) {
            for (int y = 0; y < h; y++)
                vpass(fin, win3, nt, yi + y * nt, yw + y * nt, mid + y * win3);
            for (int y = 0; y < h; y++)
                hpass(mid + y * win3, w, nt, xi, xw, fout + y * w3);
        } else {
            for (int y = 0; y < in->h; y++)
                hpass(fin + y * win3, w, nt, xi, xw, mid + y * w3);
            for (int y = 0; y < h; y++)
                vpass(mid, w3, nt, yi + y * nt, yw + y * nt, fout + y * w3);
        }
        biqa_float_to_u8(fout, nout, out);
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
