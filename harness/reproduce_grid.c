/* biqa reproduce --scheduler slurm: a profile's grid as Slurm jobs
 * (harness/slurm.h), each task one cell run by `biqa reproduce --task`.
 *
 * Cells are those of the local pipeline: per method pretrain:METHOD, then
 * finetune:METHOD and probe:METHOD. Jobs: "data" (only while the synthetic
 * benchmark is absent), one "pretrain-METHOD" job per method (afterok data)
 * and per method a "downstream-METHOD" array with one task per downstream
 * protocol (afterok its pretraining). A task per method x protocol rather
 * than per split: finetune and probe run all splits in one process (probe
 * extracts the features once for all of them) and the splits of a protocol
 * cost about the same, so per-split tasks would mostly add queueing and
 * data loading. An array per method rather than one over all methods: a
 * failed pretraining then holds back only its own method's cells.
 *
 * The grid's directory defaults to <db less .db>.grid/PROFILE-HASH12 (the
 * config hash), so submitting the same grid again finds it: jobs whose
 * cells all finished are skipped, the others go again and their tasks
 * resume what was interrupted. Nothing is written to --db: the user merges
 * the shards (biqa results merge --grid DIR) and runs the same reproduce
 * without --scheduler, which reuses every merged run and prints the table. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/digest.h"
#include "core/log.h"
#include "harness/output.h"
#include "harness/reproduce.h"
#include "harness/slurm.h"
#include "results/shard.h"
#include "results/store.h"

#define CMD_LEN 8192

typedef struct grid_build {
    biqa_cli *cli;
    const biqa_config *cfg;
    char exe[PATH_MAX];
    biqa_slurm_grid *g;
    biqa_grid_manifest m;
} grid_build;

/* The profile options of the reproduce command line, for the tasks and for
 * the commands printed at the end. */
static int append_profile(char *cmd, const biqa_cli *cli)
{
    const biqa_args *a = cli->args;
    int rc = biqa_shell_append(cmd, CMD_LEN, "--profile");
    rc |= biqa_shell_append(cmd, CMD_LEN, biqa_arg(a, "profile") ? biqa_arg(a, "profile") : "demo");
    if (biqa_arg(a, "config")) {
        rc |= biqa_shell_append(cmd, CMD_LEN, "--config");
        rc |= biqa_shell_append(cmd, CMD_LEN, biqa_arg(a, "config"));
    }
    const char *const *sets;
    int n = biqa_arg_all(a, "set", &sets);
    for (int i = 0; i < n; i++) {
        rc |= biqa_shell_append(cmd, CMD_LEN, "--set");
        rc |= biqa_shell_append(cmd, CMD_LEN, sets[i]);
    }
    return rc;
}

/* BIN --db DB --root ROOT [--seed N] [--backend B] reproduce: the global
 * options the local pipeline gives its stages. */
static int append_head(char *cmd, const char *exe, const biqa_cli *cli, const char *db)
{
    cmd[0] = '\0';
    int rc = biqa_shell_append(cmd, CMD_LEN, exe);
    if (db) {
        rc |= biqa_shell_append(cmd, CMD_LEN, "--db");
        rc |= biqa_shell_append(cmd, CMD_LEN, db);
    }
    rc |= biqa_shell_append(cmd, CMD_LEN, "--root");
    rc |= biqa_shell_append(cmd, CMD_LEN, cli->root);
    if (cli->has_seed) {
        char seed[32];
        snprintf(seed, sizeof seed, "%lld", (long long)cli->seed);
        rc |= biqa_shell_append(cmd, CMD_LEN, "--seed");
        rc |= biqa_shell_append(cmd, CMD_LEN, seed);
    }
    if (cli->backend) {
        rc |= biqa_shell_append(cmd, CMD_LEN, "--backend");
        rc |= biqa_shell_append(cmd, CMD_LEN, cli->backend);
    }
    return rc | biqa_shell_append(cmd, CMD_LEN, "reproduce");
}

/* Adds the task running cell TASK (KIND:METHOD or data) into shard (NULL for data). */
static int add_task(grid_build *b, int job, const char *task, const char *shard,
                    const char *from, const char *what, biqa_error *err)
{
    char cmd[CMD_LEN];
    int rc = append_head(cmd, b->exe, b->cli, shard);
    rc |= biqa_shell_append(cmd, sizeof cmd, "--task");
    rc |= biqa_shell_append(cmd, sizeof cmd, task);
    if (from) {
        rc |= biqa_shell_append(cmd, sizeof cmd, "--from-shard");
        rc |= biqa_shell_append(cmd, sizeof cmd, from);
    }
    rc |= append_profile(cmd, b->cli);
    if (rc)
        return biqa_fail(err, "task %s: its command line is too long", task);
    return biqa_slurm_add_task(b->g, job, cmd, what, err);
}

static void add_cell(grid_build *b, const char *kind, const char *method, const char *shard,
                     int runs, const char *job, int index)
{
    biqa_grid_cell *c = &b->m.cells[b->m.ncells++];
    snprintf(c->task, sizeof c->task, "%s:%s", kind, method);
    snprintf(c->kind, sizeof c->kind, "%s", kind);
    snprintf(c->method, sizeof c->method, "%s", method);
    snprintf(c->shard, sizeof c->shard, "%s", shard);
    snprintf(c->job, sizeof c->job, "%s", job);
    c->runs = runs, c->index = index;
}

/* The jobs and cells of the profile's grid. */
static int build(grid_build *b, biqa_error *err)
{
    const biqa_config *cfg = b->cfg;
    biqa_slurm_grid *g = b->g;
    const char *size = biqa_config_get(cfg, "data.synthetic_size")->valuestring;
    const cJSON *methods = biqa_config_get(cfg, "pretrain.methods");
    const int splits = (int)biqa_config_get(cfg, "splits.count")->valuedouble;
    char data[4200], manifest[4300], what[96];
    snprintf(data, sizeof data, "%s/synthetic-%s", b->cli->root, size);
    snprintf(manifest, sizeof manifest, "%s/manifest.json", data);
    b->m.cells = calloc((size_t)cJSON_GetArraySize(methods) * (1 + BIQA_DOWNSTREAM_KINDS) + 1,
                        sizeof *b->m.cells);
    if (!b->m.cells)
        return biqa_fail(err, "out of memory");
    int data_job = -1;
    if (access(manifest, F_OK) != 0) {
        if ((data_job = biqa_slurm_add_job(g, "data", BIQA_STAGE_DATA, -1, err)) < 0)
            return -1;
        snprintf(what, sizeof what, "make the synthetic benchmark (size %s)", size);
        if (add_task(b, data_job, "data", NULL, NULL, what, err) < 0)
            return -1;
    }
    for (const cJSON *m = methods->child; m; m = m->next) {
        const char *method = m->valuestring;
        char name[64], pre_shard[4200], shard[4200], task[96];
        snprintf(name, sizeof name, "pretrain-%s", method);
        snprintf(pre_shard, sizeof pre_shard, "%s/shards/pretrain-%s.db", g->dir, method);
        int pj = biqa_slurm_add_job(g, name, BIQA_STAGE_PRETRAIN, data_job, err);
        snprintf(task, sizeof task, "pretrain:%s", method);
        snprintf(what, sizeof what, "pretrain %s", method);
        if (pj < 0 || add_task(b, pj, task, pre_shard, NULL, what, err) < 0)
            return -1;
        add_cell(b, "pretrain", method, pre_shard, 1, name, -1);
        snprintf(name, sizeof name, "downstream-%s", method);
        int dj = biqa_slurm_add_job(g, name, BIQA_STAGE_DOWNSTREAM, pj, err);
        if (dj < 0)
            return -1;
        for (int d = 0; d < BIQA_DOWNSTREAM_KINDS; d++) {
            const char *kind = biqa_downstream_kinds[d];
            snprintf(shard, sizeof shard, "%s/shards/%s-%s.db", g->dir, kind, method);
            snprintf(task, sizeof task, "%s:%s", kind, method);
            snprintf(what, sizeof what, "%s %s over %d splits", kind, method, splits);
            if (add_task(b, dj, task, shard, pre_shard, what, err) < 0)
                return -1;
            add_cell(b, kind, method, shard, splits, name, d);
        }
    }
    return 0;
}

/* Marks the jobs whose cells have all finished (from their shards) skipped. */
static int mark_finished(grid_build *b, biqa_error *err)
{
    for (int j = 0; j < b->g->njobs; j++) {
        biqa_slurm_job *job = &b->g->jobs[j];
        int cells = 0, done = 0;
        for (int i = 0; i < b->m.ncells; i++) {
            const biqa_grid_cell *c = &b->m.cells[i];
            if (strcmp(c->job, job->name) != 0)
                continue;
            biqa_cell_state st;
            if (biqa_shard_cell(c->shard, c->kind, c->method, c->runs, NULL, &st, err) < 0)
                return -1;
            cells++;
            done += st.status == BIQA_CELL_FINISHED;
        }
        job->skip = cells > 0 && done == cells;
    }
    return 0;
}

/* The job ids of the cells: new ones, or for skipped jobs those of the last
 * submission (old, may be NULL). */
static void cell_ids(grid_build *b, const biqa_grid_manifest *old)
{
    for (int i = 0; i < b->m.ncells; i++) {
        biqa_grid_cell *c = &b->m.cells[i];
        for (int j = 0; j < b->g->njobs; j++) {
            const biqa_slurm_job *job = &b->g->jobs[j];
            if (strcmp(job->name, c->job) != 0)
                continue;
            if (!job->skip && c->index >= 0)
                snprintf(c->job_id, sizeof c->job_id, "%s_%d", job->id, c->index);
            else if (!job->skip)
                snprintf(c->job_id, sizeof c->job_id, "%s", job->id);
            for (int k = 0; job->skip && old && k < old->ncells; k++)
                if (!strcmp(old->cells[k].task, c->task))
                    snprintf(c->job_id, sizeof c->job_id, "%s", old->cells[k].job_id);
        }
    }
}

static void print_submitted(const grid_build *b)
{
    const biqa_slurm_grid *g = b->g;
    if (b->cli->json) {
        cJSON *o = cJSON_CreateObject(), *jobs = cJSON_AddArrayToObject(o, "jobs");
        cJSON_AddStringToObject(o, "grid", g->dir);
        for (int j = 0; j < g->njobs; j++) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "name", g->jobs[j].name);
            cJSON_AddStringToObject(x, "id", g->jobs[j].id);
            cJSON_AddNumberToObject(x, "tasks", g->jobs[j].ntasks);
            cJSON_AddBoolToObject(x, "skipped", g->jobs[j].skip);
            cJSON_AddItemToArray(jobs, x);
        }
        biqa_print_json(o, stdout);
        return;
    }
    biqa_table t;
    biqa_table_init(&t, 4, (const char *const[]){"job", "id", "tasks", "after"});
    for (int j = 0; j < g->njobs; j++) {
        const biqa_slurm_job *job = &g->jobs[j];
        char tasks[16], after[80];
        snprintf(tasks, sizeof tasks, "%d", job->ntasks);
        snprintf(after, sizeof after, "%s",
                 job->after >= 0 && !g->jobs[job->after].skip ? g->jobs[job->after].id : "-");
        biqa_table_add(&t, (const char *const[]){job->name,
                                                 job->skip ? "skipped: finished" : job->id,
                                                 tasks, after});
    }
    printf("grid %s: scripts, logs/ and shards/ there\n", g->dir);
    biqa_table_print(&t, stdout);
    biqa_table_free(&t);
    char again[CMD_LEN] = "";
    biqa_shell_append(again, sizeof again, "biqa");
    biqa_shell_append(again, sizeof again, "--db");
    biqa_shell_append(again, sizeof again, b->cli->db);
    biqa_shell_append(again, sizeof again, "--root");
    biqa_shell_append(again, sizeof again, b->cli->root);
    biqa_shell_append(again, sizeof again, "reproduce");
    append_profile(again, b->cli);
    printf("Follow it with `biqa results status %s`. When every cell has finished:\n"
           "  biqa --db %s results merge --grid %s\n"
           "  %s\n"
           "(the second reuses every merged run and prints the table). Submitting the same "
           "grid again skips finished jobs and resumes interrupted tasks.\n",
           g->dir, b->cli->db, g->dir, again);
}

static int prepare(grid_build *b, const char *hash, biqa_grid_manifest *old, int *has_old,
                   biqa_error *err)
{
    biqa_slurm_grid *g = b->g;
    const biqa_args *a = b->cli->args;
    const char *db = b->cli->db;
    size_t n = strlen(db);
    if (n > 3 && !strcmp(db + n - 3, ".db"))
        n -= 3;
    if (biqa_arg(a, "grid"))
        snprintf(g->dir, sizeof g->dir, "%s", biqa_arg(a, "grid"));
    else
        snprintf(g->dir, sizeof g->dir, "%.*s.grid/%s-%.12s", (int)n, db, b->cfg->profile, hash);
    ssize_t len = readlink("/proc/self/exe", b->exe, sizeof b->exe - 1);
    if (len <= 0 || !getcwd(g->cwd, sizeof g->cwd))
        return biqa_fail(err, "cannot tell this binary's path or the working directory");
    b->exe[len] = '\0';
    snprintf(g->prefix, sizeof g->prefix, "biqa-%s-%.8s", b->cfg->profile, hash);
    snprintf(g->title, sizeof g->title, "biqa reproduce --profile %s --scheduler slurm: grid %s "
             "(config %.12s)", b->cfg->profile, g->dir, hash);
    const int gpu = !strcmp(biqa_config_get(b->cfg, "compute.backend")->valuestring, "cuda");
    const int threads = (int)biqa_config_get(b->cfg, "compute.threads")->valuedouble;
    const char *const *opts;
    int nopts = biqa_arg_all(a, "sbatch", &opts);
    for (int s = 0; s < BIQA_STAGES; s++) {
        biqa_sbatch_defaults(&g->sbatch[s], b->cfg->profile, s, gpu, threads);
        for (int i = 0; i < nopts; i++)
            if (biqa_sbatch_apply(&g->sbatch[s], s, opts[i], err) < 0)
                return -1;
    }
    char manifest[4200];
    snprintf(manifest, sizeof manifest, "%s/grid.json", g->dir);
    *has_old = access(manifest, F_OK) == 0;
    if (*has_old && biqa_grid_load(old, g->dir, err) < 0)
        return -1;
    if (*has_old && strcmp(old->config_hash, hash) != 0)
        return biqa_fail(err, "%s: made for config %.12s, this is config %.12s: give this grid "
                              "another --grid directory", manifest, old->config_hash, hash);
    snprintf(b->m.dir, sizeof b->m.dir, "%s", g->dir);
    snprintf(b->m.profile, sizeof b->m.profile, "%s", b->cfg->profile);
    snprintf(b->m.config_hash, sizeof b->m.config_hash, "%s", hash);
    biqa_now_iso(b->m.submitted);
    return build(b, err) < 0 ? -1 : mark_finished(b, err);
}

int biqa_reproduce_slurm(biqa_cli *cli, const biqa_config *cfg, const char *canon)
{
    char hash[BIQA_SHA256_HEX_LEN];
    biqa_sha256_hex(canon, strlen(canon), hash);
    biqa_error err = {{0}};
    grid_build b = {.cli = cli, .cfg = cfg, .g = calloc(1, sizeof *b.g)};
    biqa_grid_manifest old = {0};
    int has_old = 0, rc = b.g ? 0 : biqa_fail(&err, "out of memory");
    if (rc == 0)
        rc = prepare(&b, hash, &old, &has_old, &err);
    if (rc == 0 && biqa_flag(cli->args, "dry-run")) {
        biqa_slurm_print(b.g, stdout);
    } else if (rc == 0) {
        rc = biqa_slurm_check_queue(b.g, &err);
        if (rc == 0)
            rc = biqa_slurm_submit(b.g, &err);
        /* Also after a failed sbatch: the jobs submitted before it run, and
         * their cells must be findable (biqa results status). */
        cell_ids(&b, has_old ? &old : NULL);
        if (biqa_grid_save(&b.m, rc == 0 ? &err : NULL) < 0)
            rc = -1;
        if (rc == 0)
            print_submitted(&b);
    }
    if (rc < 0)
        biqa_error_line("%s", err.msg);
    if (b.g)
        biqa_slurm_grid_free(b.g);
    free(b.g);
    biqa_grid_manifest_free(&b.m);
    biqa_grid_manifest_free(&old);
    return rc == 0 ? BIQA_EXIT_OK : BIQA_EXIT_FAIL;
}
