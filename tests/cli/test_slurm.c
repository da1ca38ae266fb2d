/* biqa reproduce --scheduler slurm: the scripts and their wiring (--dry-run),
 * the refusals that keep two attempts of a task off one shard, a task
 * resuming what an attempt on another node left, and the acceptance test:
 * a one-node Slurm cluster on loopback (tests/tools/slurm_cluster.sh) runs
 * the test profile's grid as job arrays, with training killed after its
 * first snapshot and Slurm's own requeue bringing it back; the merged store
 * must equal the store of the same grid run without Slurm. That one takes
 * minutes (the whole grid, serialised on the CI machine's two cores, plus
 * the same grid without Slurm): it runs with BIQA_TEST_SLURM=1 (make
 * test-slurm) and says so when skipped. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/cli/run.h"

static const char *env(const char *name)
{
    const char *v = getenv(name);
    cr_assert_not_null(v, "%s must be set (make test sets it)", name);
    return v;
}

/* The text between the "# ==> ...NAME.sbatch <==" header and the next one. */
static char *script_of(const char *out, const char *name)
{
    char head[128];
    snprintf(head, sizeof head, "/%s.sbatch <==\n", name);
    const char *from = strstr(out, head);
    cr_assert_not_null(from, "no script %s in:\n%s", name, out);
    from += strlen(head);
    const char *to = strstr(from, "\n# ==> ");
    return strndup(from, to ? (size_t)(to - from) : strlen(from));
}

static void contains(const char *text, const char *needle)
{
    cr_assert(strstr(text, needle), "'%s' missing from:\n%s", needle, text);
}

Test(slurm, dry_run_prints_the_jobs_their_dependencies_and_scripts)
{
    char dir[64];
    cli_tmpdir(dir);
    cli_result r;
    cli_run(&r, "cd %s && $BIQA --db s.db --root data reproduce --profile test --set "
            "pretrain.methods=scratch,qpt --scheduler slurm --dry-run --sbatch partition=gpu "
            "--sbatch pretrain:time=2-00:00:00 --sbatch mem= --sbatch exclusive",
            dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    /* Nothing written: not the grid, not the store. */
    char path[128];
    snprintf(path, sizeof path, "%s/s.grid", dir);
    cr_assert_neq(access(path, F_OK), 0, "the dry run wrote %s", path);
    snprintf(path, sizeof path, "%s/s.db", dir);
    cr_assert_neq(access(path, F_OK), 0, "the dry run made %s", path);
    /* Submission order and afterok wiring, in the grid of the config hash. */
    const char *g = strstr(r.out, "s.grid/test-");
    cr_assert_not_null(g, "%s", r.out);
    char grid[64];
    snprintf(grid, sizeof grid, "%.*s", (int)strcspn(g + 7, "/ \n") + 7, g);
    cr_assert_eq(strlen(grid), strlen("s.grid/test-") + 12, "%s", grid);
    char line[512];
    const char *order[5][2] = {{"data", NULL},
                               {"pretrain-scratch", "data"},
                               {"downstream-scratch", "pretrain-scratch"},
                               {"pretrain-qpt", "data"},
                               {"downstream-qpt", "pretrain-qpt"}};
    const char *at = r.out;
    for (int i = 0; i < 5; i++) {
        if (order[i][1])
            snprintf(line, sizeof line, "sbatch --parsable --dependency=afterok:<%s> %s/%s.sbatch\n",
                     order[i][1], grid, order[i][0]);
        else
            snprintf(line, sizeof line, "sbatch --parsable %s/%s.sbatch\n", grid, order[i][0]);
        const char *found = strstr(at, line);
        cr_assert(found, "'%s' missing (or out of order) in:\n%s", line, r.out);
        at = found + 1;
    }
    char *pre = script_of(r.out, "pretrain-qpt"), *down = script_of(r.out, "downstream-qpt");
    char *data = script_of(r.out, "data");
    contains(pre, "#SBATCH --job-name=biqa-test-");
    contains(pre, "-pretrain-qpt\n");
    snprintf(line, sizeof line, "#SBATCH --output=%s/logs/pretrain-qpt-%%j.out\n", grid);
    contains(pre, line);
    snprintf(line, sizeof line, "#SBATCH --chdir=%s\n", dir);
    contains(pre, line);
    contains(pre, "#SBATCH --requeue\n");
    contains(pre, "#SBATCH --open-mode=append\n");
    contains(pre, "#SBATCH --time=2-00:00:00\n"); /* pretrain: override */
    contains(pre, "#SBATCH --partition=gpu\n");
    contains(pre, "#SBATCH --exclusive\n");
    contains(pre, "#SBATCH --cpus-per-task=2\n"); /* compute.threads of the test profile */
    cr_assert_null(strstr(pre, "--mem"), "mem= kept: %s", pre);
    cr_assert_null(strstr(pre, "--array"), "%s", pre);
    cr_assert_null(strstr(pre, "--gres"), "a gpu for the cpu backend: %s", pre);
    snprintf(line, sizeof line, "--db %s/shards/pretrain-qpt.db --root data reproduce --task "
             "pretrain:qpt --profile test --set pretrain.methods=scratch,qpt\n", grid);
    contains(pre, line);
    contains(pre, "(--resume)");
    contains(down, "#SBATCH --array=0-1\n");
    contains(down, "#SBATCH --time=00:15:00\n"); /* downstream: the test profile's */
    snprintf(line, sizeof line, "#SBATCH --output=%s/logs/downstream-qpt-%%A_%%a.out\n", grid);
    contains(down, line);
    snprintf(line, sizeof line, "0) exec %s --db %s/shards/finetune-qpt.db --root data reproduce "
             "--task finetune:qpt --from-shard %s/shards/pretrain-qpt.db --profile test",
             env("BIQA"), grid, grid);
    contains(down, line);
    snprintf(line, sizeof line, "1) exec %s --db %s/shards/probe-qpt.db --root data reproduce "
             "--task probe:qpt --from-shard %s/shards/pretrain-qpt.db --profile test",
             env("BIQA"), grid, grid);
    contains(down, line);
    contains(down, "exit 2 ;;\nesac\n");
    contains(data, "reproduce --task data --profile test");
    cr_assert_null(strstr(data, "--db"), "%s", data);
    free(pre), free(down), free(data);
    cli_result_free(&r);
    cli_rmdir(dir);
}

Test(slurm, gpu_backend_asks_for_a_gpu_and_the_paper_profile_for_days)
{
    cli_result r;
    cli_run(&r, "$BIQA --db /tmp/biqa-never.db reproduce --profile paper --scheduler slurm "
            "--dry-run");
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *pre = script_of(r.out, "pretrain-qpt"), *down = script_of(r.out, "downstream-qpt");
    contains(pre, "#SBATCH --gres=gpu:1\n");
    contains(pre, "#SBATCH --time=3-00:00:00\n");
    contains(down, "#SBATCH --gres=gpu:1\n");
    contains(down, "#SBATCH --time=12:00:00\n");
    free(pre), free(down);
    cli_result_free(&r);
}

Test(slurm, bad_options_are_refused)
{
    static const struct {
        const char *args, *says;
        int status;
    } cases[] = {
        {"--dry-run", "--dry-run: only with --scheduler slurm", 2},
        {"--sbatch time=1", "--sbatch: only with --scheduler slurm", 2},
        {"--scheduler pbs", "--scheduler must be local or slurm, not 'pbs'", 2},
        {"--scheduler slurm --task pretrain:qpt", "no --scheduler with it", 2},
        {"--from-shard x.db", "--from-shard: only with --task", 2},
        {"--task train:qpt", "--task train:qpt: not data, pretrain:METHOD", 2},
        {"--task pretrain:qpt --from-shard x.db", "only for finetune and probe tasks", 2},
        {"--scheduler slurm --dry-run --sbatch job-name=x", "biqa sets --job-name itself", 1},
        {"--scheduler slurm --dry-run --sbatch gpu:time=1", "'gpu' is not a stage", 1},
        {"--scheduler slurm --dry-run --sbatch 'time=1 day'", "must be one word", 1},
        {"--scheduler slurm --dry-run --sbatch =3", "no option name", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cli_result r;
        cli_run(&r, "$BIQA --db /tmp/biqa-never.db reproduce --profile test %s", cases[i].args);
        cr_assert_eq(r.status, cases[i].status, "%s: %s", cases[i].args, r.err);
        cr_assert(strstr(r.err, cases[i].says), "%s: %s", cases[i].args, r.err);
        cr_assert_eq(cli_count_lines(r.err), 1, "%s: %s", cases[i].args, r.err);
        cli_result_free(&r);
    }
    cr_assert_neq(access("/tmp/biqa-never.db", F_OK), 0);
}

/* Two attempts of one task must never write one shard: jobs of the grid
 * still queued stop a new submission; a grid directory is for one config. */
Test(slurm, refuses_to_submit_over_queued_jobs_or_another_config)
{
    const char *src = env("BIQA_SRC");
    char dir[64], fake[512];
    cli_tmpdir(dir);
    snprintf(fake, sizeof fake, "cd %s && mkdir -p fs && FAKE_SLURM_DIR=%s/fs "
             "PATH=%s/tests/tools/fake-slurm:$PATH", dir, dir, src);
    cli_result r;
    cli_run(&r, "cd %s && $BIQA --db s.db reproduce --profile test --scheduler slurm --dry-run "
            "--grid g | head -1", dir);
    const char *at = strstr(r.out, "(config ");
    cr_assert_not_null(at, "%s", r.out);
    char hash[16], lines[400], queue[128];
    snprintf(hash, sizeof hash, "%.8s", at + 8);
    cli_result_free(&r);
    snprintf(queue, sizeof queue, "%s/fs", dir);
    cr_assert_eq(mkdir(queue, 0755), 0);
    snprintf(queue, sizeof queue, "%s/fs/queue", dir);
    snprintf(lines, sizeof lines,
             "41|biqa-test-%s-pretrain-qpt|RUNNING|None\n"
             "42|biqa-test-%s-downstream-qpt|PENDING|Dependency\n"
             "43|someone-elses-job|RUNNING|None\n",
             hash, hash);
    cli_write(queue, lines);
    cli_run(&r, "%s $BIQA --db s.db reproduce --profile test --scheduler slurm --grid g", fake);
    cr_assert_eq(r.status, 1, "%s", r.out);
    contains(r.err, "grid g has jobs in the queue: 41 pretrain-qpt (RUNNING, None), 42 "
                    "downstream-qpt (PENDING, Dependency); wait for them, or cancel them "
                    "(scancel 41 42)");
    cli_result_free(&r);
    char calls[128];
    snprintf(calls, sizeof calls, "%s/fs/calls.log", dir);
    cr_assert_neq(access(calls, F_OK), 0, "sbatch was called");
    /* A grid directory made for another config. */
    cli_run(&r, "mkdir -p %s/h && printf '{\"profile\": \"test\", \"config_hash\": \"%s\", "
            "\"submitted\": \"x\", \"cells\": []}' > %s/h/grid.json", dir,
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", dir);
    cli_result_free(&r);
    cli_run(&r, "cd %s && $BIQA --db s.db reproduce --profile test --scheduler slurm "
            "--dry-run --grid h", dir);
    cr_assert_eq(r.status, 1, "%s", r.out);
    contains(r.err, "h/grid.json: made for config 0123456789ab, this is config ");
    cli_result_free(&r);
    cli_rmdir(dir);
}

/* A requeued task may start on another node: the run its earlier attempt
 * left `running` there is taken over and resumed, not started again. */
Test(slurm, task_resumes_a_run_another_node_left_running, .timeout = 300)
{
    char dir[64];
    cli_tmpdir(dir);
    cli_result r;
    cli_run(&r, "cd %s && $BIQA --root data reproduce --task data --profile test", dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
    cli_run(&r, "cd %s && BIQA_FAULT_KILL_AFTER_SNAPSHOT=1 $BIQA --db p.db --root data "
            "reproduce --task pretrain:moco --profile test", dir);
    cr_assert_eq(r.status, 128 + 9, "%s", r.err);
    cli_result_free(&r);
    char db[128];
    snprintf(db, sizeof db, "%s/p.db", dir);
    sqlite3 *h;
    cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(h, "UPDATE runs SET host = 'node-b'", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    cr_assert_eq(cli_query_int(db, "SELECT count(*) FROM runs WHERE status = 'running'"), 1);
    cli_run(&r, "cd %s && $BIQA --db p.db --root data reproduce --task pretrain:moco --profile "
            "test", dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    contains(r.err, "1 run(s) of an earlier attempt on another host marked interrupted");
    contains(r.err, "pretrain: resuming interrupted run 1 from p.artifacts/run-1/snapshot");
    cli_result_free(&r);
    cr_assert_eq(cli_query_int(db, "SELECT count(*) FROM runs"), 1);
    cr_assert_eq(cli_query_int(db, "SELECT count(*) FROM runs WHERE status = 'finished'"), 1);
    cli_rmdir(dir);
}

/* ---- the acceptance test on a real Slurm cluster ---------------------- */

static char cluster[64];

static void stop_cluster(void)
{
    if (!cluster[0])
        return;
    cli_result r;
    cli_run(&r, "%s/tests/tools/slurm_cluster.sh stop %s", env("BIQA_SRC"), cluster);
    cli_result_free(&r);
    cli_rmdir(cluster);
}

/* Waits until no job is in the queue (10 minutes at most). */
static void wait_for_queue(const char *conf)
{
    for (time_t end = time(NULL) + 600; time(NULL) < end; sleep(1)) {
        cli_result r;
        cli_run(&r, "SLURM_CONF=%s squeue --noheader", conf);
        cr_assert_eq(r.status, 0, "squeue: %s", r.err);
        int empty = r.out[0] == '\0';
        cli_result_free(&r);
        if (empty)
            return;
    }
    cr_assert_fail("jobs still queued after 10 minutes");
}

static void status_json(const char *dir, cJSON **cells)
{
    cli_result r;
    cli_run(&r, "cd %s && $BIQA --db s.db results status g --json", dir);
    *cells = cJSON_Parse(r.out);
    cr_assert_not_null(*cells, "%s\n%s", r.out, r.err);
    cli_result_free(&r);
}

static const char *state_of(const cJSON *cells, const char *cell)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cells)
        if (!strcmp(cJSON_GetObjectItem(c, "cell")->valuestring, cell))
            return cJSON_GetObjectItem(c, "state")->valuestring;
    return "(absent)";
}

static char *table_of(const char *out)
{
    const char *from = strstr(out, "biqa reproduce --profile"), *to = strstr(out, "(the runs of");
    cr_assert(from && to && to > from, "no table in:\n%s", out);
    return strndup(from, (size_t)(to - from));
}

Test(slurm, test_profile_grid_on_a_real_cluster_equals_one_database, .timeout = 1800,
     .fini = stop_cluster)
{
    const char *src = env("BIQA_SRC"), *python = env("BIQA_PYTHON");
    const char *enabled = getenv("BIQA_TEST_SLURM");
    if (!enabled || strcmp(enabled, "1") != 0)
        cr_skip_test("the real Slurm cluster test takes minutes, more than the default suite "
                     "allows: run it with make test-slurm (BIQA_TEST_SLURM=1)");
    strcpy(cluster, "/tmp/biqa-slurm-XXXXXX");
    cr_assert_not_null(mkdtemp(cluster));
    cli_result r;
    cli_run(&r, "%s/tests/tools/slurm_cluster.sh start %s", src, cluster);
    if (r.status == 77) {
        char reason[512];
        snprintf(reason, sizeof reason, "%s", r.out);
        reason[strcspn(reason, "\n")] = '\0';
        cli_result_free(&r);
        cr_skip_test("no Slurm cluster here: %s (the test runs by hand: make test-slurm)",
                     reason);
    }
    cr_assert_eq(r.status, 0, "the cluster did not start:\n%s%s", r.out, r.err);
    char conf[256];
    snprintf(conf, sizeof conf, "%.*s", (int)strcspn(r.out, "\n"), r.out);
    cli_result_free(&r);
    char dir[64], cd[512];
    cli_tmpdir(dir);
    snprintf(cd, sizeof cd, "cd %s && SLURM_CONF=%s", dir, conf);

    /* Every snapshotting training dies after its first snapshot (the data
     * job makes the benchmark first). */
    cli_run(&r, "%s BIQA_FAULT_KILL_AFTER_SNAPSHOT=1 $BIQA --db s.db --root data reproduce "
            "--profile test --scheduler slurm --grid g --json", cd);
    cr_assert_eq(r.status, 0, "%s\n%s", r.out, r.err);
    cJSON *sub = cJSON_Parse(r.out), *job;
    cr_assert_not_null(sub, "%s", r.out);
    cli_result_free(&r);
    wait_for_queue(conf);
    cJSON *cells;
    status_json(dir, &cells);
    static const char *const methods[5] = {"scratch", "supervised", "moco", "simclr", "qpt"};
    char cell[64], ids[256] = "";
    for (int i = 0; i < 5; i++) {
        snprintf(cell, sizeof cell, "pretrain:%s", methods[i]);
        cr_assert_str_eq(state_of(cells, cell), i ? "interrupted" : "finished", "%s", cell);
        snprintf(cell, sizeof cell, "probe:%s", methods[i]);
        cr_assert_str_eq(state_of(cells, cell), i ? "missing" : "finished", "%s", cell);
    }
    cr_assert_str_eq(state_of(cells, "finetune:scratch"), "interrupted");
    cJSON_Delete(cells);
    /* Slurm's own requeue of the killed pretraining jobs, as after a
     * preemption; a requeued job waits a while before it may start again
     * (its begin time), which the update lifts. They resume from their
     * snapshots and finish (their last epoch was done). */
    cJSON_ArrayForEach(job, cJSON_GetObjectItem(sub, "jobs"))
    {
        const char *name = cJSON_GetObjectItem(job, "name")->valuestring;
        if (!strncmp(name, "pretrain-", 9) && strcmp(name, "pretrain-scratch") != 0)
            snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%s", ids[0] ? "," : "",
                     cJSON_GetObjectItem(job, "id")->valuestring);
    }
    cJSON_Delete(sub);
    cli_run(&r, "SLURM_CONF=%s scontrol requeue %s && SLURM_CONF=%s scontrol update jobid=%s "
            "StartTime=now", conf, ids, conf, ids);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cli_result_free(&r);
    wait_for_queue(conf);
    cli_run(&r, "cd %s && cat g/logs/pretrain-qpt-*.out", dir);
    contains(r.out, "pretrain: resuming interrupted run 1 from g/shards/pretrain-qpt.artifacts/"
                    "run-1/snapshot.safetensors");
    cli_result_free(&r);
    status_json(dir, &cells);
    for (int i = 0; i < 5; i++) {
        snprintf(cell, sizeof cell, "pretrain:%s", methods[i]);
        cr_assert_str_eq(state_of(cells, cell), "finished", "%s after the requeue", cell);
    }
    cJSON_Delete(cells);

    /* The rest: submitting the grid again skips what finished. */
    cli_run(&r, "%s $BIQA --db s.db --root data reproduce --profile test --scheduler slurm "
            "--grid g --json", cd);
    cr_assert_eq(r.status, 0, "%s\n%s", r.out, r.err);
    sub = cJSON_Parse(r.out);
    cr_assert_not_null(sub, "%s", r.out);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(sub, "jobs")), 10, "%s", r.out);
    cJSON_ArrayForEach(job, cJSON_GetObjectItem(sub, "jobs"))
    {
        const char *name = cJSON_GetObjectItem(job, "name")->valuestring;
        cr_assert_eq(cJSON_IsTrue(cJSON_GetObjectItem(job, "skipped")),
                     !strncmp(name, "pretrain-", 9), "%s: %s", name, r.out);
    }
    cJSON_Delete(sub);
    cli_result_free(&r);
    wait_for_queue(conf);

    /* The same grid without Slurm, on the same data. */
    cli_run(&r, "cd %s && $BIQA --db l.db --root data reproduce --profile test", dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *local_table = table_of(r.out);
    cli_result_free(&r);
    cli_run(&r, "cd %s && $BIQA --db s.db results merge --grid g", dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    contains(r.out, "15 finished, 0 failed, 0 interrupted, 0 running, 0 incomplete, 0 missing.");
    cli_result_free(&r);
    cli_run(&r, "cd %s && %s %s/tests/tools/store_compare.py l.db s.db", dir, python, src);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    contains(r.out, "25 runs in l.db, 25 in s.db: equal");
    cli_result_free(&r);
    cli_run(&r, "cd %s && $BIQA --db s.db --root data reproduce --profile test", dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *merged_table = table_of(r.out);
    cr_assert_str_eq(merged_table, local_table);
    cli_result_free(&r);
    cli_run(&r, "cd %s && %s %s/tests/tools/store_compare.py l.db s.db --members", dir, python,
            src);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cli_result_free(&r);
    free(local_table);
    free(merged_table);
    cli_rmdir(dir);
}
