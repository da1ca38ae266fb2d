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

/* floor(v + 0.5) clipped; truncation equals floor once v + 0.5 >= 0. */
static uint8_t round_clip(double v)
{
    return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)(int)(v + 0.5);
}

static void apply_lut(const biqa_image *in, const uint8_t *lut, uint8_t *out)
{
    const size_t n = (size_t)3 * in->w * in->h;
    for (size_t i = 0; i < n; i++)
        out[i] = lut[in->px[i]];
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

int biqa_op_contrast(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                     uint8_t *out, biqa_error *err)
{
    (void)seed, (void)stream, (void)err;
    const size_t npx = (size_t)in->w * in->h;
    uint64_t s[3] = {0, 0, 0};
    for (size_t i = 0; i < npx; i++)
        for (int c = 0; c < 3; c++)
            s[c] += in->px[3 * i + c];
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

int biqa_op_saturation(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                       uint8_t *out, biqa_error *err)
{
    (void)seed, (void)stream, (void)err;
    const size_t npx = (size_t)in->w * in->h;
    const double f = p[0];
    for (size_t i = 0; i < npx; i++) {
        const uint8_t *x = in->px + 3 * i;
        const double y = (299 * x[0] + 587 * x[1] + 114 * x[2]) / 1000.0;
        for (int c = 0; c < 3; c++)
            out[3 * i + c] = round_clip(y + f * (x[c] - y));
    }
    return 0;
}

int biqa_op_hue(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                uint8_t *out, biqa_error *err)
{
    (void)seed, (void)stream, (void)err;
    const size_t npx = (size_t)in->w * in->h;
    /* The shift in hue sectors (60 degrees), brought into [0, 6). */
    float shift = (float)fmod(p[0] / 60.0, 6.0);
    if (shift < 0)
        shift += 6;
    /* Sector s: which of (max, rising, min, falling) each of R, G, B is. */
    static const int order[6][3] = {{0, 1, 2}, {3, 0, 2}, {2, 0, 1},
                                    {2, 3, 0}, {1, 2, 0}, {0, 2, 3}};
    for (size_t i = 0; i < npx; i++) {
        const uint8_t *x = in->px + 3 * i;
        uint8_t *o = out + 3 * i;
        const int r = x[0], g = x[1], b = x[2];
        const int mx = r > g ? (r > b ? r : b) : (g > b ? g : b);
        const int mn = r < g ? (r < b ? r : b) : (g < b ? g : b);
        if (mx == mn) {
            o[0] = x[0], o[1] = x[1], o[2] = x[2];
            continue;
        }
        const float d = (float)(mx - mn);
        float h = mx == r ? (g - b) / d : mx == g ? (b - r) / d + 2 : (r - g) / d + 4;
        h += shift;
        if (h < 0)
            h += 6;
        if (h >= 6)
            h -= 6;
        int sector = (int)h;
        float f = h - (float)sector;
        if (sector > 5)
            sector = 5, f = 1; /* h rounded up to 6.0f */
        const float tab[4] = {(float)mx, mn + d * f, (float)mn, mn + d * (1 - f)};
        for (int c = 0; c < 3; c++)
            o[c] = biqa_to_u8(tab[order[sector][c]]);
    }
    return 0;
}
