#include "results/table_fill.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* Config sections that never change a run's numbers (where it ran, which
 * split, which other methods the same reproduce ran): runs that differ only
 * there are one configuration. */
#define RESULT_CONFIG                                                                        \
    "json_remove(r.config_json, '$.downstream', '$.run', '$.compute', '$.eval', "             \
    "'$.pretrain.methods', '$.data.downstream')"

static char *dup_col(sqlite3_stmt *st, int c)
{
    const unsigned char *t = sqlite3_column_text(st, c);
    return strdup(t ? (const char *)t : "");
}

static void run_free(biqa_cell_run *r)
{
    free(r->kind), free(r->method), free(r->dataset), free(r->split), free(r->split_hash);
    free(r->config_hash), free(r->git_commit), free(r->flags);
}

void biqa_cell_free(biqa_cell *c)
{
    for (size_t i = 0; i < c->nruns; i++)
        run_free(&c->runs[i]);
    free(c->runs);
    for (int i = 0; i < c->npub; i++)
        free(c->pub[i].source);
    free(c->pub);
    free(c->mixed);
    free(c->fill);
}

void biqa_table_data_free(biqa_table_data *d)
{
    for (int i = 0; d->cells && d->spec && i < d->spec->nrows * d->spec->ncols; i++)
        biqa_cell_free(&d->cells[i]);
    free(d->cells);
    d->cells = NULL;
}

double biqa_table_round(const biqa_tspec_column *col, double v)
{
    if (!isfinite(v))
        return v;
    char text[64];
    if (col->digits > 0)
        snprintf(text, sizeof text, "%.*g", col->digits, v);
    else
        snprintf(text, sizeof text, "%.*f", col->decimals, v);
    return strtod(text, NULL);
}

/* ---- the selection as SQL ---------------------------------------------- */

static int bind_value(sqlite3_stmt *st, int i, const cJSON *v)
{
    if (cJSON_IsString(v))
        return sqlite3_bind_text(st, i, v->valuestring, -1, SQLITE_TRANSIENT);
    if (cJSON_IsBool(v))
        return sqlite3_bind_int(st, i, cJSON_IsTrue(v));
    return sqlite3_bind_double(st, i, v->valuedouble);
}

int biqa_where_sql(const biqa_tspec_where *w, int first, char *sql, size_t len)
{
    size_t n = strlen(sql);
    for (int i = 0; i < w->n && n < len; i++) {
        const char *key = w->terms[i].key;
        int p = first + 2 * i;
        switch (biqa_tspec_key_class(key)) { /* keys are validated names, never user SQL */
        case 'r':
            n += (size_t)snprintf(sql + n, len - n, " AND r.%s = ?%d", key, p + 1);
            break;
        case 'm':
            n += (size_t)snprintf(sql + n, len - n, " AND m.%s = ?%d", key, p + 1);
            break;
        case 'g':
            n += (size_t)snprintf(sql + n, len - n, " AND r.id IN (SELECT run_id FROM "
                                  "run_members WHERE group_run = ?%d)", p + 1);
            break;
        default:
            n += (size_t)snprintf(sql + n, len - n, " AND json_extract(r.config_json, ?%d) = ?%d",
                                  p, p + 1);
        }
    }
    return n < len ? 0 : -1;
}

void biqa_where_bind(sqlite3_stmt *st, const biqa_tspec_where *w, int first)
{
    for (int i = 0; i < w->n; i++) {
        int p = first + 2 * i;
        if (biqa_tspec_key_class(w->terms[i].key) == 'c') {
            char path[300];
            snprintf(path, sizeof path, "$.%s", w->terms[i].key);
            sqlite3_bind_text(st, p, path, -1, SQLITE_TRANSIENT);
        }
        bind_value(st, p + 1, w->terms[i].value);
    }
}

static int select_rows(sqlite3 *db, const biqa_tspec *t, const biqa_tspec_where *w,
                       sqlite3_stmt **out, biqa_error *err)
{
    char sql[8192];
    snprintf(sql, sizeof sql,
             "SELECT r.id, r.kind, r.method, m.dataset, m.split, r.split_hash, "
             "r.config_hash, r.git_commit, r.git_dirty, m.value, m.flags, %s "
             "FROM runs r JOIN metrics m ON m.run_id = r.id "
             "WHERE r.status = 'finished' AND m.step IS NULL",
             RESULT_CONFIG);
    if (biqa_where_sql(w, 1, sql, sizeof sql - 64) < 0)
        return biqa_fail(err, "%s: a cell's selection is too long", t->path);
    strcat(sql, " ORDER BY r.id DESC, m.rowid");
    if (sqlite3_prepare_v2(db, sql, -1, out, NULL) != SQLITE_OK)
        return biqa_fail(err, "%s: selecting runs: %s", t->path, sqlite3_errmsg(db));
    biqa_where_bind(*out, w, 1);
    return 0;
}

/* ---- configurations ---------------------------------------------------- */

/* "PATH: A, B" for the first leaf where a and b differ; 0 when equal. */
static int json_diff(const cJSON *a, const cJSON *b, const char *prefix, char *out, size_t len)
{
    if (cJSON_IsObject(a) && cJSON_IsObject(b)) {
        for (const cJSON *x = a->child; x; x = x->next) {
            char path[256];
            snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", x->string);
            if (json_diff(x, cJSON_GetObjectItemCaseSensitive(b, x->string), path, out, len))
                return 1;
        }
        for (const cJSON *y = b->child; y; y = y->next) {
            char path[256];
            snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", y->string);
            if (!cJSON_GetObjectItemCaseSensitive(a, y->string))
                return json_diff(NULL, y, path, out, len);
        }
        return 0;
    }
    if (a && b && cJSON_Compare(a, b, 1))
        return 0;
    char *ta = a ? cJSON_PrintUnformatted(a) : NULL, *tb = b ? cJSON_PrintUnformatted(b) : NULL;
    snprintf(out, len, "%s: %s, %s", prefix, ta ? ta : "(absent)", tb ? tb : "(absent)");
    cJSON_free(ta), cJSON_free(tb);
    return 1;
}

/* Counts distinct configurations (texts in configs[]) and names a difference. */
static int check_configs(biqa_cell *c, char **configs, size_t n, biqa_error *err)
{
    c->nconfigs = n ? 1 : 0;
    size_t other = 0;
    for (size_t i = 1; i < n; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = !strcmp(configs[i], configs[j]);
        if (!seen && c->nconfigs++ == 1)
            other = i;
    }
    if (c->nconfigs < 2)
        return 0;
    cJSON *a = cJSON_Parse(configs[0]), *b = cJSON_Parse(configs[other]);
    char diff[512] = "the stored configurations";
    if (a && b)
        json_diff(a, b, "", diff, sizeof diff);
    cJSON_Delete(a), cJSON_Delete(b);
    if (!(c->mixed = strdup(diff)))
        return biqa_fail(err, "out of memory");
    return 0;
}

/* ---- runs cells -------------------------------------------------------- */

static int same_key(const biqa_cell_run *a, const biqa_cell_run *b)
{
    int a_split = a->split_hash[0] != 0, b_split = b->split_hash[0] != 0;
    if (a_split != b_split)
        return 0;
    if (a_split ? strcmp(a->split_hash, b->split_hash) : a->run_id != b->run_id)
        return 0;
    return !strcmp(a->dataset, b->dataset) && !strcmp(a->split, b->split);
}

static int fill_runs_cell(sqlite3 *db, const biqa_tspec *t, int row, const biqa_tspec_where *w,
                          const biqa_fill_options *opt, biqa_cell *c, biqa_error *err)
{
    sqlite3_stmt *st;
    if (select_rows(db, t, w, &st, err) < 0)
        return -1;
    size_t cap = 0;
    char **configs = NULL;
    int rc = 0, step;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        biqa_cell_run r = {
            .run_id = sqlite3_column_int64(st, 0), .kind = dup_col(st, 1),
            .method = dup_col(st, 2), .dataset = dup_col(st, 3), .split = dup_col(st, 4),
            .split_hash = dup_col(st, 5), .config_hash = dup_col(st, 6),
            .git_commit = dup_col(st, 7), .git_dirty = sqlite3_column_int(st, 8),
            .value = sqlite3_column_type(st, 9) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 9),
            .flags = dup_col(st, 10)};
        char *config = dup_col(st, 11);
        int keep = r.kind && r.method && r.dataset && r.split && r.split_hash && r.config_hash &&
                   r.git_commit && r.flags && config;
        if (!keep)
            rc = biqa_fail(err, "out of memory");
        /* rows come newest first: a later row of a kept split and configuration is an
         * older re-run of it */
        for (size_t i = 0; keep && i < c->nruns; i++)
            keep = !(same_key(&c->runs[i], &r) && !strcmp(configs[i], config)) &&
                   (t->aggregate != BIQA_AGG_LATEST || c->runs[i].run_id == r.run_id);
        if (keep && c->nruns == cap) {
            cap = cap ? 2 * cap : 16;
            biqa_cell_run *g = realloc(c->runs, cap * sizeof *g);
            char **gc = realloc(configs, cap * sizeof *gc);
            c->runs = g ? g : c->runs, configs = gc ? gc : configs;
            if (!g || !gc)
                keep = 0, rc = biqa_fail(err, "out of memory");
        }
        if (keep) {
            configs[c->nruns] = config;
            c->runs[c->nruns++] = r;
        } else {
            free(config);
            run_free(&r);
        }
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = biqa_fail(err, "%s: selecting runs: %s", t->path, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    /* run-id order, as `biqa reproduce` aggregates them */
    for (size_t i = 0; i < c->nruns / 2; i++) {
        biqa_cell_run tmp = c->runs[i];
        c->runs[i] = c->runs[c->nruns - 1 - i], c->runs[c->nruns - 1 - i] = tmp;
        char *tc = configs[i];
        configs[i] = configs[c->nruns - 1 - i], configs[c->nruns - 1 - i] = tc;
    }
    if (rc == 0)
        rc = check_configs(c, configs, c->nruns, err);
    for (size_t i = 0; i < c->nruns; i++)
        free(configs[i]);
    free(configs);
    if (rc < 0)
        return -1;
    if (c->nruns == 0) {
        c->state = BIQA_CELL_EMPTY;
        c->value = NAN;
        c->fill = biqa_tspec_fill_command(t, row, w, opt->profile ? opt->profile : "demo",
                                          opt->is_default, opt->ctx, err);
        return c->fill ? 0 : -1;
    }
    double *v = malloc(c->nruns * sizeof *v);
    if (!v)
        return biqa_fail(err, "out of memory");
    for (size_t i = 0; i < c->nruns; i++)
        v[i] = c->runs[i].value;
    c->state = BIQA_CELL_RUNS;
    rc = biqa_aggregate_compute(v, c->nruns, 0, BIQA_BOOTSTRAP_RESAMPLES, BIQA_BOOTSTRAP_LEVEL,
                                &c->agg);
    free(v);
    c->value = c->agg.median;
    return rc == 0 ? 0 : biqa_fail(err, "out of memory");
}

/* ---- published cells --------------------------------------------------- */

static int fill_published_cell(sqlite3 *db, const biqa_tspec *t, const biqa_tspec_row *r,
                               const biqa_tspec_column *col, biqa_cell *c, biqa_error *err)
{
    c->state = BIQA_CELL_UNREPORTED;
    c->value = NAN;
    if (!col->pub_dataset)
        return 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT value, source FROM published WHERE paper_table = ?1 AND "
                           "method = ?2 AND dataset = ?3 AND metric = ?4 ORDER BY value, source",
                           -1, &st, NULL) != SQLITE_OK)
        return biqa_fail(err, "%s: reading the published table: %s", t->path, sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, t->published_table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->pub_method, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, col->pub_dataset, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, col->pub_metric, -1, SQLITE_STATIC);
    int rc = 0;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        biqa_cell_pub *g = realloc(c->pub, (size_t)(c->npub + 1) * sizeof *g);
        if (!g) {
            rc = biqa_fail(err, "out of memory");
            break;
        }
        c->pub = g;
        c->pub[c->npub] = (biqa_cell_pub){sqlite3_column_double(st, 0), dup_col(st, 1)};
        if (!c->pub[c->npub++].source)
            rc = biqa_fail(err, "out of memory");
    }
    sqlite3_finalize(st);
    if (rc == 0 && c->npub) {
        c->state = BIQA_CELL_PUBLISHED;
        c->value = c->pub[c->npub - 1].value;
    }
    return rc;
}

/* ---- best per column and section --------------------------------------- */

static void mark_best(biqa_table_data *d)
{
    const biqa_tspec *t = d->spec;
    for (int k = 0; k < t->ncols; k++) {
        const biqa_tspec_column *col = &t->cols[k];
        if (col->best == BIQA_BEST_NONE)
            continue;
        for (int s = 0; s < t->nsections; s++) {
            double best = NAN;
            int count = 0;
            for (int r = 0; r < t->nrows; r++) {
                double v = biqa_table_round(col, biqa_table_cell(d, r, k)->value);
                if (t->rows[r].section != s || !isfinite(v))
                    continue;
                count++;
                if (isnan(best) || (col->best == BIQA_BEST_MAX ? v > best : v < best))
                    best = v;
            }
            for (int r = 0; count > 1 && r < t->nrows; r++) /* a lone value is no "best" */
                if (t->rows[r].section == s &&
                    biqa_table_round(col, biqa_table_cell(d, r, k)->value) == best)
                    biqa_table_cell(d, r, k)->best = 1;
        }
    }
}

int biqa_table_fill_one(sqlite3 *db, const biqa_tspec *spec, const biqa_fill_options *opt,
                        int row, int col, biqa_cell *c, biqa_error *err)
{
    *c = (biqa_cell){0};
    const biqa_tspec_row *r = &spec->rows[row];
    int rc;
    if (spec->sections[r->section].published) {
        rc = fill_published_cell(db, spec, r, &spec->cols[col], c, err);
    } else {
        biqa_tspec_where w;
        if (biqa_tspec_cell_where(spec, row, col, opt->where, &w, err) < 0)
            return -1;
        rc = fill_runs_cell(db, spec, row, &w, opt, c, err);
        biqa_tspec_where_free(&w);
    }
    if (rc < 0)
        biqa_cell_free(c);
    return rc;
}

int biqa_table_fill(sqlite3 *db, const biqa_tspec *spec, const biqa_fill_options *opt,
                    biqa_table_data *out, biqa_error *err)
{
    out->spec = spec;
    out->cells = calloc((size_t)(spec->nrows * spec->ncols), sizeof *out->cells);
    if (!out->cells)
        return biqa_fail(err, "out of memory");
    int rc = 0;
    for (int r = 0; rc == 0 && r < spec->nrows; r++)
        for (int k = 0; rc == 0 && k < spec->ncols; k++)
            rc = biqa_table_fill_one(db, spec, opt, r, k, biqa_table_cell(out, r, k), err);
    if (rc < 0) {
        biqa_table_data_free(out);
        return -1;
    }
    mark_best(out);
    return 0;
}
