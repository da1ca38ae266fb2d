/* biqa bench score: `biqa score` on generated predictions against NumPy +
 * SciPy on the same file (harness/bench/score_peer.py). */
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
#include "results/score_csv.h"

/* A logistic relation plus noise, as BIQA predictions against MOS look. */
static void generate(double *mos, double *pred, long rows, uint64_t seed)
{
    uint64_t s = biqa_rng_stream("bench-score");
    for (long i = 0; i < rows; i++) {
        uint64_t k = 3 * (uint64_t)i;
        double x = -4 + 8 * biqa_rng_uniform(seed, s, k);
        double u1 = biqa_rng_uniform(seed, s, k + 1), u2 = biqa_rng_uniform(seed, s, k + 2);
        double noise = sqrt(-2 * log(1 - u1)) * cos(2 * M_PI * u2);
        mos[i] = 80 / (1 + exp(-(x - 0.5) / 1.2)) + 20 + 4 * noise;
        pred[i] = x;
    }
}

static int write_csv(const char *path, const double *mos, const double *pred, long rows,
                     biqa_error *err)
{
    biqa_atomic_file f;
    if (biqa_atomic_open(&f, path, err) < 0)
        return -1;
    char line[96];
    int rc = biqa_atomic_write(&f, "mos,pred\n", 9, err);
    for (long i = 0; i < rows && rc == 0; i++) {
        int n = snprintf(line, sizeof line, "%.17g,%.17g\n", mos[i], pred[i]);
        rc = biqa_atomic_write(&f, line, (size_t)n, err);
    }
    return rc == 0 ? biqa_atomic_commit(&f, err) : -1;
}

/* Ours, best of repeat: the whole `biqa score` path, and the metrics alone. */
static int measure(const char *path, const double *mos, const double *pred, long rows,
                   long repeat, double *total, double *metrics, double *srcc, biqa_error *err)
{
    *total = *metrics = INFINITY;
    for (long r = 0; r < repeat; r++) {
        biqa_scored_file f;
        double t0 = biqa_now_seconds();
        if (biqa_score_csv(path, "mos", "pred", &f, err) < 0)
            return -1;
        double t1 = biqa_now_seconds();
        biqa_scores s;
        biqa_score(mos, pred, (size_t)rows, &s);
        double t2 = biqa_now_seconds();
        *total = fmin(*total, t1 - t0);
        *metrics = fmin(*metrics, t2 - t1);
        *srcc = s.srcc;
    }
    return 0;
}

static int peer_number(const cJSON *peer, const char *key, double *out, biqa_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(peer, key);
    if (!cJSON_IsNumber(v))
        return biqa_fail(err, "bench score: the peer's JSON lacks '%s'", key);
    *out = v->valuedouble;
    return 0;
}

int biqa_cmd_bench_score(biqa_cli *cli)
{
    const biqa_args *a = cli->args;
    int64_t rows = 1000000, repeat = 3;
    if (biqa_expect_args(cli, 0, 0, "") != 0 || biqa_arg_int64(a, "rows", &rows) < 0 ||
        biqa_arg_int64(a, "repeat", &repeat) < 0)
        return BIQA_EXIT_USAGE;
    if (rows < 4 || rows > 100000000 || repeat < 1 || repeat > 100)
        return biqa_usage_error(a, "--rows must be in 4..10^8 and --repeat in 1..100");
    char path[] = "/tmp/biqa-bench-score-XXXXXX.csv";
    double *mos = malloc((size_t)rows * sizeof *mos), *pred = malloc((size_t)rows * sizeof *pred);
    biqa_error err = {{0}};
    cJSON *peer = NULL;
    double total = 0, metrics = 0, srcc = 0, peer_total = 0, peer_metrics = 0, peer_srcc = 0;
    int rc = BIQA_EXIT_FAIL, fd = mkstemps(path, 4);
    if (fd < 0 || !mos || !pred) {
        biqa_fail(&err, "bench score: no memory or no temporary file in /tmp");
        goto out;
    }
    close(fd);
    generate(mos, pred, (long)rows, cli->has_seed ? (uint64_t)cli->seed : 1);
    char args[128];
    snprintf(args, sizeof args, "'%s' --repeat %lld", path, (long long)repeat);
    if (write_csv(path, mos, pred, (long)rows, &err) < 0 ||
        measure(path, mos, pred, (long)rows, (long)repeat, &total, &metrics, &srcc, &err) < 0 ||
        !(peer = biqa_bench_peer("score_peer.py", args, &err)) ||
        peer_number(peer, "total_s", &peer_total, &err) < 0 ||
        peer_number(peer, "metrics_s", &peer_metrics, &err) < 0 ||
        peer_number(peer, "srcc", &peer_srcc, &err) < 0)
        goto out;
    /* Same answer, or the race means nothing. */
    if (fabs(peer_srcc - srcc) > 1e-9) {
        biqa_fail(&err, "bench score: the peer's SRCC %.12g differs from biqa's %.12g", peer_srcc,
                  srcc);
        goto out;
    }
    biqa_bench_row out[2] = {{"read CSV + all metrics", "s", total, peer_total},
                             {"all metrics, data in memory", "s", metrics, peer_metrics}};
    const cJSON *who = cJSON_GetObjectItemCaseSensitive(peer, "peer");
    char config[256], name[192];
    snprintf(config, sizeof config,
             "{\"bench\": {\"name\": \"score\", \"rows\": %lld, \"repeat\": %lld}}",
             (long long)rows, (long long)repeat);
    snprintf(name, sizeof name, "%s; %lld rows, best of %lld, one core",
             cJSON_IsString(who) ? who->valuestring : "the peer", (long long)rows,
             (long long)repeat);
    rc = biqa_bench_report(cli, "score", name, config, out, 2);
out:
    if (rc == BIQA_EXIT_FAIL && err.msg[0])
        biqa_error_line("%s", err.msg);
    unlink(path);
    cJSON_Delete(peer);
    free(mos);
    free(pred);
    return rc;
}
