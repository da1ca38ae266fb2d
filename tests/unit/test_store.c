#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "results/runs.h"
#include "results/schema.h"
#include "results/store.h"

static char dir[64];
static char db_path[128];

static void setup(void)
{
    strcpy(dir, "/tmp/biqa-store-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(db_path, sizeof db_path, "%s/results.db", dir);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
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

static const char *text(biqa_store *s, const char *sql, char *buf, size_t len)
{
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), SQLITE_OK, "%s", sql);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    snprintf(buf, len, "%s", sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "(null)");
    sqlite3_finalize(st);
    return buf;
}

static const biqa_run_spec spec = {.kind = "finetune", .method = "qpt", .backbone = "resnet50",
                                   .dataset = "koniq10k", .seed = 7,
                                   .config_json = "{\"b\":1,\"a\":{\"y\":2,\"x\":[1,2]}}"};

TestSuite(store, .init = setup, .fini = teardown);

Test(store, fresh_database_is_current_and_has_published)
{
    biqa_store s;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_store_open(&s, db_path, BIQA_STORE_WRITE, &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_store_schema_version(s.db), biqa_schema_count());
    char buf[64];
    cr_assert_str_eq(text(&s, "PRAGMA journal_mode", buf, sizeof buf), "wal");
    /* paper/published.csv has 91 data rows, two of them QPT's FLIVE SRCC from two sources. */
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM published"), 91);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM published WHERE method = 'QPT' AND "
                            "dataset = 'FLIVE' AND metric = 'SRCC'"), 2);
    biqa_store_close(&s);
}

Test(store, migrates_a_version_1_database_keeping_its_rows)
{
    sqlite3 *db;
    biqa_error e = {{0}};
    cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    cr_assert_eq(biqa_store_migrate(db, 1, db_path, &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_store_schema_version(db), 1);
    cr_assert_eq(sqlite3_exec(db,
                              "INSERT INTO runs (kind, config_json, config_hash, git_commit, "
                              "git_dirty, host, started_at, status) VALUES ('score', '{}', 'h', "
                              "'abc', 0, 'old-host', '2025-01-01T00:00:00.000Z', 'finished');"
                              "INSERT INTO metrics VALUES (1, 'koniq10k', 'split0', 'srcc', NULL, "
                              "0.9, NULL);",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);

    biqa_store s;
    cr_assert_eq(biqa_store_open(&s, db_path, BIQA_STORE_WRITE, &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_store_schema_version(s.db), biqa_schema_count());
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM runs WHERE host = 'old-host' AND n_failed = 0"), 1);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM metrics WHERE value = 0.9"), 1);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM published"), 91);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM run_failures"), 0);
    biqa_store_close(&s);
}

Test(store, refuses_a_newer_schema)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    biqa_store s;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_store_open(&s, db_path, BIQA_STORE_WRITE, &e), -1);
    cr_assert(strstr(e.msg, "schema version 99 is newer than this biqa"), "%s", e.msg);
    cr_assert(strstr(e.msg, db_path), "%s", e.msg);
}

Test(store, run_lifecycle_records_provenance)
{
    biqa_store s;
    biqa_error e = {{0}};
    int64_t id;
    cr_assert_eq(biqa_store_open(&s, db_path, BIQA_STORE_WRITE, &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_run_begin(&s, &spec, &id, &e), 0, "%s", e.msg);
    char buf[256];
    cr_assert_str_eq(text(&s, "SELECT status FROM runs", buf, sizeof buf), "running");
    /* Stored canonical: keys sorted at every depth, no whitespace. */
    cr_assert_str_eq(text(&s, "SELECT config_json FROM runs", buf, sizeof buf),
                     "{\"a\":{\"x\":[1,2],\"y\":2},\"b\":1}");
    cr_assert_eq(strlen(text(&s, "SELECT config_hash FROM runs", buf, sizeof buf)), 64);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM runs WHERE host IS NOT NULL AND cpu IS NOT NULL "
                            "AND git_commit IS NOT NULL AND pid > 0 AND seed = 7"), 1);
    biqa_metric_row rows[] = {{"koniq10k", "split0", "srcc", -1, 0.91, NULL},
                              {"koniq10k", "split0", "loss", 10, 0.5, NULL},
                              {"koniq10k", "split1", "srcc", -1, NAN, "constant_pred"}};
    cr_assert_eq(biqa_run_add_metrics(&s, id, rows, 3, &e), 0, "%s", e.msg);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM metrics WHERE value IS NULL AND flags = "
                            "'constant_pred'"), 1);
    /* A duplicate (run, dataset, split, metric, step) is refused, the batch with it. */
    biqa_metric_row dup[] = {{"koniq10k", "split2", "srcc", -1, 0.8, NULL},
                             {"koniq10k", "split0", "srcc", -1, 0.92, NULL}};
    cr_assert_eq(biqa_run_add_metrics(&s, id, dup, 2, &e), -1);
    cr_assert(strstr(e.msg, "koniq10k/split0/srcc"), "%s", e.msg);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM metrics"), 3);
    cr_assert_eq(biqa_run_add_failure(&s, id, "img/0001.jpg", "truncated JPEG", &e), 0, "%s", e.msg);
    cr_assert_eq(scalar(&s, "SELECT n_failed FROM runs"), 1);
    cr_assert_eq(biqa_run_set_checkpoint(&s, id, "ckpt.safetensors", "ab12", &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_run_finish(&s, id, &e), 0, "%s", e.msg);
    cr_assert_str_eq(text(&s, "SELECT status FROM runs", buf, sizeof buf), "finished");
    cr_assert_eq(scalar(&s, "SELECT ended_at >= started_at FROM runs"), 1);
    /* A closed run takes no more rows. */
    cr_assert_eq(biqa_run_add_metrics(&s, id, rows, 1, &e), -1);
    cr_assert(strstr(e.msg, "is finished, not running"), "%s", e.msg);
    cr_assert_eq(biqa_run_fail(&s, id, "late", &e), -1);
    biqa_store_close(&s);
}

Test(store, failed_run_keeps_its_error)
{
    biqa_store s;
    biqa_error e = {{0}};
    int64_t parent, child;
    cr_assert_eq(biqa_store_open(&s, db_path, BIQA_STORE_WRITE, &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_run_begin(&s, &spec, &parent, &e), 0, "%s", e.msg);
    biqa_run_spec c = spec;
    c.parent_run = parent;
    cr_assert_eq(biqa_run_begin(&s, &c, &child, &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_run_fail(&s, child, "loss became NaN at step 12", &e), 0, "%s", e.msg);
    char buf[128];
    cr_assert_str_eq(text(&s, "SELECT status || ': ' || error FROM runs WHERE parent_run = 1",
                          buf, sizeof buf),
                     "failed: loss became NaN at step 12");
    biqa_run_spec bad = spec;
    bad.config_json = "{not json";
    cr_assert_eq(biqa_run_begin(&s, &bad, &child, &e), -1);
    cr_assert(strstr(e.msg, "config of the new finetune run: invalid JSON"), "%s", e.msg);
    biqa_store_close(&s);
}

Test(store, killed_process_leaves_an_interrupted_run)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        biqa_store s;
        int64_t id;
        if (biqa_store_open(&s, db_path, BIQA_STORE_WRITE, NULL) < 0 ||
            biqa_run_begin(&s, &spec, &id, NULL) < 0)
            _exit(3);
        raise(SIGKILL); /* dies with the run open, as kill -9 would leave it */
        _exit(4);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d", status);

    /* A run of this (live) process must not be swept. */
    biqa_store s;
    biqa_error e = {{0}};
    int64_t mine;
    cr_assert_eq(biqa_store_open(&s, db_path, BIQA_STORE_WRITE, &e), 0, "%s", e.msg);
    char buf[256];
    cr_assert_str_eq(text(&s, "SELECT status FROM runs WHERE id = 1", buf, sizeof buf),
                     "interrupted");
    cr_assert(strstr(text(&s, "SELECT error FROM runs WHERE id = 1", buf, sizeof buf),
                     "ended without finishing the run"), "%s", buf);
    cr_assert_eq(biqa_run_begin(&s, &spec, &mine, &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_store_sweep_interrupted(&s, &e), 0);
    cr_assert_str_eq(text(&s, "SELECT status FROM runs WHERE id = 2", buf, sizeof buf), "running");
    biqa_store_close(&s);
}

/* Each writer process begins, fills and finishes many runs while the other
 * does the same on the same database. */
#define WRITERS 2
#define RUNS_EACH 60
#define ROWS_EACH 5

static int writer(void)
{
    biqa_store s;
    biqa_error e = {{0}};
    if (biqa_store_open(&s, db_path, BIQA_STORE_WRITE, &e) < 0)
        return fprintf(stderr, "%s\n", e.msg), 1;
    for (int r = 0; r < RUNS_EACH; r++) {
        int64_t id;
        biqa_metric_row rows[ROWS_EACH];
        static const char *const splits[] = {"s0", "s1", "s2", "s3", "s4"};
        for (int i = 0; i < ROWS_EACH; i++)
            rows[i] = (biqa_metric_row){"synthetic", splits[i], "srcc", -1, 0.5 + i * 0.01, NULL};
        if (biqa_run_begin(&s, &spec, &id, &e) < 0 ||
            biqa_run_add_metrics(&s, id, rows, ROWS_EACH, &e) < 0 ||
            biqa_run_finish(&s, id, &e) < 0)
            return fprintf(stderr, "%s\n", e.msg), 1;
    }
    biqa_store_close(&s);
    return 0;
}

Test(store, concurrent_writers_lose_no_row, .timeout = 120)
{
    pid_t pids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        cr_assert_neq(pids[w], -1);
        if (pids[w] == 0)
            _exit(writer());
    }
    for (int w = 0; w < WRITERS; w++) {
        int status;
        cr_assert_eq(waitpid(pids[w], &status, 0), pids[w]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %d failed", w);
    }
    biqa_store s;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_store_open(&s, db_path, BIQA_STORE_READONLY, &e), 0, "%s", e.msg);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM runs WHERE status = 'finished'"),
                 WRITERS * RUNS_EACH);
    cr_assert_eq(scalar(&s, "SELECT count(*) FROM metrics"), WRITERS * RUNS_EACH * ROWS_EACH);
    cr_assert_eq(scalar(&s, "SELECT count(DISTINCT pid) FROM runs"), WRITERS);
    biqa_store_close(&s);
}

Test(store, readonly_refuses_writes)
{
    biqa_store s;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_store_open(&s, db_path, BIQA_STORE_READONLY, &e), 0, "%s", e.msg);
    cr_assert_neq(sqlite3_exec(s.db, "DELETE FROM published", NULL, NULL, NULL), SQLITE_OK);
    biqa_store_close(&s);
}
