/* biqa reproduce: a profile's whole pipeline, then its table from the store.
 *
 * The stages are the commands a user would type, run in this process in
 * order: make the synthetic benchmark (when absent), pretrain every method
 * of pretrain.methods, fine-tune and probe each pretrained backbone over the
 * profile's splits. An umbrella run of kind "reproduce" records the profile's
 * config. Every stage runs with --resume and --group UMBRELLA: a run whose
 * config hash matches a finished one is not repeated but reused, an
 * interrupted one continues from its last snapshot (harness/reuse.h), and
 * each run the stage made or reused is listed in run_members under the
 * umbrella, which is how the table selects them. The table gives each
 * method's median SRCC and PLCC over the splits with the bootstrap 95% CI of
 * the median (results/aggregate.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "harness/commands.h"
#include "harness/config.h"
#include "harness/output.h"
#include "results/aggregate.h"
#include "results/runs.h"

#define MAX_STAGE_ARGS 32

/* argv of one stage: the command words, then the global options every
 * stage shares and, for the training stages, the profile options. */
typedef struct stage {
    const char *argv[MAX_STAGE_ARGS];
    int argc;
} stage;

static void push(stage *s, const char *arg)
{
    if (s->argc < MAX_STAGE_ARGS - 1)
        s->argv[s->argc++] = arg;
}

static void global_options(stage *s, const biqa_cli *cli)
{
    push(s, "--db");
    push(s, cli->db);
    push(s, "--root");
    push(s, cli->root);
    if (cli->has_seed) {
        static char seed[32]; /* argv strings must outlive the stage; one reproduce per process */
        snprintf(seed, sizeof seed, "%lld", (long long)cli->seed);
        push(s, "--seed");
        push(s, seed);
    }
    if (cli->backend) {
        push(s, "--backend");
        push(s, cli->backend);
    }
}

static void profile_options(stage *s, const biqa_cli *cli, const char *umbrella)
{
    const biqa_args *a = cli->args;
    global_options(s, cli);
    push(s, "--resume");
    push(s, "--group");
    push(s, umbrella);
    push(s, "--profile");
    push(s, biqa_arg(a, "profile") ? biqa_arg(a, "profile") : "demo");
    if (biqa_arg(a, "config")) {
        push(s, "--config");
        push(s, biqa_arg(a, "config"));
    }
    const char *const *sets;
    int n = biqa_arg_all(a, "set", &sets);
    for (int i = 0; i < n; i++) {
        push(s, "--set");
        push(s, sets[i]);
    }
}

static int run_stage(stage *s, const char *what)
{
    s->argv[s->argc] = NULL;
    biqa_info("reproduce: %s", what);
    int rc = biqa_main(s->argc, (char **)s->argv);
    if (rc != BIQA_EXIT_OK)
        biqa_error_line("reproduce: stage '%s' failed (exit %d)", what, rc);
    return rc;
}

/* The finished pretraining run of method in the umbrella, and its checkpoint. */
static int pretrain_checkpoint(const char *db, const char *method, int64_t after, char *path,
                               size_t len, biqa_error *err)
{
    biqa_store store;
    if (biqa_store_open(&store, db, BIQA_STORE_READONLY, err) < 0)
        return -1;
    sqlite3_stmt *st;
    int rc = -1;
    if (sqlite3_prepare_v2(store.db,
                           "SELECT r.checkpoint_path FROM runs r JOIN run_members m ON "
                           "m.run_id = r.id WHERE m.group_run = ?2 AND r.kind = 'pretrain' AND "
                           "r.method = ?1 AND r.status = 'finished' ORDER BY r.id DESC LIMIT 1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, method, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, after);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
            snprintf(path, len, "%s", (const char *)sqlite3_column_text(st, 0));
            rc = 0;
        } else {
            biqa_fail(err, "%s: no finished pretraining run of %s with a checkpoint", db, method);
        }
        sqlite3_finalize(st);
    } else {
        biqa_store_fail(&store, err, "looking up a pretraining run");
    }
    biqa_store_close(&store);
    return rc;
}

/* "0.812 [0.790, 0.830]" from the values of one cell, or "-" without any. */
static void cell(const double *v, size_t n, char *out, size_t len)
{
    if (n == 0) {
        snprintf(out, len, "-");
        return;
    }
    biqa_aggregate a;
    biqa_aggregate_compute(v, n, 0, BIQA_BOOTSTRAP_RESAMPLES, BIQA_BOOTSTRAP_LEVEL, &a);
    snprintf(out, len, "%.3f [%.3f, %.3f]", a.median, a.ci_lo, a.ci_hi);
}

/* Values of metric for (kind, method) among the umbrella's runs. */
static size_t values(sqlite3 *db, int64_t after, const char *kind, const char *method,
                     const char *metric, double *v, size_t cap)
{
    sqlite3_stmt *st;
    size_t n = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT m.value FROM runs r JOIN metrics m ON m.run_id = r.id "
                           "JOIN run_members g ON g.run_id = r.id "
                           "WHERE g.group_run = ?1 AND r.kind = ?2 AND r.method = ?3 AND "
                           "r.status = 'finished' AND m.metric = ?4 AND m.step IS NULL "
                           "AND m.value IS NOT NULL ORDER BY r.id",
                           -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, method, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, metric, -1, SQLITE_STATIC);
    while (n < cap && sqlite3_step(st) == SQLITE_ROW)
        v[n++] = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return n;
}

static int print_table(const char *db, int64_t after, const cJSON *methods, const char *profile,
                       biqa_error *err)
{
    biqa_store store;
    if (biqa_store_open(&store, db, BIQA_STORE_READONLY, err) < 0)
        return -1;
    printf("\nbiqa reproduce --profile %s: synthetic benchmark, median over splits [bootstrap "
           "95%% CI of the median]\n", profile);
    biqa_table t;
    biqa_table_init(&t, 5, (const char *const[]){"method", "fine-tune SRCC", "fine-tune PLCC",
                                                 "probe SRCC", "probe PLCC"});
    static const char *const kinds[4] = {"finetune", "finetune", "probe", "probe"};
    static const char *const metrics[4] = {"srcc", "plcc", "srcc", "plcc"};
    for (const cJSON *m = methods->child; m; m = m->next) {
        char cells[4][64];
        double v[256];
        for (int i = 0; i < 4; i++)
            cell(v, values(store.db, after, kinds[i], m->valuestring, metrics[i], v, 256),
                 cells[i], sizeof cells[i]);
        biqa_table_add(&t, (const char *const[]){m->valuestring, cells[0], cells[1], cells[2],
                                                 cells[3]});
    }
    biqa_table_print(&t, stdout);
    biqa_table_free(&t);
    printf("(the runs of reproduce run %lld in %s: `biqa query \"SELECT * FROM run_members "
           "WHERE group_run = %lld\"`, reused = 1 for those finished earlier. The paper's "
           "published numbers are on real datasets: `biqa query \"SELECT * FROM published\"`.)\n",
           (long long)after, db, (long long)after);
    biqa_store_close(&store);
    return 0;
}

int biqa_cmd_reproduce(biqa_cli *cli)
{
    if (biqa_expect_args(cli, 0, 0, "") != 0)
        return BIQA_EXIT_USAGE;
    biqa_error err = {{0}};
    biqa_config cfg;
    if (biqa_config_from_cli(&cfg, cli, &err) < 0) {
        biqa_error_line("%s", err.msg);
        return BIQA_EXIT_FAIL;
    }
    const char *size = biqa_config_get(&cfg, "data.synthetic_size")->valuestring;
    const cJSON *methods = biqa_config_get(&cfg, "pretrain.methods");
    char data[1024], manifest[1100];
    snprintf(data, sizeof data, "%s/synthetic-%s", cli->root, size);
    snprintf(manifest, sizeof manifest, "%s/manifest.json", data);
    char *canon = biqa_config_canonical(&cfg, &err);
    biqa_store store;
    int64_t umbrella = 0;
    int rc = BIQA_EXIT_FAIL;
    biqa_run_spec spec = {.kind = "reproduce", .dataset = "synthetic", .config_json = canon,
                          .seed = (int64_t)biqa_config_get(&cfg, "run.seed")->valuedouble};
    if (!canon || biqa_store_open(&store, cli->db, BIQA_STORE_WRITE, &err) < 0) {
        biqa_error_line("%s", err.msg);
        goto out;
    }
    int began = biqa_run_begin(&store, &spec, &umbrella, &err);
    biqa_store_close(&store);
    if (began < 0) {
        biqa_error_line("%s", err.msg);
        goto out;
    }
    rc = BIQA_EXIT_OK;
    char group[32];
    snprintf(group, sizeof group, "%lld", (long long)umbrella);
    if (access(manifest, F_OK) != 0) {
        stage s = {.argc = 0};
        push(&s, "biqa");
        push(&s, "datasets");
        push(&s, "make");
        push(&s, "synthetic");
        push(&s, "--size");
        push(&s, size);
        push(&s, "--out");
        push(&s, data);
        global_options(&s, cli);
        rc = run_stage(&s, "make the synthetic benchmark");
    }
    for (const cJSON *m = methods->child; m && rc == BIQA_EXIT_OK; m = m->next) {
        char what[128], ckpt[1024];
        stage p = {.argc = 0};
        push(&p, "biqa");
        push(&p, "pretrain");
        push(&p, "--method");
        push(&p, m->valuestring);
        profile_options(&p, cli, group);
        snprintf(what, sizeof what, "pretrain %s", m->valuestring);
        rc = run_stage(&p, what);
        if (rc == BIQA_EXIT_OK &&
            pretrain_checkpoint(cli->db, m->valuestring, umbrella, ckpt, sizeof ckpt, &err) < 0) {
            biqa_error_line("%s", err.msg);
            rc = BIQA_EXIT_FAIL;
        }
        static const char *const downstream[2] = {"finetune", "probe"};
        for (int d = 0; d < 2 && rc == BIQA_EXIT_OK; d++) {
            stage f = {.argc = 0};
            push(&f, "biqa");
            push(&f, downstream[d]);
            push(&f, "--data");
            push(&f, data);
            push(&f, "--checkpoint");
            push(&f, ckpt);
            push(&f, "--method");
            push(&f, m->valuestring);
            profile_options(&f, cli, group);
            snprintf(what, sizeof what, "%s %s", downstream[d], m->valuestring);
            rc = run_stage(&f, what);
        }
    }
    if (rc == BIQA_EXIT_OK && print_table(cli->db, umbrella, methods, cfg.profile, &err) < 0) {
        biqa_error_line("%s", err.msg);
        rc = BIQA_EXIT_FAIL;
    }
    if (biqa_store_open(&store, cli->db, BIQA_STORE_WRITE, &err) == 0) {
        if (rc == BIQA_EXIT_OK)
            biqa_run_finish(&store, umbrella, &err);
        else
            biqa_run_fail(&store, umbrella, "a stage failed (see the runs after this one)", &err);
        biqa_store_close(&store);
    }
out:
    free(canon);
    biqa_config_free(&cfg);
    return rc;
}
