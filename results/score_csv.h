/* Scoring a predictions file: read, digest, parse two columns, compute every
 * metric. Shared by `biqa score` and `biqa bench score`. */
#ifndef BIQA_RESULTS_SCORE_CSV_H
#define BIQA_RESULTS_SCORE_CSV_H

#include "core/digest.h"
#include "core/error.h"
#include "results/metrics.h"

typedef struct biqa_scored_file {
    biqa_scores scores;
    char sha256[BIQA_SHA256_HEX_LEN]; /* of the file's bytes: which predictions were scored */
    size_t first_nonfinite_line;      /* file line of the first NaN/inf row, when there is one */
} biqa_scored_file;

/* Errors (unreadable file, bad CSV, missing column, non-numeric cell) name
 * the file, line and column; degenerate data is not an error but flags. */
int biqa_score_csv(const char *path, const char *mos_col, const char *pred_col,
                   biqa_scored_file *out, biqa_error *err);

#endif
