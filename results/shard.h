/* Shards: the results databases of a grid's tasks (harness/slurm.h), one
 * per task, because SQLite's file locking cannot be trusted on the network
 * file systems clusters share. A task writes only its own shard; the shards
 * are merged into a store afterwards (results/merge.h). */
#ifndef BIQA_RESULTS_SHARD_H
#define BIQA_RESULTS_SHARD_H

#include <stdint.h>

#include "results/store.h"

/* Copies the database at src to dst exactly (SQLite's online backup: the
 * same run ids, so a checkpoint's run_id metadata still names its run),
 * through a temporary file renamed into place. */
int biqa_shard_copy(const char *src, const char *dst, biqa_error *err);

/* Marks the runs of s left `running` by another host interrupted, and
 * returns how many. Only a shard's own task writes it, and Slurm runs one
 * attempt of a task at a time, so such a run is an earlier attempt that a
 * requeue (preemption, node failure) cut short on another node; the store's
 * own sweep judges only this host's runs and would leave it running, and
 * --resume would then start over instead of continuing it. */
int biqa_shard_take_over(biqa_store *s, biqa_error *err);

typedef enum {
    BIQA_CELL_MISSING,     /* no shard: the task has not run */
    BIQA_CELL_INCOMPLETE,  /* fewer finished runs than expected, none open or failed */
    BIQA_CELL_RUNNING,
    BIQA_CELL_INTERRUPTED, /* resubmit: --resume continues it */
    BIQA_CELL_FAILED,
    BIQA_CELL_FINISHED,
} biqa_cell_status;

typedef struct biqa_cell_state {
    biqa_cell_status status;
    int finished;     /* splits (1 for pretraining) with a finished run */
    int merged;       /* of those, how many are in the store given (by uid) */
    int64_t run;      /* the shard's run that decided a failed/running/interrupted state */
    char detail[512]; /* its error text or host */
} biqa_cell_state;

/* The state of a grid cell from its shard: the runs of (kind, method), the
 * newest per split; expected is the number of splits (1 for pretraining).
 * With store (may be NULL) also counts the finished runs already merged. */
int biqa_shard_cell(const char *shard, const char *kind, const char *method, int expected,
                    biqa_store *store, biqa_cell_state *out, biqa_error *err);
const char *biqa_cell_status_name(biqa_cell_status s);

#endif
