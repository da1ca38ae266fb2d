/* The results store through the biqa binary: kill -9, concurrent writers,
 * read-only queries, and bad predictions files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/cli/run.h"

Test(store_cli, kill_9_during_a_run_reads_interrupted, .timeout = 60)
{
    char dir[64];
    cli_tmpdir(dir);
    cli_result r;
    /* Start a run in the background, wait until it is recorded, check the
     * live run is reported running, then kill -9 it. */
    cli_run(&r,
            "$BIQA_HELPERS/hold_run %s/r.db > %s/id & pid=$!; "
            "for i in $(seq 100); do test -s %s/id && break; sleep 0.05; done; "
            "$BIQA --db %s/r.db runs list --status running --json | grep -c '\"running\"'; "
            "kill -9 $pid; wait $pid; "
            "$BIQA --db %s/r.db runs show $(cat %s/id) --json",
            dir, dir, dir, dir, dir, dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strncmp(r.out, "1\n", 2) == 0, "the live run was not listed running: %s", r.out);
    cr_assert(strstr(r.out, "\"status\":\t\"interrupted\""), "%s", r.out);
    cr_assert(strstr(r.out, "ended without finishing the run"), "%s", r.out);
    cli_result_free(&r);
    cli_rmdir(dir);
}

Test(store_cli, two_processes_recording_at_once_lose_no_row, .timeout = 120)
{
    char dir[64];
    cli_tmpdir(dir);
    char path[128];
    snprintf(path, sizeof path, "%s/p.csv", dir);
    cli_write(path, "mos,pred\n1,1.5\n2,2.5\n3,2.9\n4,4.4\n5,4.8\n");
    cli_result r;
    cli_run(&r,
            "w() { for i in $(seq 25); do $BIQA -q --db %s/c.db score --csv %s --record "
            "--dataset w$1 > /dev/null || exit 1; done; }; w 1 & a=$!; w 2 & b=$!; "
            "wait $a && wait $b && "
            "$BIQA --db %s/c.db query \"SELECT count(*) AS runs, "
            "(SELECT count(*) FROM metrics) AS rows FROM runs WHERE status = 'finished'\" --json",
            dir, path, dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    /* 50 runs, 6 metric rows each (five metrics and n). */
    cr_assert(strstr(r.out, "\"runs\":\t50"), "%s", r.out);
    cr_assert(strstr(r.out, "\"rows\":\t300"), "%s", r.out);
    cli_result_free(&r);
    cli_rmdir(dir);
}

struct bad_csv {
    const char *text, *args, *message;
};

Test(store_cli, bad_predictions_files_give_one_clear_error)
{
    static const struct bad_csv cases[] = {
        {"mos,score\n1,2\n2,3\n3,4\n", "", "bad.csv: no column 'pred' (columns: 'mos', 'score')"},
        {"mos,pred\n1,2\n2,oops\n3,4\n", "", "bad.csv:3: column 'pred': 'oops' is not a number"},
        {"", "", "bad.csv: empty file"},
        {"mos,pred\n", "", "bad.csv: no data rows after the header"},
        {"mos,pred\n1,2\n2\n", "", "bad.csv:3: expected 2 fields, found 1"},
        {"MOS,s\n1,2\n2,3\n3,4\n", "--mos MOS --pred t", "no column 't'"},
    };
    char dir[64];
    cli_tmpdir(dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/bad.csv", dir);
        cli_write(path, cases[i].text);
        cli_result r;
        cli_run(&r, "$BIQA --db %s/b.db score --csv %s %s --record", dir, path, cases[i].args);
        cr_assert_eq(r.status, 1, "case %zu: exit %d", i, r.status);
        cr_assert_eq(cli_count_lines(r.err), 1, "case %zu: %s", i, r.err);
        cr_assert(strstr(r.err, cases[i].message), "case %zu: %s", i, r.err);
        cr_assert_str_eq(r.out, "", "case %zu printed a result", i);
        cli_result_free(&r);
    }
    /* Nothing was recorded for any of them: no run without its metrics. */
    cli_result r;
    cli_run(&r, "$BIQA --db %s/b.db query 'SELECT count(*) AS n FROM runs'", dir);
    cr_assert_str_eq(r.out, "n\n0\n");
    cli_result_free(&r);
    cli_run(&r, "$BIQA score --csv %s/missing.csv", dir);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "missing.csv: No such file or directory"), "%s", r.err);
    cli_result_free(&r);
    cli_rmdir(dir);
}

Test(store_cli, degenerate_predictions_are_flagged_not_dropped)
{
    char dir[64], path[128];
    cli_tmpdir(dir);
    snprintf(path, sizeof path, "%s/d.csv", dir);
    cli_write(path, "mos,pred\n1,0.5\n2,0.5\n3,0.5\n4,0.5\n");
    cli_result r;
    cli_run(&r, "$BIQA --db %s/d.db score --csv %s --record --json", dir, path);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.out, "\"srcc\":\tnull"), "%s", r.out);
    cr_assert(strstr(r.out, "\"constant_pred\""), "%s", r.out);
    cr_assert(strstr(r.err, "every prediction is equal"), "%s", r.err);
    cli_result_free(&r);
    cli_run(&r, "$BIQA --db %s/d.db query \"SELECT value IS NULL AS undefined, flags "
                "FROM metrics WHERE metric = 'srcc'\" --json",
            dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\"undefined\":\t1"), "%s", r.out);
    cr_assert(strstr(r.out, "\"flags\":\t\"constant_pred\""), "%s", r.out);
    cli_result_free(&r);
    /* A NaN prediction is counted and located, never silently dropped. */
    cli_write(path, "mos,pred\n1,0.1\n2,nan\n3,0.3\n4,0.5\n");
    cli_run(&r, "$BIQA score --csv %s --json", path);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.out, "\"n\":\t4"), "%s", r.out);
    cr_assert(strstr(r.out, "\"n_nonfinite\":\t1"), "%s", r.out);
    cr_assert(strstr(r.err, "first at data row 2 (line 3)"), "%s", r.err);
    cli_result_free(&r);
    cli_rmdir(dir);
}

Test(store_cli, query_is_read_only_and_runs_show_everything)
{
    char dir[64], path[128];
    cli_tmpdir(dir);
    snprintf(path, sizeof path, "%s/p.csv", dir);
    cli_write(path, "mos,pred\n1,1.5\n2,2.5\n3,2.9\n4,4.4\n5,4.8\n");
    cli_result r;
    cli_run(&r, "$BIQA --db %s/q.db score --csv %s --record --dataset mine -q", dir, path);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
    cli_run(&r, "$BIQA --db %s/q.db query 'DELETE FROM runs'", dir);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "read-only"), "%s", r.err);
    cli_result_free(&r);
    cli_run(&r, "$BIQA --db %s/q.db query 'SELECT 1; DROP TABLE runs'", dir);
    cr_assert_eq(r.status, 1);
    cli_result_free(&r);
    cli_run(&r, "$BIQA --db %s/q.db runs show 1", dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    static const char *const fields[] = {"config_hash", "git_commit", "git_dirty", "host", "cpu",
                                         "started_at", "ended_at", "status", "n_failed",
                                         "metrics:", "over splits"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        cr_assert(strstr(r.out, fields[i]), "runs show lacks %s:\n%s", fields[i], r.out);
    cli_result_free(&r);
    cli_run(&r, "$BIQA --db %s/q.db runs show 99", dir);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "no run 99"), "%s", r.err);
    cli_result_free(&r);
    cli_rmdir(dir);
}
