/* The degradation table and the dispatcher.
 *
 * Levels 1..5 of every type are the table of paper/QPT.md, "The degradation
 * space" (a third-party space adopted as the default [assumed]; see there).
 * Units: sigma, lengths and shifts in pixels, noise std on the 0..255
 * scale, hue in degrees. Motion-blur lengths are the table's fractions
 * 0.2..1.0 of its 6 px maximum. The generalised-Gaussian blur carries its
 * shape beta = 1 as a second parameter. lo/hi bound parameters that a
 * configuration may put in place of the table's (kernel sizes stay within
 * BIQA_MAX_RADIUS of kernels/image/filter.h). */
#include "kernels/image/degrade.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/rng.h"
#include "kernels/image/ops.h"

#define L1(a, b, c, d, e) {{a, 0}, {b, 0}, {c, 0}, {d, 0}, {e, 0}}

static const biqa_degrade_type TYPES[BIQA_DEG_TYPES] = {
    [BIQA_DEG_SHARPEN] = {"sharpen", "unsharp amount c (3x3 Gaussian, sigma 0.8)", 1, 0,
                          L1(0.5, 0.7, 0.9, 1.1, 1.3), {0, 0}, {10, 0}, 0},
    [BIQA_DEG_GBLUR] = {"gblur", "sigma px", 1, 0, L1(0.5, 1.0, 1.5, 2.0, 2.5), {0.1, 0},
                        {20, 0}, 0},
    [BIQA_DEG_MBLUR] = {"mblur", "length px (random direction)", 1, 1,
                        L1(1.2, 2.4, 3.6, 4.8, 6.0), {0, 0}, {100, 0}, 0},
    [BIQA_DEG_MEDIAN] = {"median", "kernel size px (odd)", 1, 0, L1(3, 5, 7, 9, 11), {1, 0},
                         {99, 0}, 1},
    [BIQA_DEG_GLASS] = {"glass", "sigma px, max shift px", 2, 1,
                        {{0.1, 1}, {0.3, 2}, {0.5, 3}, {0.7, 4}, {0.9, 5}}, {0.1, 0}, {20, 50},
                        2},
    [BIQA_DEG_GGBLUR] = {"ggblur", "sigma px, shape beta", 2, 0,
                         {{0.5, 1}, {1.0, 1}, {1.5, 1}, {2.0, 1}, {2.5, 1}}, {0.1, 0.1},
                         {20, 10}, 0},
    [BIQA_DEG_DEFOCUS] = {"defocus", "disk radius px", 1, 0, L1(3, 4, 5, 6, 7), {0.5, 0},
                          {60, 0}, 0},
    [BIQA_DEG_ZOOM] = {"zoom", "max zoom factor", 1, 0, L1(1.02, 1.04, 1.06, 1.08, 1.10),
                       {1, 0}, {2, 0}, 0},
    [BIQA_DEG_ISO] = {"iso", "colour shift, intensity", 2, 1,
                      {{0.01, 0.1}, {0.015, 0.3}, {0.02, 0.5}, {0.025, 0.7}, {0.03, 0.9}},
                      {0, 0}, {1, 10}, 0},
    [BIQA_DEG_NOISE] = {"noise", "std (0..255), per channel", 1, 1, L1(4, 8, 12, 16, 18),
                        {0, 0}, {255, 0}, 0},
    [BIQA_DEG_GREY_NOISE] = {"grey_noise", "std (0..255), shared by channels", 1, 1,
                             L1(4, 8, 12, 16, 18), {0, 0}, {255, 0}, 0},
    [BIQA_DEG_SPECKLE] = {"speckle", "a: x * U(1-a, 1+a)", 1, 1,
                          L1(0.05, 0.10, 0.15, 0.20, 0.25), {0, 0}, {1, 0}, 0},
    [BIQA_DEG_BRIGHT_UP] = {"bright+", "factor", 1, 0, L1(1.05, 1.10, 1.15, 1.20, 1.25),
                            {0, 0}, {10, 0}, 0},
    [BIQA_DEG_BRIGHT_DOWN] = {"bright-", "factor", 1, 0, L1(0.95, 0.90, 0.85, 0.80, 0.75),
                              {0, 0}, {10, 0}, 0},
    [BIQA_DEG_CONTRAST_UP] = {"contrast+", "factor around the mean grey", 1, 0,
                              L1(1.05, 1.10, 1.15, 1.20, 1.25), {0, 0}, {10, 0}, 0},
    [BIQA_DEG_CONTRAST_DOWN] = {"contrast-", "factor around the mean grey", 1, 0,
                                L1(0.95, 0.90, 0.85, 0.80, 0.75), {0, 0}, {10, 0}, 0},
    [BIQA_DEG_GAMMA_UP] = {"gamma+", "gamma g: 255 (x/255)^(1/g)", 1, 0,
                           L1(1.025, 1.05, 1.075, 1.10, 1.125), {0.1, 0}, {10, 0}, 0},
    [BIQA_DEG_GAMMA_DOWN] = {"gamma-", "gamma g: 255 (x/255)^(1/g)", 1, 0,
                             L1(0.95, 0.925, 0.90, 0.875, 0.85), {0.1, 0}, {10, 0}, 0},
    [BIQA_DEG_HUE_UP] = {"hue+", "HSV hue shift, degrees", 1, 0, L1(3.6, 7.2, 10.8, 14.4, 18),
                         {-360, 0}, {360, 0}, 0},
    [BIQA_DEG_HUE_DOWN] = {"hue-", "HSV hue shift, degrees", 1, 0,
                           L1(-3.6, -7.2, -10.8, -14.4, -18), {-360, 0}, {360, 0}, 0},
    [BIQA_DEG_SAT_UP] = {"sat+", "factor away from the pixel's grey", 1, 0,
                         L1(1.1, 1.2, 1.3, 1.4, 1.5), {0, 0}, {10, 0}, 0},
    [BIQA_DEG_SAT_DOWN] = {"sat-", "factor away from the pixel's grey", 1, 0,
                           L1(0.9, 0.8, 0.7, 0.6, 0.5), {0, 0}, {10, 0}, 0},
    [BIQA_DEG_JPEG] = {"jpeg", "quality (libjpeg-turbo, 4:2:0)", 1, 0, L1(90, 70, 50, 30, 10),
                       {1, 0}, {100, 0}, 1},
    [BIQA_DEG_RESIZE_NEAREST] = {"resize_nearest", "down-up factor", 1, 0,
                                 L1(2.0, 2.5, 3.0, 3.5, 4.0), {1, 0}, {64, 0}, 0},
    [BIQA_DEG_RESIZE_BILINEAR] = {"resize_bilinear", "down-up factor", 1, 0,
                                  L1(2.0, 2.5, 3.0, 3.5, 4.0), {1, 0}, {64, 0}, 0},
    [BIQA_DEG_RESIZE_BICUBIC] = {"resize_bicubic", "down-up factor", 1, 0,
                                 L1(2.0, 2.5, 3.0, 3.5, 4.0), {1, 0}, {64, 0}, 0},
};

static biqa_degrade_op *const OPS[BIQA_DEG_TYPES] = {
    [BIQA_DEG_SHARPEN] = biqa_op_sharpen,
    [BIQA_DEG_GBLUR] = biqa_op_gblur,
    [BIQA_DEG_MBLUR] = biqa_op_mblur,
    [BIQA_DEG_MEDIAN] = biqa_op_median,
    [BIQA_DEG_GLASS] = biqa_op_glass,
    [BIQA_DEG_GGBLUR] = biqa_op_ggblur,
    [BIQA_DEG_DEFOCUS] = biqa_op_defocus,
    [BIQA_DEG_ZOOM] = biqa_op_zoom,
    [BIQA_DEG_ISO] = biqa_op_iso,
    [BIQA_DEG_NOISE] = biqa_op_noise,
    [BIQA_DEG_GREY_NOISE] = biqa_op_grey_noise,
    [BIQA_DEG_SPECKLE] = biqa_op_speckle,
    [BIQA_DEG_BRIGHT_UP] = biqa_op_brightness,
    [BIQA_DEG_BRIGHT_DOWN] = biqa_op_brightness,
    [BIQA_DEG_CONTRAST_UP] = biqa_op_contrast,
    [BIQA_DEG_CONTRAST_DOWN] = biqa_op_contrast,
    [BIQA_DEG_GAMMA_UP] = biqa_op_gamma,
    [BIQA_DEG_GAMMA_DOWN] = biqa_op_gamma,
    [BIQA_DEG_HUE_UP] = biqa_op_hue,
    [BIQA_DEG_HUE_DOWN] = biqa_op_hue,
    [BIQA_DEG_SAT_UP] = biqa_op_saturation,
    [BIQA_DEG_SAT_DOWN] = biqa_op_saturation,
    [BIQA_DEG_JPEG] = biqa_op_jpeg,
    [BIQA_DEG_RESIZE_NEAREST] = biqa_op_resize_nearest,
    [BIQA_DEG_RESIZE_BILINEAR] = biqa_op_resize_bilinear,
    [BIQA_DEG_RESIZE_BICUBIC] = biqa_op_resize_bicubic,
};

const biqa_degrade_type *biqa_degrade_info(int type)
{
    return type >= 0 && type < BIQA_DEG_TYPES ? &TYPES[type] : NULL;
}

int biqa_degrade_find(const char *name)
{
    for (int t = 0; t < BIQA_DEG_TYPES; t++)
        if (strcmp(TYPES[t].name, name) == 0)
            return t;
    return -1;
}

int biqa_degrade_apply(const biqa_image *in, int type, const double param[2], uint64_t seed,
                       biqa_image *out, biqa_error *err)
{
    out->w = out->h = 0;
    out->px = NULL;
    const biqa_degrade_type *t = biqa_degrade_info(type);
    if (!t)
        return biqa_fail(err, "degradation type %d does not exist (0..%d)", type,
                         BIQA_DEG_TYPES - 1);
    if (!in->px || in->w <= 0 || in->h <= 0)
        return biqa_fail(err, "%s: empty input image", t->name);
    for (int i = 0; i < t->nparams; i++) {
        double v = param[i];
        if (!(v >= t->lo[i] && v <= t->hi[i]))
            return biqa_fail(err, "%s: parameter %d (%s) = %g is outside [%g, %g]", t->name,
                             i + 1, t->params, v, t->lo[i], t->hi[i]);
        if ((t->integer >> i & 1) && v != floor(v))
            return biqa_fail(err, "%s: parameter %d (%s) = %g must be a whole number", t->name,
                             i + 1, t->params, v);
    }
    if (type == BIQA_DEG_MEDIAN && (int)param[0] % 2 == 0)
        return biqa_fail(err, "median: kernel size %g must be odd", param[0]);
    char stream_name[64];
    snprintf(stream_name, sizeof stream_name, "degrade/%s", t->name);
    if (biqa_image_alloc(out, in->w, in->h, t->name, err) < 0)
        return -1;
    if (OPS[type](in, param, seed, biqa_rng_stream(stream_name), out->px, err) < 0) {
        biqa_image_free(out);
        return biqa_fail_wrap(err, "%s", t->name);
    }
    return 0;
}

int biqa_degrade_apply_one(const biqa_image *in, int type, int level, uint64_t seed,
                           biqa_image *out, biqa_error *err)
{
    out->w = out->h = 0;
    out->px = NULL;
    const biqa_degrade_type *t = biqa_degrade_info(type);
    if (!t)
        return biqa_fail(err, "degradation type %d does not exist (0..%d)", type,
                         BIQA_DEG_TYPES - 1);
    if (level < 1 || level > BIQA_DEG_LEVELS)
        return biqa_fail(err, "%s: level %d is outside 1..%d", t->name, level, BIQA_DEG_LEVELS);
    return biqa_degrade_apply(in, type, t->level[level - 1], seed, out, err);
}
