/* results/merge.h and results/shard.h on stores built here: ids remapped
 * (runs, parent links, metrics, failures, group members), merging twice
 * adds nothing, a conflict is refused naming the run and leaves the store
 * as it was, an open copy is replaced by a later one and an older copy
 * never replaces a closed one; exact shard copies, take-over of another
 * host's running runs, and the cell states a grid's status shows. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results/merge.h"
#include "results/resume.h"
#include "results/runs.h"
#include "results/shard.h"
#include "results/store.h"

static char dir[64], store_path[128], shard_path[128];

static void setup(void)
{
    strcpy(dir, "/tmp/biqa-merge-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(store_path, sizeof store_path, "%s/store.db", dir);
    snprintf(shard_path, sizeof shard_path, "%s/shard.db", dir);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(merge, .init = setup, .fini = teardown);

static void open_store(biqa_store *s, const char *path)
{
    biqa_error e = {{0}};
    cr_assert_eq(biqa_store_open(s, path, BIQA_STORE_WRITE, &e), 0, "%s", e.msg);
}

static int64_t scalar(biqa_store *s, const char *sql)
{
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), SQLITE_OK, "%s", sql);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void exec(biqa_store *s, const char *sql)
{
    cr_assert_eq(sqlite3_exec(s->db, sql, NULL, NULL, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(s->db));
}

static int64_t begin(biqa_store *s, const char *kind, const char *method, const char *split,
                     int64_t parent)
{
    biqa_error e = {{0}};
    biqa_run_spec spec = {.kind = kind, .method = method, .dataset = "synthetic",
                          .split_id = split, .seed = 1, .config_json = "{\"k\":1}",
                          .parent_run = parent};
    int64_t id;
    cr_assert_eq(biqa_run_begin(s, &spec, &id, &e), 0, "%s", e.msg);
    return id;
}

static void metric(biqa_store *s, int64_t run, const char *split, const char *name, double v)
{
    biqa_error e = {{0}};
    biqa_metric_row r = {"synthetic", split, name, -1, v, NULL};
    cr_assert_eq(biqa_run_add_metrics(s, run, &r, 1, &e), 0, "%s", e.msg);
}

static void finish(biqa_store *s, int64_t run)
{
    biqa_error e = {{0}};
    cr_assert_eq(biqa_run_finish(s, run, &e), 0, "%s", e.msg);
}

/* A shard as a grid task leaves it: a group run, a pretraining run with a
 * loss curve and a failed item, and a fine-tuning run whose parent it is,
 * with metrics; both members of the group. */
static void make_shard(void)
{
    biqa_store s;
    biqa_error e = {{0}};
    open_store(&s, shard_path);
    int64_t group = begin(&s, "reproduce", NULL, NULL, 0);
    int64_t pre = begin(&s, "pretrain", "qpt", NULL, 0);
    biqa_metric_row loss[2] = {{"synthetic", "all", "loss", 0, 2.5, NULL},
                               {"synthetic", "all", "loss", 1, 1.25, NULL}};
    cr_assert_eq(biqa_run_add_metrics(&s, pre, loss, 2, &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_run_add_failure(&s, pre, "img/7.png", "truncated PNG", &e), 0, "%s", e.msg);
    finish(&s, pre);
    int64_t ft = begin(&s, "finetune", "qpt", "split0", pre);
    metric(&s, ft, "split0", "srcc", 0.75);
    metric(&s, ft, "split0", "plcc", 0.5);
    finish(&s, ft);
    cr_assert_eq(biqa_run_add_member(&s, group, pre, 0, &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_run_add_member(&s, group, ft, 1, &e), 0, "%s", e.msg);
    finish(&s, group);
    biqa_store_close(&s);
}

static void merge_ok(biqa_store *s, const char *shard, biqa_merge_result *r)
{
    biqa_error e = {{0}};
    cr_assert_eq(biqa_merge_shard(s, shard, r, &e), 0, "%s", e.msg);
}

Test(merge, runs_arrive_under_new_ids_with_everything_that_points_at_them)
{
    make_shard();
    biqa_store s;
    open_store(&s, store_path);
    /* Runs of the store's own, so that shard ids 1..3 are taken. */
    for (int i = 0; i < 3; i++)
        begin(&s, "score", NULL, NULL, 0);
    biqa_merge_result r;
    merge_ok(&s, shard_path, &r);
    cr_assert_eq(r.added, 3);
    cr_assert_eq(r.same + r.updated + r.kept, 0);
    cr_assert_eq(r.metrics, 4);
    cr_assert_eq(r.failures, 1);
    cr_assert_eq(r.members, 2);
    cr_assert_eq(r.nmap, 3);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(r.map[i][0], (int64_t)i + 1);
        cr_assert_eq(r.map[i][1], (int64_t)i + 4);
    }
    biqa_merge_result_free(&r);
    cr_assert_eq(scalar(&s, "SELECT parent_run FROM runs WHERE kind = 'finetune'"), 5);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM metrics WHERE run_id = 5 AND metric = 'loss'"), 2);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM metrics WHERE run_id = 6"), 2);
    cr_assert_eq(scalar(&s, "SELECT n_failed FROM runs WHERE id = 5"), 1);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM run_failures WHERE run_id = 5 AND item = "
                            "'img/7.png'"), 1);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM run_members WHERE group_run = 4 AND "
                            "((run_id = 5 AND reused = 0) OR (run_id = 6 AND reused = 1))"), 2);
    /* The uids came along: the shard's runs are the store's 4..6. */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM runs r JOIN shard.runs x ON x.uid = r.uid AND x.id + 3 = r.id");
    char attach[256];
    snprintf(attach, sizeof attach, "ATTACH DATABASE '%s' AS shard", shard_path);
    exec(&s, attach);
    cr_assert_eq(scalar(&s, sql), 3);
    biqa_store_close(&s);
}

Test(merge, merging_twice_adds_nothing)
{
    make_shard();
    biqa_store s;
    open_store(&s, store_path);
    biqa_merge_result r;
    merge_ok(&s, shard_path, &r);
    biqa_merge_result_free(&r);
    merge_ok(&s, shard_path, &r);
    cr_assert_eq(r.added + r.updated + r.kept, 0);
    cr_assert_eq(r.same, 3);
    cr_assert_eq(r.metrics + r.failures + r.members, 0);
    biqa_merge_result_free(&r);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM runs"), 3);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM metrics"), 4);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM run_failures"), 1);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM run_members"), 2);
    biqa_store_close(&s);
}

Test(merge, two_finished_copies_that_differ_are_a_conflict_naming_the_run)
{
    make_shard();
    biqa_store s, sh;
    open_store(&s, store_path);
    biqa_merge_result r;
    merge_ok(&s, shard_path, &r);
    biqa_merge_result_free(&r);
    /* Another store with a new run, then the conflicting shard: the merge
     * is one transaction, so the new run must not arrive either. */
    open_store(&sh, shard_path);
    exec(&sh, "UPDATE metrics SET value = 0.8 WHERE metric = 'srcc'");
    int64_t extra = begin(&sh, "probe", "qpt", "split0", 2);
    finish(&sh, extra);
    char uid[64];
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(sh.db, "SELECT uid FROM runs WHERE kind = 'finetune'", -1,
                                    &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    snprintf(uid, sizeof uid, "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    biqa_store_close(&sh);
    biqa_error e = {{0}};
    cr_assert_eq(biqa_merge_shard(&s, shard_path, &r, &e), -1);
    cr_assert(strstr(e.msg, shard_path) && strstr(e.msg, uid) && strstr(e.msg, "finetune qpt") &&
                  strstr(e.msg, "conflicts with run 3") && strstr(e.msg, "metrics") &&
                  strstr(e.msg, "0.8") && strstr(e.msg, "0.75"),
              "%s", e.msg);
    cr_assert_eq(r.map, NULL);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM runs"), 3);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM runs WHERE kind = 'probe'"), 0);
    biqa_store_close(&s);
}

Test(merge, an_open_copy_is_replaced_by_a_later_one_and_never_replaces_a_closed_one)
{
    biqa_store sh, s;
    open_store(&sh, shard_path);
    int64_t run = begin(&sh, "pretrain", "moco", NULL, 0);
    biqa_metric_row loss = {"synthetic", "all", "loss", 0, 3.0, NULL};
    biqa_error e = {{0}};
    cr_assert_eq(biqa_run_add_metrics(&sh, run, &loss, 1, &e), 0, "%s", e.msg);
    /* Interrupted (its process died), as a merge in the middle finds it. */
    exec(&sh, "UPDATE runs SET status = 'interrupted'");
    char old_copy[160];
    snprintf(old_copy, sizeof old_copy, "%s/old.db", dir);
    cr_assert_eq(biqa_shard_copy(shard_path, old_copy, &e), 0, "%s", e.msg);
    open_store(&s, store_path);
    biqa_merge_result r;
    merge_ok(&s, shard_path, &r);
    cr_assert_eq(r.added, 1);
    biqa_merge_result_free(&r);
    /* The task resumes it and finishes: the later copy replaces the open one. */
    exec(&sh, "UPDATE runs SET status = 'running'");
    loss.step = 1, loss.value = 2.0;
    cr_assert_eq(biqa_run_add_metrics(&sh, run, &loss, 1, &e), 0, "%s", e.msg);
    finish(&sh, run);
    biqa_store_close(&sh);
    merge_ok(&s, shard_path, &r);
    cr_assert_eq(r.updated, 1);
    cr_assert_eq(r.added, 0);
    cr_assert_eq(r.metrics, 2);
    biqa_merge_result_free(&r);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM runs WHERE status = 'finished'"), 1);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM metrics"), 2);
    /* The old interrupted copy again: kept out, the finished run stays. */
    merge_ok(&s, old_copy, &r);
    cr_assert_eq(r.kept, 1);
    cr_assert_eq(r.updated + r.added, 0);
    biqa_merge_result_free(&r);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM runs WHERE status = 'finished'"), 1);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM metrics"), 2);
    biqa_store_close(&s);
}

Test(merge, refuses_a_missing_shard_and_the_store_itself)
{
    biqa_store s;
    open_store(&s, store_path);
    biqa_merge_result r;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_merge_shard(&s, shard_path, &r, &e), -1);
    cr_assert(strstr(e.msg, shard_path) && strstr(e.msg, "no such results database"), "%s",
              e.msg);
    cr_assert_eq(biqa_merge_shard(&s, store_path, &r, &e), -1);
    cr_assert(strstr(e.msg, "is the store itself"), "%s", e.msg);
    biqa_store_close(&s);
}

Test(merge, a_shard_copy_keeps_every_id_and_uid)
{
    make_shard();
    char copy[160];
    snprintf(copy, sizeof copy, "%s/copy.db", dir);
    biqa_error e = {{0}};
    cr_assert_eq(biqa_shard_copy(shard_path, copy, &e), 0, "%s", e.msg);
    biqa_store s;
    open_store(&s, copy);
    char attach[256];
    snprintf(attach, sizeof attach, "ATTACH DATABASE '%s' AS shard", shard_path);
    exec(&s, attach);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM runs r JOIN shard.runs x ON x.id = r.id AND "
                            "x.uid = r.uid AND x.parent_run IS r.parent_run AND x.status = "
                            "r.status"), 3);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM metrics"), 4);
    biqa_store_close(&s);
    snprintf(copy, sizeof copy, "%s/none.db", dir);
    cr_assert_eq(biqa_shard_copy(copy, shard_path, &e), -1);
    cr_assert(strstr(e.msg, "none.db: no such results database"), "%s", e.msg);
}

Test(merge, take_over_interrupts_only_running_runs_of_other_hosts)
{
    biqa_store s;
    biqa_error e = {{0}};
    open_store(&s, shard_path);
    int64_t elsewhere = begin(&s, "pretrain", "qpt", NULL, 0);
    int64_t here = begin(&s, "pretrain", "moco", NULL, 0); /* this live process */
    int64_t done = begin(&s, "pretrain", "simclr", NULL, 0);
    finish(&s, done);
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE runs SET host = 'node-b' WHERE id IN (%lld, %lld)",
             (long long)elsewhere, (long long)done);
    exec(&s, sql);
    cr_assert_eq(biqa_shard_take_over(&s, &e), 1, "%s", e.msg);
    snprintf(sql, sizeof sql, "SELECT status = 'interrupted' AND error LIKE '%%on node-b%%taken "
                              "over%%' FROM runs WHERE id = %lld", (long long)elsewhere);
    cr_assert_eq(scalar(&s, sql), 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM runs WHERE id IN (%lld, %lld) AND status "
                              "IN ('running', 'finished')", (long long)here, (long long)done);
    cr_assert_eq(scalar(&s, sql), 2);
    cr_assert_eq(biqa_shard_take_over(&s, &e), 0, "%s", e.msg);
    biqa_store_close(&s);
}

Test(merge, cell_states_come_from_the_newest_run_of_each_split)
{
    biqa_cell_state c;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_shard_cell(shard_path, "finetune", "qpt", 2, NULL, &c, &e), 0);
    cr_assert_eq(c.status, BIQA_CELL_MISSING);
    biqa_store s;
    open_store(&s, shard_path);
    /* split0 failed, then finished on the retry; split1 failed: failed. */
    int64_t a = begin(&s, "finetune", "qpt", "split0", 0);
    cr_assert_eq(biqa_run_fail(&s, a, "out of memory", &e), 0);
    finish(&s, begin(&s, "finetune", "qpt", "split0", 0));
    int64_t b = begin(&s, "finetune", "qpt", "split1", 0);
    cr_assert_eq(biqa_run_fail(&s, b, "disk full", &e), 0);
    cr_assert_eq(biqa_shard_cell(shard_path, "finetune", "qpt", 2, NULL, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(c.status, BIQA_CELL_FAILED);
    cr_assert_eq(c.finished, 1);
    cr_assert_eq(c.run, b);
    cr_assert_str_eq(c.detail, "disk full");
    cr_assert_str_eq(biqa_cell_status_name(c.status), "failed");
    /* split1 again, still running (this process): running; then finished. */
    int64_t d = begin(&s, "finetune", "qpt", "split1", 0);
    cr_assert_eq(biqa_shard_cell(shard_path, "finetune", "qpt", 2, NULL, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(c.status, BIQA_CELL_RUNNING);
    cr_assert_eq(c.run, d);
    finish(&s, d);
    biqa_store_close(&s);
    biqa_store st;
    open_store(&st, store_path);
    cr_assert_eq(biqa_shard_cell(shard_path, "finetune", "qpt", 2, &st, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(c.status, BIQA_CELL_FINISHED);
    cr_assert_eq(c.finished, 2);
    cr_assert_eq(c.merged, 0);
    biqa_merge_result r;
    merge_ok(&st, shard_path, &r);
    biqa_merge_result_free(&r);
    cr_assert_eq(biqa_shard_cell(shard_path, "finetune", "qpt", 2, &st, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(c.merged, 2);
    /* Other cells of the same shard are not confused with it. */
    cr_assert_eq(biqa_shard_cell(shard_path, "probe", "qpt", 2, NULL, &c, &e), 0);
    cr_assert_eq(c.status, BIQA_CELL_INCOMPLETE);
    cr_assert_eq(c.finished, 0);
    biqa_store_close(&st);
}
