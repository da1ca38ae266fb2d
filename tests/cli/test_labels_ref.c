/* The label parsers and split import against Python's readers of the same
 * files: tests/ref/labels_vs_python.py (csv, scipy.io, openpyxl, zipfile,
 * Pillow) driving tests/helpers/labels_run. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "tests/cli/run.h"

Test(reference, labels_agree_with_python, .timeout = 120)
{
    const char *src = getenv("BIQA_SRC"), *python = getenv("BIQA_PYTHON");
    cr_assert_not_null(src, "BIQA_SRC must name the source tree (make test sets it)");
    cr_assert_not_null(python, "BIQA_PYTHON must name Debian's python3 (make test sets it)");
    cli_result r;
    cli_run(&r, "%s %s/tests/ref/labels_vs_python.py $BIQA $BIQA_HELPERS", python, src);
    cr_log_info("labels_vs_python.py:\n%s", r.out);
    cr_assert_eq(r.status, 0, "labels_vs_python.py failed:\n%s\n%s", r.out, r.err);
    cli_result_free(&r);
}
