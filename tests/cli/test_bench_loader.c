/* biqa bench loader runs at a tiny size on a generated folder (removed
 * afterwards) and on a given one, and is recorded; its speed is reported,
 * never asserted. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "tests/cli/run.h"

/* Whether dir holds an entry whose name starts with prefix. */
static int has_entry(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d)))
        found |= strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return found;
}

Test(bench_loader, generated_folder_each_recipe_recorded, .timeout = 120)
{
    char dir[64];
    cli_tmpdir(dir);
    cli_result r;
    const char *recipes[3] = {"classify", "moco", "qpt"};
    for (int i = 0; i < 3; i++) {
        cli_run(&r, "TMPDIR=%s $BIQA --db %s/b.db --threads 2 bench loader --recipe %s "
                    "--images 8 --px 40 --batch 4 --crop 16 --json", dir, dir, recipes[i]);
        cr_assert_eq(r.status, 0, "%s: %s", recipes[i], r.err);
        cr_assert(strstr(r.out, "\"bench\":\t\"loader\""), "%s", r.out);
        cr_assert(strstr(r.out, "\"speedup\":"), "%s", r.out);
        cli_result_free(&r);
        cr_assert(!has_entry(dir, "biqa-bench-loader-"), "the generated folder was left");
    }
    cli_run(&r, "$BIQA --db %s/b.db query \"SELECT r.kind, r.method, r.status, count(*) AS rows "
                "FROM runs r JOIN metrics m ON m.run_id = r.id GROUP BY r.id\" --json", dir);
    cr_assert(strstr(r.out, "\"method\":\t\"loader\""), "%s", r.out);
    cr_assert(strstr(r.out, "\"status\":\t\"finished\""), "%s", r.out);
    cr_assert(strstr(r.out, "\"rows\":\t6"), "%s", r.out);
    cli_result_free(&r);
    cli_rmdir(dir);
}

Test(bench_loader, given_folder_with_a_corrupt_file, .timeout = 120)
{
    char dir[64], path[128];
    cli_tmpdir(dir);
    cli_result r;
    /* A folder from the synthetic benchmark's pretraining set, plus junk. */
    cli_run(&r, "$BIQA datasets make synthetic --size test --out %s/syn", dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
    snprintf(path, sizeof path, "%s/syn/pretrain/c00/zz-broken.png", dir);
    cli_write(path, "not a png");
    cli_run(&r, "$BIQA --db %s/b.db --threads 1 bench loader --dir %s/syn/pretrain --batch 4 "
                "--crop 16", dir, dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.err, "unreadable") && strstr(r.err, "zz-broken.png"), "%s", r.err);
    cr_assert(strstr(r.out, "loader per core vs decode"), "%s", r.out);
    cli_result_free(&r);
    /* Recorded with the bench's run, counted and named. */
    char db[128];
    snprintf(db, sizeof db, "%s/b.db", dir);
    cr_assert_eq(cli_query_int(db, "SELECT n_failed FROM runs WHERE kind = 'bench'"), 1);
    cr_assert_eq(cli_query_int(db, "SELECT count(*) FROM run_failures f JOIN runs r ON r.id = "
                                   "f.run_id WHERE r.kind = 'bench' AND f.item LIKE "
                                   "'%zz-broken.png'"), 1);
    cli_run(&r, "$BIQA --db %s/b.db bench loader --recipe nope", dir);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "nope"), "%s", r.err);
    cli_result_free(&r);
    cli_run(&r, "$BIQA --db %s/b.db bench loader --dir %s/missing", dir, dir);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "missing"), "%s", r.err);
    cli_result_free(&r);
    cli_rmdir(dir);
}
