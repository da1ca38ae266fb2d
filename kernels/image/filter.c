#include "kernels/image/filter.h"

#include <math.h>
#include <string.h>

void biqa_u8_to_float(const uint8_t *in, size_t n, float *out)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        out[i] = in[i];
}

void biqa_float_to_u8(const float *in, size_t n, uint8_t *out)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        out[i] = biqa_to_u8(in[i]);
}

int biqa_blur_radius(double sigma)
{
    int r = (int)ceil(3 * sigma);
    return r < 1 ? 1 : r > BIQA_MAX_RADIUS ? BIQA_MAX_RADIUS : r;
}

void biqa_gaussian_kernel(double sigma, int r, float *k)
{
    double w[2 * BIQA_MAX_RADIUS + 1], sum = 0;
    for (int i = -r; i <= r; i++)
        sum += w[i + r] = exp(-(double)i * i / (2 * sigma * sigma));
    for (int i = 0; i <= 2 * r; i++)
        k[i] = (float)(w[i] / sum);
}

/* row = in's row y with r reflected pixels either side. */
static void pad_row(const float *in, int w, int r, float *row)
{
    memcpy(row + 3 * r, in, (size_t)3 * w * sizeof *row);
    for (int x = -r; x < 0; x++)
        memcpy(row + 3 * (x + r), in + 3 * biqa_reflect101(x, w), 3 * sizeof *row);
    for (int x = w; x < w + r; x++)
        memcpy(row + 3 * (x + r), in + 3 * biqa_reflect101(x, w), 3 * sizeof *row);
}

void biqa_sep_filter(const float *in, int w, int h, const float *k, int r, float *tmp,
                     float *row, float *out)
{
    const int n = 3 * w;
    for (int y = 0; y < h; y++) {
        pad_row(in + (size_t)y * n, w, r, row);
        float *t = tmp + (size_t)y * n;
        const float kc = k[r];
#pragma omp simd
        for (int i = 0; i < n; i++)
            t[i] = kc * row[i + 3 * r];
        /* Symmetric taps in pairs (one multiply for two samples), two pairs
         * per pass over the row. */
        int j = 0;
        for (; j + 1 < r; j += 2) {
            const float k0 = k[j], k1 = k[j + 1];
            const float *a0 = row + 3 * j, *b0 = row + 3 * (2 * r - j);
            const float *a1 = a0 + 3, *b1 = b0 - 3;
#pragma omp simd
            for (int i = 0; i < n; i++)
                t[i] += k0 * (a0[i] + b0[i]) + k1 * (a1[i] + b1[i]);
        }
        if (j < r) {
            const float kj = k[j];
            const float *a = row + 3 * j, *b = row + 3 * (2 * r - j);
#pragma omp simd
            for (int i = 0; i < n; i++)
                t[i] += kj * (a[i] + b[i]);
        }
    }
    for (int y = 0; y < h; y++) {
        float *o = out + (size_t)y * n;
        const float *c = tmp + (size_t)y * n;
        const float kc = k[r];
#pragma omp simd
        for (int i = 0; i < n; i++)
            o[i] = kc * c[i];
        int j = 0;
        for (; j + 1 < r; j += 2) {
            const float k0 = k[j], k1 = k[j + 1];
            const float *a0 = tmp + (size_t)biqa_reflect101(y - r + j, h) * n;
            const float *b0 = tmp + (size_t)biqa_reflect101(y + r - j, h) * n;
            const float *a1 = tmp + (size_t)biqa_reflect101(y - r + j + 1, h) * n;
            const float *b1 = tmp + (size_t)biqa_reflect101(y + r - j - 1, h) * n;
#pragma omp simd
            for (int i = 0; i < n; i++)
                o[i] += k0 * (a0[i] + b0[i]) + k1 * (a1[i] + b1[i]);
        }
        if (j < r) {
            const float kj = k[j];
            const float *a = tmp + (size_t)biqa_reflect101(y - r + j, h) * n;
            const float *b = tmp + (size_t)biqa_reflect101(y + r - j, h) * n;
#pragma omp simd
            for (int i = 0; i < n; i++)
                o[i] += kj * (a[i] + b[i]);
        }
    }
}

void biqa_conv_taps(const uint8_t *in, int w, int h, const biqa_tap *taps, int ntaps, int r,
                    float *pad, uint8_t *out)
{
    const int pw = w + 2 * r, n = 3 * w;
    for (int y = -r; y < h + r; y++) {
        const uint8_t *src = in + (size_t)biqa_reflect101(y, h) * n;
        float *dst = pad + (size_t)(y + r) * 3 * pw;
        for (int x = -r; x < w + r; x++) {
            const uint8_t *p = src + 3 * biqa_reflect101(x, w);
            float *q = dst + 3 * (x + r);
            q[0] = p[0], q[1] = p[1], q[2] = p[2];
        }
    }
    /* Each output row accumulates in a stack buffer, 1024 pixels at a time,
     * four taps per pass (vectorised over the row; fewer loads and stores
     * of the accumulator than one tap per pass). */
    float acc[3 * 1024];
    for (int y = 0; y < h; y++) {
        uint8_t *o = out + (size_t)y * n;
        for (int x0 = 0; x0 < n; x0 += 3 * 1024) {
            int m = n - x0 < 3 * 1024 ? n - x0 : 3 * 1024;
            memset(acc, 0, (size_t)m * sizeof *acc);
            const float *s[4];
            float wt[4];
            for (int t = 0; t < ntaps; t += 4) {
                for (int j = 0; j < 4; j++) {
                    const biqa_tap *tap = &taps[t + j < ntaps ? t + j : t];
                    wt[j] = t + j < ntaps ? tap->w : 0.0f;
                    s[j] = pad + ((size_t)(y + r + tap->dy) * pw + r + tap->dx) * 3 + x0;
                }
                const float *s0 = s[0], *s1 = s[1], *s2 = s[2], *s3 = s[3];
                const float w0 = wt[0], w1 = wt[1], w2 = wt[2], w3 = wt[3];
#pragma omp simd
                for (int i = 0; i < m; i++)
                    acc[i] += w0 * s0[i] + w1 * s1[i] + w2 * s2[i] + w3 * s3[i];
            }
#pragma omp simd
            for (int i = 0; i < m; i++)
                o[x0 + i] = biqa_to_u8(acc[i]);
        }
    }
}
