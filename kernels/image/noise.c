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

/* Uniform 32-bit draws 2 p0 .. 2 p0 + 2 n - 1 of the stream: draw 2p is the
 * high half of u64 p, draw 2p + 1 its low half. A vectorised loop. */
enum { BLOCK = 2048 }; /* draws per block, even */

BIQA_CLONES
static void draws32(uint64_t key, uint64_t p0, int n, uint32_t *restrict u)
{
#pragma omp simd
    for (int j = 0; j < n; j++) {
        const uint64_t v = biqa_rng_next(key, p0 + (uint64_t)j);
        u[2 * j] = (uint32_t)(v >> 32);
        u[2 * j + 1] = (uint32_t)v;
    }
}

/* Inverse-CDF sampler of N = round(s z) on -K..K. A value u (32 bits) maps
 * to the smallest k with u < thr[k + K]; guide[u >> 20] is where to start
 * looking (fine enough that the search is rarely more than one step), with
 * its first threshold beside it (clamped to 32 bits: u >= it is then
 * checked against thr itself) so that the usual draw is one lookup. */
typedef struct dgauss {
    int K;
    uint64_t *thr;
    struct {
        int k;
        uint32_t thr;
    } guide[4096];
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
        g->guide[b].k = k;
        g->guide[b].thr = g->thr[k] > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)g->thr[k];
    }
    return 0;
}

static inline int dgauss_draw(const dgauss *g, uint32_t u)
{
    int k = g->guide[u >> 20].k;
    if (u >= g->guide[u >> 20].thr)
        while (u >= g->thr[k])
            k++;
    return k - g->K;
}

static inline uint8_t clip(int v)
{
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static int gaussian(const biqa_image *in, double s, int grey, uint64_t seed, uint64_t stream,
                    uint8_t *restrict out, biqa_error *err)
{
    const size_t npx = (size_t)in->w * in->h;
    if (s <= 0) {
        memcpy(out, in->px, 3 * npx);
        return 0;
    }
    dgauss g;
    if (dgauss_init(&g, s, err) < 0)
        return -1;
    /* Draw i goes to byte i, or with grey to the three bytes of pixel i. */
    const size_t ndraw = grey ? npx : 3 * npx;
    const uint64_t key = biqa_rng_key(seed, stream);
    const uint8_t *restrict px = in->px;
    uint32_t u[BLOCK];
    for (size_t i0 = 0; i0 < ndraw; i0 += BLOCK) {
        const int n = ndraw - i0 < BLOCK ? (int)(ndraw - i0) : BLOCK;
        draws32(key, i0 / 2, (n + 1) / 2, u);
        if (grey)
            for (int i = 0; i < n; i++) {
                const int v = dgauss_draw(&g, u[i]);
                const uint8_t *x = px + 3 * (i0 + i);
                uint8_t *o = out + 3 * (i0 + i);
                o[0] = clip(x[0] + v), o[1] = clip(x[1] + v), o[2] = clip(x[2] + v);
            }
        else
            for (int i = 0; i < n; i++)
                out[i0 + i] = clip(px[i0 + i] + dgauss_draw(&g, u[i]));
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
BIQA_CLONES
static void speckle(const uint8_t *x, const uint32_t *u, int n, float a, uint8_t *out)
{
#pragma omp simd
    for (int i = 0; i < n; i++)
        out[i] = biqa_to_u8(x[i] * (1 + a * (2 * ((float)u[i] * 0x1p-32f) - 1)));
}

int biqa_op_speckle(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                    uint8_t *out, biqa_error *err)
{
    (void)err;
    const size_t n = (size_t)3 * in->w * in->h;
    const uint64_t key = biqa_rng_key(seed, stream);
    uint32_t u[BLOCK];
    for (size_t i0 = 0; i0 < n; i0 += BLOCK) {
        const int m = n - i0 < BLOCK ? (int)(n - i0) : BLOCK;
        draws32(key, i0 / 2, (m + 1) / 2, u);
        speckle(in->px + i0, u, m, (float)p[0], out + i0);
    }
    return 0;
}
