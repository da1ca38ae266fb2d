/* biqa runs list / runs show: the run records of the results store. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "harness/commands.h"
#include "harness/output.h"
#include "results/aggregate.h"
#include "results/store.h"

static int open_store(const biqa_cli *cli, biqa_store *store)
{
    biqa_error err = {{0}};
    if (biqa_store_open(store, cli->db, BIQA_STORE_READONLY, &err) < 0) {
        biqa_error_line("%s", err.msg);
        return -1;
    }
    return 0;
}

static int print_sql(biqa_store *store, const char *sql, const char *what, int json,
                     int (*bind)(sqlite3_stmt *, const void *), const void *ctx)
{
    sqlite3_stmt *st;
    biqa_error err = {{0}};
    if (sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) != SQLITE_OK) {
        biqa_store_fail(store, &err, what);
        biqa_error_line("%s", err.msg);
        return -1;
    }
    if (bind)
        bind(st, ctx);
    int rc = biqa_print_statement(st, json, stdout, what, &err);
    sqlite3_finalize(st);
    if (rc < 0)
        biqa_error_line("%s", err.msg);
    return rc;
}

struct list_filter {
    const char *status, *kind;
    int64_t limit;
};

static int bind_list(sqlite3_stmt *st, const void *ctx)
{
    const struct list_filter *f = ctx;
    if (f->status)
        sqlite3_bind_text(st, 1, f->status, -1, SQLITE_STATIC);
    if (f->kind)
        sqlite3_bind_text(st, 2, f->kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, f->limit > 0 ? f->limit : -1);
    return 0;
}

int biqa_cmd_runs_list(biqa_cli *cli)
{
    const biqa_args *a = cli->args;
    if (biqa_expect_args(cli, 0, 0, "") != 0)
        return BIQA_EXIT_USAGE;
    struct list_filter f = {biqa_arg(a, "status"), biqa_arg(a, "kind"), 50};
    if (biqa_arg_int64(a, "limit", &f.limit) < 0)
        return BIQA_EXIT_USAGE;
    static const char *const statuses[] = {"running", "finished", "failed", "interrupted"};
    int known = !f.status;
    for (size_t i = 0; i < 4 && !known; i++)
        known = strcmp(f.status, statuses[i]) == 0;
    if (!known)
        return biqa_usage_error(a, "--status must be running, finished, failed or interrupted");
    biqa_store store;
    if (open_store(cli, &store) < 0)
        return BIQA_EXIT_FAIL;
    int rc = print_sql(&store,
                       "SELECT id, kind, method, backbone, dataset, status, started_at, "
                       "ended_at, n_failed AS failed, substr(git_commit, 1, 10) || "
                       "CASE git_dirty WHEN 1 THEN '+dirty' ELSE '' END AS code "
                       "FROM runs WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR kind = ?2) "
                       "ORDER BY id DESC LIMIT ?3",
                       "listing runs", cli->json, bind_list, &f);
    biqa_store_close(&store);
    return rc < 0 ? BIQA_EXIT_FAIL : BIQA_EXIT_OK;
}

static int bind_id(sqlite3_stmt *st, const void *ctx)
{
    sqlite3_bind_int64(st, 1, *(const int64_t *)ctx);
    return 0;
}

/* One cJSON array of the rows of sql (bound to the run id). */
static cJSON *rows_json(biqa_store *store, const char *sql, int64_t id)
{
    sqlite3_stmt *st;
    cJSON *array = cJSON_CreateArray();
    if (sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) != SQLITE_OK)
        return array;
    bind_id(st, &id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            const char *name = sqlite3_column_name(st, c);
            switch (sqlite3_column_type(st, c)) {
            case SQLITE_INTEGER:
                cJSON_AddNumberToObject(o, name, (double)sqlite3_column_int64(st, c));
                break;
            case SQLITE_FLOAT:
                cJSON_AddNumberToObject(o, name, sqlite3_column_double(st, c));
                break;
            case SQLITE_NULL:
                cJSON_AddNullToObject(o, name);
                break;
            default:
                cJSON_AddStringToObject(o, name, (const char *)sqlite3_column_text(st, c));
            }
        }
        cJSON_AddItemToArray(array, o);
    }
    sqlite3_finalize(st);
    return array;
}

/* Median, mean, std and bootstrap CI over the splits of each (dataset,
 * metric) of the run's final values: the numbers the paper's protocol
 * reports. NULL (undefined) values count as NaN and poison the aggregate,
 * so a split that failed cannot vanish from it. */
static cJSON *aggregates(biqa_store *store, int64_t id)
{
    cJSON *out = cJSON_CreateArray();
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT dataset, metric, value FROM metrics WHERE run_id = ?1 AND "
                           "step IS NULL ORDER BY dataset, metric, split",
                           -1, &st, NULL) != SQLITE_OK)
        return out;
    bind_id(st, &id);
    double *v = NULL;
    size_t n = 0, cap = 0;
    char dataset[256] = "", metric[256] = "";
    for (int more = 1; more;) {
        more = sqlite3_step(st) == SQLITE_ROW;
        const char *d = more ? (const char *)sqlite3_column_text(st, 0) : "";
        const char *m = more ? (const char *)sqlite3_column_text(st, 1) : "";
        if (n > 0 && (!more || strcmp(d, dataset) || strcmp(m, metric))) {
            biqa_aggregate agg;
            biqa_aggregate_compute(v, n, 0, BIQA_BOOTSTRAP_RESAMPLES, BIQA_BOOTSTRAP_LEVEL, &agg);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "dataset", dataset);
            cJSON_AddStringToObject(o, "metric", metric);
            cJSON_AddNumberToObject(o, "splits", (double)n);
            const double stats[] = {agg.median, agg.mean, agg.std, agg.ci_lo, agg.ci_hi};
            const char *names[] = {"median", "mean", "std", "ci95_lo", "ci95_hi"};
            for (int i = 0; i < 5; i++)
                cJSON_AddItemToObject(o, names[i], isfinite(stats[i]) ? cJSON_CreateNumber(stats[i])
                                                                      : cJSON_CreateNull());
            cJSON_AddItemToArray(out, o);
            n = 0;
        }
        if (!more)
            break;
        snprintf(dataset, sizeof dataset, "%s", d);
        snprintf(metric, sizeof metric, "%s", m);
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            double *grown = realloc(v, cap * sizeof *v);
            if (!grown)
                break;
            v = grown;
        }
        v[n++] = sqlite3_column_type(st, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 2);
    }
    free(v);
    sqlite3_finalize(st);
    return out;
}

static void print_json_table(const char *title, const cJSON *rows)
{
    if (!cJSON_GetArraySize(rows))
        return;
    printf("\n%s:\n", title);
    int ncols = cJSON_GetArraySize(rows->child);
    const char **cells = calloc((size_t)ncols, sizeof *cells);
    char (*bufs)[64] = calloc((size_t)ncols, sizeof *bufs);
    int c = 0;
    for (const cJSON *f = rows->child->child; f; f = f->next)
        cells[c++] = f->string;
    biqa_table t;
    biqa_table_init(&t, ncols, cells);
    for (const cJSON *r = rows->child; r; r = r->next) {
        c = 0;
        for (const cJSON *f = r->child; f; f = f->next, c++) {
            if (cJSON_IsString(f))
                cells[c] = f->valuestring;
            else if (cJSON_IsNumber(f)) {
                biqa_format_double(bufs[c], f->valuedouble);
                cells[c] = bufs[c];
            } else
                cells[c] = "";
        }
        biqa_table_add(&t, cells);
    }
    biqa_table_print(&t, stdout);
    biqa_table_free(&t);
    free(cells);
    free(bufs);
}

int biqa_cmd_runs_show(biqa_cli *cli)
{
    if (biqa_expect_args(cli, 1, 1, "the run ID") != 0)
        return BIQA_EXIT_USAGE;
    char *end;
    const char *arg = cli->args->positional[0];
    int64_t id = strtoll(arg, &end, 10);
    if (end == arg || *end || id <= 0)
        return biqa_usage_error(cli->args, "run ID must be a positive integer, not '%s'", arg);
    biqa_store store;
    if (open_store(cli, &store) < 0)
        return BIQA_EXIT_FAIL;
    cJSON *run = rows_json(&store, "SELECT * FROM runs WHERE id = ?1", id);
    if (!cJSON_GetArraySize(run)) {
        biqa_error_line("%s: no run %lld", cli->db, (long long)id);
        cJSON_Delete(run);
        biqa_store_close(&store);
        return BIQA_EXIT_FAIL;
    }
    cJSON *metrics = rows_json(&store,
                               "SELECT dataset, split, metric, step, value, flags FROM metrics "
                               "WHERE run_id = ?1 ORDER BY dataset, metric, split, step",
                               id);
    cJSON *failures = rows_json(&store, "SELECT item, reason FROM run_failures WHERE run_id = ?1", id);
    cJSON *agg = aggregates(&store, id);
    biqa_store_close(&store);
    cJSON *record = cJSON_DetachItemFromArray(run, 0);
    cJSON_Delete(run);
    if (cli->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "run", record);
        cJSON_AddItemToObject(o, "metrics", metrics);
        cJSON_AddItemToObject(o, "aggregates", agg);
        cJSON_AddItemToObject(o, "failures", failures);
        biqa_print_json(o, stdout);
        return BIQA_EXIT_OK;
    }
    for (const cJSON *f = record->child; f; f = f->next) {
        char buf[64];
        const char *text = cJSON_IsString(f) ? f->valuestring : cJSON_IsNull(f) ? "-" : buf;
        if (cJSON_IsNumber(f))
            biqa_format_double(buf, f->valuedouble);
        printf("%-18s %s\n", f->string, text);
    }
    print_json_table("metrics", metrics);
    print_json_table("over splits (median, mean, std, bootstrap 95% CI of the median)", agg);
    print_json_table("failed items", failures);
    cJSON_Delete(record);
    cJSON_Delete(metrics);
    cJSON_Delete(failures);
    cJSON_Delete(agg);
    return BIQA_EXIT_OK;
}
