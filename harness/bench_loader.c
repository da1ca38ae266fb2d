/* biqa bench loader: the batch loader's images per second per core (read,
 * decode, augment, batch; datasets/loader.h) against plain single-threaded
 * decoding of the same files with biqa's own decoder (TurboJPEG for JPEG,
 * libpng, BMP), side by side in-process. Without --dir a temporary folder of
 * JPEG dead-leaves images is generated, and removed afterwards. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "datasets/dead_leaves.h"
#include "datasets/loader.h"
#include "harness/bench.h"
#include "harness/commands.h"

#define CLASSES 4

/* images JPEGs of px x px in CLASSES class folders under dir. */
static int make_folder(const char *dir, int images, int px, uint64_t seed, biqa_error *err)
{
    char path[512];
    for (int c = 0; c < CLASSES; c++) {
        snprintf(path, sizeof path, "%s/c%d", dir, c);
        if (mkdir(path, 0755) != 0)
            return biqa_fail(err, "bench loader: cannot create %s", path);
    }
    for (int i = 0; i < images; i++) {
        biqa_leaves_class cls;
        biqa_image im;
        biqa_leaves_class_params(seed, i % CLASSES, CLASSES, &cls);
        if (biqa_leaves_render(&cls, seed + (uint64_t)i, px, 200, &im, err) < 0)
            return -1;
        snprintf(path, sizeof path, "%s/c%d/p%05d.jpg", dir, i % CLASSES, i);
        int rc = biqa_image_write(path, &im, 90, err);
        biqa_image_free(&im);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Removes what make_folder wrote (also after a partial failure), then dir. */
static void remove_folder(const char *dir, int images)
{
    char path[512];
    for (int i = 0; i < images; i++) {
        snprintf(path, sizeof path, "%s/c%d/p%05d.jpg", dir, i % CLASSES, i);
        unlink(path);
    }
    for (int c = 0; c < CLASSES; c++) {
        snprintf(path, sizeof path, "%s/c%d", dir, c);
        rmdir(path);
    }
    rmdir(dir);
}

/* The peer: decode every file on this thread; best of two passes. */
static double decode_rate(const biqa_folder *f, int *failed)
{
    double best = INFINITY;
    for (int pass = 0; pass < 2; pass++) {
        *failed = 0;
        double t0 = biqa_now_seconds();
        for (int i = 0; i < f->nitems; i++) {
            biqa_image im;
            biqa_error e;
            if (biqa_image_read(f->items[i].path, &im, &e) < 0)
                ++*failed;
            else
                biqa_image_free(&im);
        }
        best = fmin(best, biqa_now_seconds() - t0);
    }
    return f->nitems / best;
}

/* Ours: whole epochs through the loader; best of two. The unreadable items
 * are copied to fails (for the run record). */
static int loader_rate(const biqa_loader_config *cfg, double *rate, long *failed_reads,
                       biqa_bench_failures *fails, biqa_error *err)
{
    biqa_loader *L;
    if (biqa_loader_create(cfg, &L, err) < 0)
        return -1;
    double best = INFINITY;
    int rc = 0;
    for (uint64_t epoch = 0; epoch < 2 && rc == 0; epoch++) {
        const biqa_batch *b;
        double t0 = biqa_now_seconds();
        biqa_loader_epoch(L, epoch);
        while ((rc = biqa_loader_next(L, &b, err)) == 1)
            ;
        best = fmin(best, biqa_now_seconds() - t0);
    }
    *rate = (double)biqa_loader_batches(L) * cfg->batch / best;
    *failed_reads = biqa_loader_failed_reads(L);
    int n;
    const biqa_loader_failure *fl = biqa_loader_failures(L, &n);
    if (n > 0)
        biqa_warn("bench loader: %d unreadable images, e.g. %s (recorded with the run)", n,
                  fl[0].error);
    fails->items = calloc((size_t)n + 1, sizeof *fails->items);
    fails->reasons = calloc((size_t)n + 1, sizeof *fails->reasons);
    if (rc == 0 && (!fails->items || !fails->reasons))
        rc = biqa_fail(err, "bench loader: out of memory");
    for (int i = 0; rc == 0 && i < n; i++, fails->n++)
        if (!(fails->items[i] = strdup(fl[i].path)) || !(fails->reasons[i] = strdup(fl[i].error)))
            rc = biqa_fail(err, "bench loader: out of memory");
    biqa_loader_destroy(L);
    return rc;
}

int biqa_cmd_bench_loader(biqa_cli *cli)
{
    const biqa_args *a = cli->args;
    int64_t batch = 16, crop = 64, images = 128, px = 256;
    if (biqa_expect_args(cli, 0, 0, "") != 0 || biqa_arg_int64(a, "batch", &batch) < 0 ||
        biqa_arg_int64(a, "crop", &crop) < 0 || biqa_arg_int64(a, "images", &images) < 0 ||
        biqa_arg_int64(a, "px", &px) < 0)
        return BIQA_EXIT_USAGE;
    if (batch < 1 || batch > 4096 || crop < 8 || crop > 1024 || images < 1 ||
        images > 100000 || px < 16 || px > 4096)
        return biqa_usage_error(a, "--batch in 1..4096, --crop in 8..1024, --images in "
                                   "1..100000, --px in 16..4096");
    enum biqa_recipe_kind kind = BIQA_RECIPE_CLASSIFY;
    biqa_error err = {{0}};
    if (biqa_arg(a, "recipe") && biqa_recipe_parse_kind(biqa_arg(a, "recipe"), &kind, &err) < 0)
        return biqa_usage_error(a, "%s", err.msg);
    const uint64_t seed = cli->has_seed ? (uint64_t)cli->seed : 1;
    int threads = cli->threads > 0 ? cli->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1)
        threads = 1;
    char tmp[192] = "";
    const char *dir = biqa_arg(a, "dir");
    biqa_bench_failures fails = {0};
    biqa_folder f = {0};
    cJSON *config = NULL;
    int rc = BIQA_EXIT_FAIL;
    if (!dir) {
        const char *t = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(tmp, sizeof tmp, "%.160s/biqa-bench-loader-XXXXXX", t);
        if (!mkdtemp(tmp)) {
            biqa_fail(&err, "bench loader: no temporary directory in %s", t);
            tmp[0] = '\0';
            goto out;
        }
        dir = tmp;
        biqa_info("generating %lld JPEG images of %lld px in %s", (long long)images,
                  (long long)px, dir);
        if (make_folder(dir, (int)images, (int)px, seed, &err) < 0)
            goto out;
    }
    if (biqa_folder_index(dir, &f, &err) < 0)
        goto out;
    biqa_loader_config cfg = {.folder = &f, .recipe = biqa_recipe_default(kind, (int)crop),
                              .batch = batch < f.nitems ? (int)batch : f.nitems,
                              .threads = threads, .prefetch = 2 * threads, .seed = seed};
    int peer_failed = 0;
    long failed_reads = 0;
    double peer = decode_rate(&f, &peer_failed), ours = 0;
    if (loader_rate(&cfg, &ours, &failed_reads, &fails, &err) < 0)
        goto out;
    if (peer_failed)
        biqa_warn("bench loader: the decoder failed on %d of %d files", peer_failed, f.nitems);
    config = cJSON_CreateObject();
    cJSON *b = cJSON_AddObjectToObject(config, "bench");
    cJSON_AddStringToObject(b, "name", "loader");
    cJSON_AddStringToObject(b, "recipe", biqa_recipe_name(kind));
    cJSON_AddStringToObject(b, "dir", tmp[0] ? "generated" : dir);
    cJSON_AddNumberToObject(b, "images", f.nitems);
    cJSON_AddNumberToObject(b, "batch", cfg.batch);
    cJSON_AddNumberToObject(b, "crop", (double)crop);
    cJSON_AddNumberToObject(b, "threads", threads);
    cJSON_AddNumberToObject(b, "seed", (double)seed);
    cJSON_AddNumberToObject(b, "failed_reads", (double)failed_reads);
    if (tmp[0])
        cJSON_AddNumberToObject(b, "px", (double)px);
    char *json = cJSON_PrintUnformatted(config), name[256];
    snprintf(name, sizeof name, "biqa_image_read (TurboJPEG/libpng), one thread; loader: "
                                "%s recipe at %lld px, %d threads, %d images", biqa_recipe_name(kind),
             (long long)crop, threads, f.nitems);
    biqa_bench_row rows[2] = {{"loader per core vs decode", "img/s", ours / threads, peer},
                              {"loader, all threads vs decode", "img/s", ours, peer}};
    rc = json ? biqa_bench_report_failures(cli, "loader", name, json, rows, 2, &fails)
              : BIQA_EXIT_FAIL;
    free(json);
out:
    if (rc == BIQA_EXIT_FAIL && err.msg[0])
        biqa_error_line("%s", err.msg);
    if (tmp[0])
        remove_folder(tmp, (int)images);
    biqa_folder_free(&f);
    cJSON_Delete(config);
    for (int i = 0; i < fails.n; i++)
        free(fails.items[i]), free(fails.reasons[i]);
    free(fails.items), free(fails.reasons);
    return rc;
}
