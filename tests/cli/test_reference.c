/* The reference scripts: biqa against independent oracles (SciPy, NumPy),
 * each a Python program under tests/ref that exits non-zero on a mismatch. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/cli/run.h"

static void run_reference(const char *script)
{
    const char *src = getenv("BIQA_SRC"), *python = getenv("BIQA_PYTHON");
    cr_assert_not_null(src, "BIQA_SRC must name the source tree (make test sets it)");
    cr_assert_not_null(python, "BIQA_PYTHON must name Debian's python3 (make test sets it)");
    cli_result r;
    cli_run(&r, "%s %s/tests/ref/%s $BIQA $BIQA_HELPERS", python, src, script);
    cr_log_info("%s:\n%s", script, r.out);
    cr_assert_eq(r.status, 0, "%s failed:\n%s\n%s", script, r.out, r.err);
    cli_result_free(&r);
}

Test(reference, metrics_agree_with_scipy, .timeout = 600)
{
    run_reference("metrics_vs_scipy.py");
}
