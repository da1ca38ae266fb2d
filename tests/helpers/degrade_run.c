/* degrade_run: kernels/image's degradations and codecs for the oracle
 * script tests/ref/degrade_vs_opencv.py.
 *   degrade_run apply IN OUT.png TYPE LEVEL SEED   one degradation
 *   degrade_run all IN DIR SEED                    every type and level, to
 *                                                  DIR/<name>_<level>.png
 *   degrade_run decode IN OUT.png                  any supported file as PNG
 *   degrade_run time IN REPEATS                    "name level microseconds"
 *                                                  per call, best of REPEATS
 * TYPE is a name ("gblur"). Exit 1 with the library's message on failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/image/degrade.h"

static int fail(const biqa_error *e)
{
    fprintf(stderr, "degrade_run: %s\n", e->msg);
    return 1;
}

static int apply_and_write(const biqa_image *in, int type, int level, uint64_t seed,
                           const char *out, biqa_error *e)
{
    biqa_image d;
    if (biqa_degrade_apply_one(in, type, level, seed, &d, e) < 0)
        return -1;
    int rc = biqa_image_write(out, &d, 95, e);
    biqa_image_free(&d);
    return rc;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int timing(const biqa_image *in, int repeats, biqa_error *e)
{
    for (int t = 0; t < BIQA_DEG_TYPES; t++)
        for (int l = 1; l <= BIQA_DEG_LEVELS; l++) {
            double best = 1e30;
            for (int r = 0; r < repeats; r++) {
                biqa_image d;
                double t0 = now();
                if (biqa_degrade_apply_one(in, t, l, (uint64_t)r, &d, e) < 0)
                    return -1;
                double dt = now() - t0;
                biqa_image_free(&d);
                best = dt < best ? dt : best;
            }
            printf("%s %d %.1f\n", biqa_degrade_info(t)->name, l, best * 1e6);
        }
    return 0;
}

int main(int argc, char **argv)
{
    biqa_error e = {{0}};
    biqa_image in;
    int ok = argc >= 3;
    const char *mode = ok ? argv[1] : "";
    if (ok && strcmp(mode, "apply") == 0 && argc == 7) {
        int type = biqa_degrade_find(argv[4]);
        if (type < 0) {
            fprintf(stderr, "degrade_run: unknown type '%s'\n", argv[4]);
            return 2;
        }
        if (biqa_image_read(argv[2], &in, &e) < 0)
            return fail(&e);
        int rc = apply_and_write(&in, type, atoi(argv[5]), strtoull(argv[6], NULL, 10), argv[3],
                                 &e);
        biqa_image_free(&in);
        return rc < 0 ? fail(&e) : 0;
    }
    if (ok && strcmp(mode, "all") == 0 && argc == 5) {
        if (biqa_image_read(argv[2], &in, &e) < 0)
            return fail(&e);
        uint64_t seed = strtoull(argv[4], NULL, 10);
        for (int t = 0; t < BIQA_DEG_TYPES; t++)
            for (int l = 1; l <= BIQA_DEG_LEVELS; l++) {
                char path[4096];
                snprintf(path, sizeof path, "%s/%s_%d.png", argv[3], biqa_degrade_info(t)->name,
                         l);
                if (apply_and_write(&in, t, l, seed, path, &e) < 0) {
                    biqa_image_free(&in);
                    return fail(&e);
                }
            }
        biqa_image_free(&in);
        return 0;
    }
    if (ok && strcmp(mode, "decode") == 0 && argc == 4) {
        if (biqa_image_read(argv[2], &in, &e) < 0)
            return fail(&e);
        int rc = biqa_image_write(argv[3], &in, 95, &e);
        biqa_image_free(&in);
        return rc < 0 ? fail(&e) : 0;
    }
    if (ok && strcmp(mode, "time") == 0 && argc == 4) {
        if (biqa_image_read(argv[2], &in, &e) < 0)
            return fail(&e);
        int rc = timing(&in, atoi(argv[3]), &e);
        biqa_image_free(&in);
        return rc < 0 ? fail(&e) : 0;
    }
    fprintf(stderr, "usage: degrade_run apply IN OUT.png TYPE LEVEL SEED | all IN DIR SEED |"
                    " decode IN OUT.png | time IN REPEATS\n");
    return 2;
}
