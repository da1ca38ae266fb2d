/* Benchmarks run, agree with their peer on the answer, and are recorded
 * (their speed is reported, never asserted). */
#include <criterion/criterion.h>
#include <string.h>

#include "tests/cli/run.h"

Test(bench, score_runs_against_scipy_and_is_recorded, .timeout = 120)
{
    char dir[64];
    cli_tmpdir(dir);
    cli_result r;
    cli_run(&r, "$BIQA --db %s/b.db bench score --rows 2000 --repeat 1 --json", dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\"speedup\":"), "%s", r.out);
    cli_result_free(&r);
    cli_run(&r, "$BIQA --db %s/b.db query \"SELECT r.kind, r.method, r.status, count(*) AS rows "
                "FROM runs r JOIN metrics m ON m.run_id = r.id GROUP BY r.id\" --json", dir);
    cr_assert(strstr(r.out, "\"kind\":\t\"bench\""), "%s", r.out);
    cr_assert(strstr(r.out, "\"method\":\t\"score\""), "%s", r.out);
    cr_assert(strstr(r.out, "\"status\":\t\"finished\""), "%s", r.out);
    cr_assert(strstr(r.out, "\"rows\":\t6"), "%s", r.out);
    cli_result_free(&r);
    /* A peer that cannot be found is one clear error, and no run is left. */
    cli_run(&r, "BIQA_SRC=%s $BIQA --db %s/c.db bench score --rows 100 --repeat 1", dir, dir);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "peer script not found"), "%s", r.err);
    cli_result_free(&r);
    cli_rmdir(dir);
}
