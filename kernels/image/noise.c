/* Noises: Gaussian per channel, Gaussian shared by the channels ("grey")
 * and multiplicative (speckle) noise; camera-like ISO noise is in iso.c.
 *
 * Additive Gaussian noise on 8-bit pixels is exactly an integer noise: with
 * x an integer, round(x + s z) = x + round(s z), so N = round(s z) is drawn
 * directly from its discrete distribution
 *   P(N = k) = Phi((k + 1/2) / s) - Phi((k - 1/2) / s),
 * by inverting its cumulative distribution with one 32-bit uniform (two per
 * u64 drawn). This is exact (to 2^-32 in probability) and needs no log or
 * cosine per pixel. Value i (channel value, or pixel for grey noise) uses
 * the high 32 bits of u64(seed, stream, i / 2) when i is even, the low 32
 * bits when odd. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "kernels/image/filter.h"
#include "kernels/image/ops.h"

/* Uniform 32-bit draw number i of the stream (two per u64). */
static inline uint32_t draw32(uint64_t seed, uint64_t stream, size_t i, uint64_t *cache)
{
    if (!(i & 1))
        *cache = biqa_rng_u64(seed, stream, i / 2);
    return i & 1 ? (uint32_t)*cache : (uint32_t)(*cache >> 32);
}

/* Inverse-CDF sampler of N = round(s z) on -K..K. A value u (32 bits) maps
 * to the smallest k with u < thr[k + K]; guide[u >> 20] is where to start
 * looking (fine enough that the search is rarely more than one step). */
typedef struct dgauss {
    int K;
    uint64_t *thr;
    int guide[4096];
} dgauss;

static int dgauss_init(dgauss *g, double s, biqa_error *err)
{
    g->K = (int)ceil(8 * s) + 1;
    g->thr = malloc((size_t)(2 * g->K + 1) * sizeof *g->thr);
    if (!g->thr)
        return biqa_fail(err, "out of memory");
    for (int k = -g->K; k <= g->K; k++) {
        double cdf = 0.5 * erfc(-(k + 0.5) / (s * M_SQRT2));
        g->thr[k + g->K] = k == g->K ? (uint64_t)1 << 32 : (uint64_t)llround(cdf * 0x1p32);
    }
    for (int b = 0, k = 0; b < 4096; b++) {
        while (g->thr[k] <= (uint64_t)b << 20)
            k++;
        g->guide[b] = k;
    }
    return 0;
}

static inline int dgauss_draw(const dgauss *g, uint32_t u)
{
    int k = g->guide[u >> 20];
    while (u >= g->thr[k])
        k++;
    return k - g->K;
}

static inline uint8_t clip(int v)
{
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static int gaussian(const biqa_image *in, double s, int grey, uint64_t seed, uint64_t stream,
                    uint8_t *out, biqa_error *err)
{
    if (s <= 0) {
        memcpy(out, in->px, (size_t)3 * in->w * in->h);
        return 0;
    }
    dgauss g;
    if (dgauss_init(&g, s, err) < 0)
        return -1;
    const size_t npx = (size_t)in->w * in->h;
    uint64_t cache = 0;
    for (size_t i = 0; i < npx; i++) {
        const uint8_t *x = in->px + 3 * i;
        uint8_t *o = out + 3 * i;
        if (grey) {
            int v = dgauss_draw(&g, draw32(seed, stream, i, &cache));
            for (int c = 0; c < 3; c++)
                o[c] = clip(x[c] + v);
        } else {
            for (int c = 0; c < 3; c++)
                o[c] = clip(x[c] + dgauss_draw(&g, draw32(seed, stream, 3 * i + c, &cache)));
        }
    }
    free(g.thr);
    return 0;
}

int biqa_op_noise(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                  uint8_t *out, biqa_error *err)
{
    return gaussian(in, p[0], 0, seed, stream, out, err);
}

int biqa_op_grey_noise(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                       uint8_t *out, biqa_error *err)
{
    return gaussian(in, p[0], 1, seed, stream, out, err);
}

/* out = x (1 + a (2u - 1)), u uniform in [0, 1) from 32 bits (value i as
 * for the Gaussian noise): x times U(1 - a, 1 + a), per channel. */
int biqa_op_speckle(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                    uint8_t *out, biqa_error *err)
{
    (void)err;
    const size_t n = (size_t)3 * in->w * in->h;
    const float a = (float)p[0];
    uint64_t cache = 0;
    for (size_t i = 0; i < n; i++) {
        float u = (float)draw32(seed, stream, i, &cache) * 0x1p-32f;
        out[i] = biqa_to_u8(in->px[i] * (1 + a * (2 * u - 1)));
    }
    return 0;
}
