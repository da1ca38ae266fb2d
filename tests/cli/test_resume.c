/* --resume and biqa reproduce re-runs (results/resume.h, harness/reuse.h,
 * methods/snapshot.h): a training killed right after a snapshot and then
 * resumed ends with the same bytes as one never interrupted, in the same
 * run; a finished run of the same config is reused, not repeated; an
 * interrupted run of other code is not reopened; a second reproduce adds no
 * training run and prints the same table. The kill is the real thing
 * (SIGKILL), placed deterministically by BIQA_FAULT_KILL_AFTER_SNAPSHOT. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/cli/run.h"

static void exec_sql(const char *db, const char *sql)
{
    sqlite3 *h;
    cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(h));
    sqlite3_close(h);
}

/* The output of a shell line (stdout), trimmed; the line must succeed. */
static void shell_out(char *out, size_t len, const char *fmt, const char *a, const char *b)
{
    cli_result r;
    cli_run(&r, fmt, a, b);
    cr_assert_eq(r.status, 0, "%s", r.err);
    snprintf(out, len, "%s", r.out);
    out[strcspn(out, "\n")] = 0;
    cli_result_free(&r);
}

/* Every metric row of a database as text, in a fixed order. */
static void metrics_text(const char *db, char *out, size_t len)
{
    shell_out(out, len, "sqlite3 %s \"SELECT group_concat(metric || ':' || ifnull(step, '-') || "
                        "':' || quote(value), ' ') FROM (SELECT * FROM metrics ORDER BY run_id, "
                        "metric, step)\"%s", db, "");
}

/* A fresh directory with the synthetic test benchmark, and the paths of
 * its two stores: a (the uninterrupted runs) and b (the killed ones). */
static void two_stores(char dir[64], char a[128], char b[128])
{
    cli_tmpdir(dir);
    snprintf(a, 128, "%s/a.db", dir);
    snprintf(b, 128, "%s/b.db", dir);
    cli_result r;
    cli_run(&r, "$BIQA -q --root %s datasets make synthetic --size test", dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
}

/* Artifact file of run in store a and in store b: the same bytes. */
static void same_artifact(const char *dir, int run, const char *file)
{
    char pa[192], pb[192], sa[128], sb[128];
    snprintf(pa, sizeof pa, "%s/a.artifacts/run-%d/%s", dir, run, file);
    snprintf(pb, sizeof pb, "%s/b.artifacts/run-%d/%s", dir, run, file);
    shell_out(sa, sizeof sa, "sha256sum %s%s | cut -c1-64", pa, "");
    shell_out(sb, sizeof sb, "sha256sum %s%s | cut -c1-64", pb, "");
    cr_assert_str_eq(sa, sb, "run %d: the resumed %s differs from the uninterrupted one", run,
                     file);
}

#define PRETRAIN "pretrain --method qpt --profile test --set pretrain.epochs=2 " \
                 "--set pretrain.snapshot_every=1"

Test(resume, pretrain_killed_after_a_snapshot_resumes_to_the_same_bytes, .timeout = 300)
{
    char dir[64], a[128], b[128];
    two_stores(dir, a, b);
    cli_result r;
    cli_run(&r, "$BIQA -q --root %s --db %s " PRETRAIN, dir, a);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);

    /* 4 batches per epoch: the 3rd snapshot is mid-epoch 1. */
    cli_run(&r, "BIQA_FAULT_KILL_AFTER_SNAPSHOT=3 exec $BIQA -q --root %s --db %s " PRETRAIN, dir, b);
    cr_assert_eq(r.status, 128 + 9, "killed by SIGKILL, not %d: %s", r.status, r.err);
    cli_result_free(&r);
    cr_assert_eq(cli_query_int(b, "SELECT count(*) FROM runs WHERE status = 'running'"), 1);
    cli_run(&r, "$BIQA --root %s --db %s " PRETRAIN " --resume", dir, b);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.err, "resuming interrupted run 1"), "%s", r.err);
    cli_result_free(&r);
    cr_assert_eq(cli_query_int(b, "SELECT count(*) FROM runs"), 1, "the same run continued");
    cr_assert_eq(cli_query_int(b, "SELECT count(*) FROM runs WHERE status = 'finished'"), 1);

    same_artifact(dir, 1, "pretrain.safetensors");
    char ma[4096], mb[4096];
    metrics_text(a, ma, sizeof ma);
    metrics_text(b, mb, sizeof mb);
    cr_assert_str_eq(ma, mb, "epoch losses differ");
    cr_assert(strstr(ma, "loss:1:"), "%s", ma);

    /* Finished: --resume reuses it, adds nothing, says so. */
    cli_run(&r, "$BIQA --root %s --db %s " PRETRAIN " --resume", dir, b);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.err, "run 1 finished earlier with the same config"), "%s", r.err);
    cli_result_free(&r);
    cr_assert_eq(cli_query_int(b, "SELECT count(*) FROM runs"), 1);
    /* Without --resume, a new run. */
    cli_run(&r, "$BIQA -q --root %s --db %s " PRETRAIN, dir, b);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
    cr_assert_eq(cli_query_int(b, "SELECT count(*) FROM runs"), 2);

    /* An interrupted run of other code is passed over for a new run. */
    cli_run(&r, "BIQA_FAULT_KILL_AFTER_SNAPSHOT=1 exec $BIQA -q --root %s --db %s " PRETRAIN
                " --set run.seed=5", dir, b);
    cr_assert_eq(r.status, 128 + 9, "%s", r.err);
    cli_result_free(&r);
    exec_sql(b, "UPDATE runs SET git_commit = 'another' WHERE id = 3");
    cli_run(&r, "$BIQA --root %s --db %s " PRETRAIN " --set run.seed=5 --resume", dir, b);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.err, "built from other code"), "%s", r.err);
    cli_result_free(&r);
    cr_assert_eq(cli_query_int(b, "SELECT count(*) FROM runs WHERE id = 4 AND status = 'finished'"),
                 1);
    cr_assert_eq(cli_query_int(b, "SELECT count(*) FROM runs WHERE id = 3 AND status = "
                              "'interrupted'"), 1);
    cli_rmdir(dir);
}

#define FINETUNE "finetune --data %s/synthetic-test --profile test --splits 2 " \
                 "--set finetune.epochs=3"

Test(resume, finetune_killed_after_an_epoch_resumes_to_the_same_bytes, .timeout = 300)
{
    char dir[64], a[128], b[128];
    two_stores(dir, a, b);
    cli_result r;
    cli_run(&r, "$BIQA -q --db %s " FINETUNE, a, dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
    /* Split 0 runs 3 epochs (3 snapshots); the 5th is split 1's epoch 2. */
    cli_run(&r, "BIQA_FAULT_KILL_AFTER_SNAPSHOT=5 exec $BIQA -q --db %s " FINETUNE, b, dir);
    cr_assert_eq(r.status, 128 + 9, "%s", r.err);
    cli_result_free(&r);
    cli_run(&r, "$BIQA --db %s " FINETUNE " --resume", b, dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.err, "finished earlier with the same config"), "split 0: %s", r.err);
    cr_assert(strstr(r.err, "resuming interrupted run 2"), "split 1: %s", r.err);
    cli_result_free(&r);
    cr_assert_eq(cli_query_int(b, "SELECT count(*) FROM runs WHERE status = 'finished'"), 2);
    cr_assert_eq(cli_query_int(b, "SELECT count(*) FROM runs"), 2);
    for (int run = 1; run <= 2; run++)
        same_artifact(dir, run, "model.safetensors");
    char ma[8192], mb[8192];
    metrics_text(a, ma, sizeof ma);
    metrics_text(b, mb, sizeof mb);
    cr_assert_str_eq(ma, mb, "metrics differ");
    cli_rmdir(dir);
}

Test(resume, a_second_reproduce_reuses_every_run, .timeout = 300)
{
    char dir[64], db[128];
    cli_tmpdir(dir);
    snprintf(db, sizeof db, "%s/r.db", dir);
    cli_result first, second;
    cli_run(&first, "$BIQA -q --root %s --db %s reproduce --profile test", dir, db);
    cr_assert_eq(first.status, 0, "%s", first.err);
    long long runs = cli_query_int(db, "SELECT count(*) FROM runs WHERE kind <> 'reproduce'");
    cli_run(&second, "$BIQA -q --root %s --db %s reproduce --profile test", dir, db);
    cr_assert_eq(second.status, 0, "%s", second.err);
    cr_assert_eq(cli_query_int(db, "SELECT count(*) FROM runs WHERE kind <> 'reproduce'"), runs,
                 "the second reproduce trained again");
    cr_assert_eq(cli_query_int(db, "SELECT count(*) FROM run_members WHERE reused = 0 AND "
                               "group_run = (SELECT min(id) FROM runs WHERE kind = 'reproduce')"),
                 runs, "the first reproduce made every run");
    long long umbrella2 = cli_query_int(db, "SELECT max(id) FROM runs WHERE kind = 'reproduce'");
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM run_members WHERE group_run = %lld AND "
                              "reused = 1", umbrella2);
    cr_assert_eq(cli_query_int(db, sql), runs, "every run reused by the second reproduce");
    /* The same table: everything from the header on, less the closing note
     * that names the umbrella. */
    const char *t1 = strstr(first.out, "method"), *t2 = strstr(second.out, "method");
    cr_assert(t1 && t2);
    size_t n1 = strcspn(t1, "("), n2 = strcspn(t2, "(");
    cr_assert(n1 == n2 && !strncmp(t1, t2, n1), "tables differ:\n%s\n%s", t1, t2);
    cli_result_free(&first);
    cli_result_free(&second);
    cli_rmdir(dir);
}
