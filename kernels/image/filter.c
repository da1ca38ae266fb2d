#include "kernels/image/filter.h"

#include <math.h>
#include <string.h>

BIQA_CLONES
void biqa_u8_to_float(const uint8_t *in, size_t n, float *out)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        out[i] = in[i];
}

BIQA_CLONES
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

/* row = a row of in (floats) or in8 (bytes) with r reflected pixels
 * either side. */
static void pad_row(const float *in, const uint8_t *in8, int w, int r, float *row)
{
    if (in)
        memcpy(row + 3 * r, in, (size_t)3 * w * sizeof *row);
    else
        biqa_u8_to_float(in8, (size_t)3 * w, row + 3 * r);
    for (int x = -r; x < 0; x++)
        memcpy(row + 3 * (x + r), row + 3 * (biqa_reflect101(x, w) + r), 3 * sizeof *row);
    for (int x = w; x < w + r; x++)
        memcpy(row + 3 * (x + r), row + 3 * (biqa_reflect101(x, w) + r), 3 * sizeof *row);
}

/* t = the kernel along a padded row: kc row, then the symmetric taps in
 * pairs (one multiply for two samples), two pairs per pass. */
BIQA_CLONES
static void hrow(const float *row, int n, const float *k, int r, float *restrict t)
{
    const float kc = k[r];
#pragma omp simd
    for (int i = 0; i < n; i++)
        t[i] = kc * row[i + 3 * r];
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

/* o = the kernel down the rows: rows[j] is the horizontal pass of the row
 * at offset j - r, in the same order as hrow. */
BIQA_CLONES
static void vrow(const float *const *rows, int n, const float *k, int r, float *restrict o)
{
    const float *c = rows[r];
    const float kc = k[r];
#pragma omp simd
    for (int i = 0; i < n; i++)
        o[i] = kc * c[i];
    int j = 0;
    for (; j + 1 < r; j += 2) {
        const float k0 = k[j], k1 = k[j + 1];
        const float *a0 = rows[j], *b0 = rows[2 * r - j];
        const float *a1 = rows[j + 1], *b1 = rows[2 * r - j - 1];
#pragma omp simd
        for (int i = 0; i < n; i++)
            o[i] += k0 * (a0[i] + b0[i]) + k1 * (a1[i] + b1[i]);
    }
    if (j < r) {
        const float kj = k[j];
        const float *a = rows[j], *b = rows[2 * r - j];
#pragma omp simd
        for (int i = 0; i < n; i++)
            o[i] += kj * (a[i] + b[i]);
    }
}

/* The horizontal pass is kept for the last 2r + 1 rows only (row i in slot
 * i % (2r + 1)), made when the vertical pass first needs it, so that it
 * stays in the cache. The rows one output row needs (at most 2r + 1
 * distinct, reflected or not) never share a slot. */
void biqa_sep_filter(const float *in, const uint8_t *in8, int w, int h, const float *k, int r,
                     float *ring, float *row, float *out, uint8_t *out8)
{
    const int n = 3 * w, nslot = 2 * r + 1;
    int held[2 * BIQA_MAX_RADIUS + 1];
    const float *rows[2 * BIQA_MAX_RADIUS + 1];
    for (int s = 0; s < nslot; s++)
        held[s] = -1;
    for (int y = 0; y < h; y++) {
        for (int j = 0; j < nslot; j++) {
            const int src = biqa_reflect101(y - r + j, h), s = src % nslot;
            if (held[s] != src) {
                pad_row(in ? in + (size_t)src * n : NULL, in ? NULL : in8 + (size_t)src * n, w,
                        r, row);
                hrow(row, n, k, r, ring + (size_t)s * n);
                held[s] = src;
            }
            rows[j] = ring + (size_t)s * n;
        }
        if (out) {
            vrow(rows, n, k, r, out + (size_t)y * n);
        } else {
            vrow(rows, n, k, r, row);
            biqa_float_to_u8(row, (size_t)n, out8 + (size_t)y * n);
        }
    }
}

/* acc (m values) += ((w0 s0 + w1 s1) + w2 s2) + w3 s3 for each group of
 * four taps (the last group padded with zero weights, which add +0);
 * rows[j] is the padded row at offset j - r, from value x0 on. */
BIQA_CLONES
static void taps_row(const float *const *rows, const biqa_tap *taps, int ntaps, int r, int m,
                     float *restrict acc)
{
    memset(acc, 0, (size_t)m * sizeof *acc);
    for (int t = 0; t < ntaps; t += 4) {
        const float *s[4];
        float wt[4];
        for (int j = 0; j < 4; j++) {
            const biqa_tap *tap = &taps[t + j < ntaps ? t + j : t];
            wt[j] = t + j < ntaps ? tap->w : 0.0f;
            s[j] = rows[r + tap->dy] + 3 * (r + tap->dx);
        }
        const float *s0 = s[0], *s1 = s[1], *s2 = s[2], *s3 = s[3];
        const float w0 = wt[0], w1 = wt[1], w2 = wt[2], w3 = wt[3];
#pragma omp simd
        for (int i = 0; i < m; i++)
            acc[i] += w0 * s0[i] + w1 * s1[i] + w2 * s2[i] + w3 * s3[i];
    }
}

/* The padded rows are kept for the last 2r + 1 rows only (padded row j,
 * -r <= j < h + r, in slot (j + r) % (2r + 1)), made in order as the
 * output rows move down, so that they stay in the cache. */
void biqa_conv_taps(const uint8_t *in, int w, int h, const biqa_tap *taps, int ntaps, int r,
                    float *ring, uint8_t *out)
{
    const int n = 3 * w, nslot = 2 * r + 1;
    const size_t pw3 = (size_t)3 * (w + 2 * r);
    for (int j = -r; j < r; j++)
        pad_row(NULL, in + (size_t)biqa_reflect101(j, h) * n, w, r,
                ring + (size_t)((j + r) % nslot) * pw3);
    /* Each output row accumulates in a stack buffer, 1024 pixels at a time,
     * four taps per pass (vectorised over the row; fewer loads and stores
     * of the accumulator than one tap per pass). */
    float acc[3 * 1024];
    const float *rows[2 * BIQA_MAX_RADIUS + 1];
    for (int y = 0; y < h; y++) {
        pad_row(NULL, in + (size_t)biqa_reflect101(y + r, h) * n, w, r,
                ring + (size_t)((y + 2 * r) % nslot) * pw3);
        for (int x0 = 0; x0 < n; x0 += 3 * 1024) {
            const int m = n - x0 < 3 * 1024 ? n - x0 : 3 * 1024;
            for (int j = 0; j < nslot; j++)
                rows[j] = ring + (size_t)((y + j) % nslot) * pw3 + x0;
            taps_row(rows, taps, ntaps, r, m, acc);
            biqa_float_to_u8(acc, (size_t)m, out + (size_t)y * n + x0);
        }
    }
}
