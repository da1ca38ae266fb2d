/* biqa results merge | status: bringing a grid's shards (harness/slurm.h)
 * into the store, and which of its cells are missing or failed.
 *
 * merge copies each shard's runs in (results/merge.h: by uid, idempotent,
 * conflicts refused) and gives every merged run an artifact folder in the
 * store's layout, <db less .db>.artifacts/run-ID, as a symbolic link to the
 * shard's folder of that run: paths recorded in the runs (checkpoints, and
 * the configs that name them) keep pointing into the grid, which stays
 * where it is, and nothing is copied. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "core/log.h"
#include "harness/commands.h"
#include "harness/output.h"
#include "harness/reuse.h"
#include "harness/slurm.h"
#include "results/merge.h"
#include "results/shard.h"

/* Links store run did's artifact folder to shard run sid's, when the shard
 * has one and the store's is absent. Returns 1 when it made a link. */
static int link_artifacts(const char *db, const char *shard, int64_t sid, int64_t did,
                          biqa_error *err)
{
    char src[4400], dst[4400], real[PATH_MAX];
    struct stat st;
    biqa_artifact_path(shard, sid, NULL, src, sizeof src);
    biqa_artifact_path(db, did, NULL, dst, sizeof dst);
    if (stat(src, &st) != 0 || !S_ISDIR(st.st_mode) || lstat(dst, &st) == 0)
        return 0;
    if (!realpath(src, real))
        return biqa_fail(err, "%s: %s", src, strerror(errno));
    char parent[4400];
    snprintf(parent, sizeof parent, "%s", dst);
    *strrchr(parent, '/') = '\0';
    if (biqa_mkdir_p(parent, err) < 0)
        return -1;
    if (symlink(real, dst) != 0)
        return biqa_fail(err, "%s: cannot link it to %s: %s", dst, real, strerror(errno));
    return 1;
}

typedef struct totals {
    int shards, added, same, updated, kept, links;
    long metrics, failures, members;
} totals;

static int merge_one(biqa_store *store, const char *db, const char *shard, int json, totals *t,
                     biqa_error *err)
{
    biqa_merge_result r;
    if (biqa_merge_shard(store, shard, &r, err) < 0)
        return -1;
    int links = 0, rc = 0;
    for (size_t i = 0; rc == 0 && i < r.nmap; i++) {
        int made = link_artifacts(db, shard, r.map[i][0], r.map[i][1], err);
        rc = made < 0 ? -1 : 0;
        links += made > 0;
    }
    if (rc == 0 && !json)
        printf("%s: runs: %d added, %d already there, %d updated, %d kept (the store's is "
               "newer); rows: %ld metrics, %ld failures, %ld group members; %d artifact "
               "folders linked\n",
               shard, r.added, r.same, r.updated, r.kept, r.metrics, r.failures, r.members,
               links);
    t->shards++, t->added += r.added, t->same += r.same, t->updated += r.updated;
    t->kept += r.kept, t->links += links;
    t->metrics += r.metrics, t->failures += r.failures, t->members += r.members;
    biqa_merge_result_free(&r);
    return rc;
}

/* The grid's cells and their states; returns how many have not finished,
 * or -1. store may be NULL (nothing merged yet). */
static int print_status(const biqa_grid_manifest *m, biqa_store *store, int json,
                        biqa_error *err)
{
    biqa_table t;
    biqa_table_init(&t, 6, (const char *const[]){"cell", "state", "runs", "merged", "job",
                                                 "detail"});
    cJSON *cells = json ? cJSON_CreateArray() : NULL;
    int pending = 0, rc = 0, count[BIQA_CELL_FINISHED + 1] = {0};
    for (int i = 0; rc == 0 && i < m->ncells; i++) {
        const biqa_grid_cell *c = &m->cells[i];
        biqa_cell_state s;
        if ((rc = biqa_shard_cell(c->shard, c->kind, c->method, c->runs, store, &s, err)) < 0)
            break;
        pending += s.status != BIQA_CELL_FINISHED;
        count[s.status]++;
        char runs[32], merged[32], detail[4800];
        snprintf(runs, sizeof runs, "%d/%d", s.finished, c->runs);
        snprintf(merged, sizeof merged, store ? "%d/%d" : "-", s.merged, s.finished);
        if (s.status == BIQA_CELL_MISSING)
            snprintf(detail, sizeof detail, "no shard yet (%s)", c->shard);
        else if (s.run)
            snprintf(detail, sizeof detail, "run %lld: %.500s", (long long)s.run, s.detail);
        else
            snprintf(detail, sizeof detail, "%s", c->shard);
        const char *state = biqa_cell_status_name(s.status);
        biqa_table_add(&t, (const char *const[]){c->task, state, runs, merged,
                                                 c->job_id[0] ? c->job_id : "-", detail});
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "cell", c->task);
            cJSON_AddStringToObject(o, "state", state);
            cJSON_AddNumberToObject(o, "finished", s.finished);
            cJSON_AddNumberToObject(o, "expected", c->runs);
            if (store)
                cJSON_AddNumberToObject(o, "merged", s.merged);
            cJSON_AddStringToObject(o, "job_id", c->job_id);
            cJSON_AddStringToObject(o, "shard", c->shard);
            cJSON_AddStringToObject(o, "detail", s.detail);
            cJSON_AddItemToArray(cells, o);
        }
    }
    if (rc == 0 && json) {
        biqa_print_json(cells, stdout);
        cells = NULL;
    } else if (rc == 0) {
        printf("grid %s (profile %s, config %.12s, submitted %s): %d cells\n", m->dir,
               m->profile, m->config_hash, m->submitted, m->ncells);
        biqa_table_print(&t, stdout);
        printf("%d finished, %d failed, %d interrupted, %d running, %d incomplete, %d missing.",
               count[BIQA_CELL_FINISHED], count[BIQA_CELL_FAILED],
               count[BIQA_CELL_INTERRUPTED], count[BIQA_CELL_RUNNING],
               count[BIQA_CELL_INCOMPLETE], count[BIQA_CELL_MISSING]);
        printf(pending ? " Submit the grid again (the same biqa reproduce ... --scheduler slurm) "
                      "to run what is missing: finished jobs are skipped, interrupted runs "
                      "resume.\n"
                    : "\n");
    }
    cJSON_Delete(cells);
    biqa_table_free(&t);
    return rc < 0 ? -1 : pending;
}

int biqa_cmd_results_merge(biqa_cli *cli)
{
    const char *grid = biqa_arg(cli->args, "grid");
    if (!grid && cli->args->npositional == 0)
        return biqa_usage_error(cli->args, "missing SHARD... or --grid DIR");
    biqa_error err = {{0}};
    biqa_grid_manifest m = {0};
    if (grid && biqa_grid_load(&m, grid, &err) < 0) {
        biqa_error_line("%s", err.msg);
        return BIQA_EXIT_FAIL;
    }
    biqa_store store;
    if (biqa_store_open(&store, cli->db, BIQA_STORE_WRITE, &err) < 0) {
        biqa_error_line("%s", err.msg);
        biqa_grid_manifest_free(&m);
        return BIQA_EXIT_FAIL;
    }
    totals t = {0};
    int rc = 0;
    for (int i = 0; rc == 0 && i < cli->args->npositional; i++)
        rc = merge_one(&store, cli->db, cli->args->positional[i], cli->json, &t, &err);
    /* A cell whose task has not run has no shard: status says so below. */
    for (int i = 0; rc == 0 && i < m.ncells; i++)
        if (access(m.cells[i].shard, F_OK) == 0)
            rc = merge_one(&store, cli->db, m.cells[i].shard, cli->json, &t, &err);
    if (rc == 0 && cli->json) {
        printf("{\"shards\": %d, \"added\": %d, \"same\": %d, \"updated\": %d, \"kept\": %d, "
               "\"metrics\": %ld, \"failures\": %ld, \"members\": %ld, \"links\": %d}\n",
               t.shards, t.added, t.same, t.updated, t.kept, t.metrics, t.failures, t.members,
               t.links);
    } else if (rc == 0) {
        printf("merged %d shards into %s: runs: %d added, %d already there, %d updated, %d "
               "kept\n", t.shards, cli->db, t.added, t.same, t.updated, t.kept);
        if (grid && print_status(&m, &store, 0, &err) < 0)
            rc = -1;
    }
    if (rc < 0)
        biqa_error_line("%s", err.msg);
    biqa_store_close(&store);
    biqa_grid_manifest_free(&m);
    return rc < 0 ? BIQA_EXIT_FAIL : BIQA_EXIT_OK;
}

int biqa_cmd_results_status(biqa_cli *cli)
{
    if (biqa_expect_args(cli, 1, 1, "GRID_DIR") != 0)
        return BIQA_EXIT_USAGE;
    biqa_error err = {{0}};
    biqa_grid_manifest m;
    if (biqa_grid_load(&m, cli->args->positional[0], &err) < 0) {
        biqa_error_line("%s", err.msg);
        return BIQA_EXIT_FAIL;
    }
    /* Opening creates a missing database: without one nothing is merged. */
    biqa_store store;
    int has_store = access(cli->db, F_OK) == 0;
    int pending = has_store ? biqa_store_open(&store, cli->db, BIQA_STORE_READONLY, &err) : 0;
    if (pending == 0)
        pending = print_status(&m, has_store ? &store : NULL, cli->json, &err);
    if (pending < 0)
        biqa_error_line("%s", err.msg);
    if (has_store && store.db)
        biqa_store_close(&store);
    biqa_grid_manifest_free(&m);
    return pending == 0 ? BIQA_EXIT_OK : BIQA_EXIT_FAIL;
}
