#include "results/runs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "results/provenance.h"

static void bind_opt_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v && *v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* Prepares sql, lets bind() fill it, steps it once to completion. */
static int run_statement(biqa_store *s, const char *sql, const char *what,
                         void (*bind)(sqlite3_stmt *, const void *), const void *ctx,
                         biqa_error *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return biqa_store_fail(s, err, what);
    bind(st, ctx);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return biqa_store_fail(s, err, what);
    return 0;
}

struct begin {
    const biqa_run_spec *spec;
    const char *config, *hash, *now;
    const biqa_provenance *p;
    int64_t id;
};

static void bind_begin(sqlite3_stmt *st, const void *ctx)
{
    const struct begin *b = ctx;
    const biqa_run_spec *r = b->spec;
    const biqa_provenance *p = b->p;
    int i = 1;
    sqlite3_bind_text(st, i++, r->kind, -1, SQLITE_STATIC);
    bind_opt_text(st, i++, r->method);
    bind_opt_text(st, i++, r->backbone);
    bind_opt_text(st, i++, r->dataset);
    bind_opt_text(st, i++, r->split_id);
    bind_opt_text(st, i++, r->split_hash);
    sqlite3_bind_int64(st, i++, r->seed);
    sqlite3_bind_text(st, i++, b->config, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i++, b->hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i++, p->git_commit, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, i++, p->git_dirty);
    sqlite3_bind_text(st, i++, p->host, -1, SQLITE_STATIC);
    bind_opt_text(st, i++, p->cpu);
    bind_opt_text(st, i++, p->gpu.count ? p->gpu.name : NULL);
    bind_opt_text(st, i++, p->gpu.driver);
    bind_opt_text(st, i++, p->gpu.runtime);
    bind_opt_text(st, i++, p->gpu.cudnn);
    sqlite3_bind_text(st, i++, b->now, -1, SQLITE_STATIC);
    if (r->parent_run > 0)
        sqlite3_bind_int64(st, i++, r->parent_run);
    else
        sqlite3_bind_null(st, i++);
    sqlite3_bind_int64(st, i++, p->pid);
    bind_opt_text(st, i++, p->boot_id);
    sqlite3_bind_int64(st, i++, p->proc_start);
}

static int begin_tx(biqa_store *s, void *ctx, biqa_error *err)
{
    struct begin *b = ctx;
    if (run_statement(s,
                      "INSERT INTO runs (kind, method, backbone, dataset, split_id, split_hash, "
                      "seed, config_json, config_hash, git_commit, git_dirty, host, cpu, gpu, "
                      "gpu_driver, cuda_version, cudnn_version, started_at, status, parent_run, "
                      "pid, boot_id, proc_start) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                      "?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, 'running', ?19, ?20, ?21, ?22)",
                      "recording a new run", bind_begin, b, err) < 0)
        return -1;
    b->id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int biqa_run_begin(biqa_store *s, const biqa_run_spec *spec, int64_t *run_id, biqa_error *err)
{
    if (!spec->kind || !spec->config_json)
        return biqa_fail(err, "%s: a run needs a kind and a config", s->path);
    char *canon = biqa_json_canonical(spec->config_json, err);
    if (!canon)
        return biqa_fail_wrap(err, "config of the new %s run", spec->kind);
    char hash[BIQA_SHA256_HEX_LEN], now[32];
    biqa_sha256_hex(canon, strlen(canon), hash);
    biqa_now_iso(now);
    biqa_provenance p;
    biqa_provenance_collect(&p);
    struct begin b = {.spec = spec, .config = canon, .hash = hash, .now = now, .p = &p};
    int rc = biqa_store_transaction(s, begin_tx, &b, err);
    free(canon);
    if (rc == 0)
        *run_id = b.id;
    return rc;
}

struct metrics {
    int64_t run;
    const biqa_metric_row *rows;
    size_t n;
};

static int require_running(biqa_store *s, int64_t run, biqa_error *err);

static int metrics_tx(biqa_store *s, void *ctx, biqa_error *err)
{
    struct metrics *m = ctx;
    sqlite3_stmt *st;
    if (require_running(s, m->run, err) < 0)
        return -1;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO metrics (run_id, dataset, split, metric, step, value, "
                           "flags) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                           -1, &st, NULL) != SQLITE_OK)
        return biqa_store_fail(s, err, "recording metrics");
    for (size_t i = 0; i < m->n; i++) {
        const biqa_metric_row *r = &m->rows[i];
        sqlite3_bind_int64(st, 1, m->run);
        sqlite3_bind_text(st, 2, r->dataset, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, r->split, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, r->metric, -1, SQLITE_STATIC);
        if (r->step >= 0)
            sqlite3_bind_int64(st, 5, r->step);
        else
            sqlite3_bind_null(st, 5);
        if (isfinite(r->value))
            sqlite3_bind_double(st, 6, r->value);
        else
            sqlite3_bind_null(st, 6);
        bind_opt_text(st, 7, r->flags);
        if (sqlite3_step(st) != SQLITE_DONE) {
            biqa_fail(err, "%s: recording metric %s/%s/%s of run %lld: %s", s->path, r->dataset,
                      r->split, r->metric, (long long)m->run, sqlite3_errmsg(s->db));
            sqlite3_finalize(st);
            return -1;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return 0;
}

/* Only a running run takes new rows: a finished, failed or interrupted
 * record is closed, so nothing can be added to it behind its status. */
static int require_running(biqa_store *s, int64_t run, biqa_error *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT status FROM runs WHERE id = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return biqa_store_fail(s, err, "looking up a run");
    sqlite3_bind_int64(st, 1, run);
    int rc;
    if (sqlite3_step(st) != SQLITE_ROW)
        rc = biqa_fail(err, "%s: no run %lld", s->path, (long long)run);
    else if (strcmp((const char *)sqlite3_column_text(st, 0), "running") != 0)
        rc = biqa_fail(err, "%s: run %lld is %s, not running", s->path, (long long)run,
                       sqlite3_column_text(st, 0));
    else
        rc = 0;
    sqlite3_finalize(st);
    return rc;
}

int biqa_run_add_metrics(biqa_store *s, int64_t run_id, const biqa_metric_row *rows, size_t n,
                         biqa_error *err)
{
    struct metrics m = {.run = run_id, .rows = rows, .n = n};
    return biqa_store_transaction(s, metrics_tx, &m, err);
}

struct update {
    int64_t run;
    const char *a, *b;
    const char *sql, *what;
};

static void bind_update(sqlite3_stmt *st, const void *ctx)
{
    const struct update *u = ctx;
    sqlite3_bind_int64(st, 1, u->run);
    bind_opt_text(st, 2, u->a);
    bind_opt_text(st, 3, u->b);
}

static int update_tx(biqa_store *s, void *ctx, biqa_error *err)
{
    struct update *u = ctx;
    if (require_running(s, u->run, err) < 0)
        return -1;
    return run_statement(s, u->sql, u->what, bind_update, u, err);
}

static int update(biqa_store *s, int64_t run, const char *sql, const char *what, const char *a,
                  const char *b, biqa_error *err)
{
    struct update u = {.run = run, .a = a, .b = b, .sql = sql, .what = what};
    return biqa_store_transaction(s, update_tx, &u, err);
}

static int failure_tx(biqa_store *s, void *ctx, biqa_error *err)
{
    struct update *u = ctx;
    if (update_tx(s, u, err) < 0)
        return -1;
    u->sql = "UPDATE runs SET n_failed = n_failed + 1 WHERE id = ?1";
    return run_statement(s, u->sql, u->what, bind_update, u, err);
}

int biqa_run_add_failure(biqa_store *s, int64_t run_id, const char *item, const char *reason,
                         biqa_error *err)
{
    struct update u = {.run = run_id, .a = item, .b = reason,
                       .sql = "INSERT INTO run_failures VALUES (?1, ?2, ?3)",
                       .what = "recording a failed item"};
    return biqa_store_transaction(s, failure_tx, &u, err);
}

int biqa_run_set_checkpoint(biqa_store *s, int64_t run_id, const char *path,
                            const char *sha256, biqa_error *err)
{
    return update(s, run_id,
                  "UPDATE runs SET checkpoint_path = ?2, checkpoint_sha256 = ?3 WHERE id = ?1",
                  "recording a checkpoint", path, sha256, err);
}

static int end_run(biqa_store *s, int64_t run_id, const char *status, const char *error_text,
                   biqa_error *err)
{
    char now[32];
    biqa_now_iso(now);
    const char *sql = strcmp(status, "finished") == 0
                          ? "UPDATE runs SET status = 'finished', ended_at = ?2 WHERE id = ?1"
                          : "UPDATE runs SET status = 'failed', ended_at = ?2, error = ?3 "
                            "WHERE id = ?1";
    return update(s, run_id, sql, "closing a run", now, error_text, err);
}

int biqa_run_finish(biqa_store *s, int64_t run_id, biqa_error *err)
{
    return end_run(s, run_id, "finished", NULL, err);
}

int biqa_run_fail(biqa_store *s, int64_t run_id, const char *error_text, biqa_error *err)
{
    return end_run(s, run_id, "failed", error_text ? error_text : "failed", err);
}
