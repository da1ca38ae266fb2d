/* Defocus blur: the mean over a hard disk x^2 + y^2 <= radius^2 (no
 * anti-aliasing; QPT.md gives only the radius), reflect-101 borders, i.e.
 * cv2.filter2D with that kernel normalised. Each disk row is a run of
 * pixels, summed exactly from per-row prefix sums in integers: (2a+1)
 * cost per disk row becomes 2 lookups. Rounded half up. */
#include <math.h>
#include <stdlib.h>

#include "kernels/image/filter.h"
#include "kernels/image/ops.h"

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
            const uint8_t *q = src + 3 * biqa_reflect101(i - R, w);
            for (int c = 0; c < 3; c++)
                s[3 * (i + 1) + c] = s[3 * i + c] + q[c];
        }
    }
    const double div = 2.0 * count;
    for (int y = 0; y < h; y++) {
        for (int i = 0; i < n; i++)
            acc[i] = 0;
        for (int dy = -R; dy <= R; dy++) {
            const uint32_t *s = sums + (size_t)(y + R + dy) * stride;
            const uint32_t *hi = s + 3 * (R + half[dy + R] + 1), *lo = s + 3 * (R - half[dy + R]);
#pragma omp simd
            for (int i = 0; i < n; i++)
                acc[i] += hi[i] - lo[i];
        }
        uint8_t *o = out + (size_t)y * n;
        for (int i = 0; i < n; i++)
            o[i] = (uint8_t)((2.0 * acc[i] + count) / div); /* >= 0: truncation is floor */
    }
    free(sums);
    free(acc);
    return 0;
}
