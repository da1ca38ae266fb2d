/* Median blur over a k x k window, each channel separately, with edge
 * replication (as cv2.medianBlur, which uses BORDER_REPLICATE whatever the
 * size). The median is the largest m with #(window values < m) <= k^2 / 2.
 *   k <= 5: m is found bit by bit from the top (8 counting passes over the
 *           window), in byte lanes across a whole row: branch-free and
 *           vectorised.
 *   k >= 7: Huang's sliding histogram: per step one column of k values
 *           leaves the window and one enters; the median walks from its
 *           old value, tracking how many values lie below it, skipping
 *           16-value blocks through a coarse histogram. (About as fast as
 *           Debian's cv2.medianBlur; an O(1) Perreault-Hebert filter would
 *           be the next step if the median ever dominates a chain.) */
#include <stdlib.h>
#include <string.h>

#include "kernels/image/ops.h"

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

enum { LANES = 3 * 512 };

static void median_bitwise(const biqa_image *in, int k, const uint8_t *pad, size_t pstride,
                           uint8_t *out)
{
    const int w = in->w, h = in->h, r = k / 2, n = 3 * w;
    const uint8_t half = (uint8_t)(k * k / 2);
    uint8_t m[LANES], t[LANES], cnt[LANES];
    for (int y = 0; y < h; y++) {
        const uint8_t *rows[5];
        for (int a = 0; a < k; a++)
            rows[a] = pad + (size_t)clampi(y - r + a, 0, h - 1) * pstride;
        for (int i0 = 0; i0 < n; i0 += LANES) {
            const int len = n - i0 < LANES ? n - i0 : LANES;
            memset(m, 0, (size_t)len);
            for (int bit = 128; bit; bit >>= 1) {
#pragma omp simd
                for (int i = 0; i < len; i++) {
                    t[i] = (uint8_t)(m[i] | bit);
                    cnt[i] = 0;
                }
                for (int a = 0; a < k; a++)
                    for (int j = 0; j < k; j++) {
                        const uint8_t *s = rows[a] + i0 + 3 * j;
#pragma omp simd
                        for (int i = 0; i < len; i++)
                            cnt[i] = (uint8_t)(cnt[i] + (s[i] < t[i]));
                    }
#pragma omp simd
                for (int i = 0; i < len; i++)
                    m[i] = cnt[i] <= half ? t[i] : m[i];
            }
            memcpy(out + (size_t)y * n + i0, m, (size_t)len);
        }
    }
}

/* The three channels advance together: their histogram updates are
 * independent, so they overlap in the CPU instead of waiting on each other. */
static void median_huang(const biqa_image *in, int k, const uint8_t *pad, size_t pstride,
                         uint8_t *out)
{
    const int w = in->w, h = in->h, r = k / 2, half = k * k / 2;
    const uint8_t *rows[99]; /* degrade.c bounds k by 99 */
    for (int y = 0; y < h; y++) {
        for (int a = 0; a < k; a++)
            rows[a] = pad + (size_t)clampi(y - r + a, 0, h - 1) * pstride;
        uint8_t *o = out + (size_t)y * 3 * w;
        int hist[3][256] = {{0}}, coarse[3][16] = {{0}}, m[3] = {0, 0, 0}, lt[3] = {0, 0, 0};
        for (int a = 0; a < k; a++)
            for (int j = 0; j < 3 * k; j++) {
                int v = rows[a][j];
                hist[j % 3][v]++;
                coarse[j % 3][v >> 4]++;
            }
        for (int x = 0; x < w; x++) {
            if (x > 0)
                for (int a = 0; a < k; a++) {
                    const uint8_t *gone = rows[a] + 3 * (x - 1), *come = rows[a] + 3 * (x + 2 * r);
                    for (int c = 0; c < 3; c++) {
                        int u = gone[c], v = come[c];
                        hist[c][u]--, coarse[c][u >> 4]--;
                        hist[c][v]++, coarse[c][v >> 4]++;
                        lt[c] += (v < m[c]) - (u < m[c]);
                    }
                }
            /* m is the median while lt <= half < lt + hist[m], lt = #values < m. */
            for (int c = 0; c < 3; c++) {
                int mm = m[c], l = lt[c];
                const int *hc = hist[c], *cc = coarse[c];
                if (l > half) {
                    /* Down: whole 16-value blocks while they keep l > half. */
                    while (mm & 15 && l > half)
                        l -= hc[--mm];
                    while (l > half && l - cc[(mm >> 4) - 1] > half)
                        l -= cc[(mm >> 4) - 1], mm -= 16;
                    while (l > half)
                        l -= hc[--mm];
                } else {
                    while (mm & 15 && l + hc[mm] <= half)
                        l += hc[mm++];
                    while (!(mm & 15) && l + cc[mm >> 4] <= half)
                        l += cc[mm >> 4], mm += 16;
                    while (l + hc[mm] <= half)
                        l += hc[mm++];
                }
                m[c] = mm, lt[c] = l;
                o[3 * x + c] = (uint8_t)mm;
            }
        }
    }
}

int biqa_op_median(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                   uint8_t *out, biqa_error *err)
{
    (void)seed, (void)stream;
    const int w = in->w, h = in->h, k = (int)p[0], r = k / 2;
    /* The image with r replicated columns either side, so window column j
     * of output x is byte 3 (x + j) + c of a padded row. */
    const size_t pstride = (size_t)3 * (w + 2 * r);
    uint8_t *pad = malloc(pstride * h);
    if (!pad)
        return biqa_fail(err, "out of memory");
    for (int y = 0; y < h; y++)
        for (int x = -r; x < w + r; x++)
            memcpy(pad + y * pstride + 3 * (x + r),
                   in->px + ((size_t)y * w + clampi(x, 0, w - 1)) * 3, 3);
    if (k <= 5)
        median_bitwise(in, k, pad, pstride, out);
    else
        median_huang(in, k, pad, pstride, out);
    free(pad);
    return 0;
}
