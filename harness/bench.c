#include "harness/bench.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "harness/output.h"
#include "results/runs.h"

double biqa_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

cJSON *biqa_bench_peer(const char *script, const char *args, biqa_error *err)
{
    char src[PATH_MAX], path[PATH_MAX + 64], cmd[2 * PATH_MAX + 512];
    biqa_source_dir(src, sizeof src);
    snprintf(path, sizeof path, "%s/harness/bench/%s", src, script);
    if (access(path, R_OK) != 0) {
        biqa_fail(err, "%s: peer script not found (set BIQA_SRC to the biqa source tree)", path);
        return NULL;
    }
    const char *python = getenv("BIQA_PYTHON");
    snprintf(cmd, sizeof cmd, "%s '%s' %s", python && *python ? python : "/usr/bin/python3", path,
             args);
    biqa_debug("bench: running the peer: %s", cmd);
    FILE *p = popen(cmd, "r");
    if (!p) {
        biqa_fail(err, "%s: cannot start the peer", path);
        return NULL;
    }
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = '\0';
    int status = pclose(p);
    cJSON *out = status == 0 ? cJSON_Parse(buf) : NULL;
    if (!cJSON_IsObject(out)) {
        cJSON_Delete(out);
        biqa_fail(err, "%s: the peer failed (status %d) or printed no JSON object", path, status);
        return NULL;
    }
    return out;
}

static int record(const biqa_cli *cli, const char *bench, const char *config_json,
                  const biqa_bench_row *rows, int nrows, const double *speedup,
                  const biqa_bench_failures *failures, int64_t *id, biqa_error *err)
{
    biqa_store store;
    if (biqa_store_open(&store, cli->db, BIQA_STORE_WRITE, err) < 0)
        return -1;
    biqa_run_spec spec = {.kind = "bench", .method = bench, .config_json = config_json};
    biqa_metric_row *m = calloc((size_t)nrows * 3, sizeof *m);
    int rc = m ? biqa_run_begin(&store, &spec, id, err) : biqa_fail(err, "out of memory");
    for (int i = 0; i < nrows && rc == 0; i++) {
        m[3 * i] = (biqa_metric_row){"bench", rows[i].name, "biqa", -1, rows[i].ours, rows[i].unit};
        m[3 * i + 1] = (biqa_metric_row){"bench", rows[i].name, "peer", -1, rows[i].peer, rows[i].unit};
        m[3 * i + 2] = (biqa_metric_row){"bench", rows[i].name, "speedup", -1, speedup[i], NULL};
    }
    if (rc == 0)
        rc = biqa_run_add_metrics(&store, *id, m, (size_t)nrows * 3, err);
    for (int i = 0; failures && i < failures->n && rc == 0; i++)
        rc = biqa_run_add_failure(&store, *id, failures->items[i], failures->reasons[i], err);
    if (rc == 0)
        rc = biqa_run_finish(&store, *id, err);
    else if (*id > 0)
        biqa_run_fail(&store, *id, err->msg, NULL);
    free(m);
    biqa_store_close(&store);
    return rc;
}

int biqa_bench_report(const biqa_cli *cli, const char *bench, const char *peer_name,
                      const char *config_json, const biqa_bench_row *rows, int nrows)
{
    return biqa_bench_report_failures(cli, bench, peer_name, config_json, rows, nrows, NULL);
}

int biqa_bench_report_failures(const biqa_cli *cli, const char *bench, const char *peer_name,
                               const char *config_json, const biqa_bench_row *rows, int nrows,
                               const biqa_bench_failures *failures)
{
    double speedup[16];
    for (int i = 0; i < nrows && i < 16; i++)
        speedup[i] = strcmp(rows[i].unit, "s") == 0 ? rows[i].peer / rows[i].ours
                                                    : rows[i].ours / rows[i].peer;
    biqa_error err = {{0}};
    int64_t id = 0;
    if (record(cli, bench, config_json, rows, nrows, speedup, failures, &id, &err) < 0) {
        biqa_error_line("%s", err.msg);
        return BIQA_EXIT_FAIL;
    }
    if (cli->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "bench", bench);
        cJSON_AddStringToObject(o, "peer", peer_name);
        cJSON_AddNumberToObject(o, "run_id", (double)id);
        cJSON *list = cJSON_AddArrayToObject(o, "rows");
        for (int i = 0; i < nrows; i++) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "name", rows[i].name);
            cJSON_AddStringToObject(r, "unit", rows[i].unit);
            cJSON_AddNumberToObject(r, "biqa", rows[i].ours);
            cJSON_AddNumberToObject(r, "peer", rows[i].peer);
            cJSON_AddNumberToObject(r, "speedup", speedup[i]);
            cJSON_AddItemToArray(list, r);
        }
        biqa_print_json(o, stdout);
        return BIQA_EXIT_OK;
    }
    printf("bench %s: biqa against %s\n", bench, peer_name);
    biqa_table t;
    biqa_table_init(&t, 5, (const char *const[]){"measure", "unit", "biqa", "peer", "speedup"});
    for (int i = 0; i < nrows; i++) {
        char ours[32], peer[32], ratio[32];
        snprintf(ours, sizeof ours, "%.4g", rows[i].ours);
        snprintf(peer, sizeof peer, "%.4g", rows[i].peer);
        snprintf(ratio, sizeof ratio, "%.2fx", speedup[i]);
        biqa_table_add(&t, (const char *const[]){rows[i].name, rows[i].unit, ours, peer, ratio});
    }
    biqa_table_print(&t, stdout);
    biqa_table_free(&t);
    printf("recorded as run %lld in %s\n", (long long)id, cli->db);
    return BIQA_EXIT_OK;
}
