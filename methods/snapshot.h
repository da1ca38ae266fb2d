/* Training snapshots: everything a training loop needs to continue after its
 * process died (every model's state dict, the optimiser's buffers, a
 * method's extra tensors such as MoCo's key ring, and host integers such as
 * the ring pointer), in one safetensors file written atomically, plus the
 * loop's position as metadata. Resuming from a snapshot taken at batch b of
 * epoch e continues exactly where an uninterrupted run would be, because
 * batches are a pure function of (seed, epoch, index) (datasets/loader.h):
 * tests/cli/test_resume.c checks that the resumed run's checkpoint is
 * byte-identical to the uninterrupted one's.
 *
 * Names: "<prefix><state_dict key>" for models, "<prefix><param>.<buffer>"
 * for optimisers, integers in the metadata as "int.<name>". Loading is
 * strict (every name, every shape) and changes nothing when it fails.
 *
 * Fault injection for tests: with the environment variable
 * BIQA_FAULT_KILL_AFTER_SNAPSHOT=N the process kills itself (SIGKILL, as
 * an out-of-memory kill or a pre-empted job would end it) right after
 * writing its N-th snapshot. */
#ifndef BIQA_METHODS_SNAPSHOT_H
#define BIQA_METHODS_SNAPSHOT_H

#include <stdint.h>

#include "methods/model_impl.h"
#include "methods/optim.h"

#define BIQA_SNAPSHOT_MAX_INTS 8

typedef struct biqa_snapshot {
    biqa_state_dict sd;
    char int_names[BIQA_SNAPSHOT_MAX_INTS][64];
    int *ints[BIQA_SNAPSHOT_MAX_INTS];
    int nints;
    biqa_tensor owned[BIQA_SNAPSHOT_MAX_INTS]; /* views added by biqa_snapshot_tensor */
    int nowned;
} biqa_snapshot;

/* Where the loop stood: the next batch to train is `batch` of `epoch`,
 * after `step` updates; loss_sum/loss_n the running sum of this epoch's
 * batch losses; failures the unreadable-image records written so far;
 * best_epoch/best_score what model selection kept (fine-tuning). */
typedef struct biqa_snapshot_pos {
    int64_t epoch, batch, step, loss_n, failures, best_epoch;
    double loss_sum, best_score;
} biqa_snapshot_pos;

void biqa_snapshot_init(biqa_snapshot *s);
void biqa_snapshot_free(biqa_snapshot *s);
int biqa_snapshot_model(biqa_snapshot *s, const char *prefix, biqa_model *m, biqa_error *err);
int biqa_snapshot_optim(biqa_snapshot *s, const char *prefix, biqa_optim *o, biqa_error *err);
int biqa_snapshot_tensor(biqa_snapshot *s, const char *name, biqa_tensor *t, biqa_error *err);
int biqa_snapshot_int(biqa_snapshot *s, const char *name, int *v, biqa_error *err);

int biqa_snapshot_save(const biqa_snapshot *s, biqa_backend *be, const char *path,
                       const biqa_snapshot_pos *pos, biqa_error *err);
int biqa_snapshot_load(const biqa_snapshot *s, biqa_backend *be, const char *path,
                       biqa_snapshot_pos *pos, biqa_error *err);
/* The position alone (what a harness needs before it reopens the run). */
int biqa_snapshot_position(const char *path, biqa_snapshot_pos *pos, biqa_error *err);

#endif
