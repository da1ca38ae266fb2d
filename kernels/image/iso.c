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

static void rgb_to_hls(const float *rgb, float *hls)
{
    float r = rgb[0], g = rgb[1], b = rgb[2];
    float mx = r > g ? r : g, mn = r < g ? r : g;
    mx = mx > b ? mx : b;
    mn = mn < b ? mn : b;
    float d = mx - mn;
    float l = (mx + mn) / 2, h = 0, s = 0;
    if (d > 0) {
        s = l < 0.5f ? d / (mx + mn) : d / (2 - mx - mn);
        h = mx == r ? (g - b) / d : mx == g ? (b - r) / d + 2 : (r - g) / d + 4;
        h *= 60;
        if (h < 0)
            h += 360;
    }
    hls[0] = h, hls[1] = l, hls[2] = s;
}

static void hls_to_rgb(const float *hls, float *rgb)
{
    float h = hls[0], l = hls[1], s = hls[2];
    if (s == 0) {
        rgb[0] = rgb[1] = rgb[2] = l;
        return;
    }
    float p2 = l <= 0.5f ? l * (1 + s) : l + s - l * s, p1 = 2 * l - p2, c = p2 - p1;
    h /= 60;
    int sector = (int)floorf(h);
    float f = h - (float)sector;
    sector %= 6;
    float up = p1 + c * f, down = p1 + c * (1 - f);
    static const int order[6][3] = {{0, 1, 2}, {3, 0, 2}, {2, 0, 1},
                                    {2, 3, 0}, {1, 2, 0}, {0, 2, 3}};
    const float tab[4] = {p2, up, p1, down};
    for (int ch = 0; ch < 3; ch++)
        rgb[ch] = tab[order[sector][ch]];
}

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

/* Adds the noise to one pixel. */
static void iso_pixel(const uint8_t *x, int count, float hue_noise, uint8_t *o)
{
    float rgb[3] = {x[0] / 255.0f, x[1] / 255.0f, x[2] / 255.0f}, hls[3];
    rgb_to_hls(rgb, hls);
    float h = hls[0] + hue_noise;
    if (h < 0 || h >= 360) {
        h = fmodf(h, 360.0f);
        if (h < 0)
            h += 360;
    }
    hls[0] = h;
    hls[1] += (float)count / 255 * (1 - hls[1]);
    hls_to_rgb(hls, rgb);
    for (int c = 0; c < 3; c++)
        o[c] = biqa_to_u8(rgb[c] * 255);
}

int biqa_op_iso(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                uint8_t *out, biqa_error *err)
{
    const size_t npx = (size_t)in->w * in->h;
    /* L = (max + min) / 2 of the [0, 1] values; its population std. */
    double sum = 0, sum2 = 0;
    for (size_t i = 0; i < npx; i++) {
        const uint8_t *x = in->px + 3 * i;
        int mx = x[0] > x[1] ? x[0] : x[1], mn = x[0] < x[1] ? x[0] : x[1];
        mx = mx > x[2] ? mx : x[2];
        mn = mn < x[2] ? mn : x[2];
        double l = (mx + mn) / 510.0;
        sum += l;
        sum2 += l * l;
    }
    const double mean = sum / (double)npx, var = sum2 / (double)npx - mean * mean;
    poisson pois;
    if (poisson_init(&pois, sqrt(var > 0 ? var : 0) * p[1] * 255, err) < 0)
        return -1;
    const double hue_std = p[0] * 360 * p[1];
    for (size_t j = 0; 2 * j < npx; j++) {
        const uint64_t a = biqa_rng_u64(seed, stream, 2 * j), b = biqa_rng_u64(seed, stream, 2 * j + 1);
        const double u1 = ((double)(b >> 32) + 0.5) * 0x1p-32, u2 = (double)(b & 0xFFFFFFFFu) * 0x1p-32;
        const double radius = hue_std * sqrt(-2 * log(u1)), angle = 2 * M_PI * u2;
        iso_pixel(in->px + 6 * j, poisson_draw(&pois, (uint32_t)(a >> 32)),
                  (float)(radius * cos(angle)), out + 6 * j);
        if (2 * j + 1 < npx)
            iso_pixel(in->px + 6 * j + 3, poisson_draw(&pois, (uint32_t)a),
                      (float)(radius * sin(angle)), out + 6 * j + 3);
    }
    free(pois.thr);
    return 0;
}
