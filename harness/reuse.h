/* What --resume and --group mean for every training command (pretrain,
 * finetune, probe): results/resume.h decides from the store, this applies
 * it to a command's run and its artifacts. */
#ifndef BIQA_HARNESS_REUSE_H
#define BIQA_HARNESS_REUSE_H

#include <stdint.h>

#include "harness/cli.h"
#include "results/store.h"

typedef enum { BIQA_REUSE_NEW, BIQA_REUSE_FINISHED, BIQA_REUSE_RESUME } biqa_reuse_kind;

typedef struct biqa_reuse {
    biqa_reuse_kind kind;
    int64_t run;       /* FINISHED, RESUME: the earlier run's id */
    int from_snapshot; /* RESUME: 1 when its snapshot exists (else it restarts) */
    char checkpoint[4096]; /* FINISHED: its checkpoint ("" without one) */
} biqa_reuse;

/* <database path less ".db">.artifacts/run-ID[/file]: one artifact folder
 * per database, so two databases in one directory never share run ids. */
void biqa_artifact_path(const char *db, int64_t id, const char *file, char *out, size_t len);

/* Without --resume: NEW. With it, the newest run of kind with this config's
 * hash: finished (its checkpoint, if it has one, still on disk with its
 * digest) -> FINISHED; interrupted and built from this binary's commit ->
 * RESUME, reopened (results/resume.h) at its snapshot
 * artifacts/run-ID/<snapshot_file> when that exists, else from the start;
 * anything else -> NEW, saying why when an earlier run is passed over. */
int biqa_reuse_decide(biqa_store *s, const biqa_cli *cli, const char *kind,
                      const char *config_json, const char *snapshot_file, biqa_reuse *out,
                      biqa_error *err);

/* With --group RUN: records run as a member of RUN (reused: FINISHED). */
int biqa_reuse_member(biqa_store *s, const biqa_cli *cli, int64_t run, int reused,
                      biqa_error *err);

#endif
