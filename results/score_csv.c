#include "results/score_csv.h"

#include <stdlib.h>

#include "core/csv.h"
#include "core/file.h"

int biqa_score_csv(const char *path, const char *mos_col, const char *pred_col,
                   biqa_scored_file *out, biqa_error *err)
{
    char *text;
    size_t len, mcol, pcol;
    biqa_csv csv;
    if (biqa_read_file(path, &text, &len, err) < 0)
        return -1;
    /* Digest before parsing, which rewrites the bytes in place. */
    biqa_sha256_hex(text, len, out->sha256);
    if (biqa_csv_parse(path, text, len, &csv, err) < 0)
        return -1;
    double *m = NULL, *p = NULL;
    int rc = -1;
    if (biqa_csv_find_column(&csv, mos_col, &mcol, err) < 0 ||
        biqa_csv_find_column(&csv, pred_col, &pcol, err) < 0)
        goto out;
    m = malloc(csv.nrows * sizeof *m);
    p = malloc(csv.nrows * sizeof *p);
    if (!m || !p) {
        biqa_fail(err, "%s: out of memory for %zu rows", path, csv.nrows);
        goto out;
    }
    if (biqa_csv_column_doubles(&csv, mcol, m, err) < 0 ||
        biqa_csv_column_doubles(&csv, pcol, p, err) < 0)
        goto out;
    biqa_score(m, p, csv.nrows, &out->scores);
    out->first_nonfinite_line =
        out->scores.n_nonfinite ? csv.lines[out->scores.first_nonfinite + 1] : 0;
    rc = 0;
out:
    free(m);
    free(p);
    biqa_csv_free(&csv);
    return rc;
}
