/* The fast paths of kernels/image's degradations (vectorised loops with
 * selects, SWAR counters, constant-time median, row rings, blocks) against
 * plain per-pixel implementations of the formulas their files document,
 * kept here as the reference: the bytes must be identical, on random
 * images, images with few distinct values, and sizes that reach every
 * edge case (1x1, one row or column, widths past the median's 256-pixel
 * stripes, kernels wider than the image). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "kernels/image/degrade.h"

static const int SIZES[][2] = {{1, 1}, {2, 3}, {17, 13}, {300, 7}, {5, 40}, {64, 48}};
enum { NSIZES = sizeof SIZES / sizeof SIZES[0] };

/* kind 0: uniform bytes; 1: values from a handful (ties, flat runs);
 * 2: smooth ramps with some saturated pixels; 3: mostly grey (r = g = b). */
static void make_image(biqa_image *im, int w, int h, int kind)
{
    cr_assert_eq(biqa_image_alloc(im, w, h, "test", NULL), 0);
    const uint64_t key = biqa_rng_key(42 + (uint64_t)kind, (uint64_t)(w * 1000 + h));
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                const size_t i = 3 * ((size_t)y * w + x) + c;
                const uint64_t v = biqa_rng_next(key, i);
                uint8_t b;
                if (kind == 0)
                    b = (uint8_t)v;
                else if (kind == 1)
                    b = (uint8_t)(40 * (v % 7));
                else if (kind == 2)
                    b = v % 13 == 0 ? (v & 64 ? 255 : 0) : (uint8_t)(x * 7 + y * 3 + c * 50);
                else
                    b = (uint8_t)(v % 5 == 0 ? v : biqa_rng_next(key, 3 * ((size_t)y * w + x)));
                im->px[i] = b;
            }
}

static void apply(const biqa_image *in, const char *name, double p0, double p1, biqa_image *out)
{
    biqa_error e = {{0}};
    const double p[2] = {p0, p1};
    cr_assert_eq(biqa_degrade_apply(in, biqa_degrade_find(name), p, 7, out, &e), 0, "%s: %s",
                 name, e.msg);
}

static void expect_same(const biqa_image *got, const uint8_t *want, const char *name,
                        double p, int kind)
{
    const size_t n = (size_t)3 * got->w * got->h;
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got->px[i], want[i],
                     "%s(%g) on a %dx%d image of kind %d: byte %zu is %d, the reference %d",
                     name, p, got->w, got->h, kind, i, got->px[i], want[i]);
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static int reflect101(int i, int n)
{
    if (n == 1)
        return 0;
    const int period = 2 * n - 2;
    i %= period;
    if (i < 0)
        i += period;
    return i < n ? i : period - i;
}

static uint8_t to_u8(float v)
{
    const int i = (int)(v + 0.5f);
    return (uint8_t)(i < 0 ? 0 : i > 255 ? 255 : i);
}

static uint8_t round_clip(double v)
{
    return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)(int)(v + 0.5);
}

/* The median by sorting each window (edge replication). */
static void median_ref(const biqa_image *in, int k, uint8_t *out)
{
    const int r = k / 2;
    uint8_t *win = malloc((size_t)k * k);
    for (int y = 0; y < in->h; y++)
        for (int x = 0; x < in->w; x++)
            for (int c = 0; c < 3; c++) {
                int n = 0;
                for (int dy = -r; dy <= r; dy++)
                    for (int dx = -r; dx <= r; dx++) {
                        const int yy = clampi(y + dy, 0, in->h - 1);
                        const int xx = clampi(x + dx, 0, in->w - 1);
                        uint8_t v = in->px[3 * ((size_t)yy * in->w + xx) + c];
                        int j = n++;
                        for (; j > 0 && win[j - 1] > v; j--)
                            win[j] = win[j - 1];
                        win[j] = v;
                    }
                out[3 * ((size_t)y * in->w + x) + c] = win[k * k / 2];
            }
    free(win);
}

Test(image_speed_equiv, median_matches_sorting_every_window)
{
    static const int ks[] = {1, 3, 5, 7, 9, 11, 13};
    for (int s = 0; s < NSIZES; s++)
        for (int kind = 0; kind < 4; kind++) {
            biqa_image in;
            make_image(&in, SIZES[s][0], SIZES[s][1], kind);
            uint8_t *want = malloc((size_t)3 * in.w * in.h);
            for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
                biqa_image out;
                median_ref(&in, ks[i], want);
                apply(&in, "median", ks[i], 0, &out);
                expect_same(&out, want, "median", ks[i], kind);
                biqa_image_free(&out);
            }
            free(want);
            biqa_image_free(&in);
        }
}

/* HSV hue rotation, one pixel at a time with branches (colour.c's
 * formula). */
static void hue_ref(const biqa_image *in, double deg, uint8_t *out)
{
    float shift = (float)fmod(deg / 60.0, 6.0);
    if (shift < 0)
        shift += 6;
    static const int order[6][3] = {{0, 1, 2}, {3, 0, 2}, {2, 0, 1},
                                    {2, 3, 0}, {1, 2, 0}, {0, 2, 3}};
    for (size_t i = 0; i < (size_t)in->w * in->h; i++) {
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
            sector = 5, f = 1;
        const float tab[4] = {(float)mx, mn + d * f, (float)mn, mn + d * (1 - f)};
        for (int c = 0; c < 3; c++)
            o[c] = to_u8(tab[order[sector][c]]);
    }
}

/* y + f (x - y) per channel, y the pixel's BT.601 grey, in double. */
static void saturation_ref(const biqa_image *in, double f, uint8_t *out)
{
    for (size_t i = 0; i < (size_t)in->w * in->h; i++) {
        const uint8_t *x = in->px + 3 * i;
        const double y = (299 * x[0] + 587 * x[1] + 114 * x[2]) / 1000.0;
        for (int c = 0; c < 3; c++)
            out[3 * i + c] = round_clip(y + f * (x[c] - y));
    }
}

/* m + f (x - m), m the image's mean grey from exact channel sums. */
static void contrast_ref(const biqa_image *in, double f, uint8_t *out)
{
    const size_t npx = (size_t)in->w * in->h;
    uint64_t s[3] = {0, 0, 0};
    for (size_t i = 0; i < 3 * npx; i++)
        s[i % 3] += in->px[i];
    const double m = (double)(299 * s[0] + 587 * s[1] + 114 * s[2]) / (1000.0 * (double)npx);
    for (size_t i = 0; i < 3 * npx; i++)
        out[i] = round_clip(m + f * (in->px[i] - m));
}

Test(image_speed_equiv, colour_ops_match_their_per_pixel_formulas)
{
    static const double hues[] = {3.6, -18, 60, 123.4, -200, 360, -360, 0, 359.99};
    static const double sats[] = {0, 0.5, 1.3, 3.14, 10};
    static const double contrasts[] = {0, 0.37, 1.25, 10};
    for (int s = 0; s < NSIZES; s++)
        for (int kind = 0; kind < 4; kind++) {
            biqa_image in, out;
            make_image(&in, SIZES[s][0], SIZES[s][1], kind);
            uint8_t *want = malloc((size_t)3 * in.w * in.h);
            for (size_t i = 0; i < sizeof hues / sizeof hues[0]; i++) {
                hue_ref(&in, hues[i], want);
                apply(&in, "hue+", hues[i], 0, &out);
                expect_same(&out, want, "hue", hues[i], kind);
                biqa_image_free(&out);
            }
            for (size_t i = 0; i < sizeof sats / sizeof sats[0]; i++) {
                saturation_ref(&in, sats[i], want);
                apply(&in, "sat+", sats[i], 0, &out);
                expect_same(&out, want, "saturation", sats[i], kind);
                biqa_image_free(&out);
            }
            for (size_t i = 0; i < sizeof contrasts / sizeof contrasts[0]; i++) {
                contrast_ref(&in, contrasts[i], want);
                apply(&in, "contrast+", contrasts[i], 0, &out);
                expect_same(&out, want, "contrast", contrasts[i], kind);
                biqa_image_free(&out);
            }
            free(want);
            biqa_image_free(&in);
        }
}

/* The mean over the disk dx^2 + dy^2 <= radius^2 (reflect-101), rounded
 * half up in double. */
static void defocus_ref(const biqa_image *in, double radius, uint8_t *out)
{
    const int R = (int)floor(radius);
    for (int y = 0; y < in->h; y++)
        for (int x = 0; x < in->w; x++)
            for (int c = 0; c < 3; c++) {
                long sum = 0, count = 0;
                for (int dy = -R; dy <= R; dy++)
                    for (int dx = -R; dx <= R; dx++)
                        if (dx * dx + dy * dy <= radius * radius) {
                            const int yy = reflect101(y + dy, in->h);
                            const int xx = reflect101(x + dx, in->w);
                            sum += in->px[3 * ((size_t)yy * in->w + xx) + c];
                            count++;
                        }
                out[3 * ((size_t)y * in->w + x) + c] =
                    (uint8_t)((2.0 * sum + count) / (2.0 * count));
            }
}

/* The mean of the image and its zooms by 1.01 .. max, each zoom two
 * bilinear passes over the whole image (zoom.c's formula). */
static void zoom_ref(const biqa_image *in, double zmax, uint8_t *out)
{
    const int w = in->w, h = in->h, n3 = 3 * w;
    const int nzoom = (int)floor((zmax - 1) * 100 + 1e-6);
    const size_t n = (size_t)n3 * h;
    float *acc = malloc(2 * n * sizeof *acc), *tmp = acc + n;
    for (size_t i = 0; i < n; i++)
        acc[i] = in->px[i];
    for (int s = 1; s <= nzoom; s++) {
        const double z = 1 + 0.01 * s, cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const double sx = cx + (x - cx) / z;
                int ix = (int)floor(sx);
                ix = ix > w - 1 ? w - 1 : ix;
                const float fx = (float)(sx - ix);
                const uint8_t *a = in->px + (size_t)y * n3 + 3 * ix, *b = a + 3 * (ix < w - 1);
                for (int c = 0; c < 3; c++)
                    tmp[(size_t)y * n3 + 3 * x + c] = a[c] + fx * (b[c] - a[c]);
            }
        for (int y = 0; y < h; y++) {
            const double sy = cy + (y - cy) / z;
            int iy = (int)floor(sy);
            iy = iy > h - 1 ? h - 1 : iy;
            const float fy = (float)(sy - iy);
            const float *a = tmp + (size_t)iy * n3, *b = a + (size_t)n3 * (iy < h - 1);
            for (int i = 0; i < n3; i++)
                acc[(size_t)y * n3 + i] += a[i] + fy * (b[i] - a[i]);
        }
    }
    for (size_t i = 0; i < n; i++)
        out[i] = to_u8(acc[i] * (1.0f / (float)(nzoom + 1)));
    free(acc);
}

/* Normalised Gaussian weights of radius r, as filter.c makes them. */
static void gaussian_kernel(double sigma, int r, float *k)
{
    double w[121], sum = 0;
    for (int i = -r; i <= r; i++)
        sum += w[i + r] = exp(-(double)i * i / (2 * sigma * sigma));
    for (int i = 0; i <= 2 * r; i++)
        k[i] = (float)(w[i] / sum);
}

/* The separable filter over whole float images: rows then columns, the
 * centre tap first, then the symmetric taps in pairs, two pairs at a time
 * (filter.c's order of operations). */
static void sep_ref(const float *in, int w, int h, const float *k, int r, float *out)
{
    const int n = 3 * w;
    float *tmp = malloc((size_t)n * h * sizeof *tmp);
    for (int pass = 0; pass < 2; pass++) {
        const float *src = pass ? tmp : in;
        float *dst = pass ? out : tmp;
        for (int y = 0; y < h; y++)
            for (int i = 0; i < n; i++) {
                const int x = i / 3, c = i % 3;
#define AT(j) (pass ? src[(size_t)reflect101(y + (j), h) * n + i]                                 \
                    : src[(size_t)y * n + 3 * reflect101(x + (j), w) + c])
                float v = k[r] * AT(0);
                int j = 0;
                for (; j + 1 < r; j += 2)
                    v += k[j] * (AT(j - r) + AT(r - j)) +
                         k[j + 1] * (AT(j + 1 - r) + AT(r - j - 1));
                if (j < r)
                    v += k[j] * (AT(j - r) + AT(r - j));
#undef AT
                dst[(size_t)y * n + i] = v;
            }
    }
    free(tmp);
}

Test(image_speed_equiv, blurs_match_whole_image_passes)
{
    static const double sigmas[] = {0.1, 0.8, 2.5, 7};
    static const double radii[] = {0.5, 3, 7, 12.3};
    static const double zooms[] = {1, 1.02, 1.1, 1.33};
    for (int s = 0; s < NSIZES; s++)
        for (int kind = 0; kind < 4; kind += 2) {
            biqa_image in, out;
            make_image(&in, SIZES[s][0], SIZES[s][1], kind);
            const size_t n = (size_t)3 * in.w * in.h;
            uint8_t *want = malloc(n);
            float *f = malloc(2 * n * sizeof *f), *g = f + n;
            for (size_t i = 0; i < n; i++)
                f[i] = in.px[i];
            for (size_t i = 0; i < sizeof sigmas / sizeof sigmas[0]; i++) {
                const int r = (int)ceil(3 * sigmas[i]) < 1 ? 1 : (int)ceil(3 * sigmas[i]);
                float k[121];
                gaussian_kernel(sigmas[i], r, k);
                sep_ref(f, in.w, in.h, k, r, g);
                for (size_t j = 0; j < n; j++)
                    want[j] = to_u8(g[j]);
                apply(&in, "gblur", sigmas[i], 0, &out);
                expect_same(&out, want, "gblur", sigmas[i], kind);
                biqa_image_free(&out);
            }
            float k[3];
            gaussian_kernel(0.8, 1, k);
            sep_ref(f, in.w, in.h, k, 1, g);
            for (size_t j = 0; j < n; j++)
                want[j] = to_u8((1 + 1.3f) * in.px[j] - 1.3f * g[j]);
            apply(&in, "sharpen", 1.3, 0, &out);
            expect_same(&out, want, "sharpen", 1.3, kind);
            biqa_image_free(&out);
            for (size_t i = 0; i < sizeof radii / sizeof radii[0]; i++) {
                defocus_ref(&in, radii[i], want);
                apply(&in, "defocus", radii[i], 0, &out);
                expect_same(&out, want, "defocus", radii[i], kind);
                biqa_image_free(&out);
            }
            for (size_t i = 0; i < sizeof zooms / sizeof zooms[0]; i++) {
                zoom_ref(&in, zooms[i], want);
                apply(&in, "zoom", zooms[i], 0, &out);
                expect_same(&out, want, "zoom", zooms[i], kind);
                biqa_image_free(&out);
            }
            free(f);
            free(want);
            biqa_image_free(&in);
        }
}

/* Per channel value i: x (1 + a (2u - 1)), u the 32-bit draw i (high half
 * of u64 i / 2 when i is even, low half when odd). */
Test(image_speed_equiv, speckle_matches_its_draws)
{
    for (int s = 0; s < NSIZES; s++) {
        biqa_image in, out;
        make_image(&in, SIZES[s][0], SIZES[s][1], 0);
        const size_t n = (size_t)3 * in.w * in.h;
        uint8_t *want = malloc(n);
        const uint64_t key = biqa_rng_key(7, biqa_rng_stream("degrade/speckle"));
        for (size_t i = 0; i < n; i++) {
            const uint64_t v = biqa_rng_next(key, i / 2);
            const float u = (float)(uint32_t)(i & 1 ? v : v >> 32) * 0x1p-32f;
            want[i] = to_u8(in.px[i] * (1 + 0.25f * (2 * u - 1)));
        }
        apply(&in, "speckle", 0.25, 0, &out);
        expect_same(&out, want, "speckle", 0.25, 0);
        biqa_image_free(&out);
        free(want);
        biqa_image_free(&in);
    }
}
