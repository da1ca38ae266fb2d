/* kernels/image/degrade.h: the table, determinism, sizes, flat-image
 * invariances and argument checking of the 26 degradations. Their maths is
 * checked against OpenCV/Pillow/NumPy by tests/ref/degrade_vs_opencv.py. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/image/degrade.h"

static void make_image(biqa_image *im, int w, int h)
{
    cr_assert_eq(biqa_image_alloc(im, w, h, "test", NULL), 0);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint32_t z = (uint32_t)(x * 73856093u ^ y * 19349663u) * 0x5bd1e995u;
            uint8_t *p = im->px + 3 * ((size_t)y * w + x);
            p[0] = (uint8_t)(40 + x * 170 / w);
            p[1] = (uint8_t)(30 + y * 190 / h);
            p[2] = (uint8_t)(z >> 24);
        }
}

static void fill(biqa_image *im, int w, int h, uint8_t r, uint8_t g, uint8_t b)
{
    cr_assert_eq(biqa_image_alloc(im, w, h, "test", NULL), 0);
    for (size_t i = 0; i < (size_t)w * h; i++)
        im->px[3 * i] = r, im->px[3 * i + 1] = g, im->px[3 * i + 2] = b;
}

static int same(const biqa_image *a, const biqa_image *b)
{
    return a->w == b->w && a->h == b->h &&
           memcmp(a->px, b->px, (size_t)3 * a->w * a->h) == 0;
}

static void apply(const biqa_image *in, int t, int level, uint64_t seed, biqa_image *out)
{
    biqa_error e = {{0}};
    cr_assert_eq(biqa_degrade_apply_one(in, t, level, seed, out, &e), 0, "%s level %d: %s",
                 biqa_degrade_info(t)->name, level, e.msg);
}

Test(image_degrade, table_names_and_ranges)
{
    static const char *names[BIQA_DEG_TYPES] = {
        "sharpen", "gblur", "mblur", "median", "glass", "ggblur", "defocus", "zoom", "iso",
        "noise", "grey_noise", "speckle", "bright+", "bright-", "contrast+", "contrast-",
        "gamma+", "gamma-", "hue+", "hue-", "sat+", "sat-", "jpeg", "resize_nearest",
        "resize_bilinear", "resize_bicubic"};
    int random = 0;
    for (int t = 0; t < BIQA_DEG_TYPES; t++) {
        const biqa_degrade_type *d = biqa_degrade_info(t);
        cr_assert_str_eq(d->name, names[t]);
        cr_assert_eq(biqa_degrade_find(names[t]), t);
        cr_assert(d->nparams == 1 || d->nparams == 2, "%s", d->name);
        random += d->random;
        for (int l = 0; l < BIQA_DEG_LEVELS; l++)
            for (int i = 0; i < d->nparams; i++)
                cr_assert(d->level[l][i] >= d->lo[i] && d->level[l][i] <= d->hi[i],
                          "%s level %d parameter %d outside its own range", d->name, l + 1, i);
    }
    cr_assert_eq(random, 6, "mblur, glass, iso, noise, grey_noise, speckle draw random values");
    cr_assert_null(biqa_degrade_info(-1));
    cr_assert_null(biqa_degrade_info(BIQA_DEG_TYPES));
    cr_assert_eq(biqa_degrade_find("blur"), -1);
}

Test(image_degrade, same_seed_same_bytes_and_seed_only_matters_when_random)
{
    biqa_image in;
    make_image(&in, 41, 29);
    for (int t = 0; t < BIQA_DEG_TYPES; t++)
        for (int l = 1; l <= BIQA_DEG_LEVELS; l += 2) {
            biqa_image a, b, c;
            apply(&in, t, l, 7, &a);
            apply(&in, t, l, 7, &b);
            apply(&in, t, l, 8, &c);
            const char *name = biqa_degrade_info(t)->name;
            cr_assert(same(&a, &b), "%s level %d: same seed, different bytes", name, l);
            cr_assert_eq(a.w, in.w, "%s: width kept", name);
            cr_assert_eq(a.h, in.h, "%s: height kept", name);
            if (biqa_degrade_info(t)->random)
                cr_assert(!same(&a, &c), "%s level %d: seeds 7 and 8 agree", name, l);
            else
                cr_assert(same(&a, &c), "%s level %d: depends on the seed", name, l);
            cr_assert(!same(&a, &in), "%s level %d: left the image unchanged", name, l);
            biqa_image_free(&a);
            biqa_image_free(&b);
            biqa_image_free(&c);
        }
    biqa_image_free(&in);
}

/* Each output depends only on (image, type, level, seed): computing all of
 * them on several threads at once gives the serial bytes. */
Test(image_degrade, threads_do_not_change_outputs)
{
    biqa_image in, serial[BIQA_DEG_TYPES], threaded[BIQA_DEG_TYPES];
    make_image(&in, 33, 20);
    for (int t = 0; t < BIQA_DEG_TYPES; t++)
        apply(&in, t, 4, 99, &serial[t]);
    int failed = 0;
#pragma omp parallel for num_threads(4) schedule(dynamic) reduction(+ : failed)
    for (int t = 0; t < BIQA_DEG_TYPES; t++)
        failed += biqa_degrade_apply_one(&in, t, 4, 99, &threaded[t], NULL) != 0;
    cr_assert_eq(failed, 0);
    for (int t = 0; t < BIQA_DEG_TYPES; t++) {
        cr_assert(same(&serial[t], &threaded[t]), "%s", biqa_degrade_info(t)->name);
        biqa_image_free(&serial[t]);
        biqa_image_free(&threaded[t]);
    }
    biqa_image_free(&in);
}

Test(image_degrade, tiny_and_odd_sizes)
{
    static const int sizes[][2] = {{1, 1}, {2, 1}, {1, 3}, {2, 2}, {5, 4}, {3, 17}, {18, 2}};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        biqa_image in;
        make_image(&in, sizes[s][0], sizes[s][1]);
        for (int t = 0; t < BIQA_DEG_TYPES; t++)
            for (int l = 1; l <= BIQA_DEG_LEVELS; l += 4) {
                biqa_image out;
                apply(&in, t, l, 3, &out);
                cr_assert(out.w == in.w && out.h == in.h, "%s on %dx%d", biqa_degrade_info(t)->name,
                          in.w, in.h);
                biqa_image_free(&out);
            }
        biqa_image_free(&in);
    }
}

/* On a flat image every normalised filter, resampler and the hue,
 * saturation and contrast changes give the image back exactly. */
Test(image_degrade, flat_image_invariance)
{
    static const int keep[] = {BIQA_DEG_SHARPEN, BIQA_DEG_GBLUR, BIQA_DEG_MBLUR, BIQA_DEG_MEDIAN,
                               BIQA_DEG_GLASS, BIQA_DEG_GGBLUR, BIQA_DEG_DEFOCUS, BIQA_DEG_ZOOM,
                               BIQA_DEG_CONTRAST_UP, BIQA_DEG_CONTRAST_DOWN, BIQA_DEG_HUE_UP,
                               BIQA_DEG_HUE_DOWN, BIQA_DEG_SAT_UP, BIQA_DEG_SAT_DOWN,
                               BIQA_DEG_RESIZE_NEAREST, BIQA_DEG_RESIZE_BILINEAR,
                               BIQA_DEG_RESIZE_BICUBIC, BIQA_DEG_ISO};
    biqa_image grey, colour;
    fill(&grey, 23, 19, 97, 97, 97);
    fill(&colour, 23, 19, 200, 60, 10);
    for (size_t k = 0; k < sizeof keep / sizeof *keep; k++)
        for (int l = 1; l <= BIQA_DEG_LEVELS; l++) {
            int t = keep[k];
            biqa_image out;
            apply(&grey, t, l, 5, &out);
            cr_assert(same(&out, &grey), "%s level %d changed a flat grey image",
                      biqa_degrade_info(t)->name, l);
            biqa_image_free(&out);
            if (t >= BIQA_DEG_HUE_UP && t <= BIQA_DEG_SAT_DOWN)
                continue; /* these change colours, by design */
            if (t == BIQA_DEG_CONTRAST_UP || t == BIQA_DEG_CONTRAST_DOWN || t == BIQA_DEG_ISO)
                continue; /* the mean grey is not the channels' values; ISO shifts hue */
            apply(&colour, t, l, 5, &out);
            cr_assert(same(&out, &colour), "%s level %d changed a flat colour image",
                      biqa_degrade_info(t)->name, l);
            biqa_image_free(&out);
        }
    /* Brightness scales, gamma keeps black and white. */
    biqa_image out;
    apply(&grey, BIQA_DEG_BRIGHT_UP, 5, 0, &out);
    cr_assert_eq(out.px[0], 121); /* 97 * 1.25 = 121.25 */
    biqa_image_free(&out);
    biqa_image bw;
    fill(&bw, 4, 4, 0, 255, 0);
    apply(&bw, BIQA_DEG_GAMMA_DOWN, 5, 0, &out);
    cr_assert(same(&out, &bw));
    biqa_image_free(&out);
    biqa_image_free(&bw);
    biqa_image_free(&grey);
    biqa_image_free(&colour);
}

Test(image_degrade, bad_arguments_are_refused)
{
    biqa_image in, out;
    biqa_error e = {{0}};
    make_image(&in, 8, 8);
    cr_assert_eq(biqa_degrade_apply_one(&in, BIQA_DEG_TYPES, 1, 0, &out, &e), -1);
    cr_assert_str_eq(e.msg, "degradation type 26 does not exist (0..25)");
    cr_assert_eq(biqa_degrade_apply_one(&in, BIQA_DEG_GBLUR, 0, 0, &out, &e), -1);
    cr_assert_str_eq(e.msg, "gblur: level 0 is outside 1..5");
    cr_assert_eq(biqa_degrade_apply_one(&in, BIQA_DEG_GBLUR, 6, 0, &out, &e), -1);
    double p[2] = {4, 0};
    cr_assert_eq(biqa_degrade_apply(&in, BIQA_DEG_MEDIAN, p, 0, &out, &e), -1);
    cr_assert_str_eq(e.msg, "median: kernel size 4 must be odd");
    p[0] = 40.5;
    cr_assert_eq(biqa_degrade_apply(&in, BIQA_DEG_JPEG, p, 0, &out, &e), -1);
    cr_assert_str_eq(e.msg, "jpeg: parameter 1 (quality (libjpeg-turbo, 4:2:0)) = 40.5 must be "
                            "a whole number");
    p[0] = 30;
    cr_assert_eq(biqa_degrade_apply(&in, BIQA_DEG_GBLUR, p, 0, &out, &e), -1);
    cr_assert_str_eq(e.msg, "gblur: parameter 1 (sigma px) = 30 is outside [0.1, 20]");
    p[0] = NAN;
    cr_assert_eq(biqa_degrade_apply(&in, BIQA_DEG_NOISE, p, 0, &out, &e), -1);
    cr_assert_null(out.px);
    biqa_image empty = {0, 0, NULL};
    cr_assert_eq(biqa_degrade_apply_one(&empty, BIQA_DEG_GBLUR, 1, 0, &out, &e), -1);
    cr_assert_str_eq(e.msg, "gblur: empty input image");
    biqa_image_free(&in);
}

/* Configured parameters beyond the table: the largest accepted values
 * still run (kernel buffers sized for them). */
Test(image_degrade, extreme_parameters_run)
{
    biqa_image in, out;
    biqa_error e = {{0}};
    make_image(&in, 30, 12);
    for (int t = 0; t < BIQA_DEG_TYPES; t++) {
        const biqa_degrade_type *d = biqa_degrade_info(t);
        double hi[2] = {d->hi[0], d->hi[1]}, lo[2] = {d->lo[0], d->lo[1]};
        if (t == BIQA_DEG_MEDIAN)
            lo[0] = 1;
        cr_assert_eq(biqa_degrade_apply(&in, t, hi, 1, &out, &e), 0, "%s high: %s", d->name,
                     e.msg);
        biqa_image_free(&out);
        cr_assert_eq(biqa_degrade_apply(&in, t, lo, 1, &out, &e), 0, "%s low: %s", d->name,
                     e.msg);
        biqa_image_free(&out);
    }
    biqa_image_free(&in);
}
