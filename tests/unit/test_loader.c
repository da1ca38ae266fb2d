/* datasets/folder.h, augment.h, loader.h: the class-folder index and its
 * errors; the recipes' sizes, value ranges, determinism, QPT's IoU bounds
 * and recorded chains (each QPT patch is regenerated from its chain text);
 * the loader's thread-count independence, epoch coverage, failure
 * reporting and shutdown mid-epoch. (tests/ref/augment_vs_torchvision.py
 * checks the colour ops and resized crop against torchvision.) */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/file.h"
#include "core/rng.h"
#include "datasets/loader.h"

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/biqa-loader-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Smooth gradients plus seeded blobs: content that differs per seed. */
static void make_image(biqa_image *im, int w, int h, uint64_t seed)
{
    cr_assert_eq(biqa_image_alloc(im, w, h, "test", NULL), 0);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = im->px + 3 * ((size_t)y * w + x);
            p[0] = (uint8_t)(x * 255 / w), p[1] = (uint8_t)(y * 255 / h);
            p[2] = (uint8_t)(biqa_rng_below(seed, 1, (uint64_t)((y / 4) * w + x / 4), 256));
        }
}

static void write_image(const char *rel, int w, int h, uint64_t seed)
{
    char path[256];
    biqa_image im;
    make_image(&im, w, h, seed);
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    biqa_error err;
    cr_assert_eq(biqa_image_write(path, &im, 90, &err), 0, "%s", err.msg);
    biqa_image_free(&im);
}

static void mkdir_in(const char *rel)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    cr_assert_eq(mkdir(path, 0755), 0);
}

static void write_text(const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    biqa_error err;
    cr_assert_eq(biqa_write_file_atomic(path, text, strlen(text), &err), 0, "%s", err.msg);
}

TestSuite(loader, .init = setup, .fini = teardown);

Test(loader, folder_sorted_classes_and_files)
{
    mkdir_in("zebra"), mkdir_in("apple"), mkdir_in(".hidden");
    write_image("zebra/b.png", 20, 20, 1);
    write_image("zebra/a.jpg", 20, 20, 2);
    write_text("zebra/notes.txt", "not an image");
    write_image("apple/Z.png", 20, 20, 3);
    write_image("apple/.x.png", 20, 20, 4);
    char path[256];
    snprintf(path, sizeof path, "%s/apple/c.PNG", dir); /* upper-case extension */
    write_image("apple/c.png", 20, 20, 5);
    char from[256];
    snprintf(from, sizeof from, "%s/apple/c.png", dir);
    cr_assert_eq(rename(from, path), 0);
    biqa_folder f;
    biqa_error err;
    cr_assert_eq(biqa_folder_index(dir, &f, &err), 0, "%s", err.msg);
    cr_assert_eq(f.nclasses, 2);
    cr_assert_str_eq(f.classes[0], "apple");
    cr_assert_str_eq(f.classes[1], "zebra");
    cr_assert_eq(f.nitems, 4);
    const char *want[4] = {"apple/Z.png", "apple/c.PNG", "zebra/a.jpg", "zebra/b.png"};
    const int cls[4] = {0, 0, 1, 1};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, want[i]);
        cr_assert_str_eq(f.items[i].path, path);
        cr_assert_eq(f.items[i].cls, cls[i]);
    }
    biqa_folder_free(&f);
    biqa_folder_free(&f); /* safe twice */
}

Test(loader, folder_errors_name_the_folder)
{
    biqa_folder f;
    biqa_error err;
    char path[256];
    snprintf(path, sizeof path, "%s/missing", dir);
    cr_assert_eq(biqa_folder_index(path, &f, &err), -1);
    cr_assert(strstr(err.msg, path), "%s", err.msg);
    cr_assert_eq(biqa_folder_index(dir, &f, &err), -1); /* no class folders */
    cr_assert(strstr(err.msg, dir) && strstr(err.msg, "no class"), "%s", err.msg);
    mkdir_in("a"), mkdir_in("b");
    write_image("a/x.png", 8, 8, 1);
    write_text("b/readme.txt", "x");
    cr_assert_eq(biqa_folder_index(dir, &f, &err), -1); /* class b has no image */
    snprintf(path, sizeof path, "%s/b", dir);
    cr_assert(strstr(err.msg, path), "%s", err.msg);
    cr_assert_eq(f.nitems, 0);
}

static void check_range(const float *v, size_t views, int S)
{
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    const size_t hw = (size_t)S * S;
    for (size_t j = 0; j < views; j++)
        for (int c = 0; c < 3; c++)
            for (size_t i = 0; i < hw; i++) {
                float x = v[(j * 3 + c) * hw + i];
                cr_assert(x >= (0 - mean[c]) / std[c] - 1e-5f &&
                          x <= (1 - mean[c]) / std[c] + 1e-5f, "view %zu c %d: %g", j, c, x);
            }
}

/* Every recipe: view count, range, same bytes for the same key, others for
 * another index. */
Test(loader, recipes_sizes_ranges_determinism)
{
    biqa_image im;
    make_image(&im, 61, 47, 9);
    const enum biqa_recipe_kind kinds[3] = {BIQA_RECIPE_CLASSIFY, BIQA_RECIPE_MOCO,
                                            BIQA_RECIPE_QPT};
    const int want_views[3] = {1, 2, 6};
    for (int k = 0; k < 3; k++) {
        biqa_recipe r = biqa_recipe_default(kinds[k], 24);
        r.variants = 3;
        const int views = biqa_recipe_views(&r);
        cr_assert_eq(views, want_views[k]);
        const size_t n = (size_t)views * 3 * 24 * 24;
        float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
        biqa_error err;
        for (uint64_t idx = 0; idx < 20; idx++) {
            cr_assert_eq(biqa_augment(&r, "im", &im, 5, idx, a, NULL, &err), 0, "%s", err.msg);
            cr_assert_eq(biqa_augment(&r, "im", &im, 5, idx, b, NULL, &err), 0, "%s", err.msg);
            cr_assert_eq(biqa_augment(&r, "im", &im, 5, idx + 1, c, NULL, &err), 0, "%s", err.msg);
            check_range(a, (size_t)views, 24);
            cr_assert_eq(memcmp(a, b, n * sizeof *a), 0, "%s index %llu not deterministic",
                         biqa_recipe_name(kinds[k]), (unsigned long long)idx);
            cr_assert_neq(memcmp(a, c, n * sizeof *a), 0);
        }
        free(a), free(b), free(c);
    }
    biqa_image_free(&im);
}

/* Classify's crop: inside the image, area share in [0.08, 1] and ratio in
 * [3/4, 4/3] up to rounding; the central fallback on a strip. */
Test(loader, classify_crop_boxes)
{
    biqa_recipe r = biqa_recipe_default(BIQA_RECIPE_CLASSIFY, 16);
    float out[3 * 16 * 16];
    biqa_view_info info;
    biqa_error err;
    biqa_image im;
    make_image(&im, 200, 150, 1);
    int flips = 0;
    for (uint64_t i = 0; i < 400; i++) {
        cr_assert_eq(biqa_augment(&r, "im", &im, 3, i, out, &info, &err), 0);
        biqa_box b = info.box;
        cr_assert(b.x >= 0 && b.y >= 0 && b.x + b.w <= 200 && b.y + b.h <= 150);
        double share = (double)b.w * b.h / (200.0 * 150), ratio = (double)b.w / b.h;
        cr_assert(share >= 0.07 && share <= 1.0, "%g", share);
        cr_assert(ratio >= 0.70 && ratio <= 1.40, "%g", ratio);
        flips += info.flipped;
    }
    cr_assert(flips > 150 && flips < 250, "%d flips of 400", flips);
    biqa_image_free(&im);
    make_image(&im, 300, 10, 1); /* ratio 30: no try fits; centre crop 13 x 10 */
    cr_assert_eq(biqa_augment(&r, "im", &im, 3, 0, out, &info, &err), 0);
    cr_assert_eq(info.box.w, 13);
    cr_assert_eq(info.box.h, 10);
    cr_assert_eq(info.box.x, (300 - 13) / 2);
    biqa_image_free(&im);
}

/* QPT: every pair's IoU in bounds, chains recorded, and every patch equal
 * to the crop of its chain (parsed back from the text) applied with the
 * recorded seed: no other change to quality. */
Test(loader, qpt_iou_bounds_and_recorded_chains)
{
    biqa_recipe r = biqa_recipe_default(BIQA_RECIPE_QPT, 16);
    r.sampler.k = 2;
    r.variants = 2;
    const int S = 16, views = 4;
    const size_t hw = (size_t)S * S;
    float *out = malloc((size_t)views * 3 * hw * sizeof *out);
    biqa_view_info info[4];
    biqa_error err;
    biqa_image im;
    make_image(&im, 40, 33, 2);
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    for (uint64_t i = 0; i < 150; i++) {
        cr_assert_eq(biqa_augment(&r, "im", &im, 11, i, out, info, &err), 0, "%s", err.msg);
        for (int v = 0; v < 2; v++) {
            double iou = biqa_box_iou(info[2 * v].box, info[2 * v + 1].box);
            cr_assert(iou >= 0.1 && iou <= 0.3, "index %llu variant %d: IoU %g",
                      (unsigned long long)i, v, iou);
            cr_assert_str_eq(info[2 * v].chain, info[2 * v + 1].chain);
            cr_assert_eq(info[2 * v].group, v);
        }
        cr_assert(strcmp(info[0].chain, info[2].chain) != 0 ||
                  info[0].chain_seed != info[2].chain_seed);
        if (i % 10)
            continue;
        for (int j = 0; j < views; j++) {
            biqa_chain ch;
            biqa_image deg;
            cr_assert_eq(biqa_chain_parse(info[j].chain, &ch, &err), 0, "%s", err.msg);
            cr_assert_eq(ch.n, 2);
            cr_assert_eq(biqa_chain_apply(&ch, &im, info[j].chain_seed, &deg, &err), 0);
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < S; y++)
                    for (int x = 0; x < S; x++) {
                        int sx = info[j].flipped ? S - 1 - x : x;
                        uint8_t px = deg.px[3 * ((size_t)(info[j].box.y + y) * deg.w +
                                                 info[j].box.x + sx) + c];
                        float want = (px / 255.0f - mean[c]) / std[c];
                        cr_assert_float_eq(out[(j * 3 + c) * hw + (size_t)y * S + x], want,
                                           1e-6f);
                    }
            biqa_image_free(&deg);
        }
    }
    free(out);
    biqa_image_free(&im);
}

/* One try and a narrow range force the fallback, still in bounds; an image
 * too small for the patch is an error naming it. */
Test(loader, qpt_fallback_and_errors)
{
    biqa_recipe r = biqa_recipe_default(BIQA_RECIPE_QPT, 16);
    r.sampler.k = 1, r.variants = 1, r.iou_tries = 1, r.iou_min = 0.25, r.iou_max = 0.27;
    float out[2 * 3 * 16 * 16];
    biqa_view_info info[2];
    biqa_error err;
    biqa_image im;
    make_image(&im, 30, 30, 3);
    for (uint64_t i = 0; i < 50; i++) {
        cr_assert_eq(biqa_augment(&r, "im", &im, 1, i, out, info, &err), 0, "%s", err.msg);
        double iou = biqa_box_iou(info[0].box, info[1].box);
        cr_assert(iou >= 0.25 && iou <= 0.27, "%g", iou);
    }
    biqa_image_free(&im);
    make_image(&im, 15, 40, 3);
    cr_assert_eq(biqa_augment(&r, "small.png", &im, 1, 0, out, info, &err), -1);
    cr_assert(strstr(err.msg, "small.png") && strstr(err.msg, "smaller"), "%s", err.msg);
    biqa_image_free(&im);
    make_image(&im, 16, 16, 3); /* room only for IoU 1 */
    cr_assert_eq(biqa_augment(&r, "tight.png", &im, 1, 0, out, info, &err), -1);
    cr_assert(strstr(err.msg, "tight.png") && strstr(err.msg, "IoU"), "%s", err.msg);
    biqa_image_free(&im);
    r.iou_min = 0.5, r.iou_max = 0.4;
    cr_assert_eq(biqa_recipe_check(&r, &err), -1);
    cr_assert(strstr(err.msg, "IoU"), "%s", err.msg);
}

/* 3 classes x 5 images (PNG and JPEG, one too small for QPT's patch when
 * `small`), plus a corrupt file when `corrupt`. */
static void make_folder(int corrupt, biqa_folder *f)
{
    const char *cls[3] = {"c0", "c1", "c2"};
    char rel[64];
    for (int c = 0; c < 3; c++) {
        mkdir_in(cls[c]);
        for (int i = 0; i < 5; i++) {
            snprintf(rel, sizeof rel, "%s/i%d.%s", cls[c], i, i % 2 ? "jpg" : "png");
            write_image(rel, 30 + 3 * i, 28 + c, (uint64_t)(10 * c + i));
        }
    }
    if (corrupt)
        write_text("c1/i9.jpg", "\xff\xd8\xff this is not a JPEG");
    biqa_error err;
    cr_assert_eq(biqa_folder_index(dir, f, &err), 0, "%s", err.msg);
}

typedef struct epoch_bytes {
    float *x;
    int *items, *labels, *groups;
    char *chains;
    size_t nx, nitems, nviews;
} epoch_bytes;

static void run_epoch(const biqa_loader_config *cfg, uint64_t epoch, epoch_bytes *e)
{
    biqa_loader *L;
    biqa_error err;
    cr_assert_eq(biqa_loader_create(cfg, &L, &err), 0, "%s", err.msg);
    const int nb = biqa_loader_batches(L);
    const int V = biqa_recipe_views(&cfg->recipe), B = cfg->batch, S = cfg->recipe.size;
    e->nitems = (size_t)nb * B, e->nviews = e->nitems * V, e->nx = e->nviews * 3 * S * S;
    e->x = malloc(e->nx * sizeof *e->x);
    e->items = malloc(e->nitems * sizeof *e->items);
    e->labels = malloc(e->nitems * sizeof *e->labels);
    e->groups = malloc(e->nviews * sizeof *e->groups);
    e->chains = malloc(e->nviews * BIQA_CHAIN_TEXT);
    biqa_loader_epoch(L, epoch);
    const biqa_batch *b;
    int i = 0, rc;
    while ((rc = biqa_loader_next(L, &b, &err)) == 1) {
        cr_assert_eq(b->index, i);
        cr_assert_eq(b->items, B);
        cr_assert_eq(b->views, B * V);
        memcpy(e->x + (size_t)i * b->views * 3 * S * S, b->x,
               (size_t)b->views * 3 * S * S * sizeof *b->x);
        memcpy(e->items + (size_t)i * B, b->item, (size_t)B * sizeof *b->item);
        memcpy(e->labels + (size_t)i * B, b->label, (size_t)B * sizeof *b->label);
        memcpy(e->groups + (size_t)i * b->views, b->group, (size_t)b->views * sizeof *b->group);
        memcpy(e->chains + (size_t)i * b->views * BIQA_CHAIN_TEXT, b->chain,
               (size_t)b->views * BIQA_CHAIN_TEXT);
        i++;
    }
    cr_assert_eq(rc, 0, "%s", err.msg);
    cr_assert_eq(i, nb);
    cr_assert_eq(biqa_loader_next(L, &b, &err), 0); /* stays at the end */
    biqa_loader_destroy(L);
}

static void free_epoch(epoch_bytes *e)
{
    free(e->x), free(e->items), free(e->labels), free(e->groups), free(e->chains);
}

static void same_epoch(const epoch_bytes *a, const epoch_bytes *b)
{
    cr_assert_eq(a->nx, b->nx);
    cr_assert_eq(memcmp(a->x, b->x, a->nx * sizeof *a->x), 0);
    cr_assert_eq(memcmp(a->items, b->items, a->nitems * sizeof *a->items), 0);
    cr_assert_eq(memcmp(a->labels, b->labels, a->nitems * sizeof *a->labels), 0);
    cr_assert_eq(memcmp(a->groups, b->groups, a->nviews * sizeof *a->groups), 0);
    cr_assert_eq(memcmp(a->chains, b->chains, a->nviews * BIQA_CHAIN_TEXT), 0);
}

/* The same bytes with 1, 2 and 3 threads and any prefetch depth, for each
 * recipe; different epochs differ. */
Test(loader, batches_independent_of_thread_count)
{
    biqa_folder f;
    make_folder(1, &f);
    const enum biqa_recipe_kind kinds[3] = {BIQA_RECIPE_CLASSIFY, BIQA_RECIPE_MOCO,
                                            BIQA_RECIPE_QPT};
    for (int k = 0; k < 3; k++) {
        biqa_loader_config cfg = {.folder = &f, .recipe = biqa_recipe_default(kinds[k], 16),
                                  .batch = 4, .threads = 1, .prefetch = 1, .seed = 7};
        cfg.recipe.sampler.k = 2;
        epoch_bytes base, other, next_epoch;
        run_epoch(&cfg, 3, &base);
        const int threads[2] = {2, 3}, prefetch[2] = {3, 1};
        for (int t = 0; t < 2; t++) {
            cfg.threads = threads[t], cfg.prefetch = prefetch[t];
            run_epoch(&cfg, 3, &other);
            same_epoch(&base, &other);
            free_epoch(&other);
        }
        run_epoch(&cfg, 4, &next_epoch);
        cr_assert_neq(memcmp(base.items, next_epoch.items, base.nitems * sizeof(int)), 0);
        if (kinds[k] == BIQA_RECIPE_QPT)
            for (size_t v = 0; v < base.nviews; v++) {
                cr_assert(base.chains[v * BIQA_CHAIN_TEXT] != '\0');
                cr_assert_eq(base.groups[v], (int)(v / 2) % 8); /* pairs of patches */
            }
        else
            for (size_t v = 0; v < base.nviews; v++)
                cr_assert_eq(base.groups[v], (int)(v / biqa_recipe_views(&cfg.recipe)) % 4);
        free_epoch(&base), free_epoch(&next_epoch);
    }
    biqa_folder_free(&f);
}

/* Without failures an epoch of B | n covers every item exactly once, with
 * the labels of the folder. */
Test(loader, epoch_is_a_permutation)
{
    biqa_folder f;
    make_folder(0, &f);
    biqa_loader_config cfg = {.folder = &f, .recipe = biqa_recipe_default(BIQA_RECIPE_CLASSIFY, 8),
                              .batch = 5, .threads = 2, .prefetch = 2, .seed = 1};
    for (uint64_t ep = 0; ep < 3; ep++) {
        epoch_bytes e;
        run_epoch(&cfg, ep, &e);
        cr_assert_eq(e.nitems, 15);
        int seen[15] = {0}, identity = 1;
        for (size_t i = 0; i < 15; i++) {
            seen[e.items[i]]++;
            cr_assert_eq(e.labels[i], f.items[e.items[i]].cls);
            identity &= e.items[i] == (int)i;
        }
        for (int i = 0; i < 15; i++)
            cr_assert_eq(seen[i], 1, "item %d seen %d times in epoch %llu", i, seen[i],
                         (unsigned long long)ep);
        cr_assert(!identity);
        free_epoch(&e);
    }
    biqa_folder_free(&f);
}

/* A corrupt file is reported (path + error) and replaced by the next item of
 * the permutation; batches keep their size. */
Test(loader, corrupt_file_counted_and_reported)
{
    biqa_folder f;
    make_folder(1, &f); /* 16 items: c1/i9.jpg is item 10 */
    int bad = -1;
    for (int i = 0; i < f.nitems; i++)
        if (strstr(f.items[i].path, "c1/i9.jpg"))
            bad = i;
    cr_assert_geq(bad, 0);
    biqa_loader_config cfg = {.folder = &f, .recipe = biqa_recipe_default(BIQA_RECIPE_CLASSIFY, 8),
                              .batch = 4, .threads = 2, .prefetch = 2, .seed = 1};
    biqa_loader *L;
    biqa_error err;
    cr_assert_eq(biqa_loader_create(&cfg, &L, &err), 0, "%s", err.msg);
    biqa_loader_epoch(L, 0);
    const biqa_batch *b;
    int batch_fails = 0;
    while (biqa_loader_next(L, &b, &err) == 1) {
        cr_assert_eq(b->items, 4);
        for (int i = 0; i < b->items; i++)
            cr_assert_neq(b->item[i], bad);
        for (int k = 0; k < b->nfail; k++) {
            cr_assert_eq(b->fail[k].item, bad);
            batch_fails++;
        }
    }
    cr_assert_eq(batch_fails, 1); /* 16 items, 4 batches: the bad one is met once */
    int n;
    const biqa_loader_failure *fl = biqa_loader_failures(L, &n);
    cr_assert_eq(n, 1);
    cr_assert_eq(biqa_loader_failed_reads(L), 1);
    cr_assert_str_eq(fl[0].path, f.items[bad].path);
    cr_assert(strstr(fl[0].error, "c1/i9.jpg"), "%s", fl[0].error);
    biqa_loader_destroy(L);
    biqa_folder_free(&f);
}

/* A folder whose every image fails is an error, not an endless batch. */
Test(loader, no_usable_image_is_an_error)
{
    mkdir_in("a");
    write_image("a/x.png", 8, 8, 1); /* smaller than the 16 px QPT patch */
    write_image("a/y.png", 9, 20, 1);
    biqa_folder f;
    biqa_error err;
    cr_assert_eq(biqa_folder_index(dir, &f, &err), 0);
    biqa_loader_config cfg = {.folder = &f, .recipe = biqa_recipe_default(BIQA_RECIPE_QPT, 16),
                              .batch = 2, .threads = 1, .prefetch = 1, .seed = 1};
    biqa_loader *L;
    cr_assert_eq(biqa_loader_create(&cfg, &L, &err), 0, "%s", err.msg);
    biqa_loader_epoch(L, 0);
    const biqa_batch *b;
    cr_assert_eq(biqa_loader_next(L, &b, &err), -1);
    cr_assert(strstr(err.msg, "no image") && strstr(err.msg, "smaller"), "%s", err.msg);
    cr_assert_eq(biqa_loader_next(L, &b, &err), -1);
    biqa_loader_destroy(L);
    cfg.batch = 3;
    cr_assert_eq(biqa_loader_create(&cfg, &L, &err), -1);
    cr_assert(strstr(err.msg, "batch"), "%s", err.msg);
    cr_assert_null(L);
    biqa_folder_free(&f);
}

/* Stopping mid-epoch (workers busy, queue full) and restarting an epoch
 * mid-way: no hang, no leak (ASan), and a restarted epoch gives the same
 * batches as a fresh one. */
Test(loader, shutdown_and_restart_mid_epoch)
{
    biqa_folder f;
    make_folder(0, &f);
    biqa_loader_config cfg = {.folder = &f, .recipe = biqa_recipe_default(BIQA_RECIPE_MOCO, 16),
                              .batch = 2, .threads = 3, .prefetch = 2, .seed = 4};
    biqa_loader *L;
    biqa_error err;
    const biqa_batch *b;
    cr_assert_eq(biqa_loader_create(&cfg, &L, &err), 0, "%s", err.msg);
    biqa_loader_destroy(L); /* never started */
    cr_assert_eq(biqa_loader_create(&cfg, &L, &err), 0, "%s", err.msg);
    cr_assert_eq(biqa_loader_next(L, &b, &err), -1); /* no epoch yet */
    biqa_loader_epoch(L, 0);
    cr_assert_eq(biqa_loader_next(L, &b, &err), 1);
    biqa_loader_destroy(L); /* mid-epoch, queue full */
    cr_assert_eq(biqa_loader_create(&cfg, &L, &err), 0, "%s", err.msg);
    biqa_loader_epoch(L, 1);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(biqa_loader_next(L, &b, &err), 1);
    biqa_loader_epoch(L, 2); /* abandon epoch 1 */
    epoch_bytes fresh;
    run_epoch(&cfg, 2, &fresh);
    const size_t per = (size_t)2 * 2 * 3 * 16 * 16;
    for (int i = 0; biqa_loader_next(L, &b, &err) == 1; i++) {
        cr_assert_eq(b->epoch, 2);
        cr_assert_eq(memcmp(b->x, fresh.x + i * per, per * sizeof(float)), 0);
    }
    free_epoch(&fresh);
    biqa_loader_destroy(L);
    biqa_loader_destroy(NULL);
    biqa_folder_free(&f);
}
