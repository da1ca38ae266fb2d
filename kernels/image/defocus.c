/* Defocus blur: the mean over a hard disk x^2 + y^2 <= radius^2 (no
 * anti-aliasing; QPT.md gives only the radius), reflect-101 borders, i.e.
 * cv2.filter2D with that kernel normalised. Each disk row is a run of
 * pixels, summed exactly from per-row prefix sums in integers: (2a+1)
 * cost per disk row becomes 2 lookups. Rounded half up: the exact
 * floor((2 sum + count) / (2 count)), which one float division gives. Both
 * operands are exact in a float (radius <= 60: count < 11500, numerator
 * <= 511 count < 2^24); the quotient is at most 255.5, and when short of
 * an integer it is short by at least 1 / (2 count) > 2^-17, while float
 * rounding below 256 moves it by at most 2^-17: it never reaches the
 * integer above. */
#include <math.h>
#include <stdlib.h>

#include "kernels/image/filter.h"
#include "kernels/image/ops.h"

enum { STRIPE = 128 };

/* acc += hi - lo: one run of every pixel's disk row. */
BIQA_CLONES
static void add_runs(uint32_t *restrict acc, const uint32_t *hi, const uint32_t *lo, int n)
{
#pragma omp simd
    for (int i = 0; i < n; i++)
        acc[i] += hi[i] - lo[i];
}

BIQA_CLONES
static void to_mean(const uint32_t *acc, int n, int count, uint8_t *out)
{
    const float half = (float)count, den = 2.0f * (float)count;
#pragma omp simd
    for (int i = 0; i < n; i++)
        out[i] = (uint8_t)(int)((2.0f * (float)acc[i] + half) / den);
}

int biqa_op_defocus(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                    uint8_t *out, biqa_error *err)
{
    (void)seed, (void)stream;
    const int w = in->w, h = in->h, n = 3 * w;
    const double radius = p[0];
    const int R = (int)floor(radius);
    int half[2 * BIQA_MAX_RADIUS + 1], count = 0;
    for (int dy = -R; dy <= R; dy++) {
        half[dy + R] = (int)floor(sqrt(radius * radius - (double)dy * dy));
        count += 2 * half[dy + R] + 1;
    }
    /* sums row j, entry 3i + c: channel c of padded row j, pixels 0..i-1. */
    const size_t stride = (size_t)3 * (w + 2 * R + 1);
    uint32_t *sums = malloc(stride * (size_t)(h + 2 * R) * sizeof *sums);
    uint32_t *acc = malloc((size_t)n * sizeof *acc);
    if (!sums || !acc) {
        free(sums);
        free(acc);
        return biqa_fail(err, "out of memory for a %dx%d image", w, h);
    }
    for (int j = 0; j < h + 2 * R; j++) {
        const uint8_t *src = in->px + (size_t)biqa_reflect101(j - R, h) * n;
        uint32_t *s = sums + (size_t)j * stride;
        s[0] = s[1] = s[2] = 0;
        for (int i = 0; i < w + 2 * R; i++) {
            const int x = i - R;
            const uint8_t *q = src + 3 * (x >= 0 && x < w ? x : biqa_reflect101(x, w));
            s[3 * i + 3] = s[3 * i] + q[0];
            s[3 * i + 4] = s[3 * i + 1] + q[1];
            s[3 * i + 5] = s[3 * i + 2] + q[2];
        }
    }
    /* In stripes of STRIPE pixels, so that the 2R+1 rows of sums an output
     * row reads stay in the L1 cache for the next output row. */
    for (int x0 = 0; x0 < n; x0 += 3 * STRIPE) {
        const int m = n - x0 < 3 * STRIPE ? n - x0 : 3 * STRIPE;
        for (int y = 0; y < h; y++) {
            for (int i = 0; i < m; i++)
                acc[i] = 0;
            for (int dy = -R; dy <= R; dy++) {
                const uint32_t *s = sums + (size_t)(y + R + dy) * stride + x0;
                add_runs(acc, s + 3 * (R + half[dy + R] + 1), s + 3 * (R - half[dy + R]), m);
            }
            to_mean(acc, m, count, out + (size_t)y * n + x0);
        }
    }
    free(sums);
    free(acc);
    return 0;
}
