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
 * the median (results/aggregate.h).
 *
 * --task KIND:METHOD runs one cell of that grid into --db, a shard of its
 * own, without an umbrella: what each Slurm task of --scheduler slurm runs
 * (harness/reproduce_grid.c). A downstream task starts its shard as an
 * exact copy of the pretraining task's shard (--from-shard): the parent run
 * its checkpoint names is then in its own database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "harness/commands.h"
#include "harness/config.h"
#include "harness/output.h"
#include "harness/reproduce.h"
#include "results/aggregate.h"
#include "results/runs.h"
#include "results/shard.h"

#define MAX_STAGE_ARGS 32

const char *const biqa_downstream_kinds[BIQA_DOWNSTREAM_KINDS] = {"finetune", "probe"};

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

/* group NULL: no umbrella (a --task). */
static void profile_options(stage *s, const biqa_cli *cli, const char *group)
{
    const biqa_args *a = cli->args;
    global_options(s, cli);
    push(s, "--resume");
    if (group) {
        push(s, "--group");
        push(s, group);
    }
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

/* The synthetic benchmark at data, made when absent. */
static int make_data(const biqa_cli *cli, const char *size, const char *data)
{
    char manifest[1100];
    snprintf(manifest, sizeof manifest, "%s/manifest.json", data);
    if (access(manifest, F_OK) == 0)
        return BIQA_EXIT_OK;
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
    return run_stage(&s, "make the synthetic benchmark");
}

static int pretrain(const biqa_cli *cli, const char *method, const char *group)
{
    char what[128];
    stage p = {.argc = 0};
    push(&p, "biqa");
    push(&p, "pretrain");
    push(&p, "--method");
    push(&p, method);
    profile_options(&p, cli, group);
    snprintf(what, sizeof what, "pretrain %s", method);
    return run_stage(&p, what);
}

static int downstream(const biqa_cli *cli, const char *kind, const char *method,
                      const char *data, const char *ckpt, const char *group)
{
    char what[128];
    stage f = {.argc = 0};
    push(&f, "biqa");
    push(&f, kind);
    push(&f, "--data");
    push(&f, data);
    push(&f, "--checkpoint");
    push(&f, ckpt);
    push(&f, "--method");
    push(&f, method);
    profile_options(&f, cli, group);
    snprintf(what, sizeof what, "%s %s", kind, method);
    return run_stage(&f, what);
}

/* The checkpoint of the newest finished pretraining run of method: among
 * the umbrella's members, or (group 0) in the whole database. */
static int pretrain_checkpoint(const char *db, const char *method, int64_t group, char *path,
                               size_t len, biqa_error *err)
{
    biqa_store store;
    if (biqa_store_open(&store, db, BIQA_STORE_READONLY, err) < 0)
        return -1;
    sqlite3_stmt *st;
    int rc = -1;
    if (sqlite3_prepare_v2(store.db,
                           "SELECT r.checkpoint_path FROM runs r WHERE r.kind = 'pretrain' AND "
                           "r.method = ?1 AND r.status = 'finished' AND r.checkpoint_path IS "
                           "NOT NULL AND (?2 = 0 OR r.id IN (SELECT run_id FROM run_members "
                           "WHERE group_run = ?2)) ORDER BY r.id DESC LIMIT 1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, method, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, group);
        if (sqlite3_step(st) == SQLITE_ROW) {
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

/* The pipeline in this process, under an umbrella run in --db. */
static int run_local(biqa_cli *cli, const biqa_config *cfg, const char *canon, const char *size,
                     const char *data)
{
    const cJSON *methods = biqa_config_get(cfg, "pretrain.methods");
    biqa_error err = {{0}};
    biqa_store store;
    int64_t umbrella = 0;
    biqa_run_spec spec = {.kind = "reproduce", .dataset = "synthetic", .config_json = canon,
                          .seed = (int64_t)biqa_config_get(cfg, "run.seed")->valuedouble};
    if (biqa_store_open(&store, cli->db, BIQA_STORE_WRITE, &err) < 0) {
        biqa_error_line("%s", err.msg);
        return BIQA_EXIT_FAIL;
    }
    int began = biqa_run_begin(&store, &spec, &umbrella, &err);
    biqa_store_close(&store);
    if (began < 0) {
        biqa_error_line("%s", err.msg);
        return BIQA_EXIT_FAIL;
    }
    char group[32];
    snprintf(group, sizeof group, "%lld", (long long)umbrella);
    int rc = make_data(cli, size, data);
    for (const cJSON *m = methods->child; m && rc == BIQA_EXIT_OK; m = m->next) {
        char ckpt[1024];
        rc = pretrain(cli, m->valuestring, group);
        if (rc == BIQA_EXIT_OK &&
            pretrain_checkpoint(cli->db, m->valuestring, umbrella, ckpt, sizeof ckpt, &err) < 0) {
            biqa_error_line("%s", err.msg);
            rc = BIQA_EXIT_FAIL;
        }
        for (int d = 0; d < BIQA_DOWNSTREAM_KINDS && rc == BIQA_EXIT_OK; d++)
            rc = downstream(cli, biqa_downstream_kinds[d], m->valuestring, data, ckpt, group);
    }
    if (rc == BIQA_EXIT_OK && print_table(cli->db, umbrella, methods, cfg->profile, &err) < 0) {
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
    return rc;
}

/* One cell of the grid into --db: "data", "pretrain:M", "finetune:M" or "probe:M". */
static int run_task(biqa_cli *cli, const char *task, const char *size, const char *data)
{
    const char *from = biqa_arg(cli->args, "from-shard");
    if (!strcmp(task, "data"))
        return from ? biqa_usage_error(cli->args, "--from-shard: only for finetune and probe "
                                                  "tasks")
                    : make_data(cli, size, data);
    const char *colon = strchr(task, ':');
    int kind = -1; /* -1 pretrain, else the downstream kind's index */
    size_t klen = colon ? (size_t)(colon - task) : 0;
    for (int d = 0; d < BIQA_DOWNSTREAM_KINDS; d++)
        if (klen == strlen(biqa_downstream_kinds[d]) &&
            !strncmp(task, biqa_downstream_kinds[d], klen))
            kind = d;
    if (!colon || !colon[1] || (kind < 0 && strncmp(task, "pretrain:", 9) != 0))
        return biqa_usage_error(cli->args, "--task %s: not data, pretrain:METHOD, "
                                           "finetune:METHOD or probe:METHOD", task);
    if (from && kind < 0)
        return biqa_usage_error(cli->args, "--from-shard: only for finetune and probe tasks");
    const char *method = colon + 1;
    biqa_error err = {{0}};
    biqa_store store;
    /* A shard that does not exist yet starts as a copy of the pretraining
     * shard; a requeued attempt finds its own and goes on with it. */
    if (from && access(cli->db, F_OK) != 0 && biqa_shard_copy(from, cli->db, &err) < 0) {
        biqa_error_line("%s", err.msg);
        return BIQA_EXIT_FAIL;
    }
    if (biqa_store_open(&store, cli->db, BIQA_STORE_WRITE, &err) < 0) {
        biqa_error_line("%s", err.msg);
        return BIQA_EXIT_FAIL;
    }
    int taken = biqa_shard_take_over(&store, &err);
    biqa_store_close(&store);
    if (taken < 0) {
        biqa_error_line("%s", err.msg);
        return BIQA_EXIT_FAIL;
    }
    if (taken > 0)
        biqa_info("reproduce: %d run(s) of an earlier attempt on another host marked "
                  "interrupted, to be resumed", taken);
    if (kind < 0)
        return pretrain(cli, method, NULL);
    char ckpt[1024];
    if (pretrain_checkpoint(cli->db, method, 0, ckpt, sizeof ckpt, &err) < 0) {
        biqa_error_line("%s%s%s%s", err.msg, from ? " (the shard began as a copy of " : "",
                        from ? from : "", from ? ")" : "");
        return BIQA_EXIT_FAIL;
    }
    return downstream(cli, biqa_downstream_kinds[kind], method, data, ckpt, NULL);
}

int biqa_cmd_reproduce(biqa_cli *cli)
{
    const biqa_args *a = cli->args;
    if (biqa_expect_args(cli, 0, 0, "") != 0)
        return BIQA_EXIT_USAGE;
    const char *scheduler = biqa_arg(a, "scheduler"), *task = biqa_arg(a, "task");
    int slurm = scheduler && !strcmp(scheduler, "slurm");
    if (scheduler && !slurm && strcmp(scheduler, "local") != 0)
        return biqa_usage_error(a, "--scheduler must be local or slurm, not '%s'", scheduler);
    static const char *const slurm_only[] = {"dry-run", "grid", "sbatch"};
    for (int i = 0; i < 3; i++)
        if (biqa_arg(a, slurm_only[i]) && !slurm)
            return biqa_usage_error(a, "--%s: only with --scheduler slurm", slurm_only[i]);
    if (task && scheduler)
        return biqa_usage_error(a, "--task runs one cell here: no --scheduler with it");
    if (biqa_arg(a, "from-shard") && !task)
        return biqa_usage_error(a, "--from-shard: only with --task");
    biqa_error err = {{0}};
    biqa_config cfg;
    if (biqa_config_from_cli(&cfg, cli, &err) < 0) {
        biqa_error_line("%s", err.msg);
        return BIQA_EXIT_FAIL;
    }
    const char *size = biqa_config_get(&cfg, "data.synthetic_size")->valuestring;
    char data[1024];
    snprintf(data, sizeof data, "%s/synthetic-%s", cli->root, size);
    char *canon = biqa_config_canonical(&cfg, &err);
    int rc;
    if (!canon) {
        biqa_error_line("%s", err.msg);
        rc = BIQA_EXIT_FAIL;
    } else if (task) {
        rc = run_task(cli, task, size, data);
    } else if (slurm) {
        rc = biqa_reproduce_slurm(cli, &cfg, canon);
    } else {
        rc = run_local(cli, &cfg, canon, size, data);
    }
    free(canon);
    biqa_config_free(&cfg);
    return rc;
}
