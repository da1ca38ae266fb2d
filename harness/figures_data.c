#include "harness/figures_data.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/csv.h"
#include "core/log.h"
#include "harness/reuse.h"

const char *const biqa_fig_kinds[BIQA_FIG_KINDS] = {"finetune", "probe"};

/* The comparison's order first, then any other method alphabetically. */
static int method_rank(const char *m)
{
    static const char *const order[] = {"scratch", "supervised", "moco", "simclr", "qpt"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(m, order[i]))
            return i;
    return 5;
}

static int cmp_methods(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    int rx = method_rank(x), ry = method_rank(y);
    return rx != ry ? rx - ry : strcmp(x, y);
}

/* Distinct values of column (dataset, or method within dataset) among the
 * finished downstream SRCC rows that match where. */
static int distinct(sqlite3 *db, const biqa_tspec_where *where, const char *dataset,
                    char ***out, int *n, biqa_error *err)
{
    char sql[4096];
    snprintf(sql, sizeof sql,
             "SELECT DISTINCT %s FROM runs r JOIN metrics m ON m.run_id = r.id "
             "WHERE r.status = 'finished' AND r.kind IN ('finetune', 'probe') AND "
             "m.metric = 'srcc' AND m.step IS NULL AND r.method IS NOT NULL%s",
             dataset ? "r.method" : "m.dataset", dataset ? " AND m.dataset = ?1" : "");
    if (biqa_where_sql(where, 2, sql, sizeof sql - 32) < 0)
        return biqa_fail(err, "figures: --where is too long");
    strcat(sql, " ORDER BY 1");
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return biqa_fail(err, "figures: selecting runs: %s", sqlite3_errmsg(db));
    if (dataset)
        sqlite3_bind_text(st, 1, dataset, -1, SQLITE_STATIC);
    biqa_where_bind(st, where, 2);
    *out = NULL, *n = 0;
    int rc = 0;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        char **g = realloc(*out, (size_t)(*n + 1) * sizeof *g);
        if (!g || !(g[*n] = strdup((const char *)sqlite3_column_text(st, 0)))) {
            *out = g ? g : *out;
            rc = biqa_fail(err, "out of memory");
            break;
        }
        *out = g, (*n)++;
    }
    sqlite3_finalize(st);
    return rc;
}

static void free_strings(char **s, int n)
{
    for (int i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

/* The spec of one dataset's figure data: a row per method, a fine-tune and
 * a probe SRCC column, as JSON for biqa_tspec_parse. */
static char *dataset_spec(const char *dataset, char **methods, int n)
{
    cJSON *s = cJSON_CreateObject(), *w = cJSON_AddObjectToObject(s, "where");
    cJSON_AddStringToObject(s, "title", "figure data");
    cJSON_AddStringToObject(s, "fill", "biqa reproduce");
    cJSON_AddStringToObject(w, "dataset", dataset);
    cJSON_AddStringToObject(w, "metric", "srcc");
    cJSON *cols = cJSON_AddArrayToObject(s, "columns"), *rows = cJSON_AddArrayToObject(s, "rows");
    for (int k = 0; k < BIQA_FIG_KINDS; k++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "id", biqa_fig_kinds[k]);
        cJSON_AddStringToObject(c, "label", biqa_fig_kinds[k]);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(c, "where"), "kind", biqa_fig_kinds[k]);
        cJSON_AddItemToArray(cols, c);
    }
    for (int i = 0; i < n; i++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "id", methods[i]);
        cJSON_AddStringToObject(r, "label", methods[i]);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(r, "where"), "method", methods[i]);
        cJSON_AddItemToArray(rows, r);
    }
    char *text = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    return text;
}

static int load_dataset(sqlite3 *db, const biqa_tspec_where *where, biqa_fig_dataset *d,
                        biqa_error *err)
{
    char **methods;
    int n;
    if (distinct(db, where, d->name, &methods, &n, err) < 0)
        return -1;
    qsort(methods, (size_t)n, sizeof *methods, cmp_methods);
    char *json = dataset_spec(d->name, methods, n);
    biqa_tspec spec;
    biqa_table_data data = {0};
    biqa_fill_options opt = {.where = where};
    int rc = json ? biqa_tspec_parse("(figure data)", json, &spec, err) : biqa_fail(err, "out of memory");
    cJSON_free(json);
    if (rc == 0) {
        rc = biqa_table_fill(db, &spec, &opt, &data, err);
        if (rc == 0 && !(d->methods = calloc((size_t)n, sizeof *d->methods)))
            rc = biqa_fail(err, "out of memory");
        for (int i = 0; rc == 0 && i < n; i++, d->n++) {
            biqa_fig_method *m = &d->methods[i];
            m->name = methods[i], methods[i] = NULL;
            for (int k = 0; rc == 0 && k < BIQA_FIG_KINDS; k++) {
                const biqa_cell *c = biqa_table_cell(&data, i, k);
                if (!c->nruns)
                    continue;
                if (c->nconfigs > 1) {
                    snprintf(m->mixed[k], sizeof m->mixed[k], "%s", c->mixed);
                    biqa_warn("figures: %s %s on %s mixes runs of %d configurations (%s); "
                              "narrow with --where", m->name, biqa_fig_kinds[k], d->name,
                              c->nconfigs, c->mixed);
                }
                if (!(m->runs[k] = calloc(c->nruns, sizeof *m->runs[k]))) {
                    rc = biqa_fail(err, "out of memory");
                    break;
                }
                for (size_t j = 0; j < c->nruns; j++) {
                    biqa_fig_run *r = &m->runs[k][m->n[k]++];
                    r->id = c->runs[j].run_id, r->srcc = c->runs[j].value;
                    snprintf(r->split, sizeof r->split, "%s", c->runs[j].split);
                }
            }
        }
        biqa_table_data_free(&data);
        biqa_tspec_free(&spec);
    }
    free_strings(methods, n);
    return rc;
}

int biqa_fig_load(sqlite3 *db, const biqa_tspec_where *where, biqa_fig_dataset **out, int *n,
                  biqa_error *err)
{
    char **names;
    int count;
    *out = NULL, *n = 0;
    if (distinct(db, where, NULL, &names, &count, err) < 0)
        return -1;
    int rc = 0;
    if (count && !(*out = calloc((size_t)count, sizeof **out)))
        rc = biqa_fail(err, "out of memory");
    for (int i = 0; rc == 0 && i < count; i++) {
        (*out)[i].name = names[i], names[i] = NULL;
        (*n)++;
        rc = load_dataset(db, where, &(*out)[i], err);
    }
    free_strings(names, count);
    if (rc < 0) {
        biqa_fig_free(*out, *n);
        *out = NULL, *n = 0;
    }
    return rc;
}

void biqa_fig_free(biqa_fig_dataset *d, int n)
{
    for (int i = 0; d && i < n; i++) {
        for (int j = 0; j < d[i].n; j++) {
            free(d[i].methods[j].name);
            for (int k = 0; k < BIQA_FIG_KINDS; k++)
                free(d[i].methods[j].runs[k]);
        }
        free(d[i].methods);
        free(d[i].name);
    }
    free(d);
}

void biqa_fig_series_free(biqa_fig_series *s, int n)
{
    for (int i = 0; s && i < n; i++) {
        free(s[i].label);
        free(s[i].x);
        free(s[i].y);
    }
}

static int series_push(biqa_fig_series *s, double x, double y, int *cap)
{
    if (s->n == *cap) {
        *cap = *cap ? 2 * *cap : 32;
        double *gx = realloc(s->x, (size_t)*cap * sizeof *gx);
        s->x = gx ? gx : s->x;
        double *gy = gx ? realloc(s->y, (size_t)*cap * sizeof *gy) : NULL;
        s->y = gy ? gy : s->y;
        if (!gx || !gy)
            return -1;
    }
    s->x[s->n] = x, s->y[s->n] = y;
    s->n++;
    return 0;
}

int biqa_fig_predictions(const char *db_path, int64_t run_id, biqa_fig_series *s,
                         biqa_error *err)
{
    char path[4200];
    biqa_artifact_path(db_path, run_id, "predictions.csv", path, sizeof path);
    *s = (biqa_fig_series){.run_id = run_id};
    if (access(path, F_OK) != 0)
        return 0;
    biqa_csv csv;
    if (biqa_csv_read(path, &csv, err) < 0)
        return -1;
    size_t cm, cp, cpart;
    int rc = biqa_csv_find_column(&csv, "mos", &cm, err) < 0 ||
                     biqa_csv_find_column(&csv, "pred", &cp, err) < 0 ||
                     biqa_csv_find_column(&csv, "part", &cpart, err) < 0
                 ? -1
                 : 0;
    int cap = 0;
    for (size_t r = 0; rc == 0 && r < csv.nrows; r++) {
        if (strcmp(biqa_csv_cell(&csv, r, cpart), "test"))
            continue;
        char *e1, *e2;
        double mos = strtod(biqa_csv_cell(&csv, r, cm), &e1);
        double pred = strtod(biqa_csv_cell(&csv, r, cp), &e2);
        if (*e1 || *e2)
            rc = biqa_fail(err, "%s:%zu: mos or pred is not a number", path, csv.lines[r + 1]);
        else if (series_push(s, mos, pred, &cap) < 0)
            rc = biqa_fail(err, "out of memory");
    }
    biqa_csv_free(&csv);
    if (rc < 0)
        biqa_fig_series_free(s, 1);
    return rc;
}

int biqa_fig_curve(sqlite3 *db, int64_t run_id, const char *metric, biqa_fig_series *s,
                   biqa_error *err)
{
    sqlite3_stmt *st;
    *s = (biqa_fig_series){.run_id = run_id};
    if (sqlite3_prepare_v2(db,
                           "SELECT step, value FROM metrics WHERE run_id = ?1 AND metric = ?2 "
                           "AND step IS NOT NULL ORDER BY step",
                           -1, &st, NULL) != SQLITE_OK)
        return biqa_fail(err, "figures: reading curves: %s", sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, metric, -1, SQLITE_STATIC);
    int rc = 0, cap = 0;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW)
        if (series_push(s, (double)sqlite3_column_int64(st, 0) + 1,
                        sqlite3_column_type(st, 1) == SQLITE_NULL ? NAN
                                                                  : sqlite3_column_double(st, 1),
                        &cap) < 0)
            rc = biqa_fail(err, "out of memory");
    sqlite3_finalize(st);
    if (rc < 0)
        biqa_fig_series_free(s, 1);
    return rc;
}

int biqa_fig_pretrain_curves(sqlite3 *db, const biqa_tspec_where *where, biqa_fig_series **out,
                             int *n, biqa_error *err)
{
    char sql[4096] = "SELECT DISTINCT r.id, r.method FROM runs r JOIN metrics m ON "
                     "m.run_id = r.id WHERE r.kind = 'pretrain' AND r.status = 'finished' AND "
                     "m.metric = 'loss' AND m.step IS NOT NULL";
    if (biqa_where_sql(where, 1, sql, sizeof sql - 32) < 0)
        return biqa_fail(err, "figures: --where is too long");
    strcat(sql, " ORDER BY r.id");
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return biqa_fail(err, "figures: selecting pretraining runs: %s", sqlite3_errmsg(db));
    biqa_where_bind(st, where, 1);
    *out = NULL, *n = 0;
    int rc = 0;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        biqa_fig_series *g = realloc(*out, (size_t)(*n + 1) * sizeof *g);
        if (!g) {
            rc = biqa_fail(err, "out of memory");
            break;
        }
        *out = g;
        int64_t id = sqlite3_column_int64(st, 0);
        const unsigned char *method = sqlite3_column_text(st, 1);
        if ((rc = biqa_fig_curve(db, id, "loss", &g[*n], err)) < 0)
            break;
        char label[256];
        snprintf(label, sizeof label, "run %lld: %s", (long long)id,
                 method ? (const char *)method : "?");
        if (!(g[(*n)++].label = strdup(label)))
            rc = biqa_fail(err, "out of memory");
    }
    sqlite3_finalize(st);
    if (rc < 0) {
        biqa_fig_series_free(*out, *n);
        free(*out);
        *out = NULL, *n = 0;
    }
    return rc;
}
