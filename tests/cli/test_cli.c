/* The command line as a user meets it: help, errors, exit codes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "tests/cli/run.h"

/* Every command of DESIGN.md's command-line section. */
static const char *const design_commands[] = {
    "datasets", "degrade", "model", "pretrain", "finetune", "probe",  "eval",
    "score",    "reproduce", "tables", "figures", "results", "runs", "query", "bench", "config",
    NULL};

Test(cli, help_lists_every_design_command)
{
    cli_result r;
    cli_run(&r, "$BIQA --help");
    cr_assert_eq(r.status, 0);
    for (const char *const *c = design_commands; *c; c++) {
        char needle[64];
        snprintf(needle, sizeof needle, "\n  %s ", *c);
        cr_assert(strstr(r.out, needle), "biqa --help does not list '%s'", *c);
    }
    cli_result_free(&r);
}

/* --help works at every level: each command and each sub-command it lists. */
Test(cli, help_on_every_level, .timeout = 60)
{
    for (const char *const *c = design_commands; *c; c++) {
        cli_result r;
        cli_run(&r, "$BIQA %s --help", *c);
        cr_assert_eq(r.status, 0, "biqa %s --help: %s", *c, r.err);
        cr_assert(strstr(r.out, "usage: biqa"), "biqa %s --help: no usage line", *c);
        const char *subs = strstr(r.out, "Commands:\n");
        for (const char *p = subs ? subs + 10 : NULL; p && strncmp(p, "  ", 2) == 0;
             p = strchr(p, '\n') + 1) {
            char sub[32];
            cr_assert_eq(sscanf(p, " %31s", sub), 1);
            cli_result s;
            cli_run(&s, "$BIQA %s %s --help", *c, sub);
            cr_assert_eq(s.status, 0, "biqa %s %s --help", *c, sub);
            cr_assert(strstr(s.out, "usage: biqa"), "biqa %s %s --help", *c, sub);
            cli_result_free(&s);
        }
        cli_result_free(&r);
    }
}

static void expect_one_error_line(const cli_result *r, int status, const char *needle)
{
    cr_assert_eq(r->status, status, "exit %d, wanted %d; stderr: %s", r->status, status, r->err);
    cr_assert_eq(cli_count_lines(r->err), 1, "want one error line, got: %s", r->err);
    cr_assert(strncmp(r->err, "biqa: error: ", 13) == 0, "%s", r->err);
    cr_assert(strstr(r->err, needle), "'%s' not in: %s", needle, r->err);
}

Test(cli, usage_errors_exit_2_with_one_line)
{
    cli_result r;
    cli_run(&r, "$BIQA frobnicate");
    expect_one_error_line(&r, 2, "unknown command 'frobnicate'");
    cli_result_free(&r);
    cli_run(&r, "$BIQA runs list --frobnicate");
    expect_one_error_line(&r, 2, "unknown option '--frobnicate'");
    cli_result_free(&r);
    cli_run(&r, "$BIQA --frobnicate runs list");
    expect_one_error_line(&r, 2, "unknown option '--frobnicate'");
    cli_result_free(&r);
    cli_run(&r, "$BIQA runs frobnicate");
    expect_one_error_line(&r, 2, "unknown command 'frobnicate'");
    cli_result_free(&r);
    cli_run(&r, "$BIQA score");
    expect_one_error_line(&r, 2, "missing --csv FILE");
    cli_result_free(&r);
    cli_run(&r, "$BIQA score --csv");
    expect_one_error_line(&r, 2, "option --csv needs a value");
    cli_result_free(&r);
    cli_run(&r, "$BIQA runs list --threads 0");
    expect_one_error_line(&r, 2, "--threads must be between 1 and 4096");
    cli_result_free(&r);
    cli_run(&r, "$BIQA runs list --backend tpu");
    expect_one_error_line(&r, 2, "--backend must be ref, cpu or cuda");
    cli_result_free(&r);
    cli_run(&r, "$BIQA runs show");
    expect_one_error_line(&r, 2, "missing the run ID");
    cli_result_free(&r);
}

Test(cli, global_options_before_or_after_the_command)
{
    char dir[64];
    cli_tmpdir(dir);
    cli_result a, b;
    cli_run(&a, "$BIQA --db %s/a.db --json runs list", dir);
    cli_run(&b, "$BIQA runs list --json --db=%s/a.db", dir);
    cr_assert_eq(a.status, 0, "%s", a.err);
    cr_assert_eq(b.status, 0, "%s", b.err);
    cr_assert_str_eq(a.out, b.out);
    cr_assert_str_eq(a.out, "[]\n");
    cli_result_free(&a);
    cli_result_free(&b);
    cli_run(&a, "BIQA_DB=%s/env.db $BIQA runs list && test -f %s/env.db", dir, dir);
    cr_assert_eq(a.status, 0, "BIQA_DB not honoured: %s", a.err);
    cli_result_free(&a);
    cli_rmdir(dir);
}
