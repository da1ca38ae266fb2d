/* ISO noise, as albumentations' ISONoise(color_shift, intensity), which is
 * where QPT.md's (colour shift, intensity) pairs come from: in HLS space
 * (OpenCV's float conventions: H in degrees, L and S in [0, 1]),
 *   L += P / 255 * (1 - L),  P ~ Poisson(std(L) * intensity * 255),
 *   H += G,                  G ~ Normal(0, colour_shift * 360 * intensity),
 * with std(L) the population std of L over the image, H wrapped into
 * [0, 360). Unlike albumentations the result is rounded and clipped, not
 * truncated (which wraps when L passes 1). Pixels go in pairs (2j, 2j+1):
 * u64(seed, stream, 2j) gives their Poisson draws, by inverting the CDF with
 * its high and its low 32 bits; u64(seed, stream, 2j+1) gives their normal
 * draws, by Box-Muller (u1 from the high 32 bits, u2 from the low; the
 * cosine branch for pixel 2j, the sine branch for 2j+1). */
#include <math.h>
#include <stdlib.h>

#include "core/rng.h"
#include "kernels/image/filter.h"
#include "kernels/image/ops.h"

/* Inverse-CDF sampler of Poisson(lambda) from 32-bit uniforms: the
 * smallest k with u < thr[k]; guide[u >> 20] is where to start looking. */
typedef struct poisson {
    int kmax;
    uint64_t *thr;
    int guide[4096];
} poisson;

static int poisson_init(poisson *p, double lambda, biqa_error *err)
{
    /* Beyond lambda + 20 sqrt(lambda) + 20 the mass is far below 2^-32. */
    p->kmax = (int)ceil(lambda + 20 * sqrt(lambda) + 20);
    p->thr = malloc((size_t)(p->kmax + 1) * sizeof *p->thr);
    if (!p->thr)
        return biqa_fail(err, "out of memory");
    double acc = 0, logp = -lambda; /* log P(k), by log P(k-1) + log(lambda / k) */
    for (int k = 0; k <= p->kmax; k++) {
        if (k > 0)
            logp += log(lambda / k);
        acc += lambda > 0 ? exp(logp) : k == 0;
        double t = acc * 0x1p32;
        p->thr[k] = k == p->kmax || t >= 0x1p32 ? (uint64_t)1 << 32 : (uint64_t)llround(t);
    }
    for (int b = 0, k = 0; b < 4096; b++) {
        while (p->thr[k] <= (uint64_t)b << 20)
            k++;
        p->guide[b] = k;
    }
    return 0;
}

static inline int poisson_draw(const poisson *p, uint32_t u)
{
    int k = p->guide[u >> 20];
    while (u >= p->thr[k])
        k++;
    return k;
}

/* Pixels are worked on in blocks: the random draws first (scalar: libm's
 * log, sqrt, sin and cos), then the colour arithmetic over the block in
 * vectorisable loops whose selects take the place of the branches of the
 * per-pixel formulas (OpenCV's float RGB <-> HLS), with every value
 * computed by the same float operations in the same order. */
enum { BLOCK = 512 };

typedef struct iso_block {
    float r[BLOCK], g[BLOCK], b[BLOCK]; /* the output, RGB in [0, 1] */
    float h[BLOCK], l[BLOCK], s[BLOCK]; /* HLS after the noise */
    float noise[BLOCK + 1];             /* hue noise, degrees */
    float count[BLOCK + 1];             /* Poisson draws */
    double radius[BLOCK / 2], angle[BLOCK / 2]; /* Box-Muller, per pair */
} iso_block;

/* radius = hue_std sqrt(-2 log u1), from log u1. */
BIQA_CLONES
static void box_muller_radius(double *radius, int n, double hue_std)
{
#pragma omp simd
    for (int i = 0; i < n; i++)
        radius[i] = hue_std * sqrt(-2 * radius[i]);
}

/* RGB -> HLS, plus the noise: h + noise (not wrapped yet),
 * l + count / 255 (1 - l). */
BIQA_CLONES
static void iso_to_hls(const uint8_t *px, int n, iso_block *restrict q)
{
#pragma omp simd
    for (int i = 0; i < n; i++) {
        const float r = px[3 * i] / 255.0f, g = px[3 * i + 1] / 255.0f, b = px[3 * i + 2] / 255.0f;
        float mx = r > g ? r : g, mn = r < g ? r : g;
        mx = mx > b ? mx : b;
        mn = mn < b ? mn : b;
        const float d = mx - mn, l = (mx + mn) / 2;
        /* d = 0 (grey): h = s = 0; the divisions by 0 are discarded. */
        const float s = d / (l < 0.5f ? mx + mn : 2 - mx - mn);
        const float num = mx == r ? g - b : mx == g ? b - r : r - g;
        const float off = mx == r ? 0.0f : mx == g ? 2.0f : 4.0f;
        float h = (num / d + off) * 60;
        h = h < 0 ? h + 360 : h;
        q->h[i] = (d > 0 ? h : 0) + q->noise[i];
        q->l[i] = l + q->count[i] / 255 * (1 - l);
        q->s[i] = d > 0 ? s : 0;
    }
}

/* The hue wraps into [0, 360) as fmodf(h, 360), + 360 when negative.
 * iso_to_rgb does it for h in [-360, 720), where fmodf is h or h - 360
 * (exact, by Sterbenz's lemma); the noise beyond +-360 degrees (never at
 * the table's levels) is wrapped here first. A result of 360 (h + 360
 * rounded up) then reads as 0: the same sector 0, f = 0. */
static void iso_wrap(int n, iso_block *q)
{
    for (int i = 0; i < n; i++)
        if (!(q->noise[i] >= -360 && q->noise[i] < 360)) {
            const float h = fmodf(q->h[i], 360.0f);
            q->h[i] = h < 0 ? h + 360 : h;
        }
}

/* HLS -> RGB bytes. s = 0 needs no case of its own: then p1 = p2 = l,
 * c = 0 and every channel is l. The channels' roles in the hue's sector
 * are kernels/image/ops.h's. */
BIQA_CLONES
static void iso_to_rgb(iso_block *restrict q, int n, uint8_t *restrict out)
{
#pragma omp simd
    for (int i = 0; i < n; i++) {
        const float l = q->l[i], s = q->s[i];
        const float lo = l * (1 + s), hi = l + s - l * s;
        const float p2 = l <= 0.5f ? lo : hi, p1 = 2 * l - p2, c = p2 - p1;
        const float h0 = q->h[i], below = h0 + 360, above = h0 - 360;
        const float h = (h0 < 0 ? below : h0 >= 360 ? above : h0) / 60;
        const int sector = (int)h; /* h >= 0: truncation is floorf */
        const float f = h - (float)sector;
        const float up = p1 + c * f, down = p1 + c * (1 - f);
        q->r[i] = biqa_role_pick(BIQA_ROLE_R >> 2 * sector & 3, p2, up, p1, down);
        q->g[i] = biqa_role_pick(BIQA_ROLE_G >> 2 * sector & 3, p2, up, p1, down);
        q->b[i] = biqa_role_pick(BIQA_ROLE_B >> 2 * sector & 3, p2, up, p1, down);
    }
#pragma omp simd
    for (int i = 0; i < n; i++) {
        out[3 * i] = biqa_to_u8(q->r[i] * 255);
        out[3 * i + 1] = biqa_to_u8(q->g[i] * 255);
        out[3 * i + 2] = biqa_to_u8(q->b[i] * 255);
    }
}

int biqa_op_iso(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                uint8_t *out, biqa_error *err)
{
    const size_t npx = (size_t)in->w * in->h;
    /* L = (max + min) / 2 of the [0, 1] values; its population std. */
    double lvalue[511], sum = 0, sum2 = 0;
    for (int v = 0; v < 511; v++)
        lvalue[v] = v / 510.0;
    for (size_t i = 0; i < npx; i++) {
        const uint8_t *x = in->px + 3 * i;
        int mx = x[0] > x[1] ? x[0] : x[1], mn = x[0] < x[1] ? x[0] : x[1];
        mx = mx > x[2] ? mx : x[2];
        mn = mn < x[2] ? mn : x[2];
        const double l = lvalue[mx + mn];
        sum += l;
        sum2 += l * l;
    }
    const double mean = sum / (double)npx, var = sum2 / (double)npx - mean * mean;
    poisson pois;
    iso_block *q = malloc(sizeof *q);
    if (!q || poisson_init(&pois, sqrt(var > 0 ? var : 0) * p[1] * 255, err) < 0) {
        free(q);
        return q ? -1 : biqa_fail(err, "out of memory");
    }
    const double hue_std = p[0] * 360 * p[1];
    const uint64_t key = biqa_rng_key(seed, stream);
    for (size_t i0 = 0; i0 < npx; i0 += BLOCK) {
        const int n = npx - i0 < BLOCK ? (int)(npx - i0) : BLOCK;
        /* Pair i / 2: u64 2j gives the Poisson draws, u64 2j + 1 the normal
         * ones (its u1 goes through log here, then sqrt in a vector loop). */
        double *radius = q->radius, *angle = q->angle;
        const int npair = (n + 1) / 2;
        for (int i = 0; i < npair; i++) {
            const uint64_t j = i0 / 2 + (uint64_t)i;
            const uint64_t a = biqa_rng_next(key, 2 * j), b = biqa_rng_next(key, 2 * j + 1);
            radius[i] = log(((double)(b >> 32) + 0.5) * 0x1p-32);
            angle[i] = 2 * M_PI * ((double)(b & 0xFFFFFFFFu) * 0x1p-32);
            q->count[2 * i] = (float)poisson_draw(&pois, (uint32_t)(a >> 32));
            q->count[2 * i + 1] = (float)poisson_draw(&pois, (uint32_t)a);
        }
        box_muller_radius(radius, npair, hue_std);
        for (int i = 0; i < npair; i++) {
            q->noise[2 * i] = (float)(radius[i] * cos(angle[i]));
            q->noise[2 * i + 1] = (float)(radius[i] * sin(angle[i]));
        }
        iso_to_hls(in->px + 3 * i0, n, q);
        iso_wrap(n, q);
        iso_to_rgb(q, n, out + 3 * i0);
    }
    free(pois.thr);
    free(q);
    return 0;
}
