/* biqa bench degrade: degradation chains per second per core against the
 * same chains in OpenCV + NumPy (harness/bench/degrade_peer.py), on one
 * thread each, at one or two image sizes; then how close the two outputs
 * are, chain by chain. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "core/log.h"
#include "core/rng.h"
#include "harness/bench.h"
#include "harness/commands.h"
#include "kernels/image/chain.h"

/* Outputs of chains without random steps must agree with the peer's to this
 * PSNR (median over those chains): a lower one means the two sides are not
 * running the same chains and the ratio would mean nothing. */
#define AGREE_DB 30.0

typedef struct bench_size {
    int w, h;
    char name[48];
} bench_size;

/* Natural-image-like content: a gradient under dead leaves (occluding discs
 * of power-law radii), so that blurs, resizes and JPEG see edges and flat
 * areas as in photographs. */
static int make_image(biqa_image *im, int w, int h, biqa_error *err)
{
    if (biqa_image_alloc(im, w, h, "bench image", err) < 0)
        return -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = im->px + 3 * ((size_t)y * w + x);
            p[0] = (uint8_t)(40 + 170 * x / w), p[1] = (uint8_t)(30 + 190 * y / h), p[2] = 128;
        }
    const uint64_t s = biqa_rng_stream("bench-degrade/image");
    const double rmax = (w < h ? w : h) / 4.0;
    for (uint64_t d = 0, j = 0; d < 300; d++) {
        double r = 1 + rmax * pow(biqa_rng_uniform(1, s, j++), 3);
        double cx = w * biqa_rng_uniform(1, s, j++), cy = h * biqa_rng_uniform(1, s, j++);
        uint8_t c[3];
        for (int k = 0; k < 3; k++)
            c[k] = (uint8_t)biqa_rng_below(1, s, j++, 256);
        for (int y = (int)fmax(0, cy - r); y < (int)fmin(h, cy + r + 1); y++)
            for (int x = (int)fmax(0, cx - r); x < (int)fmin(w, cx + r + 1); x++)
                if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r)
                    memcpy(im->px + 3 * ((size_t)y * w + x), c, 3);
    }
    return 0;
}

/* Best seconds for applying every chain (chain i keyed by seed i). */
static int time_chains(const biqa_image *im, const biqa_chain *chains, int n, int repeat,
                       double *best, biqa_error *err)
{
    *best = INFINITY;
    for (int r = 0; r < repeat; r++) {
        double t0 = biqa_now_seconds();
        for (int i = 0; i < n; i++) {
            biqa_image d;
            if (biqa_chain_apply(&chains[i], im, (uint64_t)i, &d, err) < 0)
                return -1;
            biqa_image_free(&d);
        }
        *best = fmin(*best, biqa_now_seconds() - t0);
    }
    return 0;
}

/* Writes the input, the chains file and biqa's outputs for the peer. */
static int write_inputs(const char *dir, const bench_size *sz, const biqa_image *im,
                        const biqa_chain *chains, int n, biqa_error *err)
{
    char path[512];
    snprintf(path, sizeof path, "%s/in-%s.png", dir, sz->name);
    if (biqa_image_write(path, im, 95, err) < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        biqa_image d;
        snprintf(path, sizeof path, "%s/out-%s-%d.png", dir, sz->name, i);
        if (biqa_chain_apply(&chains[i], im, (uint64_t)i, &d, err) < 0)
            return -1;
        int rc = biqa_image_write(path, &d, 95, err);
        biqa_image_free(&d);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n == 0 ? NAN : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Whether any step of the chain draws random values. */
static int has_random_step(const biqa_chain *c)
{
    for (int i = 0; i < c->n; i++)
        if (biqa_degrade_info(c->steps[i].type)->random)
            return 1;
    return 0;
}

/* The peer's PSNR against biqa per chain: median over the chains without
 * random steps (must reach AGREE_DB) and over all, reported. */
static int check_agreement(const cJSON *peer, const bench_size *sz, const biqa_chain *chains,
                           int n, biqa_error *err)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(peer, "psnr");
    if (cJSON_GetArraySize(list) != n)
        return biqa_fail(err, "bench degrade: the peer returned %d PSNRs for %d chains",
                         cJSON_GetArraySize(list), n);
    double *all = malloc(2 * (size_t)n * sizeof *all), *det = all + n;
    if (!all)
        return biqa_fail(err, "out of memory");
    int ndet = 0;
    for (int i = 0; i < n; i++) {
        all[i] = cJSON_GetArrayItem(list, i)->valuedouble;
        if (!has_random_step(&chains[i]))
            det[ndet++] = all[i];
    }
    double m_det = median(det, ndet), m_all = median(all, n);
    free(all);
    biqa_info("%s: peer vs biqa, median PSNR %.1f dB over the %d chains without random steps, "
              "%.1f dB over all %d (noise is drawn independently)", sz->name, m_det, ndet, m_all,
              n);
    if (ndet > 0 && !(m_det >= AGREE_DB))
        return biqa_fail(err, "bench degrade: at %s the peer's outputs differ from biqa's "
                              "(median PSNR %.1f dB < %.0f dB): not the same chains", sz->name,
                         m_det, AGREE_DB);
    return 0;
}

static int parse_size(const char *text, bench_size *sz)
{
    char tail;
    if (sscanf(text, "%dx%d%c", &sz->w, &sz->h, &tail) != 2 || sz->w < 16 || sz->h < 16 ||
        sz->w > 8192 || sz->h > 8192)
        return -1;
    snprintf(sz->name, sizeof sz->name, "%dx%d", sz->w, sz->h);
    return 0;
}

/* One size: ours, then the peer on the same image and chains. */
static int run_size(const char *dir, const bench_size *sz, const biqa_chain *chains, int n,
                    int repeat, biqa_bench_row *row, char *row_name, cJSON **peer,
                    biqa_error *err)
{
    biqa_image im;
    double ours;
    if (make_image(&im, sz->w, sz->h, err) < 0)
        return -1;
    int rc = time_chains(&im, chains, n, repeat, &ours, err);
    if (rc == 0)
        rc = write_inputs(dir, sz, &im, chains, n, err);
    biqa_image_free(&im);
    if (rc < 0)
        return -1;
    char args[1024];
    snprintf(args, sizeof args, "'%s/in-%s.png' '%s/chains.txt' --repeat %d --compare "
                                "'%s/out-%s-%%d.png'", dir, sz->name, dir, repeat, dir, sz->name);
    cJSON_Delete(*peer);
    if (!(*peer = biqa_bench_peer("degrade_peer.py", args, err)))
        return -1;
    const cJSON *secs = cJSON_GetObjectItemCaseSensitive(*peer, "seconds");
    if (!cJSON_IsNumber(secs) || !(secs->valuedouble > 0))
        return biqa_fail(err, "bench degrade: the peer's JSON lacks 'seconds'");
    if (check_agreement(*peer, sz, chains, n, err) < 0)
        return -1;
    snprintf(row_name, 64, "chains at %s", sz->name);
    *row = (biqa_bench_row){row_name, "chain/s", n / ours, n / secs->valuedouble};
    return 0;
}

/* Removes what run_size wrote, then the directory. */
static void clean(const char *dir, const bench_size *sizes, int nsizes, int n)
{
    char path[512];
    for (int s = 0; s < nsizes; s++) {
        snprintf(path, sizeof path, "%s/in-%s.png", dir, sizes[s].name);
        unlink(path);
        for (int i = 0; i < n; i++) {
            snprintf(path, sizeof path, "%s/out-%s-%d.png", dir, sizes[s].name, i);
            unlink(path);
        }
    }
    snprintf(path, sizeof path, "%s/chains.txt", dir);
    unlink(path);
    rmdir(dir);
}

int biqa_cmd_bench_degrade(biqa_cli *cli)
{
    const biqa_args *a = cli->args;
    int64_t nchains = 64, repeat = 3;
    if (biqa_expect_args(cli, 0, 0, "") != 0 || biqa_arg_int64(a, "chains", &nchains) < 0 ||
        biqa_arg_int64(a, "repeat", &repeat) < 0)
        return BIQA_EXIT_USAGE;
    if (nchains < 1 || nchains > 10000 || repeat < 1 || repeat > 100)
        return biqa_usage_error(a, "--chains must be in 1..10000 and --repeat in 1..100");
    bench_size sizes[2];
    int nsizes = 2;
    if (biqa_arg(a, "size")) {
        nsizes = 1;
        if (parse_size(biqa_arg(a, "size"), &sizes[0]) < 0)
            return biqa_usage_error(a, "--size wants WxH with sides in 16..8192, got '%s'",
                                    biqa_arg(a, "size"));
    } else {
        parse_size("256x256", &sizes[0]);
        parse_size("512x384", &sizes[1]);
    }
    const int n = (int)nchains;
    const uint64_t seed = cli->has_seed ? (uint64_t)cli->seed : 1;
    const biqa_chain_sampler sampler = biqa_chain_sampler_default();
    biqa_chain *chains = malloc((size_t)n * sizeof *chains);
    char *list = malloc((size_t)n * BIQA_CHAIN_MAX * 24 + 1), dir[192];
    const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%.160s/biqa-bench-degrade-XXXXXX", tmp);
    biqa_error err = {{0}};
    cJSON *peer = NULL;
    int rc = BIQA_EXIT_FAIL;
    size_t at = 0;
    if (!chains || !list || !mkdtemp(dir)) {
        biqa_fail(&err, "bench degrade: no memory or no temporary directory in %s", tmp);
        dir[0] = '\0';
        goto out;
    }
    for (int i = 0; i < n; i++) {
        biqa_chain_sample(&sampler, seed, (uint64_t)i, &chains[i]);
        at += (size_t)biqa_chain_format(&chains[i], list + at, BIQA_CHAIN_MAX * 24);
        list[at++] = '\n';
    }
    char path[512];
    snprintf(path, sizeof path, "%s/chains.txt", dir);
    if (biqa_write_file_atomic(path, list, at, &err) < 0)
        goto out;
    biqa_bench_row rows[2];
    char names[2][64];
    for (int s = 0; s < nsizes; s++)
        if (run_size(dir, &sizes[s], chains, n, (int)repeat, &rows[s], names[s], &peer, &err) < 0)
            goto out;
    const cJSON *who = cJSON_GetObjectItemCaseSensitive(peer, "peer");
    char config[256], name[256];
    snprintf(config, sizeof config,
             "{\"bench\": {\"name\": \"degrade\", \"sizes\": \"%s%s%s\", \"chains\": %d, "
             "\"repeat\": %lld, \"seed\": %llu, \"sampler\": \"default\"}}",
             sizes[0].name, nsizes > 1 ? "," : "", nsizes > 1 ? sizes[1].name : "", n,
             (long long)repeat, (unsigned long long)seed);
    snprintf(name, sizeof name, "%s; %d default chains (k = 5, seed %llu), best of %lld, "
                                "one core each",
             cJSON_IsString(who) ? who->valuestring : "the peer", n, (unsigned long long)seed,
             (long long)repeat);
    rc = biqa_bench_report(cli, "degrade", name, config, rows, nsizes);
out:
    if (rc == BIQA_EXIT_FAIL && err.msg[0])
        biqa_error_line("%s", err.msg);
    if (dir[0])
        clean(dir, sizes, nsizes, n);
    cJSON_Delete(peer);
    free(chains);
    free(list);
    return rc;
}
