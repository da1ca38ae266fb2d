/* biqa datasets make synthetic: the generated benchmark (datasets/synthetic.h). */
#include <cjson/cJSON.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "datasets/synthetic.h"
#include "harness/commands.h"
#include "harness/output.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int biqa_cmd_datasets_make(biqa_cli *cli)
{
    const biqa_args *a = cli->args;
    if (biqa_expect_args(cli, 1, 1, "the dataset to make (synthetic)") != 0)
        return BIQA_EXIT_USAGE;
    if (strcmp(a->positional[0], "synthetic") != 0)
        return biqa_usage_error(a, "only 'synthetic' can be made, not '%s' (real datasets: "
                                   "biqa datasets fetch)", a->positional[0]);
    const char *size = biqa_arg(a, "size") ? biqa_arg(a, "size") : "demo";
    biqa_synthetic_spec spec;
    biqa_error err = {{0}};
    if (biqa_synthetic_spec_named(size, &spec, &err) < 0)
        return biqa_usage_error(a, "--size must be test, demo or large, not '%s'", size);
    char out[4096];
    if (biqa_arg(a, "out"))
        snprintf(out, sizeof out, "%s", biqa_arg(a, "out"));
    else if (snprintf(out, sizeof out, "%s/synthetic-%s", cli->root, size) >= (int)sizeof out)
        return biqa_usage_error(a, "--root is too long");
    const uint64_t seed = cli->has_seed ? (uint64_t)cli->seed : 1;
    const int threads = cli->threads ? cli->threads : omp_get_max_threads();
    biqa_info("synthetic-%s: %d pretraining images and %d references x %d distortions at "
              "%dx%d px, seed %llu, %d threads -> %s", size,
              spec.classes * spec.pretrain_per_class, spec.refs, spec.distortions,
              spec.image_size, spec.image_size, (unsigned long long)seed, threads, out);
    biqa_synthetic_summary sum;
    const double t0 = now_s();
    if (biqa_synthetic_make(&spec, seed, out, threads, biqa_flag(a, "force"), &sum, &err) < 0) {
        biqa_error_line("%s", err.msg);
        return BIQA_EXIT_FAIL;
    }
    const double seconds = now_s() - t0;
    if (cli->json) {
        cJSON *o = cJSON_CreateObject();
        char buf[32];
        cJSON_AddStringToObject(o, "dataset", out);
        cJSON_AddStringToObject(o, "size", size);
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)seed);
        cJSON_AddStringToObject(o, "seed", buf);
        cJSON_AddNumberToObject(o, "pretrain_images", sum.pretrain);
        cJSON_AddNumberToObject(o, "references", sum.refs);
        cJSON_AddNumberToObject(o, "images", sum.images);
        cJSON_AddNumberToObject(o, "mos_min", sum.mos_min);
        cJSON_AddNumberToObject(o, "mos_mean", sum.mos_mean);
        cJSON_AddNumberToObject(o, "mos_max", sum.mos_max);
        cJSON_AddStringToObject(o, "meta_sha256", sum.meta_sha256);
        cJSON_AddNumberToObject(o, "threads", threads);
        cJSON_AddNumberToObject(o, "seconds", seconds);
        biqa_print_json(o, stdout);
        return BIQA_EXIT_OK;
    }
    printf("%s: %d pretraining images, %d references, %d scored images "
           "(MOS %.1f .. %.1f, mean %.1f) in %.1f s\n"
           "meta.csv sha256 %s\n",
           out, sum.pretrain, sum.refs, sum.images, sum.mos_min, sum.mos_max, sum.mos_mean,
           seconds, sum.meta_sha256);
    return BIQA_EXIT_OK;
}
