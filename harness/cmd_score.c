/* biqa score: the metrics of any predictions file, optionally recorded as a
 * run so that numbers computed outside biqa are traceable too. */
#include <cjson/cJSON.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/log.h"
#include "harness/commands.h"
#include "harness/output.h"
#include "results/metrics.h"
#include "results/runs.h"
#include "results/score_csv.h"

struct metric_view {
    const char *name, *label;
    double value;
};

static void views(const biqa_scores *s, struct metric_view v[5])
{
    v[0] = (struct metric_view){"srcc", "SRCC", s->srcc};
    v[1] = (struct metric_view){"plcc", "PLCC (raw)", s->plcc};
    v[2] = (struct metric_view){"plcc_logistic", "PLCC (4-param logistic)", s->plcc_logistic};
    v[3] = (struct metric_view){"krcc", "KRCC (tau-b)", s->krcc};
    v[4] = (struct metric_view){"rmse", "RMSE (after logistic)", s->rmse};
}

static cJSON *number_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

/* Comma-separated flag names, "" when none. */
static void flag_names(unsigned flags, char *out, size_t len)
{
    out[0] = '\0';
    for (unsigned bit = 1; bit; bit <<= 1)
        if (flags & bit) {
            size_t used = strlen(out);
            snprintf(out + used, len - used, "%s%s", used ? "," : "", biqa_metric_flag_name(bit));
        }
}

static void print_scores(const biqa_cli *cli, const char *file, const char *mos,
                         const char *pred, const biqa_scores *s, int64_t run_id)
{
    struct metric_view v[5];
    views(s, v);
    if (cli->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "file", file);
        cJSON_AddStringToObject(o, "mos_column", mos);
        cJSON_AddStringToObject(o, "pred_column", pred);
        cJSON_AddNumberToObject(o, "n", (double)s->n);
        for (int i = 0; i < 5; i++)
            cJSON_AddItemToObject(o, v[i].name, number_or_null(v[i].value));
        cJSON *b = cJSON_AddArrayToObject(o, "logistic");
        for (int i = 0; i < 4; i++)
            cJSON_AddItemToArray(b, number_or_null(s->logistic[i]));
        cJSON_AddNumberToObject(o, "fit_iterations", s->fit_iterations);
        cJSON_AddBoolToObject(o, "fit_converged", s->fit_converged);
        cJSON_AddNumberToObject(o, "n_nonfinite", (double)s->n_nonfinite);
        cJSON *flags = cJSON_AddArrayToObject(o, "flags");
        for (unsigned bit = 1; bit; bit <<= 1)
            if (s->flags & bit)
                cJSON_AddItemToArray(flags, cJSON_CreateString(biqa_metric_flag_name(bit)));
        if (run_id > 0)
            cJSON_AddNumberToObject(o, "run_id", (double)run_id);
        biqa_print_json(o, stdout);
        return;
    }
    printf("%s: %zu rows (MOS: '%s', prediction: '%s')\n", file, s->n, mos, pred);
    biqa_table t;
    biqa_table_init(&t, 2, (const char *const[]){"metric", "value"});
    for (int i = 0; i < 5; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%.6f", v[i].value);
        biqa_table_add(&t, (const char *const[]){v[i].label, isfinite(v[i].value) ? buf : "NaN"});
    }
    biqa_table_print(&t, stdout);
    biqa_table_free(&t);
    if (isfinite(s->logistic[0]))
        printf("logistic fit: b1=%.6g b2=%.6g b3=%.6g b4=%.6g (%d iterations%s)\n",
               s->logistic[0], s->logistic[1], s->logistic[2], s->logistic[3], s->fit_iterations,
               s->fit_converged ? "" : "; stopped at the budget, optimum at infinite parameters");
    if (run_id > 0)
        printf("recorded as run %lld\n", (long long)run_id);
}

/* Stores the scores as a finished run of kind "score". */
static int record(const biqa_cli *cli, const char *file, const char *digest, const char *mos,
                  const char *pred, const char *dataset, const biqa_scores *s, int64_t *run_id,
                  biqa_error *err)
{
    cJSON *cfg = cJSON_CreateObject();
    cJSON *sec = cJSON_AddObjectToObject(cfg, "score");
    cJSON_AddStringToObject(sec, "csv", file);
    cJSON_AddStringToObject(sec, "csv_sha256", digest);
    cJSON_AddStringToObject(sec, "mos", mos);
    cJSON_AddStringToObject(sec, "pred", pred);
    char *json = cJSON_PrintUnformatted(cfg);
    cJSON_Delete(cfg);
    biqa_store store;
    if (biqa_store_open(&store, cli->db, BIQA_STORE_WRITE, err) < 0) {
        cJSON_free(json);
        return -1;
    }
    biqa_run_spec spec = {.kind = "score", .dataset = dataset, .config_json = json,
                          .seed = cli->has_seed ? cli->seed : 0};
    int rc = biqa_run_begin(&store, &spec, run_id, err);
    cJSON_free(json);
    if (rc == 0) {
        char flags[128];
        flag_names(s->flags, flags, sizeof flags);
        struct metric_view v[5];
        views(s, v);
        biqa_metric_row rows[6];
        for (int i = 0; i < 5; i++)
            rows[i] = (biqa_metric_row){dataset, "all", v[i].name, -1, v[i].value, flags};
        rows[5] = (biqa_metric_row){dataset, "all", "n", -1, (double)s->n, NULL};
        rc = biqa_run_add_metrics(&store, *run_id, rows, 6, err);
        if (rc == 0)
            rc = biqa_run_finish(&store, *run_id, err);
        else
            biqa_run_fail(&store, *run_id, err->msg, NULL);
    }
    biqa_store_close(&store);
    return rc;
}

int biqa_cmd_score(biqa_cli *cli)
{
    const biqa_args *a = cli->args;
    if (biqa_expect_args(cli, 0, 0, "") != 0)
        return BIQA_EXIT_USAGE;
    const char *file = biqa_arg(a, "csv");
    if (!file)
        return biqa_usage_error(a, "missing --csv FILE");
    const char *mos = biqa_arg(a, "mos") ? biqa_arg(a, "mos") : "mos";
    const char *pred = biqa_arg(a, "pred") ? biqa_arg(a, "pred") : "pred";
    biqa_error err = {{0}};
    biqa_scored_file f;
    if (biqa_score_csv(file, mos, pred, &f, &err) < 0) {
        biqa_error_line("%s", err.msg);
        return BIQA_EXIT_FAIL;
    }
    const biqa_scores *s = &f.scores;
    int64_t run_id = 0;
    if (biqa_flag(a, "record")) {
        char *copy = strdup(file);
        const char *label = biqa_arg(a, "dataset") ? biqa_arg(a, "dataset") : basename(copy);
        int r = record(cli, file, f.sha256, mos, pred, label, s, &run_id, &err);
        free(copy);
        if (r < 0) {
            biqa_error_line("%s", err.msg);
            return BIQA_EXIT_FAIL;
        }
    }
    print_scores(cli, file, mos, pred, s, run_id);
    int rc = BIQA_EXIT_OK;
    for (unsigned bit = 1; bit; bit <<= 1)
        if (s->flags & bit) {
            rc = BIQA_EXIT_FAIL;
            if (bit == BIQA_MF_NONFINITE)
                biqa_error_line("%s: %zu row(s) with NaN or infinity, the first at data row %zu "
                                "(line %zu): metrics undefined",
                                file, s->n_nonfinite, s->first_nonfinite + 1,
                                f.first_nonfinite_line);
            else
                biqa_error_line("%s: %s", file, biqa_metric_flag_text(bit));
        }
    return rc;
}
