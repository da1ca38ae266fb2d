/* biqa results merge on shards that real biqa runs made: the test profile's
 * grid (scratch and qpt) submitted with --scheduler slurm to a stand-in for
 * sbatch that runs the scripts at once (tests/tools/fake-slurm), first with
 * a fault that kills every training after its first snapshot, then again.
 * The merged store must equal the same grid run in one database by
 * content (tests/tools/store_compare.py: runs, configs, weights, metrics,
 * parents), merging again must add nothing, and a shard whose finished run
 * was changed must be refused, naming the run. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/cli/run.h"

#define GRID "--profile test --set pretrain.methods=scratch,qpt"

static const char *env(const char *name)
{
    const char *v = getenv(name);
    cr_assert_not_null(v, "%s must be set (make test sets it)", name);
    return v;
}

/* The table a reproduce printed: its title line up to the line naming the
 * umbrella run (whose id differs between stores). */
static char *table_of(const char *out)
{
    const char *from = strstr(out, "biqa reproduce --profile"), *to = strstr(out, "(the runs of");
    cr_assert(from && to && to > from, "no table in:\n%s", out);
    return strndup(from, (size_t)(to - from));
}

/* The state of cell in `biqa results status --json` output. */
static void cell_state(const char *json, const char *cell, char *state, size_t len)
{
    cJSON *cells = cJSON_Parse(json), *c;
    cr_assert_not_null(cells, "not JSON:\n%s", json);
    snprintf(state, len, "(no cell %s)", cell);
    cJSON_ArrayForEach(c, cells)
        if (!strcmp(cJSON_GetObjectItem(c, "cell")->valuestring, cell))
            snprintf(state, len, "%s", cJSON_GetObjectItem(c, "state")->valuestring);
    cJSON_Delete(cells);
}

static double json_number(const char *json, const char *key)
{
    cJSON *o = cJSON_Parse(json);
    cr_assert(o && cJSON_IsNumber(cJSON_GetObjectItem(o, key)), "no %s in:\n%s", key, json);
    double v = cJSON_GetObjectItem(o, key)->valuedouble;
    cJSON_Delete(o);
    return v;
}

static void expect_cells(const char *dir, const char *const *cells, const char *const *states,
                         int n, int want_status)
{
    cli_result r;
    cli_run(&r, "cd %s && $BIQA --db s.db results status g --json", dir);
    cr_assert_eq(r.status, want_status, "%s\n%s", r.out, r.err);
    for (int i = 0; i < n; i++) {
        char state[64];
        cell_state(r.out, cells[i], state, sizeof state);
        cr_assert_str_eq(state, states[i], "%s:\n%s", cells[i], r.out);
    }
    cli_result_free(&r);
}

static long long count_rows(const char *dir)
{
    char db[128];
    snprintf(db, sizeof db, "%s/s.db", dir);
    return cli_query_int(db, "SELECT (SELECT count(*) FROM runs) * 1000000000 + "
                             "(SELECT count(*) FROM metrics) * 100000 + "
                             "(SELECT count(*) FROM run_failures) * 1000 + "
                             "(SELECT count(*) FROM run_members)");
}

Test(merge, grid_shards_merge_into_the_store_of_one_database, .timeout = 900)
{
    const char *src = env("BIQA_SRC"), *python = env("BIQA_PYTHON");
    char dir[64], fake[512];
    cli_tmpdir(dir);
    snprintf(fake, sizeof fake, "cd %s && mkdir -p fs && FAKE_SLURM_DIR=%s/fs "
             "PATH=%s/tests/tools/fake-slurm:$PATH", dir, dir, src);
    cli_result r;
    /* First submission: every snapshotting training dies after its first
     * snapshot (probe and scratch pretraining take none). */
    cli_run(&r, "%s BIQA_FAULT_KILL_AFTER_SNAPSHOT=1 $BIQA --db s.db --root data reproduce "
            GRID " --scheduler slurm --grid g", fake);
    cr_assert_eq(r.status, 0, "%s\n%s", r.out, r.err);
    cli_result_free(&r);
    static const char *const cells[6] = {"pretrain:scratch", "finetune:scratch",
                                         "probe:scratch", "pretrain:qpt", "finetune:qpt",
                                         "probe:qpt"};
    static const char *const first[6] = {"finished", "interrupted", "finished", "interrupted",
                                         "missing", "missing"};
    expect_cells(dir, cells, first, 6, 1);
    cli_run(&r, "cd %s && $BIQA --db s.db results merge --grid g", dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "2 interrupted") && strstr(r.out, "2 missing"), "%s", r.out);
    cli_result_free(&r);

    /* Again, without the fault: finished jobs skipped, the rest resumes. */
    cli_run(&r, "%s $BIQA --db s.db --root data reproduce " GRID " --scheduler slurm --grid g",
            fake);
    cr_assert_eq(r.status, 0, "%s\n%s", r.out, r.err);
    const char *line = strstr(r.out, "\npretrain-scratch ");
    cr_assert(line && strstr(line, "skipped: finished") < strchr(line + 1, '\n'), "%s", r.out);
    cli_result_free(&r);
    cli_run(&r, "cd %s && cat g/logs/pretrain-qpt-*.out g/logs/downstream-scratch-*_0.out", dir);
    cr_assert(strstr(r.out, "pretrain: resuming interrupted run 1 from") &&
                  strstr(r.out, "finetune: resuming interrupted run"),
              "%s", r.out);
    cli_result_free(&r);
    /* The same grid in one database, on the same data. */
    cli_run(&r, "cd %s && $BIQA --db l.db --root data reproduce " GRID, dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *local_table = table_of(r.out);
    cli_result_free(&r);
    static const char *const done[6] = {"finished", "finished", "finished",
                                        "finished", "finished", "finished"};
    expect_cells(dir, cells, done, 6, 0);
    cli_run(&r, "cd %s && $BIQA --db s.db results merge --grid g --json", dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    /* The two runs merged while interrupted are replaced by their finished copies. */
    cr_assert_eq(json_number(r.out, "updated"), 2, "%s", r.out);
    cr_assert_eq(json_number(r.out, "kept"), 0, "%s", r.out);
    cli_result_free(&r);
    cli_run(&r, "cd %s && %s %s/tests/tools/store_compare.py l.db s.db", dir, python, src);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "10 runs in l.db, 10 in s.db: equal"), "%s", r.out);
    cli_result_free(&r);

    /* Merging again adds nothing. */
    long long before = count_rows(dir);
    cli_run(&r, "cd %s && $BIQA --db s.db results merge --grid g --json", dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    static const char *const zero[] = {"added", "updated", "kept", "metrics", "failures",
                                       "members", "links"};
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++)
        cr_assert_eq(json_number(r.out, zero[i]), 0, "%s: %s", zero[i], r.out);
    cr_assert_eq(json_number(r.out, "same"), 14, "%s", r.out);
    cli_result_free(&r);
    cr_assert_eq(count_rows(dir), before);

    /* Two named shards into an empty store: the seeded copy of the
     * pretraining run in the fine-tuning shard is the same run. */
    cli_run(&r, "cd %s && $BIQA --db two.db results merge g/shards/pretrain-qpt.db "
            "g/shards/finetune-qpt.db --json", dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(json_number(r.out, "added"), 3, "%s", r.out);
    cr_assert_eq(json_number(r.out, "same"), 1, "%s", r.out);
    cli_result_free(&r);

    /* The same reproduce on the merged store reuses every run and prints
     * the local table. */
    cli_run(&r, "cd %s && $BIQA --db s.db --root data reproduce " GRID, dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *merged_table = table_of(r.out);
    cr_assert_str_eq(merged_table, local_table);
    cli_result_free(&r);
    char db[128];
    snprintf(db, sizeof db, "%s/s.db", dir);
    cr_assert_eq(cli_query_int(db, "SELECT count(*) FROM run_members WHERE reused = 1 AND "
                                   "group_run = (SELECT max(id) FROM runs WHERE kind = "
                                   "'reproduce')"), 10);
    cr_assert_eq(cli_query_int(db, "SELECT count(*) FROM runs"), 11);
    cli_run(&r, "cd %s && %s %s/tests/tools/store_compare.py l.db s.db --members", dir, python,
            src);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cli_result_free(&r);
    long long collected = count_rows(dir);

    /* A finished run changed in its shard: a conflict naming it. */
    char shard[128], uid[64];
    snprintf(shard, sizeof shard, "%s/g/shards/probe-qpt.db", dir);
    sqlite3 *h;
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_open(shard, &h), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(h, "UPDATE metrics SET value = value + 0.5 WHERE metric = 'srcc' "
                                 "AND run_id = (SELECT max(id) FROM runs)", NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(h));
    cr_assert_eq(sqlite3_prepare_v2(h, "SELECT uid FROM runs ORDER BY id DESC", -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    snprintf(uid, sizeof uid, "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
    cli_run(&r, "cd %s && $BIQA --db s.db results merge g/shards/probe-qpt.db", dir);
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.err, "g/shards/probe-qpt.db: run 3") && strstr(r.err, uid) &&
                  strstr(r.err, "probe qpt") && strstr(r.err, "conflicts with run") &&
                  strstr(r.err, "metrics differ"),
              "%s", r.err);
    cr_assert_eq(cli_count_lines(r.err), 1, "%s", r.err);
    cli_result_free(&r);
    cr_assert_eq(count_rows(dir), collected); /* one transaction: nothing of it stayed */
    free(local_table);
    free(merged_table);
    cli_rmdir(dir);
}
