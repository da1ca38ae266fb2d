/* kernels/image/chain.h: chain text, the samplers (determinism, what they
 * draw, the second-order structure), application, and the size of the
 * space, whose counting rule is checked against the distinct chains the
 * samplers actually draw on small spaces. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "kernels/image/chain.h"

#define BIT(t) (1u << (t))

static void make_image(biqa_image *im, int w, int h)
{
    cr_assert_eq(biqa_image_alloc(im, w, h, "test", NULL), 0);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = im->px + 3 * ((size_t)y * w + x);
            p[0] = (uint8_t)(30 + x * 190 / w);
            p[1] = (uint8_t)(20 + y * 200 / h);
            p[2] = (uint8_t)((x * 37 + y * 91) % 256);
        }
}

static int same_image(const biqa_image *a, const biqa_image *b)
{
    return a->w == b->w && a->h == b->h && memcmp(a->px, b->px, (size_t)3 * a->w * a->h) == 0;
}

static int same_chain(const biqa_chain *a, const biqa_chain *b)
{
    if (a->n != b->n)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (a->steps[i].type != b->steps[i].type || a->steps[i].level != b->steps[i].level)
            return 0;
    return 1;
}

static void parse_ok(const char *text, biqa_chain *c)
{
    biqa_error e = {{0}};
    cr_assert_eq(biqa_chain_parse(text, c, &e), 0, "%s: %s", text, e.msg);
}

static void parse_fails(const char *text, const char *needle1, const char *needle2)
{
    biqa_chain c = {.n = 3};
    biqa_error e = {{0}};
    cr_assert_eq(biqa_chain_parse(text, &c, &e), -1, "'%s' parsed", text);
    cr_assert_eq(c.n, 0, "a failed parse leaves the empty chain");
    cr_assert(strstr(e.msg, needle1), "'%s' not in: %s", needle1, e.msg);
    cr_assert(strstr(e.msg, needle2), "'%s' not in: %s", needle2, e.msg);
    cr_assert_null(strchr(e.msg, '\n'), "one line: %s", e.msg);
}

Test(chain, text_round_trips)
{
    /* Every type at every level, in one text per level. */
    for (int l = 1; l <= BIQA_DEG_LEVELS; l++) {
        char text[1024] = "";
        biqa_chain c;
        for (int t0 = 0; t0 < BIQA_DEG_TYPES; t0 += BIQA_CHAIN_MAX) {
            size_t at = 0;
            for (int t = t0; t < t0 + BIQA_CHAIN_MAX && t < BIQA_DEG_TYPES; t++)
                at += (size_t)snprintf(text + at, sizeof text - at, "%s%s:%d", t > t0 ? "," : "",
                                       biqa_degrade_info(t)->name, l);
            parse_ok(text, &c);
            cr_assert_eq(c.n, (BIQA_DEG_TYPES - t0 < BIQA_CHAIN_MAX ? BIQA_DEG_TYPES - t0
                                                                     : BIQA_CHAIN_MAX));
            for (int i = 0; i < c.n; i++)
                cr_assert(c.steps[i].type == t0 + i && c.steps[i].level == l);
            char back[1024];
            cr_assert_eq(biqa_chain_format(&c, back, sizeof back), (int)strlen(text));
            cr_assert_str_eq(back, text);
        }
    }
    /* Spaces are ignored; the formatted text is canonical. */
    biqa_chain c, d;
    parse_ok("  hue+ : 1 ,jpeg:3 , resize_bicubic:5  ", &c);
    char text[128];
    biqa_chain_format(&c, text, sizeof text);
    cr_assert_str_eq(text, "hue+:1,jpeg:3,resize_bicubic:5");
    parse_ok("", &c);
    cr_assert_eq(c.n, 0);
    parse_ok("   ", &c);
    cr_assert_eq(c.n, 0);
    cr_assert_eq(biqa_chain_format(&c, text, sizeof text), 0);
    cr_assert_str_eq(text, "");
    /* Sampled chains of both families format and parse back to themselves. */
    biqa_chain_sampler s = biqa_chain_sampler_default();
    for (int fam = 0; fam < 2; fam++) {
        s.family = fam;
        for (uint64_t i = 0; i < 200; i++) {
            biqa_chain_sample(&s, 3, i, &c);
            biqa_chain_format(&c, text, sizeof text);
            parse_ok(text, &d);
            cr_assert(same_chain(&c, &d), "%s", text);
        }
    }
    /* The length is snprintf's, whatever the buffer. */
    parse_ok("gblur:2,jpeg:3", &c);
    char small[6];
    cr_assert_eq(biqa_chain_format(&c, small, sizeof small), 14);
    cr_assert_str_eq(small, "gblur");
    cr_assert_eq(biqa_chain_format(&c, NULL, 0), 14);
}

Test(chain, parse_errors_name_the_step)
{
    parse_fails("jpeg:9", "chain \"jpeg:9\": step 1 \"jpeg:9\"", "level 9 outside 1..5");
    parse_fails("gblur:2,jpeg:0", "step 2 \"jpeg:0\"", "level 0 outside 1..5");
    parse_fails("gblur:2,blur:2", "step 2 \"blur:2\": unknown type \"blur\"",
                "sharpen, gblur, mblur, median, glass, ggblur, defocus, zoom, iso, noise, "
                "grey_noise, speckle, bright+, bright-, contrast+, contrast-, gamma+, gamma-, "
                "hue+, hue-, sat+, sat-, jpeg, resize_nearest, resize_bilinear, resize_bicubic");
    parse_fails("jpeg", "step 1 \"jpeg\"", "expected TYPE:LEVEL");
    parse_fails("jpeg:x", "step 1 \"jpeg:x\"", "level \"x\" is not a whole number");
    parse_fails("jpeg:-1", "step 1", "level \"-1\" is not a whole number");
    parse_fails("jpeg:", "step 1", "level \"\" is not a whole number");
    parse_fails("jpeg:3,,gblur:2", "step 2 \"\"", "expected TYPE:LEVEL");
    parse_fails("jpeg:3,", "step 2", "expected TYPE:LEVEL");
    parse_fails(":3", "step 1", "unknown type \"\"");
    parse_fails("jpeg:99999999999", "step 1", "level 99999999999 outside 1..5");
    char many[512] = "";
    for (int i = 0; i <= BIQA_CHAIN_MAX; i++)
        strcat(many, i ? ",gblur:1" : "gblur:1");
    parse_fails(many, "chain \"gblur:1,", "more than 16 steps");
}

static biqa_chain_sampler sampler(int family, int k, uint32_t types, int lo, int hi, int ordered)
{
    return (biqa_chain_sampler){family, k, types, lo, hi, ordered};
}

Test(chain, samplers_are_pure_functions_of_seed_and_index)
{
    biqa_chain_sampler s = biqa_chain_sampler_default();
    cr_assert_eq(s.family, BIQA_SAMPLER_CHAIN);
    cr_assert_eq(s.k, 5);
    cr_assert_eq(s.types, BIQA_CHAIN_ALL_TYPES);
    cr_assert(s.level_min == 1 && s.level_max == 5 && !s.ordered);
    for (int fam = 0; fam < 2; fam++) {
        s.family = fam;
        biqa_chain first[50], c;
        for (int i = 0; i < 50; i++)
            biqa_chain_sample(&s, 42, (uint64_t)i, &first[i]);
        int differ_index = 0, differ_seed = 0;
        for (int i = 49; i >= 0; i--) { /* another order of calls */
            biqa_chain_sample(&s, 42, (uint64_t)i, &c);
            cr_assert(same_chain(&c, &first[i]), "family %d draw %d", fam, i);
            differ_index += i > 0 && !same_chain(&first[i], &first[i - 1]);
            biqa_chain_sample(&s, 43, (uint64_t)i, &c);
            differ_seed += !same_chain(&c, &first[i]);
        }
        cr_assert_eq(differ_index, 49, "consecutive draws repeat");
        cr_assert_eq(differ_seed, 50, "another seed repeats draws");
    }
}

Test(chain, chain_sampler_draws_what_it_is_configured_to)
{
    /* The default: k = 5, every type, every level; uniform by a chi-square
     * test on 4000 draws (20000 steps), at p = 1e-6 (26 types: 25 degrees
     * of freedom, critical value 70.0; 5 levels: 4, 33.4). */
    biqa_chain_sampler s = biqa_chain_sampler_default();
    long types[BIQA_DEG_TYPES] = {0}, levels[6] = {0};
    int changed_order = 0;
    for (uint64_t i = 0; i < 4000; i++) {
        biqa_chain c;
        biqa_chain_sample(&s, 7, i, &c);
        cr_assert_eq(c.n, 5);
        for (int j = 0; j < c.n; j++) {
            cr_assert(c.steps[j].type >= 0 && c.steps[j].type < BIQA_DEG_TYPES);
            cr_assert(c.steps[j].level >= 1 && c.steps[j].level <= 5);
            types[c.steps[j].type]++;
            levels[c.steps[j].level]++;
            changed_order += j > 0 && c.steps[j].type < c.steps[j - 1].type;
        }
    }
    double chi = 0, e = 20000.0 / BIQA_DEG_TYPES;
    for (int t = 0; t < BIQA_DEG_TYPES; t++) {
        cr_assert_gt(types[t], 0, "%s never drawn", biqa_degrade_info(t)->name);
        chi += (types[t] - e) * (types[t] - e) / e;
    }
    cr_assert_lt(chi, 70.0, "types not uniform: chi2 %g", chi);
    chi = 0;
    for (int l = 1; l <= 5; l++)
        chi += (levels[l] - 4000.0) * (levels[l] - 4000.0) / 4000.0;
    cr_assert_lt(chi, 33.4, "levels not uniform: chi2 %g", chi);
    cr_assert_gt(changed_order, 1000, "random order");
    /* A type subset, a level range, another k; then table order. */
    const uint32_t set = BIT(BIQA_DEG_GBLUR) | BIT(BIQA_DEG_JPEG) | BIT(BIQA_DEG_HUE_UP);
    for (int ordered = 0; ordered < 2; ordered++) {
        s = sampler(BIQA_SAMPLER_CHAIN, 9, set, 2, 4, ordered);
        cr_assert_eq(biqa_chain_sampler_check(&s, NULL), 0);
        int seen_t = 0, seen_l = 0, unsorted = 0;
        for (uint64_t i = 0; i < 500; i++) {
            biqa_chain c;
            biqa_chain_sample(&s, 1, i, &c);
            cr_assert_eq(c.n, 9);
            for (int j = 0; j < c.n; j++) {
                cr_assert(set & BIT(c.steps[j].type), "type %d drawn", c.steps[j].type);
                cr_assert(c.steps[j].level >= 2 && c.steps[j].level <= 4);
                seen_t |= (int)BIT(c.steps[j].type);
                seen_l |= 1 << c.steps[j].level;
                if (j > 0) {
                    const biqa_chain_step *a = &c.steps[j - 1], *b = &c.steps[j];
                    unsorted += a->type > b->type || (a->type == b->type && a->level > b->level);
                }
            }
        }
        cr_assert_eq((uint32_t)seen_t, set);
        cr_assert_eq(seen_l, (1 << 2) | (1 << 3) | (1 << 4));
        if (ordered)
            cr_assert_eq(unsorted, 0, "table order: steps sorted by (type, level)");
        else
            cr_assert_gt(unsorted, 500, "random order");
    }
}

Test(chain, second_order_structure)
{
    static const int family[BIQA_STAGES][4] = {
        {BIQA_DEG_GBLUR, BIQA_DEG_MBLUR, BIQA_DEG_GGBLUR, BIQA_DEG_DEFOCUS},
        {BIQA_DEG_RESIZE_NEAREST, BIQA_DEG_RESIZE_BILINEAR, BIQA_DEG_RESIZE_BICUBIC, -1},
        {BIQA_DEG_NOISE, BIQA_DEG_GREY_NOISE, BIQA_DEG_ISO, -1},
        {BIQA_DEG_JPEG, -1, -1, -1}};
    int members = 0;
    for (int t = 0; t < BIQA_DEG_TYPES; t++) {
        int want = -1;
        for (int st = 0; st < BIQA_STAGES; st++)
            for (int i = 0; i < 4; i++)
                want = family[st][i] == t ? st : want;
        cr_assert_eq(biqa_chain_stage(t), want, "%s", biqa_degrade_info(t)->name);
        members += want >= 0;
    }
    cr_assert_eq(members, 11);
    cr_assert_str_eq(biqa_chain_stage_name(BIQA_STAGE_RESIZE), "resize");
    for (int ordered = 0; ordered < 2; ordered++) {
        biqa_chain_sampler s = sampler(BIQA_SAMPLER_SECOND_ORDER, 5, BIQA_CHAIN_ALL_TYPES, 1, 5,
                                       ordered);
        uint32_t seen = 0;
        int orders[256] = {0}, norders = 0;
        for (uint64_t i = 0; i < 3000; i++) {
            biqa_chain c;
            biqa_chain_sample(&s, 9, i, &c);
            cr_assert_eq(c.n, 8);
            for (int round = 0; round < 2; round++) {
                int stages = 0, code = 0;
                for (int j = 0; j < 4; j++) {
                    const biqa_chain_step *st = &c.steps[4 * round + j];
                    int stage = biqa_chain_stage(st->type);
                    cr_assert_geq(stage, 0, "%s in no stage", biqa_degrade_info(st->type)->name);
                    stages |= 1 << stage;
                    code = 4 * code + stage;
                    seen |= BIT(st->type);
                    cr_assert(st->level >= 1 && st->level <= 5);
                }
                cr_assert_eq(stages, 15, "each round has one step of every stage");
                if (ordered)
                    cr_assert_eq(code, 0 * 64 + 1 * 16 + 2 * 4 + 3, "blur, resize, noise, jpeg");
                norders += !orders[code]++;
            }
        }
        uint32_t all = 0;
        for (int st = 0; st < BIQA_STAGES; st++)
            for (int i = 0; i < 4; i++)
                all |= family[st][i] >= 0 ? BIT(family[st][i]) : 0;
        cr_assert_eq(seen, all, "every family member drawn");
        cr_assert_eq(norders, ordered ? 1 : 24, "stage orders seen");
    }
}

Test(chain, sampler_check_and_parse)
{
    biqa_error e = {{0}};
    biqa_chain_sampler s = sampler(BIQA_SAMPLER_CHAIN, 0, 1, 1, 5, 0);
    cr_assert_eq(biqa_chain_sampler_check(&s, &e), -1);
    cr_assert(strstr(e.msg, "degrade.k"), "%s", e.msg);
    s.k = 17;
    cr_assert_eq(biqa_chain_sampler_check(&s, NULL), -1);
    s = sampler(BIQA_SAMPLER_CHAIN, 5, 0, 1, 5, 0);
    cr_assert_eq(biqa_chain_sampler_check(&s, &e), -1);
    cr_assert(strstr(e.msg, "degrade.types"), "%s", e.msg);
    s = sampler(BIQA_SAMPLER_CHAIN, 5, BIT(26), 1, 5, 0);
    cr_assert_eq(biqa_chain_sampler_check(&s, NULL), -1);
    s = sampler(BIQA_SAMPLER_CHAIN, 5, 1, 4, 2, 0);
    cr_assert_eq(biqa_chain_sampler_check(&s, &e), -1);
    cr_assert(strstr(e.msg, "degrade.levels"), "%s", e.msg);
    s = sampler(BIQA_SAMPLER_CHAIN, 5, 1, 0, 2, 0);
    cr_assert_eq(biqa_chain_sampler_check(&s, NULL), -1);
    biqa_chain c = {.n = 2};
    biqa_chain_sample(&s, 1, 0, &c);
    cr_assert_eq(c.n, 0, "an invalid sampler draws the empty chain");
    /* Second-order: k is not used; every stage must keep a type. */
    s = sampler(BIQA_SAMPLER_SECOND_ORDER, 0, BIQA_CHAIN_ALL_TYPES, 1, 5, 0);
    cr_assert_eq(biqa_chain_sampler_check(&s, NULL), 0);
    s.types &= ~(BIT(BIQA_DEG_RESIZE_NEAREST) | BIT(BIQA_DEG_RESIZE_BILINEAR) |
                 BIT(BIQA_DEG_RESIZE_BICUBIC));
    cr_assert_eq(biqa_chain_sampler_check(&s, &e), -1);
    cr_assert(strstr(e.msg, "resize stage (resize_nearest, resize_bilinear, resize_bicubic)"),
              "%s", e.msg);

    /* From the knobs' texts. */
    cr_assert_eq(biqa_chain_sampler_parse("chain", 5, "all", "1-5", "random", &s, &e), 0, "%s", e.msg);
    biqa_chain_sampler d = biqa_chain_sampler_default();
    cr_assert(memcmp(&s, &d, sizeof s) == 0);
    cr_assert_eq(biqa_chain_sampler_parse("chain", 3, " gblur , jpeg,hue+ ", " 2 - 4 ", "table", &s, &e), 0,
                 "%s", e.msg);
    cr_assert_eq(s.types, BIT(BIQA_DEG_GBLUR) | BIT(BIQA_DEG_JPEG) | BIT(BIQA_DEG_HUE_UP));
    cr_assert(s.k == 3 && s.level_min == 2 && s.level_max == 4 && s.ordered == 1);
    cr_assert_eq(biqa_chain_sampler_parse("chain", 5, "all", "1-5", "sorted", &s, &e), -1);
    cr_assert(strstr(e.msg, "degrade.order \"sorted\": not random or table"), "%s", e.msg);
    cr_assert_eq(biqa_chain_sampler_parse("second-order", 99, "all", "3", "random", &s, &e), 0, "%s", e.msg);
    cr_assert(s.family == BIQA_SAMPLER_SECOND_ORDER && s.k == 8 && s.level_min == 3 &&
              s.level_max == 3);
    static const char *const bad[][4] = {
        {"first-order", "all", "1-5", "degrade.family \"first-order\""},
        {"chain", "gblur,blurr", "1-5", "unknown type \"blurr\""},
        {"chain", "", "1-5", "unknown type \"\""},
        {"chain", "all", "0-3", "degrade.levels \"0-3\""},
        {"chain", "all", "5-1", "degrade.levels \"5-1\""},
        {"chain", "all", "1-6", "degrade.levels"},
        {"chain", "all", "a-b", "degrade.levels"},
        {"chain", "all", "", "degrade.levels"},
        {"second-order", "gblur,noise,jpeg", "1-5", "resize stage"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(biqa_chain_sampler_parse(bad[i][0], 5, bad[i][1], bad[i][2], "random", &s, &e), -1,
                     "%s %s %s", bad[i][0], bad[i][1], bad[i][2]);
        cr_assert(strstr(e.msg, bad[i][3]), "'%s' not in: %s", bad[i][3], e.msg);
    }
    cr_assert_eq(biqa_chain_sampler_parse("chain", 0, "all", "1-5", "random", &s, &e), -1);
    cr_assert(strstr(e.msg, "degrade.k: 0 steps"), "%s", e.msg);
    cr_assert_eq(biqa_chain_sampler_parse("chain", 17, "all", "1-5", "random", &s, &e), -1);
}

Test(chain, apply_is_deterministic_and_keys_each_step)
{
    biqa_image in, a, b, c;
    make_image(&in, 37, 29);
    biqa_error e = {{0}};
    biqa_chain ch;
    parse_ok("noise:3,gblur:1,noise:3,jpeg:2", &ch);
    cr_assert_eq(biqa_chain_apply(&ch, &in, 5, &a, &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_chain_apply(&ch, &in, 5, &b, &e), 0, "%s", e.msg);
    cr_assert(same_image(&a, &b), "same seed, same bytes");
    biqa_image_free(&b);
    cr_assert_eq(biqa_chain_apply(&ch, &in, 6, &b, &e), 0, "%s", e.msg);
    cr_assert(!same_image(&a, &b), "another seed, other noise");
    biqa_image_free(&b);
    /* Step i is keyed by u64(seed, "chain/step", i), as documented. */
    const uint64_t stream = biqa_rng_stream("chain/step");
    biqa_image cur = in;
    for (int i = 0; i < ch.n; i++) {
        cr_assert_eq(biqa_degrade_apply_one(&cur, ch.steps[i].type, ch.steps[i].level,
                                            biqa_rng_u64(5, stream, (uint64_t)i), &b, &e), 0);
        if (i)
            biqa_image_free(&cur);
        cur = b;
    }
    cr_assert(same_image(&a, &cur), "the documented step keys");
    biqa_image_free(&cur);
    /* Two equal noise steps draw different noise: not the same key twice. */
    parse_ok("noise:5,noise:5", &ch);
    cr_assert_eq(biqa_chain_apply(&ch, &in, 5, &b, &e), 0);
    cr_assert_eq(biqa_degrade_apply_one(&in, BIQA_DEG_NOISE, 5, 77, &c, &e), 0);
    biqa_image twice;
    cr_assert_eq(biqa_degrade_apply_one(&c, BIQA_DEG_NOISE, 5, 77, &twice, &e), 0);
    biqa_image_free(&c);
    cr_assert_eq(biqa_chain_apply(&ch, &in, 77, &c, &e), 0);
    cr_assert(!same_image(&c, &twice));
    biqa_image_free(&twice);
    biqa_image_free(&b);
    biqa_image_free(&c);
    /* The empty chain copies; the sizes are kept by every step. */
    ch.n = 0;
    cr_assert_eq(biqa_chain_apply(&ch, &in, 1, &b, &e), 0);
    cr_assert(same_image(&b, &in) && b.px != in.px);
    biqa_image_free(&b);
    biqa_chain_sampler s = biqa_chain_sampler_default();
    for (uint64_t i = 0; i < 10; i++) {
        biqa_chain_sample(&s, 2, i, &ch);
        cr_assert_eq(biqa_chain_apply(&ch, &in, i, &b, &e), 0, "%s", e.msg);
        cr_assert(b.w == in.w && b.h == in.h);
        biqa_image_free(&b);
    }
    /* A bad step fails naming it, and leaves no image. */
    ch = (biqa_chain){2, {{BIQA_DEG_GBLUR, 1}, {BIQA_DEG_JPEG, 7}}};
    cr_assert_eq(biqa_chain_apply(&ch, &in, 1, &b, &e), -1);
    cr_assert(strstr(e.msg, "chain step 2 (jpeg:7)"), "%s", e.msg);
    cr_assert_null(b.px);
    ch = (biqa_chain){1, {{99, 1}}};
    cr_assert_eq(biqa_chain_apply(&ch, &in, 1, &b, &e), -1);
    cr_assert(strstr(e.msg, "chain step 1 (#99:1)"), "%s", e.msg);
    ch.n = BIQA_CHAIN_MAX + 1;
    cr_assert_eq(biqa_chain_apply(&ch, &in, 1, &b, &e), -1);
    biqa_image_free(&a);
    biqa_image_free(&in);
}

static int cmp_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The number of distinct chains among n draws of s. */
static long distinct_draws(const biqa_chain_sampler *s, long n)
{
    enum { LEN = 160 };
    char *buf = malloc((size_t)n * LEN), **texts = malloc((size_t)n * sizeof *texts);
    cr_assert(buf && texts);
    for (long i = 0; i < n; i++) {
        biqa_chain c;
        biqa_chain_sample(s, 11, (uint64_t)i, &c);
        texts[i] = buf + i * LEN;
        cr_assert_lt(biqa_chain_format(&c, texts[i], LEN), LEN);
    }
    qsort(texts, (size_t)n, sizeof *texts, cmp_text);
    long d = n > 0;
    for (long i = 1; i < n; i++)
        d += strcmp(texts[i], texts[i - 1]) != 0;
    free(texts);
    free(buf);
    return d;
}

static double space_of(const biqa_chain_sampler *s, char *rule, size_t len)
{
    double size = -1;
    cr_assert_eq(biqa_chain_space(s, &size, rule, len), 0, "%s", rule);
    return size;
}

Test(chain, space_counts, .timeout = 60)
{
    char rule[512];
    /* QPT.md's numbers for the default: 26^5 type sequences, (26*5)^5 chains. */
    biqa_chain_sampler s = biqa_chain_sampler_default();
    cr_assert_eq(space_of(&s, rule, sizeof rule), pow(26 * 5, 5));
    cr_assert(strstr(rule, "(26*5)^5 = 37129300000 (3.71e10) chains"), "%s", rule);
    cr_assert(strstr(rule, "26^5 = 11881376 (1.19e7) type sequences"), "%s", rule);
    cr_assert_null(strstr(rule, "2e7"), "never the paper's ~2e7: %s", rule);
    s.ordered = 1; /* multisets of 5 of 130: C(134, 5) */
    cr_assert_eq(space_of(&s, rule, sizeof rule), 134.0 * 133 * 132 * 131 * 130 / 120);
    s = sampler(BIQA_SAMPLER_SECOND_ORDER, 5, BIQA_CHAIN_ALL_TYPES, 1, 5, 0);
    cr_assert_eq(space_of(&s, rule, sizeof rule), pow(24.0 * 4 * 3 * 3 * 1 * 625, 2));
    cr_assert(strstr(rule, "(24*4*3*3*1*5^4)^2 = 291600000000 (2.92e11) chains"), "%s", rule);
    s.ordered = 1;
    cr_assert_eq(space_of(&s, rule, sizeof rule), pow(4.0 * 3 * 3 * 1 * 625, 2));
    s.k = 0;
    s.level_min = 0;
    cr_assert_eq(biqa_chain_space(&s, &(double){0}, rule, sizeof rule), -1);
    cr_assert(strstr(rule, "degrade.levels"), "%s", rule);

    /* On small spaces the rule's count is the number of distinct chains
     * the sampler draws (enough draws to see every chain). */
    const uint32_t three = BIT(BIQA_DEG_GBLUR) | BIT(BIQA_DEG_JPEG) | BIT(BIQA_DEG_NOISE);
    const struct { biqa_chain_sampler s; long draws; } cases[] = {
        {sampler(BIQA_SAMPLER_CHAIN, 3, three, 1, 2, 0), 20000},      /* 6^3 = 216 */
        {sampler(BIQA_SAMPLER_CHAIN, 3, three, 1, 2, 1), 20000},      /* C(8, 3) = 56 */
        {sampler(BIQA_SAMPLER_CHAIN, 2, three, 3, 5, 0), 20000},      /* 9^2 = 81 */
        {sampler(BIQA_SAMPLER_CHAIN, 4, BIT(BIQA_DEG_HUE_UP), 1, 5, 1), 20000}, /* C(8, 4) */
        {sampler(BIQA_SAMPLER_SECOND_ORDER, 5,
                 BIT(BIQA_DEG_GBLUR) | BIT(BIQA_DEG_MBLUR) | BIT(BIQA_DEG_RESIZE_BICUBIC) |
                     BIT(BIQA_DEG_ISO) | BIT(BIQA_DEG_JPEG), 2, 2, 0), 100000}, /* 48^2 */
        {sampler(BIQA_SAMPLER_SECOND_ORDER, 5, BIQA_CHAIN_ALL_TYPES & ~BIT(BIQA_DEG_GBLUR), 1,
                 1, 1), 20000},                                      /* (3*3*3)^2 = 729 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        double size = space_of(&cases[i].s, rule, sizeof rule);
        cr_assert_eq(distinct_draws(&cases[i].s, cases[i].draws), (long)size, "case %zu: %s", i,
                     rule);
    }
}
