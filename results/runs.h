/* Run records: every number biqa stores belongs to a run, and a run carries
 * its full provenance (config + hash, seed, code version, machine, GPU stack,
 * times, status, parent, checkpoint, failures). A run starts `running` and
 * ends `finished` or `failed`; if its process dies first, the next biqa
 * invocation marks it `interrupted` (results/store.c). */
#ifndef BIQA_RESULTS_RUNS_H
#define BIQA_RESULTS_RUNS_H

#include <stddef.h>
#include <stdint.h>

#include "results/store.h"

typedef struct biqa_run_spec {
    const char *kind;        /* required: pretrain, finetune, probe, eval, score, bench, ... */
    const char *method, *backbone, *dataset;   /* NULL where not applicable */
    const char *split_id, *split_hash;
    int64_t seed;
    const char *config_json; /* required: stored canonicalised, hashed with SHA-256 */
    int64_t parent_run;      /* 0: none */
} biqa_run_spec;

/* One metrics row. step < 0 means the run's final value (stored as NULL);
 * a NaN value is stored as NULL and flags should say why. */
typedef struct biqa_metric_row {
    const char *dataset, *split, *metric;
    int64_t step;
    double value;
    const char *flags;
} biqa_metric_row;

int biqa_run_begin(biqa_store *s, const biqa_run_spec *spec, int64_t *run_id, biqa_error *err);
/* Inserts rows in one transaction: all or none. */
int biqa_run_add_metrics(biqa_store *s, int64_t run_id, const biqa_metric_row *rows, size_t n,
                         biqa_error *err);
/* Records one item the run could not process and bumps the run's n_failed. */
int biqa_run_add_failure(biqa_store *s, int64_t run_id, const char *item, const char *reason,
                         biqa_error *err);
int biqa_run_set_checkpoint(biqa_store *s, int64_t run_id, const char *path,
                            const char *sha256, biqa_error *err);
int biqa_run_finish(biqa_store *s, int64_t run_id, biqa_error *err);
int biqa_run_fail(biqa_store *s, int64_t run_id, const char *error_text, biqa_error *err);

#endif
