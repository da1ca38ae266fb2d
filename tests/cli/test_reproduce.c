/* biqa reproduce --profile test: the whole pipeline leaves, for every
 * method, finished pretrain, finetune and probe runs with metrics per
 * split, and prints the table. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "tests/cli/run.h"

Test(reproduce, test_profile_runs_every_stage_of_every_method, .timeout = 300)
{
    char dir[64];
    cli_tmpdir(dir);
    cli_result r;
    cli_run(&r, "$BIQA --db %s/r.db --root %s/data reproduce --profile test", dir, dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "fine-tune SRCC"), "no table:\n%s", r.out);
    static const char *const methods[] = {"scratch", "supervised", "moco", "simclr", "qpt"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "\n%s ", methods[i]);
        cr_assert(strstr(r.out, needle), "%s missing from the table:\n%s", methods[i], r.out);
    }
    cli_result_free(&r);
    /* Per method: 1 pretrain run, 2 finetune and 2 probe runs (the test
     * profile's 2 splits), all finished; srcc rows on every split. */
    cli_run(&r,
            "$BIQA --db %s/r.db query \"SELECT r.method, sum(r.kind = 'pretrain') AS pre, "
            "sum(r.kind = 'finetune') AS ft, sum(r.kind = 'probe') AS pr, "
            "sum(r.status != 'finished') AS open FROM runs r WHERE r.kind != 'reproduce' "
            "GROUP BY r.method ORDER BY r.method\" --json",
            dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        char row[160];
        snprintf(row, sizeof row,
                 "\"method\":\t\"%s\",\n\t\t\"pre\":\t1,\n\t\t\"ft\":\t2,\n\t\t\"pr\":\t2,\n\t\t"
                 "\"open\":\t0",
                 methods[i]);
        cr_assert(strstr(r.out, row), "%s:\n%s", methods[i], r.out);
    }
    cli_result_free(&r);
    cli_run(&r,
            "$BIQA --db %s/r.db query \"SELECT count(*) AS n FROM metrics m JOIN runs r ON "
            "r.id = m.run_id WHERE r.kind IN ('finetune', 'probe') AND m.metric = 'srcc' AND "
            "m.step IS NULL AND r.split_hash IS NOT NULL\"",
            dir);
    cr_assert_str_eq(r.out, " n\n20\n");
    cli_result_free(&r);
    cli_run(&r, "$BIQA --db %s/r.db runs list --kind reproduce --json", dir);
    cr_assert(strstr(r.out, "\"status\":\t\"finished\""), "%s", r.out);
    cli_result_free(&r);
    cli_rmdir(dir);
}
