/* biqa degrade apply | space | sheet: QPT's degradation space from the
 * command line (kernels/image/chain.h, degrade.h). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "harness/commands.h"
#include "harness/config.h"
#include "harness/output.h"
#include "kernels/image/chain.h"

/* The sampler of the config's degrade.* knobs (--profile, --config, --set
 * as for `biqa config show`); desc gets the knobs as one line. */
static int config_sampler(const biqa_cli *cli, biqa_chain_sampler *s, char *desc, size_t len,
                          biqa_error *err)
{
    biqa_config c;
    if (biqa_config_from_cli(&c, cli, err) < 0)
        return -1;
    const char *family = biqa_config_get(&c, "degrade.family")->valuestring;
    const double k = biqa_config_get(&c, "degrade.k")->valuedouble;
    const char *types = biqa_config_get(&c, "degrade.types")->valuestring;
    const char *levels = biqa_config_get(&c, "degrade.levels")->valuestring;
    const char *order = biqa_config_get(&c, "degrade.order")->valuestring;
    int rc = biqa_chain_sampler_parse(family, (int64_t)k, types, levels, order, s, err);
    snprintf(desc, len, "profile %s: degrade.family %s, degrade.k %.0f%s, degrade.types %s, "
                        "degrade.levels %s, degrade.order %s", c.profile, family, k,
             s->family == BIQA_SAMPLER_SECOND_ORDER ? " (not used)" : "", types, levels, order);
    biqa_config_free(&c);
    return rc;
}

/* ---- apply -------------------------------------------------------------- */

int biqa_cmd_degrade_apply(biqa_cli *cli)
{
    const biqa_args *a = cli->args;
    const char *in = biqa_arg(a, "in"), *out = biqa_arg(a, "out"), *text = biqa_arg(a, "chain");
    int64_t index = 0, quality = 95;
    if (biqa_expect_args(cli, 0, 0, "") != 0 || biqa_arg_int64(a, "index", &index) < 0 ||
        biqa_arg_int64(a, "quality", &quality) < 0)
        return BIQA_EXIT_USAGE;
    if (!in || !out)
        return biqa_usage_error(a, "--in IMG and --out IMG are required");
    if (!text && !cli->has_seed)
        return biqa_usage_error(a, "give the chain (--chain \"jpeg:3,gblur:2\") or draw one "
                                   "(--seed N [--index I])");
    if (text && biqa_arg(a, "index"))
        return biqa_usage_error(a, "--index picks a seeded draw; it does not go with --chain");
    if (index < 0 || quality < 1 || quality > 100)
        return biqa_usage_error(a, "--index must be >= 0 and --quality in 1..100");
    /* Shown as given (signed), so that it reads back through --seed. */
    const long long shown_seed = cli->has_seed ? (long long)cli->seed : 0;
    const uint64_t seed = (uint64_t)shown_seed;
    biqa_error err = {{0}};
    biqa_chain chain;
    if (text) {
        if (biqa_chain_parse(text, &chain, &err) < 0) {
            biqa_error_line("%s", err.msg);
            return BIQA_EXIT_FAIL;
        }
    } else {
        biqa_chain_sampler s;
        char desc[512];
        if (config_sampler(cli, &s, desc, sizeof desc, &err) < 0) {
            biqa_error_line("%s", err.msg);
            return BIQA_EXIT_FAIL;
        }
        biqa_chain_sample(&s, seed, (uint64_t)index, &chain);
        biqa_debug("degrade apply: draw %lld of seed %lld under %s", (long long)index,
                   shown_seed, desc);
    }
    char ctext[BIQA_CHAIN_MAX * 24];
    biqa_chain_format(&chain, ctext, sizeof ctext);
    biqa_image im = {0}, d = {0};
    int rc = BIQA_EXIT_FAIL;
    if (biqa_image_read(in, &im, &err) < 0 || biqa_chain_apply(&chain, &im, seed, &d, &err) < 0 ||
        biqa_image_write(out, &d, (int)quality, &err) < 0) {
        biqa_error_line("%s", err.msg);
        goto done;
    }
    if (cli->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "in", in);
        cJSON_AddStringToObject(o, "out", out);
        cJSON_AddStringToObject(o, "chain", ctext);
        cJSON_AddNumberToObject(o, "seed", (double)shown_seed);
        if (!text)
            cJSON_AddNumberToObject(o, "index", (double)index);
        cJSON_AddNumberToObject(o, "width", d.w);
        cJSON_AddNumberToObject(o, "height", d.h);
        biqa_print_json(o, stdout);
    } else {
        printf("%s\n", ctext);
        biqa_info("%s -> %s (%dx%d); the same bytes again: --chain \"%s\" --seed %lld", in, out,
                  d.w, d.h, ctext, shown_seed);
    }
    rc = BIQA_EXIT_OK;
done:
    biqa_image_free(&im);
    biqa_image_free(&d);
    return rc;
}

/* ---- space --------------------------------------------------------------- */

int biqa_cmd_degrade_space(biqa_cli *cli)
{
    if (biqa_expect_args(cli, 0, 0, "") != 0)
        return BIQA_EXIT_USAGE;
    biqa_error err = {{0}};
    biqa_chain_sampler s;
    char desc[512], rule[1024];
    double size;
    if (config_sampler(cli, &s, desc, sizeof desc, &err) < 0) {
        biqa_error_line("%s", err.msg);
        return BIQA_EXIT_FAIL;
    }
    biqa_chain_space(&s, &size, rule, sizeof rule);
    if (cli->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "family",
                                s.family == BIQA_SAMPLER_CHAIN ? "chain" : "second-order");
        if (s.family == BIQA_SAMPLER_CHAIN)
            cJSON_AddNumberToObject(o, "k", s.k);
        cJSON *types = cJSON_AddArrayToObject(o, "types");
        for (int t = 0; t < BIQA_DEG_TYPES; t++)
            if (s.types >> t & 1)
                cJSON_AddItemToArray(types, cJSON_CreateString(biqa_degrade_info(t)->name));
        cJSON_AddNumberToObject(o, "level_min", s.level_min);
        cJSON_AddNumberToObject(o, "level_max", s.level_max);
        cJSON_AddStringToObject(o, "order", s.ordered ? "table" : "random");
        cJSON_AddNumberToObject(o, "size", size);
        cJSON_AddStringToObject(o, "rule", rule);
        biqa_print_json(o, stdout);
        return BIQA_EXIT_OK;
    }
    printf("sampler: %s, %s order\n", desc, s.ordered ? "table" : "random");
    if (size < 1e15)
        printf("size: %.0f chains\n", size);
    else
        printf("size: %.3g chains\n", size);
    printf("rule: %s\n", rule);
    return BIQA_EXIT_OK;
}

/* ---- sheet --------------------------------------------------------------- */

/* Layout of the contact sheet: a label column, a header row, and cells of
 * the (centre-cropped) input separated by GAP pixels. */
enum { GAP = 4, LABEL_W = 32, HEAD_H = 24, GLYPH = 3, MIN_CELL = 16 };

/* 3x5 digits, one row of three bits per entry (high bit on the left). */
static const uint8_t DIGITS[10][5] = {
    {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
    {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7}};

/* Draws the decimal number v at (x, y), GLYPH pixels per font pixel. */
static void draw_number(biqa_image *im, int x, int y, int v)
{
    char text[16];
    int n = snprintf(text, sizeof text, "%d", v);
    for (int i = 0; i < n; i++)
        for (int r = 0; r < 5 * GLYPH; r++)
            for (int c = 0; c < 3 * GLYPH; c++) {
                int px = x + i * 4 * GLYPH + c, py = y + r;
                if (px < im->w && py < im->h &&
                    (DIGITS[text[i] - '0'][r / GLYPH] >> (2 - c / GLYPH) & 1))
                    memset(im->px + 3 * ((size_t)py * im->w + px), 255, 3);
            }
}

static void paste(biqa_image *sheet, const biqa_image *cell, int x, int y)
{
    for (int r = 0; r < cell->h; r++)
        memcpy(sheet->px + 3 * ((size_t)(y + r) * sheet->w + x),
               cell->px + (size_t)3 * r * cell->w, (size_t)3 * cell->w);
}

/* The parameters of a type's levels, "0.5 0.7 ..." or "(0.1,1) (0.3,2) ...". */
static void level_text(const biqa_degrade_type *t, char *buf, size_t len)
{
    size_t at = 0;
    for (int l = 0; l < BIQA_DEG_LEVELS && at < len; l++)
        at += (size_t)(t->nparams == 1
                           ? snprintf(buf + at, len - at, "%s%g", l ? " " : "", t->level[l][0])
                           : snprintf(buf + at, len - at, "%s(%g,%g)", l ? " " : "",
                                      t->level[l][0], t->level[l][1]));
}

/* Draws every type at every level of the crop into sheet (allocated here). */
static int build_sheet(const biqa_image *crop, uint64_t seed, biqa_image *sheet,
                       biqa_error *err)
{
    const int cw = crop->w, ch = crop->h;
    if (biqa_image_alloc(sheet, LABEL_W + 6 * (cw + GAP), HEAD_H + BIQA_DEG_TYPES * (ch + GAP),
                         "contact sheet", err) < 0)
        return -1;
    memset(sheet->px, 48, (size_t)3 * sheet->w * sheet->h);
    for (int c = 0; c <= BIQA_DEG_LEVELS; c++)
        draw_number(sheet, LABEL_W + c * (cw + GAP) + cw / 2 - 3 * GLYPH / 2, 4, c);
    for (int t = 0; t < BIQA_DEG_TYPES; t++) {
        const int y = HEAD_H + t * (ch + GAP);
        draw_number(sheet, 4, y, t + 1);
        paste(sheet, crop, LABEL_W, y);
        for (int l = 1; l <= BIQA_DEG_LEVELS; l++) {
            biqa_image d;
            if (biqa_degrade_apply_one(crop, t, l, seed, &d, err) < 0) {
                biqa_image_free(sheet);
                return -1;
            }
            paste(sheet, &d, LABEL_W + l * (cw + GAP), y);
            biqa_image_free(&d);
        }
    }
    return 0;
}

/* What the rows and columns of the sheet are, with every level's parameters. */
static void print_legend(const biqa_cli *cli, const char *out, const biqa_image *sheet,
                         const biqa_image *crop)
{
    cJSON *o = NULL, *rows = NULL;
    if (cli->json) {
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "out", out);
        cJSON_AddNumberToObject(o, "width", sheet->w);
        cJSON_AddNumberToObject(o, "height", sheet->h);
        cJSON_AddNumberToObject(o, "cell_width", crop->w);
        cJSON_AddNumberToObject(o, "cell_height", crop->h);
        rows = cJSON_AddArrayToObject(o, "rows");
    } else {
        printf("%s: %dx%d; rows 1..%d = the types below (numbered as in QPT.md's table), "
               "columns 0 = the input (%dx%d centre crop) and 1..%d = the levels\n",
               out, sheet->w, sheet->h, BIQA_DEG_TYPES, crop->w, crop->h, BIQA_DEG_LEVELS);
    }
    for (int t = 0; t < BIQA_DEG_TYPES; t++) {
        const biqa_degrade_type *d = biqa_degrade_info(t);
        char levels[256];
        level_text(d, levels, sizeof levels);
        if (!cli->json) {
            printf("%3d %-16s %s: %s\n", t + 1, d->name, d->params, levels);
            continue;
        }
        cJSON *row = cJSON_CreateObject();
        cJSON_AddNumberToObject(row, "row", t + 1);
        cJSON_AddStringToObject(row, "type", d->name);
        cJSON_AddStringToObject(row, "params", d->params);
        cJSON_AddStringToObject(row, "levels", levels);
        cJSON_AddItemToArray(rows, row);
    }
    if (o)
        biqa_print_json(o, stdout);
}

int biqa_cmd_degrade_sheet(biqa_cli *cli)
{
    const biqa_args *a = cli->args;
    const char *in = biqa_arg(a, "in"), *out = biqa_arg(a, "out");
    int64_t cell = 192;
    if (biqa_expect_args(cli, 0, 0, "") != 0 || biqa_arg_int64(a, "cell", &cell) < 0)
        return BIQA_EXIT_USAGE;
    if (!in || !out)
        return biqa_usage_error(a, "--in IMG and --out PNG are required");
    if (cell < MIN_CELL || cell > 4096)
        return biqa_usage_error(a, "--cell must be in %d..4096", MIN_CELL);
    biqa_error err = {{0}};
    biqa_image im = {0}, crop = {0}, sheet = {0};
    int rc = BIQA_EXIT_FAIL;
    if (biqa_image_read(in, &im, &err) < 0)
        goto done;
    if (im.w < MIN_CELL || im.h < MIN_CELL) {
        biqa_fail(&err, "%s: %dx%d is too small for a contact sheet (at least %dx%d)", in, im.w,
                  im.h, MIN_CELL, MIN_CELL);
        goto done;
    }
    /* A centre crop keeps the pixel scale at which the degradations act. */
    const int cw = im.w < cell ? im.w : (int)cell, ch = im.h < cell ? im.h : (int)cell;
    const int x0 = (im.w - cw) / 2, y0 = (im.h - ch) / 2;
    if (biqa_image_alloc(&crop, cw, ch, in, &err) < 0)
        goto done;
    for (int r = 0; r < ch; r++)
        memcpy(crop.px + (size_t)3 * r * cw, im.px + 3 * ((size_t)(y0 + r) * im.w + x0),
               (size_t)3 * cw);
    if (build_sheet(&crop, cli->has_seed ? (uint64_t)cli->seed : 0, &sheet, &err) < 0 ||
        biqa_image_write(out, &sheet, 95, &err) < 0)
        goto done;
    print_legend(cli, out, &sheet, &crop);
    rc = BIQA_EXIT_OK;
done:
    if (rc != BIQA_EXIT_OK)
        biqa_error_line("%s", err.msg);
    biqa_image_free(&im);
    biqa_image_free(&crop);
    biqa_image_free(&sheet);
    return rc;
}
