/* Merging a shard (another results database, e.g. the one a Slurm array
 * task wrote: harness/slurm.h) into a store.
 *
 * A run is the same run in two databases when it has the same runs.uid
 * (schema migration 6: random, given at insert, copied with the row); its
 * id differs from database to database, so the shard's ids are remapped:
 * metrics, run_failures, run_members and parent_run follow the run to its
 * id in the store. For each run of the shard, in id order:
 *   not in the store           added, with its metrics and failures
 *   in the store, same content same (nothing written): merging twice adds nothing
 *   in the store, different    the store's copy is still open (running or
 *                              interrupted): the shard's replaces it (the
 *                              run went on after an earlier merge); the
 *                              store's copy is closed (finished, failed) and
 *                              the shard's is open: kept (the shard is older);
 *                              both closed: a conflict, an error naming the run
 * "Content" is every column but id (parent_run compared by the parent's
 * uid), every metrics row and every failure. One shard merges in one
 * transaction: all of it or nothing. Artifacts are not touched here: the
 * result maps shard ids to store ids for the caller to link them. */
#ifndef BIQA_RESULTS_MERGE_H
#define BIQA_RESULTS_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "results/store.h"

typedef struct biqa_merge_result {
    int added, same, updated, kept;    /* runs, by what happened to them */
    long metrics, failures, members;   /* rows written */
    int64_t (*map)[2];                 /* {shard id, store id} of every run of the shard */
    size_t nmap;
} biqa_merge_result;

/* Merges the database at shard into s (opened for writing). The shard is
 * opened read-only (migrated first when it is writable and older); it must
 * exist and must not be s itself. */
int biqa_merge_shard(biqa_store *s, const char *shard, biqa_merge_result *r, biqa_error *err);
void biqa_merge_result_free(biqa_merge_result *r);

#endif
