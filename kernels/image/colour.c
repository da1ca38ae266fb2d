/* Colour degradations. Each is a formula on 8-bit values computed in
 * double and rounded half up (floor(v + 0.5)), clipped to [0, 255]; the
 * per-value ones are a 256-entry table built once per call.
 *   brightness  x * f
 *   contrast    m + f (x - m), m = the image's mean grey
 *               (299 sum R + 587 sum G + 114 sum B) / (1000 pixels),
 *               BT.601 luma weights in exact integer sums
 *   gamma       255 (x / 255)^(1/g): the display-gamma convention (the
 *               "gamma" of image editors), so "gamma+" (g > 1) brightens
 *               mid-tones and "gamma-" darkens them, the same direction
 *               as "bright+" / "bright-"; 0 and 255 are fixed points
 *   saturation  y + f (x - y) per pixel, y = (299 R + 587 G + 114 B) / 1000
 *               (the pixel's BT.601 grey, unrounded): blend away from grey
 *   hue         rotation of the HSV hue by the given degrees, V and S kept
 *               (HSV as torchvision's adjust_hue and OpenCV's float HSV;
 *               it leaves greys alone, unlike a YIQ rotation it keeps
 *               every pixel's max and min channel values) */
#include <math.h>

#include "kernels/image/filter.h"
#include "kernels/image/ops.h"

enum { BLOCK = 256 }; /* pixels per block of the vectorised loops */

/* floor(v + 0.5) clipped; truncation equals floor once v + 0.5 >= 0. */
static uint8_t round_clip(double v)
{
    return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)(int)(v + 0.5);
}

static void apply_lut(const biqa_image *in, const uint8_t *lut, uint8_t *restrict out)
{
    const size_t n = (size_t)3 * in->w * in->h;
    const uint8_t *restrict px = in->px;
#pragma GCC unroll 8
    for (size_t i = 0; i < n; i++)
        out[i] = lut[px[i]];
}

int biqa_op_brightness(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                       uint8_t *out, biqa_error *err)
{
    (void)seed, (void)stream, (void)err;
    uint8_t lut[256];
    for (int v = 0; v < 256; v++)
        lut[v] = round_clip(v * p[0]);
    apply_lut(in, lut, out);
    return 0;
}

/* s[c] = the sum of channel c: bytes i with i % 3 = c, summed 48 bytes
 * (16 pixels) at a time in 32-bit lanes that cannot overflow within a block
 * of 2^16 steps (a vectorised loop), then in 64 bits. */
BIQA_CLONES
static void channel_sums(const uint8_t *px, size_t n, uint64_t s[3])
{
    size_t i = 0;
    s[0] = s[1] = s[2] = 0;
    while (n - i >= 48) {
        uint32_t acc[48] = {0};
        for (size_t step = 0; step < 65536 && n - i >= 48; step++, i += 48)
#pragma omp simd
            for (int j = 0; j < 48; j++)
                acc[j] += px[i + j];
        for (int j = 0; j < 48; j++)
            s[j % 3] += acc[j];
    }
    for (; i < n; i++)
        s[i % 3] += px[i];
}

int biqa_op_contrast(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                     uint8_t *out, biqa_error *err)
{
    (void)seed, (void)stream, (void)err;
    const size_t npx = (size_t)in->w * in->h;
    uint64_t s[3];
    channel_sums(in->px, 3 * npx, s);
    const double m = (double)(299 * s[0] + 587 * s[1] + 114 * s[2]) / (1000.0 * (double)npx);
    uint8_t lut[256];
    for (int v = 0; v < 256; v++)
        lut[v] = round_clip(m + p[0] * (v - m));
    apply_lut(in, lut, out);
    return 0;
}

int biqa_op_gamma(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                  uint8_t *out, biqa_error *err)
{
    (void)seed, (void)stream, (void)err;
    uint8_t lut[256];
    for (int v = 0; v < 256; v++)
        lut[v] = round_clip(255 * pow(v / 255.0, 1 / p[0]));
    apply_lut(in, lut, out);
    return 0;
}

/* round_clip in a vector loop (in blocks of BLOCK pixels, the channels
 * apart): for |v| < 2^31, the clamp of (int)(v + 0.5) to [0, 255] is the
 * same value. */
BIQA_CLONES
static void saturate(const uint8_t *px, int n, double f, uint8_t *out)
{
    int32_t x[3][BLOCK], res[3][BLOCK];
#pragma omp simd
    for (int i = 0; i < n; i++)
        x[0][i] = px[3 * i], x[1][i] = px[3 * i + 1], x[2][i] = px[3 * i + 2];
#pragma omp simd
    for (int i = 0; i < n; i++) {
        const double y = (299 * x[0][i] + 587 * x[1][i] + 114 * x[2][i]) / 1000.0;
        for (int c = 0; c < 3; c++) {
            const int v = (int)(y + f * (x[c][i] - y) + 0.5);
            res[c][i] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
    }
#pragma omp simd
    for (int i = 0; i < n; i++) {
        out[3 * i] = (uint8_t)res[0][i];
        out[3 * i + 1] = (uint8_t)res[1][i];
        out[3 * i + 2] = (uint8_t)res[2][i];
    }
}

int biqa_op_saturation(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                       uint8_t *out, biqa_error *err)
{
    (void)seed, (void)stream, (void)err;
    const size_t npx = (size_t)in->w * in->h;
    for (size_t i = 0; i < npx; i += BLOCK)
        saturate(in->px + 3 * i, npx - i < BLOCK ? (int)(npx - i) : BLOCK, p[0], out + 3 * i);
    return 0;
}

/* Per pixel, with selects in place of branches (so the loop vectorises),
 * in blocks of BLOCK pixels, the channels apart. A grey pixel (max = min)
 * is copied, and its division is by 1, not 0. The hue h0 = (g - b) / d
 * etc. + shift lies in [-1, 11] (shift in [0, 6]), so one + 6 (maybe
 * rounded up to exactly 6, which the - 6 step then takes) or one - 6
 * (exact, by Sterbenz's lemma) brings it into [0, 6): the sector is 0..5.
 * The channels' roles in the sector are kernels/image/ops.h's. */
BIQA_CLONES
static void hue_shift(const uint8_t *px, int n, float shift, uint8_t *out)
{
    int32_t in[3][BLOCK], res[3][BLOCK];
#pragma omp simd
    for (int i = 0; i < n; i++)
        in[0][i] = px[3 * i], in[1][i] = px[3 * i + 1], in[2][i] = px[3 * i + 2];
#pragma omp simd
    for (int i = 0; i < n; i++) {
        const int r = in[0][i], g = in[1][i], b = in[2][i];
        const int mx = r > g ? (r > b ? r : b) : (g > b ? g : b);
        const int mn = r < g ? (r < b ? r : b) : (g < b ? g : b);
        const int grey = mx == mn;
        const float d = (float)(mx - mn);
        const int num = mx == r ? g - b : mx == g ? b - r : r - g;
        const int off = mx == r ? 0 : mx == g ? 2 : 4;
        const float h0 = (float)num / (float)(mx - mn + grey) + (float)off + shift;
        const float h0up = h0 + 6, h1 = h0 < 0 ? h0up : h0, h1down = h1 - 6;
        const float h = h1 >= 6 ? h1down : h1;
        const int sector = (int)h;
        const float f = h - (float)sector;
        const float vmx = (float)mx, rise = mn + d * f, vmn = (float)mn, fall = mn + d * (1 - f);
        /* Computed whatever grey, then selected: a conditional float
         * operation would keep the loop from vectorising. */
        const int rr = BIQA_ROLE_R >> 2 * sector & 3, rg = BIQA_ROLE_G >> 2 * sector & 3,
                  rb = BIQA_ROLE_B >> 2 * sector & 3;
        const int vr = biqa_to_u8(biqa_role_pick(rr, vmx, rise, vmn, fall));
        const int vg = biqa_to_u8(biqa_role_pick(rg, vmx, rise, vmn, fall));
        const int vb = biqa_to_u8(biqa_role_pick(rb, vmx, rise, vmn, fall));
        res[0][i] = grey ? r : vr;
        res[1][i] = grey ? g : vg;
        res[2][i] = grey ? b : vb;
    }
#pragma omp simd
    for (int i = 0; i < n; i++) {
        out[3 * i] = (uint8_t)res[0][i];
        out[3 * i + 1] = (uint8_t)res[1][i];
        out[3 * i + 2] = (uint8_t)res[2][i];
    }
}

int biqa_op_hue(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                uint8_t *out, biqa_error *err)
{
    (void)seed, (void)stream, (void)err;
    /* The shift in hue sectors (60 degrees), brought into [0, 6] (6 only
     * when rounding to float). */
    float shift = (float)fmod(p[0] / 60.0, 6.0);
    if (shift < 0)
        shift += 6;
    const size_t npx = (size_t)in->w * in->h;
    for (size_t i = 0; i < npx; i += BLOCK)
        hue_shift(in->px + 3 * i, npx - i < BLOCK ? (int)(npx - i) : BLOCK, shift, out + 3 * i);
    return 0;
}
