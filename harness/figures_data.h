/* What the figures show, read from the results store. Downstream runs are
 * selected exactly as the tables select them (results/table_fill.h: the
 * finished runs, the newest run of each split, --where over them), through a
 * spec built here: one row per method, a fine-tune and a probe column of
 * SRCC, per dataset. Predictions come from each run's artifact folder
 * (harness/reuse.h: <database less .db>.artifacts/run-ID/predictions.csv),
 * where `biqa finetune` and `biqa probe` write them. */
#ifndef BIQA_HARNESS_FIGURES_DATA_H
#define BIQA_HARNESS_FIGURES_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "results/store.h"
#include "results/table_fill.h"

enum { BIQA_FIG_FINETUNE, BIQA_FIG_PROBE, BIQA_FIG_KINDS };
extern const char *const biqa_fig_kinds[BIQA_FIG_KINDS]; /* "finetune", "probe" */

typedef struct biqa_fig_run {
    int64_t id;
    char split[64];
    double srcc;
} biqa_fig_run;

typedef struct biqa_fig_method {
    char *name;
    biqa_fig_run *runs[BIQA_FIG_KINDS]; /* in run-id order */
    size_t n[BIQA_FIG_KINDS];
    char mixed[BIQA_FIG_KINDS][256]; /* "" or how the runs' configurations differ */
} biqa_fig_method;

typedef struct biqa_fig_dataset {
    char *name;
    biqa_fig_method *methods; /* scratch, supervised, moco, simclr, qpt, then the others */
    int n;
} biqa_fig_dataset;

/* Every dataset with finished finetune or probe SRCC rows matching where. */
int biqa_fig_load(sqlite3 *db, const biqa_tspec_where *where, biqa_fig_dataset **out, int *n,
                  biqa_error *err);
void biqa_fig_free(biqa_fig_dataset *d, int n);

/* A series of (x, y) values. */
typedef struct biqa_fig_series {
    int64_t run_id;
    char *label;
    double *x, *y;
    int n;
} biqa_fig_series;

void biqa_fig_series_free(biqa_fig_series *s, int n);

/* The test images of a run's predictions.csv: x = MOS, y = prediction.
 * Returns 0 with s->n = 0 when the file is absent (the run made none, or
 * they were moved): the caller says so; -1 on a malformed file. */
int biqa_fig_predictions(const char *db_path, int64_t run_id, biqa_fig_series *s,
                         biqa_error *err);

/* Per-step values of metric (x = step + 1) of one run. */
int biqa_fig_curve(sqlite3 *db, int64_t run_id, const char *metric, biqa_fig_series *s,
                   biqa_error *err);

/* The loss curves of every finished pretraining run matching where. */
int biqa_fig_pretrain_curves(sqlite3 *db, const biqa_tspec_where *where, biqa_fig_series **out,
                             int *n, biqa_error *err);

#endif
