/* Re-running without repeating work: a run is identified by its kind and
 * the SHA-256 of its canonical config (runs.config_hash, results/runs.c), so
 * a command asked to --resume can find what an earlier invocation of the
 * same config left:
 *   finished     reuse it (its checkpoint and metrics stand; nothing reruns)
 *   interrupted  reopen it: the same run id continues from its last
 *                training snapshot (methods/snapshot.h), its rows past
 *                that point deleted so they are written once
 *   failed, none start a new run
 * A run built from another commit than this binary's (or from a clean
 * tree when this one is modified, or the reverse) is never reopened: its
 * record would mix two code versions; it is reported and a new run starts. Grouping runs (biqa reproduce) list the runs they are made of in
 * run_members, reused or not. */
#ifndef BIQA_RESULTS_RESUME_H
#define BIQA_RESULTS_RESUME_H

#include <stdint.h>

#include "core/digest.h"
#include "results/store.h"

/* The runs.config_hash a run of config_json gets. */
int biqa_config_hash(const char *config_json, char hash[BIQA_SHA256_HEX_LEN], biqa_error *err);

typedef struct biqa_prior_run {
    int64_t id;          /* 0: no run of this kind and hash */
    char status[16];     /* finished | interrupted | failed | running */
    char checkpoint_path[4096], checkpoint_sha256[BIQA_SHA256_HEX_LEN];
    int same_code;       /* built from this binary's commit, clean or modified as it */
} biqa_prior_run;

/* The newest run of kind whose config hashes to hash (out->id 0: none). */
int biqa_run_find_prior(biqa_store *s, const char *kind, const char *hash, biqa_prior_run *out,
                        biqa_error *err);

/* Reopens interrupted run id as running under this process: deletes its
 * metrics rows with step >= keep_steps_below or without a step (the final
 * values, rewritten at the end), keeps its first keep_failures failure rows
 * (those recorded before the snapshot it resumes from) and deletes the rest. */
int biqa_run_reopen(biqa_store *s, int64_t id, int64_t keep_steps_below, int64_t keep_failures,
                    biqa_error *err);

/* Records run as a member of group (reused: 1 when it was finished before). */
int biqa_run_add_member(biqa_store *s, int64_t group, int64_t run, int reused, biqa_error *err);

#endif
