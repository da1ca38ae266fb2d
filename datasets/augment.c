/* The augmentation recipes (datasets/augment.h). */
#include "datasets/augment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

static const float MEAN[3] = {0.485f, 0.456f, 0.406f}, STD[3] = {0.229f, 0.224f, 0.225f};

/* Sequential draws of one (item seed, view) key. */
typedef struct draw {
    uint64_t key, i;
} draw;

static double uni(draw *d) { return (double)(biqa_rng_next(d->key, d->i++) >> 11) * 0x1p-53; }
static int below(draw *d, int n) { return (int)(uni(d) * n); }
static double uniform(draw *d, double a, double b) { return a + (b - a) * uni(d); }

biqa_recipe biqa_recipe_default(enum biqa_recipe_kind kind, int size)
{
    return (biqa_recipe){.kind = kind, .size = size, .variants = 2, .iou_min = 0.1,
                         .iou_max = 0.3, .iou_tries = 100,
                         .sampler = biqa_chain_sampler_default()};
}

static const char *const NAMES[] = {"classify", "moco", "qpt"};

const char *biqa_recipe_name(enum biqa_recipe_kind kind)
{
    return (unsigned)kind < 3 ? NAMES[kind] : "?";
}

int biqa_recipe_parse_kind(const char *name, enum biqa_recipe_kind *out, biqa_error *err)
{
    for (int k = 0; k < 3; k++)
        if (strcmp(name, NAMES[k]) == 0) {
            *out = (enum biqa_recipe_kind)k;
            return 0;
        }
    return biqa_fail(err, "recipe '%s': want classify, moco or qpt", name);
}

int biqa_recipe_check(const biqa_recipe *r, biqa_error *err)
{
    if ((unsigned)r->kind > BIQA_RECIPE_QPT)
        return biqa_fail(err, "recipe: unknown kind %d", (int)r->kind);
    if (r->size < 8 || r->size > 4096)
        return biqa_fail(err, "recipe %s: size %d outside 8..4096", NAMES[r->kind], r->size);
    if (r->kind != BIQA_RECIPE_QPT)
        return 0;
    if (r->variants < 1 || r->variants > 64)
        return biqa_fail(err, "recipe qpt: variants %d outside 1..64", r->variants);
    if (!(r->iou_min >= 0 && r->iou_min <= r->iou_max && r->iou_max <= 1))
        return biqa_fail(err, "recipe qpt: IoU range [%g, %g] not within [0, 1]", r->iou_min,
                         r->iou_max);
    if (r->iou_tries < 1)
        return biqa_fail(err, "recipe qpt: iou_tries %d < 1", r->iou_tries);
    if (biqa_chain_sampler_check(&r->sampler, err) < 0)
        return biqa_fail_wrap(err, "recipe qpt");
    return 0;
}

int biqa_recipe_views(const biqa_recipe *r)
{
    return r->kind == BIQA_RECIPE_CLASSIFY ? 1 : r->kind == BIQA_RECIPE_MOCO ? 2 : 2 * r->variants;
}

double biqa_box_iou(biqa_box a, biqa_box b)
{
    int ix = (a.x + a.w < b.x + b.w ? a.x + a.w : b.x + b.w) - (a.x > b.x ? a.x : b.x);
    int iy = (a.y + a.h < b.y + b.h ? a.y + a.h : b.y + b.h) - (a.y > b.y ? a.y : b.y);
    double inter = ix > 0 && iy > 0 ? (double)ix * iy : 0;
    return inter / ((double)a.w * a.h + (double)b.w * b.h - inter);
}

/* torchvision 0.14 RandomResizedCrop.get_params, ratio [3/4, 4/3];
 * nearbyint is Python's round (half to even) in the default FP mode. */
static biqa_box rrc_box(int width, int height, double smin, double smax, draw *d)
{
    const double area = (double)width * height, lr0 = log(3.0 / 4.0), lr1 = log(4.0 / 3.0);
    for (int t = 0; t < 10; t++) {
        double target = area * uniform(d, smin, smax);
        double ar = exp(uniform(d, lr0, lr1));
        int w = (int)nearbyint(sqrt(target * ar)), h = (int)nearbyint(sqrt(target / ar));
        if (0 < w && w <= width && 0 < h && h <= height) {
            int i = below(d, height - h + 1), j = below(d, width - w + 1);
            return (biqa_box){j, i, w, h};
        }
    }
    double in_ratio = (double)width / height;
    int w = width, h = height;
    if (in_ratio < 3.0 / 4.0)
        h = (int)nearbyint(w / (3.0 / 4.0));
    else if (in_ratio > 4.0 / 3.0)
        w = (int)nearbyint(h * (4.0 / 3.0));
    return (biqa_box){(width - w) / 2, (height - h) / 2, w, h};
}

/* PyTorch's upsample_bilinear2d (align_corners = False) source index. */
static void bilinear_taps(int in, int out, int o, int *i0, int *i1, float *l1)
{
    float scale = (float)in / (float)out, src = scale * ((float)o + 0.5f) - 0.5f;
    if (src < 0)
        src = 0;
    *i0 = (int)src;
    *i1 = *i0 + (*i0 < in - 1);
    *l1 = src - (float)*i0;
}

void biqa_resized_crop(const biqa_image *im, biqa_box b, int size, float *chw)
{
    const size_t hw = (size_t)size * size;
    for (int oy = 0; oy < size; oy++) {
        int y0, y1;
        float ly;
        bilinear_taps(b.h, size, oy, &y0, &y1, &ly);
        const uint8_t *r0 = im->px + 3 * ((size_t)(b.y + y0) * im->w + b.x);
        const uint8_t *r1 = im->px + 3 * ((size_t)(b.y + y1) * im->w + b.x);
        for (int ox = 0; ox < size; ox++) {
            int x0, x1;
            float lx;
            bilinear_taps(b.w, size, ox, &x0, &x1, &lx);
            for (int c = 0; c < 3; c++) {
                float p00 = r0[3 * x0 + c] / 255.0f, p01 = r0[3 * x1 + c] / 255.0f;
                float p10 = r1[3 * x0 + c] / 255.0f, p11 = r1[3 * x1 + c] / 255.0f;
                chw[c * hw + (size_t)oy * size + ox] =
                    (1 - ly) * ((1 - lx) * p00 + lx * p01) + ly * ((1 - lx) * p10 + lx * p11);
            }
        }
    }
}

static float clamp01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

static float grey(float r, float g, float b) { return 0.2989f * r + 0.587f * g + 0.114f * b; }

void biqa_adjust_brightness(float *chw, int hw, float f)
{
    for (size_t i = 0; i < 3 * (size_t)hw; i++)
        chw[i] = clamp01(f * chw[i]);
}

/* _blend(img, mean of the grey image, f) */
void biqa_adjust_contrast(float *chw, int hw, float f)
{
    double sum = 0;
    for (int i = 0; i < hw; i++)
        sum += grey(chw[i], chw[hw + i], chw[2 * hw + i]);
    const float mean = (float)(sum / hw);
    for (size_t i = 0; i < 3 * (size_t)hw; i++)
        chw[i] = clamp01(f * chw[i] + (1 - f) * mean);
}

void biqa_adjust_saturation(float *chw, int hw, float f)
{
    for (int i = 0; i < hw; i++) {
        float l = grey(chw[i], chw[hw + i], chw[2 * hw + i]);
        for (int c = 0; c < 3; c++)
            chw[c * hw + i] = clamp01(f * chw[c * hw + i] + (1 - f) * l);
    }
}

void biqa_grayscale(float *chw, int hw)
{
    for (int i = 0; i < hw; i++)
        chw[i] = chw[hw + i] = chw[2 * hw + i] = grey(chw[i], chw[hw + i], chw[2 * hw + i]);
}

/* torchvision's _rgb2hsv, hue shift mod 1, _hsv2rgb, per pixel. */
void biqa_adjust_hue(float *chw, int hw, float f)
{
    for (int i = 0; i < hw; i++) {
        float r = chw[i], g = chw[hw + i], b = chw[2 * hw + i];
        float maxc = fmaxf(r, fmaxf(g, b)), minc = fminf(r, fminf(g, b));
        int eqc = maxc == minc;
        float cr = maxc - minc, s = cr / (eqc ? 1.0f : maxc), div = eqc ? 1.0f : cr;
        float rc = (maxc - r) / div, gc = (maxc - g) / div, bc = (maxc - b) / div;
        float h = (maxc == r) * (bc - gc) + ((maxc == g) & (maxc != r)) * (2.0f + rc - bc) +
                  ((maxc != g) & (maxc != r)) * (4.0f + gc - rc);
        h = fmodf(h / 6.0f + 1.0f, 1.0f);
        h = h + f;
        h = h - floorf(h); /* Python's % 1.0 */
        float v = maxc, i6 = floorf(h * 6.0f), fr = h * 6.0f - i6;
        float p = clamp01(v * (1.0f - s)), q = clamp01(v * (1.0f - s * fr)),
              t = clamp01(v * (1.0f - s * (1.0f - fr)));
        int sector = ((int)i6 % 6 + 6) % 6;
        const float rgb[6][3] = {{v, t, p}, {q, v, p}, {p, v, t},
                                 {p, q, v}, {t, p, v}, {v, p, q}};
        chw[i] = rgb[sector][0], chw[hw + i] = rgb[sector][1], chw[2 * hw + i] = rgb[sector][2];
    }
}

int biqa_blur_ksize(float sigma, int size)
{
    int k = 2 * (int)ceilf(3 * sigma) + 1, kmax = size % 2 ? size - 2 : size - 1;
    return k < kmax ? k : kmax;
}

static int reflect(int i, int n) { return i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i; }

/* torchvision's F.gaussian_blur: kernel exp(-x^2 / 2 sigma^2) on
 * linspace(-(k-1)/2, (k-1)/2, k), normalised; reflect padding. Separable
 * here (torchvision convolves with the outer product: equal up to rounding). */
void biqa_gaussian_blur(float *chw, int h, int w, int ksize, float sigma, float *tmp)
{
    float kern[128]; /* ksize <= 127 (augment.h) */
    const int half = ksize / 2;
    float sum = 0;
    for (int i = 0; i < ksize; i++) {
        float x = (float)(i - half) / sigma;
        sum += kern[i] = expf(-0.5f * x * x);
    }
    for (int i = 0; i < ksize; i++)
        kern[i] /= sum;
    for (int c = 0; c < 3; c++) {
        float *p = chw + (size_t)c * h * w;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                float a = 0;
                for (int k = 0; k < ksize; k++)
                    a += kern[k] * p[(size_t)y * w + reflect(x + k - half, w)];
                tmp[(size_t)y * w + x] = a;
            }
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                float a = 0;
                for (int k = 0; k < ksize; k++)
                    a += kern[k] * tmp[(size_t)reflect(y + k - half, h) * w + x];
                p[(size_t)y * w + x] = a;
            }
    }
}

/* Flip (optionally) and normalise chw in place. */
static void finish(float *chw, int size, int flip)
{
    const size_t hw = (size_t)size * size;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < size; y++) {
            float *row = chw + c * hw + (size_t)y * size;
            if (flip)
                for (int x = 0; x < size / 2; x++) {
                    float t = row[x];
                    row[x] = row[size - 1 - x], row[size - 1 - x] = t;
                }
            for (int x = 0; x < size; x++)
                row[x] = (row[x] - MEAN[c]) / STD[c];
        }
}

/* MoCo v2's colour jitter, grayscale and blur, in torchvision's order. */
static void moco_colour(float *v, int size, draw *d, float *tmp)
{
    const int hw = size * size;
    if (uni(d) < 0.8) {
        int order[4] = {0, 1, 2, 3};
        for (int i = 3; i > 0; i--) {
            int j = below(d, i + 1), t = order[i];
            order[i] = order[j], order[j] = t;
        }
        float fb = (float)uniform(d, 0.6, 1.4), fc = (float)uniform(d, 0.6, 1.4);
        float fs = (float)uniform(d, 0.6, 1.4), fh = (float)uniform(d, -0.1, 0.1);
        for (int k = 0; k < 4; k++)
            switch (order[k]) {
            case 0: biqa_adjust_brightness(v, hw, fb); break;
            case 1: biqa_adjust_contrast(v, hw, fc); break;
            case 2: biqa_adjust_saturation(v, hw, fs); break;
            default: biqa_adjust_hue(v, hw, fh); break;
            }
    }
    if (uni(d) < 0.2)
        biqa_grayscale(v, hw);
    if (uni(d) < 0.5) {
        float sigma = (float)uniform(d, 0.1, 2.0);
        biqa_gaussian_blur(v, size, size, biqa_blur_ksize(sigma, size), sigma, tmp);
    }
}

static int rrc_views(const biqa_recipe *r, const biqa_image *im, uint64_t item, float *out,
                     biqa_view_info *info, biqa_error *err)
{
    const int S = r->size, views = biqa_recipe_views(r);
    const size_t hw = (size_t)S * S;
    float *tmp = NULL;
    if (r->kind == BIQA_RECIPE_MOCO && !(tmp = malloc(hw * sizeof *tmp)))
        return biqa_fail(err, "augment: out of memory");
    for (int j = 0; j < views; j++) {
        draw d = {biqa_rng_key(item, (uint64_t)j), 0};
        float *v = out + (size_t)j * 3 * hw;
        biqa_box box = rrc_box(im->w, im->h, r->kind == BIQA_RECIPE_MOCO ? 0.2 : 0.08, 1.0, &d);
        biqa_resized_crop(im, box, S, v);
        if (r->kind == BIQA_RECIPE_MOCO)
            moco_colour(v, S, &d, tmp);
        int flip = uni(&d) < 0.5;
        finish(v, S, flip);
        if (info)
            info[j] = (biqa_view_info){.box = box, .flipped = flip};
    }
    free(tmp);
    return 0;
}

static int iou_ok(const biqa_recipe *r, biqa_box a, biqa_box b)
{
    double iou = biqa_box_iou(a, b);
    return iou >= r->iou_min && iou <= r->iou_max;
}

/* Two S x S boxes in w x h with IoU in range (augment.h, QPT). */
static int patch_pair(const biqa_recipe *r, int w, int h, draw *d, biqa_box pair[2])
{
    const int S = r->size;
    for (int t = 0; t < r->iou_tries; t++) {
        int x = below(d, w - S + 1), y = below(d, h - S + 1);
        int xlo = x - (S - 1) > 0 ? x - (S - 1) : 0, xhi = x + S - 1 < w - S ? x + S - 1 : w - S;
        int ylo = y - (S - 1) > 0 ? y - (S - 1) : 0, yhi = y + S - 1 < h - S ? y + S - 1 : h - S;
        pair[0] = (biqa_box){x, y, S, S};
        pair[1] = (biqa_box){xlo + below(d, xhi - xlo + 1), ylo + below(d, yhi - ylo + 1), S, S};
        if (iou_ok(r, pair[0], pair[1]))
            return 0;
    }
    /* Fallback: the offset whose IoU is nearest the range's middle. */
    const double mid = (r->iou_min + r->iou_max) / 2;
    double best = INFINITY;
    for (int dy = 0; dy <= S && S + dy <= h; dy++)
        for (int dx = 0; dx <= S && S + dx <= w; dx++) {
            biqa_box a = {(w - S - dx) / 2, (h - S - dy) / 2, S, S};
            biqa_box b = {a.x + dx, a.y + dy, S, S};
            if (iou_ok(r, a, b) && fabs(biqa_box_iou(a, b) - mid) < best) {
                best = fabs(biqa_box_iou(a, b) - mid);
                pair[0] = a, pair[1] = b;
            }
        }
    if (best < INFINITY)
        return 0;
    return -1;
}

static int qpt_views(const biqa_recipe *r, const char *name, const biqa_image *im, uint64_t item,
                     float *out, biqa_view_info *info, biqa_error *err)
{
    const int S = r->size;
    const size_t hw = (size_t)S * S;
    if (im->w < S || im->h < S)
        return biqa_fail(err, "%s: image %dx%d is smaller than the QPT patch %dx%d", name, im->w,
                         im->h, S, S);
    const uint64_t apply_stream = biqa_rng_stream("augment/qpt-apply");
    for (int v = 0; v < r->variants; v++) {
        biqa_chain chain;
        biqa_image deg;
        biqa_chain_sample(&r->sampler, item, (uint64_t)v, &chain);
        uint64_t apply_seed = biqa_rng_u64(item, apply_stream, (uint64_t)v);
        if (biqa_chain_apply(&chain, im, apply_seed, &deg, err) < 0)
            return biqa_fail_wrap(err, "%s", name);
        draw d = {biqa_rng_key(item, (uint64_t)v), 0};
        biqa_box pair[2];
        if (patch_pair(r, deg.w, deg.h, &d, pair) < 0) {
            biqa_image_free(&deg);
            return biqa_fail(err, "%s: image %dx%d has no two %dx%d patches with IoU in "
                                  "[%g, %g]", name, im->w, im->h, S, S, r->iou_min, r->iou_max);
        }
        for (int p = 0; p < 2; p++) {
            const int j = 2 * v + p;
            float *o = out + (size_t)j * 3 * hw;
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < S; y++) {
                    const uint8_t *row = deg.px + 3 * ((size_t)(pair[p].y + y) * deg.w + pair[p].x);
                    for (int x = 0; x < S; x++)
                        o[c * hw + (size_t)y * S + x] = row[3 * x + c] / 255.0f;
                }
            int flip = uni(&d) < 0.5;
            finish(o, S, flip);
            if (info) {
                info[j] = (biqa_view_info){.group = v, .box = pair[p], .flipped = flip,
                                           .chain_seed = apply_seed};
                biqa_chain_format(&chain, info[j].chain, sizeof info[j].chain);
            }
        }
        biqa_image_free(&deg);
    }
    return 0;
}

int biqa_augment(const biqa_recipe *r, const char *name, const biqa_image *im, uint64_t seed,
                 uint64_t index, float *out, biqa_view_info *info, biqa_error *err)
{
    if (biqa_recipe_check(r, err) < 0)
        return -1;
    if (im->w < 1 || im->h < 1)
        return biqa_fail(err, "%s: empty image", name);
    const uint64_t item = biqa_rng_u64(seed, biqa_rng_stream("augment/item"), index);
    if (r->kind == BIQA_RECIPE_QPT)
        return qpt_views(r, name, im, item, out, info, err);
    return rrc_views(r, im, item, out, info, err);
}
