/* biqa tables: the paper's tables rebuilt from the results store, from the
 * specs in paper/tables/NAME.json (results/table_spec.h), and --explain:
 * the runs behind one cell. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "core/log.h"
#include "harness/commands.h"
#include "harness/config.h"
#include "harness/output.h"
#include "harness/table_format.h"
#include "results/store.h"
#include "results/table_fill.h"

/* --specs, else $BIQA_SRC/paper/tables, else paper/tables of the checkout
 * this binary was built in (two levels above build/biqa), as bench.c finds
 * its peer scripts. */
static void specs_dir(const biqa_args *a, char *out, size_t len)
{
    const char *opt = biqa_arg(a, "specs");
    if (opt) {
        snprintf(out, len, "%s", opt);
        return;
    }
    char src[PATH_MAX - 16];
    biqa_source_dir(src, sizeof src);
    snprintf(out, len, "%s/paper/tables", src);
}

/* A config path must be a knob (`biqa config show`), or a key that bench
 * and downstream runs add to their config (bench.*, downstream.*). */
static int check_key(const char *file, const char *key, biqa_error *err)
{
    if (biqa_tspec_key_class(key) != 'c' || !strncmp(key, "bench.", 6) ||
        !strncmp(key, "downstream.", 11))
        return 0;
    for (int i = 0; i < biqa_knob_count(); i++)
        if (!strcmp(biqa_knob_at(i)->key, key))
            return 0;
    return biqa_fail(err, "%s: where key '%s' is not a knob ('biqa config show' lists them), "
                     "bench.* or downstream.*", file, key);
}

static int check_where(const char *file, const biqa_tspec_where *w, biqa_error *err)
{
    for (int i = 0; i < w->n; i++)
        if (check_key(file, w->terms[i].key, err) < 0)
            return -1;
    return 0;
}

static int check_spec(const biqa_tspec *t, biqa_error *err)
{
    int rc = check_where(t->path, &t->where, err);
    for (int i = 0; rc == 0 && i < t->nsections; i++)
        rc = check_where(t->path, &t->sections[i].where, err);
    for (int i = 0; rc == 0 && i < t->nrows; i++)
        rc = check_where(t->path, &t->rows[i].where, err);
    for (int i = 0; rc == 0 && i < t->ncols; i++)
        rc = check_where(t->path, &t->cols[i].where, err);
    return rc;
}

typedef struct tables {
    biqa_tspec *specs;
    int n;
    biqa_config profile; /* of the fill commands */
    int has_profile;
    biqa_tspec_where where; /* --where */
    biqa_store store;
    int has_store;
    biqa_fill_options opt;
} tables;

/* A knob value the profile already has: fill commands need not --set it. */
static int profile_default(void *ctx, const char *key, const cJSON *value)
{
    const biqa_config *c = ctx;
    for (int i = 0; i < biqa_knob_count(); i++)
        if (!strcmp(biqa_knob_at(i)->key, key))
            return cJSON_Compare(biqa_config_get(c, key), value, 1);
    return 0;
}

static void tables_close(tables *t)
{
    if (t->has_profile)
        biqa_config_free(&t->profile);
    biqa_tspec_free_all(t->specs, t->n);
    biqa_tspec_where_free(&t->where);
    if (t->has_store)
        biqa_store_close(&t->store);
}

static int tables_open(tables *t, const biqa_cli *cli, biqa_error *err)
{
    const biqa_args *a = cli->args;
    char dir[PATH_MAX + 32];
    specs_dir(a, dir, sizeof dir);
    if (biqa_tspec_load_dir(dir, &t->specs, &t->n, err) < 0)
        return -1;
    for (int i = 0; i < t->n; i++)
        if (check_spec(&t->specs[i], err) < 0)
            return -1;
    const char *const *wheres;
    int nw = biqa_arg_all(a, "where", &wheres);
    for (int i = 0; i < nw; i++)
        if (biqa_tspec_where_set_text(&t->where, wheres[i], err) < 0 ||
            check_key("--where", t->where.terms[t->where.n - 1].key, err) < 0)
            return -1;
    const char *profile = biqa_arg(a, "profile") ? biqa_arg(a, "profile") : "demo";
    if (biqa_config_load(&t->profile, profile, NULL, NULL, 0, NULL, err) < 0)
        return -1;
    t->has_profile = 1;
    t->opt = (biqa_fill_options){.where = &t->where, .profile = profile,
                                 .is_default = profile_default, .ctx = &t->profile};
    if (biqa_store_open(&t->store, cli->db, BIQA_STORE_READONLY, err) < 0)
        return -1;
    t->has_store = 1;
    return 0;
}

static const biqa_tspec *find_table(const tables *t, const char *name, biqa_error *err)
{
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->specs[i].name, name))
            return &t->specs[i];
    char list[512] = "";
    for (int i = 0; i < t->n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 t->specs[i].name);
    biqa_fail(err, "no table '%s' (tables: %s)", name, list);
    return NULL;
}

/* ---- --explain --------------------------------------------------------- */

static void print_cell_summary(const biqa_tspec *t, int r, int k, const biqa_cell *c)
{
    char v[64], lo[64], hi[64];
    biqa_table_format_value(&t->cols[k], c->value, v, sizeof v);
    printf("table %s, row %s (%s), column %s (%s%s%s)\n", t->name, t->rows[r].id,
           t->rows[r].label, t->cols[k].id, t->cols[k].group ? t->cols[k].group : "",
           t->cols[k].group ? " " : "", t->cols[k].label);
    switch (c->state) {
    case BIQA_CELL_EMPTY:
        printf("no run matches; this fills it:\n  %s\n", c->fill);
        break;
    case BIQA_CELL_UNREPORTED:
        printf("published section: nothing published for it\n");
        break;
    case BIQA_CELL_PUBLISHED:
        printf("published value%s:\n", c->npub > 1 ? "s" : "");
        for (int i = 0; i < c->npub; i++) {
            biqa_table_format_value(&t->cols[k], c->pub[i].value, v, sizeof v);
            printf("  %s  (%s)\n", v, c->pub[i].source);
        }
        break;
    case BIQA_CELL_RUNS:
        if (t->aggregate == BIQA_AGG_LATEST) {
            printf("%s: the newest matching run\n", v);
        } else {
            biqa_table_format_value(&t->cols[k], c->agg.ci_lo, lo, sizeof lo);
            biqa_table_format_value(&t->cols[k], c->agg.ci_hi, hi, sizeof hi);
            printf("%s [%s, %s]: median over %zu split%s, bootstrap %.0f%% CI of the median\n", v,
                   lo, hi, c->nruns, c->nruns == 1 ? "" : "s", c->agg.level * 100);
        }
        if (c->nconfigs > 1)
            printf("warning: the runs have %d configurations (%s)\n", c->nconfigs, c->mixed);
        break;
    }
}

static cJSON *cell_json(const biqa_tspec *t, int r, int k, const biqa_cell *c)
{
    static const char *const states[] = {"empty", "runs", "published", "unreported"};
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "table", t->name);
    cJSON_AddStringToObject(o, "row", t->rows[r].id);
    cJSON_AddStringToObject(o, "column", t->cols[k].id);
    cJSON_AddStringToObject(o, "state", states[c->state]);
    cJSON_AddItemToObject(o, "value", isfinite(c->value) ? cJSON_CreateNumber(c->value)
                                                         : cJSON_CreateNull());
    if (c->state == BIQA_CELL_RUNS && t->aggregate == BIQA_AGG_MEDIAN) {
        cJSON_AddItemToObject(o, "ci_lo", isfinite(c->agg.ci_lo) ? cJSON_CreateNumber(c->agg.ci_lo)
                                                                  : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "ci_hi", isfinite(c->agg.ci_hi) ? cJSON_CreateNumber(c->agg.ci_hi)
                                                                  : cJSON_CreateNull());
    }
    if (c->fill)
        cJSON_AddStringToObject(o, "fill", c->fill);
    if (c->mixed)
        cJSON_AddStringToObject(o, "mixed_configs", c->mixed);
    cJSON *pubs = cJSON_AddArrayToObject(o, "published");
    for (int i = 0; i < c->npub; i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "value", c->pub[i].value);
        cJSON_AddStringToObject(p, "source", c->pub[i].source);
        cJSON_AddItemToArray(pubs, p);
    }
    cJSON *runs = cJSON_AddArrayToObject(o, "runs");
    for (size_t i = 0; i < c->nruns; i++) {
        const biqa_cell_run *x = &c->runs[i];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "run_id", (double)x->run_id);
        cJSON_AddStringToObject(j, "kind", x->kind);
        cJSON_AddStringToObject(j, "method", x->method);
        cJSON_AddStringToObject(j, "dataset", x->dataset);
        cJSON_AddStringToObject(j, "split", x->split);
        cJSON_AddStringToObject(j, "split_hash", x->split_hash);
        cJSON_AddStringToObject(j, "config_hash", x->config_hash);
        cJSON_AddStringToObject(j, "git_commit", x->git_commit);
        cJSON_AddBoolToObject(j, "git_dirty", x->git_dirty);
        cJSON_AddItemToObject(j, "value", isfinite(x->value) ? cJSON_CreateNumber(x->value)
                                                             : cJSON_CreateNull());
        cJSON_AddItemToArray(runs, j);
    }
    return o;
}

static int explain(const biqa_cli *cli, tables *t, biqa_error *err)
{
    const char *const *pos = cli->args->positional;
    const biqa_tspec *spec = find_table(t, pos[0], err);
    if (!spec)
        return -1;
    int r = biqa_tspec_row_index(spec, pos[1]), k = biqa_tspec_col_index(spec, pos[2]);
    if (r < 0 || k < 0) {
        char list[2048] = "";
        for (int i = 0; i < (r < 0 ? spec->nrows : spec->ncols); i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                     r < 0 ? spec->rows[i].id : spec->cols[i].id);
        return biqa_fail(err, "%s: no %s '%s' (%ss: %s)", spec->path, r < 0 ? "row" : "column",
                         r < 0 ? pos[1] : pos[2], r < 0 ? "row" : "column", list);
    }
    biqa_cell cell;
    if (biqa_table_fill_one(t->store.db, spec, &t->opt, r, k, &cell, err) < 0)
        return -1;
    const biqa_cell *c = &cell;
    if (cli->json) {
        biqa_print_json(cell_json(spec, r, k, c), stdout);
    } else {
        print_cell_summary(spec, r, k, c);
        if (c->nruns) {
            biqa_table tab;
            biqa_table_init(&tab, 9, (const char *const[]){"run", "kind", "method", "dataset",
                                                           "split", "split_hash", "config_hash",
                                                           "git_commit", "value"});
            for (size_t i = 0; i < c->nruns; i++) {
                const biqa_cell_run *x = &c->runs[i];
                char id[32], commit[64], value[32];
                snprintf(id, sizeof id, "%lld", (long long)x->run_id);
                snprintf(commit, sizeof commit, "%s%s", x->git_commit, x->git_dirty ? "+dirty" : "");
                biqa_format_double(value, x->value);
                biqa_table_add(&tab, (const char *const[]){id, x->kind, x->method, x->dataset,
                                                           x->split, x->split_hash,
                                                           x->config_hash, commit, value});
            }
            biqa_table_print(&tab, stdout);
            biqa_table_free(&tab);
        }
    }
    biqa_cell_free(&cell);
    return 0;
}

/* ---- rendering --------------------------------------------------------- */

static int render_one(tables *t, const biqa_tspec *spec, enum biqa_tformat fmt, const char *out,
                      const char *db, int first, biqa_error *err)
{
    biqa_table_data d;
    if (biqa_table_fill(t->store.db, spec, &t->opt, &d, err) < 0)
        return -1;
    char *text = biqa_table_render(&d, fmt, db, err);
    biqa_table_data_free(&d);
    if (!text)
        return -1;
    int rc = 0;
    if (out) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s.%s", out, spec->name, biqa_tformat_ext(fmt));
        rc = biqa_write_file_atomic(path, text, strlen(text), err);
        if (rc == 0)
            printf("%s\n", path);
    } else {
        /* one CSV header for all tables on standard output */
        const char *body = text;
        if (fmt == BIQA_TFORMAT_CSV && !first)
            body = strchr(text, '\n') ? strchr(text, '\n') + 1 : "";
        printf("%s%s", !first && fmt != BIQA_TFORMAT_CSV ? "\n" : "", body);
    }
    free(text);
    return rc;
}

int biqa_cmd_tables(biqa_cli *cli)
{
    const biqa_args *a = cli->args;
    int is_explain = biqa_flag(a, "explain");
    if (is_explain ? biqa_expect_args(cli, 3, 3, "TABLE ROW COLUMN")
                   : biqa_expect_args(cli, 0, 0, ""))
        return BIQA_EXIT_USAGE;
    enum biqa_tformat fmt = BIQA_TFORMAT_MD;
    if (biqa_arg(a, "format") && biqa_tformat_parse(biqa_arg(a, "format"), &fmt) < 0)
        return biqa_usage_error(a, "--format %s: expected md, latex or csv", biqa_arg(a, "format"));
    tables t = {0};
    biqa_error err = {{0}};
    int rc = tables_open(&t, cli, &err);
    if (rc == 0 && is_explain) {
        rc = explain(cli, &t, &err);
    } else if (rc == 0) {
        const char *out = biqa_arg(a, "out"), *only = biqa_arg(a, "table");
        const biqa_tspec *one = only ? find_table(&t, only, &err) : NULL;
        if (only && !one)
            rc = -1;
        if (rc == 0 && out)
            rc = biqa_mkdir_p(out, &err);
        for (int i = 0, first = 1; rc == 0 && i < t.n; i++) {
            if (one && one != &t.specs[i])
                continue;
            rc = render_one(&t, &t.specs[i], fmt, out, cli->db, first, &err);
            first = 0;
        }
    }
    if (rc < 0)
        biqa_error_line("%s", err.msg);
    tables_close(&t);
    return rc == 0 ? BIQA_EXIT_OK : BIQA_EXIT_FAIL;
}
